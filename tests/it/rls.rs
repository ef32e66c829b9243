//! Tenant isolation in the database itself (PostgreSQL row-level security), checked as
//! the service role with raw SQL: a query that forgets its tenant filter, a write aimed
//! at another tenant, or a pooled connection that kept an old setting still shows or
//! changes nothing of another tenant. The start-up self-check refuses every
//! configuration that would let the service see past the policies.

use connvault::crypto::Keyring;
use connvault::db::roles::{self, TENANT_TABLES};
use connvault::models::{ConnectionId, ExternalId, ProviderSlug, TenantId};
use connvault::repositories::activity::Actor;
use connvault::repositories::{api_keys, connections};
use connvault::services::connections as service;
use connvault::services::credentials::{self, Credential};
use connvault::tenancy::TenantTxn;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::support::{Backend, TestDb, new_connection, secrets};

/// One tenant's rows in every tenant table.
struct Seeded {
    tenant: TenantId,
    connection: ConnectionId,
}

async fn seed(t: &TestDb, keyring: &Keyring, name: &str, external_id: &str) -> Seeded {
    let tenant = connvault::repositories::tenants::create(&t.db, name)
        .await
        .unwrap()
        .tenant_id();
    let credential = Credential::ApiKey {
        api_key: crate::credentials::s(&format!("sk_test_{name}_0123456789")),
    };
    let actor = Actor {
        key_id: None,
        name: "test".to_owned(),
    };
    let (conn, _) = service::connect(
        &t.db,
        keyring,
        tenant,
        &actor,
        new_connection("stripe", external_id),
        Some(&credential),
    )
    .await
    .unwrap();
    let key = api_keys::create(
        &t.db,
        Some(tenant),
        connvault::models::api_key::Role::Viewer,
        "k",
    )
    .await
    .unwrap();
    secrets::record(key.secret.expose_secret());
    // A connect session (its PKCE verifier is only written once the link is opened).
    connvault::repositories::oauth_apps::set(
        &t.db,
        keyring,
        connvault::repositories::oauth_apps::OAuthAppInput {
            provider: connvault::models::ProviderSlug::parse("github").unwrap(),
            client_id: "client".to_owned(),
            client_secret: Some(crate::credentials::s("app-secret-0123456789")),
            allowed_return_urls: vec!["https://app.example/back".to_owned()],
        },
    )
    .await
    .unwrap();
    let session = connvault::services::connect::create_session(
        &t.db,
        tenant,
        &actor,
        connvault::services::connect::NewSession {
            provider: Some(connvault::models::ProviderSlug::parse("github").unwrap()),
            allowed_providers: None,
            return_url: "https://app.example/back".to_owned(),
            scopes: None,
            end_user_label: None,
            ttl: None,
        },
    )
    .await
    .unwrap();
    secrets::record(session.token.expose_secret());
    // A repository connection and one webhook event.
    let token = format!("gho_rls_{name}_0123456789");
    secrets::record(&token);
    let repo = connvault::services::repositories::upsert(
        &t.db,
        keyring,
        &connvault::services::repositories::hooks::client(),
        &url::Url::parse("https://connvault.example").unwrap(),
        tenant,
        &actor,
        connvault::services::repositories::RepositoryInput {
            repository_url: format!("https://github.com/octo/{}", external_id.to_lowercase()),
            service_type: None,
            access_token: crate::credentials::s(&token),
            webhook_secret: None,
            display_name: None,
            register_webhook: false,
        },
    )
    .await
    .unwrap();
    if let Some(generated) = &repo.generated_secret {
        secrets::record(generated.expose_secret());
    }
    connvault::repositories::webhook_events::insert(
        &t.db,
        tenant,
        connvault::repositories::webhook_events::NewEvent {
            connection: repo.repository.conn.connection_id(),
            delivery_id: "delivery-1".to_owned(),
            event_type: "push".to_owned(),
            headers: serde_json::json!({}),
            payload: serde_json::json!({"ref": "refs/heads/main"}),
            received_at: chrono::Utc::now(),
        },
    )
    .await
    .unwrap();
    // An event endpoint, the connection's event fanned out to it, and one attempt
    // (nothing listens at its address).
    let options = connvault::services::events::EventOptions {
        timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let (_, signing) = connvault::services::events::endpoints::create(
        &t.db,
        keyring,
        &options,
        connvault::repositories::events::Owner::Tenant(tenant),
        connvault::services::events::endpoints::EndpointInput {
            url: "http://127.0.0.1:9/rls".to_owned(),
            enabled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    secrets::record(signing.expose_secret());
    connvault::services::events::deliver::Deliverer::new(t.db.clone(), keyring.clone(), options)
        .pass()
        .await
        .unwrap();
    // An operation run, written by the owner: the policy is what this file tests.
    if t.owner.get_database_backend() == DbBackend::Postgres {
        // Runs name a registered type (a foreign key).
        t.owner
            .execute_raw(stmt(
                "INSERT INTO operation_types VALUES ('inventory.sync', 'stripe', '[]', 'inventory', \
                 3, 60, true, now(), now()) ON CONFLICT DO NOTHING",
                vec![],
            ))
            .await
            .unwrap();
        t.owner
            .execute_raw(stmt(
                "INSERT INTO operation_runs (id, tenant_id, operation_type, connection_id, status, \
             outcome, context, max_attempts, heartbeat_timeout_seconds, actor_name, created_at, \
             updated_at) VALUES ($1, $2, 'inventory.sync', $3, 'queued', 'pending', '{}', 3, 60, \
             'test', now(), now())",
                vec![
                    Uuid::new_v4().into(),
                    tenant.as_uuid().into(),
                    conn.id.into(),
                ],
            ))
            .await
            .unwrap();
    }
    Seeded {
        tenant,
        connection: conn.connection_id(),
    }
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

async fn count<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<Value>) -> i64 {
    db.query_one_raw(stmt(sql, values))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

/// Rows of `table` the session sees, without any filter.
async fn visible<C: ConnectionTrait>(db: &C, table: &str) -> i64 {
    count(db, &format!("SELECT COUNT(*) AS n FROM {table}"), vec![]).await
}

/// Rows of `table` that belong to `tenant`, as the owner sees them.
async fn owned_by(t: &TestDb, table: &str, tenant: TenantId) -> i64 {
    count(
        &t.owner,
        &format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = $1"),
        vec![tenant.as_uuid().into()],
    )
    .await
}

/// One of `tenant`'s rows of `table`, as JSON, read by the owner; with a fresh `id`
/// when the table has one, so only the policy can refuse inserting it again.
async fn a_row_of(t: &TestDb, table: &str, tenant: TenantId) -> String {
    let row = t
        .owner
        .query_one_raw(stmt(
            &format!(
                "SELECT row_to_json(x)::text AS j FROM {table} x WHERE tenant_id = $1 LIMIT 1"
            ),
            vec![tenant.as_uuid().into()],
        ))
        .await
        .unwrap()
        .expect("a row");
    let mut json: serde_json::Value =
        serde_json::from_str(&row.try_get::<String>("", "j").unwrap()).unwrap();
    if json.get("id").is_some() {
        json["id"] = serde_json::json!(Uuid::new_v4());
    }
    if table == "api_keys" {
        json["secret_hash"] = serde_json::json!(format!("\\x{}", "ab".repeat(32)));
    }
    json.to_string()
}

async fn insert_copy<C: ConnectionTrait>(db: &C, table: &str, row: &str) -> Result<u64, DbErr> {
    db.execute_raw(stmt(
        &format!("INSERT INTO {table} SELECT * FROM json_populate_record(NULL::{table}, $1::json)"),
        vec![row.to_owned().into()],
    ))
    .await
    .map(|r| r.rows_affected())
}

fn assert_policy_refused(result: Result<u64, DbErr>, what: &str) {
    let err = result.expect_err(what).to_string();
    assert!(err.contains("row-level security"), "{what}: {err}");
}

fn assert_permission_denied(result: Result<u64, DbErr>, what: &str) {
    let err = result.expect_err(what).to_string();
    assert!(err.contains("permission denied"), "{what}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_with_a_tenant_id_is_listed_and_has_forced_row_level_security() {
    let t = TestDb::postgres().await;
    let rows = t
        .owner
        .query_all_raw(stmt(
            "SELECT c.relname::text AS name, c.relrowsecurity AND c.relforcerowsecurity AS forced \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'tenant_id' \
             ORDER BY 1",
            vec![],
        ))
        .await
        .unwrap();
    let mut found = Vec::new();
    for row in rows {
        let name: String = row.try_get("", "name").unwrap();
        let forced: bool = row.try_get("", "forced").unwrap();
        assert!(
            forced,
            "{name} has a tenant_id but no forced row-level security"
        );
        found.push(name);
    }
    let mut listed: Vec<String> = TENANT_TABLES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "every table with a tenant_id must be in migration::TENANT_TABLES, and only those"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_setting_sees_and_changes_nothing_of_another() {
    let t = TestDb::postgres().await;
    let keyring = t.keyring().await;
    let a = seed(&t, &keyring, "a", "acct_a").await;
    let b = seed(&t, &keyring, "b", "acct_b").await;

    for table in TENANT_TABLES {
        assert!(
            owned_by(&t, table, b.tenant).await > 0,
            "{table} has rows of B"
        );
        let b_row = a_row_of(&t, table, b.tenant).await;
        let txn = TenantTxn::begin_write(&t.db, a.tenant).await.unwrap();
        // No filter at all: only A's rows.
        let seen = visible(&txn, table).await;
        assert_eq!(seen, owned_by(&t, table, a.tenant).await, "{table}");
        let of_b = count(
            &txn,
            &format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = $1"),
            vec![b.tenant.as_uuid().into()],
        )
        .await;
        assert_eq!(of_b, 0, "A sees B's {table}");
        txn.commit().await.unwrap();

        // Insert a row of B: refused.
        let txn = TenantTxn::begin_write(&t.db, a.tenant).await.unwrap();
        assert_policy_refused(insert_copy(&txn, table, &b_row).await, table);
        drop(txn);

        // Update B's rows, or move A's rows into B: nothing happens, or it is refused.
        let txn = TenantTxn::begin_write(&t.db, a.tenant).await.unwrap();
        let touch = txn
            .execute_raw(stmt(
                &format!("UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = $1"),
                vec![b.tenant.as_uuid().into()],
            ))
            .await
            .map(|r| r.rows_affected());
        let delete = stmt(
            &format!("DELETE FROM {table} WHERE tenant_id = $1"),
            vec![b.tenant.as_uuid().into()],
        );
        if table == "activity_log" {
            // Append-only for the service: no UPDATE or DELETE at all.
            assert_permission_denied(touch, "update the activity log");
            drop(txn);
            let txn = TenantTxn::begin_write(&t.db, a.tenant).await.unwrap();
            assert_permission_denied(
                txn.execute_raw(delete).await.map(|r| r.rows_affected()),
                "delete from the activity log",
            );
            continue;
        }
        if table == "webhook_events" || table == "event_attempts" {
            // Events and attempts are never changed, only purged: no UPDATE for the
            // service.
            assert_permission_denied(touch, "update webhook events");
            drop(txn);
            let txn = TenantTxn::begin_write(&t.db, a.tenant).await.unwrap();
            assert_eq!(
                txn.execute_raw(delete).await.unwrap().rows_affected(),
                0,
                "A deleted B's {table}"
            );
            continue;
        }
        assert_eq!(touch.unwrap(), 0, "A updated B's {table}");
        if table != "api_keys" {
            assert_eq!(
                txn.execute_raw(delete).await.unwrap().rows_affected(),
                0,
                "A deleted B's {table}"
            );
        }
        let moved = txn
            .execute_raw(stmt(
                &format!("UPDATE {table} SET tenant_id = $1 WHERE tenant_id = $2"),
                vec![b.tenant.as_uuid().into(), a.tenant.as_uuid().into()],
            ))
            .await
            .map(|r| r.rows_affected());
        assert_policy_refused(moved, &format!("move A's {table} into B"));
        drop(txn);
        assert!(owned_by(&t, table, b.tenant).await > 0);
    }
    // B's credential is intact.
    assert!(
        credentials::read(&t.db, &keyring, b.tenant, b.connection)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_setting_or_an_empty_one_sees_nothing_and_writes_nothing() {
    let t = TestDb::postgres().await;
    let keyring = t.keyring().await;
    let a = seed(&t, &keyring, "a", "acct_a").await;
    for table in TENANT_TABLES {
        let row = a_row_of(&t, table, a.tenant).await;
        let rows_before = owned_by(&t, table, a.tenant).await;
        // The pool, outside any transaction: no setting at all.
        assert_eq!(visible(&t.db, table).await, 0, "{table} without a setting");
        assert_policy_refused(insert_copy(&t.db, table, &row).await, table);
        if table != "activity_log" && table != "webhook_events" && table != "event_attempts" {
            let updated =
                t.db.execute_raw(stmt(
                    &format!("UPDATE {table} SET tenant_id = tenant_id"),
                    vec![],
                ))
                .await
                .unwrap()
                .rows_affected();
            assert_eq!(updated, 0, "{table} updated without a setting");
        }
        // An explicitly empty setting matches nothing either, and is not an error.
        let txn = sea_orm::TransactionTrait::begin(&t.db).await.unwrap();
        txn.execute_unprepared("SELECT set_config('connvault.tenant_id', '', true)")
            .await
            .unwrap();
        assert_eq!(
            visible(&txn, table).await,
            0,
            "{table} with an empty setting"
        );
        drop(txn);
        assert_eq!(
            count(
                &t.owner,
                &format!("SELECT COUNT(*) AS n FROM {table}"),
                vec![]
            )
            .await,
            rows_before,
            "nothing was written to {table}"
        );
    }
    // Garbage in the setting fails the statement: closed, not open.
    let txn = sea_orm::TransactionTrait::begin(&t.db).await.unwrap();
    txn.execute_unprepared("SELECT set_config('connvault.tenant_id', 'not-a-uuid', true)")
        .await
        .unwrap();
    assert!(
        txn.execute_unprepared("SELECT * FROM connections")
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_keeps_no_tenant_after_its_transaction() {
    let t = TestDb::postgres().await;
    let keyring = t.keyring().await;
    let a = seed(&t, &keyring, "a", "acct_a").await;
    // A pool of one: every statement below runs on the same server session.
    let pool = connvault::db::connect(&t.service_url, 1).await.unwrap();
    let pid = |db: DatabaseConnection| async move {
        count(&db, "SELECT pg_backend_pid()::bigint AS n", vec![]).await
    };
    let session = pid(pool.clone()).await;

    let own = owned_by(&t, "connections", a.tenant).await;
    let txn = TenantTxn::begin(&pool, a.tenant).await.unwrap();
    assert_eq!(visible(&txn, "connections").await, own);
    txn.commit().await.unwrap();
    assert_eq!(visible(&pool, "connections").await, 0, "after a commit");

    let txn = TenantTxn::begin(&pool, a.tenant).await.unwrap();
    let own_secrets = owned_by(&t, "credential_secrets", a.tenant).await;
    assert_eq!(visible(&txn, "credential_secrets").await, own_secrets);
    drop(txn);
    assert_eq!(
        visible(&pool, "credential_secrets").await,
        0,
        "after a rollback"
    );

    // The one-statement credential read scopes only itself.
    let read = credentials::read(&pool, &keyring, a.tenant, a.connection)
        .await
        .unwrap();
    assert!(read.is_some());
    assert_eq!(
        visible(&pool, "credential_secrets").await,
        0,
        "after a read"
    );

    // So does the API-key lookup (its setting names a key hash, not a tenant).
    let key = api_keys::create(
        &pool,
        Some(a.tenant),
        connvault::models::api_key::Role::Service,
        "s",
    )
    .await
    .unwrap();
    secrets::record(key.secret.expose_secret());
    let found = api_keys::authenticate(&pool, secrecy::ExposeSecret::expose_secret(&key.secret))
        .await
        .unwrap()
        .expect("the key authenticates");
    assert_eq!(found.tenant_id, Some(a.tenant));
    assert_eq!(
        visible(&pool, "api_keys").await,
        0,
        "after an authentication"
    );
    for setting in ["connvault.tenant_id", "connvault.api_key_hash"] {
        let value = pool
            .query_one_raw(stmt(
                "SELECT COALESCE(current_setting($1, true), '') AS s",
                vec![setting.into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<String>("", "s")
            .unwrap();
        assert_eq!(value, "", "{setting} is empty between statements");
    }

    // Inside a tenant transaction, the narrow cross-tenant paths put its tenant back.
    let txn = TenantTxn::begin(&pool, a.tenant).await.unwrap();
    connvault::repositories::key_usage::all(&txn).await.unwrap();
    credentials::read(&txn, &keyring, a.tenant, a.connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        visible(&txn, "connections").await,
        owned_by(&t, "connections", a.tenant).await,
        "still scoped to A"
    );
    txn.commit().await.unwrap();
    assert_eq!(
        pid(pool.clone()).await,
        session,
        "it was the same session throughout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unscoped_query_on_the_services_own_path_returns_only_the_current_tenant() {
    let t = TestDb::postgres().await;
    let keyring = t.keyring().await;
    let a = seed(&t, &keyring, "a", "acct_a").await;
    let b = seed(&t, &keyring, "b", "acct_b").await;
    // The repositories' scoped handle, then a query that forgets the tenant filter.
    let rows = connvault::tenancy::read(&t.db, a.tenant, async |scoped| {
        scoped
            .query_all_raw(stmt("SELECT tenant_id FROM connections", vec![]))
            .await
    })
    .await
    .unwrap();
    assert_eq!(
        rows.len() as i64,
        owned_by(&t, "connections", a.tenant).await
    );
    for row in &rows {
        let tenant: Uuid = row.try_get("", "tenant_id").unwrap();
        assert_eq!(tenant, a.tenant.as_uuid());
    }

    // A tenant transaction refuses to serve another tenant rather than mix them.
    let txn = TenantTxn::begin(&t.db, a.tenant).await.unwrap();
    assert!(
        connections::get_by_id(&txn, b.tenant, b.connection)
            .await
            .is_err()
    );
    assert!(
        credentials::read(&txn, &keyring, b.tenant, b.connection)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_external_account_in_two_tenants_reveals_nothing() {
    let t = TestDb::postgres().await;
    let keyring = t.keyring().await;
    let a = seed(&t, &keyring, "a", "acct_shared").await;
    // B connects the same external account: no conflict, because uniqueness is per
    // tenant; B learns nothing about A.
    let b = seed(&t, &keyring, "b", "acct_shared").await;
    assert_ne!(a.connection, b.connection);
    // A duplicate inside B is refused, and the message names only B's own input.
    let err = connections::create(&t.db, b.tenant, new_connection("stripe", "acct_shared"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, connvault::Error::DuplicateConnection { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(!text.contains(&a.tenant.to_string()) && !text.contains(&a.connection.to_string()));
    let found = connections::find_by_unique(
        &t.db,
        b.tenant,
        &ProviderSlug::parse("stripe").unwrap(),
        &ExternalId::parse("acct_shared").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.connection_id(), b.connection);
}

/// A login role of its own for one test, dropped afterwards.
struct TestRole<'a> {
    t: &'a TestDb,
    name: String,
}

impl<'a> TestRole<'a> {
    async fn new(t: &'a TestDb, attributes: &str) -> Self {
        let name = format!("cv_role_{}", Uuid::new_v4().simple());
        t.exec(&format!("CREATE ROLE {name} LOGIN")).await.unwrap();
        // The service's grants first (provisioning refuses a powerful role), then the
        // attribute under test.
        roles::provision(&t.owner, &name, None, false)
            .await
            .unwrap();
        if !attributes.is_empty() {
            t.exec(&format!("ALTER ROLE {name} {attributes}"))
                .await
                .unwrap();
        }
        Self { t, name }
    }

    async fn connect(&self) -> DatabaseConnection {
        let mut url = url::Url::parse(&self.t.url).unwrap();
        url.set_username(&self.name).unwrap();
        connvault::db::connect(url.as_str(), 1).await.unwrap()
    }

    async fn drop_role(self) {
        for sql in ["DROP OWNED BY", "DROP ROLE"] {
            self.t.exec(&format!("{sql} {}", self.name)).await.unwrap();
        }
    }
}

async fn refusal(db: &DatabaseConnection) -> String {
    match roles::self_check(db).await {
        Err(connvault::Error::Isolation(why)) => why,
        other => panic!("the self-check let it through: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_check_refuses_every_way_around_the_policies() {
    let t = TestDb::postgres().await;
    roles::self_check(&t.db)
        .await
        .expect("the service role passes");

    // A superuser.
    let why = refusal(&t.owner).await;
    assert!(why.contains("superuser"), "{why}");

    // BYPASSRLS.
    let bypass = TestRole::new(&t, "BYPASSRLS").await;
    let db = bypass.connect().await;
    let why = refusal(&db).await;
    assert!(why.contains("BYPASSRLS"), "{why}");
    db.close().await.unwrap();
    bypass.drop_role().await;

    // A role that owns a tenant table (owners could switch the policies off).
    let owner = TestRole::new(&t, "").await;
    t.exec(&format!(
        "ALTER TABLE credential_secrets OWNER TO {}",
        owner.name
    ))
    .await
    .unwrap();
    let db = owner.connect().await;
    let why = refusal(&db).await;
    assert!(why.contains("owns table credential_secrets"), "{why}");
    db.close().await.unwrap();
    t.exec("ALTER TABLE credential_secrets OWNER TO postgres")
        .await
        .unwrap();
    // ... or may become its owner.
    t.exec(&format!("GRANT postgres TO {}", owner.name))
        .await
        .unwrap();
    let db = owner.connect().await;
    let why = refusal(&db).await;
    assert!(why.contains("owns table connections"), "{why}");
    db.close().await.unwrap();
    t.exec(&format!("REVOKE postgres FROM {}", owner.name))
        .await
        .unwrap();
    owner.drop_role().await;

    // Membership in a role that bypasses the policies.
    let member = TestRole::new(&t, "").await;
    let bypass = format!("cv_bypass_{}", Uuid::new_v4().simple());
    t.exec(&format!("CREATE ROLE {bypass} NOLOGIN BYPASSRLS"))
        .await
        .unwrap();
    t.exec(&format!("GRANT {bypass} TO {}", member.name))
        .await
        .unwrap();
    let db = member.connect().await;
    let why = refusal(&db).await;
    assert!(why.contains(&format!("member of \"{bypass}\"")), "{why}");
    db.close().await.unwrap();
    member.drop_role().await;
    t.exec(&format!("DROP ROLE {bypass}")).await.unwrap();

    // TRUNCATE, which row-level security does not cover.
    t.exec("GRANT TRUNCATE ON connections TO connvault_service")
        .await
        .unwrap();
    let why = refusal(&t.db).await;
    assert!(
        why.contains("may TRUNCATE tenant table connections"),
        "{why}"
    );
    t.exec("REVOKE TRUNCATE ON connections FROM connvault_service")
        .await
        .unwrap();

    // An extra permissive policy would widen what a tenant sees.
    t.exec("CREATE POLICY everything ON credential_secrets FOR SELECT USING (true)")
        .await
        .unwrap();
    let why = refusal(&t.db).await;
    assert!(
        why.contains("credential_secrets has other permissive policies: everything"),
        "{why}"
    );
    t.exec("DROP POLICY everything ON credential_secrets")
        .await
        .unwrap();
    // ... and so would an altered one.
    t.exec("ALTER POLICY tenant_isolation ON activity_log USING (true)")
        .await
        .unwrap();
    let why = refusal(&t.db).await;
    assert!(
        why.contains("activity_log has no tenant_isolation policy, or an altered one"),
        "{why}"
    );
    t.exec(
        "ALTER POLICY tenant_isolation ON activity_log \
         USING (tenant_id = connvault_current_tenant())",
    )
    .await
    .unwrap();

    // A tenant table whose row-level security is not forced, or off.
    t.exec("ALTER TABLE activity_log NO FORCE ROW LEVEL SECURITY")
        .await
        .unwrap();
    let why = refusal(&t.db).await;
    assert!(
        why.contains("activity_log lacks forced row-level security"),
        "{why}"
    );
    t.exec("ALTER TABLE activity_log FORCE ROW LEVEL SECURITY")
        .await
        .unwrap();
    t.exec("ALTER TABLE api_keys DISABLE ROW LEVEL SECURITY")
        .await
        .unwrap();
    let why = refusal(&t.db).await;
    assert!(why.contains("api_keys lacks forced"), "{why}");
    t.exec("ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY")
        .await
        .unwrap();

    // A policy dropped.
    t.exec("DROP POLICY tenant_isolation ON connections")
        .await
        .unwrap();
    let why = refusal(&t.db).await;
    assert!(
        why.contains("connections has no tenant_isolation policy"),
        "{why}"
    );
    t.exec(
        "CREATE POLICY tenant_isolation ON connections FOR ALL \
         USING (tenant_id = connvault_current_tenant()) \
         WITH CHECK (tenant_id = connvault_current_tenant())",
    )
    .await
    .unwrap();

    // A new tenant table added without forced row-level security.
    t.exec("CREATE TABLE webhooks (id uuid PRIMARY KEY, tenant_id uuid NOT NULL)")
        .await
        .unwrap();
    let why = refusal(&t.db).await;
    assert!(why.contains("webhooks lacks forced"), "{why}");
    t.exec("DROP TABLE webhooks").await.unwrap();

    roles::self_check(&t.db).await.expect("all repaired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_has_no_policies_so_the_self_check_passes_and_scopes_are_the_filters() {
    let t = TestDb::new(Backend::Sqlite).await;
    roles::self_check(&t.db).await.unwrap();
    let keyring = t.keyring().await;
    let a = seed(&t, &keyring, "a", "acct_a").await;
    let b = seed(&t, &keyring, "b", "acct_b").await;
    assert!(
        connections::get_by_id(&t.db, a.tenant, b.connection)
            .await
            .unwrap()
            .is_none()
    );
    let txn = TenantTxn::begin(&t.db, a.tenant).await.unwrap();
    assert!(
        connections::get_by_id(&txn, b.tenant, b.connection)
            .await
            .is_err(),
        "a tenant transaction refuses another tenant on SQLite too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_refuses_to_make_a_powerful_existing_role_the_service_role() {
    let t = TestDb::postgres().await;
    let err = roles::provision(&t.owner, "postgres", None, true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is a superuser"), "{err}");
    let bypass = TestRole::new(&t, "").await;
    t.exec(&format!("ALTER ROLE {} BYPASSRLS", bypass.name))
        .await
        .unwrap();
    let err = roles::provision(&t.owner, &bypass.name, None, true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has BYPASSRLS"), "{err}");
    bypass.drop_role().await;
    // The service role itself is provisioned again, in one transaction.
    roles::provision(&t.owner, roles::DEFAULT_SERVICE_ROLE, None, false)
        .await
        .unwrap();
    roles::self_check(&t.db).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_role_holds_exactly_the_listed_grants() {
    let t = TestDb::postgres().await;
    let rows = t
        .owner
        .query_all_raw(stmt(
            "SELECT table_name::text AS t, string_agg(privilege_type::text, ', ' \
               ORDER BY privilege_type) AS p \
             FROM information_schema.role_table_grants \
             WHERE grantee = $1 AND table_schema = 'public' GROUP BY 1 ORDER BY 1",
            vec![roles::DEFAULT_SERVICE_ROLE.into()],
        ))
        .await
        .unwrap();
    let granted: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.try_get("", "t").unwrap(), r.try_get("", "p").unwrap()))
        .collect();
    let mut expected: Vec<(String, String)> = roles::SERVICE_GRANTS
        .iter()
        .map(|(table, privileges)| {
            let mut p: Vec<&str> = privileges.split(", ").collect();
            p.sort();
            (table.to_string(), p.join(", "))
        })
        .collect();
    expected.sort();
    assert_eq!(granted, expected);
    assert!(
        !granted.iter().any(|(t, _)| t == "seaql_migrations"),
        "the service cannot touch the migration history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowing_a_keys_hash_shows_that_key_and_changes_nothing() {
    let t = TestDb::postgres().await;
    let keyring = t.keyring().await;
    let a = seed(&t, &keyring, "a", "acct_a").await;
    let b = seed(&t, &keyring, "b", "acct_b").await;
    let row = t
        .owner
        .query_one_raw(stmt(
            "SELECT encode(secret_hash, 'hex') AS h FROM api_keys WHERE tenant_id = $1",
            vec![a.tenant.as_uuid().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    let hash: String = row.try_get("", "h").unwrap();
    let txn = sea_orm::TransactionTrait::begin(&t.db).await.unwrap();
    txn.execute_raw(stmt(
        "SELECT set_config('connvault.api_key_hash', $1, true)",
        vec![hash.into()],
    ))
    .await
    .unwrap();
    assert_eq!(
        visible(&txn, "api_keys").await,
        1,
        "exactly the key whose hash is set"
    );
    let revoked = txn
        .execute_raw(stmt("UPDATE api_keys SET revoked_at = now()", vec![]))
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(revoked, 0, "the lookup policy is read-only");
    for table in ["connections", "credential_secrets", "activity_log"] {
        assert_eq!(visible(&txn, table).await, 0, "{table}");
    }
    drop(txn);
    assert_eq!(owned_by(&t, "api_keys", b.tenant).await, 1);
}

/// The event tables' two extra policies show what their scope names and nothing else:
/// a tenant never sees the deployment's endpoints; `deployment` sees only those (and
/// writes no tenant's row); `worker` sees every tenant's and the deployment's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_scopes_show_what_they_name() {
    let t = TestDb::postgres().await;
    let keyring = t.keyring().await;
    let a = seed(&t, &keyring, "a", "acct_a").await;
    seed(&t, &keyring, "b", "acct_b").await;
    let (_, secret) = connvault::services::events::endpoints::create(
        &t.db,
        &keyring,
        &Default::default(),
        connvault::repositories::events::Owner::Deployment,
        connvault::services::events::endpoints::EndpointInput {
            url: "http://127.0.0.1:9/all".to_owned(),
            enabled: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    secrets::record(secret.expose_secret());
    let a_row = a_row_of(&t, "event_endpoints", a.tenant).await;

    let txn = TenantTxn::begin_write(&t.db, a.tenant).await.unwrap();
    assert_eq!(visible(&txn, "event_endpoints").await, 1, "A's own only");
    drop(txn);

    let scoped = async |scope: &str| {
        let txn = sea_orm::TransactionTrait::begin(&t.db).await.unwrap();
        txn.execute_raw(stmt(
            "SELECT set_config('connvault.event_scope', $1, true)",
            vec![scope.into()],
        ))
        .await
        .unwrap();
        txn
    };
    let txn = scoped("deployment").await;
    assert_eq!(
        visible(&txn, "event_endpoints").await,
        1,
        "the deployment's only"
    );
    assert_eq!(
        count(
            &txn,
            "SELECT COUNT(*) AS n FROM event_endpoints WHERE tenant_id IS NULL",
            vec![]
        )
        .await,
        1
    );
    assert_eq!(visible(&txn, "events").await, 0, "no tenant's events");
    assert_policy_refused(
        insert_copy(&txn, "event_endpoints", &a_row).await,
        "deployment",
    );
    drop(txn);

    let txn = scoped("worker").await;
    assert_eq!(visible(&txn, "event_endpoints").await, 3, "every endpoint");
    assert!(visible(&txn, "events").await >= 2, "every tenant's events");
    drop(txn);

    let txn = scoped("something else").await;
    assert_eq!(visible(&txn, "event_endpoints").await, 0);
    drop(txn);
}
