//! The operation-type registry over HTTP: validation with stable codes, nothing
//! written on bad input, and no deleting a type that has runs.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::api::setup;
use crate::support::TestDb;

async fn operation_types_are_validated_and_a_type_with_runs_cannot_be_deleted(t: TestDb) {
    let s = setup(t).await;
    let app = &s.app;
    let put = |name: &str, body: serde_json::Value| {
        let path = format!("/v1/operation-types/{name}");
        async move {
            app.call(Method::PUT, &path, Some(&app.operator), Some(body))
                .await
        }
    };
    let good = json!({"provider": "stripe", "module": "billing"});
    let before = app.t.count("operation_types").await;
    for (name, body, code, field) in [
        ("Bad.Name", good.clone(), "validation_failed", "type"),
        ("a..b", good.clone(), "validation_failed", "type"),
        (
            "x.y",
            json!({"provider": "nope", "module": "m"}),
            "unknown_provider",
            "provider",
        ),
        (
            "x.y",
            json!({"provider": "Bad!", "module": "m"}),
            "invalid_slug",
            "provider",
        ),
        (
            "x.y",
            json!({"provider": "stripe", "module": ""}),
            "validation_failed",
            "module",
        ),
        (
            "x.y",
            json!({"provider": "stripe", "module": "m", "max_attempts": 0}),
            "validation_failed",
            "max_attempts",
        ),
        (
            "x.y",
            json!({"provider": "stripe", "module": "m", "max_attempts": 101}),
            "validation_failed",
            "max_attempts",
        ),
        (
            "x.y",
            json!({"provider": "stripe", "module": "m", "heartbeat_timeout_seconds": 4}),
            "validation_failed",
            "heartbeat_timeout_seconds",
        ),
        (
            "x.y",
            json!({"provider": "stripe", "module": "m", "heartbeat_timeout_seconds": 86401}),
            "validation_failed",
            "heartbeat_timeout_seconds",
        ),
        (
            "x.y",
            json!({"provider": "stripe", "module": "m", "required_scopes": ["a b"]}),
            "validation_failed",
            "required_scopes",
        ),
        (
            "x.y",
            json!({"provider": "stripe", "module": "m", "surprise": 1}),
            "unknown_field",
            "surprise",
        ),
    ] {
        let r = put(name, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name} {body}: {}",
            r.json
        );
        assert_eq!(r.json["code"], code, "{name} {body}: {}", r.json);
        assert_eq!(r.json["field"], field, "{name} {body}: {}", r.json);
    }
    assert_eq!(app.t.count("operation_types").await, before);

    // Create, replace, read.
    let r = put(
        "x.y",
        json!({"provider": "stripe", "module": "m", "required_scopes": ["a", "a", "b"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["required_scopes"], json!(["a", "b"]));
    assert_eq!(r.json["max_attempts"], 3);
    assert_eq!(r.json["dedupe"], true);
    let r = put("x.y", json!({"provider": "slack", "module": "m2", "max_attempts": 100, "heartbeat_timeout_seconds": 5, "dedupe": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = app.get("/v1/operation-types/x.y", &s.service).await;
    assert_eq!(r.json["provider"], "slack");
    assert_eq!(r.json["max_attempts"], 100);
    assert_eq!(r.json["type"], "x.y");
    let r = app.get("/v1/operation-types/nope.nope", &s.service).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get("/v1/operation-types?limit=2", &s.service).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
    let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(
            &format!("/v1/operation-types?limit=2&cursor={cursor}"),
            &s.service,
        )
        .await;
    let names: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chat.post", "x.y"]);

    // A type without runs is deleted; one with runs is kept.
    let r = app
        .call(
            Method::DELETE,
            "/v1/operation-types/x.y",
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .call(
            Method::DELETE,
            "/v1/operation-types/x.y",
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.start(json!({"type": "billing.sync"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        app.t
            .count("operation_runs WHERE operation_type = 'billing.sync'")
            .await,
        1
    );
    let r = app
        .call(
            Method::DELETE,
            "/v1/operation-types/billing.sync",
            Some(&app.operator),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.json);
    assert_eq!(r.json["code"], "operation_type_in_use");
    assert_eq!(
        app.get("/v1/operation-types/billing.sync", &s.admin)
            .await
            .status,
        StatusCode::OK
    );
}

crate::on_both_backends!(operation_types_are_validated_and_a_type_with_runs_cannot_be_deleted,);
