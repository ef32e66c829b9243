//! The connection repository: every method, every bad input, and the single default.

use chrono::{Duration, Utc};
use connvault::Error;
use connvault::models::connection::{ConnectionStatus, HealthStatus};
use connvault::models::{ConnectionId, ExternalId, ProviderSlug, TenantId};
use connvault::repositories::connections::{self, ConnectionError, TokenStatusPatch};

use crate::support::{TestDb, connection, new_connection, tenant};

async fn create_stores_the_connection_with_its_defaults(t: TestDb) {
    let tenant = tenant(&t).await;
    let mut input = new_connection("slack", "T0123ABC");
    input.display_name = Some(" Acme Slack ".into());
    input.scopes_granted = vec!["chat:write".into(), "channels:read".into()];
    input.metadata = serde_json::json!({ "team_name": "Acme" });
    let expires = Utc::now() + Duration::hours(1);
    input.token_expires_at = Some(expires);
    let created = connections::create(&t.db, tenant, input).await.unwrap();

    assert_eq!(created.tenant_id, tenant.as_uuid());
    assert_eq!(created.provider_slug, "slack");
    assert_eq!(created.external_id, "T0123ABC");
    assert_eq!(created.display_name.as_deref(), Some("Acme Slack"));
    assert_eq!(created.status, ConnectionStatus::Pending);
    assert_eq!(created.health_status, HealthStatus::Unknown);
    assert!(
        created.is_default,
        "the first connection becomes the default"
    );
    assert_eq!(created.scopes_granted.0.len(), 2);
    assert_eq!(created.metadata["team_name"], "Acme");
    let stored_expiry = created.token_expires_at.unwrap();
    assert!((stored_expiry - expires).num_milliseconds().abs() < 1);
    assert_eq!(created.id.get_version_num(), 4);

    let second = connection(&t, tenant, "slack", "T0456DEF").await;
    assert!(
        !second.is_default,
        "only the first connection is the default"
    );
    let other_provider = connection(&t, tenant, "github", "T0123ABC").await;
    assert!(other_provider.is_default, "defaults are per provider");
}

async fn get_and_find_return_the_stored_row(t: TestDb) {
    let tenant = tenant(&t).await;
    let created = connection(&t, tenant, "github", "installation-42").await;
    let got = connections::get_by_id(&t.db, tenant, created.connection_id())
        .await
        .unwrap();
    assert_eq!(got.as_ref(), Some(&created));
    let found = connections::find_by_unique(
        &t.db,
        tenant,
        &ProviderSlug::parse("github").unwrap(),
        &ExternalId::parse("installation-42").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(found, Some(created));
    let none = connections::get_by_id(&t.db, tenant, ConnectionId::new_v4())
        .await
        .unwrap();
    assert!(none.is_none());
    let other_ext = connections::find_by_unique(
        &t.db,
        tenant,
        &ProviderSlug::parse("github").unwrap(),
        &ExternalId::parse("installation-43").unwrap(),
    )
    .await
    .unwrap();
    assert!(other_ext.is_none());
}

async fn bad_input_gets_a_distinct_error_and_writes_nothing(t: TestDb) {
    let tenant = tenant(&t).await;
    assert!(matches!(
        ProviderSlug::parse("GitHub"),
        Err(Error::InvalidSlug)
    ));
    assert!(matches!(ProviderSlug::parse(""), Err(Error::InvalidSlug)));
    assert!(matches!(
        ProviderSlug::parse("-github"),
        Err(Error::InvalidSlug)
    ));
    assert!(matches!(
        ProviderSlug::parse(&"a".repeat(65)),
        Err(Error::InvalidSlug)
    ));
    assert!(matches!(
        ExternalId::parse(""),
        Err(Error::InvalidExternalId(_))
    ));
    assert!(matches!(
        ExternalId::parse(&"x".repeat(256)),
        Err(Error::InvalidExternalId(_))
    ));
    assert!(ExternalId::parse(&"x".repeat(255)).is_ok());
    assert!(matches!(
        ExternalId::parse(" T1"),
        Err(Error::InvalidExternalId(_))
    ));
    assert!(matches!(
        ExternalId::parse("https://user:ghp_token@github.com/acme/widgets"),
        Err(Error::InvalidExternalId(_))
    ));
    assert!(ExternalId::parse("https://github.com/acme/widgets").is_ok());

    let unknown_provider = connections::create(&t.db, tenant, new_connection("myspace", "x")).await;
    match unknown_provider {
        Err(Error::UnknownProvider(slug)) => assert_eq!(slug, "myspace"),
        other => panic!("expected UnknownProvider, got {other:?}"),
    }
    let ghost = TenantId::new_v4();
    match connections::create(&t.db, ghost, new_connection("slack", "T1")).await {
        Err(Error::UnknownTenant(id)) => assert_eq!(id, ghost.as_uuid()),
        other => panic!("expected UnknownTenant, got {other:?}"),
    }
    let mut bad_meta = new_connection("slack", "T1");
    bad_meta.metadata = serde_json::json!("not an object");
    assert!(matches!(
        connections::create(&t.db, tenant, bad_meta).await,
        Err(Error::Invalid {
            field: "metadata",
            ..
        })
    ));
    let mut bad_name = new_connection("slack", "T1");
    bad_name.display_name = Some("x".repeat(201));
    assert!(matches!(
        connections::create(&t.db, tenant, bad_name).await,
        Err(Error::Invalid {
            field: "display_name",
            ..
        })
    ));
    let mut bad_scope = new_connection("slack", "T1");
    bad_scope.scopes_granted = vec!["chat write".into()];
    assert!(matches!(
        connections::create(&t.db, tenant, bad_scope).await,
        Err(Error::Invalid {
            field: "scopes_granted",
            ..
        })
    ));
    assert_eq!(t.count("connections").await, 0);

    let first = connection(&t, tenant, "slack", "T1").await;
    match connections::create(&t.db, tenant, new_connection("slack", "T1")).await {
        Err(Error::DuplicateConnection {
            provider,
            external_id,
            existing,
        }) => {
            assert_eq!(provider, "slack");
            assert_eq!(external_id, "T1");
            assert_eq!(existing, Some(first.connection_id()));
        }
        other => panic!("expected DuplicateConnection, got {other:?}"),
    }
    assert_eq!(t.count("connections").await, 1);
    let still = connections::get_by_id(&t.db, tenant, first.connection_id())
        .await
        .unwrap();
    assert_eq!(still, Some(first));
}

async fn the_same_external_account_may_connect_in_other_tenants_and_providers(t: TestDb) {
    let a = tenant(&t).await;
    let b = tenant(&t).await;
    connection(&t, a, "github", "acme").await;
    connection(&t, b, "github", "acme").await;
    connection(&t, a, "gitlab", "acme").await;
    assert_eq!(t.count("connections").await, 3);
}

async fn update_tokens_status_applies_sets_and_clears(t: TestDb) {
    let tenant = tenant(&t).await;
    let created = connection(&t, tenant, "google", "user-1").await;
    let expiry = Utc::now() + Duration::minutes(30);
    let updated = connections::update_tokens_status(
        &t.db,
        tenant,
        created.connection_id(),
        TokenStatusPatch {
            token_expires_at: Some(Some(expiry)),
            scopes_granted: Some(vec!["openid".into(), "email".into()]),
            status: Some(ConnectionStatus::Active),
            health_status: Some(HealthStatus::Healthy),
            last_health_check_at: Some(Some(Utc::now())),
            last_error: Some(Some(ConnectionError {
                reason_code: "rate_limited".into(),
                message: "slow down\nplease".into(),
            })),
        },
    )
    .await
    .unwrap();
    assert_eq!(updated.status, ConnectionStatus::Active);
    assert_eq!(updated.health_status, HealthStatus::Healthy);
    assert_eq!(updated.scopes_granted.0, vec!["openid", "email"]);
    assert_eq!(
        updated.last_error_reason_code.as_deref(),
        Some("rate_limited")
    );
    assert_eq!(
        updated.last_error_message.as_deref(),
        Some("slow down please"),
        "messages are kept on one line"
    );
    assert!(updated.last_health_check_at.is_some());
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(updated.created_at, created.created_at);
    let reread = connections::get_by_id(&t.db, tenant, created.connection_id())
        .await
        .unwrap();
    assert_eq!(reread.as_ref(), Some(&updated));

    // Only the named fields change; Some(None) clears.
    let cleared = connections::update_tokens_status(
        &t.db,
        tenant,
        created.connection_id(),
        TokenStatusPatch {
            last_error: Some(None),
            last_health_check_at: Some(None),
            status: Some(ConnectionStatus::NeedsReauth),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(cleared.token_expires_at, updated.token_expires_at);
    assert!(cleared.last_health_check_at.is_none());
    assert!(cleared.last_error_reason_code.is_none());
    assert!(cleared.last_error_message.is_none());
    assert_eq!(cleared.status, ConnectionStatus::NeedsReauth);
    assert_eq!(cleared.health_status, HealthStatus::Healthy);
}

async fn update_tokens_status_refuses_bad_input_and_unknown_rows(t: TestDb) {
    let tenant = tenant(&t).await;
    let created = connection(&t, tenant, "google", "user-1").await;
    let bad = connections::update_tokens_status(
        &t.db,
        tenant,
        created.connection_id(),
        TokenStatusPatch {
            status: Some(ConnectionStatus::Error),
            last_error: Some(Some(ConnectionError {
                reason_code: "Not A Code".into(),
                message: "x".into(),
            })),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(
        bad,
        Err(Error::Invalid {
            field: "last_error.reason_code",
            ..
        })
    ));
    let reread = connections::get_by_id(&t.db, tenant, created.connection_id())
        .await
        .unwrap();
    assert_eq!(reread, Some(created), "a refused patch changes nothing");

    let missing = connections::update_tokens_status(
        &t.db,
        tenant,
        ConnectionId::new_v4(),
        TokenStatusPatch {
            status: Some(ConnectionStatus::Active),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(missing, Err(Error::NotFound("connection"))));
}

async fn make_default_moves_the_default_in_one_step(t: TestDb) {
    let tenant = tenant(&t).await;
    let a = connection(&t, tenant, "microsoft", "entra-a").await;
    let b = connection(&t, tenant, "microsoft", "entra-b").await;
    let other = connection(&t, tenant, "slack", "T1").await;
    assert!(a.is_default && !b.is_default);

    let b2 = connections::make_default(&t.db, tenant, b.connection_id())
        .await
        .unwrap();
    assert!(b2.is_default);
    let a2 = connections::get_by_id(&t.db, tenant, a.connection_id())
        .await
        .unwrap()
        .unwrap();
    assert!(!a2.is_default);
    let other2 = connections::get_by_id(&t.db, tenant, other.connection_id())
        .await
        .unwrap()
        .unwrap();
    assert!(other2.is_default, "another provider's default is untouched");

    // Idempotent.
    let again = connections::make_default(&t.db, tenant, b.connection_id())
        .await
        .unwrap();
    assert!(again.is_default);
    assert_eq!(defaults(&t, tenant, "microsoft").await, vec![b.id]);

    let missing = connections::make_default(&t.db, tenant, ConnectionId::new_v4()).await;
    assert!(matches!(missing, Err(Error::NotFound("connection"))));
}

async fn a_revoked_connection_cannot_become_the_default(t: TestDb) {
    let tenant = tenant(&t).await;
    let a = connection(&t, tenant, "slack", "T1").await;
    let b = connection(&t, tenant, "slack", "T2").await;
    connections::update_tokens_status(
        &t.db,
        tenant,
        b.connection_id(),
        TokenStatusPatch {
            status: Some(ConnectionStatus::Revoked),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let refused = connections::make_default(&t.db, tenant, b.connection_id()).await;
    assert!(matches!(
        refused,
        Err(Error::Invalid {
            field: "status",
            ..
        })
    ));
    assert_eq!(defaults(&t, tenant, "slack").await, vec![a.id]);
}

async fn twenty_concurrent_make_default_calls_leave_exactly_one_default(t: TestDb) {
    let tenant = tenant(&t).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            connection(&t, tenant, "github", &format!("repo-{i}"))
                .await
                .connection_id(),
        );
    }
    let calls = ids.iter().map(|id| {
        let db = t.db.clone();
        let id = *id;
        tokio::spawn(async move { connections::make_default(&db, tenant, id).await })
    });
    for result in futures::future::join_all(calls).await {
        result
            .expect("task")
            .expect("make_default succeeds under contention");
    }
    let defaults = defaults(&t, tenant, "github").await;
    assert_eq!(defaults.len(), 1, "exactly one default: {defaults:?}");
}

async fn concurrent_first_connections_yield_one_default(t: TestDb) {
    let tenant = tenant(&t).await;
    let calls = (0..10).map(|i| {
        let db = t.db.clone();
        tokio::spawn(async move {
            connections::create(&db, tenant, new_connection("notion", &format!("ws-{i}"))).await
        })
    });
    for result in futures::future::join_all(calls).await {
        result.expect("task").expect("create succeeds");
    }
    assert_eq!(defaults(&t, tenant, "notion").await.len(), 1);
}

/// The ids of the tenant's default connections for a provider.
async fn defaults(t: &TestDb, tenant: TenantId, provider: &str) -> Vec<uuid::Uuid> {
    let page = connections::list_by_tenant_provider(
        &t.db,
        tenant,
        &ProviderSlug::parse(provider).unwrap(),
        connvault::repositories::Page::first(200),
    )
    .await
    .unwrap();
    page.items
        .into_iter()
        .filter(|c| c.is_default)
        .map(|c| c.id)
        .collect()
}

crate::on_both_backends!(
    create_stores_the_connection_with_its_defaults,
    get_and_find_return_the_stored_row,
    bad_input_gets_a_distinct_error_and_writes_nothing,
    the_same_external_account_may_connect_in_other_tenants_and_providers,
    update_tokens_status_applies_sets_and_clears,
    update_tokens_status_refuses_bad_input_and_unknown_rows,
    make_default_moves_the_default_in_one_step,
    a_revoked_connection_cannot_become_the_default,
    twenty_concurrent_make_default_calls_leave_exactly_one_default,
    concurrent_first_connections_yield_one_default,
);

#[test]
fn error_messages_lose_anything_that_looks_like_a_credential() {
    use connvault::sanitize::redact_secrets;
    let cases = [
        (
            "refresh failed: Authorization: Bearer gho_abc.def",
            "gho_abc.def",
        ),
        (
            "GET /x?access_token=s3cr3tvalue&y=1 returned 401",
            "s3cr3tvalue",
        ),
        (
            r#"{"error":"invalid_grant","refresh_token":"ghr_zzz"}"#,
            "ghr_zzz",
        ),
        (
            "token revoked: ghr_1234567890abcdefghijKLMNop",
            "ghr_1234567890abcdefghijKLMNop",
        ),
        ("client_secret: hunter2 rejected", "hunter2"),
        ("Basic dXNlcjpwYXNz was refused", "dXNlcjpwYXNz"),
    ];
    for (message, secret) in cases {
        let clean = redact_secrets(message);
        assert!(!clean.contains(secret), "{message:?} -> {clean:?}");
        assert!(clean.contains("[redacted]"), "{clean:?}");
    }
    let harmless = "rate limited by https://api.github.com/user for connection 2f1c9a52-63c4-4c52-9b1c-3f1f0a6f3e11";
    assert_eq!(redact_secrets(harmless), harmless);
}
