//! The credential read against a bare lookup, over HTTP, each a real process: the
//! `connvault serve` binary (row-level security, API keys, decryption, audit) and the
//! `baseline` binary (axum + sqlx, one indexed `SELECT` of the same rows), driven
//! alternately (A, B, A, B, …) by `wrk` with one script that reads a random
//! connection's credential with its tenant's key. Then: the resident memory of `serve`
//! under load at 100,000 connections, the same comparison on SQLite, and the time from
//! starting `serve` on an empty directory (SQLite) to `/readyz` answering 200.
//!
//! Needs `wrk` (Debian package) and the release binaries `connvault` and `baseline`
//! next to this one. Results and commands: bench/README.md.

mod populate;
mod procs;
#[path = "../wrk_cmd.rs"]
mod wrk_cmd;

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
use rand::Rng;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use populate::{Target, populate};
use procs::{Load, Service, sibling, spawn, wrk};

#[derive(Parser)]
struct Args {
    #[arg(
        long,
        env = "BENCH_ADMIN_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
    /// Connections read in the comparison.
    #[arg(long, default_value_t = 2_000)]
    connections: usize,
    /// Tenants they belong to (one service key each).
    #[arg(long, default_value_t = 20)]
    tenants: usize,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// wrk connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measurements of each service, alternating.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Connections in the database for the memory measurement (0: skip it).
    #[arg(long, default_value_t = 100_000)]
    rss_connections: usize,
    /// Tenants of the memory measurement's connections.
    #[arg(long, default_value_t = 1_000)]
    rss_tenants: usize,
    /// Skip the comparison on SQLite.
    #[arg(long)]
    skip_sqlite: bool,
    /// Starts on an empty directory to time (0: skip).
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// The `connvault` binary to measure (default: the one next to this binary), e.g. a
    /// build of an earlier commit.
    #[arg(long)]
    connvault: Option<std::path::PathBuf>,
    /// Extra `NAME=VALUE` settings for `serve` (e.g. `CONNVAULT_KEY_CACHE_CAPACITY=0`).
    #[arg(long = "serve-env")]
    serve_env: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let connvault = match &args.connvault {
        Some(path) => path.clone(),
        None => sibling("connvault")?,
    };
    let baseline = sibling("baseline")?;
    let dir = std::env::temp_dir().join(format!("cv-read-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut master = [0u8; 32];
    rand::rng().fill(&mut master);
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, master);
    let bench = Bench {
        args: &args,
        connvault: &connvault,
        baseline: &baseline,
        dir: &dir,
        master: &master,
    };
    println!(
        "credential read: {} connections in {} tenants, wrk -t2 -c{}, {} s per measurement, {} rounds",
        args.connections, args.tenants, args.concurrency, args.seconds, args.rounds
    );

    let name = format!("cv_bench_{}", uuid::Uuid::new_v4().simple());
    let server = Database::connect(&args.admin_url).await?;
    server
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    let mut url = url::Url::parse(&args.admin_url)?;
    url.set_path(&format!("/{name}"));
    let result = bench.postgres(url.as_str()).await;
    server
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    result?;
    if !args.skip_sqlite {
        bench.sqlite().await?;
    }
    if args.starts > 0 {
        bench.start_to_ready()?;
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

struct Bench<'a> {
    args: &'a Args,
    connvault: &'a Path,
    baseline: &'a Path,
    dir: &'a Path,
    master: &'a str,
}

impl Bench<'_> {
    fn serve(&self, database_url: Option<&str>, dir: &Path, log: &str) -> anyhow::Result<Service> {
        let mut env = vec![
            ("CONNVAULT_BIND", "127.0.0.1:0".to_owned()),
            ("CONNVAULT_MASTER_KEY", self.master.to_owned()),
            // The background jobs would call the real providers (health checks of
            // every connection at start) and write: the read alone is measured.
            ("CONNVAULT_HEALTH_CHECK_INTERVAL_SECS", "0".to_owned()),
            ("CONNVAULT_REFRESH_INTERVAL_SECS", "0".to_owned()),
        ];
        if let Some(url) = database_url {
            env.push(("DATABASE_URL", url.to_owned()));
        }
        let extra: Vec<(String, String)> = self
            .args
            .serve_env
            .iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        spawn(self.connvault, &["serve"], &env, dir, &self.dir.join(log))
    }

    fn baseline(&self, database_url: &str, log: &str) -> anyhow::Result<Service> {
        spawn(
            self.baseline,
            &["--database-url", database_url],
            &[],
            self.dir,
            &self.dir.join(log),
        )
    }

    async fn fill(
        &self,
        url: &str,
        tenants: usize,
        connections: usize,
        first: usize,
    ) -> anyhow::Result<(DatabaseConnection, Vec<Target>)> {
        let owner = connvault::db::connect(url, 8).await?;
        connvault::db::migrate(&owner).await?;
        connvault::catalog::seed(&owner, &connvault::catalog::Catalog::builtin()?).await?;
        let keyring = Keyring::open(
            owner.clone(),
            MasterKey::from_base64(self.master)?,
            KeyringOptions::default(),
        )
        .await?;
        let started = Instant::now();
        let targets = populate(&owner, &keyring, tenants, connections, first).await?;
        println!(
            "populated {connections} connections in {tenants} tenants in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok((owner, targets))
    }

    async fn postgres(&self, url: &str) -> anyhow::Result<()> {
        let args = self.args;
        let (owner, mut targets) = self.fill(url, args.tenants, args.connections, 0).await?;
        owner.execute_unprepared("ANALYZE").await?;
        let serve = self.serve(Some(url), self.dir, "serve-postgres.log")?;
        let baseline = self.baseline(url, "baseline-postgres.log")?;
        self.compare("PostgreSQL", &serve, &baseline, &targets)?;
        drop(baseline);
        if args.rss_connections > args.connections {
            let (_, more) = self
                .fill(
                    url,
                    args.rss_tenants,
                    args.rss_connections - args.connections,
                    args.connections,
                )
                .await?;
            targets.extend(more);
            owner.execute_unprepared("ANALYZE").await?;
            let script = procs::script(self.dir, &targets)?;
            let (idle, _) = serve.rss_kib()?;
            let load = wrk(&serve.addr, &script, args.seconds, args.concurrency)?;
            let (rss, peak) = serve.rss_kib()?;
            println!(
                "memory of serve at {} connections in {} tenants, PostgreSQL: {:.1} MiB before the load, {:.1} MiB after {} s of reads over all of them (peak {:.1} MiB); {:.0} req/s, {} failed",
                targets.len(),
                args.tenants + args.rss_tenants,
                idle as f64 / 1024.0,
                rss as f64 / 1024.0,
                args.seconds,
                peak as f64 / 1024.0,
                load.rps,
                load.failed
            );
        }
        drop(serve);
        owner.close().await?;
        Ok(())
    }

    async fn sqlite(&self) -> anyhow::Result<()> {
        let args = self.args;
        let data = self.dir.join("sqlite");
        std::fs::create_dir_all(&data)?;
        let file = data.join("connvault.db");
        let url = format!("sqlite://{}", file.display());
        let (owner, targets) = self
            .fill(
                &format!("{url}?mode=rwc"),
                args.tenants,
                args.connections,
                0,
            )
            .await?;
        owner.close().await?;
        let serve = self.serve(Some(&url), &data, "serve-sqlite.log")?;
        let baseline = self.baseline(&url, "baseline-sqlite.log")?;
        self.compare("SQLite", &serve, &baseline, &targets)
    }

    /// Warms both up, then measures them alternately and prints each result and the
    /// ratios of the means.
    fn compare(
        &self,
        backend: &str,
        serve: &Service,
        baseline: &Service,
        targets: &[Target],
    ) -> anyhow::Result<()> {
        let args = self.args;
        let t = &targets[0];
        let path = format!(
            "/v1/tenants/{}/connections/{}/credentials",
            t.tenant, t.connection
        );
        let status = procs::get_status(&serve.addr, &path, Some(&t.key))?;
        anyhow::ensure!(status == 200, "connvault answered {status}");
        let status = procs::get_status(&baseline.addr, &path, None)?;
        anyhow::ensure!(status == 200, "the baseline answered {status}");
        let script = procs::script(self.dir, targets)?;
        wrk(&serve.addr, &script, 2, args.concurrency)?;
        wrk(&baseline.addr, &script, 2, args.concurrency)?;
        let (mut ours, mut bare) = (Vec::new(), Vec::new());
        for round in 1..=args.rounds {
            for (name, service, results) in [
                ("connvault", serve, &mut ours),
                ("baseline ", baseline, &mut bare),
            ] {
                let load = wrk(&service.addr, &script, args.seconds, args.concurrency)?;
                print_load(backend, round, name, &load);
                anyhow::ensure!(load.failed == 0, "{name} failed {} requests", load.failed);
                results.push(load);
            }
        }
        let mean = |v: &[Load], f: fn(&Load) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
        let (rps, bare_rps) = (mean(&ours, |l| l.rps), mean(&bare, |l| l.rps));
        let (p99, bare_p99) = (mean(&ours, |l| l.p99_ms), mean(&bare, |l| l.p99_ms));
        println!(
            "{backend}: connvault {rps:.0} req/s, p99 {p99:.2} ms; baseline {bare_rps:.0} req/s, p99 {bare_p99:.2} ms; \
             throughput ratio {:.2}x (goal >= 0.9), p99 ratio {:.2}x (goal <= 1.5)",
            rps / bare_rps,
            p99 / bare_p99
        );
        Ok(())
    }

    /// `serve` on an empty directory (SQLite, the local profile: it makes the database
    /// file, migrates, makes the master key file and seeds the catalog) until `/readyz`
    /// answers 200.
    fn start_to_ready(&self) -> anyhow::Result<()> {
        let mut times = Vec::new();
        for i in 0..self.args.starts {
            let empty = self.dir.join(format!("empty-{i}"));
            std::fs::create_dir_all(&empty)?;
            let started = Instant::now();
            let service = spawn(
                self.connvault,
                &["serve"],
                &[("CONNVAULT_BIND", "127.0.0.1:0")],
                &empty,
                &self.dir.join(format!("serve-start-{i}.log")),
            )?;
            let took = procs::wait_ok(&service.addr, "/readyz", started, Duration::from_secs(30))?;
            times.push(took.as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "start to ready on an empty directory (SQLite), {} starts: median {:.3} s, min {:.3} s, max {:.3} s (goal <= 0.5 s)",
            times.len(),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
        Ok(())
    }
}

fn print_load(backend: &str, round: usize, name: &str, load: &Load) {
    println!(
        "{backend} round {round} {name}: {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests)",
        load.rps, load.p50_ms, load.p99_ms, load.requests
    );
}
