//! API keys over the API: shown once, stored hashed, revocable; operator keys.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::TestDb;
use crate::support::api::TestApp;

async fn api_keys_are_shown_once_stored_hashed_and_revocable(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/api-keys"),
            &app.operator,
            json!({"name": "ci", "role": "service"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    let key_id = r.json["id"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("cv_") && secret.len() >= 3 + 43,
        "256 bits, base64url"
    );
    assert!(secret.starts_with(r.json["prefix"].as_str().unwrap()));
    let list = app
        .get(&format!("/v1/tenants/{tenant}/api-keys"), &app.operator)
        .await;
    assert_eq!(list.json["items"][0]["id"], key_id.as_str());
    assert!(
        !list.json.to_string().contains(&secret),
        "listing never shows the secret"
    );
    assert_eq!(
        app.get(&format!("/v1/tenants/{tenant}"), &secret)
            .await
            .status,
        StatusCode::OK
    );
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{tenant}/api-keys/{key_id}"),
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.get(&format!("/v1/tenants/{tenant}"), &secret)
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{tenant}/api-keys/{key_id}"),
            Some(&app.operator),
            None,
        )
        .await;
    r.problem(StatusCode::NOT_FOUND, "not_found");

    // Operator keys.
    let r = app
        .post(
            "/v1/api-keys",
            &app.operator,
            json!({"name": "second operator"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let op2 = r.json["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v1/tenants", &op2).await.status, StatusCode::OK);
    let r = app.get("/v1/api-keys", &op2).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
}

crate::on_both_backends!(api_keys_are_shown_once_stored_hashed_and_revocable,);
