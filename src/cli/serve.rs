//! `connvault serve`: migrate, seed when the profile says so, listen, and shut down
//! gracefully on Ctrl-C or SIGTERM.

use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::catalog::{self, Catalog};
use crate::config::{GlobalArgs, ServeArgs};
use crate::crypto::Keyring;
use crate::db;
use crate::http::{self, AppState};
use crate::jobs::Jobs;
use crate::services::events::deliver::Deliverer;
use crate::services::{connect, operations};

pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    // Everything that can be checked without the database is checked before it is
    // touched: the catalog, the settings, the database URLs and a configured master key.
    let catalog = Catalog::load(global.catalog.as_deref())?;
    global.validate()?;
    args.validate(global.profile)?;
    let plan = global.database_plan()?;
    let configured_key = super::master_key::configured(global)?;
    let db = db::open(&plan, global.db_max_connections).await?;
    let master = match configured_key {
        Some(key) => key,
        None => super::master_key::local(global, true)?,
    };
    // A wrong master key stops start-up here, before anything is written.
    let keyring = Keyring::open(db.clone(), master, global.keyring_options()).await?;
    tracing::info!(
        master_key_id = keyring.master_key_id(),
        active_data_key = keyring.active_key_id(),
        "keyring open"
    );
    if global.profile.seeds_catalog_at_startup() {
        let count = catalog::seed(&db, &catalog).await?;
        tracing::info!(providers = count, "provider catalog seeded");
    }

    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = ?db.get_database_backend(), "connvault listening on http://{addr}");

    let mut public_url = args.public_url();
    if args.public_url.is_none() && args.bind.port() == 0 {
        public_url = url::Url::parse(&format!("http://{addr}"))?;
    }
    let events = args.event_options(global.profile)?;
    let state = AppState::with_oauth(db.clone(), keyring, public_url, args.refresh_options())
        .with_webhook_max_bytes(args.webhook_max_bytes)
        .with_health(args.health_options())
        .with_events(events.clone())
        .with_key_cache(args.key_cache_capacity)
        .with_web(args.web_options());
    let deliverer = Deliverer::new(db.clone(), state.keyring.clone(), events);
    let jobs = jobs(&db, &state, args, deliverer).start();
    let key_watch = state.keys.watch(db.clone());
    let credential_watch = state.refresher.credential_cache().watch(db.clone());
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    key_watch.stop().await;
    credential_watch.stop().await;
    jobs.stop().await;
    db.close().await?;
    tracing::info!("connvault stopped");
    Ok(())
}

/// The periodic tasks: background token renewal and scheduled health checks (each
/// unless its interval is 0), the purge of webhook events past
/// `CONNVAULT_WEBHOOK_RETENTION_DAYS`, the expiry of connect sessions left unfinished,
/// which erases their PKCE verifiers, the rescue of operation runs whose worker
/// stopped heartbeating, the delivery of outbound events and their purge past
/// `CONNVAULT_EVENT_RETENTION_DAYS`.
fn jobs(db: &DatabaseConnection, state: &AppState, args: &ServeArgs, deliverer: Deliverer) -> Jobs {
    let mut jobs = Jobs::new();
    let worker = deliverer.clone();
    jobs = jobs.every("deliver_events", deliverer.options().poll, move || {
        let worker = worker.clone();
        async move { worker.logged_pass().await }
    });
    jobs = jobs.every("purge_events", WEBHOOK_PURGE_INTERVAL, move || {
        let worker = deliverer.clone();
        async move {
            let purged = worker.purge(chrono::Utc::now()).await?;
            if purged > 0 {
                tracing::info!(purged, "outbound events past their retention deleted");
            }
            Ok(())
        }
    });
    if args.refresh_interval_secs > 0 {
        let refresher = state.refresher.clone();
        jobs = jobs.every("refresh", refresher.options().interval, move || {
            let refresher = refresher.clone();
            async move { refresher.logged_pass().await }
        });
    }
    let retention = args.webhook_retention_days;
    let purge_db = db.clone();
    jobs = jobs.every("purge_webhook_events", WEBHOOK_PURGE_INTERVAL, move || {
        let db = purge_db.clone();
        async move {
            let purged =
                crate::services::inbound::purge(&db, retention, chrono::Utc::now()).await?;
            if purged > 0 {
                tracing::info!(purged, "webhook events past their retention deleted");
            }
            Ok(())
        }
    });
    if args.health_check_interval_secs > 0 {
        let health = state.health.clone();
        jobs = jobs.every("health_checks", health.options().poll(), move || {
            let health = health.clone();
            async move { health.logged_pass().await }
        });
    }
    let rescuer = db.clone();
    jobs = jobs.every("rescue_operations", RESCUE_INTERVAL, move || {
        let db = rescuer.clone();
        async move { operations::rescue::logged_pass(&db).await }
    });
    let db = db.clone();
    jobs.every(
        "expire_connect_sessions",
        SESSION_EXPIRY_INTERVAL,
        move || {
            let db = db.clone();
            async move {
                let expired = connect::expire_sessions(&db).await?;
                if expired > 0 {
                    tracing::info!(expired, "connect sessions expired");
                }
                Ok(())
            }
        },
    )
}

/// How often webhook events past their retention are deleted.
const WEBHOOK_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// How often unfinished connect sessions past their expiry are failed.
const SESSION_EXPIRY_INTERVAL: Duration = Duration::from_secs(30);

/// How often running operation runs are checked for a stale heartbeat (the shortest
/// heartbeat timeout a type may have is 5 s).
const RESCUE_INTERVAL: Duration = Duration::from_secs(5);

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called, not when it is first polled, so a signal that arrives while the
/// server is starting up still shuts it down gracefully.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutdown signal received, draining connections");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutdown signal received, draining connections");
        })
    }
}
