//! The HTTP API through the real router: the whole connection lifecycle, the role ×
//! endpoint matrix, cross-tenant access, every problem code, the activity log's
//! transactional behaviour, and a scan of every response for secrets.

use serde_json::{Value, json};

mod activity;
mod api_keys;
mod audit;
mod credential_kinds;
mod docs;
mod echo;
mod errors;
mod headers;
mod lifecycle;
mod logs;
mod metrics;
mod openapi;
mod paging;
mod repository_hosts;
mod roles;
mod statuses;
mod tenancy;
mod validation;

const API_KEY_SECRET: &str = "sk_live_api_flow_4eC39HqLyjWDarjtT1zdp7dc";
const NEW_SECRET: &str = "sk_live_api_flow_replaced_9f8e7d6c5b4a";

fn stripe(external_id: &str, secret: &str) -> Value {
    json!({
        "provider": "stripe",
        "external_id": external_id,
        "display_name": "Stripe (EU)",
        "metadata": { "region": "eu" },
        "credential": { "kind": "api_key", "api_key": secret }
    })
}
