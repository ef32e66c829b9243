//! Cross-tenant access over the API: another tenant's rows are invisible by id,
//! filter and cursor.

use axum::http::{Method, StatusCode};

use super::stripe;
use crate::support::TestDb;
use crate::support::api::TestApp;

async fn another_tenant_sees_nothing_by_id_filter_or_cursor(t: TestDb) {
    let app = TestApp::new(t).await;
    let a = app.tenant("A").await;
    let b = app.tenant("B").await;
    let a_admin = app.key(&a, "admin").await;
    let b_admin = app.key(&b, "admin").await;
    let b_service = app.key(&b, "service").await;
    let mut a_ids = Vec::new();
    for i in 0..3 {
        let r = app
            .post(
                &format!("/v1/tenants/{a}/connections"),
                &a_admin,
                stripe(&format!("a{i}"), &format!("sk_live_tenant_a_{i}_00000000")),
            )
            .await;
        a_ids.push(r.json["id"].as_str().unwrap().to_owned());
    }
    app.post(
        &format!("/v1/tenants/{b}/connections"),
        &b_admin,
        stripe("b0", "sk_live_tenant_b_0_00000000"),
    )
    .await;

    // By id, under B's path and under A's path with B's key: 404 either way.
    for id in &a_ids {
        app.get(&format!("/v1/tenants/{b}/connections/{id}"), &b_admin)
            .await
            .problem(StatusCode::NOT_FOUND, "not_found");
        app.get(
            &format!("/v1/tenants/{b}/connections/{id}/credentials"),
            &b_service,
        )
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
        app.get(&format!("/v1/tenants/{a}/connections/{id}"), &b_admin)
            .await
            .problem(StatusCode::NOT_FOUND, "not_found");
        let r = app
            .call(
                Method::DELETE,
                &format!("/v1/tenants/{b}/connections/{id}"),
                Some(&b_admin),
                None,
            )
            .await;
        r.problem(StatusCode::NOT_FOUND, "not_found");
    }
    // A missing tenant looks the same as a foreign one.
    let ghost = uuid::Uuid::new_v4();
    let foreign = app
        .get(&format!("/v1/tenants/{a}/connections"), &b_admin)
        .await;
    let missing = app
        .get(&format!("/v1/tenants/{ghost}/connections"), &b_admin)
        .await;
    assert_eq!(foreign.json, missing.json);
    // By list filter and by cursor: B's list holds only B's rows.
    let r = app
        .get(&format!("/v1/tenants/{a}/connections?limit=1"), &a_admin)
        .await;
    let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
    for path in [
        format!("/v1/tenants/{b}/connections?provider=stripe"),
        format!("/v1/tenants/{b}/connections?cursor={cursor}"),
        format!("/v1/tenants/{b}/activity"),
    ] {
        let r = app.get(&path, &b_admin).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        for item in r.json["items"].as_array().unwrap() {
            assert_eq!(item["tenant_id"], b.as_str(), "{path}");
        }
    }
    // A conflict names only the caller's own tuple: B can hold A's external account.
    let r = app
        .post(
            &format!("/v1/tenants/{b}/connections"),
            &b_admin,
            stripe("a0", "sk_live_tenant_b_dup_0000000"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let r = app
        .post(
            &format!("/v1/tenants/{b}/connections"),
            &b_admin,
            stripe("a0", "sk_live_tenant_b_dup_0000000"),
        )
        .await;
    r.problem(StatusCode::CONFLICT, "duplicate_connection");
    assert!(r.json["detail"].as_str().unwrap().contains("\"a0\""));
}

crate::on_both_backends!(another_tenant_sees_nothing_by_id_filter_or_cursor,);
