//! What the browser scenarios need from the API: a thin client that records every key
//! and secret it sends or receives, and the events the console's pages show.

use serde_json::{Value, json};

use crate::support::secrets;

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Value {
        secrets::record(key);
        if let Some(b) = &body {
            secrets::record_request_json(b);
        }
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let json: Value = r.json().await.unwrap_or(Value::Null);
        secrets::record_response_json(&json);
        assert!(status.is_success(), "{method} {path}: {status} {json}");
        json
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, key, Some(body))
            .await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> Value {
        self.call(reqwest::Method::PUT, path, key, Some(body)).await
    }

    pub async fn get(&self, path: &str, key: &str) -> Value {
        self.call(reqwest::Method::GET, path, key, None).await
    }

    /// A connect link with a picker among `providers`; its path.
    pub async fn picker(
        &self,
        tenant: &str,
        key: &str,
        providers: &[&str],
        return_url: &str,
    ) -> String {
        let r = self
            .post(
                &format!("/v1/tenants/{tenant}/connect-sessions"),
                key,
                json!({"allowed_providers": providers, "return_url": return_url}),
            )
            .await;
        let url = r["connect_url"].as_str().unwrap();
        url[url.find("/connect/").unwrap()..].to_owned()
    }

    /// A connect link's path; its token is recorded.
    pub async fn link(&self, tenant: &str, key: &str, provider: &str, return_url: &str) -> String {
        let r = self
            .post(
                &format!("/v1/tenants/{tenant}/connect-sessions"),
                key,
                json!({"provider": provider, "return_url": return_url}),
            )
            .await;
        let url = r["connect_url"].as_str().unwrap();
        url[url.find("/connect/").unwrap()..].to_owned()
    }
}

/// What the console's event pages show: a blocked operation, an event endpoint on a
/// closed port (its delivery fails, to be retried), and a repository connection with
/// one signed webhook delivery posted to `/webhooks/{id}`. Returns (endpoint id,
/// repository connection id).
pub async fn events_for_the_console(
    api: &Api,
    base: &str,
    tenant: &str,
    admin: &str,
    operator: &str,
) -> (String, String) {
    api.put(
        "/v1/operation-types/billing.sync",
        operator,
        json!({"provider": "stripe", "required_scopes": [], "module": "billing", "dedupe": true}),
    )
    .await;
    let service = api
        .post(
            &format!("/v1/tenants/{tenant}/api-keys"),
            operator,
            json!({"name": "service key", "role": "service"}),
        )
        .await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets::record(&service);
    let run = api
        .post(
            &format!("/v1/tenants/{tenant}/operations"),
            &service,
            json!({"type": "billing.sync"}),
        )
        .await;
    assert_eq!(run["outcome"], "blocked", "{run}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/acme", closed.local_addr().unwrap());
    drop(closed);
    let created = api
        .post(
            &format!("/v1/tenants/{tenant}/event-endpoints"),
            admin,
            json!({"url": url, "event_types": ["connection.created"]}),
        )
        .await;
    let endpoint = created["endpoint"]["id"].as_str().unwrap().to_owned();

    let secret = "whsec-browser-github-0123456789abcdef";
    secrets::record(secret);
    let token = format!("gho_browser_{}", uuid::Uuid::new_v4().simple());
    secrets::record(&token);
    let repo = api
        .call(
            reqwest::Method::PUT,
            &format!("/v1/tenants/{tenant}/repositories"),
            admin,
            Some(json!({
                "repository_url": "https://github.com/octo-org/browser",
                "access_token": token,
                "webhook_secret": secret,
            })),
        )
        .await;
    let repo = repo["id"].as_str().unwrap().to_owned();
    let body = json!({"ref": "refs/heads/main", "repository": {"full_name": "octo-org/browser"}});
    let delivery = crate::webhooks::sign_one(json!({
        "kind": "github", "secret": secret, "event": "push",
        "body": body.to_string(), "delivery": "b1c2d3e4-0000-4000-8000-00000000beef",
    }));
    let mut request = api
        .http
        .post(format!("{base}/webhooks/{repo}"))
        .body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name.as_str(), value.to_str().unwrap());
    }
    let r = request.send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    (endpoint, repo)
}
