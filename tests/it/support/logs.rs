//! Log capture. One process-wide subscriber sends every event, at trace level for
//! connvault, as JSON to `target/test-logs/it-<pid>.log` (which `.ci/run` scans for
//! recorded secrets) and to every live [`Capture`]. Being global, it also sees the
//! events of spawned tasks on other worker threads, which a thread-local
//! `set_default` subscriber misses.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where the test logs go, and the secrets recorded for their scan.
pub fn log_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-logs")
}

/// A fresh file name in [`log_dir`] (created if missing): `<prefix>-<pid>-<n>.<ext>`.
pub fn unique_file(prefix: &str, ext: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = log_dir();
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{prefix}-{}-{n}.{ext}", std::process::id()))
}

/// What the test runs log: everything connvault does, requests, and SQL.
const FILTER: &str = "connvault=trace,tower_http=trace,sea_orm=debug,sqlx=debug,info";

/// Installs the global subscriber, once. Every test that logs calls this first
/// (`TestDb::new` and [`Capture::start`] do).
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = log_dir();
        let file = std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::File::create(dir.join(format!("it-{}.log", std::process::id()))))
            .ok();
        let to_file = file.map(|f| {
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(Mutex::new(f))
        });
        // Formatted only while a capture is live (asked at every event: not cached).
        let to_captures = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(Captures)
            .with_filter(tracing_subscriber::filter::dynamic_filter_fn(|_, _| {
                LIVE_COUNT.load(Ordering::Relaxed) > 0
            }));
        let _ = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(FILTER))
            .with(to_file)
            .with(to_captures)
            .try_init();
    });
}

/// An in-memory log.
#[derive(Clone, Default)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl Buffer {
    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The buffers of the live captures, by id.
static LIVE: Mutex<Vec<(u64, Buffer)>> = Mutex::new(Vec::new());
static LIVE_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Receives every event of the process, from any thread, while it lives. Other tests
/// run concurrently and their events land here too: assert the absence of anything in
/// [`Capture::text`], and the presence of something in [`Capture::own_text`], the
/// events inside [`Capture::span`].
pub struct Capture {
    id: u64,
    buffer: Buffer,
    marker: String,
}

impl Capture {
    pub fn start() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        capture_logs();
        let capture = Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            buffer: Buffer::default(),
            marker: format!("capture-{}", uuid::Uuid::new_v4().simple()),
        };
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.push((capture.id, capture.buffer.clone()));
        LIVE_COUNT.store(live.len(), Ordering::Relaxed);
        drop(live);
        capture
    }

    /// Everything captured so far, this test's events and any other's.
    pub fn text(&self) -> String {
        self.buffer.text()
    }

    /// A span marked as this capture's: instrument the work whose events
    /// [`Capture::own_text`] should hold with it.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("capture", capture = %self.marker)
    }

    /// The captured events inside [`Capture::span`], one JSON object a line.
    pub fn own_text(&self) -> String {
        self.text()
            .lines()
            .filter(|line| line.contains(&self.marker))
            .map(|line| format!("{line}\n"))
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|(id, _)| *id != self.id);
        LIVE_COUNT.store(live.len(), Ordering::Relaxed);
    }
}

/// Writes to every live capture.
struct Captures;

/// One event's bytes, handed to the live captures as a whole when dropped.
struct EventWriter(Vec<u8>);

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        for (_, buffer) in LIVE.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
            let _ = buffer.write(&self.0);
        }
    }
}

impl<'a> MakeWriter<'a> for Captures {
    type Writer = EventWriter;
    fn make_writer(&'a self) -> Self::Writer {
        EventWriter(Vec::new())
    }
}

/// Appends what a child process logged to `target/test-logs/<name>-<pid>.log`, for
/// the secret scan.
pub fn append_child_log(name: &str, text: &str) {
    static LOCK: Mutex<()> = Mutex::new(());
    if text.is_empty() {
        return;
    }
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = log_dir();
    let _ = std::fs::create_dir_all(&dir);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}-{}.log", std::process::id())));
    if let Ok(mut file) = file {
        let _ = file.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = file.write_all(b"\n");
        }
    }
}
