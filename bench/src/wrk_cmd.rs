//! Running `wrk` (the Debian package) for the HTTP benchmarks.

use std::path::Path;
use std::process::Command;

use anyhow::Context;

/// `wrk -t2 -c<concurrency> -d<seconds>s -s <script> http://<addr>`; its standard
/// output, or an error with its standard error.
pub fn run(addr: &str, script: &Path, seconds: u64, concurrency: usize) -> anyhow::Result<String> {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{concurrency}"),
            &format!("-d{seconds}s"),
            "-s",
        ])
        .arg(script)
        .arg(format!("http://{addr}"))
        .output()
        .context("run wrk (install the Debian package `wrk`)")?;
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
