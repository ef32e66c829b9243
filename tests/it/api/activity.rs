//! The activity log is written in the transaction of the change it records.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{API_KEY_SECRET, NEW_SECRET, stripe};
use crate::support::TestDb;
use crate::support::api::TestApp;

use crate::support::CONNECTION_ACTIVITY;

async fn an_activity_entry_commits_or_rolls_back_with_its_change(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connections"),
            &admin,
            stripe("acct", API_KEY_SECRET),
        )
        .await;
    let conn = format!(
        "/v1/tenants/{tenant}/connections/{}",
        r.json["id"].as_str().unwrap()
    );
    assert_eq!(app.t.count(CONNECTION_ACTIVITY).await, 1);

    // Make every activity insert fail: the change it would record must not happen. A
    // missing table is a database that cannot serve: 503, like an outage.
    app.t
        .exec("ALTER TABLE activity_log RENAME TO activity_log_away")
        .await
        .unwrap();
    let r = app
        .post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await;
    r.problem(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
    assert!(
        !r.json.to_string().contains("activity_log"),
        "the problem says nothing internal"
    );
    // Every other recorded change fails the same way and leaves nothing behind.
    let before = app.get(&conn, &admin).await.json;
    let attempts = [
        (
            Method::POST,
            format!("/v1/tenants/{tenant}/connections"),
            Some(stripe("acct_new", NEW_SECRET)),
        ),
        (
            Method::PATCH,
            conn.clone(),
            Some(json!({"status": "error", "display_name": "renamed"})),
        ),
        (
            Method::PUT,
            format!("{conn}/credentials"),
            Some(json!({"kind": "api_key", "api_key": NEW_SECRET})),
        ),
        (Method::DELETE, conn.clone(), None),
    ];
    for (method, path, body) in attempts {
        let r = app.call(method.clone(), &path, Some(&admin), body).await;
        r.problem(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
    }
    app.t
        .exec("ALTER TABLE activity_log_away RENAME TO activity_log")
        .await
        .unwrap();
    let r = app.get(&conn, &admin).await;
    assert_eq!(
        r.json, before,
        "no change landed without its activity entry"
    );
    assert_eq!(
        app.t.count("connections").await,
        1,
        "the create rolled back too"
    );
    let r = app
        .get(
            &format!("{conn}/credentials"),
            &app.key(&tenant, "service").await,
        )
        .await;
    assert_eq!(
        r.json["fields"]["api_key"], API_KEY_SECRET,
        "the credential was not replaced"
    );
    let r = app.get(&conn, &admin).await;
    assert_eq!(r.json["status"], "active", "the disconnect rolled back");
    assert_eq!(
        r.json["credential"]["kind"], "api_key",
        "the credential is still there"
    );
    assert_eq!(app.t.count(CONNECTION_ACTIVITY).await, 1);

    // And with the log in place both land together.
    app.post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await;
    assert_eq!(app.t.count(CONNECTION_ACTIVITY).await, 2);
}

crate::on_both_backends!(an_activity_entry_commits_or_rolls_back_with_its_change,);
