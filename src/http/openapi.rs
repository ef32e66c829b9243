//! The OpenAPI 3.1 document, generated from the handlers' annotations (each handler's
//! doc comment is its summary and description). `/docs` renders it (`docs.rs`).

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    activity, connection_tests, connections, credentials, events, health, metrics, oauth,
    oauth_apps, operation_types, operations, providers, repositories, repository_views, tenants,
    views, webhooks, worker,
};
use crate::models::activity::Action;
use crate::models::api_key::Role;
use crate::models::connection::{ConnectionStatus, HealthStatus};
use crate::models::json::{AuthMode, HealthCheck};
use crate::services::credentials::{Credential, CredentialKind};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "connvault",
        description = "Tenant-scoped connections to external providers, with their credentials encrypted at rest. Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`; a problem names the field that is wrong, never its value. Every list pages the same way: `limit` 1 to 200 (default 50), and the `next_cursor` of a page as the `cursor` of the next; anything else is a 400 `invalid_query`. Bodies are JSON, at most 64 KiB."
    ),
    tags(
        (name = "tenants", description = "Tenants: the isolation boundary (operators)"),
        (name = "api-keys", description = "API keys: operator keys, and each tenant's admin, service and viewer keys; secrets shown once"),
        (name = "providers", description = "The provider catalog"),
        (name = "connections", description = "A tenant's connections to providers, with their encrypted credentials"),
        (name = "credentials", description = "The decrypted credential, for the tenant's service keys"),
        (name = "integrations", description = "The catalog as one tenant sees it"),
        (name = "activity", description = "The append-only activity log of a tenant"),
        (name = "oauth", description = "OAuth apps, connect sessions, and the end user's side of the flow"),
        (name = "operation-types", description = "The registry of provider-backed operation types (operators write, any key reads)"),
        (name = "operation-runs", description = "A tenant's operation runs: started through the gate, listed, cancelled"),
        (name = "operations", description = "Probes and metrics (no key)"),
        (name = "repositories", description = "Repository connections (GitHub, GitLab, Bitbucket) and their verified inbound webhooks"),
        (name = "events", description = "Outbound events: endpoints (a tenant's, or deployment-wide for operators) that receive changes signed by the Standard Webhooks scheme, their deliveries and retries"),
        (name = "workers", description = "Worker keys: claim operation runs of every tenant, heartbeat and complete them, and read a claimed run's credential"),
    ),
    paths(
        tenants::create, tenants::list, tenants::get,
        tenants::create_tenant_key, tenants::list_tenant_keys, tenants::revoke_tenant_key,
        tenants::create_operator_key, tenants::list_operator_keys, tenants::revoke_operator_key,
        providers::list, providers::get, providers::upsert,
        connections::create, connections::list, connections::get, connections::update,
        credentials::replace_credentials, connections::make_default, connections::disconnect,
        connections::delete, credentials::read_credentials, connection_tests::test,
        activity::list, activity::integrations,
        oauth_apps::set_app, oauth_apps::list_apps, oauth_apps::get_app, oauth_apps::delete_app,
        oauth::create_session, oauth::get_session, oauth::callback,
        operation_types::put, operation_types::list, operation_types::get, operation_types::delete,
        operations::start, operations::list, operations::get, operations::cancel,
        health::healthz, health::readyz, metrics::render,
        repositories::upsert, repositories::list, repositories::events, webhooks::receive,
        worker::claim, worker::heartbeat, worker::complete, worker::credentials,
        events::tenant::create, events::tenant::list, events::tenant::get, events::tenant::update,
        events::tenant::delete, events::tenant::rotate, events::tenant::deliveries, events::tenant::retry,
        events::deployment::create, events::deployment::list, events::deployment::get,
        events::deployment::update, events::deployment::delete, events::deployment::rotate,
        events::deployment::deliveries, events::deployment::retry,
    ),
    components(schemas(
        views::TenantView, views::ApiKeyView, views::CreatedApiKeyView, views::ProviderView,
        views::ConnectionView, views::CredentialView, views::LastErrorView,
        views::CredentialSecretView, views::ActivityView, views::IntegrationView, views::Problem,
        views::ProviderUpsertBody, views::Page<views::TenantView>, views::Page<views::ApiKeyView>, views::Page<views::ProviderView>,
        views::Page<views::ConnectionView>, views::Page<views::ActivityView>, views::Page<views::IntegrationView>, views::Page<oauth_apps::OAuthAppView>,
        tenants::CreateTenant, tenants::CreateTenantKey, tenants::CreateOperatorKey, connections::CreateConnection,
        connections::UpdateConnection, connections::DisconnectedView, connection_tests::ConnectionTestView, Credential, CredentialKind, ConnectionStatus,
        crate::models::connect_session::SessionStatus,
        HealthStatus, Role, Action, AuthMode, HealthCheck, crate::models::provider::ManagedBy,
        oauth_apps::SetOAuthApp, oauth_apps::OAuthAppView, oauth::CreateConnectSession,
        super::schemas::Slug, super::schemas::ExternalIdText, super::schemas::Name,
        super::schemas::DisplayName, super::schemas::Scope, super::schemas::HttpsUrl,
        super::schemas::ReturnUrls, super::schemas::SessionScopes,
        super::schemas::TenantKeyRole, super::schemas::OperatorKeyRole,
        super::schemas::SettableStatus,
        oauth::ConnectSessionView, oauth::CreatedConnectSessionView,
        crate::repositories::oauth_apps::OAuthAppSummary,
        repositories::UpsertRepository, crate::models::ServiceType,
        repository_views::RepositoryView, repository_views::UpsertedRepositoryView,
        repository_views::WebhookEventView, repository_views::DeliveryView,
        views::Page<repository_views::RepositoryView>, views::Page<repository_views::WebhookEventView>,
        operation_types::PutOperationType, operations::StartOperation,
        operations::views::OperationTypeView, operations::views::RunView,
        operations::views::RunActorView, views::Page<operations::views::OperationTypeView>,
        views::Page<operations::views::RunView>,
        worker::views::ClaimBody, worker::views::OperationTypeName, worker::views::ClaimedRunView,
        worker::views::ClaimedView, worker::views::WorkerRunView,
        crate::services::operations::Completion, crate::services::operations::FailureSummary,
        crate::models::operation_run::RunStatus, crate::models::operation_run::RunOutcome,
        crate::models::operation_run::NextStep,
        events::views::EventTypeName, events::views::CreateEventEndpoint,
        events::views::UpdateEventEndpoint, events::views::EventEndpointView,
        events::views::EventEndpointSecretView, events::views::AttemptView,
        events::views::EventDeliveryView, crate::models::event_delivery::DeliveryStatus,
        views::Page<events::views::EventEndpointView>, views::Page<events::views::EventDeliveryView>,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
