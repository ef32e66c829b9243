//! The delivery ledger: fan-out of new events to their endpoints, claims of due
//! deliveries (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's write lock), the outcome
//! of each attempt (only by the claim's holder), lists, manual retries and the purge.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::{Owner, WorkerTxn, endpoints, in_scope};
use crate::error::Result;
use crate::models::event_delivery::{self, DeliveryStatus, attempt};
use crate::models::{event, event_endpoint};
use crate::repositories::page::{self, Cursor, Page, PageResult, Position};

/// Makes the deliveries of up to `limit` events not yet fanned out, oldest first, one
/// per enabled endpoint that wants each (the unique index keeps it at one). Returns
/// how many events were handled.
pub async fn dispatch(db: &DatabaseConnection, limit: u64, now: DateTime<Utc>) -> Result<usize> {
    let txn = WorkerTxn::begin(db).await?;
    let mut query = event::Entity::find()
        .filter(event::Column::DispatchedAt.is_null())
        .order_by_asc(event::Column::CreatedAt)
        .order_by_asc(event::Column::Id)
        .limit(limit);
    if db.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let events = query.all(txn.txn()).await?;
    let mut endpoints_of: HashMap<Option<Uuid>, Vec<event_endpoint::Model>> = HashMap::new();
    for ev in &events {
        if let std::collections::hash_map::Entry::Vacant(slot) = endpoints_of.entry(ev.tenant_id) {
            slot.insert(endpoints::enabled_for(&txn, ev.tenant_id).await?);
        }
        let rows: Vec<event_delivery::ActiveModel> = endpoints_of[&ev.tenant_id]
            .iter()
            .filter(|e| e.wants(&ev.event_type))
            .map(|e| event_delivery::ActiveModel {
                id: Set(Uuid::new_v4()),
                tenant_id: Set(e.tenant_id),
                event_id: Set(ev.id),
                endpoint_id: Set(e.id),
                event_type: Set(ev.event_type.clone()),
                status: Set(DeliveryStatus::Pending),
                attempts: Set(0),
                next_attempt_at: Set(Some(ev.created_at)),
                lease_token: Set(None),
                last_status_code: Set(None),
                last_error: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect();
        if !rows.is_empty() {
            event_delivery::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        event_delivery::Column::EventId,
                        event_delivery::Column::EndpointId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(txn.txn())
                .await?;
        }
    }
    if !events.is_empty() {
        event::Entity::update_many()
            .col_expr(
                event::Column::DispatchedAt,
                sea_orm::sea_query::Expr::value(Some(now)),
            )
            .filter(event::Column::Id.is_in(events.iter().map(|e| e.id)))
            .exec(txn.txn())
            .await?;
    }
    txn.commit().await?;
    Ok(events.len())
}

/// A delivery a worker holds: send `body` to `endpoint`, then [`finish`] with `token`.
#[derive(Clone)]
pub struct Claimed {
    pub delivery: event_delivery::Model,
    pub token: Uuid,
    pub body: String,
    pub endpoint: event_endpoint::Model,
}

/// Takes up to `limit` due pending deliveries, soonest first, skipping those another
/// worker is taking: each gets a new lease token, one more attempt, and its next
/// attempt moved `lease` ahead (so a worker that dies mid-send leaves it due again
/// then).
pub async fn claim(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    limit: u64,
    lease: Duration,
) -> Result<Vec<Claimed>> {
    let txn = WorkerTxn::begin(db).await?;
    let mut query = event_delivery::Entity::find()
        .filter(event_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .filter(event_delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(event_delivery::Column::NextAttemptAt)
        .order_by_asc(event_delivery::Column::Id)
        .limit(limit);
    if db.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let due = query.all(txn.txn()).await?;
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(1));
    let mut claimed = Vec::with_capacity(due.len());
    let events: HashMap<Uuid, String> = event::Entity::find()
        .filter(event::Column::Id.is_in(due.iter().map(|d| d.event_id)))
        .all(txn.txn())
        .await?
        .into_iter()
        .map(|e| (e.id, e.body))
        .collect();
    let ends: HashMap<Uuid, event_endpoint::Model> =
        endpoints::by_ids(&txn, due.iter().map(|d| d.endpoint_id).collect())
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
    for d in due {
        let token = Uuid::new_v4();
        let mut active: event_delivery::ActiveModel = d.clone().into();
        active.lease_token = Set(Some(token));
        active.attempts = Set(d.attempts + 1);
        active.next_attempt_at = Set(Some(until));
        active.updated_at = Set(now);
        let delivery = active.update(txn.txn()).await?;
        let (Some(body), Some(endpoint)) = (events.get(&d.event_id), ends.get(&d.endpoint_id))
        else {
            continue;
        };
        claimed.push(Claimed {
            delivery,
            token,
            body: body.clone(),
            endpoint: endpoint.clone(),
        });
    }
    txn.commit().await?;
    Ok(claimed)
}

/// What an attempt came to.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub status_code: Option<u16>,
    pub error_class: Option<&'static str>,
    pub attempted_at: DateTime<Utc>,
    pub latency_ms: i64,
}

/// Records the attempt of a claimed delivery, if the claim still holds it (a manual
/// retry meanwhile takes it back: then nothing is written and `false` comes back).
pub async fn finish(txn: &WorkerTxn, claimed: &Claimed, outcome: &Outcome) -> Result<bool> {
    let d = &claimed.delivery;
    let result = event_delivery::Entity::update_many()
        .set(event_delivery::ActiveModel {
            status: Set(outcome.status),
            next_attempt_at: Set(outcome.next_attempt_at),
            lease_token: Set(None),
            last_status_code: Set(outcome.status_code.map(i32::from)),
            last_error: Set(outcome.error_class.map(str::to_owned)),
            updated_at: Set(crate::repositories::now()),
            ..Default::default()
        })
        .filter(event_delivery::Column::Id.eq(d.id))
        .filter(event_delivery::Column::LeaseToken.eq(claimed.token))
        .exec(txn.txn())
        .await?;
    if result.rows_affected != 1 {
        return Ok(false);
    }
    attempt::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(d.tenant_id),
        delivery_id: Set(d.id),
        endpoint_id: Set(d.endpoint_id),
        attempt: Set(d.attempts),
        attempted_at: Set(outcome.attempted_at),
        status_code: Set(outcome.status_code.map(i32::from)),
        latency_ms: Set(outcome.latency_ms),
        error_class: Set(outcome.error_class.map(str::to_owned)),
    }
    .insert(txn.txn())
    .await?;
    Ok(true)
}

/// Fails the pending deliveries of a disabled endpoint (not the ones a worker is
/// sending: their outcome is recorded as it comes).
pub async fn fail_pending(txn: &WorkerTxn, endpoint: Uuid, reason: &str) -> Result<u64> {
    let result = event_delivery::Entity::update_many()
        .set(event_delivery::ActiveModel {
            status: Set(DeliveryStatus::Failed),
            next_attempt_at: Set(None),
            last_error: Set(Some(reason.to_owned())),
            updated_at: Set(crate::repositories::now()),
            ..Default::default()
        })
        .filter(event_delivery::Column::EndpointId.eq(endpoint))
        .filter(event_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .filter(event_delivery::Column::LeaseToken.is_null())
        .exec(txn.txn())
        .await?;
    Ok(result.rows_affected)
}

/// A delivery with its attempts, oldest attempt first.
pub type WithAttempts = (event_delivery::Model, Vec<attempt::Model>);

/// One page of an endpoint's deliveries, newest first, each with its attempts.
pub async fn list(
    db: &DatabaseConnection,
    owner: Owner,
    endpoint: Uuid,
    page: Page,
) -> Result<PageResult<WithAttempts>> {
    let limit = page.effective_limit();
    let mut query = event_delivery::Entity::find()
        .filter(event_delivery::Column::EndpointId.eq(endpoint))
        .filter(whose(owner));
    if let Some(cursor) = page.after.as_deref() {
        let after = Position::decode(cursor)?;
        query = query.filter(
            event_delivery::Column::CreatedAt.lt(after.created_at).or(
                event_delivery::Column::CreatedAt
                    .eq(after.created_at)
                    .and(event_delivery::Column::Id.lt(after.id)),
            ),
        );
    }
    let query = query
        .order_by_desc(event_delivery::Column::CreatedAt)
        .order_by_desc(event_delivery::Column::Id)
        .limit(limit + 1);
    let items = in_scope(db, owner, false, async |db| {
        let deliveries = query.all(db).await?;
        let mut attempts: HashMap<Uuid, Vec<attempt::Model>> = HashMap::new();
        if !deliveries.is_empty() {
            let rows = attempt::Entity::find()
                .filter(attempt::Column::DeliveryId.is_in(deliveries.iter().map(|d| d.id)))
                .order_by_asc(attempt::Column::Attempt)
                .order_by_asc(attempt::Column::AttemptedAt)
                .all(db)
                .await?;
            for a in rows {
                attempts.entry(a.delivery_id).or_default().push(a);
            }
        }
        Ok(deliveries
            .into_iter()
            .map(|d| {
                let a = attempts.remove(&d.id).unwrap_or_default();
                (d, a)
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(page::finish(items, limit, |(d, _)| Position {
        created_at: d.created_at,
        id: d.id,
    }))
}

fn whose(owner: Owner) -> sea_orm::Condition {
    let col = event_delivery::Column::TenantId;
    match owner.tenant_uuid() {
        Some(t) => sea_orm::Condition::all().add(col.eq(t)),
        None => sea_orm::Condition::all().add(col.is_null()),
    }
}

/// Makes a delivery of the endpoint due now again, whatever its status (a worker
/// sending it meanwhile loses its claim). The delivery as it is now, or `None`.
pub async fn retry(
    db: &DatabaseConnection,
    owner: Owner,
    endpoint: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<event_delivery::Model>> {
    let update = event_delivery::Entity::update_many()
        .set(event_delivery::ActiveModel {
            status: Set(DeliveryStatus::Pending),
            next_attempt_at: Set(Some(now)),
            lease_token: Set(None),
            updated_at: Set(now),
            ..Default::default()
        })
        .filter(event_delivery::Column::Id.eq(id))
        .filter(event_delivery::Column::EndpointId.eq(endpoint))
        .filter(whose(owner));
    let query = event_delivery::Entity::find_by_id(id).filter(whose(owner));
    in_scope(db, owner, true, async |db| {
        if update.exec(db).await?.rows_affected != 1 {
            return Ok(None);
        }
        Ok(query.one(db).await?)
    })
    .await
}

/// Deletes the events written before `before`, with their deliveries and attempts.
pub async fn purge(db: &DatabaseConnection, before: DateTime<Utc>) -> Result<u64> {
    let txn = WorkerTxn::begin(db).await?;
    let result = event::Entity::delete_many()
        .filter(event::Column::CreatedAt.lt(before))
        .exec(txn.txn())
        .await?;
    txn.commit().await?;
    Ok(result.rows_affected)
}
