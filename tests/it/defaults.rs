//! Exactly one default per (tenant, provider) while an active connection is left: when
//! the default is disconnected or deleted, the oldest active connection takes its place
//! in the same transaction, recorded, and the answer names it.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::api::TestApp;

struct Tenant {
    app: TestApp,
    base: String,
    admin: String,
}

impl Tenant {
    async fn new(t: TestDb) -> Self {
        let app = TestApp::new(t).await;
        let tenant = app.tenant("Acme").await;
        let admin = app.key(&tenant, "admin").await;
        Self {
            base: format!("/v1/tenants/{tenant}/connections"),
            app,
            admin,
        }
    }

    async fn connect(&self, external_id: &str) -> String {
        let body = json!({
            "provider": "stripe",
            "external_id": external_id,
            "credential": {"kind": "api_key", "api_key": format!("sk_test_defaults_{external_id}_0123456789")},
        });
        let r = self.app.post(&self.base, &self.admin, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        r.json["id"].as_str().unwrap().to_owned()
    }

    async fn get(&self, id: &str) -> Value {
        let r = self
            .app
            .get(&format!("{}/{id}", self.base), &self.admin)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json
    }

    async fn defaults(&self) -> Vec<String> {
        let r = self.app.get(&self.base, &self.admin).await;
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["is_default"] == true)
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The `default_changed` entries: (connection, details).
    async fn promotions(&self) -> Vec<(String, Value)> {
        let activity = self
            .base
            .replace("/connections", "/activity?action=default_changed");
        let r = self.app.get(&activity, &self.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["connection_id"].as_str().unwrap().to_owned(),
                    a["details"].clone(),
                )
            })
            .collect()
    }
}

fn promoted_header(r: &crate::support::api::Response) -> Option<String> {
    r.headers
        .get("promoted-default-id")
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn disconnecting_the_default_promotes_the_oldest_active_connection(t: TestDb) {
    let s = Tenant::new(t).await;
    let first = s.connect("acct_1").await;
    let second = s.connect("acct_2").await;
    let third = s.connect("acct_3").await;
    assert_eq!(s.defaults().await, std::slice::from_ref(&first));
    // The oldest other connection is not active: it is passed over.
    let r = s
        .app
        .call(
            Method::PATCH,
            &format!("{}/{second}", s.base),
            Some(&s.admin),
            Some(json!({"status": "needs_reauth"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);

    let r = s
        .app
        .post(
            &format!("{}/{first}/disconnect", s.base),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "revoked");
    assert_eq!(r.json["is_default"], false);
    assert_eq!(r.json["promoted_default_id"], third.as_str());
    assert_eq!(promoted_header(&r).as_deref(), Some(third.as_str()));
    assert_eq!(s.defaults().await, std::slice::from_ref(&third));
    assert_eq!(s.get(&third).await["is_default"], true);
    let promotions = s.promotions().await;
    assert_eq!(promotions.len(), 1, "{promotions:?}");
    assert_eq!(promotions[0].0, third);
    assert_eq!(promotions[0].1["previous_default"], first.as_str());
    assert_eq!(promotions[0].1["previous_default_was"], "disconnected");

    // Disconnecting a connection that is not the default changes no default.
    let r = s
        .app
        .post(
            &format!("{}/{second}/disconnect", s.base),
            &s.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.json["promoted_default_id"].is_null());
    assert_eq!(promoted_header(&r), None);
    assert_eq!(s.defaults().await, [third]);
}

async fn deleting_the_default_promotes_and_the_last_one_leaves_none(t: TestDb) {
    let s = Tenant::new(t).await;
    let first = s.connect("acct_1").await;
    let second = s.connect("acct_2").await;
    let r = s
        .app
        .call(
            Method::DELETE,
            &format!("{}/{first}", s.base),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(promoted_header(&r).as_deref(), Some(second.as_str()));
    assert_eq!(s.defaults().await, std::slice::from_ref(&second));
    let promotions = s.promotions().await;
    assert_eq!(promotions.len(), 1);
    assert_eq!(promotions[0].1["previous_default_was"], "deleted");

    // The last connection: nothing is left to promote.
    let r = s
        .app
        .call(
            Method::DELETE,
            &format!("{}/{second}", s.base),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(promoted_header(&r), None);
    assert!(s.defaults().await.is_empty());
    // A new connection becomes the default again.
    let third = s.connect("acct_3").await;
    assert_eq!(s.defaults().await, [third]);
}

on_both_backends!(
    disconnecting_the_default_promotes_the_oldest_active_connection,
    deleting_the_default_promotes_and_the_last_one_leaves_none,
);
