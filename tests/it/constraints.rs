//! The database itself enforces the invariants, whatever code writes to it: the
//! unique tuple, both foreign keys, the single default, the status values, and the
//! index that serves a tenant's list for one provider. SQLite pragmas are checked on
//! every pooled connection.

use connvault::models::connection::{self, ConnectionStatus, HealthStatus};
use connvault::models::json::StringList;
use connvault::models::{TenantId, tenant};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set, SqlErr, Statement};
use uuid::Uuid;

use crate::support::{Backend, TestDb, connection};

fn raw_row(
    tenant: Uuid,
    provider: &str,
    external_id: &str,
    is_default: bool,
) -> connection::ActiveModel {
    let now = chrono::Utc::now();
    connection::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(tenant),
        provider_slug: Set(provider.to_owned()),
        external_id: Set(external_id.to_owned()),
        display_name: Set(None),
        status: Set(ConnectionStatus::Active),
        health_status: Set(HealthStatus::Unknown),
        is_default: Set(is_default),
        scopes_granted: Set(StringList::default()),
        token_expires_at: Set(None),
        last_health_check_at: Set(None),
        last_error_reason_code: Set(None),
        last_error_message: Set(None),
        metadata: Set(serde_json::json!({})),
        created_at: Set(now),
        updated_at: Set(now),
        refresh_lease_until: Set(None),
        refresh_lease_owner: Set(None),
        last_refreshed_at: Set(None),
        refresh_retry_at: Set(None),
        refresh_failures: Set(0),
        health_check_due_at: Set(None),
        health_lease_until: Set(None),
        health_lease_owner: Set(None),
    }
}

async fn insert_raw(t: &TestDb, row: connection::ActiveModel) -> Result<(), DbErr> {
    connection::Entity::insert(row)
        .exec_without_returning(&t.owner)
        .await
        .map(|_| ())
}

async fn the_database_refuses_a_duplicate_tuple(t: TestDb) {
    let tenant = crate::support::tenant(&t).await;
    insert_raw(&t, raw_row(tenant.as_uuid(), "slack", "T1", false))
        .await
        .unwrap();
    let err = insert_raw(&t, raw_row(tenant.as_uuid(), "slack", "T1", false))
        .await
        .unwrap_err();
    assert!(
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{err}"
    );
}

async fn the_database_refuses_an_unknown_tenant_or_provider(t: TestDb) {
    let tenant = crate::support::tenant(&t).await;
    let err = insert_raw(&t, raw_row(Uuid::new_v4(), "slack", "T1", false))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ),
        "{err}"
    );
    let err = insert_raw(&t, raw_row(tenant.as_uuid(), "myspace", "T1", false))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ),
        "{err}"
    );
    assert_eq!(t.count("connections").await, 0);
}

async fn the_database_allows_at_most_one_default_per_tenant_and_provider(t: TestDb) {
    let a = crate::support::tenant(&t).await;
    let b = crate::support::tenant(&t).await;
    insert_raw(&t, raw_row(a.as_uuid(), "slack", "T1", true))
        .await
        .unwrap();
    // Non-defaults, other providers and other tenants are not constrained.
    insert_raw(&t, raw_row(a.as_uuid(), "slack", "T2", false))
        .await
        .unwrap();
    insert_raw(&t, raw_row(a.as_uuid(), "slack", "T3", false))
        .await
        .unwrap();
    insert_raw(&t, raw_row(a.as_uuid(), "github", "T1", true))
        .await
        .unwrap();
    insert_raw(&t, raw_row(b.as_uuid(), "slack", "T1", true))
        .await
        .unwrap();
    let err = insert_raw(&t, raw_row(a.as_uuid(), "slack", "T4", true))
        .await
        .unwrap_err();
    assert!(
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{err}"
    );
    let err = t
        .exec("UPDATE connections SET is_default = TRUE WHERE external_id = 'T2'")
        .await
        .unwrap_err();
    assert!(
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{err}"
    );
}

async fn the_database_refuses_an_unknown_status(t: TestDb) {
    let tenant = crate::support::tenant(&t).await;
    let c = connection(&t, tenant, "slack", "T1").await;
    let err = t
        .exec(&format!(
            "UPDATE connections SET status = 'zombie' WHERE external_id = '{}'",
            c.external_id
        ))
        .await;
    assert!(err.is_err(), "a CHECK constraint refuses unknown statuses");
}

async fn deleting_a_tenant_removes_its_connections_but_a_used_provider_stays(t: TestDb) {
    let tenant = crate::support::tenant(&t).await;
    connection(&t, tenant, "slack", "T1").await;
    let err = t.exec("DELETE FROM providers WHERE slug = 'slack'").await;
    assert!(
        err.is_err(),
        "a provider with connections cannot be deleted"
    );
    tenant::Entity::delete_by_id(tenant.as_uuid())
        .exec(&t.owner)
        .await
        .unwrap();
    assert_eq!(t.count("connections").await, 0);
}

async fn listing_a_tenants_connections_for_a_provider_uses_the_index(t: TestDb) {
    let tenant = crate::support::tenant(&t).await;
    connection(&t, tenant, "slack", "T1").await;
    let plan = match t.backend {
        Backend::Sqlite => explain_sqlite(&t, tenant).await,
        Backend::Postgres => explain_postgres(&t, tenant).await,
    };
    assert!(
        plan.contains("ix_connections_tenant_provider_created"),
        "plan: {plan}"
    );
}

const LIST_SQL: &str = "FROM connections WHERE tenant_id = {t} AND provider_slug = 'slack' \
     AND (created_at > {c} OR (created_at = {c} AND id > {i})) ORDER BY created_at, id LIMIT 51";

async fn explain_sqlite(t: &TestDb, tenant: TenantId) -> String {
    let hex = tenant.as_uuid().simple().to_string();
    let sql = LIST_SQL
        .replace("{t}", &format!("x'{hex}'"))
        .replace("{c}", "'2020-01-01T00:00:00+00:00'")
        .replace("{i}", "x'00000000000000000000000000000000'");
    let rows =
        t.db.query_all_raw(Statement::from_string(
            t.db_backend(),
            format!("EXPLAIN QUERY PLAN SELECT * {sql}"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "detail").unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn explain_postgres(t: &TestDb, tenant: TenantId) -> String {
    let other = crate::support::tenant(t).await;
    let sql = LIST_SQL
        .replace("{t}", &format!("'{}'", tenant.as_uuid()))
        .replace("{c}", "'2020-01-01T00:00:00+00:00'")
        .replace("{i}", "'00000000-0000-0000-0000-000000000000'");
    // Planner choices need realistic statistics: thousands of rows over several
    // providers and tenants, analysed.
    t.exec(&format!(
        "INSERT INTO connections (id, tenant_id, provider_slug, external_id, status, health_status, \
         is_default, scopes_granted, metadata, created_at, updated_at) \
         SELECT gen_random_uuid(), CASE WHEN g % 4 = 0 THEN '{}'::uuid ELSE '{}'::uuid END, \
         (ARRAY['slack','github','gitlab','stripe','zoom','notion','google','linear'])[1 + (g % 8)], \
         'bulk-' || g, 'active', 'unknown', false, '[]', '{{}}', now() - (g || ' seconds')::interval, now() \
         FROM generate_series(1, 20000) g",
        tenant.as_uuid(),
        other.as_uuid()
    ))
    .await
    .unwrap();
    t.exec("ANALYZE connections").await.unwrap();
    let rows =
        t.db.query_all_raw(Statement::from_string(
            t.db_backend(),
            format!("EXPLAIN SELECT * {sql}"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pooled_sqlite_connection_has_wal_foreign_keys_and_a_busy_timeout() {
    let t = TestDb::sqlite().await;
    // Hold several connections at once so the pool must open more than one.
    let mut held = Vec::new();
    for _ in 0..3 {
        let txn = sea_orm::TransactionTrait::begin(&t.db).await.unwrap();
        for (pragma, expected) in [
            ("journal_mode", "wal"),
            ("foreign_keys", "1"),
            ("busy_timeout", "10000"),
        ] {
            let row = txn
                .query_one_raw(Statement::from_string(
                    t.db_backend(),
                    format!("PRAGMA {pragma}"),
                ))
                .await
                .unwrap()
                .unwrap();
            let value = row
                .try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
                .unwrap();
            assert_eq!(value, expected, "PRAGMA {pragma}");
        }
        held.push(txn);
    }
}

crate::on_both_backends!(
    the_database_refuses_a_duplicate_tuple,
    the_database_refuses_an_unknown_tenant_or_provider,
    the_database_allows_at_most_one_default_per_tenant_and_provider,
    the_database_refuses_an_unknown_status,
    deleting_a_tenant_removes_its_connections_but_a_used_provider_stays,
    listing_a_tenants_connections_for_a_provider_uses_the_index,
);
