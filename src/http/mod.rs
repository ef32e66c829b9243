//! The HTTP surface served by `connvault serve`.

mod health;

use axum::Router;
use axum::routing::get;
use sea_orm::DatabaseConnection;

use crate::crypto::Keyring;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub keyring: Keyring,
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}
