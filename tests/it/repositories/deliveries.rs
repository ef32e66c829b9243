//! `POST /webhooks/{id}` end to end: deliveries signed by the services' own signers are
//! verified, stored once and listed; every refusal answers the same bytes and stores
//! nothing; failures degrade health (rate-limited), success restores it; concurrent
//! copies store one event; events are per tenant and purged after the retention.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::{deliver, events, github_repo, repositories, token, upsert};
use crate::support::TestDb;
use crate::support::api::TestApp;
use crate::webhooks::{payload, secret, sign, sign_one, tampered};

fn last_body(app: &TestApp) -> String {
    app.bodies.lock().unwrap().last().unwrap().1.clone()
}

async fn activity(app: &TestApp, tenant: &str, action: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/v1/tenants/{tenant}/activity?action={action}"),
            &app.operator,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

async fn repository(app: &TestApp, tenant: &str) -> Value {
    let r = app.get(&repositories(tenant), &app.operator).await;
    r.json["items"][0].clone()
}

async fn signed_deliveries_of_each_service_are_stored_once(t: TestDb) {
    let app = TestApp::new(t).await;
    let gh_secret = "whsec_Z2l0aHViLWRlbGl2ZXJ5LXRlc3Qtc2VjcmV0LTAxMjM0NTY3";
    secret(gh_secret);
    let (tenant, admin, gh) = github_repo(&app, gh_secret, "hello").await;
    let gl_secret = "whsec_Z2l0bGFiLXNpZ25pbmctdG9rZW4tdGVzdC0wMTIzNDU2Nzg5YWJj";
    let bb_secret = "whsec_Yml0YnVja2V0LWRlbGl2ZXJ5LXRlc3Qtc2VjcmV0LTAxMjM0NTY3";
    secret(gl_secret);
    secret(bb_secret);
    let mut ids = vec![];
    for (url, s) in [
        ("https://gitlab.com/group/sub/project", gl_secret),
        ("https://bitbucket.org/ws/repo", bb_secret),
    ] {
        let r = upsert(
            &app,
            &tenant,
            &admin,
            json!({ "repository_url": url, "access_token": token("svc"), "webhook_secret": s }),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        ids.push(r.json["id"].as_str().unwrap().to_owned());
    }
    let (gl, bb) = (ids[0].clone(), ids[1].clone());
    let now = Utc::now().timestamp();
    let signed = sign(json!([
        { "kind": "github-examples", "secret": gh_secret },
        { "kind": "gitlab-token", "secret": gl_secret, "body": payload("gitlab-push.json"), "event": "Push Hook", "idempotency_key": "f1b0c0de-0000-4000-8000-000000000001" },
        { "kind": "gitlab-signing", "secrets": [gl_secret], "body": payload("gitlab-push.json"), "event": "Push Hook", "id": "msg_2p7nA9q1", "timestamp": now },
        { "kind": "bitbucket", "secret": bb_secret, "body": payload("bitbucket-repo-push.json"), "event": "repo:push", "request_uuid": "8f1c2d3e-4b5a-4c6d-9e8f-0a1b2c3d4e5f" },
    ]));
    // Real GitHub payloads, one per event type, the ping among them.
    let mut seen = std::collections::BTreeSet::new();
    let github: Vec<_> = signed[0]
        .iter()
        .filter(|d| seen.insert(d.event.clone()))
        .enumerate()
        .filter(|(i, d)| *i < 11 || d.event == "ping")
        .map(|(_, d)| d.clone())
        .collect();
    assert!(
        github.iter().any(|d| d.event == "ping"),
        "the examples hold a ping"
    );
    for d in &github {
        let r = deliver(&app, &gh, d).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", d.event, r.json);
        assert_eq!(r.json["duplicate"], false, "{}", r.json);
        assert!(r.json["event_id"].is_string(), "{}", r.json);
    }
    for (id, d) in [
        (&gl, &signed[1][0]),
        (&gl, &signed[2][0]),
        (&bb, &signed[3][0]),
    ] {
        let r = deliver(&app, id, d).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", d.event, r.json);
        assert_eq!(r.json["duplicate"], false, "{}", r.json);
    }
    // Each again: a duplicate, nothing new.
    for (id, d) in github
        .iter()
        .map(|d| (&gh, d))
        .chain([(&gl, &signed[1][0]), (&bb, &signed[3][0])])
    {
        let r = deliver(&app, id, d).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(r.json, json!({ "duplicate": true }));
    }
    let all = events(&app, &tenant, "").await;
    assert_eq!(all.len(), github.len() + 3);
    let gh_events = events(&app, &tenant, &format!("&connection_id={gh}")).await;
    assert_eq!(gh_events.len(), github.len());
    let pushes = events(&app, &tenant, "&event=Push%20Hook").await;
    assert_eq!(pushes.len(), 2);
    let stored_push = &pushes[0];
    assert_eq!(stored_push["headers"]["x-gitlab-event"], "Push Hook");
    assert!(stored_push["headers"].get("x-gitlab-token").is_none());
    assert_eq!(
        stored_push["payload"],
        serde_json::from_str::<Value>(&payload("gitlab-push.json")).unwrap()
    );
    let bb_event = &events(&app, &tenant, &format!("&connection_id={bb}")).await[0];
    assert_eq!(
        bb_event["delivery_id"],
        "8f1c2d3e-4b5a-4c6d-9e8f-0a1b2c3d4e5f"
    );
    assert_eq!(bb_event["event_type"], "repo:push");
    // The ping named the hook; the connection synced and is healthy.
    let ping = github.iter().find(|d| d.event == "ping").unwrap();
    let hook_id = serde_json::from_slice::<Value>(&ping.body).unwrap()["hook_id"].to_string();
    let list = app.get(&repositories(&tenant), &admin).await;
    let gh_view = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == gh.as_str())
        .unwrap()
        .clone();
    assert_eq!(gh_view["webhook_id"], hook_id.as_str(), "{gh_view}");
    assert!(gh_view["last_sync_at"].is_string(), "{gh_view}");
    assert_eq!(gh_view["health_status"], "healthy", "{gh_view}");
    // Health went to healthy once per connection, and deliveries are not activity.
    assert_eq!(activity(&app, &tenant, "health_changed").await.len(), 3);
}

async fn refusals_answer_alike_store_nothing_and_degrade_health_once(t: TestDb) {
    let app = TestApp::new(t).await;
    let good = "whsec_cmVmdXNhbC10ZXN0LWdvb2Qtc2VjcmV0LTAxMjM0NTY3ODlhYmNk";
    let wrong = "whsec_cmVmdXNhbC10ZXN0LXdyb25nLXNlY3JldC0wMTIzNDU2Nzg5YWJj";
    secret(good);
    secret(wrong);
    let (tenant, admin, id) = github_repo(&app, good, "refusals").await;
    let body = r#"{"ref":"refs/heads/main","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","repository":{"id":1296269}}"#;
    let signed = sign(json!([
        { "kind": "github", "secret": good, "body": body, "event": "push", "delivery": "d-1" },
        { "kind": "github", "secret": wrong, "body": body, "event": "push", "delivery": "d-2" },
    ]));
    let ok = signed[0][0].clone();
    let forged = signed[1][0].clone();

    // The answer to a probe of a connection that does not exist.
    let unknown = deliver(&app, &uuid::Uuid::new_v4().to_string(), &ok).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED, "{}", unknown.json);
    assert_eq!(unknown.content_type, "application/problem+json");
    assert_eq!(unknown.json["code"], "webhook_unauthorized");
    let expected = last_body(&app);
    let not_an_id = deliver(&app, "not-a-uuid", &ok).await;
    assert_eq!(not_an_id.status, StatusCode::UNAUTHORIZED);
    assert_eq!(last_body(&app), expected);

    // A connection that is not a repository connection.
    let stripe = app
        .post(
            &format!("/v1/tenants/{tenant}/connections"),
            &admin,
            json!({ "provider": "stripe", "external_id": "acct_1", "credential": { "kind": "api_key", "api_key": "sk_live_repo_test_0000000001" } }),
        )
        .await;
    assert_eq!(stripe.status, StatusCode::CREATED, "{}", stripe.json);
    let r = deliver(&app, stripe.json["id"].as_str().unwrap(), &ok).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(last_body(&app), expected, "non-repository connection");

    let refusals = [
        ("tampered body", ok.with_body(&tampered(&ok.body))),
        ("wrong secret", forged.clone()),
        ("no signature", ok.without("x-hub-signature-256")),
        ("no delivery id", ok.without("x-github-delivery")),
        (
            "malformed signature",
            ok.with("x-hub-signature-256", "sha1=00"),
        ),
    ];
    for (what, d) in &refusals {
        let r = deliver(&app, &id, d).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.json);
        assert_eq!(last_body(&app), expected, "{what} answers like a probe");
        assert_eq!(r.content_type, unknown.content_type);
    }
    // Five failures degraded the connection, once; more failures write nothing more.
    let view = repository(&app, &tenant).await;
    assert_eq!(view["health_status"], "degraded", "{view}");
    let conn = app
        .get(&format!("/v1/tenants/{tenant}/connections/{id}"), &admin)
        .await;
    assert_eq!(
        conn.json["last_error"]["reason_code"],
        "webhook_signature_invalid"
    );
    for _ in 0..15 {
        let r = deliver(&app, &id, &forged).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(activity(&app, &tenant, "health_changed").await.len(), 1);
    assert!(events(&app, &tenant, "").await.is_empty(), "nothing stored");

    // Too large: 413 before anything is read further.
    let big = ok.with_body(&vec![b' '; 5 * 1024 * 1024 + 1]);
    let r = deliver(&app, &id, &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.json);
    assert_eq!(r.json["code"], "payload_too_large");

    // Verified but not JSON: 400, nothing stored.
    let text = sign_one(
        json!({ "kind": "github", "secret": good, "body": "not json", "event": "push", "delivery": "d-3" }),
    );
    let r = deliver(&app, &id, &text).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    assert_eq!(r.json["code"], "invalid_webhook_payload");
    assert!(events(&app, &tenant, "").await.is_empty());

    // A verified delivery restores health.
    let r = deliver(&app, &id, &ok).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(repository(&app, &tenant).await["health_status"], "healthy");
    assert_eq!(activity(&app, &tenant, "health_changed").await.len(), 2);
    // Past the API's 64 KiB body limit, within the webhook limit: accepted.
    let large = format!("{{\"padding\":\"{}\"}}", "x".repeat(200 * 1024));
    let large = sign_one(
        json!({ "kind": "github", "secret": good, "body": large, "event": "push", "delivery": "d-large" }),
    );
    let r = deliver(&app, &id, &large).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);

    // Disconnected: 410, nothing stored.
    let d = app
        .post(
            &format!("/v1/tenants/{tenant}/connections/{id}/disconnect"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.json);
    let again = sign_one(
        json!({ "kind": "github", "secret": good, "body": body, "event": "push", "delivery": "d-4" }),
    );
    let r = deliver(&app, &id, &again).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.json);
    assert_eq!(r.json["code"], "connection_disconnected");
    assert_eq!(events(&app, &tenant, "").await.len(), 2);

    // `/metrics` counts every delivery by outcome.
    app.call(Method::GET, "/metrics", None, None).await;
    let metrics = last_body(&app);
    for (outcome, n) in [
        ("refused_no_active_repository_connection", 3),
        ("refused_signature_mismatch", 17),
        ("refused_missing_signature", 1),
        ("refused_malformed_signature", 1),
        ("too_large", 1),
        ("not_json", 1),
        ("stored", 2),
        ("gone", 1),
    ] {
        let line = format!("connvault_webhook_deliveries_total{{outcome=\"{outcome}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

async fn gitlab_signing_refuses_stale_timestamps(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Repos").await;
    let admin = app.key(&tenant, "admin").await;
    let key = "whsec_c3RhbGUtdGltZXN0YW1wLXRlc3Qtc2VjcmV0LTAxMjM0NTY3ODk=";
    secret(key);
    let r = upsert(
        &app,
        &tenant,
        &admin,
        json!({ "repository_url": "https://gitlab.com/group/project", "access_token": token("gl"), "webhook_secret": key }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let stale = (Utc::now() - Duration::minutes(10)).timestamp();
    let d = sign_one(
        json!({ "kind": "gitlab-signing", "secrets": [key], "body": payload("gitlab-push.json"), "event": "Push Hook", "id": "msg_stale", "timestamp": stale }),
    );
    let r = deliver(&app, &id, &d).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.json);
    assert_eq!(r.json["code"], "webhook_unauthorized");
    let fresh = sign_one(
        json!({ "kind": "gitlab-signing", "secrets": [key], "body": payload("gitlab-push.json"), "event": "Push Hook", "id": "msg_fresh", "timestamp": Utc::now().timestamp() }),
    );
    let r = deliver(&app, &id, &fresh).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let stored = events(&app, &tenant, "").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["delivery_id"], "msg_fresh");
}

async fn twenty_concurrent_copies_store_one_event(t: TestDb) {
    let app = TestApp::new(t).await;
    let key = "whsec_Y29uY3VycmVudC1jb3BpZXMtdGVzdC1zZWNyZXQtMDEyMzQ1Njc=";
    secret(key);
    let (tenant, _, id) = github_repo(&app, key, "concurrent").await;
    let d = sign_one(
        json!({ "kind": "github", "secret": key, "body": "{\"zen\":\"Keep it logically awesome.\",\"hook_id\":1}", "event": "push", "delivery": "same-delivery" }),
    );
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app_router = app.app.clone();
        let d = d.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let mut request = Request::builder()
                .method(Method::POST)
                .uri(format!("/webhooks/{id}"));
            for (name, value) in &d.headers {
                request = request.header(name, value);
            }
            let response = app_router
                .oneshot(request.body(Body::from(d.body.clone())).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }));
    }
    let mut stored = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["duplicate"] == false {
            stored += 1;
        }
    }
    assert_eq!(stored, 1, "exactly one copy stored");
    assert_eq!(events(&app, &tenant, "").await.len(), 1);
}

async fn events_are_read_per_tenant_and_purged_after_retention(t: TestDb) {
    let app = TestApp::new(t).await;
    let key = "whsec_ZXZlbnRzLXBlci10ZW5hbnQtdGVzdC1zZWNyZXQtMDEyMzQ1Njc=";
    secret(key);
    let (tenant, _, id) = github_repo(&app, key, "events").await;
    let other = app.tenant("Other").await;
    let d = sign_one(
        json!({ "kind": "github", "secret": key, "body": "{\"action\":\"opened\"}", "event": "issues", "delivery": "e-1" }),
    );
    assert_eq!(deliver(&app, &id, &d).await.status, StatusCode::OK);
    for role in ["admin", "service", "viewer"] {
        let own = app.key(&tenant, role).await;
        let r = app
            .get(&format!("/v1/tenants/{tenant}/webhook-events"), &own)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{role}: {}", r.json);
        assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
        let foreign = app.key(&other, role).await;
        let r = app
            .get(&format!("/v1/tenants/{tenant}/webhook-events"), &foreign)
            .await;
        assert!(
            matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{role}: {}",
            r.json
        );
        // Another tenant asking for this connection's events in its own tenant sees none.
        let r = app
            .get(
                &format!("/v1/tenants/{other}/webhook-events?connection_id={id}"),
                &foreign,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(r.json["items"], json!([]));
    }
    let r = app
        .call(
            Method::GET,
            &format!("/v1/tenants/{tenant}/webhook-events"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .get(
            &format!("/v1/tenants/{tenant}/webhook-events?cursor=nope"),
            &app.operator,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);

    // Retention: nothing younger than 30 days goes; older events do.
    let now = Utc::now();
    let purged = connvault::services::inbound::purge(&app.t.db, 30, now)
        .await
        .unwrap();
    assert_eq!(purged, 0);
    assert_eq!(events(&app, &tenant, "").await.len(), 1);
    let purged = connvault::services::inbound::purge(&app.t.db, 30, now + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert!(events(&app, &tenant, "").await.is_empty());
    // Purged, the delivery id may be stored again.
    let r = deliver(&app, &id, &d).await;
    assert_eq!(r.json["duplicate"], false, "{}", r.json);
}

crate::on_both_backends!(
    signed_deliveries_of_each_service_are_stored_once,
    refusals_answer_alike_store_nothing_and_degrade_health_once,
    gitlab_signing_refuses_stale_timestamps,
    twenty_concurrent_copies_store_one_event,
    events_are_read_per_tenant_and_purged_after_retention,
);
