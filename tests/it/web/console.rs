//! The console through the router: a session cookie for an API key, CSRF on every
//! form, the role deciding what is shown and accepted, idle and absolute expiry, and
//! no secret on any page.

use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use connvault::http::AppState;
use connvault::web::session::{COOKIE, Claims};
use connvault::web::{Web, WebOptions};
use serde_json::json;

use super::{assert_no_secret_in_pages, cookies, csrf, get, post_form, sign_in};
use crate::health::provider::Mode;
use crate::health::{self, KEYED, api_key};
use crate::support::TestDb;
use crate::support::api::TestApp;

async fn connection_json(s: &health::Setup, id: &str) -> serde_json::Value {
    s.connection(id).await
}

async fn an_admin_makes_a_connection_default_tests_and_disconnects_it(t: TestDb) {
    let s = health::setup(t).await;
    let first = s.connect(KEYED, &api_key()).await;
    let second = s.connect(KEYED, &api_key()).await;
    let cookie = sign_in(&s.app, &s.admin).await;

    let home = get(&s.app, "/console", Some(&cookie)).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    let grid_path = home.location.unwrap();
    assert_eq!(grid_path, format!("/console/tenants/{}", s.tenant));
    let grid = get(&s.app, &grid_path, Some(&cookie)).await;
    assert_eq!(grid.status, StatusCode::OK, "{}", grid.text);
    for shown in ["Acme CRM", "GitHub", &first, &second, "Create connect link"] {
        assert!(grid.text.contains(shown), "{shown}");
    }

    let page_path = format!("/console/tenants/{}/connections/{second}", s.tenant);
    let page = get(&s.app, &page_path, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Make default"));
    assert!(
        page.text.contains("api_key"),
        "the credential's kind and mask"
    );
    let token = csrf(&page.text);

    let r = post_form(
        &s.app,
        &format!("{page_path}/default"),
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(connection_json(&s, &second).await["is_default"], true);
    assert_eq!(connection_json(&s, &first).await["is_default"], false);

    s.provider.set(Mode::Ok);
    let r = post_form(
        &s.app,
        &format!("{page_path}/test"),
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let after = get(&s.app, &r.location.unwrap(), Some(&cookie)).await;
    assert!(after.text.contains("Test passed"), "{}", after.text);
    assert!(after.text.contains("active, healthy"), "{}", after.text);

    let r = post_form(
        &s.app,
        &format!("{page_path}/disconnect"),
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(connection_json(&s, &second).await["status"], "revoked");
    assert_eq!(
        s.actions(&second).await,
        [
            "connected",
            "default_changed",
            "test_succeeded",
            "disconnected"
        ]
    );

    // The activity log, filtered and paged.
    let log = get(&s.app, &format!("{grid_path}/activity"), Some(&cookie)).await;
    assert_eq!(log.status, StatusCode::OK);
    for shown in [
        "default changed",
        "test succeeded",
        "disconnected",
        "connected",
    ] {
        assert!(
            log.text.contains(&format!("<td>{shown}</td>")),
            "{shown}: {}",
            log.text
        );
    }
    let filtered = get(
        &s.app,
        &format!("{grid_path}/activity?action=disconnected"),
        Some(&cookie),
    )
    .await;
    assert!(filtered.text.contains("<td>disconnected</td>"));
    assert!(!filtered.text.contains("<td>test succeeded</td>"));
    for _ in 0..30 {
        s.connect(KEYED, &api_key()).await;
    }
    let first_page = get(
        &s.app,
        &format!("{grid_path}/activity?action=connected"),
        Some(&cookie),
    )
    .await;
    let next = first_page.text.split("rel=\"next\"").next().unwrap();
    let href = &next[next.rfind("href=\"").expect("a next page link") + 6..];
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let second_page = get(&s.app, &href, Some(&cookie)).await;
    assert_eq!(second_page.status, StatusCode::OK);
    assert_eq!(
        second_page.text.matches("<td>connected</td>").count(),
        32 - 25
    );

    // A connect link made in the console is shown once.
    let r = post_form(
        &s.app,
        &format!("{grid_path}/connect-links"),
        Some(&cookie),
        &[
            ("csrf", &token),
            ("provider", KEYED),
            ("return_url", "https://app.example/done"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let shown = r.text.split("id=\"connect-link\">").nth(1).unwrap();
    let url = &shown[..shown.find('<').unwrap()];
    crate::support::secrets::record_url(url);
    assert!(url.contains("/connect/cvc_"), "{url}");

    // Sign-out ends the session in the browser.
    let r = post_form(
        &s.app,
        "/console/sign-out",
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let cleared = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with(&format!("{COOKIE}=;")) && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_no_secret_in_pages(&s.app, &["/connect-links"]);
}

async fn a_viewer_sees_no_actions_and_its_forged_posts_are_refused(t: TestDb) {
    let s = health::setup(t).await;
    let first = s.connect(KEYED, &api_key()).await;
    let second = s.connect(KEYED, &api_key()).await;
    let cookie = sign_in(&s.app, &s.viewer).await;
    let base = format!("/console/tenants/{}", s.tenant);
    let grid = get(&s.app, &base, Some(&cookie)).await;
    assert_eq!(grid.status, StatusCode::OK);
    let page = get(
        &s.app,
        &format!("{base}/connections/{second}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    for page in [&grid, &page] {
        // The only button is "Sign out".
        assert_eq!(page.text.matches("<button").count(), 1, "{}", page.text);
        assert!(!page.text.contains("Make default") && !page.text.contains("Create connect link"));
    }
    // A forged POST with the session's own CSRF token: refused by role.
    let token = csrf(&page.text);
    for action in ["default", "disconnect", "test"] {
        let r = post_form(
            &s.app,
            &format!("{base}/connections/{second}/{action}"),
            Some(&cookie),
            &[("csrf", &token)],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}: {}", r.text);
    }
    let r = post_form(
        &s.app,
        &format!("{base}/connect-links"),
        Some(&cookie),
        &[
            ("csrf", &token),
            ("provider", KEYED),
            ("return_url", "https://app.example/done"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(s.connection(&first).await["is_default"], true);
    assert_eq!(s.connection(&second).await["status"], "active");
    // It may read the inbound webhook events.
    let events = get(&s.app, &format!("{base}/webhook-events"), Some(&cookie)).await;
    assert_eq!(events.status, StatusCode::OK);
    assert!(
        events.text.contains("No deliveries yet."),
        "{}",
        events.text
    );
    // Nor may it reach the operator's pages or another tenant.
    let other = s.app.tenant("other").await;
    for path in [
        "/console/tenants".to_owned(),
        "/console/keys".to_owned(),
        format!("/console/tenants/{other}"),
    ] {
        let r = get(&s.app, &path, Some(&cookie)).await;
        assert!(
            matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{path}: {}",
            r.status
        );
    }
    assert_no_secret_in_pages(&s.app, &[]);
}

async fn a_post_without_its_sessions_csrf_token_is_refused(t: TestDb) {
    let s = health::setup(t).await;
    let id = s.connect(KEYED, &api_key()).await;
    let second = s.connect(KEYED, &api_key()).await;
    let admin = sign_in(&s.app, &s.admin).await;
    let other = sign_in(&s.app, &s.admin).await;
    let path = format!("/console/tenants/{}/connections/{second}", s.tenant);
    let others_token = csrf(&get(&s.app, &path, Some(&other)).await.text);
    for fields in [
        vec![],
        vec![("csrf", others_token.as_str())],
        vec![("csrf", "x")],
    ] {
        let r = post_form(&s.app, &format!("{path}/default"), Some(&admin), &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    // Without a session at all: 401, and a GET goes to the sign-in page.
    let r = post_form(
        &s.app,
        &format!("{path}/default"),
        None,
        &[("csrf", &others_token)],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get(&s.app, &path, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location.as_deref(), Some("/console/sign-in"));
    assert_eq!(s.connection(&id).await["is_default"], true);
    // The sign-in form needs its own token too, and a wrong key gets a form error.
    let r = post_form(&s.app, "/console/sign-in", None, &[("api_key", &s.admin)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(cookies(&r).find(COOKIE).is_none());
    let form = get(&s.app, "/console/sign-in", None).await;
    let bad = format!("cv_{}", "x".repeat(43));
    let r = post_form(
        &s.app,
        "/console/sign-in",
        Some(&cookies(&form)),
        &[("csrf", &csrf(&form.text)), ("api_key", &bad)],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text.contains("unknown, revoked"));
}

async fn the_session_cookie_is_strict_and_expires(t: TestDb) {
    let s = health::setup(t).await;
    let form = get(&s.app, "/console/sign-in", None).await;
    let r = post_form(
        &s.app,
        "/console/sign-in",
        Some(&cookies(&form)),
        &[("csrf", &csrf(&form.text)), ("api_key", &s.admin)],
    )
    .await;
    let set = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(COOKIE))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(flag), "{flag}: {set}");
    }
    assert!(!set.contains("Secure"), "http public URL: {set}");
    let cookie = cookies(&r);
    crate::support::secrets::record(cookie.trim_start_matches("connvault_console="));
    assert_eq!(
        get(&s.app, "/console/tenants", Some(&cookie)).await.status,
        StatusCode::FORBIDDEN
    );

    // Sessions sealed with the same master key: idle, too old, tampered, revoked key.
    let keyring = s.app.t.keyring().await;
    let web = Web::new(
        &keyring,
        &url::Url::parse("http://127.0.0.1:8080").unwrap(),
        WebOptions::default(),
    );
    let now = chrono::Utc::now().timestamp();
    let key = s
        .app
        .get(&format!("/v1/tenants/{}/api-keys", s.tenant), &s.admin)
        .await;
    let admin_key = key.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let tenant = s.tenant.parse().unwrap();
    let path = format!("/console/tenants/{}", s.tenant);
    let with = |claims: &Claims| format!("{COOKIE}={}", web.seal(claims));
    let fresh = Claims::new(admin_key, Some(tenant), now);
    crate::support::secrets::record(&web.seal(&fresh));
    assert_eq!(
        get(&s.app, &path, Some(&with(&fresh))).await.status,
        StatusCode::OK
    );
    let idle = Claims {
        seen: now - 31 * 60,
        issued: now - 31 * 60,
        ..fresh.clone()
    };
    let old = Claims {
        issued: now - 13 * 3600,
        ..fresh.clone()
    };
    let mut tampered = with(&fresh);
    tampered.push('x');
    for cookie in [with(&idle), with(&old), tampered] {
        let r = get(&s.app, &path, Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{cookie}");
        assert_eq!(r.location.as_deref(), Some("/console/sign-in"));
    }
    // A session a minute old is renewed with this request's time.
    let minute = Claims {
        seen: now - 90,
        ..fresh.clone()
    };
    let r = get(&s.app, &path, Some(&with(&minute))).await;
    assert_eq!(r.status, StatusCode::OK);
    let renewed = cookies(&r);
    crate::support::secrets::record(renewed.trim_start_matches("connvault_console="));
    let claims = web
        .open(renewed.trim_start_matches("connvault_console="), now + 1)
        .unwrap();
    assert!(claims.seen >= now && claims.issued == fresh.issued);
    // Revoking the key ends its sessions.
    let r = s
        .app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{}/api-keys/{admin_key}", s.tenant),
            Some(&s.app.operator),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    assert_eq!(
        get(&s.app, &path, Some(&with(&fresh))).await.status,
        StatusCode::SEE_OTHER
    );
}

async fn with_an_https_public_url_the_cookie_is_secure(t: TestDb) {
    let app = TestApp::with_state(t, |mut state: AppState| {
        state.public_url = url::Url::parse("https://vault.example.com").unwrap();
        state.with_web(WebOptions {
            frame_ancestors: "https://app.example".into(),
            idle: Duration::from_secs(600),
            absolute: Duration::from_secs(3600),
        })
    })
    .await;
    let form = get(&app, "/console/sign-in", None).await;
    let csp = form.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors https://app.example"), "{csp}");
    assert!(
        form.headers.get(header::X_FRAME_OPTIONS).is_none(),
        "embedding allowed"
    );
    let r = post_form(
        &app,
        "/console/sign-in",
        Some(&cookies(&form)),
        &[("csrf", &csrf(&form.text)), ("api_key", &app.operator)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let set = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.contains("; Secure") && set.contains("Max-Age=3600"),
        "{set}"
    );
    crate::support::secrets::record(cookies(&r).trim_start_matches("connvault_console="));
}

async fn the_operator_view_shows_masks_and_a_new_keys_secret_once(t: TestDb) {
    let s = health::setup(t).await;
    let r = s.app.call(Method::PUT, "/v1/oauth-apps/slack", Some(&s.app.operator), Some(json!({"client_id": "slack-client", "client_secret": "client-secret-console-0123456789", "allowed_return_urls": ["https://app.example/done"]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let cookie = sign_in(&s.app, &s.app.operator).await;
    let tenants = get(&s.app, "/console/tenants", Some(&cookie)).await;
    assert!(tenants.text.contains("acme"), "{}", tenants.text);
    let token = csrf(&tenants.text);
    let r = post_form(
        &s.app,
        "/console/tenants",
        Some(&cookie),
        &[("csrf", &token), ("name", "globex")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let r = post_form(
        &s.app,
        "/console/keys",
        Some(&cookie),
        &[
            ("csrf", &token),
            ("name", "ops two"),
            ("role", "operator"),
            ("tenant", ""),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let shown = r.text.split("id=\"new-key\">").nth(1).unwrap();
    let secret = &shown[..shown.find('<').unwrap()];
    crate::support::secrets::record(secret);
    assert!(secret.starts_with("cv_"));
    let keys = get(&s.app, "/console/keys", Some(&cookie)).await;
    assert!(keys.text.contains("ops two") && !keys.text.contains(secret));
    let apps = get(&s.app, "/console/oauth-apps", Some(&cookie)).await;
    assert!(
        apps.text.contains("slack-client") && apps.text.contains("****6789"),
        "{}",
        apps.text
    );
    for path in [
        "/console/catalog",
        "/console/data-keys",
        &format!("/console/tenants/{}", s.tenant),
    ] {
        let r = get(&s.app, path, Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    assert_no_secret_in_pages(&s.app, &["POST /console/keys"]);
}

crate::on_both_backends!(
    an_admin_makes_a_connection_default_tests_and_disconnects_it,
    a_viewer_sees_no_actions_and_its_forged_posts_are_refused,
    a_post_without_its_sessions_csrf_token_is_refused,
    the_session_cookie_is_strict_and_expires,
    with_an_https_public_url_the_cookie_is_secure,
    the_operator_view_shows_masks_and_a_new_keys_secret_once,
);
