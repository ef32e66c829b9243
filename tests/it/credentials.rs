//! Credentials encrypted at rest: round trips, confidentiality of the raw bytes,
//! integrity, binding to tenant, row and field, and redaction.

use connvault::Error;
use connvault::models::credential_secret;
use connvault::services::credentials::{self, Credential, CredentialKind};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use secrecy::{ExposeSecret, SecretString};

use crate::support::{Backend, TestDb, connection, tenant};

/// A secret for a test credential, recorded for the scan of the logs (every field of
/// a credential is encrypted, so every one counts, user names and client ids too).
pub fn s(v: &str) -> SecretString {
    crate::support::secrets::record(v);
    SecretString::from(v.to_owned())
}

/// One credential of every kind, with recognisable secrets unique to this run.
pub fn every_kind(tag: &str) -> Vec<Credential> {
    vec![
        Credential::Oauth2 {
            access_token: s(&format!("gho_access_{tag}_A1b2C3d4E5")),
            refresh_token: Some(s(&format!("ghr_refresh_{tag}_Z9y8X7w6"))),
        },
        Credential::ClientCredentials {
            client_id: s(&format!("client-id-{tag}-0001")),
            client_secret: s(&format!("client-secret-{tag}-QWERTY")),
            access_token: None,
        },
        Credential::ApiKey {
            api_key: s(&format!("sk_live_{tag}_4eC39HqLyjWDarjtT1zdp7dc")),
        },
        Credential::Basic {
            username: s(&format!("user-{tag}")),
            password: s(&format!("hunter2-{tag}-password")),
        },
        Credential::RepositoryToken {
            access_token: s(&format!("glpat-{tag}-xxxxxxxxxxxx")),
            webhook_secret: s(&format!("whsec_{tag}_abcdefghijkl")),
        },
    ]
}

pub fn plaintexts(credential: &Credential) -> Vec<String> {
    credential
        .fields()
        .into_iter()
        .map(|(_, v)| v.expose_secret().to_owned())
        .collect()
}

fn same(a: &Credential, b: &Credential) -> bool {
    a.kind() == b.kind() && plaintexts(a) == plaintexts(b)
}

async fn every_kind_of_credential_round_trips_with_masks(t: TestDb) {
    let keyring = t.keyring().await;
    let tenant = tenant(&t).await;
    for (i, credential) in every_kind("rt").into_iter().enumerate() {
        let conn = connection(&t, tenant, "github", &format!("acct-{i}")).await;
        let summary =
            credentials::store(&t.db, &keyring, tenant, conn.connection_id(), &credential)
                .await
                .unwrap();
        assert_eq!(summary.kind, credential.kind());
        for (field, secret) in credential.fields() {
            let value = secret.expose_secret();
            let shown = &summary.masks[field];
            if value.chars().count() >= 12 {
                assert_eq!(shown, &format!("****{}", &value[value.len() - 4..]));
            } else {
                assert_eq!(shown, "****");
            }
        }
        let read = credentials::read(&t.db, &keyring, tenant, conn.connection_id())
            .await
            .unwrap()
            .expect("stored");
        assert!(same(&read, &credential));
        let stored = credentials::summary(&t.db, tenant, conn.connection_id())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.masks, summary.masks);
    }
    // Replacing swaps the whole credential, even for another kind.
    let conn = connection(&t, tenant, "stripe", "acct").await;
    let kinds = every_kind("swap");
    credentials::store(&t.db, &keyring, tenant, conn.connection_id(), &kinds[3])
        .await
        .unwrap();
    credentials::store(&t.db, &keyring, tenant, conn.connection_id(), &kinds[2])
        .await
        .unwrap();
    let read = credentials::read(&t.db, &keyring, tenant, conn.connection_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.kind(), CredentialKind::ApiKey);
    assert!(same(&read, &kinds[2]));
    assert_eq!(
        credentials::delete(&t.db, tenant, conn.connection_id())
            .await
            .unwrap(),
        1
    );
    assert!(
        credentials::read(&t.db, &keyring, tenant, conn.connection_id())
            .await
            .unwrap()
            .is_none()
    );
}

async fn bad_credentials_and_other_tenants_connections_are_refused_writing_nothing(t: TestDb) {
    let keyring = t.keyring().await;
    let a = tenant(&t).await;
    let b = tenant(&t).await;
    let conn = connection(&t, a, "stripe", "acct").await;
    let empty = Credential::ApiKey { api_key: s("") };
    assert!(matches!(
        credentials::store(&t.db, &keyring, a, conn.connection_id(), &empty).await,
        Err(Error::Invalid {
            field: "api_key",
            ..
        })
    ));
    let colon = Credential::Basic {
        username: s("a:b"),
        password: s("pw-long-enough"),
    };
    assert!(matches!(
        credentials::store(&t.db, &keyring, a, conn.connection_id(), &colon).await,
        Err(Error::Invalid {
            field: "username",
            ..
        })
    ));
    let good = Credential::ApiKey {
        api_key: s("sk_test_ok_1234567890"),
    };
    assert!(matches!(
        credentials::store(&t.db, &keyring, b, conn.connection_id(), &good).await,
        Err(Error::NotFound("connection"))
    ));
    assert_eq!(t.count("credential_secrets").await, 0);
    credentials::store(&t.db, &keyring, a, conn.connection_id(), &good)
        .await
        .unwrap();
    assert!(
        credentials::read(&t.db, &keyring, b, conn.connection_id())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        credentials::summary(&t.db, b, conn.connection_id())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        credentials::delete(&t.db, b, conn.connection_id())
            .await
            .unwrap(),
        0
    );
    assert!(
        credentials::read(&t.db, &keyring, a, conn.connection_id())
            .await
            .unwrap()
            .is_some()
    );
}

async fn the_raw_database_holds_none_of_the_plaintext_secrets(t: TestDb) {
    let keyring = t.keyring().await;
    let tenant = tenant(&t).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut secrets = Vec::new();
    for (i, credential) in every_kind(&tag).into_iter().enumerate() {
        let conn = connection(&t, tenant, "gitlab", &format!("acct-{i}")).await;
        credentials::store(&t.db, &keyring, tenant, conn.connection_id(), &credential)
            .await
            .unwrap();
        secrets.extend(plaintexts(&credential));
    }
    let dump = dump_database(&t).await;
    assert!(dump.len() > 1000, "the dump has content");
    for secret in &secrets {
        assert!(
            !contains(&dump, secret.as_bytes()),
            "plaintext secret found in the raw database"
        );
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!contains(&dump, hex.as_bytes()), "hex-encoded secret found");
    }
    // The dump does hold every stored ciphertext (the scan looked at the right place):
    // raw bytes in the SQLite file, `\\x…` hex in PostgreSQL's row text.
    let stored = credential_secret::Entity::find()
        .all(&t.owner)
        .await
        .unwrap();
    assert!(!stored.is_empty());
    for row in stored {
        let found = match t.backend {
            Backend::Sqlite => contains(&dump, &row.ciphertext),
            Backend::Postgres => {
                let hex: String = row.ciphertext.iter().map(|b| format!("{b:02x}")).collect();
                contains(&dump, hex.as_bytes())
            }
        };
        assert!(found, "ciphertext of {} not in the dump", row.field);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every byte the database holds: the SQLite file and its WAL, or every row of every
/// table of the PostgreSQL database as text.
async fn dump_database(t: &TestDb) -> Vec<u8> {
    match t.backend {
        Backend::Sqlite => {
            let path = t.sqlite_path().unwrap();
            let mut bytes = std::fs::read(&path).unwrap();
            for suffix in ["-wal", "-shm"] {
                let extra = path.with_file_name(format!("connvault.db{suffix}"));
                if let Ok(b) = std::fs::read(extra) {
                    bytes.extend(b);
                }
            }
            bytes
        }
        Backend::Postgres => {
            let tables = t
                .owner
                .query_all_raw(Statement::from_string(
                    t.db_backend(),
                    "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'",
                ))
                .await
                .unwrap();
            let mut out = Vec::new();
            for row in tables {
                let name: String = row.try_get("", "name").unwrap();
                let rows = t
                    .owner
                    .query_all_raw(Statement::from_string(
                        t.db_backend(),
                        format!("SELECT row_to_json(x)::text AS j FROM \"{name}\" x"),
                    ))
                    .await
                    .unwrap();
                for r in rows {
                    let j: String = r.try_get("", "j").unwrap();
                    out.extend(j.into_bytes());
                }
            }
            out
        }
    }
}

async fn set_ciphertext(
    t: &TestDb,
    tenant: uuid::Uuid,
    connection: uuid::Uuid,
    field: &str,
    bytes: Vec<u8>,
) {
    let n = credential_secret::Entity::update_many()
        .col_expr(credential_secret::Column::Ciphertext, Expr::val(bytes))
        .filter(credential_secret::Column::TenantId.eq(tenant))
        .filter(credential_secret::Column::ConnectionId.eq(connection))
        .filter(credential_secret::Column::Field.eq(field))
        .exec(&t.owner)
        .await
        .unwrap()
        .rows_affected;
    assert_eq!(n, 1);
}

async fn get_ciphertext(
    t: &TestDb,
    tenant: uuid::Uuid,
    connection: uuid::Uuid,
    field: &str,
) -> Vec<u8> {
    credential_secret::Entity::find_by_id((tenant, connection, field.to_owned()))
        .one(&t.owner)
        .await
        .unwrap()
        .unwrap()
        .ciphertext
}

async fn a_flipped_byte_anywhere_is_an_error_never_garbage(t: TestDb) {
    let keyring = t.keyring().await;
    let tenant = tenant(&t).await;
    let conn = connection(&t, tenant, "stripe", "acct").await;
    let credential = Credential::ApiKey {
        api_key: s("sk_live_integrity_check_0001"),
    };
    credentials::store(&t.db, &keyring, tenant, conn.connection_id(), &credential)
        .await
        .unwrap();
    let original = get_ciphertext(&t, tenant.as_uuid(), conn.id, "api_key").await;
    for position in 0..original.len() {
        let mut tampered = original.clone();
        tampered[position] ^= 0x01;
        set_ciphertext(&t, tenant.as_uuid(), conn.id, "api_key", tampered).await;
        let result = credentials::read(&t.db, &keyring, tenant, conn.connection_id()).await;
        assert!(
            matches!(
                result,
                Err(Error::Decrypt | Error::MalformedCiphertext | Error::UnknownDataKey(_))
            ),
            "byte {position}: {result:?}"
        );
    }
    // Truncated.
    set_ciphertext(
        &t,
        tenant.as_uuid(),
        conn.id,
        "api_key",
        original[..20].to_vec(),
    )
    .await;
    assert!(
        credentials::read(&t.db, &keyring, tenant, conn.connection_id())
            .await
            .is_err()
    );
    set_ciphertext(&t, tenant.as_uuid(), conn.id, "api_key", original).await;
    let read = credentials::read(&t.db, &keyring, tenant, conn.connection_id())
        .await
        .unwrap()
        .unwrap();
    assert!(same(&read, &credential));
}

async fn a_ciphertext_copied_to_another_connection_tenant_or_field_fails(t: TestDb) {
    let keyring = t.keyring().await;
    let a = tenant(&t).await;
    let b = tenant(&t).await;
    let a1 = connection(&t, a, "twilio", "acct-1").await;
    let a2 = connection(&t, a, "twilio", "acct-2").await;
    let b1 = connection(&t, b, "twilio", "acct-1").await;
    for (tenant, conn) in [(a, &a1), (a, &a2), (b, &b1)] {
        let credential = Credential::Basic {
            username: s(&format!("user-{}", conn.id)),
            password: s(&format!("password-{}", conn.id)),
        };
        credentials::store(&t.db, &keyring, tenant, conn.connection_id(), &credential)
            .await
            .unwrap();
    }
    let a1_password = get_ciphertext(&t, a.as_uuid(), a1.id, "password").await;

    // Another connection of the same tenant.
    set_ciphertext(&t, a.as_uuid(), a2.id, "password", a1_password.clone()).await;
    assert!(matches!(
        credentials::read(&t.db, &keyring, a, a2.connection_id()).await,
        Err(Error::Decrypt)
    ));
    // Another tenant.
    set_ciphertext(&t, b.as_uuid(), b1.id, "password", a1_password.clone()).await;
    assert!(matches!(
        credentials::read(&t.db, &keyring, b, b1.connection_id()).await,
        Err(Error::Decrypt)
    ));
    // Another field of the same connection.
    set_ciphertext(&t, a.as_uuid(), a1.id, "username", a1_password).await;
    assert!(matches!(
        credentials::read(&t.db, &keyring, a, a1.connection_id()).await,
        Err(Error::Decrypt)
    ));
}

async fn the_same_secret_twice_gives_two_ciphertexts(t: TestDb) {
    let keyring = t.keyring().await;
    let tenant = tenant(&t).await;
    let conn = connection(&t, tenant, "stripe", "acct").await;
    let credential = Credential::ApiKey {
        api_key: s("sk_live_same_secret_twice"),
    };
    credentials::store(&t.db, &keyring, tenant, conn.connection_id(), &credential)
        .await
        .unwrap();
    let first = get_ciphertext(&t, tenant.as_uuid(), conn.id, "api_key").await;
    credentials::store(&t.db, &keyring, tenant, conn.connection_id(), &credential)
        .await
        .unwrap();
    let second = get_ciphertext(&t, tenant.as_uuid(), conn.id, "api_key").await;
    assert_ne!(first, second);
    assert_ne!(first[5..17], second[5..17], "fresh nonce each time");
}

#[test]
fn debug_output_never_shows_a_secret() {
    for credential in every_kind("dbg") {
        let shown = format!("{credential:?} {credential:#?}");
        for secret in plaintexts(&credential) {
            assert!(!shown.contains(&secret), "{shown}");
        }
        assert!(shown.contains("REDACTED"));
    }
    let b64 = crate::support::random_master_key_b64();
    let key = connvault::crypto::MasterKey::from_base64(&b64).unwrap();
    let shown = format!("{key:?}");
    assert!(!shown.contains(&b64) && shown.contains(key.id()));
}

async fn a_stored_secret_row_does_not_debug_print_its_ciphertext(t: TestDb) {
    let keyring = t.keyring().await;
    let tenant = tenant(&t).await;
    let conn = connection(&t, tenant, "stripe", "acct").await;
    credentials::store(
        &t.db,
        &keyring,
        tenant,
        conn.connection_id(),
        &Credential::ApiKey {
            api_key: s("sk_live_row_debug_check"),
        },
    )
    .await
    .unwrap();
    let row = credential_secret::Entity::find()
        .one(&t.owner)
        .await
        .unwrap()
        .unwrap();
    let shown = format!("{row:?}");
    assert!(!shown.contains("ciphertext"), "{shown}");
    assert!(shown.contains("****heck"));
    let keys = connvault::models::encryption_key::Entity::find()
        .all(&t.owner)
        .await
        .unwrap();
    assert!(!format!("{keys:?}").contains("wrapped_key"));
    let shown = format!("{keyring:?}");
    assert!(shown.contains(keyring.master_key_id()), "{shown}");
    assert!(
        !shown.contains(&t.master_key_b64),
        "the keyring never shows its master key"
    );
}

crate::on_both_backends!(
    every_kind_of_credential_round_trips_with_masks,
    bad_credentials_and_other_tenants_connections_are_refused_writing_nothing,
    the_raw_database_holds_none_of_the_plaintext_secrets,
    a_flipped_byte_anywhere_is_an_error_never_garbage,
    a_ciphertext_copied_to_another_connection_tenant_or_field_fails,
    the_same_secret_twice_gives_two_ciphertexts,
    a_stored_secret_row_does_not_debug_print_its_ciphertext,
);
