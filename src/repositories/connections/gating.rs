//! What the gate of a provider-backed operation reads: the connection a run would use,
//! and the kind of credential stored for it. Reads only.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::scoped;
use crate::error::Result;
use crate::models::{ProviderSlug, TenantId, connection, credential_secret};
use crate::tenancy::{self, TenantScope};

/// A connection and the kind of its stored credential (`None`: nothing stored).
pub type GateRow = (connection::Model, Option<String>);

/// The connections the gate chooses among, each with its credential kind, in one
/// scope: the `named` one when given (with any provider; empty when the tenant has no
/// such connection), else the provider's default when there is one, else at most two
/// of the provider's connections, oldest first (enough to tell "the only one" from
/// "several, none default").
pub async fn gate_candidates<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    provider: &ProviderSlug,
    named: Option<Uuid>,
) -> Result<Vec<GateRow>> {
    let base = scoped(tenant);
    let provider = provider.as_str().to_owned();
    tenancy::read(db, tenant, async |db| {
        let connections = match named {
            Some(id) => base.filter(connection::Column::Id.eq(id)).all(db).await?,
            None => {
                let of_provider = base.filter(connection::Column::ProviderSlug.eq(provider));
                let default = of_provider
                    .clone()
                    .filter(connection::Column::IsDefault.eq(true))
                    .one(db)
                    .await?;
                match default {
                    Some(d) => vec![d],
                    None => {
                        of_provider
                            .order_by_asc(connection::Column::CreatedAt)
                            .order_by_asc(connection::Column::Id)
                            .limit(2)
                            .all(db)
                            .await?
                    }
                }
            }
        };
        let mut rows = Vec::with_capacity(connections.len());
        for c in connections {
            let kind: Option<String> = credential_secret::Entity::find()
                .filter(credential_secret::Column::TenantId.eq(c.tenant_id))
                .filter(credential_secret::Column::ConnectionId.eq(c.id))
                .select_only()
                .column(credential_secret::Column::Kind)
                .limit(1)
                .into_tuple()
                .one(db)
                .await?;
            rows.push((c, kind));
        }
        Ok(rows)
    })
    .await
}
