//! A `connvault serve` child process on a free port, and its log, which is also
//! written to `target/test-logs/serve-<pid>-<n>.log` for the secret scan.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

pub const BIN: &str = env!("CARGO_BIN_EXE_connvault");

/// A running `connvault serve`, and the address it listens on.
pub struct Server {
    pub child: tokio::process::Child,
    pub addr: String,
    log: tokio::task::JoinHandle<String>,
}

pub async fn spawn_serve(dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.current_dir(dir)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATION_DATABASE_URL")
        .env_remove("CONNVAULT_SERVICE_ROLE")
        .env_remove("CONNVAULT_PROFILE")
        .env_remove("CONNVAULT_MASTER_KEY")
        .env_remove("CONNVAULT_MASTER_KEY_FILE")
        .env("CONNVAULT_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn serve");
    let file = std::fs::File::create(super::logs::unique_file("serve", "log"))
        .expect("a log file for serve");
    let log_file = std::sync::Arc::new(std::sync::Mutex::new(file));
    // stdout carries nothing meant for the test, but it goes to the log file too.
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let out_file = log_file.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = out.next_line().await {
            append(&out_file, &line);
        }
    });
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            append(&log_file, &line);
            seen.push_str(&line);
            seen.push('\n');
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("serve exited before listening:\n{seen}");
    })
    .await
    .expect("serve starts listening");
    let log = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            append(&log_file, &line);
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    Server { child, addr, log }
}

/// Appends a line to the log file, unbuffered: what the process said is on disk even
/// if the test ends first.
fn append(file: &std::sync::Mutex<std::fs::File>, line: &str) {
    let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
    let _ = file.write_all(format!("{line}\n").as_bytes());
}

impl Server {
    /// Sends SIGINT (what Ctrl-C sends) and waits for a clean exit.
    pub async fn interrupt(mut self) -> String {
        let pid = self.child.id().expect("running").to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("serve stops after SIGINT")
            .unwrap();
        let log = self.log.await.unwrap();
        assert!(exit.success(), "exit status {exit:?}\n{log}");
        log
    }
}
