//! `register_webhook: true` against a local server that answers as GitHub, GitLab and
//! Bitbucket Cloud document their hook APIs (the request each expects, checked here:
//! path, bearer token, JSON body with the URL, the secret and the events; the answer
//! each gives), pointed to by the catalog's `api_base_url`; the hook deleted on
//! disconnect, best effort, recorded either way.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, post};
use serde_json::{Value, json};

use super::{repositories, token, upsert};
use crate::support::TestDb;
use crate::support::api::TestApp;

#[derive(Clone, Debug)]
struct Call {
    method: &'static str,
    path: String,
    authorization: String,
    body: Value,
}

#[derive(Clone, Default)]
struct Provider {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Answer deletes with 500.
    failing_deletes: Arc<Mutex<bool>>,
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Refuses what a service would: no bearer token of ours, or a body without the
/// fields its documentation requires.
fn refuse(
    headers: &HeaderMap,
    body: &Value,
    required: &[&str],
) -> Option<axum::response::Response> {
    if !bearer(headers).starts_with("Bearer gho_repo_token_") {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "Bad credentials"})),
            )
                .into_response(),
        );
    }
    for pointer in required {
        if body.pointer(pointer).is_none() {
            return Some(
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({"message": "Validation Failed", "missing": pointer})),
                )
                    .into_response(),
            );
        }
    }
    None
}

async fn github_create(
    State(p): State<Provider>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    p.calls.lock().unwrap().push(Call {
        method: "POST",
        path: format!("/repos/{owner}/{repo}/hooks"),
        authorization: bearer(&headers),
        body: body.clone(),
    });
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/vnd.github+json") {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    if let Some(r) = refuse(
        &headers,
        &body,
        &["/config/url", "/config/secret", "/events"],
    ) {
        return r;
    }
    // As documented: the secret is never echoed.
    (
        StatusCode::CREATED,
        Json(json!({
            "type": "Repository", "id": 12345678, "name": "web", "active": true,
            "events": body["events"],
            "config": { "content_type": "json", "insecure_ssl": "0", "url": body["config"]["url"], "secret": "********" },
            "url": format!("https://api.github.com/repos/{owner}/{repo}/hooks/12345678"),
        })),
    )
        .into_response()
}

async fn gitlab_create(
    State(p): State<Provider>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    p.calls.lock().unwrap().push(Call {
        method: "POST",
        path: format!("/api/v4/projects/{project}/hooks"),
        authorization: bearer(&headers),
        body: body.clone(),
    });
    if let Some(r) = refuse(&headers, &body, &["/url", "/token", "/push_events"]) {
        return r;
    }
    (
        StatusCode::CREATED,
        Json(json!({ "id": 42, "url": body["url"], "project_id": 3, "push_events": true, "merge_requests_events": true, "enable_ssl_verification": true })),
    )
        .into_response()
}

async fn bitbucket_create(
    State(p): State<Provider>,
    Path((workspace, slug)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    p.calls.lock().unwrap().push(Call {
        method: "POST",
        path: format!("/2.0/repositories/{workspace}/{slug}/hooks"),
        authorization: bearer(&headers),
        body: body.clone(),
    });
    if let Some(r) = refuse(
        &headers,
        &body,
        &["/url", "/secret", "/events", "/description"],
    ) {
        return r;
    }
    (
        StatusCode::CREATED,
        Json(json!({ "uuid": "{5f2e6c1a-8b3d-4e7f-9a0b-1c2d3e4f5a6b}", "url": body["url"], "description": body["description"], "active": true, "events": body["events"], "secret_set": true })),
    )
        .into_response()
}

async fn remove(
    State(p): State<Provider>,
    Path(parts): Path<Vec<(String, String)>>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> StatusCode {
    let _ = (parts, method);
    p.calls.lock().unwrap().push(Call {
        method: "DELETE",
        path: uri.path().to_owned(),
        authorization: bearer(&headers),
        body: Value::Null,
    });
    if *p.failing_deletes.lock().unwrap() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// The local provider API; returns its base URL.
async fn serve(p: Provider) -> String {
    let app = axum::Router::new()
        .route("/repos/{owner}/{repo}/hooks", post(github_create))
        .route("/repos/{owner}/{repo}/hooks/{id}", delete(remove))
        .route("/api/v4/projects/{project}/hooks", post(gitlab_create))
        .route("/api/v4/projects/{project}/hooks/{id}", delete(remove))
        .route(
            "/2.0/repositories/{workspace}/{slug}/hooks",
            post(bitbucket_create),
        )
        .route(
            "/2.0/repositories/{workspace}/{slug}/hooks/{id}",
            delete(remove),
        )
        .with_state(p);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Points the provider's `metadata.api_base_url` at `base`.
async fn point(app: &TestApp, slug: &str, base: &str) {
    let op = app.operator.clone();
    let current = app
        .call(
            Method::GET,
            &format!("/v1/providers/{slug}"),
            Some(&op),
            None,
        )
        .await;
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
        if !current.json[key].is_null() {
            body[key] = current.json[key].clone();
        }
    }
    body["metadata"]["api_base_url"] = base.into();
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/providers/{slug}"),
            Some(&op),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
}

async fn webhooks_are_registered_and_removed_at_each_service(t: TestDb) {
    let app = TestApp::new(t).await;
    let provider = Provider::default();
    let base = serve(provider.clone()).await;
    point(&app, "github", &base).await;
    point(&app, "gitlab", &format!("{base}/api/v4")).await;
    point(&app, "bitbucket", &format!("{base}/2.0")).await;
    let tenant = app.tenant("Repos").await;
    let admin = app.key(&tenant, "admin").await;

    for (url, create_path, hook_id, delete_path) in [
        (
            "https://github.com/octo-org/hello-world",
            "/repos/octo-org/hello-world/hooks",
            "12345678",
            "/repos/octo-org/hello-world/hooks/12345678",
        ),
        (
            "https://gitlab.com/group/sub/project",
            "/api/v4/projects/group/sub/project/hooks",
            "42",
            "/api/v4/projects/group%2Fsub%2Fproject/hooks/42",
        ),
        (
            "https://bitbucket.org/ws/repo",
            "/2.0/repositories/ws/repo/hooks",
            "{5f2e6c1a-8b3d-4e7f-9a0b-1c2d3e4f5a6b}",
            "/2.0/repositories/ws/repo/hooks/%7B5f2e6c1a%2D8b3d%2D4e7f%2D9a0b%2D1c2d3e4f5a6b%7D",
        ),
    ] {
        provider.calls.lock().unwrap().clear();
        let access = token("reg");
        let r = upsert(
            &app,
            &tenant,
            &admin,
            json!({ "repository_url": url, "access_token": access, "register_webhook": true }),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{url}: {}", r.json);
        assert_eq!(r.json["webhook_id"], hook_id, "{}", r.json);
        let secret = r.json["webhook_secret"].as_str().unwrap().to_owned();
        let id = r.json["id"].as_str().unwrap().to_owned();
        let calls = provider.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 1, "{calls:?}");
        let call = &calls[0];
        assert_eq!(call.path, create_path);
        assert_eq!(call.authorization, format!("Bearer {access}"));
        let target = format!("http://127.0.0.1:8080/webhooks/{id}");
        match call.path.as_str() {
            p if p.starts_with("/repos/") => {
                assert_eq!(call.body["name"], "web");
                assert_eq!(call.body["config"]["url"], target.as_str());
                assert_eq!(call.body["config"]["content_type"], "json");
                assert_eq!(call.body["config"]["secret"], secret.as_str());
                assert_eq!(call.body["events"], json!(["push", "pull_request"]));
            }
            p if p.starts_with("/api/v4/") => {
                assert_eq!(call.body["url"], target.as_str());
                assert_eq!(call.body["token"], secret.as_str());
                assert_eq!(call.body["push_events"], true);
            }
            _ => {
                assert_eq!(call.body["url"], target.as_str());
                assert_eq!(call.body["secret"], secret.as_str());
                assert_eq!(call.body["active"], true);
                assert!(
                    call.body["events"]
                        .as_array()
                        .unwrap()
                        .contains(&json!("repo:push"))
                );
            }
        }
        provider.calls.lock().unwrap().clear();
        let d = app
            .post(
                &format!("/v1/tenants/{tenant}/connections/{id}/disconnect"),
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.json);
        let calls = provider.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].method, "DELETE");
        assert_eq!(calls[0].path, delete_path);
        assert_eq!(calls[0].authorization, format!("Bearer {access}"));
    }
    let activity = |action: &'static str| {
        let app = &app;
        let tenant = tenant.clone();
        async move {
            app.get(
                &format!("/v1/tenants/{tenant}/activity?action={action}"),
                &app.operator,
            )
            .await
            .json["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    assert_eq!(activity("webhook_registered").await.len(), 3);
    let removed = activity("webhook_removed").await;
    assert_eq!(removed.len(), 3);
    assert!(
        removed.iter().all(|e| e["details"]["removed"] == true),
        "{removed:?}"
    );
    let list = app.get(&repositories(&tenant), &admin).await;
    for item in list.json["items"].as_array().unwrap() {
        assert!(item["webhook_id"].is_null(), "{item}");
        assert_eq!(item["is_active"], false);
    }

    // A failed delete does not stop the disconnect; it is recorded.
    *provider.failing_deletes.lock().unwrap() = true;
    let r = upsert(
        &app,
        &tenant,
        &admin,
        json!({ "repository_url": "https://github.com/octo-org/other", "access_token": token("f"), "register_webhook": true }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let id = r.json["id"].as_str().unwrap();
    let d = app
        .post(
            &format!("/v1/tenants/{tenant}/connections/{id}/disconnect"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.json);
    let removed = activity("webhook_removed").await;
    assert_eq!(removed.len(), 4);
    assert_eq!(removed[0]["details"]["removed"], false, "{}", removed[0]);
    assert_eq!(removed[0]["details"]["reason_code"], "provider_refused");

    // Deleting (rather than disconnecting) a repository connection removes its hook too.
    *provider.failing_deletes.lock().unwrap() = false;
    let access = token("del");
    let r = upsert(
        &app,
        &tenant,
        &admin,
        json!({ "repository_url": "https://github.com/octo-org/deleted", "access_token": access, "register_webhook": true }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    provider.calls.lock().unwrap().clear();
    let d = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{tenant}/connections/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.json);
    let calls = provider.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, "DELETE");
    assert_eq!(calls[0].path, "/repos/octo-org/deleted/hooks/12345678");
    assert_eq!(calls[0].authorization, format!("Bearer {access}"));
    let removed = activity("webhook_removed").await;
    assert_eq!(removed.len(), 5);
    assert_eq!(removed[0]["connection_id"], id.as_str(), "{}", removed[0]);
    assert_eq!(removed[0]["details"]["removed"], true, "{}", removed[0]);
}

async fn a_refused_registration_stores_nothing(t: TestDb) {
    let app = TestApp::new(t).await;
    let provider = Provider::default();
    let base = serve(provider.clone()).await;
    point(&app, "github", &base).await;
    let tenant = app.tenant("Repos").await;
    let admin = app.key(&tenant, "admin").await;
    let bad = "gho_not_ours_0123456789";
    crate::support::secrets::record(bad);
    let r = upsert(
        &app,
        &tenant,
        &admin,
        json!({ "repository_url": "https://github.com/octo-org/hello-world", "access_token": bad, "register_webhook": true }),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.json);
    assert_eq!(r.json["code"], "webhook_registration_failed");
    assert!(
        r.json["detail"].as_str().unwrap().contains("401"),
        "{}",
        r.json
    );
    assert!(!r.json.to_string().contains(bad));
    assert_eq!(provider.calls.lock().unwrap().len(), 1);
    let list = app.get(&repositories(&tenant), &admin).await;
    assert_eq!(list.json["items"], json!([]));
    let conns = app
        .get(&format!("/v1/tenants/{tenant}/connections"), &admin)
        .await;
    assert_eq!(conns.json["items"], json!([]));
}

crate::on_both_backends!(
    webhooks_are_registered_and_removed_at_each_service,
    a_refused_registration_stores_nothing,
);
