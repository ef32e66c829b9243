//! Loads what the gate needs and asks it ([`super::gate::decide`]): used when a run
//! starts and again when a worker claims it.

use url::Url;
use uuid::Uuid;

use super::gate::{self, Candidate, Decision, Question};
use crate::error::{Error, Result};
use crate::models::{ProviderSlug, TenantId, operation_type, provider};
use crate::repositories::connections;
use crate::services::credentials::CredentialKind;
use crate::tenancy::TenantScope;

/// The gate's decision for a run of `op_type` in `tenant`, on the `named` connection
/// or the one resolution picks. A named connection the tenant does not have is
/// `NotFound("connection")`; one of another provider is a validation error on
/// `connection_id`.
pub async fn evaluate<C: TenantScope>(
    db: &C,
    tenant: TenantId,
    op_type: &operation_type::Model,
    provider: &provider::Model,
    named: Option<Uuid>,
    public_url: &Url,
) -> Result<Decision> {
    let slug = ProviderSlug::parse(&op_type.provider_slug)?;
    let rows = connections::gate_candidates(db, tenant, &slug, named).await?;
    if named.is_some() {
        let Some((c, _)) = rows.first() else {
            return Err(Error::NotFound("connection"));
        };
        if c.provider_slug != op_type.provider_slug {
            return Err(Error::invalid(
                "connection_id",
                format!(
                    "the connection is a {} connection; {} runs on {}",
                    c.provider_slug, op_type.operation_type, op_type.provider_slug
                ),
            ));
        }
    }
    let candidates = rows
        .into_iter()
        .map(|(connection, kind)| {
            Ok(Candidate {
                connection,
                credential: kind.as_deref().map(CredentialKind::parse).transpose()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let question = Question {
        tenant,
        provider: &slug,
        provider_name: &provider.display_name,
        required_scopes: &op_type.required_scopes.0,
        public_url,
    };
    Ok(gate::decide(&question, named.is_some(), &candidates))
}
