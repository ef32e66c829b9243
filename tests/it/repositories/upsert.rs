//! `PUT /v1/tenants/{t}/repositories`: one connection per canonical URL and tenant,
//! created then updated; URL and service-type refusals naming the field; the token and
//! secret never shown, a generated secret shown once; roles; disconnect.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{repositories, token, upsert};
use crate::support::TestDb;
use crate::support::api::TestApp;
use crate::support::secrets;

async fn upsert_creates_then_updates_the_same_connection(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Repos").await;
    let admin = app.key(&tenant, "admin").await;
    let first_token = token("first");
    let created = upsert(
        &app,
        &tenant,
        &admin,
        json!({
            "repository_url": "git@github.com:Octo-Org/Hello-World.git",
            "access_token": first_token,
            "display_name": "Hello",
        }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    assert_eq!(created.json["created"], true);
    assert_eq!(
        created.json["repository_url"],
        "https://github.com/octo-org/hello-world"
    );
    assert_eq!(created.json["service_type"], "github");
    assert_eq!(created.json["is_active"], true);
    assert!(created.json["last_sync_at"].is_null());
    let id = created.json["id"].as_str().unwrap();
    assert_eq!(
        created.json["webhook_url"],
        format!("http://127.0.0.1:8080/webhooks/{id}")
    );
    // Generated, shown once, a signing key every service accepts.
    let generated = created.json["webhook_secret"].as_str().unwrap().to_owned();
    assert!(generated.starts_with("whsec_"), "{generated}");

    // The same repository in another spelling: the same row, updated.
    let second_token = token("second");
    let updated = upsert(
        &app,
        &tenant,
        &admin,
        json!({
            "repository_url": "https://www.github.com/octo-org/hello-world/",
            "service_type": "GitHub",
            "access_token": second_token,
            "display_name": "Hello World",
        }),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.json);
    assert_eq!(updated.json["id"], id);
    assert_eq!(updated.json["created"], false);
    assert_eq!(updated.json["display_name"], "Hello World");
    assert!(
        updated.json.get("webhook_secret").is_none(),
        "the kept secret is not shown again: {}",
        updated.json
    );

    // The service key reads the credential: the new token, the kept secret.
    let service = app.key(&tenant, "service").await;
    let cred = app
        .get(
            &format!("/v1/tenants/{tenant}/connections/{id}/credentials"),
            &service,
        )
        .await;
    assert_eq!(cred.status, StatusCode::OK, "{}", cred.json);
    assert_eq!(cred.json["fields"]["access_token"], second_token.as_str());
    assert_eq!(cred.json["fields"]["webhook_secret"], generated.as_str());

    let list = app.get(&repositories(&tenant), &admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.json);
    let items = list.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.json);
    assert_eq!(items[0]["id"], id);

    // A given secret replaces it.
    let given = "whsec_Z2l2ZW4tc2VjcmV0LWZvci10aGUtdGVzdC0wMTIzNDU2Nzg5YWI=";
    secrets::record(given);
    let r = upsert(
        &app,
        &tenant,
        &admin,
        json!({
            "repository_url": "https://github.com/octo-org/hello-world",
            "access_token": second_token,
            "webhook_secret": given,
        }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.json.get("webhook_secret").is_none(), "{}", r.json);
    let cred = app
        .get(
            &format!("/v1/tenants/{tenant}/connections/{id}/credentials"),
            &service,
        )
        .await;
    assert_eq!(cred.json["fields"]["webhook_secret"], given);

    // No answer but the one that generated it shows a secret or the token.
    let bodies = app.bodies.lock().unwrap().clone();
    let creating = bodies
        .iter()
        .position(|(label, _)| label.starts_with("PUT "))
        .unwrap();
    for (i, (label, body)) in bodies.iter().enumerate() {
        if label.ends_with("/credentials") {
            continue;
        }
        for secret in [&first_token, &second_token, &generated, &given.to_owned()] {
            let shown = body.contains(secret.as_str());
            let allowed = secret == &generated && i == creating;
            assert!(!shown || allowed, "{label} shows a secret: {body}");
        }
    }
    assert!(bodies[creating].1.contains(&generated));

    // The activity log: one repository_connected per upsert, no secret in it.
    let activity = app
        .get(
            &format!("/v1/tenants/{tenant}/activity?action=repository_connected"),
            &admin,
        )
        .await;
    assert_eq!(activity.json["items"].as_array().unwrap().len(), 3);
}

async fn the_url_and_the_service_type_are_checked_through_the_api(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Repos").await;
    let admin = app.key(&tenant, "admin").await;
    for (url, service, field, words) in [
        (
            "https://gitlab.com/group/project",
            Some("github"),
            "service_type",
            "gitlab.com is a GitLab host",
        ),
        (
            "https://example.com/owner/repo",
            None,
            "repository_url",
            "not a known",
        ),
        (
            "http://github.com/owner/repo",
            None,
            "repository_url",
            "https://",
        ),
        (
            "https://github.com/owner/repo?x=1",
            None,
            "repository_url",
            "query",
        ),
        (
            "https://user@github.com/owner/repo",
            None,
            "repository_url",
            "user information",
        ),
        ("https://github.com/owner", None, "repository_url", ""),
        (
            "https://bitbucket.org/ws/repo",
            Some("gitlab"),
            "service_type",
            "Bitbucket host",
        ),
    ] {
        let mut body = json!({ "repository_url": url, "access_token": token("bad") });
        if let Some(service) = service {
            body["service_type"] = service.into();
        }
        let r = upsert(&app, &tenant, &admin, body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            r.json
        );
        assert_eq!(r.json["code"], "validation_failed", "{url}: {}", r.json);
        assert_eq!(r.json["field"], field, "{url}: {}", r.json);
        assert!(
            r.json["detail"].as_str().unwrap().contains(words),
            "{url}: {}",
            r.json
        );
    }
    // An unknown service type is refused before anything else.
    let r = upsert(
        &app,
        &tenant,
        &admin,
        json!({ "repository_url": "https://github.com/o/r", "service_type": "svn", "access_token": token("x") }),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json);
    // An empty token is refused, naming it.
    let r = upsert(
        &app,
        &tenant,
        &admin,
        json!({ "repository_url": "https://github.com/o/r", "access_token": "" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json);
    assert_eq!(r.json["field"], "access_token", "{}", r.json);
    // Nothing was written by any refusal.
    let list = app.get(&repositories(&tenant), &admin).await;
    assert_eq!(list.json["items"], json!([]), "{}", list.json);
    let conns = app
        .get(&format!("/v1/tenants/{tenant}/connections"), &admin)
        .await;
    assert_eq!(conns.json["items"], json!([]), "{}", conns.json);
}

async fn roles_and_tenants_decide_who_may_upsert_and_list(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Repos").await;
    let other = app.tenant("Other").await;
    let body = || json!({ "repository_url": "https://gitlab.com/group/sub/project", "access_token": token("role") });
    for role in ["service", "viewer"] {
        let key = app.key(&tenant, role).await;
        let r = upsert(&app, &tenant, &key, body()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {}", r.json);
        let r = app.get(&repositories(&tenant), &key).await;
        assert_eq!(r.status, StatusCode::OK, "{role}: {}", r.json);
    }
    let foreign_admin = app.key(&other, "admin").await;
    let r = upsert(&app, &tenant, &foreign_admin, body()).await;
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        r.json
    );
    let r = app.get(&repositories(&tenant), &foreign_admin).await;
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        r.json
    );
    let r = app
        .call(Method::PUT, &repositories(&tenant), None, Some(body()))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.json);
    // The operator may; the same repository in two tenants is two connections.
    let a = upsert(&app, &tenant, &app.operator.clone(), body()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json);
    assert_eq!(a.json["service_type"], "gitlab");
    let b = upsert(&app, &other, &foreign_admin, body()).await;
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.json);
    assert_ne!(a.json["id"], b.json["id"]);
}

async fn disconnect_destroys_token_and_secret_and_deactivates(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Repos").await;
    let admin = app.key(&tenant, "admin").await;
    let r = upsert(
        &app,
        &tenant,
        &admin,
        json!({ "repository_url": "https://bitbucket.org/ws/repo", "access_token": token("bb") }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let d = app
        .post(
            &format!("/v1/tenants/{tenant}/connections/{id}/disconnect"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.json);
    let list = app.get(&repositories(&tenant), &admin).await;
    assert_eq!(list.json["items"][0]["is_active"], false, "{}", list.json);
    let service = app.key(&tenant, "service").await;
    let cred = app
        .get(
            &format!("/v1/tenants/{tenant}/connections/{id}/credentials"),
            &service,
        )
        .await;
    assert_ne!(cred.status, StatusCode::OK, "{}", cred.json);
    let conn = app
        .get(&format!("/v1/tenants/{tenant}/connections/{id}"), &admin)
        .await;
    assert!(conn.json["credential"].is_null(), "{}", conn.json);
    // Connecting it again makes it active, with a new generated secret.
    let again = upsert(
        &app,
        &tenant,
        &admin,
        json!({ "repository_url": "https://bitbucket.org/ws/repo", "access_token": token("bb2") }),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.json);
    assert_eq!(again.json["id"], id.as_str());
    assert_eq!(again.json["is_active"], true);
    assert!(again.json["webhook_secret"].is_string(), "{}", again.json);
}

async fn concurrent_upserts_of_one_repository_make_one_connection(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Repos").await;
    let admin = app.key(&tenant, "admin").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let body = json!({ "repository_url": "https://github.com/octo-org/raced", "access_token": token(&format!("race{i}")) });
        let path = repositories(&tenant);
        let admin = admin.clone();
        let router = app.app.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let request = axum::http::Request::builder()
                .method(Method::PUT)
                .uri(path)
                .header("authorization", format!("Bearer {admin}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            if let Some(s) = json["webhook_secret"].as_str() {
                secrets::record(s);
            }
            (status, json)
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, json) = task.await.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}: {json}"
        );
        created += usize::from(status == StatusCode::CREATED);
        ids.insert(json["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    let list = app.get(&repositories(&tenant), &admin).await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
}

crate::on_both_backends!(
    concurrent_upserts_of_one_repository_make_one_connection,
    upsert_creates_then_updates_the_same_connection,
    the_url_and_the_service_type_are_checked_through_the_api,
    roles_and_tenants_decide_who_may_upsert_and_list,
    disconnect_destroys_token_and_secret_and_deactivates,
);
