//! A credential must be one the provider can use: its kind must fit one of the
//! provider's auth modes, on create and on replace, or the request is refused with 422
//! `validation_failed` and writes nothing.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::CONNECTION_ACTIVITY;
use crate::support::TestDb;
use crate::support::api::TestApp;

fn credentials() -> [(&'static str, Value); 5] {
    [
        (
            "oauth2",
            json!({"kind": "oauth2", "access_token": "gho_kinds_access_0123456789"}),
        ),
        (
            "client_credentials",
            json!({"kind": "client_credentials", "client_id": "kinds-client", "client_secret": "client-secret-kinds-0123"}),
        ),
        (
            "api_key",
            json!({"kind": "api_key", "api_key": "sk_live_kinds_0123456789"}),
        ),
        (
            "basic",
            json!({"kind": "basic", "username": "kinds-user", "password": "password-kinds-0123"}),
        ),
        (
            "repository_token",
            json!({"kind": "repository_token", "access_token": "glpat-kinds-0123456789", "webhook_secret": "whsec_kinds_0123456789"}),
        ),
    ]
}

async fn a_credential_must_fit_one_of_the_providers_auth_modes(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("Acme").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    let path = format!("/v1/tenants/{tenant}/connections");

    // (provider, kinds it takes) as the built-in catalog says.
    let catalog = [
        ("stripe", vec!["api_key"]),
        ("twilio", vec!["basic"]),
        ("github", vec!["oauth2", "repository_token"]),
        ("microsoft", vec!["oauth2", "client_credentials"]),
    ];
    let mut created = 0;
    for (provider, takes) in &catalog {
        for (kind, credential) in credentials() {
            let external_id = format!("{provider}-{kind}");
            let body =
                json!({"provider": provider, "external_id": external_id, "credential": credential});
            let r = app.post(&path, &admin, body).await;
            if takes.contains(&kind) {
                assert_eq!(
                    r.status,
                    StatusCode::CREATED,
                    "{provider} {kind}: {}",
                    r.json
                );
                assert_eq!(r.json["credential"]["kind"], kind);
                created += 1;
            } else {
                r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
                assert_eq!(r.json["field"], "credential.kind", "{}", r.json);
                let detail = r.json["detail"].as_str().unwrap();
                assert!(
                    detail.ends_with(&format!("it takes {}", takes.join(" or "))),
                    "{detail}"
                );
            }
            assert_eq!(
                app.t.count("connections").await,
                created,
                "nothing else written"
            );
            assert_eq!(app.t.count(CONNECTION_ACTIVITY).await, created);
        }
    }

    // Replacing Stripe's credential with one of another kind is refused and changes
    // nothing: the stored credential, the row and the activity log stay as they were.
    let stripe = format!("{path}/{}", {
        let r = app.get(&format!("{path}?provider=stripe"), &admin).await;
        r.json["items"][0]["id"].as_str().unwrap().to_owned()
    });
    let before = app.get(&stripe, &admin).await.json;
    let secrets = stored_counts(&app).await;
    for (kind, credential) in credentials() {
        if kind == "api_key" {
            continue;
        }
        let r = app
            .call(
                Method::PUT,
                &format!("{stripe}/credentials"),
                Some(&admin),
                Some(credential),
            )
            .await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.json["field"], "kind", "{}", r.json);
    }
    assert_eq!(app.get(&stripe, &admin).await.json, before);
    assert_eq!(stored_counts(&app).await, secrets);
    let r = app.get(&format!("{stripe}/credentials"), &service).await;
    assert_eq!(r.json["fields"]["api_key"], "sk_live_kinds_0123456789");

    // One that fits is taken.
    let r = app
        .call(
            Method::PUT,
            &format!("{stripe}/credentials"),
            Some(&admin),
            Some(json!({"kind": "api_key", "api_key": "sk_live_kinds_replaced_0123"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
}

/// (credential rows, activity entries)
async fn stored_counts(app: &TestApp) -> (i64, i64) {
    (
        app.t.count("credential_secrets").await,
        app.t.count(CONNECTION_ACTIVITY).await,
    )
}

crate::on_both_backends!(a_credential_must_fit_one_of_the_providers_auth_modes);
