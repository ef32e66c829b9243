//! The refresh engine's edges, against the real authorization server: a background
//! pass selects exactly what it will renew and ends; a failure is recorded only by the
//! attempt that still holds the lease; the SQLite and PostgreSQL selections agree.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::{TimeDelta, Utc};
use connvault::crypto::Keyring;
use connvault::models::connection::ConnectionStatus;
use connvault::models::{ConnectionId, ExternalId, ProviderSlug, TenantId};
use connvault::repositories::activity::Actor;
use connvault::repositories::connections::NewConnection;
use connvault::repositories::refresh_leases::{self, Due, DueQuery, Lease};
use connvault::services::connections as service;
use connvault::services::credentials::Credential;
use connvault::services::refresh::{RefreshOptions, Refresher};
use serde_json::json;

use crate::credentials::s;
use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::api::TestApp;
use crate::support::logs::Capture;
use crate::support::oidc::{self, Oidc, RETURN_URL};

/// Declares `slug` as an OAuth provider whose token endpoint is `idp`'s, with
/// `metadata`, and gives it an OAuth app when `with_app`.
async fn provider(
    app: &TestApp,
    idp: &Oidc,
    slug: &str,
    metadata: serde_json::Value,
    with_app: bool,
) {
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/providers/{slug}"),
            Some(&app.operator),
            Some(json!({
                "display_name": slug,
                "auth_modes": ["oauth2_authorization_code"],
                "authorization_url": format!("{}/auth", idp.issuer),
                "token_url": format!("{}/token", idp.issuer),
                "metadata": metadata,
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    if with_app {
        let r = app
            .call(
                Method::PUT,
                &format!("/v1/oauth-apps/{slug}"),
                Some(&app.operator),
                Some(json!({
                    "client_id": oidc::CLIENT_ID,
                    "client_secret": oidc::CLIENT_SECRET,
                    "allowed_return_urls": [RETURN_URL],
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    }
}

/// `n` active OAuth connections of `slug` whose tokens expire in `expires_in`, each with
/// a refresh token the server never issued.
async fn connections(
    t: &TestDb,
    keyring: &Keyring,
    tenant: TenantId,
    slug: &str,
    n: usize,
    expires_in: TimeDelta,
) -> Vec<ConnectionId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut input = NewConnection::new(
            ProviderSlug::parse(slug).unwrap(),
            ExternalId::parse(&format!("{slug}-{i}-{}", uuid::Uuid::new_v4().simple())).unwrap(),
        );
        input.token_expires_at = Some(Utc::now() + expires_in);
        let credential = Credential::Oauth2 {
            access_token: s(&format!(
                "gho_access_{slug}_{i}_{}",
                uuid::Uuid::new_v4().simple()
            )),
            refresh_token: Some(s(&format!(
                "ghr_refresh_{slug}_{i}_{}",
                uuid::Uuid::new_v4().simple()
            ))),
        };
        let (conn, _) = service::connect(
            &t.db,
            keyring,
            tenant,
            &Actor::system("test"),
            input,
            Some(&credential),
        )
        .await
        .unwrap();
        ids.push(conn.connection_id());
    }
    ids
}

/// The connections among `ids` named by a WARN event of `log` that says `message`.
fn warnings_about(log: &str, ids: &[ConnectionId], message: &str) -> Vec<String> {
    let wanted: BTreeSet<String> = ids.iter().map(|c| c.as_uuid().to_string()).collect();
    log.lines()
        .filter(|l| l.contains("\"WARN\"") && l.contains(message))
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let id = v["fields"]["connection"].as_str()?.to_owned();
            wanted.contains(&id).then_some(id)
        })
        .collect()
}

async fn a_background_pass_selects_only_what_it_renews_and_ends(t: TestDb) {
    let idp = Oidc::start().await;
    let app = TestApp::new(t).await;
    // A provider with a 60-second margin: tokens 200 s from expiry are due by the
    // global margin (300 s plus the 30 s interval) but not by their provider's.
    provider(
        &app,
        &idp,
        "shortmargin",
        json!({"refresh_margin_seconds": 60}),
        true,
    )
    .await;
    // A provider without an OAuth app: its due tokens cannot be renewed at all.
    provider(&app, &idp, "appless", json!({}), false).await;
    let keyring = app.t.keyring().await;
    let tenant = TenantId::parse(&app.tenant("acme").await).unwrap();
    let not_due = connections(
        &app.t,
        &keyring,
        tenant,
        "shortmargin",
        600,
        TimeDelta::seconds(200),
    )
    .await;
    let stuck = connections(
        &app.t,
        &keyring,
        tenant,
        "appless",
        600,
        TimeDelta::seconds(10),
    )
    .await;

    let refresher = Refresher::new(app.t.db.clone(), keyring, RefreshOptions::default());
    // Process-wide: the pass logs from the tasks it spawns.
    let capture = Capture::start();
    let report = tokio::time::timeout(Duration::from_secs(120), refresher.pass())
        .await
        .expect("one pass ends")
        .unwrap();
    assert_eq!(
        report.due, 600,
        "only the app-less connections are due: {report:?}"
    );
    assert_eq!(report.refreshed, 0, "nothing was renewed: {report:?}");
    assert_eq!(report.failed, 600, "{report:?}");
    assert_eq!(
        idp.token_requests().await.values().sum::<u64>(),
        0,
        "no token call"
    );

    // Every failure has a retry time and its reason; the next pass finds nothing.
    assert_eq!(
        app.t
            .count("connections WHERE refresh_retry_at IS NOT NULL AND last_error_reason_code = 'oauth_app_missing'")
            .await,
        600
    );
    assert_eq!(
        app.t
            .count("connections WHERE provider_slug = 'shortmargin' AND refresh_retry_at IS NULL AND last_error_reason_code IS NULL")
            .await,
        600,
        "connections that were not due are untouched"
    );
    let again = refresher.pass().await.unwrap();
    assert_eq!((again.due, again.failed), (0, 0), "{again:?}");

    // One warning per connection that could not be renewed, none for the others.
    let log = capture.text();
    let warned = warnings_about(&log, &stuck, "background renewal cannot be attempted");
    assert_eq!(warned.len(), 600);
    assert_eq!(warned.iter().collect::<BTreeSet<_>>().len(), 600);
    assert!(warnings_about(&log, &not_due, "").is_empty());
}

async fn a_failure_is_recorded_only_by_the_attempt_that_holds_the_lease(t: TestDb) {
    let idp = Oidc::start().await;
    let app = TestApp::new(t).await;
    provider(
        &app,
        &idp,
        "testidp",
        json!({"refresh_margin_seconds": 30}),
        true,
    )
    .await;
    let keyring = app.t.keyring().await;
    let tenant = TenantId::parse(&app.tenant("acme").await).unwrap();
    // A refresh token the server never issued: it answers invalid_grant, slowly.
    let ids = connections(
        &app.t,
        &keyring,
        tenant,
        "testidp",
        1,
        TimeDelta::seconds(20),
    )
    .await;
    let connection = ids[0];
    idp.set_token_delay(1500).await;
    let refresher = Refresher::new(app.t.db.clone(), keyring, RefreshOptions::default());
    let read = tokio::spawn({
        let refresher = refresher.clone();
        async move { refresher.read(tenant, connection).await }
    });
    // While the provider answers, the lease is lost (as when it runs out and another
    // process takes it).
    let mut taken = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = app
            .t
            .exec("UPDATE connections SET refresh_lease_owner = NULL, refresh_lease_until = NULL WHERE refresh_lease_owner IS NOT NULL")
            .await
            .unwrap();
        if n == 1 {
            taken = true;
            break;
        }
    }
    assert!(taken, "the lease was lost while the provider answered");
    let answer = read.await.unwrap().unwrap().expect("a credential");
    assert_eq!(idp.count("refresh_token").await, 1);
    // The refusal is not recorded: the other attempt owns the outcome.
    let row = connvault::repositories::connections::get_by_id(&app.t.db, tenant, connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ConnectionStatus::Active);
    assert_eq!(row.last_error_reason_code, None);
    assert_eq!(
        app.t
            .count("activity_log WHERE action IN ('refresh_failed', 'status_changed')")
            .await,
        0
    );
    // The reader got the still-valid token it had.
    assert!(answer.token_expires_at.is_some());
}

async fn both_backends_select_the_same_due_connections(t: TestDb) {
    let idp = Oidc::start().await;
    let app = TestApp::new(t).await;
    provider(
        &app,
        &idp,
        "wide",
        json!({"refresh_margin_seconds": 3600}),
        true,
    )
    .await;
    provider(
        &app,
        &idp,
        "narrow",
        json!({"refresh_margin_seconds": 10}),
        true,
    )
    .await;
    provider(&app, &idp, "plain", json!({}), true).await;
    provider(&app, &idp, "sleepy", json!({}), true).await;
    let keyring = app.t.keyring().await;
    let a = TenantId::parse(&app.tenant("a").await).unwrap();
    let b = TenantId::parse(&app.tenant("b").await).unwrap();
    let minutes = TimeDelta::minutes;
    let mut expected = BTreeSet::new();
    for tenant in [a, b] {
        // Due: within their provider's margin (plus the 30-second interval).
        expected.extend(connections(&app.t, &keyring, tenant, "wide", 2, minutes(50)).await);
        expected.extend(connections(&app.t, &keyring, tenant, "plain", 2, minutes(4)).await);
        expected.extend(
            connections(
                &app.t,
                &keyring,
                tenant,
                "narrow",
                1,
                TimeDelta::seconds(20),
            )
            .await,
        );
        // Not due by their own provider's margin.
        connections(&app.t, &keyring, tenant, "narrow", 2, minutes(4)).await;
        connections(&app.t, &keyring, tenant, "plain", 2, minutes(50)).await;
        connections(&app.t, &keyring, tenant, "wide", 1, minutes(90)).await;
    }
    // Idle: not renewed for longer than the idle limit.
    let idle = connections(&app.t, &keyring, a, "sleepy", 1, minutes(600)).await[0];
    app.t
        .exec("UPDATE connections SET last_refreshed_at = '2020-01-01T00:00:00+00:00' WHERE provider_slug = 'sleepy'")
        .await
        .unwrap();
    expected.insert(idle);
    // Leased, backed off, or not active: never selected.
    let skipped = connections(&app.t, &keyring, b, "plain", 3, minutes(1)).await;
    let later = Utc::now() + TimeDelta::hours(1);
    let leased = refresh_leases::take(
        &app.t.db,
        b,
        skipped[0],
        uuid::Uuid::new_v4(),
        later,
        Due::Always,
    )
    .await
    .unwrap();
    assert!(matches!(leased, Lease::Taken(_)));
    let backed_off = refresh_leases::Failure {
        reason_code: "provider_unavailable".to_owned(),
        message: String::new(),
        reauth: false,
        retry_at: Some(later),
        failures: 1,
    };
    assert!(
        refresh_leases::defer(&app.t.db, b, skipped[1], backed_off)
            .await
            .unwrap()
    );
    let patch = connvault::repositories::connections::DetailsPatch {
        status: Some(ConnectionStatus::NeedsReauth),
        ..Default::default()
    };
    connvault::repositories::connections::update_details(&app.t.db, b, skipped[2], patch)
        .await
        .unwrap();
    let now = Utc::now();
    let query = |limit| DueQuery {
        now,
        margin: minutes(5),
        ahead: TimeDelta::seconds(30),
        idle_before: now - TimeDelta::days(14),
        limit,
    };
    let due = refresh_leases::due(&app.t.db, query(1000)).await.unwrap();
    let got: BTreeSet<ConnectionId> = due.iter().map(|(_, c)| *c).collect();
    assert_eq!(got.len(), due.len(), "no connection twice");
    assert_eq!(got, expected);
    for (tenant, connection) in &due {
        let row = connvault::repositories::connections::get_by_id(&app.t.db, *tenant, *connection)
            .await
            .unwrap();
        assert!(row.is_some(), "each id comes with its own tenant");
    }
    // The limit holds.
    let two = refresh_leases::due(&app.t.db, query(2)).await.unwrap();
    assert_eq!(two.len(), 2);
}

on_both_backends!(
    a_background_pass_selects_only_what_it_renews_and_ends,
    a_failure_is_recorded_only_by_the_attempt_that_holds_the_lease,
    both_backends_select_the_same_due_connections,
);
