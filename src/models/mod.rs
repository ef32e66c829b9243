//! SeaORM entities, one file per table, and the validated value types the rest of
//! the crate passes around instead of bare strings and UUIDs.

pub mod activity;
pub mod api_key;
pub mod checks;
pub mod connect_session;
pub mod connection;
pub mod console_session_revocation;
pub mod credential_secret;
pub mod encryption_key;
pub mod event;
pub mod event_delivery;
pub mod event_endpoint;
pub mod ids;
pub mod json;
pub mod oauth_app;
pub mod operation_run;
pub mod operation_type;
pub mod operator_key;
pub mod provider;
pub mod repository_connection;
pub mod repository_url;
pub mod tenant;
pub mod webhook_event;

pub use ids::{ConnectionId, ExternalId, ProviderSlug, TenantId};
pub use repository_url::{RepositoryHosts, RepositoryUrl, ServiceType};
