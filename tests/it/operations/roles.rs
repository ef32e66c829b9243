//! Who may call the operation endpoints: operator, the tenant's admin, service and
//! viewer keys, another tenant's admin, and no key.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::api::setup;
use crate::support::TestDb;

async fn the_role_matrix_holds_for_every_operation_endpoint(t: TestDb) {
    let s = setup(t).await;
    let app = &s.app;
    let viewer = app.key(&s.tenant, "viewer").await;
    let other = app.tenant("Globex").await;
    let foreign = app.key(&other, "admin").await;
    s.stripe("acct_roles", true, &[]).await;
    let callers: [Option<&str>; 6] = [
        Some(&app.operator),
        Some(&s.admin),
        Some(&s.service),
        Some(&viewer),
        Some(&foreign),
        None,
    ];
    let base = format!("/v1/tenants/{}/operations", s.tenant);
    let run = s.start(json!({"type": "billing.export"})).await;
    let run_id = run.json["id"].as_str().unwrap().to_owned();
    let rows: Vec<(Method, String, Option<Value>, [u16; 6])> = vec![
        (
            Method::PUT,
            "/v1/operation-types/roles.check".into(),
            Some(json!({"provider": "stripe", "module": "m"})),
            [201, 403, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "/v1/operation-types".into(),
            None,
            [200, 200, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/v1/operation-types/billing.sync".into(),
            None,
            [200, 200, 200, 200, 200, 401],
        ),
        (
            Method::POST,
            base.clone(),
            Some(json!({"type": "billing.export"})),
            [403, 201, 201, 403, 404, 401],
        ),
        (
            Method::GET,
            base.clone(),
            None,
            [200, 200, 200, 200, 404, 401],
        ),
        (
            Method::GET,
            format!("{base}/{run_id}"),
            None,
            [200, 200, 200, 200, 404, 401],
        ),
    ];
    for (method, path, body, expected) in rows {
        for (caller, want) in callers.iter().zip(expected) {
            let r = app.call(method.clone(), &path, *caller, body.clone()).await;
            assert_eq!(
                r.status.as_u16(),
                want,
                "{method} {path} as caller {caller:?}: {}",
                r.json
            );
        }
    }
    // Cancel: a fresh queued run per caller.
    for (caller, want) in callers.iter().zip([200, 200, 403, 403, 404, 401]) {
        let run = s.start(json!({"type": "billing.export"})).await;
        assert_eq!(run.json["status"], "queued", "{}", run.json);
        let id = run.json["id"].as_str().unwrap();
        let r = app
            .call(
                Method::POST,
                &format!("{base}/{id}/cancel"),
                *caller,
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status.as_u16(), want, "cancel as {caller:?}: {}", r.json);
    }
    // Delete: operators only.
    for (caller, want) in callers.iter().zip([204, 403, 403, 403, 403, 401]).rev() {
        let r = app
            .call(
                Method::DELETE,
                "/v1/operation-types/roles.check",
                *caller,
                None,
            )
            .await;
        assert_eq!(r.status.as_u16(), want, "delete as {caller:?}: {}", r.json);
    }
    let r = app
        .get("/v1/operation-types/roles.check", &app.operator)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

crate::on_both_backends!(the_role_matrix_holds_for_every_operation_endpoint,);
