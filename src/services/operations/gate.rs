//! The gate of a provider-backed operation (pure): given the operation type, the
//! connection the caller named (if any) and the tenant's connections of the type's
//! provider, either the connection to run with, or why the run is blocked and what a
//! person can do about it.
//!
//! Resolution: the named connection; else the provider's default; else the only
//! connection there is. Then the first of these that holds blocks the run:
//! consent not given, re-authorization needed, revoked, unhealthy (status `error` or
//! health `unhealthy`), no credential stored, scopes missing. A `degraded` connection
//! is usable: its trouble is the provider's, and it is transient.

use serde::Serialize;
use url::Url;
use uuid::Uuid;

use crate::models::connection::{self, ConnectionStatus, HealthStatus};
use crate::models::operation_run::{NextStep, NextSteps};
use crate::models::{ProviderSlug, TenantId};
use crate::services::credentials::CredentialKind;

/// Why a run is blocked. The codes are stable: products branch on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    /// The tenant has no connection of the type's provider.
    NoConnection,
    /// Several connections of the provider, none of them the default.
    NoDefaultConnection,
    /// The connection waits for the end user's consent.
    ConnectionNeedsConsent,
    /// The provider refused the connection's grant: the end user must connect again.
    ConnectionNeedsReauth,
    /// The connection was disconnected.
    ConnectionRevoked,
    /// The connection holds no credential.
    CredentialMissing,
    /// The connection lacks scopes the operation needs.
    MissingScopes,
    /// The provider rejected the credential, or its last health check failed.
    ConnectionUnhealthy,
}

impl BlockReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            BlockReason::NoConnection => "no_connection",
            BlockReason::NoDefaultConnection => "no_default_connection",
            BlockReason::ConnectionNeedsConsent => "connection_needs_consent",
            BlockReason::ConnectionNeedsReauth => "connection_needs_reauth",
            BlockReason::ConnectionRevoked => "connection_revoked",
            BlockReason::CredentialMissing => "credential_missing",
            BlockReason::MissingScopes => "missing_scopes",
            BlockReason::ConnectionUnhealthy => "connection_unhealthy",
        }
    }
}

/// A connection as the gate sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub connection: connection::Model,
    /// The kind of credential stored for it, if any.
    pub credential: Option<CredentialKind>,
}

/// What the gate decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Run with this connection.
    Usable { connection_id: Uuid },
    /// Finalize the run as blocked.
    Blocked(Blocked),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Blocked {
    pub reason: BlockReason,
    /// The connection the run was gated on, when one was resolved.
    pub connection_id: Option<Uuid>,
    /// For `missing_scopes`: the scopes the connection lacks, in the type's order.
    pub missing_scopes: Vec<String>,
    pub next_steps: NextSteps,
}

/// What the gate is asked about.
pub struct Question<'a> {
    pub tenant: TenantId,
    pub provider: &'a ProviderSlug,
    /// The provider's display name, for the next steps' labels.
    pub provider_name: &'a str,
    pub required_scopes: &'a [String],
    /// Where the console lives (`CONNVAULT_PUBLIC_URL`).
    pub public_url: &'a Url,
}

/// Decides for the connection the caller named (`candidates` then holds that one
/// connection) or, when none was named, among all of the tenant's connections of the
/// provider (`candidates`, any status).
pub fn decide(q: &Question<'_>, named: bool, candidates: &[Candidate]) -> Decision {
    let chosen = if named {
        candidates.first()
    } else {
        match candidates.iter().find(|c| c.connection.is_default) {
            Some(default) => Some(default),
            None if candidates.len() == 1 => candidates.first(),
            None if candidates.is_empty() => {
                return blocked(q, BlockReason::NoConnection, None, Vec::new());
            }
            None => return blocked(q, BlockReason::NoDefaultConnection, None, Vec::new()),
        }
    };
    let Some(chosen) = chosen else {
        return blocked(q, BlockReason::NoConnection, None, Vec::new());
    };
    let c = &chosen.connection;
    let reason = match c.status {
        ConnectionStatus::Pending | ConnectionStatus::NeedsConsent => {
            Some(BlockReason::ConnectionNeedsConsent)
        }
        ConnectionStatus::NeedsReauth => Some(BlockReason::ConnectionNeedsReauth),
        ConnectionStatus::Revoked => Some(BlockReason::ConnectionRevoked),
        ConnectionStatus::Error => Some(BlockReason::ConnectionUnhealthy),
        ConnectionStatus::Active if c.health_status == HealthStatus::Unhealthy => {
            Some(BlockReason::ConnectionUnhealthy)
        }
        ConnectionStatus::Active => None,
    };
    if let Some(reason) = reason {
        return blocked(q, reason, Some(c), Vec::new());
    }
    let Some(kind) = chosen.credential else {
        return blocked(q, BlockReason::CredentialMissing, Some(c), Vec::new());
    };
    // Scopes are known for OAuth grants, and for any connection that lists them; a
    // static key that lists none carries no scope information to hold against it.
    if kind == CredentialKind::Oauth2 || !c.scopes_granted.0.is_empty() {
        let missing: Vec<String> = q
            .required_scopes
            .iter()
            .filter(|s| !c.scopes_granted.0.contains(s))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return blocked(q, BlockReason::MissingScopes, Some(c), missing);
        }
    }
    Decision::Usable {
        connection_id: c.id,
    }
}

fn blocked(
    q: &Question<'_>,
    reason: BlockReason,
    connection: Option<&connection::Model>,
    missing_scopes: Vec<String>,
) -> Decision {
    let name = q.provider_name;
    let connect = |label: String| NextStep {
        label,
        url: links::connect_page(q.public_url, q.tenant, q.provider, connection.map(|c| c.id)),
    };
    let view = |c: &connection::Model| NextStep {
        label: format!("Open the {name} connection"),
        url: links::connection_page(q.public_url, q.tenant, c.id),
    };
    let mut steps = Vec::new();
    match (reason, connection) {
        (BlockReason::NoDefaultConnection, _) => {}
        (BlockReason::NoConnection, _) | (_, None) => {
            steps.push(connect(format!("Connect {name}")));
        }
        (BlockReason::ConnectionNeedsConsent, Some(c)) => {
            steps.push(connect(format!("Grant access to {name}")));
            steps.push(view(c));
        }
        (BlockReason::ConnectionNeedsReauth, Some(c)) => {
            steps.push(connect(format!("Reconnect {name}")));
            steps.push(view(c));
        }
        (BlockReason::ConnectionRevoked, Some(_)) => {
            steps.push(NextStep {
                label: format!("Connect {name} again"),
                url: links::connect_page(q.public_url, q.tenant, q.provider, None),
            });
        }
        (BlockReason::CredentialMissing, Some(c)) => {
            steps.push(connect(format!("Add the {name} credential")));
            steps.push(view(c));
        }
        (BlockReason::MissingScopes, Some(c)) => {
            steps.push(connect(format!(
                "Reconnect {name} granting {}",
                missing_scopes.join(", ")
            )));
            steps.push(view(c));
        }
        (BlockReason::ConnectionUnhealthy, Some(c)) => {
            steps.push(view(c));
            steps.push(connect(format!("Reconnect {name}")));
        }
    }
    if reason == BlockReason::NoDefaultConnection {
        steps.push(NextStep {
            label: format!("Choose the default {name} connection"),
            url: links::integrations_page(q.public_url, q.tenant, q.provider),
        });
    }
    Decision::Blocked(Blocked {
        reason,
        connection_id: connection.map(|c| c.id),
        missing_scopes,
        next_steps: NextSteps(steps),
    })
}

/// The console pages next steps point at. Only ids and slugs go into them.
pub mod links {
    use url::Url;
    use uuid::Uuid;

    use crate::models::{ProviderSlug, TenantId};

    fn page(base: &Url, path: &str, query: &[(&str, String)]) -> String {
        let mut url = base.clone();
        let prefix = base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(None);
        url.set_fragment(None);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (k, v)));
        }
        url.into()
    }

    /// `/console/tenants/{t}/connect?provider=…[&connection=…]`: where a person
    /// connects (or reconnects) the provider.
    pub fn connect_page(
        base: &Url,
        tenant: TenantId,
        provider: &ProviderSlug,
        connection: Option<Uuid>,
    ) -> String {
        let mut query = vec![("provider", provider.as_str().to_owned())];
        if let Some(c) = connection {
            query.push(("connection", c.to_string()));
        }
        page(base, &format!("/console/tenants/{tenant}/connect"), &query)
    }

    /// `/console/tenants/{t}/connections/{c}`: one connection's page.
    pub fn connection_page(base: &Url, tenant: TenantId, connection: Uuid) -> String {
        page(
            base,
            &format!("/console/tenants/{tenant}/connections/{connection}"),
            &[],
        )
    }

    /// `/console/tenants/{t}/integrations?provider=…`: the tenant's connections of a
    /// provider, where the default is chosen.
    pub fn integrations_page(base: &Url, tenant: TenantId, provider: &ProviderSlug) -> String {
        page(
            base,
            &format!("/console/tenants/{tenant}/integrations"),
            &[("provider", provider.as_str().to_owned())],
        )
    }
}

#[cfg(test)]
mod tests;
