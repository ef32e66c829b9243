//! The web pages through the real router: the connect page (`connect`), the console's
//! sessions, CSRF and roles (`console`), and the pages in a real browser (`browser`).

mod browser;
mod connect;
mod console;
mod oauth_pages;
mod picker;
mod views;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::support::api::{Response, TestApp};
use crate::support::secrets;

/// `GET path` as a browser would send it, with `cookie` if given.
pub async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Response {
    let mut builder = Request::builder().method(Method::GET).uri(path);
    if let Some(c) = cookie {
        builder = builder.header(header::COOKIE, c);
    }
    app.send(builder.body(Body::empty()).unwrap(), &format!("GET {path}"))
        .await
}

/// A form POST of `fields`, with `cookie` if given. Every value is recorded as a
/// possible secret except the CSRF token and the step.
pub async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> Response {
    for (k, v) in fields {
        if !matches!(
            *k,
            "csrf" | "step" | "provider" | "role" | "name" | "return_url"
        ) {
            secrets::record(v);
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        builder = builder.header(header::COOKIE, c);
    }
    app.send(
        builder.body(Body::from(body)).unwrap(),
        &format!("POST {path}"),
    )
    .await
}

/// The value of the first hidden `csrf` field of a page.
pub fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The `name=value` pairs the response sets, as one `Cookie` header value.
pub fn cookies(r: &Response) -> String {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|pair| !pair.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Signs in to the console with `key`; the session's `Cookie` value.
pub async fn sign_in(app: &TestApp, key: &str) -> String {
    let form = get(app, "/console/sign-in", None).await;
    assert_eq!(form.status, StatusCode::OK);
    let pre = cookies(&form);
    let r = post_form(
        app,
        "/console/sign-in",
        Some(&pre),
        &[("csrf", &csrf(&form.text)), ("api_key", key)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let session = cookies(&r);
    assert!(session.starts_with("connvault_console="), "{session}");
    secrets::record(session.trim_start_matches("connvault_console="));
    session
}

/// Fails if any recorded secret is in any page the app served, except the answers
/// that exist to show one once (`allowed` labels).
pub fn assert_no_secret_in_pages(app: &TestApp, allowed: &[&str]) {
    let all = secrets::all();
    let bodies = app.bodies.lock().unwrap();
    let mut pages = 0;
    for (label, body) in bodies.iter() {
        if !body.contains("<html") || allowed.iter().any(|a| label.contains(a)) {
            continue;
        }
        pages += 1;
        for secret in &all {
            assert!(
                !body.contains(secret.as_str()),
                "{label} shows a recorded secret"
            );
        }
    }
    assert!(pages > 0, "no page was scanned");
}
