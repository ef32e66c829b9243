//! One paging contract for every list of the API: a keyset `cursor`/`next_cursor`,
//! `limit` 1 to 200, anything else a 400 `invalid_query`. Each list is walked page by
//! page and must give every row exactly once, in its order.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestDb;
use crate::support::api::TestApp;

/// Walks a list `limit` items at a time; returns the value of `id_field` of every
/// item, in the order given, and checks the shape of each page.
async fn walk(app: &TestApp, path: &str, key: &str, limit: u64, id_field: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let separator = if path.contains('?') { '&' } else { '?' };
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("{path}{separator}limit={limit}&cursor={c}"),
            None => format!("{path}{separator}limit={limit}"),
        };
        let r = app.get(&url, key).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.json);
        let items = r.json["items"].as_array().unwrap();
        assert!(items.len() as u64 <= limit, "{url}: at most {limit} items");
        seen.extend(
            items
                .iter()
                .map(|i| i[id_field].as_str().unwrap().to_owned()),
        );
        match r.json["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(
                    items.len() as u64,
                    limit,
                    "{url}: only the last page is short"
                );
                cursor = Some(next.to_owned());
            }
            None => return seen,
        }
    }
    panic!("{path}: the walk does not end");
}

/// Every item of a list in one page of the largest size.
async fn all(app: &TestApp, path: &str, key: &str, id_field: &str) -> Vec<String> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let r = app.get(&format!("{path}{separator}limit=200"), key).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.json);
    assert!(r.json["next_cursor"].is_null(), "{path}: fits one page");
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[id_field].as_str().unwrap().to_owned())
        .collect()
}

fn ids(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_list_pages_with_a_cursor_and_refuses_limits_out_of_range(t: TestDb) {
    let app = TestApp::new(t).await;
    let op = app.operator.clone();

    let mut tenants = Vec::new();
    for i in 0..7 {
        tenants.push(app.tenant(&format!("Tenant {i}")).await);
    }
    let tenant = tenants[0].clone();
    let base = format!("/v1/tenants/{tenant}");
    let admin = app.key(&tenant, "admin").await;
    let mut tenant_keys = vec![];
    for i in 0..6 {
        let r = app
            .post(
                &format!("{base}/api-keys"),
                &admin,
                json!({"name": format!("k{i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        crate::support::secrets::record(r.json["secret"].as_str().unwrap());
        tenant_keys.push(r.json.clone());
    }
    let mut operator_keys = vec![];
    for i in 0..4 {
        let r = app
            .post("/v1/api-keys", &op, json!({"name": format!("op{i}")}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        crate::support::secrets::record(r.json["secret"].as_str().unwrap());
        operator_keys.push(r.json.clone());
    }
    let mut connections = vec![];
    for i in 0..9 {
        let r = app
            .post(
                &format!("{base}/connections"),
                &admin,
                json!({"provider": "stripe", "external_id": format!("acct_{i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        connections.push(r.json.clone());
    }
    for provider in ["github", "gitlab", "slack", "google", "dropbox"] {
        let r = app
            .call(
                Method::PUT,
                &format!("/v1/oauth-apps/{provider}"),
                Some(&op),
                Some(json!({"client_id": "client", "client_secret": "client-secret-paging-1"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{provider}: {}", r.json);
    }

    // Every list, walked in small pages, gives what one big page gives, every row once.
    let lists: Vec<(String, &str, &str, u64)> = vec![
        ("/v1/tenants".into(), &op, "id", 3),
        ("/v1/api-keys".into(), &op, "id", 2),
        (format!("{base}/api-keys"), &admin, "id", 4),
        ("/v1/providers".into(), &admin, "slug", 4),
        ("/v1/oauth-apps".into(), &op, "provider", 2),
        (format!("{base}/connections"), &admin, "id", 4),
        (
            format!("{base}/connections?provider=stripe"),
            &admin,
            "id",
            5,
        ),
        (format!("{base}/activity"), &admin, "id", 4),
        (format!("{base}/integrations"), &admin, "provider", 5),
    ];
    for (path, key, id_field, limit) in &lists {
        let everything = all(&app, path, key, id_field).await;
        let walked = walk(&app, path, key, *limit, id_field).await;
        assert!(
            everything.len() as u64 > *limit,
            "{path}: more rows than one page"
        );
        assert_eq!(walked, everything, "{path}: every row once, in order");
        for bad in ["0", "201", "-1", "many"] {
            let separator = if path.contains('?') { '&' } else { '?' };
            app.get(&format!("{path}{separator}limit={bad}"), key)
                .await
                .problem(StatusCode::BAD_REQUEST, "invalid_query");
        }
        let separator = if path.contains('?') { '&' } else { '?' };
        app.get(&format!("{path}{separator}cursor=not-a-cursor"), key)
            .await
            .problem(StatusCode::BAD_REQUEST, "invalid_cursor");
        app.get(&format!("{path}{separator}page=2"), key)
            .await
            .problem(StatusCode::BAD_REQUEST, "invalid_query");
    }

    // And the rows are the ones made, in their order.
    let listed = all(&app, "/v1/tenants", &op, "id").await;
    assert_eq!(listed, tenants);
    let listed = all(&app, &format!("{base}/api-keys"), &admin, "id").await;
    assert_eq!(listed[1..], ids(&tenant_keys)[..], "after the admin key");
    let listed = all(&app, "/v1/api-keys", &op, "id").await;
    assert_eq!(
        listed[1..],
        ids(&operator_keys)[..],
        "after the test's operator"
    );
    let listed = all(&app, &format!("{base}/connections"), &admin, "id").await;
    assert_eq!(listed, ids(&connections));
    let listed = all(&app, "/v1/oauth-apps", &op, "provider").await;
    assert_eq!(listed, ["dropbox", "github", "gitlab", "google", "slack"]);
    let slugs = all(&app, "/v1/providers", &admin, "slug").await;
    let mut sorted = slugs.clone();
    sorted.sort();
    assert_eq!(slugs, sorted);
    assert_eq!(
        slugs.len(),
        connvault::catalog::KNOWN_PROVIDERS.len(),
        "the whole catalog"
    );
    assert_eq!(
        all(&app, &format!("{base}/integrations"), &admin, "provider").await,
        slugs
    );
}

crate::on_both_backends!(every_list_pages_with_a_cursor_and_refuses_limits_out_of_range,);
