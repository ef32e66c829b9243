//! The activity entries of runs (blocked, completed, cancelled), written in the
//! transaction that changes the run. Details name the run, never its params.

use serde_json::json;

use crate::error::Result;
use crate::models::activity::Action;
use crate::models::operation_run;
use crate::repositories::activity::{self, Actor, Entry};
use crate::tenancy::TenantTxn;

/// Records `action` about `run` by `actor`: run id, type, outcome and reason code.
pub async fn record_run(
    txn: &TenantTxn,
    actor: &Actor,
    run: &operation_run::Model,
    action: Action,
) -> Result<()> {
    let provider = run.context.get("provider").and_then(|p| p.as_str());
    let entry = Entry {
        connection_id: run.connection_id,
        provider_slug: provider,
        action,
        details: json!({
            "run_id": run.id,
            "type": run.operation_type,
            "outcome": run.outcome,
            "reason_code": run.reason_code,
        }),
    };
    activity::record(txn, txn.tenant(), actor, entry).await?;
    Ok(())
}
