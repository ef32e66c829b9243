//! A connection through its whole life over the API: create, read, list, update,
//! replace the credential, make default, disconnect, delete; the lifecycle rules of
//! its status; and the credential read, which writes nothing.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{API_KEY_SECRET, NEW_SECRET, stripe};
use crate::support::TestDb;
use crate::support::api::TestApp;

async fn the_connection_lifecycle_works_end_to_end(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let viewer = app.key(&tenant, "viewer").await;
    let base = format!("/v1/tenants/{tenant}");

    // Create with a credential: active, default, masked.
    let r = app
        .post(
            &format!("{base}/connections"),
            &admin,
            stripe("acct_1", API_KEY_SECRET),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["is_default"], true);
    assert_eq!(r.json["credential"]["kind"], "api_key");
    assert_eq!(r.json["credential"]["masks"]["api_key"], "****p7dc");
    assert!(
        r.json["created_at"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC"
    );
    let conn = format!("{base}/connections/{id}");

    // Read it, list it, filter it.
    let r = app.get(&conn, &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["display_name"], "Stripe (EU)");
    let second = app
        .post(
            &format!("{base}/connections"),
            &admin,
            json!({"provider": "slack", "external_id": "T1"}),
        )
        .await;
    assert_eq!(second.json["status"], "pending");
    assert!(second.json["credential"].is_null());
    let r = app
        .get(&format!("{base}/connections?provider=stripe"), &viewer)
        .await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let r = app
        .get(&format!("{base}/connections?status=pending"), &viewer)
        .await;
    assert_eq!(r.json["items"][0]["provider"], "slack");
    let r = app
        .get(&format!("{base}/connections?health=healthy"), &viewer)
        .await;
    assert!(r.json["items"].as_array().unwrap().is_empty());
    let r = app
        .get(&format!("{base}/connections?limit=1"), &viewer)
        .await;
    let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(
            &format!("{base}/connections?limit=1&cursor={cursor}"),
            &viewer,
        )
        .await;
    assert_eq!(r.json["items"][0]["provider"], "slack");
    assert!(r.json["next_cursor"].is_null());

    // The credential read: service only, the one response with the secret.
    let r = app.get(&format!("{conn}/credentials"), &service).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["kind"], "api_key");
    assert_eq!(r.json["fields"]["api_key"], API_KEY_SECRET);

    // Update, replace the credential, make default, integrations.
    let r = app
        .call(
            Method::PATCH,
            &conn,
            Some(&admin),
            Some(json!({"display_name": null, "status": "error"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.json["display_name"].is_null());
    assert_eq!(r.json["status"], "error");
    let r = app
        .call(
            Method::PUT,
            &format!("{conn}/credentials"),
            Some(&admin),
            Some(json!({"kind": "api_key", "api_key": NEW_SECRET})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "active");
    let other = app
        .post(
            &format!("{base}/connections"),
            &admin,
            stripe("acct_2", "sk_live_other_account_000000"),
        )
        .await;
    let other_id = other.json["id"].as_str().unwrap().to_owned();
    assert_eq!(other.json["is_default"], false);
    let r = app
        .post(
            &format!("{base}/connections/{other_id}/default"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["is_default"], true);
    let r = app.get(&format!("{base}/integrations"), &viewer).await;
    assert_eq!(r.status, StatusCode::OK);
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), connvault::catalog::KNOWN_PROVIDERS.len());
    let stripe_row = items.iter().find(|i| i["provider"] == "stripe").unwrap();
    assert_eq!(stripe_row["connected"], true);
    assert_eq!(stripe_row["connection_count"], 2);
    assert_eq!(stripe_row["default_connection"]["id"], other_id.as_str());
    assert_eq!(
        stripe_row["default_connection"]["credential"]["masks"]["api_key"],
        "****0000"
    );
    let github_row = items.iter().find(|i| i["provider"] == "github").unwrap();
    assert_eq!(github_row["connected"], false);
    assert!(github_row["default_connection"].is_null());

    // Disconnect: credential destroyed, revoked, row kept.
    let r = app
        .post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "revoked");
    let r = app.get(&format!("{conn}/credentials"), &service).await;
    r.problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.get(&conn, &viewer).await.json["status"], "revoked");

    // Delete: gone, but its activity stays.
    let r = app.call(Method::DELETE, &conn, Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.get(&conn, &viewer)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    let r = app
        .get(&format!("{base}/activity?connection_id={id}"), &viewer)
        .await;
    let actions: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "deleted",
            "disconnected",
            "credentials_updated",
            "status_changed",
            "updated",
            "connected"
        ],
        "newest first"
    );
    let r = app
        .get(&format!("{base}/activity?action=default_changed"), &viewer)
        .await;
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["actor_name"], "admin key");
    assert!(items[0]["actor_key_id"].is_string());
    let r = app.get(&format!("{base}/activity?limit=2"), &viewer).await;
    let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
    let r2 = app
        .get(&format!("{base}/activity?limit=2&cursor={cursor}"), &viewer)
        .await;
    assert_ne!(r.json["items"][0]["id"], r2.json["items"][0]["id"]);

    assert_no_secret_outside_credential_reads(
        &app,
        &[API_KEY_SECRET, NEW_SECRET, "sk_live_other_account_000000"],
    );
}

/// Every response body except the credential reads is free of the secrets written.
fn assert_no_secret_outside_credential_reads(app: &TestApp, secrets: &[&str]) {
    let bodies = app.bodies.lock().unwrap();
    assert!(bodies.len() > 10);
    for (label, body) in bodies.iter() {
        if label.starts_with("GET ") && label.ends_with("/credentials") {
            continue;
        }
        for secret in secrets {
            assert!(!body.contains(secret), "{label} returned a secret");
        }
        assert!(!body.contains("ciphertext"), "{label} mentions ciphertext");
    }
}

/// The credential read works on a database connection that cannot write at all.
async fn the_credential_read_performs_no_database_write(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connections"),
            &admin,
            stripe("acct", API_KEY_SECRET),
        )
        .await;
    let path = format!(
        "/v1/tenants/{tenant}/connections/{}/credentials",
        r.json["id"].as_str().unwrap()
    );

    let read_only_url = match app.t.backend {
        crate::support::Backend::Sqlite => app.t.url.replace("mode=rwc", "mode=ro"),
        crate::support::Backend::Postgres => format!(
            "{}?options=-c%20default_transaction_read_only%3Don",
            app.t.service_url
        ),
    };
    let read_only = connvault::db::connect(&read_only_url, 2).await.unwrap();
    assert!(
        read_only
            .execute_unprepared("DELETE FROM activity_log")
            .await
            .is_err(),
        "the connection really is read-only"
    );
    let reader = connvault::http::router(connvault::http::AppState::new(
        read_only,
        app.t.keyring().await,
    ));
    let request = Request::get(&path)
        .header(header::AUTHORIZATION, format!("Bearer {service}"))
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(reader, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn status_changes_follow_the_lifecycle_rules(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let base = format!("/v1/tenants/{tenant}");
    // No credential: cannot be made active.
    let r = app
        .post(
            &format!("{base}/connections"),
            &admin,
            json!({"provider": "slack", "external_id": "T1"}),
        )
        .await;
    let bare = format!("{base}/connections/{}", r.json["id"].as_str().unwrap());
    let r = app
        .call(
            Method::PATCH,
            &bare,
            Some(&admin),
            Some(json!({"status": "active"})),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.json["field"], "status");
    // Disconnected: the status stays revoked, a second disconnect is refused, and the
    // integrations view no longer counts it.
    let r = app
        .post(
            &format!("{base}/connections"),
            &admin,
            stripe("acct", API_KEY_SECRET),
        )
        .await;
    let conn = format!("{base}/connections/{}", r.json["id"].as_str().unwrap());
    app.post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await;
    for status in ["active", "error"] {
        let r = app
            .call(
                Method::PATCH,
                &conn,
                Some(&admin),
                Some(json!({"status": status})),
            )
            .await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    app.post(&format!("{conn}/disconnect"), &admin, json!({}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = app.get(&format!("{base}/integrations"), &admin).await;
    let stripe_row = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["provider"] == "stripe")
        .unwrap()
        .clone();
    assert_eq!(stripe_row["connected"], false, "{stripe_row}");
    assert_eq!(stripe_row["connection_count"], 0);
    // Replacing the credential brings it back.
    let r = app
        .call(
            Method::PUT,
            &format!("{conn}/credentials"),
            Some(&admin),
            Some(json!({"kind": "api_key", "api_key": NEW_SECRET})),
        )
        .await;
    assert_eq!(r.json["status"], "active", "{}", r.json);
    // The bearer scheme is case-insensitive.
    let request = Request::get(&conn)
        .header(header::AUTHORIZATION, format!("bearer {admin}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(request, "lowercase bearer").await.status,
        StatusCode::OK
    );
}

crate::on_both_backends!(
    the_connection_lifecycle_works_end_to_end,
    the_credential_read_performs_no_database_write,
    status_changes_follow_the_lifecycle_rules,
);
