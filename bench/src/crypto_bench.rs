//! Credential encryption benchmark: encrypt and decrypt throughput per credential, and
//! re-encryption rows per second on a database with many connections, next to a raw
//! `UPDATE` of the same rows in the same run.
//!
//! Creates its own database on the PostgreSQL server of `--admin-url` (or a temp SQLite
//! file with `--sqlite`) and drops it afterwards. On PostgreSQL the owner populates, and
//! re-encryption and reads run as the service's login role, under row-level security.

mod common;

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use connvault::crypto::{Binding, Keyring, KeyringOptions, MasterKey};
use connvault::models::connection::{self, ConnectionStatus, HealthStatus};
use connvault::models::json::StringList;
use connvault::models::{ConnectionId, TenantId};
use connvault::repositories::tenants;
use connvault::services::credentials::{self, Credential};
use connvault::services::reencrypt;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait};
use secrecy::SecretString;

#[derive(Parser)]
struct Args {
    /// PostgreSQL server where the benchmark may create and drop a database.
    #[arg(
        long,
        env = "BENCH_ADMIN_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
    /// Use a temporary SQLite file instead of PostgreSQL.
    #[arg(long)]
    sqlite: bool,
    /// Connections (one API-key credential each) to re-encrypt.
    #[arg(long, default_value_t = 100_000)]
    connections: usize,
    /// Tenants the connections are spread over.
    #[arg(long, default_value_t = 1_000)]
    tenants: usize,
    /// Credentials encrypted and decrypted in the throughput part.
    #[arg(long, default_value_t = 200_000)]
    crypto_ops: usize,
    /// Rows per re-encryption batch.
    #[arg(long, default_value_t = 1_000)]
    batch_size: u64,
}

fn rate(n: usize, seconds: f64) -> String {
    format!("{:>10.0}/s", n as f64 / seconds)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (db, service, cleanup) = common::open_database(&args.admin_url, args.sqlite, 8).await?;
    let result = run(&args, &db, &service).await;
    service.close().await.ok();
    db.close().await.ok();
    cleanup.await?;
    result
}

async fn run(
    args: &Args,
    db: &DatabaseConnection,
    service: &DatabaseConnection,
) -> anyhow::Result<()> {
    connvault::catalog::seed(db, &connvault::catalog::Catalog::builtin()?).await?;
    let mut master = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut master);
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master);
    let keyring = Keyring::open(
        db.clone(),
        MasterKey::from_base64(&master)?,
        KeyringOptions::default(),
    )
    .await?;
    println!("backend: {:?}", db.get_database_backend());

    // 1. Encrypt / decrypt throughput, in process.
    let tenant = uuid::Uuid::new_v4();
    let token = b"gho_16C7e42F292c6912E7710c838347Ae178B4a";
    let n = args.crypto_ops;
    let started = Instant::now();
    let mut sealed = Vec::with_capacity(n);
    for i in 0..n {
        let row = uuid::Uuid::from_u128(i as u128);
        let binding = Binding {
            tenant,
            row,
            field: "access_token",
        };
        sealed.push(keyring.encrypt(binding, token).await?.1);
    }
    let encrypt_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for (i, ct) in sealed.iter().enumerate() {
        let row = uuid::Uuid::from_u128(i as u128);
        let binding = Binding {
            tenant,
            row,
            field: "access_token",
        };
        let plain = keyring.decrypt(binding, ct).await?;
        anyhow::ensure!(plain.as_slice() == token);
    }
    let decrypt_s = started.elapsed().as_secs_f64();
    println!(
        "encrypt  {n} x 40-byte secret: {:.3} s  {}",
        encrypt_s,
        rate(n, encrypt_s)
    );
    println!(
        "decrypt  {n} x 40-byte secret: {:.3} s  {}",
        decrypt_s,
        rate(n, decrypt_s)
    );
    drop(sealed);

    // 2. Populate connections with one API-key credential each.
    let started = Instant::now();
    let mut tenant_ids = Vec::with_capacity(args.tenants);
    for i in 0..args.tenants {
        tenant_ids.push(
            tenants::create(db, &format!("tenant-{i}"))
                .await?
                .tenant_id(),
        );
    }
    let mut ids: Vec<(TenantId, ConnectionId)> = Vec::with_capacity(args.connections);
    let now = chrono_now();
    for chunk_start in (0..args.connections).step_by(1000) {
        let chunk_end = (chunk_start + 1000).min(args.connections);
        let mut rows = Vec::with_capacity(chunk_end - chunk_start);
        for i in chunk_start..chunk_end {
            let tenant = tenant_ids[i % tenant_ids.len()];
            let id = ConnectionId::new_v4();
            ids.push((tenant, id));
            rows.push(connection::ActiveModel {
                id: Set(id.as_uuid()),
                tenant_id: Set(tenant.as_uuid()),
                provider_slug: Set("stripe".to_owned()),
                external_id: Set(format!("acct_{i:08}")),
                display_name: Set(None),
                status: Set(ConnectionStatus::Active),
                health_status: Set(HealthStatus::Unknown),
                is_default: Set(false),
                scopes_granted: Set(StringList::default()),
                token_expires_at: Set(None),
                last_health_check_at: Set(None),
                last_error_reason_code: Set(None),
                last_error_message: Set(None),
                metadata: Set(serde_json_object()),
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
            });
        }
        connection::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    for (chunk_index, chunk) in ids.chunks(1000).enumerate() {
        let mut sealed = Vec::with_capacity(chunk.len());
        for (j, (tenant, id)) in chunk.iter().enumerate() {
            let i = chunk_index * 1000 + j;
            let credential = Credential::ApiKey {
                api_key: SecretString::from(format!(
                    "sk_live_bench_{i:08}_4eC39HqLyjWDarjtT1zdp7dc"
                )),
            };
            sealed.push(credentials::seal(&keyring, *tenant, *id, &credential).await?);
        }
        let txn = db.begin().await?;
        for s in sealed {
            credentials::write_sealed(&txn, s).await?;
        }
        txn.commit().await?;
    }
    println!(
        "populate {} connections in {} tenants: {:.1} s",
        args.connections,
        args.tenants,
        started.elapsed().as_secs_f64()
    );

    // Fresh statistics, as a database that has been running would have.
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared("ANALYZE").await?;
    }

    // 3. Re-encryption after a rotation, then a raw UPDATE of the same rows.
    keyring.rotate().await?;
    let keyring = Keyring::open(
        service.clone(),
        MasterKey::from_base64(&master)?,
        KeyringOptions::default(),
    )
    .await?;
    let started = Instant::now();
    let report = reencrypt::run(service, &keyring, args.batch_size, None).await?;
    let reencrypt_s = started.elapsed().as_secs_f64();
    anyhow::ensure!(report.remaining == 0 && report.reencrypted as usize == args.connections);
    println!(
        "reencrypt {} rows (batch {}): {:.2} s  {}",
        report.reencrypted,
        args.batch_size,
        reencrypt_s,
        rate(report.reencrypted as usize, reencrypt_s)
    );
    let started = Instant::now();
    let updated = db
        .execute_unprepared("UPDATE credential_secrets SET revision = revision + 1")
        .await
        .context("raw update")?
        .rows_affected();
    let raw_s = started.elapsed().as_secs_f64();
    println!(
        "raw UPDATE of the same {updated} rows (one statement): {:.2} s  {}",
        raw_s,
        rate(updated as usize, raw_s)
    );

    // 4. The credential read path: one indexed query and a decryption, no write.
    let reads = ids.len().min(20_000);
    let started = Instant::now();
    for (tenant, id) in ids.iter().take(reads) {
        let credential = credentials::read(service, &keyring, *tenant, *id).await?;
        anyhow::ensure!(credential.is_some());
    }
    let read_s = started.elapsed().as_secs_f64();
    println!(
        "credential read (query + decrypt), {reads} sequential: {:.2} s  {}",
        read_s,
        rate(reads, read_s)
    );
    Ok(())
}

fn chrono_now() -> sea_orm::prelude::DateTimeUtc {
    sea_orm::prelude::DateTimeUtc::from(std::time::SystemTime::now())
}

fn serde_json_object() -> sea_orm::prelude::Json {
    sea_orm::prelude::Json::Object(Default::default())
}
