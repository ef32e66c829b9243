//! The provider repository and catalog seeding, on both backends.

use connvault::Error;
use connvault::catalog::{self, Catalog, KNOWN_PROVIDERS};
use connvault::models::ProviderSlug;
use connvault::models::json::{AuthMode, HealthCheck};
use connvault::repositories::providers::{self, ProviderUpsert};

use crate::support::TestDb;

fn custom(slug: &str) -> ProviderUpsert {
    ProviderUpsert {
        slug: ProviderSlug::parse(slug).unwrap(),
        display_name: "Acme CRM".into(),
        auth_modes: vec![AuthMode::Oauth2AuthorizationCode],
        authorization_url: Some("https://acme.example/oauth/authorize".into()),
        token_url: Some("https://acme.example/oauth/token".into()),
        default_scopes: vec!["read".into()],
        health_check: Some(HealthCheck {
            method: "GET".into(),
            url: "https://api.acme.example/me".into(),
            expect_status: Some(200),
            body: None,
            ok_field: None,
            error_field: None,
            rejected_errors: Vec::new(),
        }),
        docs_url: None,
        metadata: serde_json::json!({ "api_base_url": "https://api.acme.example" }),
    }
}

async fn get_by_slug_returns_the_seeded_entry_or_none(t: TestDb) {
    let github = providers::get_by_slug(&t.db, &ProviderSlug::parse("github").unwrap())
        .await
        .unwrap()
        .expect("github is seeded");
    assert_eq!(github.display_name, "GitHub");
    assert_eq!(
        github.token_url.as_deref(),
        Some("https://github.com/login/oauth/access_token")
    );
    assert!(github.auth_modes.0.contains(&AuthMode::RepositoryToken));
    assert_eq!(
        github.health_check.as_ref().map(|h| h.url.as_str()),
        Some("https://api.github.com/user")
    );
    let missing = providers::get_by_slug(&t.db, &ProviderSlug::parse("nope").unwrap())
        .await
        .unwrap();
    assert!(missing.is_none());
}

async fn list_all_returns_the_catalog_in_slug_order(t: TestDb) {
    let all = providers::list_all(&t.db).await.unwrap();
    let slugs: Vec<&str> = all.iter().map(|p| p.slug.as_str()).collect();
    let mut expected = KNOWN_PROVIDERS.to_vec();
    expected.sort_unstable();
    assert_eq!(slugs, expected);
}

async fn upsert_inserts_then_updates_keeping_created_at(t: TestDb) {
    let first = providers::upsert(&t.db, custom("acme-crm")).await.unwrap();
    assert_eq!(first.display_name, "Acme CRM");
    assert_eq!(first.default_scopes.0, vec!["read".to_string()]);

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut changed = custom("acme-crm");
    changed.display_name = "Acme CRM v2".into();
    changed.default_scopes = vec!["read".into(), "write".into()];
    let second = providers::upsert(&t.db, changed).await.unwrap();
    assert_eq!(second.display_name, "Acme CRM v2");
    assert_eq!(second.default_scopes.0.len(), 2);
    assert_eq!(second.created_at, first.created_at);
    assert!(second.updated_at > first.updated_at);

    // The same input again changes nothing, not even updated_at.
    let mut same = custom("acme-crm");
    same.display_name = "Acme CRM v2".into();
    same.default_scopes = vec!["read".into(), "write".into()];
    let third = providers::upsert(&t.db, same).await.unwrap();
    assert_eq!(third, second);
}

async fn upsert_refuses_invalid_input_and_writes_nothing(t: TestDb) {
    let before = t.count("providers").await;
    let mut no_token_url = custom("acme-crm");
    no_token_url.token_url = None;
    match providers::upsert(&t.db, no_token_url).await {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "token_url"),
        other => panic!("expected invalid token_url, got {other:?}"),
    }
    let mut not_object = custom("acme-crm");
    not_object.metadata = serde_json::json!(["a"]);
    assert!(matches!(
        providers::upsert(&t.db, not_object).await,
        Err(Error::Invalid {
            field: "metadata",
            ..
        })
    ));
    let mut no_modes = custom("acme-crm");
    no_modes.auth_modes.clear();
    assert!(matches!(
        providers::upsert(&t.db, no_modes).await,
        Err(Error::Invalid {
            field: "auth_modes",
            ..
        })
    ));
    assert_eq!(t.count("providers").await, before);
}

async fn seeding_twice_gives_the_same_catalog(t: TestDb) {
    let before = providers::list_all(&t.db).await.unwrap();
    let catalog = Catalog::builtin().unwrap();
    catalog::seed(&t.db, &catalog).await.unwrap();
    catalog::seed(&t.db, &catalog).await.unwrap();
    let after = providers::list_all(&t.db).await.unwrap();
    assert_eq!(before, after);
    assert_eq!(after.len(), KNOWN_PROVIDERS.len());
}

/// An operator's change through the API survives seeding (as at every start of the
/// `local` profile); entries the catalog manages are brought back to the catalog.
async fn seeding_leaves_what_an_operator_set_and_restores_the_rest(t: TestDb) {
    let app = crate::support::api::TestApp::new(t).await;
    let r = app.get("/v1/providers/stripe", &app.operator).await;
    assert_eq!(r.json["managed_by"], "catalog");
    let mut body = r.json.clone();
    let object = body.as_object_mut().unwrap();
    for key in ["created_at", "updated_at", "managed_by"] {
        object.remove(key);
    }
    object.insert("display_name".into(), "Stripe (our account)".into());
    let r = app
        .call(
            axum::http::Method::PUT,
            "/v1/providers/stripe",
            Some(&app.operator),
            Some(body),
        )
        .await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["managed_by"], "operator");
    // A catalog-managed entry drifted (as after an upgrade of the built-in catalog).
    app.t
        .exec("UPDATE providers SET display_name = 'Old name' WHERE slug = 'github'")
        .await
        .unwrap();

    catalog::seed(&app.t.db, &Catalog::builtin().unwrap())
        .await
        .unwrap();
    let stripe = app.get("/v1/providers/stripe", &app.operator).await;
    assert_eq!(stripe.json["display_name"], "Stripe (our account)");
    assert_eq!(stripe.json["managed_by"], "operator");
    let github = app.get("/v1/providers/github", &app.operator).await;
    assert_eq!(github.json["display_name"], "GitHub");
    assert_eq!(github.json["managed_by"], "catalog");
}

crate::on_both_backends!(
    seeding_leaves_what_an_operator_set_and_restores_the_rest,
    get_by_slug_returns_the_seeded_entry_or_none,
    list_all_returns_the_catalog_in_slug_order,
    upsert_inserts_then_updates_keeping_created_at,
    upsert_refuses_invalid_input_and_writes_nothing,
    seeding_twice_gives_the_same_catalog,
);
