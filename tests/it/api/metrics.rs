//! Prometheus metrics by route template and status.

use axum::http::{Method, StatusCode};

use crate::support::TestDb;
use crate::support::api::TestApp;

async fn metrics_count_requests_by_route_template_and_status(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let viewer = app.key(&tenant, "viewer").await;
    for _ in 0..3 {
        app.get(&format!("/v1/tenants/{tenant}"), &viewer).await;
    }
    app.get(&format!("/v1/tenants/{}", uuid::Uuid::new_v4()), &viewer)
        .await;
    let response = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.content_type.starts_with("text/plain"));
    let bodies = app.bodies.lock().unwrap();
    let text = &bodies.last().unwrap().1;
    assert!(
        text.contains("connvault_http_requests_total{method=\"GET\",route=\"/v1/tenants/{tenant_id}\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("route=\"/v1/tenants/{tenant_id}\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(text.contains("connvault_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/tenants/{tenant_id}\",status=\"200\"} 3"));
    assert!(text.contains("le=\"+Inf\"} 3"));
    assert!(
        !text.contains(&tenant),
        "labels hold route templates, not ids"
    );
    assert!(text.contains("connvault_db_pool_connections "));
}

crate::on_both_backends!(metrics_count_requests_by_route_template_and_status,);
