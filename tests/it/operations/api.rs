//! Starting runs through the API: every reason code of the gate, the connection's
//! resolution, dedupe under concurrent starts, cancel, filters and pages, and that bad
//! input writes nothing.

use axum::http::StatusCode;
use connvault::models::connection::{ConnectionStatus, HealthStatus};
use connvault::models::{ConnectionId, TenantId};
use connvault::repositories::connections::{self, TokenStatusPatch};
use serde_json::{Value, json};

use crate::support::TestDb;
use crate::support::api::TestApp;

pub struct Setup {
    pub app: TestApp,
    pub tenant: String,
    pub admin: String,
    pub service: String,
}

pub async fn setup(t: TestDb) -> Setup {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    for (name, scopes, dedupe) in [
        ("billing.sync", json!([]), true),
        ("billing.export", json!(["read_write"]), false),
        ("chat.post", json!([]), true),
    ] {
        let provider = if name.starts_with("chat") {
            "slack"
        } else {
            "stripe"
        };
        let r = app
            .call(
                axum::http::Method::PUT,
                &format!("/v1/operation-types/{name}"),
                Some(&app.operator),
                Some(json!({"provider": provider, "required_scopes": scopes, "module": "billing", "dedupe": dedupe})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    }
    Setup {
        app,
        tenant,
        admin,
        service,
    }
}

impl Setup {
    /// A Stripe connection made through the API; with `key` it is active.
    pub async fn stripe(&self, external_id: &str, key: bool, scopes: &[&str]) -> String {
        let mut body = json!({
            "provider": "stripe",
            "external_id": external_id,
            "scopes_granted": scopes,
        });
        if key {
            body["credential"] = json!({"kind": "api_key", "api_key": format!("sk_live_ops_{external_id}_9f8e7d6c")});
        }
        let r = self
            .app
            .post(
                &format!("/v1/tenants/{}/connections", self.tenant),
                &self.admin,
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.json["id"].as_str().unwrap().to_owned()
    }

    pub async fn start(&self, body: Value) -> crate::support::api::Response {
        self.app
            .post(
                &format!("/v1/tenants/{}/operations", self.tenant),
                &self.service,
                body,
            )
            .await
    }

    async fn patch(&self, connection: &str, patch: TokenStatusPatch) {
        let tenant = TenantId::parse(&self.tenant).unwrap();
        let id = ConnectionId::parse(connection).unwrap();
        connections::update_tokens_status(&self.app.t.db, tenant, id, patch)
            .await
            .unwrap();
    }

    pub async fn count_runs(&self) -> i64 {
        self.app.t.count("operation_runs").await
    }
}

fn blocked(r: &crate::support::api::Response, reason: &str) {
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["status"], "completed", "{}", r.json);
    assert_eq!(r.json["outcome"], "blocked", "{}", r.json);
    assert_eq!(r.json["reason_code"], reason, "{}", r.json);
    assert!(r.json["completed_at"].is_string());
    let steps = r.json["next_steps"].as_array().unwrap();
    assert!(!steps.is_empty(), "{}", r.json);
    for step in steps {
        let url = step["url"].as_str().unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:8080/console/tenants/"),
            "{url}"
        );
        assert!(!url.contains("sk_live_") && !url.contains("cv_"), "{url}");
        assert_eq!(step.as_object().unwrap().len(), 2, "links only: {step}");
    }
}

async fn every_reason_code_of_the_gate_blocks_a_run_with_its_next_steps(t: TestDb) {
    let s = setup(t).await;
    let sync = json!({"type": "billing.sync"});

    blocked(&s.start(sync.clone()).await, "no_connection");

    // One pending connection: it is the one, and it waits for consent.
    let pending = s.stripe("acct_pending", false, &[]).await;
    blocked(&s.start(sync.clone()).await, "connection_needs_consent");

    let status = |status| TokenStatusPatch {
        status: Some(status),
        ..Default::default()
    };
    s.patch(&pending, status(ConnectionStatus::Active)).await;
    blocked(&s.start(sync.clone()).await, "credential_missing");

    s.patch(&pending, status(ConnectionStatus::NeedsReauth))
        .await;
    blocked(&s.start(sync.clone()).await, "connection_needs_reauth");

    s.patch(&pending, status(ConnectionStatus::Error)).await;
    blocked(&s.start(sync.clone()).await, "connection_unhealthy");

    // Make it active with a key, then unhealthy by its health.
    let r = s
        .app
        .call(
            axum::http::Method::PUT,
            &format!("/v1/tenants/{}/connections/{pending}/credentials", s.tenant),
            Some(&s.admin),
            Some(json!({"kind": "api_key", "api_key": "sk_live_ops_replaced_0a1b2c3d"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.json);
    s.patch(&pending, status(ConnectionStatus::Active)).await;
    let queued = s.start(json!({"type": "billing.sync"})).await;
    assert_eq!(queued.status, StatusCode::CREATED, "{}", queued.json);
    assert_eq!(queued.json["status"], "queued");
    assert_eq!(queued.json["connection_id"], pending.as_str());
    s.patch(
        &pending,
        TokenStatusPatch {
            health_status: Some(HealthStatus::Unhealthy),
            ..Default::default()
        },
    )
    .await;
    blocked(
        &s.start(json!({"type": "billing.sync", "target_scope": {"x": 1}}))
            .await,
        "connection_unhealthy",
    );

    // Scopes: the connection lists some, and lacks the one the type requires.
    s.patch(
        &pending,
        TokenStatusPatch {
            health_status: Some(HealthStatus::Healthy),
            scopes_granted: Some(vec!["read_only".into()]),
            ..Default::default()
        },
    )
    .await;
    let r = s.start(json!({"type": "billing.export"})).await;
    blocked(&r, "missing_scopes");
    assert_eq!(
        r.json["failure_summary"]["missing_scopes"],
        json!(["read_write"])
    );

    // Revoked.
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connections/{pending}/disconnect", s.tenant),
            &s.admin,
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.json);
    blocked(&s.start(sync.clone()).await, "connection_revoked");

    // Several connections and none the default.
    let tenant = TenantId::parse(&s.tenant).unwrap();
    let second = s.stripe("acct_second", true, &[]).await;
    let third = s.stripe("acct_third", true, &[]).await;
    let _ = (second, third);
    // The first live connection became the default; clear it to reach the case.
    s.app
        .t
        .exec("UPDATE connections SET is_default = false WHERE provider_slug = 'stripe'")
        .await
        .unwrap();
    let defaults = connections::defaults(&s.app.t.db, tenant).await.unwrap();
    assert!(defaults.is_empty());
    let r = s.start(sync.clone()).await;
    blocked(&r, "no_default_connection");
    assert!(
        r.json["next_steps"][0]["url"]
            .as_str()
            .unwrap()
            .contains("/integrations?provider=stripe")
    );

    // Every blocked run is in the activity log.
    let r = s
        .app
        .get(
            &format!(
                "/v1/tenants/{}/activity?action=operation_blocked&limit=200",
                s.tenant
            ),
            &s.admin,
        )
        .await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 9, "{}", r.json);
}

async fn the_default_connection_is_resolved_and_a_named_one_must_be_the_tenants_and_providers(
    t: TestDb,
) {
    let s = setup(t).await;
    let first = s.stripe("acct_first", true, &[]).await;
    let second = s.stripe("acct_second", true, &[]).await;
    // The first connection of a provider is its default.
    let r = s.start(json!({"type": "billing.sync"})).await;
    assert_eq!(r.json["connection_id"], first.as_str(), "{}", r.json);
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connections/{second}/default", s.tenant),
            &s.admin,
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.json);
    let r = s.start(json!({"type": "billing.sync"})).await;
    assert_eq!(r.json["connection_id"], second.as_str(), "{}", r.json);
    assert_eq!(r.json["context"]["connection_id"], second.as_str());
    // Named: the one asked for, not the default.
    let r = s
        .start(json!({"type": "billing.sync", "connection_id": first, "target_scope": {"n": 1}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["connection_id"], first.as_str());

    let before = s.count_runs().await;
    // A Stripe connection for a Slack operation.
    let r = s
        .start(json!({"type": "chat.post", "connection_id": first}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json);
    assert_eq!(r.json["field"], "connection_id");
    // Another tenant's connection is not found.
    let other = s.app.tenant("Globex").await;
    let other_admin = s.app.key(&other, "admin").await;
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{other}/connections"),
            &other_admin,
            json!({"provider": "stripe", "external_id": "acct_globex",
                   "credential": {"kind": "api_key", "api_key": "sk_live_ops_globex_77aa88bb"}}),
        )
        .await;
    let foreign = r.json["id"].as_str().unwrap().to_owned();
    let r = s
        .start(json!({"type": "billing.sync", "connection_id": foreign}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.json);
    // Unknown type, and malformed input: nothing written.
    let r = s.start(json!({"type": "no.such"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json["code"], "unknown_operation_type");
    for bad in [
        json!({"type": "billing.sync", "target_scope": [1]}),
        json!({"type": "billing.sync", "params": "x"}),
        json!({"type": "billing.sync", "params": {"big": "x".repeat(20_000)}}),
        json!({"type": "billing.sync", "extra": 1}),
        json!({"type": "BILLING"}),
    ] {
        let r = s.start(bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.json
        );
    }
    assert_eq!(s.count_runs().await, before);
}

async fn twenty_concurrent_identical_starts_make_one_run(t: TestDb) {
    let s = setup(t).await;
    s.stripe("acct_dedupe", true, &[]).await;
    let body = json!({"type": "billing.sync", "target_scope": {"account": "a"}});
    let starts = (0..20).map(|_| s.start(body.clone()));
    let answers = futures::future::join_all(starts).await;
    let created = answers
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let reused = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!((created, reused), (1, 19));
    let ids: std::collections::HashSet<&str> = answers
        .iter()
        .map(|r| r.json["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(s.count_runs().await, 1);
    // A type without dedupe makes a run per start.
    let r1 = s.start(json!({"type": "billing.export"})).await;
    let r2 = s.start(json!({"type": "billing.export"})).await;
    assert_ne!(r1.json["id"], r2.json["id"]);
    // Once cancelled, an identical start makes a new run.
    let id = ids.into_iter().next().unwrap().to_owned();
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/operations/{id}/cancel", s.tenant),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = s.start(body).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_ne!(r.json["id"], id.as_str());
}

async fn cancel_completes_a_queued_run_once(t: TestDb) {
    let s = setup(t).await;
    s.stripe("acct_cancel", true, &[]).await;
    let run = s.start(json!({"type": "billing.sync"})).await;
    let id = run.json["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/tenants/{}/operations/{id}/cancel", s.tenant);
    let r = s.app.post(&path, &s.service, json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s.app.post(&path, &s.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "completed");
    assert_eq!(r.json["outcome"], "cancelled");
    let r = s.app.post(&path, &s.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json["code"], "operation_finished");
    let r = s
        .app
        .post(
            &format!(
                "/v1/tenants/{}/operations/{}/cancel",
                s.tenant,
                uuid::Uuid::new_v4()
            ),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s
        .app
        .get(
            &format!(
                "/v1/tenants/{}/activity?action=operation_cancelled",
                s.tenant
            ),
            &s.admin,
        )
        .await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1, "{}", r.json);
    let r = s
        .app
        .get(
            &format!("/v1/tenants/{}/operations/{id}", s.tenant),
            &s.service,
        )
        .await;
    assert_eq!(r.json["outcome"], "cancelled");
}

async fn runs_are_listed_newest_first_with_filters_and_keyset_pages(t: TestDb) {
    let s = setup(t).await;
    let conn = s.stripe("acct_list", true, &[]).await;
    for i in 0..5 {
        let r = s
            .start(json!({"type": "billing.sync", "target_scope": {"i": i}}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    for _ in 0..2 {
        s.start(json!({"type": "chat.post"})).await;
    }
    let base = format!("/v1/tenants/{}/operations", s.tenant);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}?limit=3&cursor={c}"),
            None => format!("{base}?limit=3"),
        };
        let r = s.app.get(&path, &s.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        for item in r.json["items"].as_array().unwrap() {
            seen.push(
                item["created_at"].as_str().unwrap().to_owned() + item["id"].as_str().unwrap(),
            );
        }
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first");

    let count = |q: String| {
        let app = &s.app;
        let admin = &s.admin;
        let base = base.clone();
        async move {
            let r = app.get(&format!("{base}?{q}"), admin).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.json);
            r.json["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("type=billing.sync".into()).await, 5);
    assert_eq!(count("status=queued".into()).await, 5);
    assert_eq!(count("status=completed".into()).await, 2);
    assert_eq!(count("outcome=blocked".into()).await, 2);
    assert_eq!(count(format!("connection_id={conn}")).await, 5);
    assert_eq!(count("outcome=blocked&type=billing.sync".into()).await, 0);
    let r = s.app.get(&format!("{base}?status=nope"), &s.admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = s.app.get(&format!("{base}?limit=0"), &s.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

crate::on_both_backends!(
    every_reason_code_of_the_gate_blocks_a_run_with_its_next_steps,
    the_default_connection_is_resolved_and_a_named_one_must_be_the_tenants_and_providers,
    twenty_concurrent_identical_starts_make_one_run,
    cancel_completes_a_queued_run_once,
    runs_are_listed_newest_first_with_filters_and_keyset_pages,
);
