use chrono::Utc;

use super::*;
use crate::models::json::StringList;

fn connection(status: ConnectionStatus, default: bool, scopes: &[&str]) -> connection::Model {
    connection::Model {
        id: Uuid::new_v4(),
        tenant_id: Uuid::nil(),
        provider_slug: "slack".into(),
        external_id: "T1".into(),
        display_name: None,
        status,
        health_status: HealthStatus::Healthy,
        is_default: default,
        scopes_granted: StringList(scopes.iter().map(|s| s.to_string()).collect()),
        token_expires_at: None,
        last_health_check_at: None,
        last_error_reason_code: None,
        last_error_message: None,
        metadata: serde_json::json!({}),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        refresh_lease_until: None,
        refresh_lease_owner: None,
        last_refreshed_at: None,
        refresh_retry_at: None,
        refresh_failures: 0,
        health_check_due_at: None,
        health_lease_until: None,
        health_lease_owner: None,
    }
}

fn candidate(c: connection::Model, kind: Option<CredentialKind>) -> Candidate {
    Candidate {
        connection: c,
        credential: kind,
    }
}

fn oauth(status: ConnectionStatus, default: bool) -> Candidate {
    candidate(
        connection(status, default, &["chat:write", "channels:read"]),
        Some(CredentialKind::Oauth2),
    )
}

struct Fixture {
    tenant: TenantId,
    provider: ProviderSlug,
    scopes: Vec<String>,
    base: Url,
}

impl Fixture {
    fn new() -> Self {
        Self {
            tenant: TenantId::from_uuid(Uuid::from_u128(7)),
            provider: ProviderSlug::parse("slack").unwrap(),
            scopes: vec!["chat:write".into()],
            base: Url::parse("https://vault.example.com/base/").unwrap(),
        }
    }

    fn question(&self) -> Question<'_> {
        Question {
            tenant: self.tenant,
            provider: &self.provider,
            provider_name: "Slack",
            required_scopes: &self.scopes,
            public_url: &self.base,
        }
    }
}

fn reason(d: &Decision) -> Option<BlockReason> {
    match d {
        Decision::Usable { .. } => None,
        Decision::Blocked(b) => Some(b.reason),
    }
}

#[test]
fn the_default_connection_is_chosen_among_several() {
    let f = Fixture::new();
    let other = oauth(ConnectionStatus::Active, false);
    let default = oauth(ConnectionStatus::Active, true);
    let id = default.connection.id;
    let d = decide(&f.question(), false, &[other, default]);
    assert_eq!(d, Decision::Usable { connection_id: id });
}

#[test]
fn a_lone_connection_is_used_without_being_default() {
    let f = Fixture::new();
    let only = oauth(ConnectionStatus::Active, false);
    let id = only.connection.id;
    assert_eq!(
        decide(&f.question(), false, &[only]),
        Decision::Usable { connection_id: id }
    );
}

#[test]
fn no_connection_and_no_default_block_with_their_own_codes() {
    let f = Fixture::new();
    let d = decide(&f.question(), false, &[]);
    assert_eq!(reason(&d), Some(BlockReason::NoConnection));
    let Decision::Blocked(b) = d else {
        unreachable!()
    };
    assert_eq!(b.connection_id, None);
    assert_eq!(
        b.next_steps.0[0].url,
        "https://vault.example.com/base/console/tenants/00000000-0000-0000-0000-000000000007/connect?provider=slack"
    );
    assert_eq!(b.next_steps.0[0].label, "Connect Slack");

    let two = [
        oauth(ConnectionStatus::Active, false),
        oauth(ConnectionStatus::Active, false),
    ];
    let d = decide(&f.question(), false, &two);
    assert_eq!(reason(&d), Some(BlockReason::NoDefaultConnection));
    let Decision::Blocked(b) = d else {
        unreachable!()
    };
    assert_eq!(
        b.next_steps.0[0].url,
        "https://vault.example.com/base/console/tenants/00000000-0000-0000-0000-000000000007/integrations?provider=slack"
    );
}

#[test]
fn each_status_blocks_with_its_code_and_names_the_connection() {
    let f = Fixture::new();
    for (status, expected) in [
        (
            ConnectionStatus::Pending,
            BlockReason::ConnectionNeedsConsent,
        ),
        (
            ConnectionStatus::NeedsConsent,
            BlockReason::ConnectionNeedsConsent,
        ),
        (
            ConnectionStatus::NeedsReauth,
            BlockReason::ConnectionNeedsReauth,
        ),
        (ConnectionStatus::Revoked, BlockReason::ConnectionRevoked),
        (ConnectionStatus::Error, BlockReason::ConnectionUnhealthy),
    ] {
        let c = oauth(status, true);
        let id = c.connection.id;
        let Decision::Blocked(b) = decide(&f.question(), true, &[c]) else {
            panic!("{status:?} must block");
        };
        assert_eq!(b.reason, expected, "{status:?}");
        assert_eq!(b.connection_id, Some(id));
        assert!(!b.next_steps.0.is_empty(), "{status:?} has next steps");
        for step in &b.next_steps.0 {
            assert!(
                step.url
                    .starts_with("https://vault.example.com/base/console/tenants/")
            );
        }
    }
}

#[test]
fn an_unhealthy_connection_blocks_and_a_degraded_one_does_not() {
    let f = Fixture::new();
    let mut c = oauth(ConnectionStatus::Active, true);
    c.connection.health_status = HealthStatus::Unhealthy;
    assert_eq!(
        reason(&decide(&f.question(), true, &[c.clone()])),
        Some(BlockReason::ConnectionUnhealthy)
    );
    c.connection.health_status = HealthStatus::Degraded;
    assert_eq!(reason(&decide(&f.question(), true, &[c])), None);
}

#[test]
fn a_connection_without_credential_blocks() {
    let f = Fixture::new();
    let c = candidate(connection(ConnectionStatus::Active, true, &[]), None);
    assert_eq!(
        reason(&decide(&f.question(), true, &[c])),
        Some(BlockReason::CredentialMissing)
    );
}

#[test]
fn missing_scopes_are_listed_in_the_types_order() {
    let mut f = Fixture::new();
    f.scopes = vec![
        "users:read".into(),
        "chat:write".into(),
        "files:read".into(),
    ];
    let c = oauth(ConnectionStatus::Active, true);
    let Decision::Blocked(b) = decide(&f.question(), false, &[c]) else {
        panic!("scopes are missing");
    };
    assert_eq!(b.reason, BlockReason::MissingScopes);
    assert_eq!(b.missing_scopes, ["users:read", "files:read"]);
    assert!(b.next_steps.0[0].label.contains("users:read, files:read"));
}

#[test]
fn a_static_key_without_scope_information_is_not_held_to_scopes() {
    let f = Fixture::new();
    let key = candidate(
        connection(ConnectionStatus::Active, true, &[]),
        Some(CredentialKind::ApiKey),
    );
    assert_eq!(reason(&decide(&f.question(), true, &[key])), None);
    let listed = candidate(
        connection(ConnectionStatus::Active, true, &["read"]),
        Some(CredentialKind::ApiKey),
    );
    assert_eq!(
        reason(&decide(&f.question(), true, &[listed])),
        Some(BlockReason::MissingScopes)
    );
}

#[test]
fn next_steps_carry_only_ids_and_slugs() {
    let f = Fixture::new();
    let c = oauth(ConnectionStatus::NeedsReauth, true);
    let id = c.connection.id;
    let Decision::Blocked(b) = decide(&f.question(), true, &[c]) else {
        unreachable!()
    };
    let urls: Vec<&str> = b.next_steps.0.iter().map(|s| s.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            format!(
                "https://vault.example.com/base/console/tenants/00000000-0000-0000-0000-000000000007/connect?provider=slack&connection={id}"
            ),
            format!(
                "https://vault.example.com/base/console/tenants/00000000-0000-0000-0000-000000000007/connections/{id}"
            ),
        ]
    );
}
