//! The connect page's OAuth and client-credentials sides against the test
//! authorization server (`tests/oidc`): a browser coming back from the provider sees
//! the outcome in words with a link back to the app (programs still get the redirect),
//! and client credentials typed into the form are tried at the token endpoint before
//! anything is stored.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use super::{assert_no_secret_in_pages, csrf, get, post_form};
use crate::oauth::{PROVIDER, Setup, setup};
use crate::support::oidc::{self, RETURN_URL, query};
use crate::support::{CONNECTION_ACTIVITY, TestDb};

/// The callback as a browser requests it.
async fn as_browser(s: &Setup, callback_url: &str) -> crate::support::api::Response {
    let path = callback_url.trim_start_matches("http://127.0.0.1:8080");
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .body(Body::empty())
        .unwrap();
    s.app.send(request, &format!("GET {path}")).await
}

/// The `href` of the page's return link, unescaped.
fn return_href(html: &str) -> String {
    let at = html.find("id=\"return\"").expect("a return link");
    let tag_start = html[..at].rfind("<a").unwrap();
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>').unwrap()];
    let start = tag.find("href=\"").unwrap() + "href=\"".len();
    tag[start..start + tag[start..].find('"').unwrap()].replace("&amp;", "&")
}

async fn a_browser_sees_the_oauth_outcome_in_words(t: TestDb) {
    let s = setup(t).await;
    let link = s.connect_link().await;
    let authorize = s.open(&link).await;
    let callback = s
        .idp
        .authorize(&format!("{authorize}&login_hint=alice"), oidc::REDIRECT_URI)
        .await;
    let page = as_browser(&s, &callback).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Test IdP is connected"), "{}", page.text);
    assert!(page.text.contains("Return to app.example"), "{}", page.text);
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
    assert!(
        page.headers.get("refresh").is_none(),
        "no automatic redirect"
    );
    let back = return_href(&page.text);
    assert!(back.starts_with(RETURN_URL), "{back}");
    let q = query(&back);
    assert_eq!(q["status"], "connected");
    let connection = s.connection(&q["connection_id"]).await;
    assert_eq!(connection["status"], "active");
    let code = query(&callback)["code"].clone();
    assert!(!page.text.contains(&code), "the code is not in the page");

    // Denied consent: said in words, with the code the app gets.
    let link = s.connect_link().await;
    let authorize = s.open(&link).await;
    let callback = s
        .idp
        .authorize(&format!("{authorize}&login_hint=deny"), oidc::REDIRECT_URI)
        .await;
    let page = as_browser(&s, &callback).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for shown in [
        "Test IdP was not connected",
        "You did not allow access at Test IdP",
        "access_denied",
    ] {
        assert!(page.text.contains(shown), "{shown}: {}", page.text);
    }
    let back = return_href(&page.text);
    assert_eq!(query(&back)["error"], "access_denied", "{back}");
    assert_eq!(s.app.t.count(CONNECTION_ACTIVITY).await, 1, "only alice's");

    // The same answer again (a replayed state): the link was used.
    let page = as_browser(&s, &callback).await;
    assert!(page.text.contains("already used"), "{}", page.text);
    // A state that names no session: a page, and no way back.
    let forged = format!(
        "/oauth/callback/{PROVIDER}?code=abc&state=cvs_nothing&iss={}",
        s.idp.issuer
    );
    let page = as_browser(&s, &forged).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
    assert!(page.text.contains("cannot be finished"), "{}", page.text);
    assert!(!page.text.contains("id=\"return\""));
    // A program (no text/html) still gets the redirect and the JSON problem.
    let r = s.app.call(Method::GET, &forged, None, None).await;
    r.problem(StatusCode::BAD_REQUEST, "invalid_state");
    assert_no_secret_in_pages(&s.app, &[]);
}

async fn client_credentials_are_tried_before_they_are_stored(t: TestDb) {
    let s = setup(t).await;
    let r = s
        .app
        .call(
            Method::PUT,
            "/v1/providers/testcc",
            Some(&s.app.operator),
            Some(json!({
                "display_name": "Test Service",
                "auth_modes": ["oauth2_client_credentials"],
                "token_url": format!("{}/token", s.idp.issuer),
                "docs_url": "https://docs.test-service.example/service-accounts",
                "metadata": {
                    "client_id_label": "Service account ID",
                    "client_secret_help": "Under Service accounts → Secrets.",
                },
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connect-sessions", s.tenant),
            &s.admin,
            json!({"provider": "testcc", "return_url": RETURN_URL}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let url = r.json["connect_url"].as_str().unwrap();
    let link = url[url.find("/connect/").unwrap()..].to_owned();
    let page = get(&s.app, &link, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for shown in [
        "Connect Test Service",
        "<label for=\"client_id\">Service account ID</label>",
        "<label for=\"client_secret\">Client secret</label>",
        "Under Service accounts → Secrets.",
        "The ID of the app or service account",
        "href=\"https://docs.test-service.example/service-accounts\"",
        "name=\"client_secret\" required",
        "type=\"password\"",
    ] {
        assert!(page.text.contains(shown), "{shown}: {}", page.text);
    }
    let token = csrf(&page.text);
    let send = |secret: &'static str| {
        let app = &s.app;
        let link = link.clone();
        let token = token.clone();
        async move {
            post_form(
                app,
                &link,
                None,
                &[
                    ("csrf", &token),
                    ("step", "credential"),
                    ("client_id", oidc::CC_CLIENT_ID),
                    ("client_secret", secret),
                ],
            )
            .await
        }
    };
    // A wrong secret: the token endpoint refuses it, nothing is stored.
    let r = send("client-secret-wrong-000000").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(
        r.text.contains("Test Service refused this credential"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("client-secret-wrong-000000"));
    assert_eq!(s.idp.count("client_credentials").await, 1);
    assert_eq!(s.app.t.count("connections").await, 0);
    assert_eq!(s.app.t.count("credential_secrets").await, 0);
    // The provider is down: nothing stored, the link still works.
    s.idp.fail_tokens(503, 1).await;
    let r = send(oidc::CC_CLIENT_SECRET).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(
        r.text.contains("could not reach Test Service"),
        "{}",
        r.text
    );
    assert_eq!(s.app.t.count("connections").await, 0);
    // The right secret: tried, then stored.
    let r = send(oidc::CC_CLIENT_SECRET).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Test Service is connected"), "{}", r.text);
    let list = s
        .app
        .get(&format!("/v1/tenants/{}/connections", s.tenant), &s.admin)
        .await;
    let items = list.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.json);
    assert_eq!(items[0]["provider"], "testcc");
    assert_eq!(items[0]["status"], "active");
    let id = items[0]["id"].as_str().unwrap();
    let read = s.read(id).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.json);
    assert_eq!(read.json["fields"]["client_id"], oidc::CC_CLIENT_ID);
    let access = read.json["fields"]["access_token"].as_str().unwrap();
    assert!(s.idp.accepts(access).await);
    assert_no_secret_in_pages(&s.app, &[]);
}

crate::on_both_backends!(
    a_browser_sees_the_oauth_outcome_in_words,
    client_credentials_are_tried_before_they_are_stored,
);
