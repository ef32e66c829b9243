//! The `connvault` binary: serve on a real socket with no set-up, on PostgreSQL with
//! `DATABASE_URL`, graceful shutdown, and the operator subcommands.

use std::path::Path;
use std::process::{Command, Output};

use sea_orm::ConnectionTrait;

use crate::support::http::socket_get;
use crate::support::serve::spawn_serve;
use crate::support::{Backend, TestDb, secrets};

const BIN: &str = env!("CARGO_BIN_EXE_connvault");

/// A command with a clean environment: none of the developer's settings leak in.
pub(crate) fn connvault(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATION_DATABASE_URL")
        .env_remove("CONNVAULT_SERVICE_ROLE")
        .env_remove("CONNVAULT_BIND")
        .env_remove("CONNVAULT_PROFILE")
        .env_remove("CONNVAULT_CATALOG")
        .env_remove("CONNVAULT_MASTER_KEY")
        .env_remove("CONNVAULT_MASTER_KEY_FILE")
        .env("RUST_LOG", "info");
    cmd
}

/// Runs a command; its stderr (the log) also goes to the test logs for the secret
/// scan. Its stdout is the command's answer, which may be a secret by design.
pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run connvault");
    crate::support::logs::append_child_log("cli", &String::from_utf8_lossy(&out.stderr));
    out
}

/// A secret the test writes: recorded for the scan of the logs.
fn secret(value: &'static str) -> &'static str {
    secrets::record(value);
    value
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_configuration_uses_an_sqlite_file_here_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(dir.path(), &[]).await;
    let (status, body) = socket_get(&server.addr, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ready"));
    let (status, _) = socket_get(&server.addr, "/healthz").await.unwrap();
    assert_eq!(status, 200);
    assert!(dir.path().join("connvault.db").exists());
    let log = server.interrupt().await;
    assert!(log.contains("connvault stopped"), "{log}");

    // Start-up seeded the catalog into that file.
    let out = run(connvault(dir.path()).args(["providers", "list"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).lines().count() >= 12);
    assert!(stdout(&out).contains("github\toauth2_authorization_code,repository_token\tGitHub"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_migrates_and_serves_on_postgres_with_database_url() {
    let t = TestDb::empty(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(dir.path(), &[("DATABASE_URL", &t.url)]).await;
    let (status, body) = socket_get(&server.addr, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    server.interrupt().await;
    assert!(
        !dir.path().join("connvault.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
    assert_eq!(
        t.count("providers").await as usize,
        connvault::catalog::KNOWN_PROVIDERS.len()
    );
}

#[test]
fn a_malformed_catalog_stops_start_up_with_a_clear_message_before_touching_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("broken.toml");
    std::fs::write(
        &catalog,
        "[[providers]]\nslug = \"github\"\ndisplay_name = \"GitHub\"\nauth_modes = [\"oauth2_authorization_code\"]\n",
    )
    .unwrap();
    let out = run(connvault(dir.path())
        .arg("serve")
        .env("CONNVAULT_BIND", "127.0.0.1:0")
        .env("CONNVAULT_CATALOG", &catalog));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("broken.toml"), "{err}");
    assert!(err.contains("authorization_url"), "{err}");
    assert!(!dir.path().join("connvault.db").exists());
}

#[test]
fn production_refuses_to_guess_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(connvault(dir.path())
        .arg("serve")
        .env("CONNVAULT_PROFILE", "production"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("DATABASE_URL is required"),
        "{}",
        stderr(&out)
    );
    let out = run(connvault(dir.path())
        .args(["tenant", "list"])
        .env("DATABASE_URL", "mysql://localhost/x"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unsupported DATABASE_URL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tenant_create_prints_the_new_id_and_refuses_a_blank_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(connvault(dir.path()).args(["tenant", "create", "--name", "Acme"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    uuid::Uuid::parse_str(&id).expect("prints a UUID");
    let out = run(connvault(dir.path()).args(["tenant", "list"]));
    assert_eq!(stdout(&out).trim(), format!("{id}\tAcme"));

    let out = run(connvault(dir.path()).args(["tenant", "create", "--name", "  "]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid name"), "{}", stderr(&out));
    let out = run(connvault(dir.path()).args(["tenant", "list"]));
    assert_eq!(stdout(&out).lines().count(), 1);
}

#[test]
fn seed_is_idempotent_and_providers_list_shows_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = run(connvault(dir.path()).arg("seed"));
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out).trim(),
            format!(
                "seeded {} providers",
                connvault::catalog::KNOWN_PROVIDERS.len()
            )
        );
    }
    let out = run(connvault(dir.path()).args(["providers", "list"]));
    let slugs: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = connvault::catalog::KNOWN_PROVIDERS
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.sort();
    assert_eq!(slugs, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_up_down_status_and_fresh_work_by_hand_on_postgres() {
    let t = TestDb::empty(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let migrate = |args: &[&str]| {
        let out = run(connvault(dir.path())
            .arg("migrate")
            .args(args)
            .env("DATABASE_URL", &t.url));
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    use migration::MigratorTrait;
    let total = migration::Migrator::migrations().len();
    let status = migrate(&["status"]);
    assert_eq!(
        status.lines().filter(|l| l.starts_with("pending")).count(),
        total,
        "{status}"
    );
    migrate(&["up"]);
    let status = migrate(&["status"]);
    assert_eq!(
        status.lines().filter(|l| l.starts_with("applied")).count(),
        total,
        "{status}"
    );
    migrate(&["down", "--steps", &(total - 2).to_string()]);
    let status = migrate(&["status"]);
    assert!(
        status.contains("pending\tm2025_11_01_102800_create_connections"),
        "{status}"
    );
    assert!(
        t.exec("SELECT 1 FROM connections").await.is_err(),
        "the table is gone"
    );
    migrate(&["up"]);
    t.exec("INSERT INTO tenants (id, name, created_at) VALUES (gen_random_uuid(), 'x', now())")
        .await
        .unwrap();
    migrate(&["fresh"]);
    assert_eq!(t.count("tenants").await, 0, "fresh starts over");

    let out = run(connvault(dir.path())
        .args(["migrate", "fresh"])
        .env("DATABASE_URL", &t.url)
        .env("MIGRATION_DATABASE_URL", &t.url)
        .env("CONNVAULT_PROFILE", "production"));
    assert!(!out.status.success(), "production needs --yes");
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_run_creates_a_private_master_key_file_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_serve(dir.path(), &[]).await;
    let first_log = server.interrupt().await;
    let key_file = dir.path().join("connvault.master.key");
    let key_text = std::fs::read_to_string(&key_file).expect("key file created");
    secrets::record(&key_text);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let server = spawn_serve(dir.path(), &[]).await;
    let second_log = server.interrupt().await;
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        key_text,
        "reused, not replaced"
    );
    let out = run(connvault(dir.path()).args(["keys", "status"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let all = format!("{first_log}{second_log}{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains(key_text.trim()),
        "the master key never reaches output"
    );
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.ends_with("Z") || l.contains("\tactive\t"))
            .count(),
        1
    );
}

#[test]
fn the_production_profile_refuses_to_start_without_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(connvault(dir.path())
        .arg("serve")
        .env("CONNVAULT_PROFILE", "production")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/p.db?mode=rwc", dir.path().display()),
        )
        .env("CONNVAULT_BIND", "127.0.0.1:0")
        .env_remove("CONNVAULT_MASTER_KEY")
        .env_remove("CONNVAULT_MASTER_KEY_FILE"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs a master key"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("connvault.master.key").exists());
}

#[test]
fn a_wrong_or_malformed_or_doubly_configured_master_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(connvault(dir.path()).args(["keys", "generate-master-key", "--out", "right.key"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let right = dir.path().join("right.key");
    secrets::record(&std::fs::read_to_string(&right).unwrap());
    let out = run(connvault(dir.path())
        .args(["keys", "status"])
        .env("CONNVAULT_MASTER_KEY_FILE", &right));
    assert!(out.status.success(), "{}", stderr(&out));
    let before = stdout(&out);

    let wrong = crate::support::random_master_key_b64();
    let out = run(connvault(dir.path())
        .args(["keys", "status"])
        .env("CONNVAULT_MASTER_KEY", &wrong));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("wrapped by master key"), "{err}");
    assert!(!err.contains(&wrong));

    let out = run(connvault(dir.path())
        .args(["keys", "status"])
        .env("CONNVAULT_MASTER_KEY", secret("too-short")));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("CONNVAULT_MASTER_KEY"),
        "{}",
        stderr(&out)
    );

    let out = run(connvault(dir.path())
        .args(["keys", "status"])
        .env("CONNVAULT_MASTER_KEY", &wrong)
        .env("CONNVAULT_MASTER_KEY_FILE", &right));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("set only one"), "{}", stderr(&out));
    let out = run(connvault(dir.path())
        .args(["keys", "status"])
        .env("CONNVAULT_MASTER_KEY_FILE", &right));
    assert_eq!(stdout(&out), before, "the refused attempts changed no key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_commands_rotate_reencrypt_retire_and_rewrap() {
    use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
    use connvault::services::credentials::{self, Credential};

    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    let keys = |args: &[&str], key: &Path| {
        let out = run(connvault(dir.path())
            .arg("keys")
            .args(args)
            .env("CONNVAULT_MASTER_KEY_FILE", key));
        (out.status.success(), stdout(&out), stderr(&out))
    };
    let (ok, _, err) = keys(&["generate-master-key", "--out", "master.key"], &key_file);
    assert!(ok, "{err}");
    secrets::record(&std::fs::read_to_string(&key_file).unwrap());
    let (ok, status, err) = keys(&["status"], &key_file);
    assert!(ok, "{err}");
    assert!(status.contains("\n1\tactive\t0\t0\t"), "{status}");

    // Store a credential through the library, as the service would.
    let url = format!("sqlite://{}/connvault.db?mode=rwc", dir.path().display());
    let db = connvault::db::connect(&url, 2).await.unwrap();
    let keyring = Keyring::open(
        db.clone(),
        MasterKey::from_file(&key_file).unwrap(),
        KeyringOptions::default(),
    )
    .await
    .unwrap();
    let tenant = connvault::repositories::tenants::create(&db, "Acme")
        .await
        .unwrap()
        .tenant_id();
    connvault::catalog::seed(&db, &connvault::catalog::Catalog::builtin().unwrap())
        .await
        .unwrap();
    let conn = connvault::repositories::connections::create(
        &db,
        tenant,
        crate::support::new_connection("stripe", "acct"),
    )
    .await
    .unwrap();
    let secret = "sk_live_cli_flow_0123456789";
    credentials::store(
        &db,
        &keyring,
        tenant,
        conn.connection_id(),
        &Credential::ApiKey {
            api_key: crate::credentials::s(secret),
        },
    )
    .await
    .unwrap();
    db.close().await.unwrap();

    let (_, status, _) = keys(&["status"], &key_file);
    assert!(status.contains("\n1\tactive\t256\t1\t"), "{status}");
    let (ok, out, _) = keys(&["rotate"], &key_file);
    assert!(ok && out.contains("active data key 2"), "{out}");
    let (ok, _, err) = keys(&["retire", "1"], &key_file);
    assert!(!ok && err.contains("still used by 1 ciphertext"), "{err}");
    let (ok, out, err) = keys(&["reencrypt", "--batch-size", "10"], &key_file);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "re-encrypted 1 skipped 0 unreadable 0 remaining 0"
    );
    let (ok, out, err) = keys(&["retire", "1"], &key_file);
    assert!(ok && out.contains("retired data key 1"), "{err}");

    // Master-key rotation: re-wrap under a new key, then only the new key opens.
    let new_key = dir.path().join("new.key");
    let (ok, _, err) = keys(&["generate-master-key", "--out", "new.key"], &key_file);
    assert!(ok, "{err}");
    secrets::record(&std::fs::read_to_string(&new_key).unwrap());
    let (ok, out, err) = keys(&["rotate-master", "--new-key-file", "new.key"], &key_file);
    assert!(ok && out.contains("re-wrapped 1 data key"), "{err}");
    let (ok, _, err) = keys(&["status"], &key_file);
    assert!(!ok && err.contains("master key"), "{err}");
    let (ok, status, err) = keys(&["status"], &new_key);
    assert!(ok, "{err}");
    assert!(status.contains("\n2\tactive\t"), "{status}");
    assert!(!status.contains(secret));

    let db = connvault::db::connect(&url, 2).await.unwrap();
    let keyring = Keyring::open(
        db.clone(),
        MasterKey::from_file(&new_key).unwrap(),
        KeyringOptions::default(),
    )
    .await
    .unwrap();
    let read = credentials::read(&db, &keyring, tenant, conn.connection_id())
        .await
        .unwrap()
        .unwrap();
    let Credential::ApiKey { api_key } = read else {
        panic!("api key")
    };
    assert_eq!(secrecy::ExposeSecret::expose_secret(&api_key), secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_bootstraps_itself_with_api_key_create() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        run(connvault(dir.path()).args(["api-key", "create", "--operator", "--name", "bootstrap"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let operator = stdout(&out).trim().to_owned();
    secrets::record(&operator);
    assert!(operator.starts_with("cv_"));
    assert!(
        !stderr(&out).contains(&operator),
        "the secret is printed once, on stdout"
    );
    let out = run(connvault(dir.path()).args(["tenant", "create", "--name", "Acme"]));
    let tenant = stdout(&out).trim().to_owned();
    let out = run(connvault(dir.path()).args([
        "api-key", "create", "--tenant", &tenant, "--role", "service", "--name", "backend",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let service = stdout(&out).trim().to_owned();
    secrets::record(&service);
    let out = run(connvault(dir.path()).args([
        "api-key", "create", "--tenant", &tenant, "--role", "operator", "--name", "x",
    ]));
    assert!(!out.status.success());
    let out =
        run(connvault(dir.path()).args(["api-key", "create", "--tenant", "nope", "--name", "x"]));
    assert!(!out.status.success());

    let server = spawn_serve(dir.path(), &[]).await;
    let get = |path: String, key: String| {
        let addr = server.addr.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
            );
            tokio::io::AsyncWriteExt::write_all(&mut stream, req.as_bytes())
                .await
                .unwrap();
            let mut raw = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut raw)
                .await
                .unwrap();
            String::from_utf8_lossy(&raw).into_owned()
        }
    };
    let response = get("/v1/tenants".into(), operator.clone()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(&tenant));
    assert!(
        response.to_ascii_lowercase().contains("x-request-id"),
        "{response}"
    );
    let response = get(format!("/v1/tenants/{tenant}/connections"), service.clone()).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let response = get("/v1/tenants".into(), service).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    server.interrupt().await;
}

#[test]
fn configuration_debug_output_hides_the_database_password() {
    use clap::Parser;
    secrets::record_all(["Sup3rSecretPw", "0wnerSecretPw", "p@ss/w rd"]);
    let cli = connvault::cli::Cli::parse_from([
        "connvault",
        "--database-url",
        "postgres://svc:Sup3rSecretPw@db.internal:5432/connvault",
        "--migration-database-url",
        "postgres://owner:0wnerSecretPw@db.internal:5432/connvault",
        "seed",
    ]);
    let shown = format!("{cli:?}");
    assert!(!shown.contains("Sup3rSecretPw"), "{shown}");
    assert!(!shown.contains("0wnerSecretPw"), "{shown}");
    assert!(shown.contains("db.internal"));
    // Nor does the plan derived from a single owner URL show the service's password.
    let plan = connvault::db::Plan::derived(
        "postgres://owner:0wnerSecretPw@db.internal:5432/connvault",
        "connvault_service",
    )
    .unwrap();
    let password = plan.role.as_ref().unwrap().password.as_ref().unwrap();
    let password = secrecy::ExposeSecret::expose_secret(password).to_owned();
    secrets::record(&password);
    assert!(plan.service_url.contains(&password));
    assert!(
        plan.service_url
            .starts_with("postgres://connvault_service:")
    );
    let again = connvault::db::Plan::derived(
        "postgres://owner:0wnerSecretPw@db.internal:5432/connvault",
        "connvault_service",
    )
    .unwrap();
    assert_eq!(
        again.service_url, plan.service_url,
        "replicas derive the same password"
    );
    assert!(!format!("{:?}", again.role.as_ref().unwrap().password).contains(&password));
    // A percent-encoded password in the URL is the decoded one to the server.
    let plan = connvault::db::Plan::separate(
        "postgres://svc:p%40ss%2Fw%20rd@db.internal/connvault",
        "postgres://owner@db.internal/connvault",
    )
    .unwrap();
    let password = plan.role.unwrap().password.unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&password), "p@ss/w rd");
}

/// `url` with another user and password.
fn as_user(url: &str, user: &str, password: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_username(user).unwrap();
    url.set_password(Some(password)).unwrap();
    url.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_two_urls_migrates_as_the_owner_and_serves_as_its_own_login_role() {
    let t = TestDb::empty(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let role = format!("cv_svc_{}", uuid::Uuid::new_v4().simple());
    let service_url = as_user(&t.url, &role, secret("service-role-pw-1"));
    let server = spawn_serve(
        dir.path(),
        &[
            ("DATABASE_URL", &service_url),
            ("MIGRATION_DATABASE_URL", &t.url),
        ],
    )
    .await;
    let (status, body) = socket_get(&server.addr, "/readyz").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let log = server.interrupt().await;
    assert!(
        !log.contains("service-role-pw-1"),
        "the password is never logged"
    );
    // The role was created as a plain login role, and owns nothing.
    let row = t
        .owner
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT rolsuper, rolbypassrls, rolcanlogin, \
               (SELECT COUNT(*) FROM pg_class WHERE relowner = r.oid) AS owned \
             FROM pg_roles r WHERE rolname = $1",
            [role.clone().into()],
        ))
        .await
        .unwrap()
        .expect("the service role exists");
    assert!(!row.try_get::<bool>("", "rolsuper").unwrap());
    assert!(!row.try_get::<bool>("", "rolbypassrls").unwrap());
    assert!(row.try_get::<bool>("", "rolcanlogin").unwrap());
    assert_eq!(row.try_get::<i64>("", "owned").unwrap(), 0);
    // Its password is stored as a SCRAM verifier (readable only by a superuser).
    let stored = t
        .owner
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            [role.clone().into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "rolpassword")
        .unwrap();
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    for sql in ["DROP OWNED BY", "DROP ROLE"] {
        t.exec(&format!("{sql} {role}")).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_database_role_that_bypasses_row_level_security() {
    let t = TestDb::empty(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run(connvault(dir.path())
        .arg("serve")
        .env("DATABASE_URL", &t.url)
        .env("MIGRATION_DATABASE_URL", &t.url)
        .env("CONNVAULT_BIND", "127.0.0.1:0"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("refusing to serve"), "{err}");
    assert!(err.contains("is a superuser"), "{err}");
    assert!(!err.contains("listening"), "{err}");
}

#[test]
fn production_on_postgresql_needs_the_owner_and_the_service_urls_apart() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(connvault(dir.path())
        .args(["migrate", "status"])
        .env("CONNVAULT_PROFILE", "production")
        .env("DATABASE_URL", crate::support::admin_database_url()));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("MIGRATION_DATABASE_URL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn oauth_apps_are_set_listed_and_deleted_and_the_secret_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |cmd: &mut Command| {
        let out = run(cmd);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let secret = secret("client-secret-cli-0123456789");
    let mut outputs = String::new();
    ok(connvault(dir.path()).arg("seed"));
    let out = ok(connvault(dir.path())
        .args([
            "oauth-app",
            "set",
            "--provider",
            "github",
            "--client-id",
            "Iv1.abc",
        ])
        .args(["--client-secret-env", "GH_APP_SECRET"])
        .args(["--return-url", "https://app.example/done"])
        .env("GH_APP_SECRET", secret));
    outputs.push_str(&format!("{}{}", stdout(&out), stderr(&out)));
    assert!(
        stdout(&out).starts_with("github\tIv1.abc\t"),
        "{}",
        stdout(&out)
    );
    let out = ok(connvault(dir.path()).args(["oauth-app", "list"]));
    outputs.push_str(&format!("{}{}", stdout(&out), stderr(&out)));
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stdout(&out).contains("https://app.example/done"));

    // A new app needs a secret; an unknown provider and a bad return URL are refused.
    for args in [
        vec!["--provider", "gitlab", "--client-id", "x"],
        vec![
            "--provider",
            "nope",
            "--client-id",
            "x",
            "--client-secret-env",
            "GH_APP_SECRET",
        ],
        vec![
            "--provider",
            "gitlab",
            "--client-id",
            "x",
            "--client-secret-env",
            "GH_APP_SECRET",
            "--return-url",
            "http://app.example/plain-http",
        ],
    ] {
        let out = run(connvault(dir.path())
            .args(["oauth-app", "set"])
            .args(&args)
            .env("GH_APP_SECRET", secret));
        assert!(!out.status.success(), "{args:?} must fail");
        outputs.push_str(&format!("{}{}", stdout(&out), stderr(&out)));
    }
    let out = ok(connvault(dir.path()).args(["oauth-app", "list"]));
    assert_eq!(stdout(&out).lines().count(), 1, "nothing half-written");

    ok(connvault(dir.path()).args(["oauth-app", "delete", "--provider", "github"]));
    let out = ok(connvault(dir.path()).args(["oauth-app", "list"]));
    assert_eq!(stdout(&out), "");
    assert!(
        !outputs.contains(secret),
        "the client secret is never printed"
    );
}

#[test]
fn key_changes_are_audited_to_the_audit_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let with_audit = |args: &[&str]| {
        let out = run(connvault(dir.path())
            .env("CONNVAULT_AUDIT_LOG", &audit)
            .args(args));
        assert!(out.status.success(), "{}", stderr(&out));
        (stdout(&out).trim().to_owned(), stderr(&out))
    };
    let (tenant, _) = with_audit(&["tenant", "create", "--name", "Acme"]);
    let (key, log) = with_audit(&[
        "api-key", "create", "--tenant", &tenant, "--role", "service", "--name", "backend",
    ]);
    secrets::record(&key);
    let (operator, _) = with_audit(&["api-key", "create", "--operator", "--name", "ops"]);
    secrets::record(&operator);
    let key_id = log
        .split("api key ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the new key's id on stderr")
        .to_owned();
    with_audit(&["api-key", "revoke", "--tenant", &tenant, &key_id]);

    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(
        !text.contains(&key) && !text.contains(&operator),
        "no secret in the audit log"
    );
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["fields"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["api_key_created", "api_key_created", "api_key_revoked"]
    );
    assert!(events.iter().all(|e| e["target"] == "connvault::audit"));
    assert_eq!(events[0]["fields"]["tenant_id"], tenant.as_str());
    assert_eq!(events[0]["fields"]["role"], "service");
    assert_eq!(events[1]["fields"]["role"], "operator");
    assert_eq!(events[2]["fields"]["key_id"], key_id.as_str());
    assert!(events[0]["timestamp"].is_string());
    // Other log events stay out of the audit file.
    assert!(!text.contains("migrat"));
}

/// `api-key revoke ID` finds the key by its id alone: a tenant's key (here in the last
/// of more tenants than one page holds) or an operator key; `--tenant` still narrows.
async fn api_key_revoke_finds_any_key_by_its_id(t: TestDb) {
    use connvault::models::api_key::Role;
    use connvault::repositories::{api_keys, tenants};
    use secrecy::ExposeSecret;

    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        run(connvault(dir.path())
            .env("DATABASE_URL", &t.url)
            .arg("api-key")
            .args(args))
    };
    let mut tenant_ids = Vec::new();
    for i in 0..201 {
        tenant_ids.push(
            tenants::create(&t.db, &format!("T{i}"))
                .await
                .unwrap()
                .tenant_id(),
        );
    }
    let key = |tenant, role| {
        let db = t.db.clone();
        async move {
            let key = api_keys::create(&db, tenant, role, "k").await.unwrap();
            secrets::record(key.secret.expose_secret());
            (key.key.id, key.secret.expose_secret().to_owned())
        }
    };
    let last = *tenant_ids.last().unwrap();
    let (admin_id, admin) = key(Some(last), Role::Admin).await;
    let (other_id, other) = key(Some(tenant_ids[0]), Role::Viewer).await;
    let (operator_id, operator) = key(None, Role::Operator).await;
    let live = |secret: String| {
        let db = t.db.clone();
        async move {
            api_keys::authenticate(&db, &secret)
                .await
                .unwrap()
                .is_some()
        }
    };

    let out = cli(&["revoke", &admin_id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("revoked {admin_id}"));
    assert!(!live(admin.clone()).await, "the tenant key is revoked");
    assert!(live(other.clone()).await && live(operator.clone()).await);

    let out = cli(&["revoke", &operator_id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!live(operator).await, "the operator key is revoked");

    // Already revoked, unknown, or outside the named tenant: refused, nothing changes.
    for args in [
        vec!["revoke".to_owned(), admin_id.to_string()],
        vec!["revoke".to_owned(), uuid::Uuid::new_v4().to_string()],
        vec![
            "revoke".to_owned(),
            other_id.to_string(),
            "--tenant".to_owned(),
            last.to_string(),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains("api key not found"),
            "{}",
            stderr(&out)
        );
    }
    assert!(live(other).await);
}

/// `operation-type put|get|list|delete`: a type is created, replaced, read, listed and
/// deleted; bad input is refused with the API's code and field and writes nothing; a
/// type with runs is not deleted.
async fn operation_types_are_put_listed_and_deleted_with_the_api_codes(t: TestDb) {
    use connvault::repositories::activity::Actor;
    use connvault::services::operations::{self, StartRequest};

    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        run(connvault(dir.path())
            .env("DATABASE_URL", &t.url)
            .arg("operation-type")
            .args(args))
    };
    let ok = |args: &[&str]| {
        let out = cli(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };

    let line = ok(&[
        "put",
        "inventory.sync",
        "--provider",
        "stripe",
        "--scope",
        "read_only",
        "--scope",
        "read_write",
        "--module",
        "billing",
    ]);
    assert_eq!(
        line,
        "inventory.sync\tstripe\tread_only,read_write\tbilling\t3\t300\tdedupe\n"
    );
    // Replaced whole: the module defaults to the first segment.
    let line = ok(&[
        "put",
        "inventory.sync",
        "--provider",
        "stripe",
        "--max-attempts",
        "7",
        "--heartbeat-timeout-seconds",
        "60",
        "--no-dedupe",
    ]);
    assert_eq!(
        line,
        "inventory.sync\tstripe\t-\tinventory\t7\t60\tno-dedupe\n"
    );
    ok(&["put", "audit.export", "--provider", "stripe", "--dedupe"]);
    assert_eq!(
        ok(&["get", "inventory.sync"]),
        "inventory.sync\tstripe\t-\tinventory\t7\t60\tno-dedupe\n"
    );
    let listed = ok(&["list"]);
    let names: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["audit.export", "inventory.sync"]);

    // Bad input: the API's code and field, a failure exit, and nothing written (neither
    // a new type nor a change to the existing one).
    for (args, expected) in [
        (
            vec!["put", "Bad Type", "--provider", "stripe"],
            "validation_failed (field type)",
        ),
        (
            vec!["put", "inventory.sync", "--provider", "nope"],
            "unknown_provider (field provider)",
        ),
        (
            vec!["put", "inventory.sync", "--provider", "Not A Slug"],
            "invalid_slug (field provider)",
        ),
        (
            vec![
                "put",
                "inventory.sync",
                "--provider",
                "stripe",
                "--max-attempts",
                "0",
            ],
            "validation_failed (field max_attempts)",
        ),
        (
            vec![
                "put",
                "new.type",
                "--provider",
                "stripe",
                "--heartbeat-timeout-seconds",
                "4",
            ],
            "validation_failed (field heartbeat_timeout_seconds)",
        ),
        (
            vec!["put", "new.type", "--provider", "stripe", "--scope", ""],
            "validation_failed (field required_scopes)",
        ),
        (vec!["get", "missing.type"], "not_found"),
        (vec!["delete", "missing.type"], "not_found"),
    ] {
        let out = cli(&args);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(
            stderr(&out).contains(&format!("error: {expected}")),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(ok(&["list"]), listed, "nothing written on bad input");

    // A type with a run stays; one without goes.
    let tenant = crate::support::tenant(&t).await;
    operations::start(
        &t.db,
        &url::Url::parse("https://connvault.example.com").unwrap(),
        tenant,
        &Actor::system("test"),
        StartRequest {
            operation_type: "inventory.sync".to_owned(),
            ..StartRequest::default()
        },
    )
    .await
    .unwrap();
    let out = cli(&["delete", "inventory.sync"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("error: operation_type_in_use"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        ok(&["delete", "audit.export"]),
        "deleted the operation type audit.export\n"
    );
    assert_eq!(
        ok(&["list"]),
        "inventory.sync\tstripe\t-\tinventory\t7\t60\tno-dedupe\n"
    );
}

crate::on_both_backends!(
    api_key_revoke_finds_any_key_by_its_id,
    operation_types_are_put_listed_and_deleted_with_the_api_codes,
);
