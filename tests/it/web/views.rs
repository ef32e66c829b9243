//! The console's newer views through the router: signing out ends the session on the
//! server (a copied cookie is refused); blocked operations with their reason in words
//! and next-step links that lead somewhere; outbound event deliveries, really attempted,
//! with a retry that only admins get (a viewer sees no button and its forged POST is
//! refused); inbound webhook events from a real signed delivery.

use axum::http::{Method, StatusCode, header};
use serde_json::json;

use super::{assert_no_secret_in_pages, csrf, get, post_form, sign_in};
use crate::support::TestDb;
use crate::support::api::TestApp;

async fn signing_out_ends_the_session_on_the_server(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("acme").await;
    let admin = app.key(&tenant, "admin").await;
    let home = format!("/console/tenants/{tenant}");
    let cookie = sign_in(&app, &admin).await;
    let other = sign_in(&app, &admin).await;
    let page = get(&app, &home, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let token = csrf(&page.text);
    assert_eq!(app.t.count("console_session_revocations").await, 0);

    let r = post_form(
        &app,
        "/console/sign-out",
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.location.as_deref(), Some("/console/sign-in"));
    let cleared = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "the cookie is cleared");
    assert_eq!(app.t.count("console_session_revocations").await, 1);

    // A copy of the cookie kept from before is refused: pages and forms alike.
    let r = get(&app, &home, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location.as_deref(), Some("/console/sign-in"));
    let link = post_form(
        &app,
        &format!("{home}/connect-links"),
        Some(&cookie),
        &[
            ("csrf", &token),
            ("provider", "stripe"),
            ("return_url", "https://app.example/done"),
        ],
    )
    .await;
    assert_eq!(link.status, StatusCode::UNAUTHORIZED, "{}", link.text);
    assert_eq!(app.t.count("connect_sessions").await, 0);
    let again = post_form(
        &app,
        "/console/sign-out",
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.t.count("console_session_revocations").await, 1);

    // The same key's other session goes on.
    assert_eq!(get(&app, &home, Some(&other)).await.status, StatusCode::OK);
    assert_no_secret_in_pages(&app, &[]);
}

async fn blocked_operations_show_their_reason_and_next_steps(t: TestDb) {
    let app = TestApp::new(t).await;
    let tenant = app.tenant("acme").await;
    let admin = app.key(&tenant, "admin").await;
    let viewer = app.key(&tenant, "viewer").await;
    let service = app.key(&tenant, "service").await;
    let r = app
        .call(
            Method::PUT,
            "/v1/operation-types/billing.sync",
            Some(&app.operator),
            Some(json!({"provider": "stripe", "required_scopes": [], "module": "billing", "dedupe": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/operations"),
            &service,
            json!({"type": "billing.sync"}),
        )
        .await;
    assert_eq!(r.json["outcome"], "blocked", "{}", r.json);
    assert_eq!(r.json["reason_code"], "no_connection");

    let base = format!("/console/tenants/{tenant}");
    for key in [&admin, &viewer] {
        let cookie = sign_in(&app, key).await;
        let page = get(&app, &format!("{base}/operations"), Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for shown in [
            "billing.sync",
            "blocked",
            "The tenant has no connection of this provider yet.",
            "no_connection",
            "What to do next:",
        ] {
            assert!(page.text.contains(shown), "{shown}: {}", page.text);
        }
        // The next step is a link of this console, and it leads to the provider.
        let step = format!("href=\"{base}/connect?provider=stripe\"");
        assert!(page.text.contains(&step), "{step}: {}", page.text);
        let r = get(
            &app,
            &format!("{base}/connect?provider=stripe"),
            Some(&cookie),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location.unwrap(), format!("{base}#p-stripe"));
        let grid = get(&app, &base, Some(&cookie)).await;
        assert!(grid.text.contains("id=\"p-stripe\""), "{}", grid.text);

        let none = get(
            &app,
            &format!("{base}/operations?outcome=succeeded"),
            Some(&cookie),
        )
        .await;
        assert!(none.text.contains("No operations here."), "{}", none.text);
        let all = get(
            &app,
            &format!("{base}/operations?outcome=all"),
            Some(&cookie),
        )
        .await;
        assert!(all.text.contains("billing.sync"), "{}", all.text);
        let bad = get(
            &app,
            &format!("{base}/operations?outcome=nope"),
            Some(&cookie),
        )
        .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    }
    // Another tenant's admin sees none of it.
    let other = app.tenant("other").await;
    let stranger = sign_in(&app, &app.key(&other, "admin").await).await;
    let r = get(&app, &format!("{base}/operations"), Some(&stranger)).await;
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        r.status
    );
    assert_no_secret_in_pages(&app, &[]);
}

/// The delivery rows of the endpoint's console page: (id, status) in the order shown.
fn statuses(html: &str) -> Vec<String> {
    html.match_indices("<td class=\"status\">")
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            rest[..rest.find('<').unwrap()].to_owned()
        })
        .collect()
}

async fn deliveries_are_shown_and_only_admins_retry_them(t: TestDb) {
    let options = connvault::services::events::EventOptions {
        schedule: connvault::events::RetrySchedule::parse("0").unwrap(),
        timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let app = TestApp::with_state(t, |s| s.with_events(options.clone())).await;
    let tenant = app.tenant("acme").await;
    let admin = app.key(&tenant, "admin").await;
    let viewer = app.key(&tenant, "viewer").await;
    // An endpoint nobody listens on: every attempt really fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hooks/acme?token=abc",
        closed.local_addr().unwrap()
    );
    drop(closed);
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/event-endpoints"),
            &admin,
            json!({"url": url, "event_types": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    crate::support::secrets::record(r.json["secret"].as_str().unwrap());
    let endpoint = r.json["endpoint"]["id"].as_str().unwrap().to_owned();
    let key = format!("sk_test_views_{}", uuid::Uuid::new_v4().simple());
    crate::support::secrets::record(&key);
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/connections"),
            &admin,
            json!({"provider": "stripe", "external_id": "acct_views",
                   "credential": {"kind": "api_key", "api_key": key}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let worker = connvault::services::events::deliver::Deliverer::new(
        app.t.db.clone(),
        app.t.keyring().await,
        options.clone(),
    );
    worker.pass().await.unwrap();
    worker.pass().await.unwrap();
    let api = app
        .get(
            &format!("/v1/tenants/{tenant}/event-endpoints/{endpoint}/deliveries"),
            &admin,
        )
        .await;
    let items = api.json["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", api.json);
    assert_eq!(items[0]["status"], "failed", "{}", api.json);
    let delivery = items[0]["id"].as_str().unwrap().to_owned();

    let base = format!("/console/tenants/{tenant}/deliveries");
    let page_path = format!("{base}/{endpoint}");
    let retry = format!("{page_path}/{delivery}/retry");

    let viewer_cookie = sign_in(&app, &viewer).await;
    let list = get(&app, &base, Some(&viewer_cookie)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(list.text.contains(&page_path), "{}", list.text);
    assert!(
        !list.text.contains("token=abc"),
        "no query of the URL is shown"
    );
    let page = get(&app, &page_path, Some(&viewer_cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(statuses(&page.text), ["failed"]);
    assert!(page.text.contains("connection.created"), "{}", page.text);
    assert!(
        !page.text.contains("Retry"),
        "a viewer sees no retry button"
    );
    let forged = post_form(
        &app,
        &retry,
        Some(&viewer_cookie),
        &[("csrf", &csrf(&page.text))],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    let still = get(&app, &page_path, Some(&viewer_cookie)).await;
    assert_eq!(
        statuses(&still.text),
        ["failed"],
        "the forged POST changed nothing"
    );

    let admin_cookie = sign_in(&app, &admin).await;
    let page = get(&app, &page_path, Some(&admin_cookie)).await;
    assert!(
        page.text.contains(&format!("action=\"{retry}\"")),
        "{}",
        page.text
    );
    // Without the CSRF token: refused.
    let r = post_form(&app, &retry, Some(&admin_cookie), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post_form(
        &app,
        &retry,
        Some(&admin_cookie),
        &[("csrf", &csrf(&page.text))],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let back = r.location.unwrap();
    assert!(back.starts_with(&page_path), "{back}");
    let after = get(&app, &back, Some(&admin_cookie)).await;
    assert!(after.text.contains("sent again shortly"), "{}", after.text);
    assert_eq!(statuses(&after.text), ["pending"]);
    // The worker really sends it again: one more attempt, failed again.
    worker.pass().await.unwrap();
    let api = app
        .get(
            &format!("/v1/tenants/{tenant}/event-endpoints/{endpoint}/deliveries"),
            &admin,
        )
        .await;
    assert_eq!(api.json["items"][0]["attempts"], 2, "{}", api.json);
    // An unknown delivery is a 404 page.
    let r = post_form(
        &app,
        &format!("{page_path}/{}/retry", uuid::Uuid::new_v4()),
        Some(&admin_cookie),
        &[("csrf", &csrf(&page.text))],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_no_secret_in_pages(&app, &[]);
}

async fn a_signed_webhook_delivery_shows_in_the_console(t: TestDb) {
    let app = TestApp::new(t).await;
    let secret = crate::webhooks::new_secret();
    let secret = secrecy::ExposeSecret::expose_secret(&secret).to_owned();
    crate::support::secrets::record(&secret);
    let (tenant, admin, connection) =
        crate::repositories::github_repo(&app, &secret, "console-events").await;
    let delivery_id = uuid::Uuid::new_v4().to_string();
    let body =
        json!({"ref": "refs/heads/main", "repository": {"full_name": "octo-org/console-events"}});
    let delivery = crate::webhooks::sign_one(json!({
        "kind": "github", "secret": secret, "event": "push",
        "body": body.to_string(), "delivery": delivery_id,
    }));
    let r = crate::repositories::deliver(&app, &connection, &delivery).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.text);

    let cookie = sign_in(&app, &admin).await;
    let page = get(
        &app,
        &format!("/console/tenants/{tenant}/webhook-events"),
        Some(&cookie),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for shown in ["push", delivery_id.as_str(), &connection] {
        assert!(page.text.contains(shown), "{shown}: {}", page.text);
    }
    assert!(!page.text.contains("No deliveries yet."));
    assert_no_secret_in_pages(&app, &[]);
}

crate::on_both_backends!(
    signing_out_ends_the_session_on_the_server,
    blocked_operations_show_their_reason_and_next_steps,
    deliveries_are_shown_and_only_admins_retry_them,
    a_signed_webhook_delivery_shows_in_the_console,
);
