//! Storing what a renewal came to, each in one transaction with its activity entries:
//! the new token (which also ends the lease), or the failure (only while the lease is
//! still this attempt's).

use serde_json::json;

use super::{ACTOR, Held, Refresher, attempt, to_delta};
use crate::error::{Error, Result};
use crate::models::activity::Action;
use crate::models::connection::{ConnectionStatus, HealthStatus};
use crate::oauth::{OAuthProfile, TokenError, TokenSet};
use crate::repositories::activity::Actor;
use crate::repositories::refresh_leases::{self, Failure, Renewal};
use crate::repositories::{self, connections};
use crate::services::activity;
use crate::services::credentials::{self, Credential, CredentialRead};
use crate::tenancy::TenantTxn;

impl Refresher {
    pub(super) async fn store_success(
        &self,
        held: &Held<'_>,
        profile: &OAuthProfile,
        read: CredentialRead,
        tokens: TokenSet,
    ) -> Result<CredentialRead> {
        let Held {
            tenant,
            row,
            attempt,
            trigger,
        } = *held;
        let rotated = tokens.refresh_token.is_some();
        let now = repositories::now();
        let expires_at = tokens.expires_at(now);
        let scopes = tokens.scope.as_deref().map(|s| profile.split_scopes(s));
        let credential = match read.credential {
            Credential::Oauth2 { refresh_token, .. } => Credential::Oauth2 {
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token.or(refresh_token),
            },
            Credential::ClientCredentials {
                client_id,
                client_secret,
                ..
            } => Credential::ClientCredentials {
                client_id,
                client_secret,
                access_token: Some(tokens.access_token),
            },
            _ => return Err(Error::NotFound("refreshable credential")),
        };
        let connection = held.connection();
        let sealed =
            credentials::seal(&self.inner.keyring, tenant, connection, &credential).await?;
        let recovered = row.refresh_failures > 0 || row.health_status == HealthStatus::Degraded;
        let txn = TenantTxn::begin_write(&self.inner.db, tenant).await?;
        let current = connections::lock(&txn, tenant, connection).await?;
        if current.refresh_lease_owner != Some(attempt) {
            tracing::warn!(
                connection = %connection.as_uuid(),
                "refresh lease expired before the new token was stored; storing it anyway, as the provider has rotated the old one"
            );
        }
        credentials::write_sealed(&txn, sealed).await?;
        let renewal = Renewal {
            at: now,
            expires_at,
            scopes,
            reactivate: false,
        };
        refresh_leases::renewed(&txn, tenant, connection, renewal).await?;
        let action = if recovered {
            Action::RefreshRecovered
        } else {
            Action::Refreshed
        };
        let details = json!({
            "trigger": trigger.as_str(),
            "refresh_token_rotated": rotated,
            "token_expires_at": expires_at,
        });
        activity::record(&txn, &Actor::system(ACTOR), row, action, details).await?;
        txn.commit().await?;
        tracing::info!(connection = %connection.as_uuid(), trigger = trigger.as_str(), "token renewed");
        Ok(CredentialRead {
            credential,
            token_expires_at: expires_at,
            status: ConnectionStatus::Active,
            reason_code: None,
            provider: read.provider,
        })
    }

    /// Records a failed renewal and releases the lease, with its activity entries, in
    /// one transaction; false, recording nothing, when the lease was lost meanwhile.
    pub(super) async fn store_failure(
        &self,
        held: &Held<'_>,
        read: &CredentialRead,
        err: &TokenError,
    ) -> Result<bool> {
        let Held {
            tenant,
            row,
            attempt,
            trigger,
        } = *held;
        let reason = attempt::reason(&read.credential, err);
        let reauth = attempt::sets_reauth(&read.credential, err);
        let failures = row.refresh_failures.saturating_add(1);
        let failure = Failure {
            reason_code: reason.to_owned(),
            message: err.message().to_owned(),
            reauth,
            retry_at: Some(repositories::now() + to_delta(attempt::backoff(failures))),
            failures,
        };
        let txn = TenantTxn::begin_write(&self.inner.db, tenant).await?;
        if !refresh_leases::failed(&txn, tenant, held.connection(), attempt, failure).await? {
            tracing::warn!(
                connection = %row.id,
                reason_code = reason,
                "refresh lease lost before the failure was recorded"
            );
            return Ok(false);
        }
        let mut details = json!({
            "trigger": trigger.as_str(),
            "reason_code": reason,
            "transient": matches!(err, TokenError::Transient { .. }),
        });
        if let Some(code) = err.provider_code() {
            // Outside text: one line, bounded, no control characters (PostgreSQL
            // refuses NUL in jsonb).
            details["provider_error"] = json!(crate::sanitize::message(code, 80));
        }
        let actor = Actor::system(ACTOR);
        activity::record(&txn, &actor, row, Action::RefreshFailed, details).await?;
        if reauth {
            let change = json!({"from": "active", "to": "needs_reauth", "reason_code": reason});
            activity::record(&txn, &actor, row, Action::StatusChanged, change).await?;
        }
        txn.commit().await?;
        tracing::warn!(connection = %row.id, reason_code = reason, "token renewal failed");
        Ok(true)
    }
}
