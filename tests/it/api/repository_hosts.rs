//! Self-hosted Git hosts are provider metadata an operator may edit: a malformed
//! `metadata.repository_hosts` is refused with 422 naming that field and changes
//! nothing; a well-formed one is stored and read back.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestDb;
use crate::support::api::TestApp;

/// The upsert body of `provider` as the API shows it, with `repository_hosts` set.
fn with_hosts(provider: &Value, hosts: Value) -> Value {
    let mut body = json!({});
    for key in [
        "display_name",
        "auth_modes",
        "authorization_url",
        "token_url",
        "default_scopes",
        "health_check",
        "docs_url",
        "metadata",
    ] {
        if !provider[key].is_null() {
            body[key] = provider[key].clone();
        }
    }
    body["metadata"]["repository_hosts"] = hosts;
    body
}

async fn repository_hosts_are_checked_on_every_provider_write(t: TestDb) {
    let app = TestApp::new(t).await;
    let op = app.operator.clone();
    let before = app
        .call(Method::GET, "/v1/providers/gitlab", Some(&op), None)
        .await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.json);
    for (hosts, words) in [
        (json!(["gitlab.com", "github.com"]), "GitHub's public host"),
        (json!(["gitlab.example.com:8443"]), "DNS name"),
        (
            json!([{"host": "gl.example.com", "api_base_url": "http://gl.example.com/api/v4"}]),
            "https://",
        ),
        (json!("gitlab.example.com"), "list of hosts"),
    ] {
        let body = with_hosts(&before.json, hosts.clone());
        let r = app
            .call(Method::PUT, "/v1/providers/gitlab", Some(&op), Some(body))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{hosts}: {}",
            r.json
        );
        assert_eq!(r.json["code"], "validation_failed", "{}", r.json);
        assert_eq!(r.json["field"], "metadata.repository_hosts", "{}", r.json);
        assert!(
            r.json["detail"].as_str().unwrap().contains(words),
            "{}",
            r.json
        );
        let now = app
            .call(Method::GET, "/v1/providers/gitlab", Some(&op), None)
            .await;
        assert_eq!(now.json, before.json, "a refused write changes nothing");
    }
    // Only Git services take hosts.
    let slack = app
        .call(Method::GET, "/v1/providers/slack", Some(&op), None)
        .await;
    let body = with_hosts(&slack.json, json!(["slack.com"]));
    let r = app
        .call(Method::PUT, "/v1/providers/slack", Some(&op), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json);
    assert_eq!(r.json["field"], "metadata.repository_hosts", "{}", r.json);

    let hosts = json!(["gitlab.com", {"host": "gitlab.example.com", "api_base_url": "https://gitlab.example.com/api/v4"}]);
    let body = with_hosts(&before.json, hosts.clone());
    let r = app
        .call(Method::PUT, "/v1/providers/gitlab", Some(&op), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let after = app
        .call(Method::GET, "/v1/providers/gitlab", Some(&op), None)
        .await;
    assert_eq!(after.json["metadata"]["repository_hosts"], hosts);
}

crate::on_both_backends!(repository_hosts_are_checked_on_every_provider_write);
