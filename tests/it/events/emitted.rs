//! Each change writes its event to the outbox in its own transaction: the events of a
//! connection's life, of operation runs and of a verified inbound delivery, with the
//! documented body; a change rolled back leaves no event.

use axum::http::{Method, StatusCode};
use connvault::models::TenantId;
use connvault::models::activity::Action;
use connvault::repositories::activity::Actor;
use connvault::repositories::events::all_of_tenant;
use connvault::services::operations::{self, Completion};
use connvault::tenancy::TenantTxn;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::repositories::{deliver, github_repo};
use crate::support::TestDb;
use crate::support::api::TestApp;
use crate::webhooks::{secret, sign_one};
use crate::workers::{SYNC, enqueue, public_url, register_type, stripe, worker};

async fn events_of(app: &TestApp, tenant: &str) -> Vec<Value> {
    let tenant = TenantId::parse(tenant).unwrap();
    all_of_tenant(&app.t.db, tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let body: Value = serde_json::from_str(&e.body).unwrap();
            assert_eq!(body["type"], e.event_type);
            body
        })
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn each_change_writes_its_event(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let conns = format!("/v1/tenants/{tenant}/connections");
    let api_key = format!("sk_test_events_{}", uuid::Uuid::new_v4().simple());
    crate::support::secrets::record(&api_key);
    let create = |external: &str| {
        json!({
            "provider": "stripe",
            "external_id": external,
            "credential": {"kind": "api_key", "api_key": api_key},
        })
    };
    let r = app.post(&conns, &admin, create("acct_1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let one = r.json["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::PATCH,
            &format!("{conns}/{one}"),
            Some(&admin),
            Some(json!({"status": "error"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = app
        .post(&format!("{conns}/{one}/disconnect"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = app.post(&conns, &admin, create("acct_2")).await;
    let two = r.json["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::DELETE,
            &format!("{conns}/{two}"),
            Some(&admin),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.json);

    let events = events_of(&app, &tenant).await;
    assert_eq!(
        types(&events),
        [
            "connection.created",
            "connection.status_changed",
            "connection.disconnected",
            "connection.created",
            "connection.deleted",
        ]
    );
    for e in &events {
        let id = e["id"].as_str().unwrap();
        assert!(id.starts_with("evt_") && id.len() == 36, "{e}");
        assert_eq!(e["tenant_id"], tenant.as_str());
        chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(e["data"]["provider"], "stripe");
    }
    assert_eq!(events[0]["data"]["connection_id"], one.as_str());
    assert_eq!(events[1]["data"]["from"], "active");
    assert_eq!(events[1]["data"]["to"], "error");
    assert_eq!(events[4]["data"]["connection_id"], two.as_str());
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&api_key), "no secret in an event");
    assert!(!text.contains("sk_test"), "not even a mask of one");
}

async fn runs_and_inbound_deliveries_write_their_events(t: TestDb) {
    let app = TestApp::new(t).await;
    let keyring = app.t.keyring().await;
    let tenant_id = app.tenant("Ops").await;
    let tenant = TenantId::parse(&tenant_id).unwrap();
    register_type(&app.t, SYNC, "stripe", 3, 30).await;
    // A run on a connection that cannot run is blocked at start.
    let gone = stripe(
        &app.t,
        &keyring,
        tenant,
        "acct_gone",
        "sk_test_gone_0123456789",
    )
    .await;
    connvault::services::connections::disconnect(
        &app.t.db,
        tenant,
        &Actor::system("t"),
        gone.connection_id(),
    )
    .await
    .unwrap();
    let request = operations::StartRequest {
        operation_type: SYNC.to_owned(),
        connection_id: Some(gone.id),
        target_scope: None,
        params: None,
    };
    let started = operations::start(
        &app.t.db,
        &public_url(),
        tenant,
        &Actor::system("backend"),
        request,
    )
    .await
    .unwrap();
    assert_eq!(
        started.run.outcome,
        connvault::models::operation_run::RunOutcome::Blocked
    );
    // A run that passes is claimed and completed by a worker.
    let conn = stripe(
        &app.t,
        &keyring,
        tenant,
        "acct_live",
        "sk_test_live_0123456789",
    )
    .await;
    let run = enqueue(&app.t, &conn, SYNC).await;
    let (w, _) = worker(&app.t, "events worker").await;
    let claimed = operations::claim(&app.t.db, &w, &[SYNC.to_owned()], 1, &public_url())
        .await
        .unwrap();
    crate::workers::record_tokens(&claimed);
    let token = claimed.runs[0].claim_token.expose_secret().to_owned();
    let completion: Completion = serde_json::from_value(json!({"outcome": "succeeded"})).unwrap();
    operations::complete(&app.t.db, &w, run, &token, &completion)
        .await
        .unwrap();
    let events = events_of(&app, &tenant_id).await;
    let ops: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("operation."))
        .collect();
    assert_eq!(ops.len(), 2, "{events:#?}");
    assert_eq!(ops[0]["type"], "operation.blocked");
    assert_eq!(ops[0]["data"]["run_id"], started.run.id.to_string());
    assert!(ops[0]["data"]["reason_code"].is_string());
    assert_eq!(ops[1]["type"], "operation.completed");
    assert_eq!(ops[1]["data"]["run_id"], run.to_string());
    assert_eq!(ops[1]["data"]["outcome"], "succeeded");

    // A verified inbound delivery is forwarded, and its health change reported.
    let s = "whsec_ZXZlbnRzLWZvcndhcmQtdGVzdC1zZWNyZXQtMDEyMzQ1Njc4";
    secret(s);
    let (repo_tenant, _, id) = github_repo(&app, s, "events").await;
    let body = json!({"zen": "Keep it logically awesome.", "hook_id": 42}).to_string();
    let d = sign_one(
        json!({"kind": "github", "secret": s, "body": body, "event": "ping", "delivery": "evt-fwd-1"}),
    );
    let r = deliver(&app, &id, &d).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    // The same delivery again is a duplicate: no second event.
    deliver(&app, &id, &d).await;
    let events = events_of(&app, &repo_tenant).await;
    assert_eq!(
        types(&events),
        [
            "connection.created",
            "repository.event",
            "connection.health_changed"
        ]
    );
    let forwarded = &events[1]["data"];
    assert_eq!(forwarded["connection_id"], id.as_str());
    assert_eq!(forwarded["provider"], "github");
    assert_eq!(forwarded["event_type"], "ping");
    assert_eq!(forwarded["delivery_id"], "evt-fwd-1");
    assert_eq!(forwarded["payload"]["hook_id"], 42);
    assert!(forwarded["webhook_event_id"].is_string());
    assert_eq!(events[2]["data"]["to"], "healthy");
    assert!(!serde_json::to_string(&events).unwrap().contains(s));
}

/// The outbox row is part of the change's transaction: rolled back together.
async fn a_rolled_back_change_leaves_no_event(t: TestDb) {
    let tenant = crate::support::tenant(&t).await;
    let keyring = t.keyring().await;
    let conn = stripe(
        &t,
        &keyring,
        tenant,
        "acct_rb",
        "sk_test_rollback_0123456789",
    )
    .await;
    let before = all_of_tenant(&t.db, tenant).await.unwrap().len();
    let txn = TenantTxn::begin_write(&t.db, tenant).await.unwrap();
    connvault::services::activity::record(
        &txn,
        &Actor::system("t"),
        &conn,
        Action::StatusChanged,
        json!({"from": "active", "to": "error"}),
    )
    .await
    .unwrap();
    drop(txn);
    assert_eq!(all_of_tenant(&t.db, tenant).await.unwrap().len(), before);
    assert_eq!(
        t.count("activity_log WHERE action = 'status_changed'")
            .await,
        0
    );
    // Committed, the same change has its event.
    let txn = TenantTxn::begin_write(&t.db, tenant).await.unwrap();
    connvault::services::activity::record(
        &txn,
        &Actor::system("t"),
        &conn,
        Action::StatusChanged,
        json!({"from": "active", "to": "error"}),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let events = all_of_tenant(&t.db, tenant).await.unwrap();
    assert_eq!(events.len(), before + 1);
    assert_eq!(
        events.last().unwrap().event_type,
        "connection.status_changed"
    );
}

on_both_backends!(
    each_change_writes_its_event,
    runs_and_inbound_deliveries_write_their_events,
    a_rolled_back_change_leaves_no_event,
);
