//! `/healthz` and `/readyz` through the real router, in-process.

use axum::http::StatusCode;
use connvault::http::{AppState, router};

use crate::support::TestDb;
use crate::support::http::get_json;

async fn healthz_and_readyz_answer_when_the_database_does(t: TestDb) {
    let app = router(AppState::new(t.db.clone(), t.keyring().await));
    let (status, body) = get_json(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = get_json(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
}

async fn readyz_reports_unavailable_when_the_database_is_gone(t: TestDb) {
    let app = router(AppState::new(t.db.clone(), t.keyring().await));
    t.db.clone().close().await.unwrap();
    let (status, body) = get_json(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    let (status, _) = get_json(&app, "/healthz").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness does not depend on the database"
    );
}

crate::on_both_backends!(
    healthz_and_readyz_answer_when_the_database_does,
    readyz_reports_unavailable_when_the_database_is_gone,
);
