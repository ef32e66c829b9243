//! Outbound events delivered per second: events written to the outbox (spread over
//! tenants), each delivered to one endpoint of its tenant on a local receiver (an axum
//! server in this process) by several concurrent workers (`Deliverer::pass`, each its
//! own loop over the service's pool, as separate replicas would), until every event is
//! acknowledged. Then the same with a receiver that fails (500) the first attempt of
//! every other event, on a compressed retry schedule: every event must still be
//! delivered, and the benchmark counts duplicate successful deliveries (an event
//! answered 2xx more than once).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clap::Parser;
use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
use connvault::events::{EventType, RetrySchedule};
use connvault::models::TenantId;
use connvault::repositories::events::{Owner, emit};
use connvault::repositories::tenants;
use connvault::services::events::EventOptions;
use connvault::services::events::deliver::Deliverer;
use connvault::services::events::endpoints::{self, EndpointInput};
use sea_orm::DatabaseConnection;

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
    /// Events per phase.
    #[arg(long, default_value_t = 2_000)]
    events: usize,
    /// Tenants the events are spread over (one endpoint each).
    #[arg(long, default_value_t = 20)]
    tenants: usize,
    /// Concurrent workers.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

/// What the receiver saw: attempts and 2xx answers per `webhook-id`.
#[derive(Default)]
struct Seen {
    fail_first_of_half: bool,
    attempts: HashMap<String, u32>,
    acknowledged: HashMap<String, u32>,
}

type Shared = Arc<Mutex<Seen>>;

async fn receive(State(seen): State<Shared>, headers: HeaderMap) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut seen = seen.lock().unwrap();
    let fail_half = seen.fail_first_of_half;
    let n = {
        let n = seen.attempts.entry(id.clone()).or_default();
        *n += 1;
        *n
    };
    let odd = id.bytes().last().is_some_and(|b| b % 2 == 1);
    if fail_half && n == 1 && odd {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    *seen.acknowledged.entry(id).or_default() += 1;
    StatusCode::OK
}

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
    _owner: &DatabaseConnection,
    db: &DatabaseConnection,
) -> anyhow::Result<()> {
    let keyring =
        Keyring::open(db.clone(), MasterKey::generate(), KeyringOptions::default()).await?;
    let seen: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let options = EventOptions {
        schedule: RetrySchedule::parse("0,50ms,50ms,50ms,50ms").map_err(anyhow::Error::msg)?,
        timeout: Duration::from_secs(5),
        batch: 100,
        concurrency: 16,
        ..EventOptions::default()
    };
    let mut tenant_ids = Vec::new();
    for i in 0..args.tenants {
        let tenant = tenants::create(db, &format!("bench-{i}"))
            .await?
            .tenant_id();
        let input = EndpointInput {
            url: url.clone(),
            enabled: true,
            ..Default::default()
        };
        endpoints::create(db, &keyring, &options, Owner::Tenant(tenant), input).await?;
        tenant_ids.push(tenant);
    }
    let backend = if args.sqlite { "SQLite" } else { "PostgreSQL" };
    println!(
        "{backend}: {} events per phase over {} tenants, one endpoint each, {} workers",
        args.events, args.tenants, args.workers
    );
    for fail_half in [false, true] {
        {
            let mut s = seen.lock().unwrap();
            *s = Seen {
                fail_first_of_half: fail_half,
                ..Seen::default()
            };
        }
        emit_events(db, &tenant_ids, args.events).await?;
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..args.workers {
            let worker = Deliverer::new(db.clone(), keyring.clone(), options.clone());
            let seen = seen.clone();
            let total = args.events;
            workers.push(tokio::spawn(async move {
                loop {
                    worker.pass().await?;
                    if seen.lock().unwrap().acknowledged.len() >= total {
                        return anyhow::Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }));
        }
        for w in workers {
            w.await??;
        }
        let elapsed = started.elapsed();
        let s = seen.lock().unwrap();
        let attempts: u32 = s.attempts.values().sum();
        let duplicates: u32 = s.acknowledged.values().map(|n| n - 1).sum();
        println!(
            "{}: {} events delivered in {:.2} s — {:.0} events/s; {} attempts; {} duplicate deliveries",
            if fail_half {
                "half of first attempts fail"
            } else {
                "no failure"
            },
            s.acknowledged.len(),
            elapsed.as_secs_f64(),
            s.acknowledged.len() as f64 / elapsed.as_secs_f64(),
            attempts,
            duplicates,
        );
        anyhow::ensure!(s.acknowledged.len() == args.events, "every event delivered");
    }
    Ok(())
}

/// Writes `n` events round-robin over the tenants, one transaction each.
async fn emit_events(
    db: &DatabaseConnection,
    tenants: &[TenantId],
    n: usize,
) -> anyhow::Result<()> {
    for (i, tenant) in (0..n).map(|i| (i, tenants[i % tenants.len()])) {
        let data = serde_json::json!({ "connection_id": uuid::Uuid::new_v4(), "seq": i });
        emit(db, tenant, EventType::ConnectionStatusChanged, data).await?;
    }
    Ok(())
}
