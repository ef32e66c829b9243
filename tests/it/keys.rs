//! Data keys: rotation, automatic rotation at the limit, resumable and concurrency-safe
//! re-encryption, retirement, master-key checks and re-wrapping, and logs without
//! secrets.

use connvault::Error;
use connvault::crypto::{Keyring, KeyringOptions, MasterKey};
use connvault::models::encryption_key::KeyState;
use connvault::models::{ConnectionId, TenantId, credential_secret};
use connvault::services::credentials::{self, Credential};
use connvault::services::reencrypt;
use sea_orm::EntityTrait;
use secrecy::ExposeSecret;
use tracing::Instrument;

use crate::credentials::s;
use crate::support::{TestDb, connection, random_master_key_b64, tenant};

fn api_key(value: &str) -> Credential {
    Credential::ApiKey { api_key: s(value) }
}

async fn key_of(t: &TestDb, tenant: TenantId, conn: ConnectionId) -> u32 {
    let row = credential_secret::Entity::find_by_id((
        tenant.as_uuid(),
        conn.as_uuid(),
        "api_key".to_owned(),
    ))
    .one(&t.owner)
    .await
    .unwrap()
    .unwrap();
    row.key_id as u32
}

async fn read_api_key(
    t: &TestDb,
    keyring: &Keyring,
    tenant: TenantId,
    conn: ConnectionId,
) -> String {
    match credentials::read(&t.db, keyring, tenant, conn)
        .await
        .unwrap()
        .unwrap()
    {
        Credential::ApiKey { api_key } => api_key.expose_secret().to_owned(),
        other => panic!("unexpected {other:?}"),
    }
}

/// `n` connections of one tenant, each with an API key `key-<i>-…`.
pub(crate) async fn populate(
    t: &TestDb,
    keyring: &Keyring,
    n: usize,
) -> (TenantId, Vec<ConnectionId>) {
    let tenant = tenant(t).await;
    let mut ids = Vec::new();
    for i in 0..n {
        let conn = connection(t, tenant, "stripe", &format!("acct-{i}"))
            .await
            .connection_id();
        credentials::store(
            &t.db,
            keyring,
            tenant,
            conn,
            &api_key(&format!("key-{i}-0123456789")),
        )
        .await
        .unwrap();
        ids.push(conn);
    }
    (tenant, ids)
}

async fn rotation_keeps_old_ciphertexts_readable_and_uses_the_new_key(t: TestDb) {
    let keyring = t.keyring().await;
    let first_key = keyring.active_key_id().unwrap();
    let (tenant, ids) = populate(&t, &keyring, 1).await;
    let new_key = keyring.rotate().await.unwrap();
    assert_ne!(new_key, first_key);
    let conn2 = connection(&t, tenant, "stripe", "after-rotation")
        .await
        .connection_id();
    credentials::store(
        &t.db,
        &keyring,
        tenant,
        conn2,
        &api_key("written-after-rotation"),
    )
    .await
    .unwrap();

    assert_eq!(key_of(&t, tenant, ids[0]).await, first_key);
    assert_eq!(key_of(&t, tenant, conn2).await, new_key);
    assert_eq!(
        read_api_key(&t, &keyring, tenant, ids[0]).await,
        "key-0-0123456789"
    );
    assert_eq!(
        read_api_key(&t, &keyring, tenant, conn2).await,
        "written-after-rotation"
    );

    // Another process (a second keyring on the same database) reads both too.
    let other = t.keyring().await;
    assert_eq!(other.active_key_id(), Some(new_key));
    assert_eq!(
        read_api_key(&t, &other, tenant, ids[0]).await,
        "key-0-0123456789"
    );

    let status = keyring.status().await.unwrap();
    assert_eq!(status.len(), 2);
    assert_eq!(status[0].state, KeyState::DecryptOnly);
    assert_eq!(status[0].ciphertexts, 1);
    assert_eq!(status[1].state, KeyState::Active);
    assert_eq!(status[1].ciphertexts, 1);
}

async fn a_process_with_a_stale_keyring_reads_keys_made_elsewhere(t: TestDb) {
    let stale = t.keyring().await;
    let fresh = t.keyring().await;
    fresh.rotate().await.unwrap();
    let (tenant, ids) = populate(&t, &fresh, 1).await;
    // `stale` has never seen the new key: it loads it on demand.
    assert_eq!(
        read_api_key(&t, &stale, tenant, ids[0]).await,
        "key-0-0123456789"
    );
    // And its next encryption notices the rotation and uses the new active key.
    let conn = connection(&t, tenant, "stripe", "stale-writer")
        .await
        .connection_id();
    credentials::store(
        &t.db,
        &stale,
        tenant,
        conn,
        &api_key("from-the-stale-process"),
    )
    .await
    .unwrap();
    assert_eq!(
        key_of(&t, tenant, conn).await,
        fresh.active_key_id().unwrap()
    );
}

async fn a_new_key_is_made_automatically_at_the_limit(t: TestDb) {
    let keyring = t.keyring_with(KeyringOptions { rotate_after: 5 }).await;
    let first = keyring.active_key_id().unwrap();
    let (tenant, ids) = populate(&t, &keyring, 6).await;
    for conn in &ids[..5] {
        assert_eq!(key_of(&t, tenant, *conn).await, first);
    }
    let second = key_of(&t, tenant, ids[5]).await;
    assert_ne!(second, first);
    assert_eq!(keyring.active_key_id(), Some(second));
    let status = keyring.status().await.unwrap();
    assert_eq!(
        status[0].encryptions, 5,
        "never more than the limit under one key"
    );
    for (i, conn) in ids.iter().enumerate() {
        assert_eq!(
            read_api_key(&t, &keyring, tenant, *conn).await,
            format!("key-{i}-0123456789")
        );
    }
}

async fn reencryption_interrupted_and_rerun_finishes_with_nothing_lost(t: TestDb) {
    let keyring = t.keyring().await;
    let old = keyring.active_key_id().unwrap();
    let (tenant, ids) = populate(&t, &keyring, 30).await;
    let new = keyring.rotate().await.unwrap();

    // Interrupted after 10 rows.
    let first = reencrypt::run(&t.db, &keyring, 7, Some(10)).await.unwrap();
    assert_eq!(first.reencrypted, 10);
    assert_eq!(first.remaining, 20);
    for (i, conn) in ids.iter().enumerate() {
        assert_eq!(
            read_api_key(&t, &keyring, tenant, *conn).await,
            format!("key-{i}-0123456789")
        );
    }
    // Re-run (by another process) finishes the job.
    let other = t.keyring().await;
    let second = reencrypt::run(&t.db, &other, 7, None).await.unwrap();
    assert_eq!(second.reencrypted, 20);
    assert_eq!(second.remaining, 0);
    for (i, conn) in ids.iter().enumerate() {
        assert_eq!(key_of(&t, tenant, *conn).await, new);
        assert_eq!(
            read_api_key(&t, &keyring, tenant, *conn).await,
            format!("key-{i}-0123456789")
        );
    }
    // Nothing left for a third run; the old key can go.
    let third = reencrypt::run(&t.db, &keyring, 7, None).await.unwrap();
    assert_eq!(third.reencrypted, 0);
    keyring.retire(old).await.unwrap();
    let status = keyring.status().await.unwrap();
    assert_eq!(status.iter().map(|k| k.id).collect::<Vec<_>>(), vec![new]);
    assert_eq!(
        read_api_key(&t, &keyring, tenant, ids[0]).await,
        "key-0-0123456789"
    );
}

async fn reencryption_finishes_even_when_keys_rotate_during_the_run(t: TestDb) {
    let keyring = t.keyring_with(KeyringOptions { rotate_after: 3 }).await;
    let (tenant, ids) = populate(&t, &keyring, 10).await;
    let before = keyring.active_key_id().unwrap();
    keyring.rotate().await.unwrap();
    let report = reencrypt::run(&t.db, &keyring, 4, None).await.unwrap();
    assert_eq!(report.remaining, 0, "{report:?}");
    assert!(
        keyring.active_key_id().unwrap() > before + 1,
        "the limit forced rotations"
    );
    for (i, conn) in ids.iter().enumerate() {
        assert_eq!(
            read_api_key(&t, &keyring, tenant, *conn).await,
            format!("key-{i}-0123456789")
        );
    }
}

async fn an_unreadable_ciphertext_is_stepped_past_and_reported(t: TestDb) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let keyring = t.keyring().await;
    let (tenant, ids) = populate(&t, &keyring, 12).await;
    keyring.rotate().await.unwrap();
    // Corrupt one stored ciphertext (its tag no longer matches).
    let row = credential_secret::Entity::find_by_id((
        tenant.as_uuid(),
        ids[4].as_uuid(),
        "api_key".to_owned(),
    ))
    .one(&t.owner)
    .await
    .unwrap()
    .unwrap();
    let mut bad = row.ciphertext.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    credential_secret::Entity::update_many()
        .col_expr(credential_secret::Column::Ciphertext, Expr::val(bad))
        .filter(credential_secret::Column::ConnectionId.eq(ids[4].as_uuid()))
        .exec(&t.owner)
        .await
        .unwrap();
    let report = reencrypt::run(&t.db, &keyring, 5, None).await.unwrap();
    assert_eq!(report.reencrypted, 11);
    assert_eq!(report.unreadable, 1);
    assert_eq!(
        report.remaining, 1,
        "the unreadable row stays behind, counted"
    );
    for (i, conn) in ids.iter().enumerate().filter(|(i, _)| *i != 4) {
        assert_eq!(
            read_api_key(&t, &keyring, tenant, *conn).await,
            format!("key-{i}-0123456789")
        );
    }
}

async fn a_credential_replaced_during_reencryption_keeps_its_new_value(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, ids) = populate(&t, &keyring, 3).await;
    keyring.rotate().await.unwrap();
    let target = reencrypt::target_key(&keyring).unwrap();
    let batch = reencrypt::stale_batch(&t.db, target, 100).await.unwrap();
    assert_eq!(batch.len(), 3);
    // The service replaces one credential after the job read it.
    credentials::store(
        &t.db,
        &keyring,
        tenant,
        ids[1],
        &api_key("rotated-by-the-user-meanwhile"),
    )
    .await
    .unwrap();
    let outcome = reencrypt::apply_batch(&t.db, &keyring, batch)
        .await
        .unwrap();
    assert_eq!((outcome.reencrypted, outcome.skipped), (2, 1));
    assert_eq!(
        read_api_key(&t, &keyring, tenant, ids[1]).await,
        "rotated-by-the-user-meanwhile"
    );
    assert_eq!(
        read_api_key(&t, &keyring, tenant, ids[0]).await,
        "key-0-0123456789"
    );
    assert_eq!(reencrypt::stale_count(&t.db, target).await.unwrap(), 0);
}

async fn concurrent_writers_and_reencryption_lose_nothing(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, ids) = populate(&t, &keyring, 40).await;
    keyring.rotate().await.unwrap();
    let writer = {
        let (db, keyring, ids) = (t.db.clone(), keyring.clone(), ids.clone());
        tokio::spawn(async move {
            for round in 0..3 {
                for (i, conn) in ids.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
                    let value = format!("new-{i}-round-{round}");
                    credentials::store(&db, &keyring, tenant, *conn, &api_key(&value))
                        .await
                        .unwrap();
                }
            }
        })
    };
    let job = {
        let (db, keyring) = (t.db.clone(), keyring.clone());
        tokio::spawn(async move { reencrypt::run(&db, &keyring, 5, None).await.unwrap() })
    };
    writer.await.unwrap();
    let report = job.await.unwrap();
    let finish = reencrypt::run(&t.db, &keyring, 5, None).await.unwrap();
    assert_eq!(finish.remaining, 0, "{report:?} {finish:?}");
    for (i, conn) in ids.iter().enumerate() {
        let expected = if i % 3 == 0 {
            format!("new-{i}-round-2")
        } else {
            format!("key-{i}-0123456789")
        };
        assert_eq!(read_api_key(&t, &keyring, tenant, *conn).await, expected);
    }
}

async fn retiring_a_key_in_use_or_active_is_refused(t: TestDb) {
    let keyring = t.keyring().await;
    let old = keyring.active_key_id().unwrap();
    let (tenant, ids) = populate(&t, &keyring, 2).await;
    assert!(matches!(keyring.retire(old).await, Err(Error::KeyIsActive(id)) if id == old));
    let new = keyring.rotate().await.unwrap();
    match keyring.retire(old).await {
        Err(Error::KeyInUse { id, ciphertexts }) => assert_eq!((id, ciphertexts), (old, 2)),
        other => panic!("expected KeyInUse, got {other:?}"),
    }
    assert!(matches!(
        keyring.retire(99).await,
        Err(Error::UnknownDataKey(99))
    ));
    assert!(matches!(
        keyring.retire(new).await,
        Err(Error::KeyIsActive(_))
    ));
    // The database backs the rule: deleting the key row under its ciphertexts fails.
    assert!(
        t.exec(&format!("DELETE FROM encryption_keys WHERE id = {old}"))
            .await
            .is_err()
    );
    assert_eq!(
        read_api_key(&t, &keyring, tenant, ids[1]).await,
        "key-1-0123456789"
    );
}

async fn a_wrong_master_key_is_refused_and_changes_nothing(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, ids) = populate(&t, &keyring, 1).await;
    let before = connvault::models::encryption_key::Entity::find()
        .all(&t.db)
        .await
        .unwrap();
    let wrong = MasterKey::from_base64(&random_master_key_b64()).unwrap();
    let err = Keyring::open(t.db.clone(), wrong, KeyringOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MasterKey(_)), "{err}");
    assert!(err.to_string().contains("master key"), "{err}");
    let after = connvault::models::encryption_key::Entity::find()
        .all(&t.db)
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(
        read_api_key(&t, &keyring, tenant, ids[0]).await,
        "key-0-0123456789"
    );

    assert!(matches!(
        MasterKey::from_base64("not base64!"),
        Err(Error::MasterKey(_))
    ));
    assert!(matches!(
        MasterKey::from_base64("c2hvcnQ="),
        Err(Error::MasterKey(_))
    ));
}

async fn master_key_rotation_rewraps_data_keys_only(t: TestDb) {
    let keyring = t.keyring().await;
    keyring.rotate().await.unwrap();
    let (tenant, ids) = populate(&t, &keyring, 3).await;
    let ciphertexts_before = credential_secret::Entity::find().all(&t.db).await.unwrap();
    let new_b64 = random_master_key_b64();
    let new_master = MasterKey::from_base64(&new_b64).unwrap();
    assert_eq!(keyring.rewrap(&new_master).await.unwrap(), 2);
    let ciphertexts_after = credential_secret::Entity::find().all(&t.db).await.unwrap();
    assert_eq!(
        ciphertexts_before, ciphertexts_after,
        "ciphertexts untouched"
    );

    let old_again = MasterKey::from_base64(&t.master_key_b64).unwrap();
    assert!(
        Keyring::open(t.db.clone(), old_again, KeyringOptions::default())
            .await
            .is_err()
    );
    let reopened = Keyring::open(
        t.db.clone(),
        MasterKey::from_base64(&new_b64).unwrap(),
        KeyringOptions::default(),
    )
    .await
    .unwrap();
    for (i, conn) in ids.iter().enumerate() {
        assert_eq!(
            read_api_key(&t, &reopened, tenant, *conn).await,
            format!("key-{i}-0123456789")
        );
    }
}

crate::on_both_backends!(
    rotation_keeps_old_ciphertexts_readable_and_uses_the_new_key,
    a_process_with_a_stale_keyring_reads_keys_made_elsewhere,
    a_new_key_is_made_automatically_at_the_limit,
    reencryption_interrupted_and_rerun_finishes_with_nothing_lost,
    a_credential_replaced_during_reencryption_keeps_its_new_value,
    an_unreadable_ciphertext_is_stepped_past_and_reported,
    reencryption_finishes_even_when_keys_rotate_during_the_run,
    concurrent_writers_and_reencryption_lose_nothing,
    retiring_a_key_in_use_or_active_is_refused,
    a_wrong_master_key_is_refused_and_changes_nothing,
    master_key_rotation_rewraps_data_keys_only,
    a_credential_deleted_and_stored_again_during_reencryption_keeps_its_new_value,
    concurrent_stores_on_one_connection_all_succeed_and_one_wins,
    a_process_on_the_old_master_key_cannot_add_keys_after_a_rewrap,
    a_rotation_limit_beyond_the_safe_bound_is_refused,
    the_tenant_alone_is_bound_into_the_ciphertext,
);

/// Captures every log event, at every level, while credentials are written, read,
/// rotated and re-encrypted, and checks that no secret appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_contain_a_secret() {
    let capture = crate::support::logs::Capture::start();

    let t = TestDb::sqlite().await;
    let keyring = t.keyring_with(KeyringOptions { rotate_after: 2 }).await;
    let tenant = tenant(&t).await;
    let mut secrets = vec![t.master_key_b64.clone()];
    for (i, credential) in crate::credentials::every_kind("logs")
        .into_iter()
        .enumerate()
    {
        let conn = connection(&t, tenant, "github", &format!("acct-{i}"))
            .await
            .connection_id();
        credentials::store(&t.db, &keyring, tenant, conn, &credential)
            .await
            .unwrap();
        credentials::read(&t.db, &keyring, tenant, conn)
            .await
            .unwrap();
        secrets.extend(crate::credentials::plaintexts(&credential));
    }
    keyring.rotate().instrument(capture.span()).await.unwrap();
    reencrypt::run(&t.db, &keyring, 2, None).await.unwrap();

    let logs = capture.text();
    assert!(
        capture.own_text().contains("new active data key"),
        "the capture works: {logs}"
    );
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
    }
}

async fn a_credential_deleted_and_stored_again_during_reencryption_keeps_its_new_value(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, ids) = populate(&t, &keyring, 2).await;
    keyring.rotate().await.unwrap();
    let target = reencrypt::target_key(&keyring).unwrap();
    let batch = reencrypt::stale_batch(&t.db, target, 100).await.unwrap();
    // Disconnect and store again: the revision starts over, the ciphertext does not.
    credentials::delete(&t.db, tenant, ids[0]).await.unwrap();
    credentials::store(
        &t.db,
        &keyring,
        tenant,
        ids[0],
        &api_key("stored-again-meanwhile"),
    )
    .await
    .unwrap();
    let outcome = reencrypt::apply_batch(&t.db, &keyring, batch)
        .await
        .unwrap();
    assert_eq!((outcome.reencrypted, outcome.skipped), (1, 1));
    assert_eq!(
        read_api_key(&t, &keyring, tenant, ids[0]).await,
        "stored-again-meanwhile"
    );
}

async fn concurrent_stores_on_one_connection_all_succeed_and_one_wins(t: TestDb) {
    let keyring = t.keyring().await;
    let (tenant, ids) = populate(&t, &keyring, 1).await;
    let writers = (0..20).map(|i| {
        let (db, keyring, conn) = (t.db.clone(), keyring.clone(), ids[0]);
        tokio::spawn(async move {
            credentials::store(
                &db,
                &keyring,
                tenant,
                conn,
                &api_key(&format!("writer-{i:02}-value")),
            )
            .await
        })
    });
    for w in futures::future::join_all(writers).await {
        w.unwrap().expect("every concurrent store succeeds");
    }
    let value = read_api_key(&t, &keyring, tenant, ids[0]).await;
    assert!(value.starts_with("writer-"), "{value}");
    assert_eq!(t.count("credential_secrets").await, 1);
}

async fn a_process_on_the_old_master_key_cannot_add_keys_after_a_rewrap(t: TestDb) {
    let running = t.keyring().await;
    let (tenant, ids) = populate(&t, &running, 1).await;
    let operator = t.keyring().await;
    let new_b64 = random_master_key_b64();
    operator
        .rewrap(&MasterKey::from_base64(&new_b64).unwrap())
        .await
        .unwrap();
    // The still-running process tries to rotate under its old master key: refused.
    let err = running.rotate().await.unwrap_err();
    assert!(matches!(err, Error::MasterKey(_)), "{err}");
    let reopened = Keyring::open(
        t.db.clone(),
        MasterKey::from_base64(&new_b64).unwrap(),
        KeyringOptions::default(),
    )
    .await
    .expect("the new master key opens every data key");
    assert_eq!(reopened.status().await.unwrap().len(), 1);
    assert_eq!(
        read_api_key(&t, &reopened, tenant, ids[0]).await,
        "key-0-0123456789"
    );
}

async fn a_rotation_limit_beyond_the_safe_bound_is_refused(t: TestDb) {
    let master = MasterKey::from_base64(&t.master_key_b64).unwrap();
    let err = Keyring::open(
        t.db.clone(),
        master,
        KeyringOptions {
            rotate_after: 1 << 31,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "rotate_after",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(t.count("encryption_keys").await, 0, "nothing was written");
}

async fn the_tenant_alone_is_bound_into_the_ciphertext(t: TestDb) {
    use connvault::crypto::Binding;
    let keyring = t.keyring().await;
    let row = uuid::Uuid::new_v4();
    let tenant_a = uuid::Uuid::new_v4();
    let (_, ct) = keyring
        .encrypt(
            Binding {
                tenant: tenant_a,
                row,
                field: "api_key",
            },
            b"bound-secret",
        )
        .await
        .unwrap();
    let ok = keyring
        .decrypt(
            Binding {
                tenant: tenant_a,
                row,
                field: "api_key",
            },
            &ct,
        )
        .await
        .unwrap();
    assert_eq!(ok.as_slice(), b"bound-secret");
    let other_tenant = Binding {
        tenant: uuid::Uuid::new_v4(),
        row,
        field: "api_key",
    };
    assert!(matches!(
        keyring.decrypt(other_tenant, &ct).await,
        Err(Error::Decrypt)
    ));
    let other_field = Binding {
        tenant: tenant_a,
        row,
        field: "api_ke",
    };
    assert!(matches!(
        keyring.decrypt(other_field, &ct).await,
        Err(Error::Decrypt)
    ));
}
