//! `Authorization: Bearer <key>` → the calling key and what it may do. A tenant key
//! used on another tenant's path gets the same 404 as a tenant that does not exist.
//! A worker key is refused by [`Principal`] (every endpoint but the worker's) and is
//! the only key [`WorkerKey`] accepts.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::models::TenantId;
use crate::models::api_key::Role;
use crate::repositories::activity::Actor;
use crate::repositories::{api_keys, tenants};
use crate::services::operations::worker::Worker;

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    pub key_id: Uuid,
    pub name: String,
    pub role: Role,
    pub tenant: Option<TenantId>,
}

/// What a tenant endpoint needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Metadata: any key of the tenant, or an operator.
    Read,
    /// Decrypted credentials: the tenant's service keys only.
    Credentials,
    /// Changes to connections and keys: the tenant's admins, or an operator.
    Admin,
    /// Connection tests: the tenant's admins and service keys, or an operator.
    Test,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let key = authenticate(parts, state).await?;
        if key.role == Role::Worker {
            return Err(ApiError::forbidden(
                "a worker key may only claim, heartbeat and complete operation runs",
            ));
        }
        Ok(Principal {
            key_id: key.id,
            name: key.name,
            role: key.role,
            tenant: key.tenant_id,
        })
    }
}

/// The live key of the request's `Authorization: Bearer` header.
async fn authenticate(parts: &Parts, state: &AppState) -> ApiResult<api_keys::KeyIdentity> {
    let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated("send an API key as Authorization: Bearer <key>")
    })?;
    let token = header.to_str().ok().and_then(bearer_token).ok_or_else(|| {
        ApiError::unauthenticated("the Authorization header must be Bearer <key>")
    })?;
    state
        .keys
        .authenticate(&state.db, token)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unknown or revoked API key"))
}

/// The caller of a worker endpoint: a worker key, and no other.
#[derive(Clone, Debug)]
pub struct WorkerKey(pub Worker);

impl FromRequestParts<AppState> for WorkerKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let key = authenticate(parts, state).await?;
        if key.role != Role::Worker {
            return Err(ApiError::forbidden("this needs a worker key"));
        }
        Ok(WorkerKey(Worker {
            key_id: key.id,
            name: key.name,
        }))
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme in any case); `None`
/// for another scheme or no token.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor {
            key_id: Some(self.key_id),
            name: self.name.clone(),
        }
    }

    pub fn require_operator(&self) -> ApiResult<()> {
        if self.role == Role::Operator {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an operator key"))
        }
    }

    /// Checks access to `tenant` for `need`. Another tenant's key, or a tenant that
    /// does not exist, is a 404 either way; a role too weak for `need` is a 403.
    pub async fn authorize(
        &self,
        state: &AppState,
        tenant: TenantId,
        need: Need,
    ) -> ApiResult<Actor> {
        match self.tenant {
            Some(own) if own != tenant => return Err(ApiError::not_found("tenant")),
            Some(_) => {}
            None => {
                if tenants::get(&state.db, tenant).await?.is_none() {
                    return Err(ApiError::not_found("tenant"));
                }
            }
        }
        let allowed = match need {
            Need::Read => true,
            Need::Credentials => self.role == Role::Service,
            Need::Admin => matches!(self.role, Role::Admin | Role::Operator),
            Need::Test => matches!(self.role, Role::Admin | Role::Service | Role::Operator),
        };
        if !allowed {
            return Err(ApiError::forbidden(format!(
                "the {} role cannot do this",
                self.role.as_str()
            )));
        }
        Ok(self.actor())
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn a_bearer_token_is_taken_from_the_header_in_any_case() {
        assert_eq!(bearer_token("Bearer cv_abc"), Some("cv_abc"));
        assert_eq!(bearer_token("bearer  cv_abc "), Some("cv_abc"));
        assert_eq!(bearer_token("BEARER cv_abc"), Some("cv_abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_refused() {
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer   "), None);
        assert_eq!(bearer_token("cv_abc"), None);
        assert_eq!(bearer_token(""), None);
    }
}
