//! The repository's webhook at its Git service: created with the connection's access
//! token (GitHub `POST /repos/{owner}/{repo}/hooks`, GitLab `POST /projects/{id}/hooks`,
//! Bitbucket Cloud `POST /repositories/{workspace}/{slug}/hooks`) and deleted on
//! disconnect. Each service's documented JSON body, with the secret and the events.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use crate::error::{Error, Result};
use crate::models::{RepositoryUrl, ServiceType};
use crate::sanitize;

/// How long one call to a Git service may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client for Git services' APIs.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("connvault/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client's TLS backend initializes")
}

/// The events connvault subscribes a new webhook to.
pub fn events(service: ServiceType) -> &'static [&'static str] {
    match service {
        ServiceType::GitHub => &["push", "pull_request"],
        ServiceType::GitLab => &["push_events", "merge_requests_events", "tag_push_events"],
        ServiceType::Bitbucket => &["repo:push", "pullrequest:created", "pullrequest:updated"],
    }
}

fn collection(api_base: &Url, url: &RepositoryUrl) -> String {
    format!(
        "{}/{}",
        api_base.as_str().trim_end_matches('/'),
        url.hooks_path()
    )
}

fn authorized(
    http: &reqwest::Client,
    method: Method,
    target: &str,
    service: ServiceType,
    token: &SecretString,
) -> RequestBuilder {
    let request = http
        .request(method, target)
        .bearer_auth(token.expose_secret());
    match service {
        ServiceType::GitHub => request
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28"),
        _ => request.header("Accept", "application/json"),
    }
}

/// The documented body of a new webhook that sends `service`'s events to `target`
/// signed with `secret`.
pub fn body(service: ServiceType, target: &Url, secret: &SecretString) -> Value {
    let secret = secret.expose_secret();
    match service {
        ServiceType::GitHub => json!({
            "name": "web",
            "active": true,
            "events": events(service),
            "config": {
                "url": target.as_str(),
                "content_type": "json",
                "secret": secret,
                "insecure_ssl": "0",
            },
        }),
        ServiceType::GitLab => {
            let mut body = json!({
                "url": target.as_str(),
                "name": "connvault",
                "token": secret,
                "enable_ssl_verification": true,
            });
            for event in events(service) {
                body[*event] = true.into();
            }
            body
        }
        ServiceType::Bitbucket => json!({
            "description": "connvault",
            "url": target.as_str(),
            "active": true,
            "secret": secret,
            "events": events(service),
        }),
    }
}

/// Creates the webhook; returns its id at the service (GitHub's and GitLab's numeric
/// `id`, Bitbucket's `uuid`).
pub async fn register(
    http: &reqwest::Client,
    api_base: &Url,
    url: &RepositoryUrl,
    token: &SecretString,
    target: &Url,
    secret: &SecretString,
) -> Result<String> {
    let service = url.service();
    let response = authorized(
        http,
        Method::POST,
        &collection(api_base, url),
        service,
        token,
    )
    .json(&body(service, target, secret))
    .send()
    .await
    .map_err(|e| Error::WebhookRegistration(unreachable(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::WebhookRegistration(refused(status)));
    }
    let created: Value = response
        .json()
        .await
        .map_err(|_| Error::WebhookRegistration("the answer is not JSON".to_owned()))?;
    let id = match service {
        ServiceType::Bitbucket => created
            .get("uuid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => created.get("id").and_then(|v| match v {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }),
    };
    id.filter(|id| !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| Error::WebhookRegistration("the answer names no webhook id".to_owned()))
}

/// Deletes the webhook `id`. `Ok` also when the service no longer has it (404).
pub async fn remove(
    http: &reqwest::Client,
    api_base: &Url,
    url: &RepositoryUrl,
    token: &SecretString,
    id: &str,
) -> Result<()> {
    let target = format!(
        "{}/{}",
        collection(api_base, url),
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    );
    let response = authorized(http, Method::DELETE, &target, url.service(), token)
        .send()
        .await
        .map_err(|e| Error::WebhookRegistration(unreachable(&e)))?;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(Error::WebhookRegistration(refused(status)))
    }
}

fn refused(status: StatusCode) -> String {
    let why = match status.as_u16() {
        401 => "the access token was not accepted",
        403 => "the access token may not manage the repository's webhooks",
        404 => "the repository was not found with this access token",
        422 => "the service refused the webhook",
        429 => "rate limited",
        _ => "the service answered with an error",
    };
    format!("{} ({why})", status.as_u16())
}

fn unreachable(e: &reqwest::Error) -> String {
    let why = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    sanitize::message(&format!("the service's API {why}"), 200)
}
