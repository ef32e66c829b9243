//! The connect page of an API-key provider through the router: the credential is
//! tested with the provider before it is stored; a rejected or unreachable one stores
//! nothing and leaves the link usable; the link works once; the form needs the CSRF
//! token of its own session; the page's headers forbid script, framing and referrers.

use axum::http::{StatusCode, header};
use serde_json::json;

use super::{assert_no_secret_in_pages, csrf, get, post_form};
use crate::health::provider::Mode;
use crate::health::{self, KEYED, Setup, api_key};
use crate::support::TestDb;

pub const RETURN_URL: &str = "https://app.example/done";

/// A connect link of `provider` made by the tenant's admin; its path.
pub async fn link(s: &Setup, provider: &str) -> String {
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connect-sessions", s.tenant),
            &s.admin,
            json!({"provider": provider, "return_url": RETURN_URL, "end_user_label": "Ann"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let url = r.json["connect_url"].as_str().unwrap();
    url[url.find("/connect/").unwrap()..].to_owned()
}

async fn connections(s: &Setup) -> Vec<serde_json::Value> {
    let r = s
        .app
        .get(&format!("/v1/tenants/{}/connections", s.tenant), &s.admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

async fn submit(s: &Setup, link: &str, key: &str) -> crate::support::api::Response {
    let page = get(&s.app, link, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let token = csrf(&page.text);
    post_form(
        &s.app,
        link,
        None,
        &[("csrf", &token), ("step", "credential"), ("api_key", key)],
    )
    .await
}

async fn a_working_key_connects_through_the_form_once(t: TestDb) {
    let s = health::setup(t).await;
    let link = link(&s, KEYED).await;
    let page = get(&s.app, &link, None).await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "Connect Acme CRM",
        "app.example",
        "For Ann",
        "type=\"password\"",
    ] {
        assert!(page.text.contains(shown), "{shown}: {}", page.text);
    }
    // The page's own URL holds the token; the page does not.
    let token = link.trim_start_matches("/connect/");
    assert!(!page.text.contains(token));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' https://app.example"),
        "{csp}"
    );
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    // Opening the page spends nothing.
    assert_eq!(get(&s.app, &link, None).await.status, StatusCode::OK);

    let key = api_key();
    s.provider.set(Mode::Ok);
    let r = submit(&s, &link, &key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Acme CRM is connected"), "{}", r.text);
    assert_eq!(s.provider.hits(&key), 1, "tested before it was stored");
    let list = connections(&s).await;
    assert_eq!(list.len(), 1);
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(list[0]["status"], "active");
    assert_eq!(list[0]["display_name"], "Ann");
    let refresh = r.headers["refresh"].to_str().unwrap();
    assert!(
        refresh.contains(&format!("{RETURN_URL}?connect_session_id=")),
        "{refresh}"
    );
    assert!(
        refresh.contains(&format!("connection_id={id}")),
        "{refresh}"
    );
    assert_eq!(s.actions(id).await, ["connected"]);
    let r = s
        .app
        .get(
            &format!("/v1/tenants/{}/connections/{id}/credentials", s.tenant),
            &s.service,
        )
        .await;
    assert_eq!(r.json["fields"]["api_key"], key);

    // The link is spent: the page says so, and a second submission stores nothing.
    let again = get(&s.app, &link, None).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.text.contains("already been used"), "{}", again.text);
    let fields = [
        ("csrf", csrf(&page.text)),
        ("step", "credential".to_owned()),
        ("api_key", api_key()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_form(&s.app, &link, None, &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location.unwrap().contains("error=connect_link_used"));
    assert_eq!(connections(&s).await.len(), 1);
    assert_no_secret_in_pages(&s.app, &[]);
}

async fn a_rejected_or_unchecked_key_stores_nothing_and_the_link_stays_usable(t: TestDb) {
    let s = health::setup(t).await;
    let link = link(&s, KEYED).await;
    s.provider.set(Mode::Status(401));
    let bad = api_key();
    let r = submit(&s, &link, &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(
        r.text.contains("Acme CRM refused this credential"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(&bad), "the key is not echoed");
    assert!(connections(&s).await.is_empty());
    assert_eq!(s.app.t.count("credential_secrets").await, 0);

    // An unreachable provider: nothing stored, try again.
    s.provider.set(Mode::Status(503));
    let r = submit(&s, &link, &api_key()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.text.contains("could not reach Acme CRM"), "{}", r.text);
    assert!(connections(&s).await.is_empty());

    // An empty key is refused before any request.
    let hits = s.provider.total_hits();
    let r = submit(&s, &link, "").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(s.provider.total_hits(), hits);

    s.provider.set(Mode::Ok);
    let r = submit(&s, &link, &api_key()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(connections(&s).await.len(), 1);
    assert_no_secret_in_pages(&s.app, &[]);
}

async fn a_form_without_its_sessions_csrf_token_is_refused(t: TestDb) {
    let s = health::setup(t).await;
    let first = link(&s, KEYED).await;
    let second = link(&s, KEYED).await;
    let other = csrf(&get(&s.app, &second, None).await.text);
    for token in [None, Some(other.as_str()), Some("forged")] {
        let key = api_key();
        let mut fields = vec![("step", "credential"), ("api_key", key.as_str())];
        if let Some(token) = token {
            fields.push(("csrf", token));
        }
        let r = post_form(&s.app, &first, None, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{token:?}: {}", r.text);
    }
    assert_eq!(s.provider.total_hits(), 0, "nothing was tested");
    assert!(connections(&s).await.is_empty());
    // An unknown link is a 404 page.
    let r = get(&s.app, "/connect/cvc_nothing", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text.contains("not valid"), "{}", r.text);
}

crate::on_both_backends!(
    a_working_key_connects_through_the_form_once,
    a_rejected_or_unchecked_key_stores_nothing_and_the_link_stays_usable,
    a_form_without_its_sessions_csrf_token_is_refused,
);
