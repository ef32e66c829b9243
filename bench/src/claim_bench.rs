//! Claims per second: queued operation runs spread over many tenants, taken by several
//! concurrent workers (`services::operations::claim`, each its own loop, as separate
//! processes would) until the queue is empty; then the same again with every claimed
//! run completed (`services::operations::complete`). Every run must be handed out
//! exactly once: the benchmark checks it.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
use connvault::models::api_key::Role;
use connvault::models::operation_run::{RunOutcome, RunStatus};
use connvault::models::{ExternalId, ProviderSlug};
use connvault::repositories::activity::Actor;
use connvault::repositories::connections::NewConnection;
use connvault::repositories::{api_keys, tenants};
use connvault::services::connections;
use connvault::services::credentials::Credential;
use connvault::services::operations::types::{self, OperationTypeSpec};
use connvault::services::operations::{self, Completion, StartRequest, Worker};
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};

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
    /// Queued runs per phase.
    #[arg(long, default_value_t = 5_000)]
    runs: usize,
    /// Tenants the runs are spread over.
    #[arg(long, default_value_t = 50)]
    tenants: usize,
    /// Concurrent workers.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Runs per claim.
    #[arg(long, default_value_t = 10)]
    batch: u32,
}

const TYPE: &str = "inventory.sync";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (owner, db, cleanup) = common::open_database(&args.admin_url, args.sqlite, 8).await?;
    let result = run(&args, &owner, &db).await;
    db.close().await.ok();
    owner.close().await.ok();
    cleanup.await?;
    result
}

async fn run(
    args: &Args,
    owner: &DatabaseConnection,
    db: &DatabaseConnection,
) -> anyhow::Result<()> {
    connvault::catalog::seed(owner, &connvault::catalog::Catalog::builtin()?).await?;
    let keyring =
        Keyring::open(db.clone(), MasterKey::generate(), KeyringOptions::default()).await?;
    let spec = OperationTypeSpec {
        provider: "stripe".to_owned(),
        required_scopes: Vec::new(),
        module: "inventory".to_owned(),
        max_attempts: 3,
        heartbeat_timeout_seconds: 300,
        dedupe: false,
    };
    types::put(db, TYPE, spec).await?;
    let mut conns = Vec::new();
    for i in 0..args.tenants {
        let tenant = tenants::create(db, &format!("Tenant {i}"))
            .await?
            .tenant_id();
        let input = NewConnection::new(
            ProviderSlug::parse("stripe")?,
            ExternalId::parse("acct_bench")?,
        );
        let credential = Credential::ApiKey {
            api_key: SecretString::from(format!("sk_test_bench_{i:08}")),
        };
        let (conn, _) = connections::connect(
            db,
            &keyring,
            tenant,
            &Actor::system("bench"),
            input,
            Some(&credential),
        )
        .await?;
        conns.push(conn);
    }
    let mut workers = Vec::new();
    for i in 0..args.workers {
        let key = api_keys::create(db, None, Role::Worker, &format!("worker {i}")).await?;
        workers.push(Worker {
            key_id: key.key.id,
            name: key.key.name,
        });
    }
    println!(
        "{} runs per phase in {} tenants, {} workers, {} runs per claim ({})",
        args.runs,
        args.tenants,
        args.workers,
        args.batch,
        if args.sqlite { "SQLite" } else { "PostgreSQL" }
    );
    for complete in [false, true] {
        enqueue(db, &conns, args.runs).await?;
        let started = Instant::now();
        let (claims, seen) = drain(db, &workers, args.batch, complete).await?;
        let secs = started.elapsed().as_secs_f64();
        anyhow::ensure!(seen == args.runs, "{seen} of {} runs handed out", args.runs);
        println!(
            "{:<22} {:>7.2} s  {:>8.0} runs/s  {:>7.0} claim calls/s",
            if complete {
                "claim + complete"
            } else {
                "claim only"
            },
            secs,
            seen as f64 / secs,
            claims as f64 / secs,
        );
    }
    Ok(())
}

/// `total` queued runs, spread evenly over the connections' tenants, started as a
/// product backend starts them (`services::operations::start`, gate included).
async fn enqueue(
    db: &DatabaseConnection,
    conns: &[connvault::models::connection::Model],
    total: usize,
) -> anyhow::Result<()> {
    let url = url::Url::parse("https://connvault.example.com")?;
    let actor = Actor::system("bench");
    for i in 0..total {
        let conn = &conns[i % conns.len()];
        let request = StartRequest {
            operation_type: TYPE.to_owned(),
            connection_id: Some(conn.id),
            target_scope: Some(serde_json::json!({ "n": i })),
            params: None,
        };
        let started = operations::start(db, &url, conn.tenant(), &actor, request).await?;
        anyhow::ensure!(
            started.run.status == RunStatus::Queued,
            "a run was not queued"
        );
    }
    Ok(())
}

/// Every worker claims (and completes, if asked) until the queue is empty. Returns the
/// claim calls made and the runs handed out, checking none was handed out twice.
async fn drain(
    db: &DatabaseConnection,
    workers: &[Worker],
    batch: u32,
    complete: bool,
) -> anyhow::Result<(usize, usize)> {
    let seen: Arc<Mutex<HashSet<uuid::Uuid>>> = Default::default();
    let mut tasks = tokio::task::JoinSet::new();
    for w in workers {
        let w = w.clone();
        let (db, seen) = (db.clone(), seen.clone());
        tasks.spawn(async move {
            let url = url::Url::parse("https://connvault.example.com").expect("url");
            let types = [TYPE.to_owned()];
            let done = Completion {
                outcome: RunOutcome::Succeeded,
                summary_counts: None,
                failure_summary: None,
            };
            let mut calls = 0usize;
            loop {
                let claimed = operations::claim(&db, &w, &types, batch, &url).await?;
                calls += 1;
                if claimed.runs.is_empty() {
                    return anyhow::Ok(calls);
                }
                for run in &claimed.runs {
                    anyhow::ensure!(
                        seen.lock().expect("lock").insert(run.run.id),
                        "run {} handed out twice",
                        run.run.id
                    );
                    if complete {
                        let token = run.claim_token.expose_secret();
                        operations::complete(&db, &w, run.run.id, token, &done).await?;
                    }
                }
            }
        });
    }
    let mut calls = 0;
    while let Some(result) = tasks.join_next().await {
        calls += result??;
    }
    let n = seen.lock().expect("lock").len();
    Ok((calls, n))
}
