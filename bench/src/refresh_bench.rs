//! Refresh storm: many connections whose tokens all fall due at once, renewed by the
//! background refresher of several replicas (separate `Refresher`s, as separate
//! processes would have) against one database. Reports renewals per second and
//! token-endpoint calls per connection, and counts refresh tokens presented twice
//! (a lost rotation or a race would show up there).
//!
//! The token endpoint is an in-process HTTP server that rotates refresh tokens, so the
//! numbers are connvault's own cost; the tests use a real authorization server.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;
use clap::Parser;
use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
use connvault::models::ProviderSlug;
use connvault::models::json::AuthMode;
use connvault::repositories::activity::Actor;
use connvault::repositories::connections::NewConnection;
use connvault::repositories::oauth_apps::{self, OAuthAppInput};
use connvault::repositories::providers::{self, ProviderUpsert};
use connvault::repositories::tenants;
use connvault::services::connections;
use connvault::services::credentials::Credential;
use connvault::services::refresh::{RefreshOptions, Refresher};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
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
    /// Connections whose tokens fall due together.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Tenants the connections are spread over.
    #[arg(long, default_value_t = 100)]
    tenants: usize,
    /// Replicas renewing at the same time.
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    /// Renewals each replica runs at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

#[derive(Default)]
struct Endpoint {
    calls: AtomicU64,
    seen: std::sync::Mutex<HashSet<String>>,
    reused: AtomicU64,
}

async fn token(
    axum::extract::State(endpoint): axum::extract::State<Arc<Endpoint>>,
    body: String,
) -> axum::Json<serde_json::Value> {
    endpoint.calls.fetch_add(1, Ordering::Relaxed);
    let presented = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "refresh_token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !endpoint.seen.lock().unwrap().insert(presented) {
        endpoint.reused.fetch_add(1, Ordering::Relaxed);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    axum::Json(serde_json::json!({
        "access_token": format!("at-{id}"),
        "refresh_token": format!("rt-{id}"),
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
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
    db: &sea_orm::DatabaseConnection,
    service: &sea_orm::DatabaseConnection,
) -> anyhow::Result<()> {
    println!("backend: {:?}", db.get_database_backend());
    let endpoint = Arc::new(Endpoint::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/token", post(token))
        .with_state(endpoint.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut master = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut master);
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master);
    let keyring = Keyring::open(
        service.clone(),
        MasterKey::from_base64(&master)?,
        KeyringOptions::default(),
    )
    .await?;
    let slug = ProviderSlug::parse("benchidp")?;
    providers::upsert(
        service,
        ProviderUpsert {
            slug: slug.clone(),
            display_name: "Bench IdP".to_owned(),
            auth_modes: vec![AuthMode::Oauth2AuthorizationCode],
            authorization_url: Some(format!("http://{addr}/auth")),
            token_url: Some(format!("http://{addr}/token")),
            default_scopes: Vec::new(),
            health_check: None,
            docs_url: None,
            metadata: serde_json::json!({}),
        },
    )
    .await?;
    oauth_apps::set(
        service,
        &keyring,
        OAuthAppInput {
            provider: slug.clone(),
            client_id: "bench".to_owned(),
            client_secret: Some(SecretString::from("bench-client-secret")),
            allowed_return_urls: Vec::new(),
        },
    )
    .await?;

    // Every token expires in a minute: inside the default five-minute margin.
    let started = Instant::now();
    let mut tenant_ids = Vec::with_capacity(args.tenants);
    for i in 0..args.tenants {
        tenant_ids.push(
            tenants::create(service, &format!("t{i}"))
                .await?
                .tenant_id(),
        );
    }
    let expires = chrono::Utc::now() + chrono::TimeDelta::seconds(60);
    let actor = Actor::system("bench");
    for i in 0..args.connections {
        let tenant = tenant_ids[i % tenant_ids.len()];
        let mut input = NewConnection::new(
            slug.clone(),
            connvault::models::ExternalId::parse(&format!("acct-{i}"))?,
        );
        input.status = connvault::models::connection::ConnectionStatus::Active;
        input.token_expires_at = Some(expires);
        let credential = Credential::Oauth2 {
            access_token: SecretString::from(format!("at-initial-{i}")),
            refresh_token: Some(SecretString::from(format!("rt-initial-{i}"))),
        };
        connections::connect(service, &keyring, tenant, &actor, input, Some(&credential)).await?;
    }
    println!(
        "populated {} connections in {} tenants in {:.1} s",
        args.connections,
        args.tenants,
        started.elapsed().as_secs_f64()
    );

    let options = RefreshOptions {
        concurrency: args.concurrency,
        interval: Duration::from_secs(30),
        ..RefreshOptions::default()
    };
    let replicas: Vec<Refresher> = (0..args.replicas)
        .map(|_| Refresher::new(service.clone(), keyring.clone(), options.clone()))
        .collect();
    let started = Instant::now();
    let mut passes = tokio::task::JoinSet::new();
    for replica in replicas {
        passes.spawn(async move { replica.pass().await });
    }
    let mut renewed = 0;
    let mut failed = 0;
    while let Some(report) = passes.join_next().await {
        let report = report??;
        failed += report.failed;
        renewed += report.refreshed;
    }
    let seconds = started.elapsed().as_secs_f64();
    let calls = endpoint.calls.load(Ordering::Relaxed);
    let fresh: i64 = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            match db.get_database_backend() {
                DbBackend::Postgres => {
                    "SELECT count(*) AS n FROM connections WHERE token_expires_at > now() + interval '30 minutes'"
                }
                _ => {
                    "SELECT count(*) AS n FROM connections WHERE token_expires_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '+30 minutes')"
                }
            },
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    println!(
        "storm: {} connections, {} replicas x {} at once: {:.2} s, {:.0} renewals/s",
        args.connections,
        args.replicas,
        args.concurrency,
        seconds,
        args.connections as f64 / seconds
    );
    println!(
        "token-endpoint calls: {calls} ({:.3} per connection), refresh tokens presented twice: {}, renewal tasks: {renewed} completed (renewed, or found renewed by the other replica), {failed} failed, connections now fresh: {fresh}",
        calls as f64 / args.connections as f64,
        endpoint.reused.load(Ordering::Relaxed),
    );
    Ok(())
}
