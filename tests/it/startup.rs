//! Start-up as an operator meets it, through the binary: a database that cannot be
//! opened is one line naming the file or the server; PostgreSQL's notices stay out of
//! the output but its errors do not; the whole configuration is checked before the
//! database is touched; a master key file others can read is warned about, and refused
//! in production.

use std::path::Path;

use crate::cli::{connvault, run, stderr, stdout};
use crate::support::{Backend, TestDb, admin_database_url, secrets};

/// The lines of `text` that are not log lines (the error the binary printed).
fn error_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("error:")).collect()
}

#[test]
fn a_missing_sqlite_directory_is_one_line_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-there").join("connvault.db");
    let url = format!("sqlite://{}?mode=rwc", missing.display());
    for args in [&["tenant", "list"][..], &["serve"][..]] {
        let out = run(connvault(dir.path())
            .args(args)
            .env("DATABASE_URL", &url)
            .env("CONNVAULT_BIND", "127.0.0.1:0"));
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        let lines = error_lines(&err);
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(&missing.display().to_string()), "{err}");
        assert!(lines[0].contains("directory"), "{err}");
        assert_eq!(
            err.matches("not-there").count(),
            2,
            "the file and its directory, once each:\n{err}"
        );
        assert!(!err.contains("at line"), "{err}");
    }
    assert!(!missing.parent().unwrap().exists(), "nothing created");
}

#[test]
fn a_missing_postgres_database_is_one_line_naming_the_server_never_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut url = url::Url::parse(&admin_database_url()).unwrap();
    let name = format!("connvault_missing_{}", uuid::Uuid::new_v4().simple());
    url.set_path(&format!("/{name}"));
    let password = "Missing-Db-Pw-4711";
    secrets::record(password);
    url.set_password(Some(password)).unwrap();
    let out = run(connvault(dir.path())
        .args(["tenant", "list"])
        .env("DATABASE_URL", url.as_str()));
    assert!(!out.status.success());
    let err = stderr(&out);
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    let host = format!(
        "{}:{}/{name}",
        url.host_str().unwrap(),
        url.port().unwrap_or(5432)
    );
    assert!(lines[0].contains(&host), "{err}");
    assert!(lines[0].contains("does not exist"), "{err}");
    assert_eq!(err.matches("does not exist").count(), 1, "{err}");
    assert!(!err.contains("at line"), "{err}");
    assert!(!err.contains(password), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_on_postgres_print_no_notices_but_still_print_errors() {
    let t = TestDb::empty(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let mut output = String::new();
    for args in [
        &["migrate", "up"][..],
        &["tenant", "list"][..],
        &["migrate", "status"][..],
        &["tenant", "create", "--name", "Acme"][..],
    ] {
        let out = run(connvault(dir.path()).args(args).env("DATABASE_URL", &t.url));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        output.push_str(&stderr(&out));
    }
    assert!(!output.contains("already exists"), "{output}");
    assert!(!output.contains("sqlx::postgres::notice"), "{output}");

    // An error of the server is still shown.
    t.exec("DROP FUNCTION connvault_key_usage()").await.unwrap();
    let key = crate::support::random_master_key_b64();
    let out = run(connvault(dir.path())
        .args(["keys", "status"])
        .env("DATABASE_URL", &t.url)
        .env("CONNVAULT_MASTER_KEY", &key));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("connvault_key_usage"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
}

/// The tables in the public schema of a test's PostgreSQL database.
async fn public_tables(t: &TestDb) -> i64 {
    t.count("pg_tables WHERE schemaname = 'public'").await
}

/// A production `serve` that must stop before the database, with `env` on top.
fn production_serve(dir: &Path, database_url: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = connvault(dir);
    cmd.arg("serve")
        .env("CONNVAULT_PROFILE", "production")
        .env("CONNVAULT_BIND", "127.0.0.1:0")
        .env("DATABASE_URL", database_url)
        .env("MIGRATION_DATABASE_URL", database_url);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("listening"));
    stderr(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_checks_its_configuration_before_touching_the_database() {
    let t = TestDb::empty(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let key = crate::support::random_master_key_b64();
    let short = "c2hvcnQta2V5LWJ5dGVz";
    secrets::record(short);
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "needs a master key"),
        (&[("CONNVAULT_MASTER_KEY", short)], "must be 32 bytes"),
        (
            &[
                ("CONNVAULT_MASTER_KEY", &key),
                ("CONNVAULT_PUBLIC_URL", "http://vault.example.com"),
            ],
            "CONNVAULT_PUBLIC_URL must be https://",
        ),
        (
            &[
                ("CONNVAULT_MASTER_KEY", &key),
                ("CONNVAULT_PUBLIC_URL", "https://vault.example.com/?x=1"),
            ],
            "query",
        ),
        (
            &[
                ("CONNVAULT_MASTER_KEY", &key),
                ("CONNVAULT_KEY_ROTATE_AFTER", "0"),
            ],
            "CONNVAULT_KEY_ROTATE_AFTER",
        ),
    ];
    for (env, expected) in cases {
        let err = production_serve(dir.path(), &t.url, env);
        assert!(err.contains(expected), "{expected}: {err}");
        assert!(!err.contains(&key) && !err.contains(short), "{err}");
        assert_eq!(public_tables(&t).await, 0, "{expected}: nothing migrated");
    }
    let err = production_serve(
        dir.path(),
        &t.url,
        &[("MIGRATION_DATABASE_URL", "mysql://owner@db/x")],
    );
    assert!(err.contains("MIGRATION_DATABASE_URL"), "{err}");
    assert_eq!(public_tables(&t).await, 0);

    // On SQLite not even the file is made.
    let file = dir.path().join("prod.db");
    let err = production_serve(
        dir.path(),
        &format!("sqlite://{}?mode=rwc", file.display()),
        &[],
    );
    assert!(err.contains("needs a master key"), "{err}");
    assert!(!file.exists());
}

#[cfg(unix)]
#[test]
fn a_master_key_file_open_to_others_is_warned_about_and_refused_in_production() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let out = run(connvault(dir.path()).args(["keys", "generate-master-key", "--out", "m.key"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let key_file = dir.path().join("m.key");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    secrets::record(&key_text);
    let chmod = |mode: u32| {
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let status = |profile: &str, db: &str| {
        run(connvault(dir.path())
            .args(["keys", "status"])
            .env("CONNVAULT_PROFILE", profile)
            .env("CONNVAULT_MASTER_KEY_FILE", &key_file)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.path().join(db).display()),
            ))
    };

    chmod(0o600);
    let out = status("local", "local.db");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("accessible by"), "{}", stderr(&out));

    chmod(0o644);
    let out = status("local", "local.db");
    assert!(
        out.status.success(),
        "warned, not refused: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("WARN"), "{err}");
    assert!(err.contains("accessible by its group or others"), "{err}");
    assert!(err.contains("0644"), "{err}");
    assert!(err.contains("m.key"), "{err}");
    assert!(!format!("{err}{}", stdout(&out)).contains(key_text.trim()));

    let out = status("production", "prod.db");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("refusing it in the production profile"),
        "{err}"
    );
    assert!(err.contains("chmod 600"), "{err}");
    assert!(
        !dir.path().join("prod.db").exists(),
        "refused before the database"
    );

    chmod(0o640);
    assert!(
        !status("production", "prod.db").status.success(),
        "group-readable too"
    );
    chmod(0o400);
    let out = status("production", "prod.db");
    assert!(out.status.success(), "{}", stderr(&out));
}
