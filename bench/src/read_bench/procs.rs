//! The processes the benchmark runs: `connvault serve`, the baseline, and `wrk`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::populate::Target;

/// A child service and the address it listens on. Killed when dropped.
pub struct Service {
    pub child: Child,
    pub addr: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Resident set size now and its peak, in KiB (`/proc/<pid>/status`).
    pub fn rss_kib(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .context("a /proc status field")?
                .parse()
                .context("a number")
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }
}

/// The binaries next to this one (built by the same `cargo build --release`).
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("a directory")?.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: cargo build --release --bin connvault -p connvault-bench",
        path.display()
    );
    Ok(path)
}

/// Starts `program args` with `env` in `dir`, its output going straight to `log`, and
/// waits for the line naming its address (`… listening on http://ADDR`).
pub fn spawn(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    dir: &Path,
    log: &Path,
) -> anyhow::Result<Service> {
    let file = std::fs::File::create(log)?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATION_DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", program.display()))?;
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log)?;
        // Only a whole line: the file may end in the middle of it.
        if let Some((line, _)) = text
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_once('\n'))
        {
            let addr = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            return Ok(Service { child, addr });
        }
        if child.try_wait()?.is_some() || started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!(
                "{} did not start listening (log: {})",
                program.display(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until `GET path` answers 200; how long that took from `since`.
pub fn wait_ok(
    addr: &str,
    path: &str,
    since: Instant,
    limit: Duration,
) -> anyhow::Result<Duration> {
    loop {
        if get_status(addr, path, None).unwrap_or(0) == 200 {
            return Ok(since.elapsed());
        }
        anyhow::ensure!(
            since.elapsed() < limit,
            "{path} did not answer 200 within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The status of one `GET` (a fresh connection), with an optional bearer key.
pub fn get_status(addr: &str, path: &str, key: Option<&str>) -> anyhow::Result<u16> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr)?;
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let head = String::from_utf8_lossy(&raw[..raw.len().min(64)]).into_owned();
    head.split_whitespace()
        .nth(1)
        .context("a status line")?
        .parse()
        .context("a status")
}

/// One `wrk` result.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub failed: u64,
}

/// Writes the targets and the script that picks a random one per request.
pub fn script(dir: &Path, targets: &[Target]) -> anyhow::Result<PathBuf> {
    let targets_file = dir.join("targets.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&targets_file)?);
    for t in targets {
        writeln!(
            f,
            "/v1/tenants/{}/connections/{}/credentials {}",
            t.tenant, t.connection, t.key
        )?;
    }
    f.flush()?;
    let script = dir.join("read.lua");
    std::fs::write(
        &script,
        LUA.replace("TARGETS", &targets_file.display().to_string()),
    )?;
    Ok(script)
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
  io.write(string.format("requests %d\nfailed %d\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
    + summary.errors.status))
  io.write(string.format("rps %.1f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50_ms %.3f\np99_ms %.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"#;

/// `wrk -t2 -c<concurrency> -d<seconds>s` with the script against `addr`.
pub fn wrk(addr: &str, script: &Path, seconds: u64, concurrency: usize) -> anyhow::Result<Load> {
    let text = crate::wrk_cmd::run(addr, script, seconds, concurrency)?;
    let value = |name: &str| -> anyhow::Result<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .with_context(|| format!("wrk printed no {name}"))?
            .trim()
            .parse()
            .context("a number")
    };
    Ok(Load {
        rps: value("rps ")?,
        p50_ms: value("p50_ms ")?,
        p99_ms: value("p99_ms ")?,
        requests: value("requests ")? as u64,
        failed: value("failed ")? as u64,
    })
}
