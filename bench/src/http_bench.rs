//! Load benchmark of the credential read, `GET /v1/tenants/{t}/connections/{c}/credentials`,
//! over many connections in many tenants on PostgreSQL, driven by `wrk` over loopback.
//! The service logs in as its own role under row-level security; the same run then
//! switches the policies off and on again (same data, same process) to measure what
//! they cost, measures a plain database point lookup of the same rows, and checks that
//! the read path wrote nothing.
//!
//! Needs `wrk` on the PATH (Debian package `wrk`).

mod wrk_cmd;

#[path = "read_bench/populate.rs"]
mod populate;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
use connvault::http::{AppState, router};
use populate::{Target, populate};
use rand::Rng;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

#[derive(Parser)]
struct Args {
    #[arg(
        long,
        env = "BENCH_ADMIN_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
    #[arg(long, default_value_t = 100_000)]
    connections: usize,
    #[arg(long, default_value_t = 1_000)]
    tenants: usize,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Concurrent connections (HTTP) and concurrent queries (database).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Database pool size of the service.
    #[arg(long, default_value_t = 16)]
    pool: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let name = format!("cv_bench_{}", uuid::Uuid::new_v4().simple());
    let server = Database::connect(&args.admin_url).await?;
    server
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    let mut url = url::Url::parse(&args.admin_url)?;
    url.set_path(&format!("/{name}"));
    let result = run(&args, url.as_str()).await;
    server
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    result
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    // The owner (the admin URL's role) migrates and populates; the service logs in as
    // the role a single-URL set-up provisions.
    let db = connvault::db::connect(url, args.pool).await?;
    connvault::db::migrate(&db).await?;
    let plan = connvault::db::Plan::derived(url, connvault::db::roles::DEFAULT_SERVICE_ROLE)?;
    let role = plan.role.as_ref().context("a service role")?;
    connvault::db::roles::provision(&db, &role.name, role.password.as_ref(), true).await?;
    let service = connvault::db::connect(&plan.service_url, args.pool).await?;
    connvault::db::roles::self_check(&service).await?;
    connvault::catalog::seed(&db, &connvault::catalog::Catalog::builtin()?).await?;
    let mut master = [0u8; 32];
    rand::rng().fill(&mut master);
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master);
    let keyring = Keyring::open(
        db.clone(),
        MasterKey::from_base64(&master)?,
        KeyringOptions::default(),
    )
    .await?;
    let service_keyring = Keyring::open(
        service.clone(),
        MasterKey::from_base64(&master)?,
        KeyringOptions::default(),
    )
    .await?;
    let started = Instant::now();
    let targets = populate(&db, &keyring, args.tenants, args.connections, 0).await?;
    println!(
        "populated {} connections in {} tenants ({} service keys) in {:.1} s",
        targets.len(),
        args.tenants,
        args.tenants,
        started.elapsed().as_secs_f64()
    );
    db.execute_unprepared("ANALYZE").await?;

    // The service, in process, on a loopback port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = router(AppState::new(service.clone(), service_keyring));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // wrk picks a random (tenant, connection, key) per request from this file.
    let dir = std::env::temp_dir().join(format!("cv-http-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let targets_file = dir.join("targets.txt");
    let mut f = std::fs::File::create(&targets_file)?;
    for t in &targets {
        writeln!(
            f,
            "/v1/tenants/{}/connections/{}/credentials {}",
            t.tenant, t.connection, t.key
        )?;
    }
    drop(f);
    let script = dir.join("read.lua");
    std::fs::write(
        &script,
        LUA.replace("TARGETS", &targets_file.display().to_string()),
    )?;

    // Warm up, then measure with the write counters read before and after.
    let check = reqwest_like_get(&addr.to_string(), &targets[0]).await?;
    anyhow::ensure!(
        check.starts_with("HTTP/1.1 200"),
        "credential read failed: {check}"
    );
    wrk(&addr.to_string(), &script, 3, args.concurrency)?;
    let writes_before = table_writes(&db).await?;
    let http = wrk(&addr.to_string(), &script, args.seconds, args.concurrency)?;
    let writes_after = table_writes(&db).await?;
    println!(
        "HTTP credential read, row-level security on, {} s, {} connections (wrk -t2):",
        args.seconds, args.concurrency
    );
    println!("{http}");
    println!(
        "rows inserted+updated+deleted in any table during the HTTP run: {}",
        writes_after - writes_before
    );

    // Row-level security off and on again, alternating, same data and process.
    let mut on = vec![rps_of(&http)?];
    let mut off = Vec::new();
    for round in 0..2 {
        set_row_level_security(&db, false).await?;
        wrk(&addr.to_string(), &script, 2, args.concurrency)?;
        let result = wrk(&addr.to_string(), &script, args.seconds, args.concurrency)?;
        println!("row-level security off (round {}):\n{result}", round + 1);
        off.push(rps_of(&result)?);
        set_row_level_security(&db, true).await?;
        if round == 0 {
            wrk(&addr.to_string(), &script, 2, args.concurrency)?;
            let result = wrk(&addr.to_string(), &script, args.seconds, args.concurrency)?;
            println!("row-level security on (round 2):\n{result}");
            on.push(rps_of(&result)?);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "mean req/s: row-level security on {:.0}, off {:.0}; cost {:.1}% of throughput",
        mean(&on),
        mean(&off),
        100.0 * (1.0 - mean(&on) / mean(&off))
    );

    // The same rows by a plain point lookup, same database, same concurrency.
    let (rps, p50, p99) = point_lookups(&db, &targets, args.seconds, args.concurrency).await?;
    println!(
        "plain point lookup (SELECT … FROM credential_secrets WHERE tenant_id = $1 AND connection_id = $2), {} s, {} concurrent: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
        args.seconds, args.concurrency, rps, p50, p99
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// Switches the policies of every tenant table off or back on (as the owner).
async fn set_row_level_security(owner: &DatabaseConnection, on: bool) -> anyhow::Result<()> {
    for table in connvault::db::roles::TENANT_TABLES {
        let sql = if on {
            format!(
                "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; ALTER TABLE {table} FORCE ROW LEVEL SECURITY"
            )
        } else {
            format!(
                "ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY; ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"
            )
        };
        owner.execute_unprepared(&sql).await?;
    }
    Ok(())
}

fn rps_of(wrk_output: &str) -> anyhow::Result<f64> {
    wrk_output
        .lines()
        .find_map(|l| l.strip_prefix("rps "))
        .context("wrk printed no rps")?
        .trim()
        .parse()
        .context("rps is a number")
}

const LUA: &str = r#"
local targets = {}
for line in io.lines("TARGETS") do
  local path, key = line:match("^(%S+) (%S+)$")
  targets[#targets + 1] = { path = path, key = key }
end
math.randomseed(os.time())
request = function()
  local t = targets[math.random(#targets)]
  return wrk.format("GET", t.path, { ["Authorization"] = "Bearer " .. t.key })
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d errors %d non2xx %d\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
  io.write(string.format("rps %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50_ms %.3f\np99_ms %.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"#;

fn wrk(
    addr: &str,
    script: &std::path::Path,
    seconds: u64,
    concurrency: usize,
) -> anyhow::Result<String> {
    let text = wrk_cmd::run(addr, script, seconds, concurrency)?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("requests ") || l.starts_with("rps ") || l.contains("_ms "))
        .collect::<Vec<_>>()
        .join("\n"))
}

async fn reqwest_like_get(addr: &str, t: &Target) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "GET /v1/tenants/{}/connections/{}/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        t.tenant, t.connection, t.key
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

async fn table_writes(db: &DatabaseConnection) -> anyhow::Result<i64> {
    // Let every backend publish its pending statistics first: an idle PostgreSQL
    // backend may hold them for up to 10 s (PGSTAT_IDLE_INTERVAL).
    tokio::time::sleep(Duration::from_secs(11)).await;
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint AS n FROM pg_stat_user_tables",
        ))
        .await?
        .context("stats row")?;
    Ok(row.try_get("", "n")?)
}

async fn point_lookups(
    db: &DatabaseConnection,
    targets: &[Target],
    seconds: u64,
    concurrency: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let pairs: Arc<Vec<(uuid::Uuid, uuid::Uuid)>> = Arc::new(
        targets
            .iter()
            .map(|t| (t.tenant.as_uuid(), t.connection.as_uuid()))
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (db, pairs) = (db.clone(), pairs.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let (tenant, conn) = pairs[rand::rng().random_range(0..pairs.len())];
                let started = Instant::now();
                let rows = db
                    .query_all_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT field, ciphertext, key_id FROM credential_secrets WHERE tenant_id = $1 AND connection_id = $2",
                        [tenant.into(), conn.into()],
                    ))
                    .await?;
                anyhow::ensure!(!rows.is_empty());
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Ok((all.len() as f64 / seconds as f64, pct(0.50), pct(0.99)))
}
