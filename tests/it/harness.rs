//! The harness's own guarantees: a log capture sees the events of tasks spawned on
//! other threads, and the secret scan of `.ci/run` fails on a leak, on no recorded
//! secret, and passes on clean logs.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::logs::Capture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_sees_the_events_of_tasks_spawned_on_other_threads() {
    let capture = Capture::start();
    let marker = format!("spawned-task-{}", uuid::Uuid::new_v4().simple());
    let test_thread = std::thread::current().id();
    let value = marker.clone();
    let task_thread = tokio::spawn(async move {
        tracing::warn!(target: "connvault", marker = %value, "an event from a spawned task");
        std::thread::current().id()
    })
    .await
    .unwrap();
    assert_ne!(task_thread, test_thread, "the task ran on a worker thread");
    assert!(capture.text().contains(&marker), "the capture missed it");
}

#[test]
fn a_capture_only_holds_what_happened_while_it_lived() {
    let marker = format!("uncaptured-{}", uuid::Uuid::new_v4().simple());
    let capture = Capture::start();
    drop(capture);
    tracing::warn!(target: "connvault", marker = %marker, "after the capture");
    let capture = Capture::start();
    assert!(!capture.text().contains(&marker));
}

/// Runs `.ci/scan-secrets` on `dir`.
fn scan(dir: &Path) -> Output {
    Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/scan-secrets"))
        .arg(dir)
        .output()
        .expect("bash runs")
}

fn output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Not recorded: it must never be anywhere but in the crafted directories.
const PLANTED: &str = "planted-for-the-scan-0123456789";

#[test]
fn the_secret_scan_fails_on_a_recorded_secret_in_any_log_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("secrets-1.txt"),
        format!("short\nsk_live_not_in_any_log_000\n{PLANTED}\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("it-1.log"), "{\"message\":\"clean\"}\n").unwrap();
    let out = scan(dir.path());
    assert!(out.status.success(), "{}", output(&out));
    assert!(output(&out).contains("2 secrets"), "{}", output(&out));

    // In a log of another process, mid-line.
    std::fs::write(
        dir.path().join("serve-1-0.log"),
        format!("INFO connvault: refreshed token={PLANTED} ok\n"),
    )
    .unwrap();
    let out = scan(dir.path());
    assert!(!out.status.success(), "the leak passed the scan");
    let text = output(&out);
    assert!(text.contains("serve-1-0.log"), "names the log: {text}");
    assert!(text.contains("1 of 2"), "{text}");
    assert!(!text.contains(PLANTED), "the scan printed the secret");
}

#[test]
fn the_secret_scan_fails_when_nothing_was_recorded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("it-1.log"), "{\"message\":\"clean\"}\n").unwrap();
    let out = scan(dir.path());
    assert!(!out.status.success(), "no secrets file: {}", output(&out));
    std::fs::write(dir.path().join("secrets-1.txt"), "").unwrap();
    let out = scan(dir.path());
    assert!(
        !out.status.success(),
        "empty secrets file: {}",
        output(&out)
    );
    // Too short to be scanned for: as good as nothing.
    std::fs::write(dir.path().join("secrets-1.txt"), "short\n1234567\n\n").unwrap();
    let out = scan(dir.path());
    assert!(!out.status.success(), "only short values: {}", output(&out));
    assert!(output(&out).contains("recorder"), "{}", output(&out));
}

#[test]
fn the_secret_scan_reads_the_authorization_servers_secrets_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("secrets-1.txt"),
        "sk_live_harness_0000001\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secrets-oidc-1-0.txt"),
        format!("{PLANTED}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("it-1.log"),
        format!("{{\"fields\":{{\"message\":\"code={PLANTED}\"}}}}\n"),
    )
    .unwrap();
    let out = scan(dir.path());
    assert!(!out.status.success(), "the leak passed the scan");
    let text = output(&out);
    assert!(text.contains("secrets-oidc-1-0.txt"), "names the recorder");
    assert!(text.contains("it-1.log:1"), "names the log line");
    assert!(!text.contains(PLANTED), "the scan printed the secret");
}
