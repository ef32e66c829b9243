//! Inbound webhook throughput over HTTP on PostgreSQL: signed GitHub deliveries of about
//! 7 KB to `POST /webhooks/{id}` from 32 concurrent senders, every delivery sent twice
//! (the copies close together, so many race). The service logs in as its own role under
//! row-level security. At the end, the events stored must equal the distinct deliveries.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
use connvault::http::{AppState, router};
use connvault::repositories::activity::Actor;
use connvault::repositories::tenants;
use connvault::services::repositories::{self, RepositoryInput};
use hmac::{Hmac, Mac};
use rand::Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use secrecy::SecretString;
use sha2::Sha256;

#[derive(Parser)]
struct Args {
    #[arg(
        long,
        env = "BENCH_ADMIN_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
    /// Distinct deliveries (each is sent twice).
    #[arg(long, default_value_t = 20_000)]
    deliveries: usize,
    /// Repository connections (one per tenant) the deliveries are spread over.
    #[arg(long, default_value_t = 100)]
    repositories: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Database pool size of the service.
    #[arg(long, default_value_t = 16)]
    pool: u32,
    /// Bytes of each payload.
    #[arg(long, default_value_t = 7 * 1024)]
    payload_bytes: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (db, service, cleanup) = common::open_database(&args.admin_url, false, args.pool).await?;
    let result = run(&args, db, service).await;
    cleanup.await?;
    result
}

struct Delivery {
    path: String,
    id: String,
    signature: String,
    body: Vec<u8>,
}

async fn run(
    args: &Args,
    db: DatabaseConnection,
    service: DatabaseConnection,
) -> anyhow::Result<()> {
    connvault::catalog::seed(&db, &connvault::catalog::Catalog::builtin()?).await?;
    let mut master = [0u8; 32];
    rand::rng().fill(&mut master);
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master);
    let keyring = Keyring::open(
        service.clone(),
        MasterKey::from_base64(&master)?,
        KeyringOptions::default(),
    )
    .await?;

    // One GitHub repository connection per tenant, each with its own secret.
    let http = repositories::hooks::client();
    let public = url::Url::parse("http://127.0.0.1")?;
    let mut targets = Vec::new();
    for i in 0..args.repositories {
        let tenant = tenants::create(&service, &format!("bench {i}"))
            .await?
            .tenant_id();
        let secret = format!("bench-webhook-secret-{i}-{}", uuid::Uuid::new_v4().simple());
        let done = repositories::upsert(
            &service,
            &keyring,
            &http,
            &public,
            tenant,
            &Actor::system("bench"),
            RepositoryInput {
                repository_url: format!("https://github.com/bench-org/repo-{i}"),
                service_type: None,
                access_token: SecretString::from(format!("gho_bench_{i}")),
                webhook_secret: Some(SecretString::from(secret.clone())),
                display_name: None,
                register_webhook: false,
            },
        )
        .await?;
        targets.push((done.repository.conn.id, secret));
    }

    // The deliveries, signed as GitHub signs them.
    let padding = "x".repeat(args.payload_bytes.saturating_sub(300));
    let deliveries: Vec<Delivery> = (0..args.deliveries)
        .map(|n| {
            let (connection, secret) = &targets[n % targets.len()];
            let body = serde_json::json!({
                "ref": "refs/heads/main",
                "after": format!("{n:040x}"),
                "repository": { "full_name": format!("bench-org/repo-{}", n % targets.len()) },
                "head_commit": { "message": padding },
            })
            .to_string()
            .into_bytes();
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
            mac.update(&body);
            Delivery {
                path: format!("/webhooks/{connection}"),
                id: uuid::Uuid::new_v4().to_string(),
                signature: format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
                body,
            }
        })
        .collect();
    let mean_size = deliveries.iter().map(|d| d.body.len()).sum::<usize>() / deliveries.len();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = router(AppState::new(service.clone(), keyring.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let deliveries = Arc::new(deliveries);
    let next = Arc::new(AtomicUsize::new(0));
    let sends = deliveries.len() * 2;
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..args.concurrency {
        let (client, deliveries, next) = (client.clone(), deliveries.clone(), next.clone());
        let base = format!("http://{addr}");
        senders.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut stored, mut duplicates) = (0usize, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= sends {
                    break;
                }
                // Each delivery twice, the copies next to each other.
                let d = &deliveries[i / 2];
                let t = Instant::now();
                let response = client
                    .post(format!("{base}{}", d.path))
                    .header("content-type", "application/json")
                    .header("x-github-event", "push")
                    .header("x-github-delivery", &d.id)
                    .header("x-hub-signature-256", &d.signature)
                    .body(d.body.clone())
                    .send()
                    .await?;
                let status = response.status();
                let text = response.text().await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(status.is_success(), "{status}: {text}");
                if text.contains("\"duplicate\":true") {
                    duplicates += 1;
                } else {
                    stored += 1;
                }
            }
            Ok::<_, anyhow::Error>((latencies, stored, duplicates))
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let (mut stored, mut duplicates) = (0, 0);
    for sender in senders {
        let (l, s, d) = sender.await??;
        latencies.extend(l);
        stored += s;
        duplicates += d;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let events = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*)::bigint AS n FROM webhook_events",
        ))
        .await?
        .context("a count")?
        .try_get::<i64>("", "n")?;
    println!(
        "{} deliveries of {} bytes (mean) over {} repository connections, each sent twice by {} senders: {} requests in {:.2} s",
        deliveries.len(),
        mean_size,
        args.repositories,
        args.concurrency,
        sends,
        elapsed.as_secs_f64()
    );
    println!(
        "verified requests/s: {:.0}; distinct deliveries stored/s: {:.0}; p50 {:.2} ms, p99 {:.2} ms",
        sends as f64 / elapsed.as_secs_f64(),
        deliveries.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
    println!(
        "answers: stored {stored}, duplicate {duplicates}; events in the table: {events} (distinct deliveries: {})",
        deliveries.len()
    );
    anyhow::ensure!(
        events as usize == deliveries.len() && stored == deliveries.len(),
        "events stored must equal the distinct deliveries"
    );
    Ok(())
}
