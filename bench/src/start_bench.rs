//! Operation starts: how many runs per second `services::operations::start` (resolve
//! the connection, gate it, insert the run — and for a blocked run finalize it and
//! record its activity entry, in the same transaction) makes with several concurrent
//! callers, over a few hundred tenants. Each phase is one outcome: `queued` (a usable
//! connection, a new target scope each time), `blocked` (no connection, or one
//! without a credential) and `deduped` (an identical run is already queued: the
//! partial unique index answers with it); `mixed` interleaves all three.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Parser;
use connvault::catalog::{self, Catalog};
use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
use connvault::models::TenantId;
use connvault::models::connection::ConnectionStatus;
use connvault::models::operation_run::{RunOutcome, RunStatus};
use connvault::repositories::activity::Actor;
use connvault::repositories::connections::NewConnection;
use connvault::repositories::tenants;
use connvault::services::connections;
use connvault::services::credentials::Credential;
use connvault::services::operations::types::{self, OperationTypeSpec};
use connvault::services::operations::{self, StartRequest};
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use serde_json::json;

const TYPE: &str = "inventory.sync";

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
    /// Tenants; a fifth have no connection, a fifth one without a credential (their
    /// starts are blocked), the rest an active connection with an API key.
    #[arg(long, default_value_t = 300)]
    tenants: usize,
    /// Starts per phase.
    #[arg(long, default_value_t = 4000)]
    starts: usize,
    /// Concurrent callers.
    #[arg(long, default_value_t = 4)]
    callers: usize,
}

/// What a tenant's start meets.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Usable,
    NoConnection,
    NoCredential,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Outcome {
    Queued,
    Blocked,
    Deduped,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (db, service, cleanup) = common::open_database(&args.admin_url, args.sqlite, 8).await?;
    let result = run(&args, &service).await;
    service.close().await.ok();
    db.close().await.ok();
    cleanup.await?;
    result
}

async fn run(args: &Args, service: &DatabaseConnection) -> anyhow::Result<()> {
    println!("backend: {:?}", service.get_database_backend());
    let mut master = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut master);
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master);
    let keyring = Keyring::open(
        service.clone(),
        MasterKey::from_base64(&master)?,
        KeyringOptions::default(),
    )
    .await?;
    catalog::seed(service, &Catalog::load(None)?).await?;
    types::put(
        service,
        TYPE,
        OperationTypeSpec {
            provider: "stripe".to_owned(),
            required_scopes: Vec::new(),
            module: "inventory".to_owned(),
            max_attempts: 3,
            heartbeat_timeout_seconds: 300,
            dedupe: true,
        },
    )
    .await?;

    let started = Instant::now();
    let actor = Actor::system("bench");
    let mut tenants = Vec::with_capacity(args.tenants);
    for i in 0..args.tenants {
        let tenant = tenants::create(service, &format!("t{i}"))
            .await?
            .tenant_id();
        let kind = match i % 5 {
            0 => Kind::NoConnection,
            1 => Kind::NoCredential,
            _ => Kind::Usable,
        };
        if kind != Kind::NoConnection {
            let mut input = NewConnection::new(
                connvault::models::ProviderSlug::parse("stripe")?,
                connvault::models::ExternalId::parse(&format!("acct_{i}"))?,
            );
            input.status = ConnectionStatus::Active;
            let credential = Credential::ApiKey {
                api_key: SecretString::from(format!("bench-api-key-{i}")),
            };
            let credential = (kind == Kind::Usable).then_some(&credential);
            connections::connect(service, &keyring, tenant, &actor, input, credential).await?;
        }
        tenants.push((tenant, kind));
    }
    println!(
        "populated {} tenants ({} usable connections) in {:.1} s",
        args.tenants,
        tenants.iter().filter(|(_, k)| *k == Kind::Usable).count(),
        started.elapsed().as_secs_f64()
    );
    let usable: Vec<TenantId> = pick(&tenants, |k| k == Kind::Usable);
    let blocked: Vec<TenantId> = pick(&tenants, |k| k != Kind::Usable);
    // One queued run per usable tenant that the deduped starts repeat.
    for tenant in &usable {
        start(service, *tenant, json!({"shard": "dedupe"})).await?;
    }

    let counter = Arc::new(AtomicUsize::new(0));
    let plan = |phase: &'static str| {
        let usable = usable.clone();
        let blocked = blocked.clone();
        let counter = counter.clone();
        move |i: usize| -> (TenantId, serde_json::Value, Outcome) {
            let which = match phase {
                "queued" => Outcome::Queued,
                "blocked" => Outcome::Blocked,
                "deduped" => Outcome::Deduped,
                _ => [Outcome::Queued, Outcome::Blocked, Outcome::Deduped][i % 3],
            };
            let n = counter.fetch_add(1, Ordering::Relaxed);
            match which {
                Outcome::Queued => (usable[i % usable.len()], json!({"n": n}), which),
                Outcome::Blocked => (blocked[i % blocked.len()], json!({"n": n}), which),
                Outcome::Deduped => (usable[i % usable.len()], json!({"shard": "dedupe"}), which),
            }
        }
    };
    println!(
        "{} starts per phase, {} concurrent callers",
        args.starts, args.callers
    );
    for phase in ["queued", "blocked", "deduped", "mixed"] {
        let plan = Arc::new(plan(phase));
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..args.callers {
            let (plan, next, service, total) =
                (plan.clone(), next.clone(), service.clone(), args.starts);
            callers.spawn(async move {
                let mut seen = [0usize; 3];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return anyhow::Ok(seen);
                    }
                    let (tenant, scope, expected) = plan(i);
                    let got = start(&service, tenant, scope).await?;
                    anyhow::ensure!(
                        got == expected,
                        "start {i}: expected {expected:?}, got {got:?}"
                    );
                    seen[got as usize] += 1;
                }
            });
        }
        let mut seen = [0usize; 3];
        while let Some(result) = callers.join_next().await {
            for (total, n) in seen.iter_mut().zip(result??) {
                *total += n;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{phase:>8}: {:.0} starts/s ({} in {seconds:.2} s; queued {}, blocked {}, deduped {})",
            args.starts as f64 / seconds,
            args.starts,
            seen[Outcome::Queued as usize],
            seen[Outcome::Blocked as usize],
            seen[Outcome::Deduped as usize],
        );
    }
    Ok(())
}

fn pick(tenants: &[(TenantId, Kind)], keep: impl Fn(Kind) -> bool) -> Vec<TenantId> {
    tenants
        .iter()
        .filter(|(_, k)| keep(*k))
        .map(|(t, _)| *t)
        .collect()
}

/// One start, as a product backend makes it; what it came to.
async fn start(
    db: &DatabaseConnection,
    tenant: TenantId,
    scope: serde_json::Value,
) -> anyhow::Result<Outcome> {
    let url = url::Url::parse("https://connvault.example.com")?;
    let started = operations::start(
        db,
        &url,
        tenant,
        &Actor::system("bench"),
        StartRequest {
            operation_type: TYPE.to_owned(),
            connection_id: None,
            target_scope: Some(scope),
            params: Some(json!({"full": true})),
        },
    )
    .await?;
    Ok(
        match (started.created, started.run.status, started.run.outcome) {
            (false, _, _) => Outcome::Deduped,
            (true, RunStatus::Queued, _) => Outcome::Queued,
            (true, RunStatus::Completed, RunOutcome::Blocked) => Outcome::Blocked,
            other => anyhow::bail!("unexpected start: {other:?}"),
        },
    )
}
