//! The role × endpoint matrix: every endpoint against every kind of caller.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::TestDb;
use crate::support::api::TestApp;

/// Who may call what: every endpoint against every kind of caller.
async fn the_role_matrix_holds_for_every_endpoint(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let other_tenant = app.tenant("Globex").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let viewer = app.key(&tenant, "viewer").await;
    let foreign_admin = app.key(&other_tenant, "admin").await;
    let base = format!("/v1/tenants/{tenant}");

    // Callers, in column order: operator, admin, service, viewer, other tenant's admin, no key.
    let callers: Vec<Option<&str>> = vec![
        Some(&app.operator),
        Some(&admin),
        Some(&service),
        Some(&viewer),
        Some(&foreign_admin),
        None,
    ];
    // A fresh connection per row, so destructive calls do not disturb later rows.
    let mut rows: Vec<(Method, &str, Option<Value>, [u16; 6])> = vec![
        (Method::GET, "{base}", None, [200, 200, 200, 200, 404, 401]),
        (
            Method::GET,
            "/v1/tenants",
            None,
            [200, 403, 403, 403, 403, 401],
        ),
        (
            Method::POST,
            "/v1/tenants",
            Some(json!({"name": "x"})),
            [201, 403, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "/v1/providers",
            None,
            [200, 200, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "/v1/providers/github",
            None,
            [200, 200, 200, 200, 200, 401],
        ),
        (
            Method::GET,
            "{base}/api-keys",
            None,
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::POST,
            "{base}/api-keys",
            Some(json!({"name": "k", "role": "viewer"})),
            [201, 201, 403, 403, 404, 401],
        ),
        (
            Method::GET,
            "/v1/api-keys",
            None,
            [200, 403, 403, 403, 403, 401],
        ),
        (
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": "op"})),
            [201, 403, 403, 403, 403, 401],
        ),
        (
            Method::GET,
            "{base}/connections",
            None,
            [200, 200, 200, 200, 404, 401],
        ),
        (
            Method::POST,
            "{base}/connections",
            Some(json!({"provider": "slack", "external_id": "NEW"})),
            [201, 201, 403, 403, 404, 401],
        ),
        (Method::GET, "{conn}", None, [200, 200, 200, 200, 404, 401]),
        (
            Method::PATCH,
            "{conn}",
            Some(json!({"display_name": "x"})),
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::GET,
            "{conn}/credentials",
            None,
            [403, 403, 200, 403, 404, 401],
        ),
        (
            Method::PUT,
            "{conn}/credentials",
            Some(json!({"kind": "api_key", "api_key": "sk_live_matrix_000000000"})),
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::POST,
            "{conn}/default",
            Some(json!({})),
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::POST,
            "{conn}/disconnect",
            Some(json!({})),
            [200, 200, 403, 403, 404, 401],
        ),
        (
            Method::DELETE,
            "{conn}",
            None,
            [204, 204, 403, 403, 404, 401],
        ),
        (
            Method::GET,
            "{base}/integrations",
            None,
            [200, 200, 200, 200, 404, 401],
        ),
        (
            Method::GET,
            "{base}/activity",
            None,
            [200, 200, 200, 200, 404, 401],
        ),
    ];
    let upsert = json!({"display_name": "Acme CRM", "auth_modes": ["api_key"]});
    rows.push((
        Method::PUT,
        "/v1/providers/acme-crm",
        Some(upsert),
        [200, 403, 403, 403, 403, 401],
    ));
    rows.push((
        Method::DELETE,
        "{base}/api-keys/{key}",
        None,
        [204, 204, 403, 403, 404, 401],
    ));
    rows.push((
        Method::DELETE,
        "/v1/api-keys/{opkey}",
        None,
        [204, 403, 403, 403, 403, 401],
    ));
    let mut n = 0;
    let mut failures = Vec::new();
    for (method, template, body, expected) in rows {
        for (caller, want) in callers.iter().zip(expected) {
            n += 1;
            let created = app
                .post(&format!("{base}/connections"), &admin, json!({
                    "provider": "stripe", "external_id": format!("acct_{n}"),
                    "credential": {"kind": "api_key", "api_key": format!("sk_live_matrix_{n:012}")}
                }))
                .await;
            let conn = format!(
                "{base}/connections/{}",
                created.json["id"].as_str().unwrap()
            );
            // A fresh tenant key and operator key for the revocation rows.
            let key = app
                .post(
                    &format!("{base}/api-keys"),
                    &app.operator,
                    json!({"name": format!("k{n}"), "role": "viewer"}),
                )
                .await
                .json["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let opkey = app
                .post(
                    "/v1/api-keys",
                    &app.operator,
                    json!({"name": format!("op{n}")}),
                )
                .await
                .json["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let path = template
                .replace("{conn}", &conn)
                .replace("{base}", &base)
                .replace("{key}", &key)
                .replace("{opkey}", &opkey);
            let body = body.clone().map(|b| {
                let text = b.to_string().replace("NEW", &format!("NEW{n}"));
                serde_json::from_str::<Value>(&text).unwrap()
            });
            let r = app.call(method.clone(), &path, *caller, body).await;
            if r.status.as_u16() != want {
                failures.push(format!(
                    "{method} {template} caller#{}: want {want}, got {} {}",
                    callers.iter().position(|c| c == caller).unwrap(),
                    r.status,
                    r.json
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

crate::on_both_backends!(the_role_matrix_holds_for_every_endpoint,);
