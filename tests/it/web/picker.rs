//! A connect link that offers several providers: the API takes `allowed_providers`
//! (refusing unknown providers and bad lists, storing nothing), the page shows a
//! picker without the link token, and the provider chosen is the one connected.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::connect::RETURN_URL;
use super::{assert_no_secret_in_pages, csrf, get, post_form};
use crate::health::provider::Mode;
use crate::health::{self, CHATTY, KEYED, Setup, api_key};
use crate::support::TestDb;

async fn create(s: &Setup, body: Value) -> crate::support::api::Response {
    s.app
        .post(
            &format!("/v1/tenants/{}/connect-sessions", s.tenant),
            &s.admin,
            body,
        )
        .await
}

async fn a_picker_link_connects_the_provider_the_end_user_chooses(t: TestDb) {
    let s = health::setup(t).await;
    let r = create(
        &s,
        json!({"allowed_providers": [CHATTY, KEYED, "stripe"], "return_url": RETURN_URL, "end_user_label": "Ann"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(
        r.json["allowed_providers"],
        json!([CHATTY, KEYED, "stripe"])
    );
    assert_eq!(r.json["provider"], CHATTY, "the first until one is picked");
    let session = r.json["id"].as_str().unwrap().to_owned();
    let url = r.json["connect_url"].as_str().unwrap();
    let link = url[url.find("/connect/").unwrap()..].to_owned();
    let token = link.trim_start_matches("/connect/");

    let page = get(&s.app, &link, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for shown in [
        "Connect an account",
        "Acme CRM",
        "Chatty",
        "Stripe",
        "app.example",
        "For Ann",
        "name=\"provider\" value=\"acmecrm\"",
        "An API key of your Acme CRM account",
        "method=\"get\"",
    ] {
        assert!(page.text.contains(shown), "{shown}: {}", page.text);
    }
    assert!(!page.text.contains(token), "the picker holds no link token");
    assert!(
        !page.text.contains("name=\"csrf\""),
        "the picker posts nothing"
    );

    // Choosing a provider shows its form; one the link does not offer is refused.
    let chosen = format!("{link}?provider={KEYED}");
    let form = get(&s.app, &chosen, None).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    assert!(form.text.contains("Connect Acme CRM"), "{}", form.text);
    assert!(
        form.text.contains("Choose another provider"),
        "{}",
        form.text
    );
    let r = get(&s.app, &format!("{link}?provider=github"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.text.contains("does not offer that provider"),
        "{}",
        r.text
    );

    // A credential posted to the picker itself (no provider chosen) is refused.
    let key = api_key();
    let token_field = csrf(&form.text);
    let r = post_form(
        &s.app,
        &link,
        None,
        &[
            ("csrf", &token_field),
            ("step", "credential"),
            ("api_key", &key),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(s.provider.total_hits(), 0);

    s.provider.set(Mode::Ok);
    let r = post_form(
        &s.app,
        &chosen,
        None,
        &[
            ("csrf", &token_field),
            ("step", "credential"),
            ("api_key", &key),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Acme CRM is connected"), "{}", r.text);
    let list = s
        .app
        .get(&format!("/v1/tenants/{}/connections", s.tenant), &s.admin)
        .await;
    let items = list.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.json);
    assert_eq!(items[0]["provider"], KEYED);
    let r = s
        .app
        .get(
            &format!("/v1/tenants/{}/connect-sessions/{session}", s.tenant),
            &s.admin,
        )
        .await;
    assert_eq!(r.json["status"], "completed", "{}", r.json);
    assert_eq!(
        r.json["provider"], KEYED,
        "the session names the provider chosen"
    );
    assert_eq!(r.json["connection_id"], items[0]["id"]);
    // Spent for every provider it offered.
    let again = get(&s.app, &format!("{link}?provider={CHATTY}"), None).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert_no_secret_in_pages(&s.app, &[]);
}

async fn unknown_providers_and_bad_lists_are_refused_and_store_nothing(t: TestDb) {
    let s = health::setup(t).await;
    let r = create(
        &s,
        json!({"allowed_providers": [KEYED, "nosuchprovider"], "return_url": RETURN_URL}),
    )
    .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_provider");
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("nosuchprovider"),
        "{}",
        r.json
    );
    for (body, field) in [
        (
            json!({"allowed_providers": [], "return_url": RETURN_URL}),
            "allowed_providers",
        ),
        (
            json!({"allowed_providers": [KEYED, KEYED], "return_url": RETURN_URL}),
            "allowed_providers",
        ),
        (
            json!({"provider": KEYED, "allowed_providers": [KEYED], "return_url": RETURN_URL}),
            "allowed_providers",
        ),
        (json!({"return_url": RETURN_URL}), "provider"),
        (
            json!({"allowed_providers": [KEYED, CHATTY], "scopes": ["x"], "return_url": RETURN_URL}),
            "scopes",
        ),
    ] {
        let r = create(&s, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.json
        );
        assert_eq!(r.json["code"], "validation_failed", "{body}: {}", r.json);
        assert_eq!(r.json["field"], field, "{body}: {}", r.json);
    }
    let r = create(
        &s,
        json!({"allowed_providers": ["Not A Slug"], "return_url": RETURN_URL}),
    )
    .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_slug");
    let many: Vec<String> = (0..21).map(|_| KEYED.to_owned()).collect();
    let r = create(
        &s,
        json!({"allowed_providers": many, "return_url": RETURN_URL}),
    )
    .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // An OAuth provider without an app cannot be offered either.
    let r = create(
        &s,
        json!({"allowed_providers": [KEYED, "github"], "return_url": RETURN_URL}),
    )
    .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "oauth_app_missing");
    assert_eq!(s.app.t.count("connect_sessions").await, 0);
    // A list of one is a plain link: no picker.
    let r = create(
        &s,
        json!({"allowed_providers": [KEYED], "return_url": RETURN_URL}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["allowed_providers"], json!([KEYED]));
    let url = r.json["connect_url"].as_str().unwrap();
    let page = get(&s.app, &url[url.find("/connect/").unwrap()..], None).await;
    assert!(page.text.contains("Connect Acme CRM"), "{}", page.text);
}

crate::on_both_backends!(
    a_picker_link_connects_the_provider_the_end_user_chooses,
    unknown_providers_and_bad_lists_are_refused_and_store_nothing,
);
