//! `connvault api-key create --worker`: a deployment-wide worker key, printed once.

use connvault::models::api_key::Role;
use connvault::repositories::api_keys;

use crate::cli::{connvault, run, stderr, stdout};
use crate::support::secrets;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_create_worker_makes_a_worker_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(connvault(dir.path()).args(["api-key", "create", "--worker", "--name", "sync"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let secret = stdout(&out).trim().to_owned();
    secrets::record(&secret);
    assert!(secret.starts_with("cv_"));
    assert!(
        stderr(&out).contains("(worker) created"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(&secret));
    for args in [
        vec!["--worker", "--operator", "--name", "x"],
        vec![
            "--worker",
            "--tenant",
            "0b6f2c3e-8d1a-4f5b-9c7e-2a4d6f8b0c1e",
            "--name",
            "x",
        ],
        vec![
            "--tenant",
            "0b6f2c3e-8d1a-4f5b-9c7e-2a4d6f8b0c1e",
            "--role",
            "worker",
            "--name",
            "x",
        ],
    ] {
        let out = run(connvault(dir.path())
            .args(["api-key", "create"])
            .args(&args));
        assert!(!out.status.success(), "{args:?} was accepted");
    }
    let url = format!(
        "sqlite://{}?mode=rw",
        dir.path().join("connvault.db").display()
    );
    let db = connvault::db::connect(&url, 1).await.unwrap();
    let key = api_keys::authenticate(&db, &secret)
        .await
        .unwrap()
        .expect("a live key");
    assert_eq!(key.role, Role::Worker);
    assert_eq!(key.tenant_id, None);
}
