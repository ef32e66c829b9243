//! The pages in a real browser: Debian's chromium driven by Playwright
//! (`tests/web/browser.mjs`) against a `connvault serve` process, with the test
//! authorization server (`tests/oidc`) and a local API-key provider. The script checks
//! each page with axe-core, scans it for every recorded secret and saves a screenshot
//! under `target/web-screenshots/`; this test sets everything up and checks what the
//! browser stored.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

use crate::cli::{connvault, run, stdout};
use crate::health::api_key;
use crate::health::provider::{Mode, Provider};
use crate::support::oidc::{self, Oidc};
use crate::support::serve::spawn_serve;
use crate::support::{TestDb, logs, secrets};

mod setup;

use setup::{Api, events_for_the_console};

/// The product's page the end user returns to, on a local server: the browser really
/// lands there, redirects and all.
async fn start_app() -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().fallback(|| async {
        axum::response::Html(
            "<!doctype html><html lang=\"en\"><title>App</title><main><h1>Back in the app</h1></main></html>",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (origin, task)
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/web")
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

static INSTALL: Mutex<bool> = Mutex::new(false);

/// Installs playwright-core and axe-core from the lock file once, if missing.
fn ensure_installed() {
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if *done || dir().join("node_modules/playwright-core").is_dir() {
        *done = true;
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .current_dir(dir())
        .status()
        .expect("npm runs (Node.js is needed for the browser tests)");
    assert!(status.success(), "npm ci in tests/web failed");
    *done = true;
}

fn screenshots() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("web-screenshots")
}

async fn run_script(config: &Path) -> (bool, String) {
    let child = tokio::process::Command::new("node")
        .arg(dir().join("browser.mjs"))
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let out = tokio::time::timeout(Duration::from_secs(240), child.wait_with_output())
        .await
        .expect("the browser script finishes")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    logs::append_child_log("browser", &text);
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_users_and_admins_use_the_pages_in_a_real_browser() {
    scenarios(None).await;
}

/// The same scenarios with `connvault serve` on PostgreSQL (its own database, the
/// service role of a single-URL set-up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_work_the_same_on_postgres() {
    scenarios(Some(TestDb::postgres().await)).await;
}

/// Sets everything up through the API and the CLI, runs the browser script, and checks
/// what the browser stored. `db`: a PostgreSQL database, or SQLite in the work
/// directory when `None`.
async fn scenarios(db: Option<TestDb>) {
    assert!(
        Path::new(&chromium()).is_file(),
        "the browser tests need Debian's chromium at {} (apt-get install chromium, or set CHROMIUM)",
        chromium()
    );
    ensure_installed();
    let provider = Provider::start().await;
    let good = api_key();
    let bad = api_key();
    provider.set(Mode::Accept(Box::leak(good.clone().into_boxed_str())));

    let (app_origin, _app) = start_app().await;
    let return_url = format!("{app_origin}/connected");
    let work = tempfile::tempdir().unwrap();
    let mut env: Vec<(&str, &str)> = vec![
        ("CONNVAULT_HEALTH_CHECK_TIMEOUT_MS", "3000"),
        // One attempt: a delivery to a closed port fails at once, for the retry button.
        ("CONNVAULT_EVENT_RETRY_SCHEDULE", "0"),
        ("CONNVAULT_EVENT_POLL_MS", "200"),
    ];
    if let Some(t) = &db {
        env.push(("DATABASE_URL", t.url.as_str()));
        env.push(("CONNVAULT_MASTER_KEY", t.master_key_b64.as_str()));
    }
    let server = spawn_serve(work.path(), &env).await;
    let base = format!("http://{}", server.addr);
    let mut create = connvault(work.path());
    create.args(["api-key", "create", "--operator", "--name", "browser"]);
    if let Some(t) = &db {
        create
            .env("DATABASE_URL", &t.url)
            .env("CONNVAULT_MASTER_KEY", &t.master_key_b64);
    }
    let out = run(&mut create);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let operator = stdout(&out).trim().to_owned();
    secrets::record(&operator);
    let idp = Oidc::start_with(&[&format!("{base}/oauth/callback/testidp")]).await;
    let api = Api {
        base: base.clone(),
        http: reqwest::Client::new(),
    };

    api.put(
        "/v1/providers/acmecrm",
        &operator,
        json!({
            "display_name": "Acme CRM",
            "auth_modes": ["api_key"],
            "health_check": {"method": "GET", "url": format!("{}/me", provider.base)},
            "docs_url": "https://docs.acmecrm.example/api-keys",
            "metadata": {"api_key_header": "X-Api-Key", "api_key_help": "Settings → API → New key."},
        }),
    )
    .await;
    api.put(
        "/v1/providers/testidp",
        &operator,
        json!({
            "display_name": "Test IdP",
            "auth_modes": ["oauth2_authorization_code"],
            "authorization_url": format!("{}/auth", idp.issuer),
            "token_url": format!("{}/token", idp.issuer),
            "default_scopes": ["openid", "api:read"],
            "metadata": {"issuer": idp.issuer, "identity": {"id_token_claim": "sub"}},
        }),
    )
    .await;
    api.put(
        "/v1/providers/testcc",
        &operator,
        json!({
            "display_name": "Test Service",
            "auth_modes": ["oauth2_client_credentials"],
            "token_url": format!("{}/token", idp.issuer),
            "docs_url": "https://docs.test-service.example/service-accounts",
            "metadata": {"client_id_label": "Service account ID", "client_secret_help": "Under Service accounts → Secrets."},
        }),
    )
    .await;
    api.put(
        "/v1/oauth-apps/testidp",
        &operator,
        json!({"client_id": oidc::CLIENT_ID, "client_secret": oidc::CLIENT_SECRET, "allowed_return_urls": [return_url]}),
    )
    .await;
    let tenant = api
        .post("/v1/tenants", &operator, json!({"name": "acme"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = |role: &'static str| {
        let api = &api;
        let tenant = tenant.clone();
        let operator = operator.clone();
        async move {
            let r = api
                .post(
                    &format!("/v1/tenants/{tenant}/api-keys"),
                    &operator,
                    json!({"name": format!("{role} key"), "role": role}),
                )
                .await;
            let secret = r["secret"].as_str().unwrap().to_owned();
            secrets::record(&secret);
            secret
        }
    };
    let admin = key("admin").await;
    let viewer = key("viewer").await;
    let service = key("service").await;
    let mut connections = Vec::new();
    for _ in 0..2 {
        let r = api
            .post(
                &format!("/v1/tenants/{tenant}/connections"),
                &admin,
                json!({
                    "provider": "acmecrm",
                    "external_id": format!("acct-{}", uuid::Uuid::new_v4().simple()),
                    "credential": {"kind": "api_key", "api_key": good},
                }),
            )
            .await;
        connections.push(r["id"].as_str().unwrap().to_owned());
    }
    let form_link = api.link(&tenant, &admin, "acmecrm", &return_url).await;
    let oauth_link = api.link(&tenant, &admin, "testidp", &return_url).await;
    let picker_link = api
        .picker(
            &tenant,
            &admin,
            &["acmecrm", "testidp", "testcc"],
            &return_url,
        )
        .await;
    let deny_link = api
        .picker(&tenant, &admin, &["testidp", "testcc"], &return_url)
        .await;
    let link_tokens: Vec<String> = [&form_link, &oauth_link, &picker_link, &deny_link]
        .iter()
        .map(|l| l.trim_start_matches("/connect/").to_owned())
        .collect();
    let (endpoint, webhook_repo) =
        events_for_the_console(&api, &base, &tenant, &admin, &operator).await;

    let secrets_file = work.path().join("secrets.json");
    let mut all = secrets::all();
    all.push(bad.clone());
    let cc_bad = "client-secret-browser-wrong-0000";
    secrets::record(cc_bad);
    all.push(cc_bad.to_owned());
    std::fs::write(&secrets_file, serde_json::to_vec(&all).unwrap()).unwrap();
    // PostgreSQL's run keeps its screenshots apart.
    let shots = match &db {
        Some(_) => screenshots().join("postgres"),
        None => screenshots(),
    };
    let config = json!({
        "base": base,
        "chromium": chromium(),
        "screenshots": shots,
        "secrets_file": secrets_file,
        "link_tokens": link_tokens,
        "return_origin": app_origin,
        "form_link": form_link,
        "oauth_link": oauth_link,
        "picker_link": picker_link,
        "deny_link": deny_link,
        "cc_client_id": oidc::CC_CLIENT_ID,
        "cc_client_secret": oidc::CC_CLIENT_SECRET,
        "cc_bad_secret": cc_bad,
        "idp_issuer": idp.issuer,
        "endpoint": endpoint,
        "webhook_repository": webhook_repo,
        "good_key": good,
        "bad_key": bad,
        "admin_key": admin,
        "viewer_key": viewer,
        "operator_key": operator,
        "tenant": tenant,
        "first_connection": connections[0],
        "second_connection": connections[1],
    });
    let config_file = work.path().join("config.json");
    std::fs::write(&config_file, serde_json::to_vec(&config).unwrap()).unwrap();
    let (ok, output) = run_script(&config_file).await;
    assert!(ok, "the browser checks failed:\n{output}");

    // What the browser did is what was stored: the form's key, tested first; the
    // rejected key tested and not stored; the OAuth connection; the disconnection.
    let result = |name: &str| {
        output
            .lines()
            .find_map(|l| l.strip_prefix(&format!("RESULT {name}=")))
            .unwrap_or_else(|| panic!("no {name} in\n{output}"))
            .to_owned()
    };
    let form_connection = result("form_connection");
    let read = api
        .get(
            &format!("/v1/tenants/{tenant}/connections/{form_connection}/credentials"),
            &service,
        )
        .await;
    assert_eq!(read["fields"]["api_key"], good.as_str());
    assert_eq!(provider.hits(&bad), 1);
    let listed = api
        .get(
            &format!("/v1/tenants/{tenant}/connections?provider=acmecrm"),
            &admin,
        )
        .await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        3,
        "two made by the API, one by the form"
    );
    let oauth = api
        .get(
            &format!(
                "/v1/tenants/{tenant}/connections/{}",
                result("oauth_connection")
            ),
            &admin,
        )
        .await;
    assert_eq!(oauth["status"], "active");
    let second = api
        .get(
            &format!("/v1/tenants/{tenant}/connections/{}", connections[1]),
            &admin,
        )
        .await;
    assert_eq!(second["status"], "revoked");
    let cc = api
        .get(
            &format!(
                "/v1/tenants/{tenant}/connections/{}",
                result("cc_connection")
            ),
            &admin,
        )
        .await;
    assert_eq!(cc["provider"], "testcc");
    assert_eq!(cc["status"], "active");
    let denied = api
        .get(
            &format!(
                "/v1/tenants/{tenant}/connect-sessions/{}",
                result("denied_session")
            ),
            &admin,
        )
        .await;
    assert_eq!(denied["error_code"], "access_denied");
    assert_eq!(denied["provider"], "testidp", "the provider picked");
    for page in [
        "connect-form",
        "connect-success",
        "connect-picker",
        "connect-client-credentials",
        "oauth-result",
        "oauth-denied",
        "console-integrations",
        "console-activity",
        "console-operations",
        "console-deliveries",
        "console-webhook-events",
    ] {
        assert!(shots.join(format!("{page}.png")).is_file(), "{page}");
    }
    server.interrupt().await;
    drop(db);
}
