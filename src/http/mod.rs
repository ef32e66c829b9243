//! The HTTP surface served by `connvault serve`: JSON under `/v1`, problem+json errors,
//! API-key authentication, `/healthz` and `/readyz`.

mod activity;
pub mod auth;
mod connection_tests;
mod connections;
mod credentials;
mod docs;
pub mod error;
mod events;
mod examples;
mod extract;
pub(crate) mod health;
pub mod metrics;
pub mod oauth;
mod oauth_apps;
pub mod openapi;
mod operation_types;
mod operations;
mod paging;
mod paths;
pub mod problems;
mod providers;
mod repositories;
mod repository_views;
pub mod request_id;
mod schemas;
mod tenants;
pub mod views;
mod webhooks;
pub mod worker;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::{delete, get, post};
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::crypto::Keyring;
use crate::services::health::{HealthChecker, HealthOptions};
use crate::services::key_cache::KeyCache;
use crate::services::refresh::{RefreshOptions, Refresher};
use url::Url;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub keyring: Keyring,
    pub metrics: Arc<metrics::Metrics>,
    pub refresher: Refresher,
    /// Connection tests and scheduled health checks.
    pub health: HealthChecker,
    /// Where end users reach this service: the base of connect links and of the OAuth
    /// redirect URIs registered with providers.
    pub public_url: Url,
    /// Inbound webhooks: the body limit and the failure counts.
    pub inbound: Arc<crate::services::inbound::Inbound>,
    /// The client for Git services' APIs (webhook registration).
    pub git_http: reqwest::Client,
    /// Outbound events: the URL rules and the secret overlap endpoints are managed by.
    pub events: Arc<crate::services::events::EventOptions>,
    /// API keys already authenticated; serves only while something watches it
    /// (`KeyCache::watch`, started by `serve`).
    pub keys: KeyCache,
    /// The web pages' options and signing key (`crate::web`).
    pub web: crate::web::SharedWeb,
}

/// The public URL when none is configured.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

impl AppState {
    pub fn new(db: DatabaseConnection, keyring: Keyring) -> Self {
        Self::with_oauth(
            db,
            keyring,
            Url::parse(DEFAULT_PUBLIC_URL).expect("valid default"),
            RefreshOptions::default(),
        )
    }

    pub fn with_oauth(
        db: DatabaseConnection,
        keyring: Keyring,
        public_url: Url,
        options: RefreshOptions,
    ) -> Self {
        let refresher = Refresher::new(db.clone(), keyring.clone(), options);
        let web = Arc::new(crate::web::Web::new(
            &keyring,
            &public_url,
            crate::web::WebOptions::default(),
        ));
        Self {
            web,
            health: HealthChecker::new(
                db.clone(),
                keyring.clone(),
                refresher.clone(),
                HealthOptions::default(),
            ),
            refresher,
            db,
            keyring,
            metrics: Default::default(),
            public_url,
            inbound: Default::default(),
            git_http: crate::services::repositories::hooks::client(),
            events: Default::default(),
            keys: KeyCache::default(),
        }
    }

    /// The same state with an API-key cache of at most `capacity` keys (0: none).
    pub fn with_key_cache(mut self, capacity: usize) -> Self {
        self.keys = KeyCache::new(capacity);
        self
    }

    /// The same state with inbound deliveries limited to `max_bytes`.
    pub fn with_webhook_max_bytes(mut self, max_bytes: usize) -> Self {
        self.inbound = Arc::new(crate::services::inbound::Inbound::new(max_bytes));
        self
    }
}

impl AppState {
    /// The same state with outbound events managed under `options`.
    pub fn with_events(mut self, options: crate::services::events::EventOptions) -> Self {
        self.events = Arc::new(options);
        self
    }

    /// The same state with the web pages behaving as `options` say.
    pub fn with_web(mut self, options: crate::web::WebOptions) -> Self {
        self.web = Arc::new(crate::web::Web::new(
            &self.keyring,
            &self.public_url,
            options,
        ));
        self
    }

    /// The same state with health checks behaving as `options` say.
    pub fn with_health(mut self, options: HealthOptions) -> Self {
        self.health = HealthChecker::new(
            self.db.clone(),
            self.keyring.clone(),
            self.refresher.clone(),
            options,
        );
        self
    }
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(request_id::HEADER);
    let tenant = "/v1/tenants/{tenant_id}";
    let connection = "/v1/tenants/{tenant_id}/connections/{connection_id}";
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route(tenant, get(tenants::get))
        .route(
            &format!("{tenant}/api-keys"),
            post(tenants::create_tenant_key).get(tenants::list_tenant_keys),
        )
        .route(&format!("{tenant}/api-keys/{{key_id}}"), delete(tenants::revoke_tenant_key))
        .route(
            "/v1/api-keys",
            post(tenants::create_operator_key).get(tenants::list_operator_keys),
        )
        .route("/v1/api-keys/{key_id}", delete(tenants::revoke_operator_key))
        .route("/v1/providers", get(providers::list))
        .route("/v1/providers/{slug}", get(providers::get).put(providers::upsert))
        .route(
            &format!("{tenant}/connections"),
            post(connections::create).get(connections::list),
        )
        .route(
            connection,
            get(connections::get)
                .patch(connections::update)
                .delete(connections::delete),
        )
        .route(
            &format!("{connection}/credentials"),
            get(credentials::read_credentials).put(credentials::replace_credentials),
        )
        .route(&format!("{connection}/default"), post(connections::make_default))
        .route(&format!("{connection}/disconnect"), post(connections::disconnect))
        .route(&format!("{connection}/test"), post(connection_tests::test))
        .route(&format!("{tenant}/integrations"), get(activity::integrations))
        .route("/v1/oauth-apps", get(oauth_apps::list_apps))
        .route(
            "/v1/oauth-apps/{provider}",
            get(oauth_apps::get_app)
                .put(oauth_apps::set_app)
                .delete(oauth_apps::delete_app),
        )
        .route(&format!("{tenant}/connect-sessions"), post(oauth::create_session))
        .route(
            &format!("{tenant}/connect-sessions/{{session_id}}"),
            get(oauth::get_session),
        )
        .route("/oauth/callback/{provider}", get(oauth::callback))
        .route(&format!("{tenant}/activity"), get(activity::list))
        .route(
            &format!("{tenant}/repositories"),
            axum::routing::put(repositories::upsert).get(repositories::list),
        )
        .route(&format!("{tenant}/webhook-events"), get(repositories::events))
        .route(
            "/webhooks/{connection_id}",
            post(webhooks::receive).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/operation-types", get(operation_types::list))
        .route(
            "/v1/operation-types/{type}",
            get(operation_types::get)
                .put(operation_types::put)
                .delete(operation_types::delete),
        )
        .route(
            &format!("{tenant}/operations"),
            post(operations::start).get(operations::list),
        )
        .route(&format!("{tenant}/operations/{{run_id}}"), get(operations::get))
        .route(
            &format!("{tenant}/operations/{{run_id}}/cancel"),
            post(operations::cancel),
        )
        .route(
            &format!("{tenant}/event-endpoints"),
            post(events::tenant::create).get(events::tenant::list),
        )
        .route(
            &format!("{tenant}/event-endpoints/{{endpoint_id}}"),
            get(events::tenant::get)
                .patch(events::tenant::update)
                .delete(events::tenant::delete),
        )
        .route(
            &format!("{tenant}/event-endpoints/{{endpoint_id}}/rotate-secret"),
            post(events::tenant::rotate),
        )
        .route(
            &format!("{tenant}/event-endpoints/{{endpoint_id}}/deliveries"),
            get(events::tenant::deliveries),
        )
        .route(
            &format!("{tenant}/event-endpoints/{{endpoint_id}}/deliveries/{{delivery_id}}/retry"),
            post(events::tenant::retry),
        )
        .route(
            "/v1/event-endpoints",
            post(events::deployment::create).get(events::deployment::list),
        )
        .route(
            "/v1/event-endpoints/{endpoint_id}",
            get(events::deployment::get)
                .patch(events::deployment::update)
                .delete(events::deployment::delete),
        )
        .route(
            "/v1/event-endpoints/{endpoint_id}/rotate-secret",
            post(events::deployment::rotate),
        )
        .route(
            "/v1/event-endpoints/{endpoint_id}/deliveries",
            get(events::deployment::deliveries),
        )
        .route(
            "/v1/event-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
            post(events::deployment::retry),
        )
        .route("/v1/operations/claim", post(worker::claim))
        .route("/v1/operations/{run_id}/heartbeat", post(worker::heartbeat))
        .route("/v1/operations/{run_id}/complete", post(worker::complete))
        .route("/v1/operations/{run_id}/credentials", get(worker::credentials))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(docs::page))
        .route("/docs/style.css", get(docs::style))
        .merge(crate::web::routes(state.clone()))
        .fallback(|| async { error::ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this resource does not support that method",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_owned();
                // A connect link's path is its single-use token: keep it out of logs.
                let path = match req.uri().path() {
                    p if p.starts_with("/connect/") => "/connect/{token}",
                    p => p,
                };
                tracing::info_span!("request", method = %req.method(), path = %path, request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(axum::middleware::map_request(request_id::sanitize))
        .with_state(state)
}
