//! The health check's HTTP request: the catalog's method, URL and body, the credential's
//! header, a timeout, and no redirects followed (a redirect would carry the credential
//! to wherever it points). The answer's body is read up to a limit.

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Client, Method, redirect};

use super::classify::Answer;
use crate::models::json::HealthCheck;

/// Longest answer body read.
const MAX_BODY: usize = 64 * 1024;

/// The client health checks share: no redirects, `timeout` per request.
pub fn client(timeout: Duration) -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .unwrap_or_else(|_| Client::new())
}

/// Sends `check` with `auth` and reads what came back.
pub async fn send(client: &Client, check: &HealthCheck, auth: (HeaderName, HeaderValue)) -> Answer {
    let method = Method::from_bytes(check.method.as_bytes()).unwrap_or(Method::GET);
    let mut request = client
        .request(method, &check.url)
        .header(auth.0, auth.1)
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, "connvault");
    if let Some(body) = &check.body {
        request = request.json(body);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(err) => return failure(&err),
    };
    let status = response.status().as_u16();
    match read_limited(response).await {
        Ok(body) => Answer::Response { status, body },
        Err(err) => failure(&err),
    }
}

fn failure(err: &reqwest::Error) -> Answer {
    if err.is_timeout() {
        Answer::Timeout
    } else {
        Answer::Unreachable
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(body)
}
