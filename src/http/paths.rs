//! Path parameters shared by many operations, declared once for the OpenAPI document.
//! Handlers extract the typed ids with `ApiPath<TenantId>` or
//! `ApiPath<(TenantId, ConnectionId)>`.

use uuid::Uuid;

/// `/v1/tenants/{tenant_id}/…`
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TenantPath {
    /// Tenant id
    tenant_id: Uuid,
}

/// `/v1/tenants/{tenant_id}/connections/{connection_id}/…`
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ConnectionPath {
    /// Tenant id
    tenant_id: Uuid,
    /// Connection id
    connection_id: Uuid,
}
