//! On-demand tests of OAuth connections against the test authorization server's
//! userinfo endpoint: a valid token is healthy; after the grant is revoked the token
//! is rejected and the connection needs a new consent.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::oauth::{MARGIN, PROVIDER, setup};
use crate::support::TestDb;
use crate::support::logs::Capture;

async fn an_oauth_connection_is_tested_at_the_userinfo_endpoint(t: TestDb) {
    let capture = Capture::start();
    let s = setup(t).await;
    let r = s
        .app
        .call(
            Method::PUT,
            &format!("/v1/providers/{PROVIDER}"),
            Some(&s.app.operator),
            Some(json!({
                "display_name": "Test IdP",
                "auth_modes": ["oauth2_authorization_code", "oauth2_client_credentials"],
                "authorization_url": format!("{}/auth", s.idp.issuer),
                "token_url": format!("{}/token", s.idp.issuer),
                "default_scopes": ["openid", "api:read"],
                "health_check": {"method": "GET", "url": format!("{}/me", s.idp.issuer)},
                "metadata": {
                    "issuer": s.idp.issuer,
                    "refresh_margin_seconds": MARGIN,
                    "identity": {"id_token_claim": "sub"},
                },
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let id = s.connected("dana").await;
    let path = format!("/v1/tenants/{}/connections/{id}/test", s.tenant);

    let r = s
        .app
        .call(Method::POST, &path, Some(&s.service), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["health_status"], "healthy", "{}", r.json);
    assert_eq!(r.json["http_status"], 200);

    s.idp.revoke_grants().await;
    let r = s.app.call(Method::POST, &path, Some(&s.admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["health_status"], "unhealthy", "{}", r.json);
    assert_eq!(r.json["reason_code"], "credential_rejected");
    assert_eq!(r.json["http_status"], 401);
    let conn = s.connection(&id).await;
    assert_eq!(conn["status"], "needs_reauth", "only a new consent helps");
    assert_eq!(conn["health_status"], "unhealthy");
    assert_eq!(conn["last_error"]["reason_code"], "credential_rejected");

    // Testing again still reaches the provider and still finds the token rejected.
    let r = s.app.call(Method::POST, &path, Some(&s.admin), None).await;
    assert_eq!(r.json["reason_code"], "credential_rejected", "{}", r.json);
    assert_eq!(r.json["connection"]["status"], "needs_reauth");

    // Consenting again makes it healthy once more.
    assert_eq!(s.connected("dana").await, id);
    let r = s.app.call(Method::POST, &path, Some(&s.admin), None).await;
    assert_eq!(r.json["health_status"], "healthy", "{}", r.json);
    assert_eq!(r.json["connection"]["status"], "active");

    let log = capture.text();
    for (_, body) in s.app.bodies.lock().unwrap().iter() {
        assert!(
            !body.contains("Bearer "),
            "a response carries an authorization"
        );
    }
    assert!(!log.contains("Bearer "), "the log carries an authorization");
}

crate::on_both_backends!(an_oauth_connection_is_tested_at_the_userinfo_endpoint);
