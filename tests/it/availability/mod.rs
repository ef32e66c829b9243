//! A database that is down, gone or unusable: `/readyz` says so with a reason, every API
//! route answers 503 `database_unavailable` with `Retry-After` (within a bounded wait,
//! never a hang), nothing is written, and service resumes without a restart when the
//! database is back. On PostgreSQL through a real `connvault serve` (a database
//! recreated empty; an outage played by a proxy the test stops) and through the router
//! over a pool (a database renamed away and back); on SQLite, a deleted or replaced file.

mod proxy;
mod readiness;

use std::path::Path;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::{connvault, run, stderr, stdout};
use crate::support::serve::spawn_serve;
use crate::support::{Backend, TestDb, admin_database_url, secrets};

/// How long any one answer may take before the test calls it a hang.
const ANSWER_BOUND: Duration = Duration::from_secs(5);

/// An HTTP answer over a socket: status, raw header block (lower-cased) and JSON body.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: String,
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then_some(value.trim())
        })
    }

    /// The answer is a 503 `database_unavailable` problem with a `Retry-After`.
    pub fn assert_database_unavailable(&self, what: &str) {
        assert_eq!(self.status, 503, "{what}: {}", self.json);
        assert_eq!(self.json["code"], "database_unavailable", "{what}");
        let retry: u64 = self
            .header("retry-after")
            .unwrap_or_else(|| panic!("{what}: no Retry-After in\n{}", self.headers))
            .parse()
            .expect("Retry-After in seconds");
        assert!(retry >= 1, "{what}");
    }
}

/// `METHOD path` with an optional bearer key and JSON body, over a fresh connection;
/// fails the test if no answer comes within [`ANSWER_BOUND`].
pub(crate) async fn call(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(key) = key {
            request.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        String::from_utf8_lossy(&raw).into_owned()
    };
    let text = tokio::time::timeout(ANSWER_BOUND, exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} answers within {ANSWER_BOUND:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        headers: head.to_ascii_lowercase(),
        json: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// An operator key made with the CLI on `database_url` (or the SQLite file in `dir`).
fn operator_key(dir: &Path, database_url: Option<&str>) -> String {
    let mut cmd = connvault(dir);
    cmd.args(["api-key", "create", "--operator", "--name", "ops"]);
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = stdout(&out).trim().to_owned();
    secrets::record(&key);
    key
}

/// Polls `GET /v1/tenants` until it answers 200; returns how long that took.
async fn time_to_first_success(addr: &str, key: &str) -> Duration {
    let start = Instant::now();
    loop {
        let answer = call(addr, "GET", "/v1/tenants", Some(key), None).await;
        if answer.status == 200 {
            return start.elapsed();
        }
        assert_eq!(
            answer.status, 503,
            "only 503 while recovering: {}",
            answer.json
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "service resumes without a restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs SQL on the server's maintenance database (not the test's own).
async fn on_server(sql: &str) {
    let server = Database::connect(admin_database_url()).await.unwrap();
    server.execute_unprepared(sql).await.unwrap();
    server.close().await.ok();
}

/// The name of a test's PostgreSQL database.
fn database_name(t: &TestDb) -> String {
    url::Url::parse(&t.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_recreated_empty_is_not_ready_and_every_route_answers_503() {
    let t = TestDb::empty(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let key = operator_key(dir.path(), Some(&t.url));
    let server = spawn_serve(dir.path(), &[("DATABASE_URL", &t.url)]).await;
    let ready = call(&server.addr, "GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.json);
    assert_eq!(
        ready.json["checks"],
        serde_json::json!({"database": "ok", "schema": "ok", "keyring": "ok"})
    );
    let tenant = call(
        &server.addr,
        "POST",
        "/v1/tenants",
        Some(&key),
        Some(r#"{"name":"Acme"}"#),
    )
    .await;
    assert_eq!(tenant.status, 201, "{}", tenant.json);
    let tenant_id = tenant.json["id"].as_str().unwrap().to_owned();

    let name = database_name(&t);
    t.owner.clone().close().await.ok();
    on_server(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await;
    on_server(&format!("CREATE DATABASE \"{name}\"")).await;

    let ready = call(&server.addr, "GET", "/readyz", None, None).await;
    ready.assert_database_unavailable("/readyz");
    assert_eq!(ready.json["status"], "unavailable");
    assert_eq!(ready.json["failed"], "schema", "{}", ready.json);
    let reason = ready.json["reason"].as_str().unwrap();
    assert!(reason.contains("not migrated"), "{reason}");
    for (method, path, body) in [
        ("GET", "/v1/tenants".to_owned(), None),
        ("POST", "/v1/tenants".to_owned(), Some(r#"{"name":"Lost"}"#)),
        ("GET", format!("/v1/tenants/{tenant_id}/connections"), None),
        ("GET", "/v1/providers".to_owned(), None),
    ] {
        call(&server.addr, method, &path, Some(&key), body)
            .await
            .assert_database_unavailable(&format!("{method} {path}"));
    }
    let health = call(&server.addr, "GET", "/healthz", None, None).await;
    assert_eq!(
        health.status, 200,
        "liveness does not depend on the database"
    );

    // Migrated again, the schema is back, but the data keys this process holds are not:
    // still not ready, and the keyring is named.
    let out = run(connvault(dir.path())
        .args(["migrate", "up"])
        .env("DATABASE_URL", &t.url));
    assert!(out.status.success(), "{}", stderr(&out));
    let ready = call(&server.addr, "GET", "/readyz", None, None).await;
    ready.assert_database_unavailable("/readyz after migrating");
    assert_eq!(ready.json["failed"], "keyring", "{}", ready.json);
    assert_eq!(ready.json["checks"]["schema"], "ok");
    let log = server.interrupt().await;
    assert!(log.contains("not ready"), "the reason is logged:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_answers_503_and_service_resumes_when_it_is_back() {
    let t = TestDb::empty(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let key = operator_key(dir.path(), Some(&t.url));
    let real = url::Url::parse(&t.url).unwrap();
    let target = format!(
        "{}:{}",
        real.host_str().unwrap(),
        real.port().unwrap_or(5432)
    );
    let mut proxy = proxy::Proxy::start(&target).await;
    let mut through = real.clone();
    through.set_port(Some(proxy.port)).unwrap();
    let server = spawn_serve(dir.path(), &[("DATABASE_URL", through.as_str())]).await;
    let answer = call(&server.addr, "GET", "/v1/tenants", Some(&key), None).await;
    assert_eq!(answer.status, 200, "{}", answer.json);

    proxy.stop().await;
    let started = Instant::now();
    for (method, path, body) in [
        ("GET", "/v1/tenants", None),
        ("POST", "/v1/tenants", Some(r#"{"name":"Lost"}"#)),
        ("GET", "/v1/providers", None),
    ] {
        call(&server.addr, method, path, Some(&key), body)
            .await
            .assert_database_unavailable(&format!("{method} {path} during the outage"));
    }
    let outage_answers = started.elapsed() / 3;
    let ready = call(&server.addr, "GET", "/readyz", None, None).await;
    ready.assert_database_unavailable("/readyz during the outage");
    assert_eq!(ready.json["failed"], "database", "{}", ready.json);

    proxy.resume().await;
    let recovery = time_to_first_success(&server.addr, &key).await;
    tracing::info!(
        target: "connvault::it::availability",
        outage_answer_ms = outage_answers.as_millis() as u64,
        recovery_ms = recovery.as_millis() as u64,
        "postgres outage: 503 answers took ~{outage_answers:?} each; first 2xx {recovery:?} after the database was back"
    );
    eprintln!(
        "postgres outage: 503 answers took ~{outage_answers:?} each; first 2xx {recovery:?} after the database was back"
    );
    let ready = call(&server.addr, "GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.json);
    server.interrupt().await;
    assert_eq!(
        t.count("tenants").await,
        0,
        "nothing was written during the outage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_renamed_away_answers_503_and_service_resumes_when_it_returns() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    let t = TestDb::postgres().await;
    let app = connvault::http::router(connvault::http::AppState::new(
        t.db.clone(),
        t.keyring().await,
    ));
    let key = secrecy::ExposeSecret::expose_secret(
        &connvault::repositories::api_keys::create(
            &t.db,
            None,
            connvault::models::api_key::Role::Operator,
            "ops",
        )
        .await
        .unwrap()
        .secret,
    )
    .to_owned();
    secrets::record(&key);
    let get = |path: &'static str| {
        let request = Request::get(path)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        let app = app.clone();
        async move {
            let response = tokio::time::timeout(ANSWER_BOUND, app.oneshot(request))
                .await
                .expect("answers within the bound")
                .unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().get("retry-after").cloned();
            (status, retry)
        }
    };
    assert_eq!(get("/v1/tenants").await.0, 200);

    let name = database_name(&t);
    let away = format!("{name}_a");
    let terminate = |db: &str| {
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        )
    };
    on_server(&terminate(&name)).await;
    on_server(&format!("ALTER DATABASE \"{name}\" RENAME TO \"{away}\"")).await;
    for path in ["/v1/tenants", "/v1/providers", "/readyz"] {
        let (status, retry) = get(path).await;
        assert_eq!(status, 503, "{path} while the database is away");
        assert!(retry.is_some(), "{path}: Retry-After");
    }
    on_server(&terminate(&away)).await;
    on_server(&format!("ALTER DATABASE \"{away}\" RENAME TO \"{name}\"")).await;
    let back = Instant::now();
    loop {
        let (status, _) = get("/v1/tenants").await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "resumes without a restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovery = back.elapsed();
    eprintln!("postgres database renamed back: first 2xx after {recovery:?}");
    tracing::info!(
        target: "connvault::it::availability",
        recovery_ms = recovery.as_millis() as u64,
        "postgres database renamed back: first 2xx after {recovery:?}"
    );
    assert_eq!(get("/readyz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_or_replaced_sqlite_file_answers_503_and_takes_no_writes() {
    let dir = tempfile::tempdir().unwrap();
    let key = operator_key(dir.path(), None);
    let server = spawn_serve(dir.path(), &[]).await;
    let create = |name: &'static str| {
        let addr = server.addr.clone();
        let key = key.clone();
        async move {
            call(
                &addr,
                "POST",
                "/v1/tenants",
                Some(&key),
                Some(&format!(r#"{{"name":"{name}"}}"#)),
            )
            .await
        }
    };
    assert_eq!(create("Before").await.status, 201);
    let file = dir.path().join("connvault.db");
    let aside = dir.path().join("aside.db");

    // Moved away: gone from the path, and answered 503, not 201; no new file appears.
    std::fs::rename(&file, &aside).unwrap();
    create("While away")
        .await
        .assert_database_unavailable("POST while the file is away");
    let ready = call(&server.addr, "GET", "/readyz", None, None).await;
    ready.assert_database_unavailable("/readyz while the file is away");
    assert_eq!(ready.json["failed"], "database", "{}", ready.json);
    assert!(!file.exists(), "the service does not create a new file");

    // The same file back: served again, without a restart, and it holds only what was
    // answered 201.
    std::fs::rename(&aside, &file).unwrap();
    assert_eq!(create("Back").await.status, 201);
    let out = run(connvault(dir.path()).args(["tenant", "list"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut names: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or_default().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Back", "Before"]);

    // Deleted: 503, and no new file appears.
    std::fs::remove_file(&file).unwrap();
    create("Lost")
        .await
        .assert_database_unavailable("POST after the file is deleted");
    assert!(!file.exists(), "the service does not create a new file");

    // Another database at the path is not the one this process opened.
    std::fs::write(&file, b"").unwrap();
    create("Elsewhere")
        .await
        .assert_database_unavailable("POST into a replaced file");
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        0,
        "nothing written to it"
    );
    let log = server.interrupt().await;
    assert!(log.contains("was deleted while in use"), "{log}");
    assert!(log.contains("was replaced by another file"), "{log}");
}
