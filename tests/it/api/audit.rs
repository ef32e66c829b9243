//! Every change leaves a trace: descriptive updates and API-key changes in the tenant's
//! activity log; credential reads, which write nothing, as an audit line and a count
//! per key.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use super::{API_KEY_SECRET, stripe};
use crate::support::TestDb;
use crate::support::api::TestApp;
use crate::support::logs::Capture;

async fn actions(app: &TestApp, tenant: &str, admin: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/tenants/{tenant}/activity"), admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let mut items = r.json["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

async fn updates_and_key_changes_are_recorded(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let base = format!("/v1/tenants/{tenant}/connections");
    let r = app
        .post(&base, &admin, stripe("acct", API_KEY_SECRET))
        .await;
    let conn = format!("{base}/{}", r.json["id"].as_str().unwrap());
    let patch = |body: Value| app.call(Method::PATCH, &conn, Some(&admin), Some(body));
    assert_eq!(
        patch(json!({"display_name": "Billing"})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        patch(json!({"metadata": {"team": "x"}})).await.status,
        StatusCode::OK
    );
    // The same values again change nothing and record nothing.
    assert_eq!(
        patch(json!({"display_name": "Billing"})).await.status,
        StatusCode::OK
    );

    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/api-keys"),
            &admin,
            json!({"name": "backend", "role": "service"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let key_id = r.json["id"].as_str().unwrap().to_owned();
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{tenant}/api-keys/{key_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    let log = actions(&app, &tenant, &admin).await;
    // The first two keys were made by the operator before: they are recorded too.
    let names: Vec<&str> = log.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "api_key_created",
            "connected",
            "updated",
            "updated",
            "api_key_created",
            "api_key_revoked"
        ]
    );
    assert_eq!(log[2]["details"]["fields"], json!(["display_name"]));
    assert_eq!(log[3]["details"]["fields"], json!(["metadata"]));
    assert_eq!(log[4]["details"]["key_id"], key_id.as_str());
    assert_eq!(log[4]["details"]["role"], "service");
    assert_eq!(log[5]["details"]["key_id"], key_id.as_str());
    assert_eq!(log[5]["details"]["role"], "service");
    assert!(log[4]["actor_key_id"].is_string(), "the admin's key did it");
    assert!(!serde_json::to_string(&log).unwrap().contains(&secret));
    assert!(!serde_json::to_string(&log).unwrap().contains(&admin));
}

async fn credential_reads_are_audited_and_counted_per_key_without_a_write(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/api-keys"),
            &admin,
            json!({"name": "backend", "role": "service"}),
        )
        .await;
    let service_id = r.json["id"].as_str().unwrap().to_owned();
    let service = r.json["secret"].as_str().unwrap().to_owned();
    let base = format!("/v1/tenants/{tenant}/connections");
    let r = app
        .post(&base, &admin, stripe("acct", API_KEY_SECRET))
        .await;
    let connection = r.json["id"].as_str().unwrap().to_owned();
    let path = format!("{base}/{connection}/credentials");
    let entries_before = actions(&app, &tenant, &admin).await.len();

    let capture = Capture::start();
    let request_id = format!("audit-{}", uuid::Uuid::new_v4().simple());
    let read = |key: &str| {
        Request::builder()
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header("x-request-id", &request_id)
            .body(Body::empty())
            .unwrap()
    };
    let label = format!("GET {path}");
    let r = app.send(read(&service), &label).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.headers["cache-control"], "no-store");
    let r = app.send(read(&admin), &label).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let lines: Vec<Value> = capture
        .text()
        .lines()
        .filter(|l| l.contains(&request_id) && l.contains("connvault::audit"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one audit line per read");
    for line in &lines {
        assert_eq!(line["fields"]["event"], "credential_read");
        assert_eq!(line["fields"]["tenant_id"], tenant.as_str());
        assert_eq!(line["fields"]["connection_id"], connection.as_str());
        assert!(line["timestamp"].is_string());
    }
    assert_eq!(lines[0]["fields"]["key_id"], service_id.as_str());
    assert_eq!(lines[0]["fields"]["result"], "ok");
    assert_eq!(lines[1]["fields"]["result"], "forbidden");
    assert!(!capture.text().contains(API_KEY_SECRET));

    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    let text = app.bodies.lock().unwrap().last().unwrap().1.clone();
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        text.contains(&format!(
            "connvault_credential_reads_total{{key_id=\"{service_id}\",result=\"ok\"}} 1"
        )),
        "{text}"
    );
    // The reads wrote nothing.
    assert_eq!(actions(&app, &tenant, &admin).await.len(), entries_before);
}

crate::on_both_backends!(
    updates_and_key_changes_are_recorded,
    credential_reads_are_audited_and_counted_per_key_without_a_write,
);
