//! Table-driven: every accepted form with its canonical URL and API path, every
//! refusal with its field and the words of its reason, every catalog host entry.

mod accepted;
mod hosts;
mod refused;

use serde_json::json;

use super::RepositoryHosts;

/// Public hosts plus self-hosted GitHub and GitLab hosts, and a test API for Bitbucket.
fn hosts() -> RepositoryHosts {
    let github = json!({
        "api_base_url": "https://api.github.com",
        "repository_hosts": ["github.com", "github.example.com",
            {"host": "ghe.internal.example", "api_base_url": "https://ghe-api.internal.example/api/v3"}],
    });
    let gitlab = json!({"repository_hosts": ["gitlab.com", "gitlab.example.com", "code"]});
    let bitbucket = json!({"api_base_url": "http://127.0.0.1:9999/2.0"});
    RepositoryHosts::from_metadata([
        ("github", &github),
        ("gitlab", &gitlab),
        ("bitbucket", &bitbucket),
        ("slack", &json!({})),
    ])
    .expect("valid metadata")
}
