//! `/docs`: the OpenAPI document rendered on the server, under a strict policy.

use axum::http::{Method, StatusCode};

use crate::support::TestDb;
use crate::support::api::TestApp;

/// `/docs` renders the document on the server: every operation with its summary,
/// description and examples, every schema with its constraints, no script, no
/// external asset, a strict content security policy.
async fn the_docs_page_renders_operations_and_schemas_under_a_strict_policy(t: TestDb) {
    let app = TestApp::new(t).await;
    let doc = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .json;
    let r = app.call(Method::GET, "/docs", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.starts_with("text/html"));
    let page = app.bodies.lock().unwrap().last().unwrap().1.clone();
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(!page.contains("<script"), "no script");
    assert!(!page.contains(" style=\""), "no inline style");
    assert!(!page.contains("src="), "no external asset");
    for link in page.split("href=\"").skip(1) {
        let target = link.split('"').next().unwrap();
        assert!(
            target.starts_with('#') || ["/openapi.json", "/docs/style.css"].contains(&target),
            "a link out of the page: {target}"
        );
    }
    let escaped = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(page.contains(&format!("id=\"{id}\"")), "{method} {path}");
            assert!(
                page.contains(&escaped(op["summary"].as_str().unwrap())),
                "{id}"
            );
            let first_words: String = op["description"]
                .as_str()
                .unwrap()
                .chars()
                .take(25)
                .collect();
            let first_words = first_words.split('`').next().unwrap();
            assert!(page.contains(&escaped(first_words)), "{id}: {first_words}");
        }
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(
            page.contains(&format!("id=\"schema-{name}\"")),
            "schema {name}"
        );
    }
    assert!(page.contains("max length 64"), "constraints are shown");
    assert!(page.contains("maximum 1800"));
    assert!(
        page.contains("&quot;external_id&quot;"),
        "examples are shown"
    );
    let r = app.call(Method::GET, "/docs/style.css", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.starts_with("text/css"));
}

crate::on_both_backends!(the_docs_page_renders_operations_and_schemas_under_a_strict_policy,);
