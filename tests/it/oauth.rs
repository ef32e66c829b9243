//! OAuth against a real authorization server (oidc-provider, tests/oidc): the consent
//! flow with PKCE through connect links, refresh with rotation, a revoked grant,
//! denied consent and replayed states, client credentials, transient failures, the
//! background refresher, and two `connvault serve` processes racing to refresh.

use std::collections::{BTreeSet, HashMap};

use axum::http::{Method, StatusCode};
use connvault::models::{ConnectionId, TenantId};
use connvault::services::credentials::{self, Credential};
use connvault::services::refresh::{RefreshOptions, Refresher};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::support::api::TestApp;
use crate::support::oidc::{self, Oidc, RETURN_URL, query};
use crate::support::serve::spawn_serve;
use crate::support::{TestDb, secrets};

use crate::support::CONNECTION_ACTIVITY;

pub(crate) const PROVIDER: &str = "testidp";
/// The provider's refresh margin: tokens with less left are renewed on read.
pub(crate) const MARGIN: u64 = 30;

pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) idp: Oidc,
    pub(crate) tenant: String,
    pub(crate) admin: String,
    pub(crate) service: String,
}

/// A tenant with admin and service keys, the test IdP in the catalog, and its OAuth
/// app, all set through the API.
pub(crate) async fn setup(t: TestDb) -> Setup {
    let idp = Oidc::start().await;
    let app = TestApp::new(t).await;
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/providers/{PROVIDER}"),
            Some(&app.operator),
            Some(json!({
                "display_name": "Test IdP",
                "auth_modes": ["oauth2_authorization_code", "oauth2_client_credentials"],
                "authorization_url": format!("{}/auth", idp.issuer),
                "token_url": format!("{}/token", idp.issuer),
                "default_scopes": ["openid", "api:read"],
                "metadata": {
                    "issuer": idp.issuer,
                    "refresh_margin_seconds": MARGIN,
                    "identity": {"id_token_claim": "sub"},
                },
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/oauth-apps/{PROVIDER}"),
            Some(&app.operator),
            Some(json!({
                "client_id": oidc::CLIENT_ID,
                "client_secret": oidc::CLIENT_SECRET,
                "allowed_return_urls": [RETURN_URL],
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["redirect_uri"], oidc::REDIRECT_URI);
    assert!(r.json.get("client_secret").is_none());
    let tenant = app.tenant("acme").await;
    let admin = app.key(&tenant, "admin").await;
    let service = app.key(&tenant, "service").await;
    Setup {
        app,
        idp,
        tenant,
        admin,
        service,
    }
}

impl Setup {
    /// Creates a connect session and returns its connect-link path.
    pub(crate) async fn connect_link(&self) -> String {
        let r = self
            .app
            .post(
                &format!("/v1/tenants/{}/connect-sessions", self.tenant),
                &self.admin,
                json!({"provider": PROVIDER, "return_url": RETURN_URL, "end_user_label": "Ann"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        let url = r.json["connect_url"].as_str().unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:8080/connect/cvc_"),
            "{url}"
        );
        let expires: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(r.json["expires_at"].clone()).unwrap();
        assert!(expires <= chrono::Utc::now() + chrono::TimeDelta::minutes(30));
        url.trim_start_matches("http://127.0.0.1:8080").to_owned()
    }

    /// Opens a connect link's page and presses "Continue": the provider's
    /// authorization URL it redirects to.
    pub(crate) async fn open(&self, link: &str) -> String {
        let page = crate::web::get(&self.app, link, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(page.text.contains("Continue to Test IdP"), "{}", page.text);
        let csrf = crate::web::csrf(&page.text);
        let fields = [("csrf", csrf.as_str()), ("step", "oauth")];
        let r = crate::web::post_form(&self.app, link, None, &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        r.location.unwrap()
    }

    /// Follows the provider's redirect to connvault's callback; returns where the
    /// callback sends the end user.
    async fn callback(&self, callback_url: &str) -> Result<String, Value> {
        let path = callback_url.trim_start_matches("http://127.0.0.1:8080");
        let r = self.app.call(Method::GET, path, None, None).await;
        match r.status {
            StatusCode::SEE_OTHER => Ok(r.location.unwrap()),
            _ => Err(r.json),
        }
    }

    /// The whole consent flow as `user`; returns the callback URL and where the user
    /// ends up.
    async fn consent(&self, user: &str) -> (String, String) {
        let link = self.connect_link().await;
        let authorize = self.open(&link).await;
        let q = query(&authorize);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"].len(), 43);
        assert_eq!(q["redirect_uri"], oidc::REDIRECT_URI);
        assert!(q["state"].starts_with("cvs_"));
        let authorize = format!("{authorize}&login_hint={user}");
        let callback = self.idp.authorize(&authorize, oidc::REDIRECT_URI).await;
        let back = self.callback(&callback).await.expect("callback redirects");
        (callback, back)
    }

    /// Connects `user` and returns the new connection's id.
    pub(crate) async fn connected(&self, user: &str) -> String {
        let (_, back) = self.consent(user).await;
        assert!(back.starts_with(RETURN_URL), "{back}");
        let q = query(&back);
        assert_eq!(
            q.get("status").map(String::as_str),
            Some("connected"),
            "{back}"
        );
        q["connection_id"].clone()
    }

    pub(crate) async fn read(&self, connection: &str) -> crate::support::api::Response {
        self.app
            .get(
                &format!(
                    "/v1/tenants/{}/connections/{connection}/credentials",
                    self.tenant
                ),
                &self.service,
            )
            .await
    }

    async fn access_token(&self, connection: &str) -> String {
        let r = self.read(connection).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json["fields"]["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token in {}", r.json))
            .to_owned()
    }

    pub(crate) async fn connection(&self, connection: &str) -> Value {
        let r = self
            .app
            .get(
                &format!("/v1/tenants/{}/connections/{connection}", self.tenant),
                &self.admin,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        r.json
    }

    async fn actions(&self) -> Vec<String> {
        let r = self
            .app
            .get(
                &format!("/v1/tenants/{}/activity", self.tenant),
                &self.admin,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        // The connections' entries (the setup's API keys are recorded too).
        let mut actions: Vec<String> = r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["connection_id"].is_string())
            .map(|a| a["action"].as_str().unwrap().to_owned())
            .collect();
        actions.reverse();
        actions
    }

    /// The stored credential, decrypted without renewing anything.
    async fn stored(&self, connection: &str) -> Credential {
        let keyring = self.app.t.keyring().await;
        credentials::read(
            &self.app.t.db,
            &keyring,
            TenantId::parse(&self.tenant).unwrap(),
            ConnectionId::from_uuid(connection.parse().unwrap()),
        )
        .await
        .unwrap()
        .expect("a stored credential")
    }
}

fn refresh_token_of(c: &Credential) -> String {
    match c {
        Credential::Oauth2 {
            refresh_token: Some(rt),
            ..
        } => {
            secrets::record(rt.expose_secret());
            rt.expose_secret().to_owned()
        }
        _ => panic!("not an OAuth credential with a refresh token"),
    }
}

async fn consent_flow_connects_with_pkce(t: TestDb) {
    let s = setup(t).await;
    let connection = s.connected("alice").await;
    let conn = s.connection(&connection).await;
    assert_eq!(conn["status"], "active");
    assert_eq!(conn["external_id"], "alice");
    assert_eq!(conn["display_name"], "Ann");
    assert!(conn["token_expires_at"].is_string());
    assert_eq!(s.actions().await, ["connected"]);
    assert_eq!(s.idp.count("authorization_code").await, 1);

    let token = s.access_token(&connection).await;
    assert!(s.idp.accepts(&token).await, "the server accepts the token");
    // A fresh token is read without touching the provider.
    assert_eq!(s.idp.count("refresh_token").await, 0);

    // Connecting the same account again updates the same connection.
    let again = s.connected("alice").await;
    assert_eq!(again, connection);
    assert_eq!(s.app.t.count("connections").await, 1);
    assert_eq!(s.actions().await, ["connected", "connected"]);
}

async fn refresh_rotates_and_stores_the_new_refresh_token(t: TestDb) {
    let s = setup(t).await;
    s.idp.set_ttl(10, 3600).await;
    let connection = s.connected("bob").await;
    let before = refresh_token_of(&s.stored(&connection).await);
    s.idp.set_ttl(3600, 3600).await;

    // Ten seconds left is within the 30-second margin: the read renews first.
    let token = s.access_token(&connection).await;
    assert_eq!(s.idp.count("refresh_token").await, 1);
    assert!(s.idp.accepts(&token).await);
    let after = refresh_token_of(&s.stored(&connection).await);
    assert_ne!(before, after, "the rotated refresh token is stored");
    // The renewed token lasts an hour: further reads do not renew.
    assert_eq!(s.access_token(&connection).await, token);
    assert_eq!(s.idp.count("refresh_token").await, 1);
    let actions = s.actions().await;
    assert_eq!(actions, ["connected", "refreshed"]);
    let conn = s.connection(&connection).await;
    assert_eq!(conn["health_status"], "healthy");

    // A refresh response without a refresh token keeps the stored one.
    s.idp.set_rotation(false).await;
    s.app
        .t
        .exec("UPDATE connections SET token_expires_at = '2020-01-01T00:00:00+00:00'")
        .await
        .unwrap();
    let third = s.access_token(&connection).await;
    assert_ne!(third, token);
    assert!(s.idp.accepts(&third).await);
    assert_eq!(s.idp.count("refresh_token").await, 2);
    assert_eq!(refresh_token_of(&s.stored(&connection).await), after);
    s.idp.set_rotation(true).await;

    // The stored refresh token is the live one: the old one is spent.
    assert_eq!(
        s.idp.refresh_error(&before).await.as_deref(),
        Some("invalid_grant")
    );
}

async fn a_revoked_grant_needs_reauth(t: TestDb) {
    let s = setup(t).await;
    s.idp.set_ttl(10, 3600).await;
    let connection = s.connected("carol").await;
    s.idp.revoke_grants().await;

    let r = s.read(&connection).await;
    r.problem(StatusCode::CONFLICT, "connection_needs_reauth");
    assert_eq!(r.json["reason_code"], "refresh_token_revoked");
    let conn = s.connection(&connection).await;
    assert_eq!(conn["status"], "needs_reauth");
    assert_eq!(conn["last_error"]["reason_code"], "refresh_token_revoked");
    assert_eq!(
        s.actions().await,
        ["connected", "refresh_failed", "status_changed"]
    );
    // Later reads answer the same without asking the provider again.
    let refreshes = s.idp.count("refresh_token").await;
    assert_eq!(refreshes, 1);
    s.read(&connection)
        .await
        .problem(StatusCode::CONFLICT, "connection_needs_reauth");
    assert_eq!(s.idp.count("refresh_token").await, refreshes);

    // Consenting again brings the same connection back.
    assert_eq!(s.connected("carol").await, connection);
    assert_eq!(s.connection(&connection).await["status"], "active");
    let token = s.access_token(&connection).await;
    assert!(s.idp.accepts(&token).await);
}

/// A provider's refusal is outside text: an error code with NUL and an escape
/// sequence is stored as one clean line on both backends (PostgreSQL refuses NUL).
async fn a_provider_error_code_is_recorded_as_clean_text(t: TestDb) {
    let s = setup(t).await;
    s.idp.set_ttl(10, 3600).await;
    let connection = s.connected("ivy").await;
    let old = s.access_token_without_refresh(&connection).await;
    s.idp
        .fail_tokens_with(400, 1, "odd\u{0}code\u{1b}[2J")
        .await;
    // The token still has ten seconds: the read gets it, and the refusal is recorded.
    assert_eq!(s.access_token(&connection).await, old);
    assert_eq!(s.actions().await, ["connected", "refresh_failed"]);
    let r = s
        .app
        .get(&format!("/v1/tenants/{}/activity", s.tenant), &s.admin)
        .await;
    assert_eq!(
        r.json["items"][0]["details"]["provider_error"],
        "odd code [2J"
    );
    let conn = s.connection(&connection).await;
    assert_eq!(conn["last_error"]["reason_code"], "token_request_rejected");
}

async fn nothing_is_persisted(s: &Setup) {
    assert_eq!(s.app.t.count("connections").await, 0);
    assert_eq!(s.app.t.count("credential_secrets").await, 0);
    assert_eq!(s.app.t.count(CONNECTION_ACTIVITY).await, 0);
}

async fn denied_consent_bad_and_replayed_states_persist_nothing(t: TestDb) {
    let s = setup(t).await;

    // The user denies consent.
    let (_, back) = s.consent("deny").await;
    assert!(back.starts_with(RETURN_URL));
    let q = query(&back);
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("connection_id"));
    nothing_is_persisted(&s).await;
    let session = q["connect_session_id"].clone();
    let r = s
        .app
        .get(
            &format!("/v1/tenants/{}/connect-sessions/{session}", s.tenant),
            &s.admin,
        )
        .await;
    assert_eq!(r.json["status"], "failed");
    assert_eq!(r.json["error_code"], "access_denied");

    // A connect link works once.
    let link = s.connect_link().await;
    let authorize = s.open(&link).await;
    let r = crate::web::get(&s.app, &link, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text.contains("error=connect_link_used"), "{}", r.text);

    // A forged state is refused outright, a tampered one too.
    let callback = s
        .idp
        .authorize(&format!("{authorize}&login_hint=dave"), oidc::REDIRECT_URI)
        .await;
    let state = query(&callback)["state"].clone();
    let code = query(&callback)["code"].clone();
    let forged = format!(
        "/oauth/callback/{PROVIDER}?code={code}&state=cvs_nothing&iss={}",
        s.idp.issuer
    );
    let err = s.callback(&forged).await.unwrap_err();
    assert_eq!(err["code"], "invalid_state");
    let mut tampered = state.clone();
    tampered.pop();
    tampered.push(if state.ends_with('A') { 'B' } else { 'A' });
    let err = s
        .callback(&callback.replace(&state, &tampered))
        .await
        .unwrap_err();
    assert_eq!(err["code"], "invalid_state");
    nothing_is_persisted(&s).await;

    // A wrong issuer (mix-up) fails the session and persists nothing.
    let mixed = callback.replace(
        &format!("iss={}", urlencode(&s.idp.issuer)),
        "iss=https%3A%2F%2Fevil.example",
    );
    assert_ne!(mixed, callback);
    let back = s.callback(&mixed).await.unwrap();
    assert_eq!(query(&back)["error"], "issuer_mismatch");
    nothing_is_persisted(&s).await;
    // … and its state cannot be used again.
    let back = s.callback(&callback).await.unwrap();
    assert_eq!(query(&back)["error"], "state_replayed");
    nothing_is_persisted(&s).await;

    // A code the provider refuses (here: tampered) fails the exchange: back to the app
    // with an error, nothing stored.
    let link = s.connect_link().await;
    let authorize = s.open(&link).await;
    let callback = s
        .idp
        .authorize(&format!("{authorize}&login_hint=dora"), oidc::REDIRECT_URI)
        .await;
    let code = query(&callback)["code"].clone();
    let back = s
        .callback(&callback.replace(&code, "not-a-code"))
        .await
        .unwrap();
    assert_eq!(query(&back)["error"], "token_exchange_failed");
    nothing_is_persisted(&s).await;

    // A successful flow's state replayed changes nothing.
    let (callback, back) = s.consent("erin").await;
    assert_eq!(query(&back)["status"], "connected");
    let replay = s.callback(&callback).await.unwrap();
    assert_eq!(query(&replay)["error"], "state_replayed");
    assert_eq!(s.app.t.count("connections").await, 1);
    assert_eq!(s.actions().await, ["connected"]);

    // A return URL the app does not allow is refused when the session is made.
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connect-sessions", s.tenant),
            &s.admin,
            json!({"provider": PROVIDER, "return_url": "https://evil.example/x"}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connect-sessions", s.tenant),
            &s.admin,
            json!({"provider": PROVIDER, "return_url": RETURN_URL, "expires_in_seconds": 3600}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // Viewers and service keys cannot make sessions.
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connect-sessions", s.tenant),
            &s.service,
            json!({"provider": PROVIDER, "return_url": RETURN_URL}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn client_credentials_are_obtained_cached_and_renewed(t: TestDb) {
    let s = setup(t).await;
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connections", s.tenant),
            &s.admin,
            json!({
                "provider": PROVIDER,
                "external_id": "entra-tenant-1",
                "scopes_granted": ["api:read"],
                "credential": {
                    "kind": "client_credentials",
                    "client_id": oidc::CC_CLIENT_ID,
                    "client_secret": oidc::CC_CLIENT_SECRET,
                },
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let connection = r.json["id"].as_str().unwrap().to_owned();

    let first = s.access_token(&connection).await;
    assert_eq!(s.idp.count("client_credentials").await, 1);
    assert!(s.idp.accepts(&first).await);
    // Cached, encrypted: the next read does not ask again.
    assert_eq!(s.access_token(&connection).await, first);
    assert_eq!(s.idp.count("client_credentials").await, 1);
    match s.stored(&connection).await {
        Credential::ClientCredentials {
            access_token: Some(a),
            ..
        } => assert_eq!(a.expose_secret(), first),
        _ => panic!("the token is stored with the client credentials"),
    }

    // Near expiry it is renewed.
    s.app
        .t
        .exec("UPDATE connections SET token_expires_at = '2020-01-01T00:00:00+00:00'")
        .await
        .unwrap();
    let second = s.access_token(&connection).await;
    assert_ne!(second, first);
    assert!(s.idp.accepts(&second).await);
    assert_eq!(s.idp.count("client_credentials").await, 2);
    assert_eq!(s.actions().await, ["connected", "refreshed", "refreshed"]);

    // Wrong client credentials: needs re-authorization, with its own reason.
    let r = s
        .app
        .post(
            &format!("/v1/tenants/{}/connections", s.tenant),
            &s.admin,
            json!({
                "provider": PROVIDER,
                "external_id": "entra-tenant-2",
                "credential": {
                    "kind": "client_credentials",
                    "client_id": oidc::CC_CLIENT_ID,
                    "client_secret": "client-secret-wrong-000000",
                },
            }),
        )
        .await;
    let bad = r.json["id"].as_str().unwrap().to_owned();
    let r = s.read(&bad).await;
    r.problem(StatusCode::CONFLICT, "connection_needs_reauth");
    assert_eq!(r.json["reason_code"], "client_credentials_rejected");
}

async fn provider_outages_degrade_health_keep_status_and_recover(t: TestDb) {
    let s = setup(t).await;
    s.idp.set_ttl(10, 3600).await;
    let connection = s.connected("frank").await;
    let old = s.access_token_without_refresh(&connection).await;

    // Every attempt fails with 503 while the token still has ten seconds: the read
    // gets the still-valid token, health drops to degraded, the status stays.
    s.idp.fail_tokens(503, 3).await;
    let token = s.access_token(&connection).await;
    assert_eq!(token, old);
    assert_eq!(s.idp.count("refresh_token").await, 3, "three attempts");
    let conn = s.connection(&connection).await;
    assert_eq!(conn["status"], "active");
    assert_eq!(conn["health_status"], "degraded");
    assert_eq!(conn["last_error"]["reason_code"], "provider_unavailable");

    // Once the token has expired, an outage answers 503 rather than a dead token.
    s.app
        .t
        .exec("UPDATE connections SET token_expires_at = '2020-01-01T00:00:00+00:00'")
        .await
        .unwrap();
    s.idp.fail_tokens(429, 3).await;
    let r = s.read(&connection).await;
    r.problem(StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable");
    assert_eq!(r.json["reason_code"], "provider_rate_limited");
    assert_eq!(s.connection(&connection).await["status"], "active");

    // The provider is back: the next read renews and records the recovery.
    s.idp.set_ttl(3600, 3600).await;
    let fresh = s.access_token(&connection).await;
    assert_ne!(fresh, old);
    assert!(s.idp.accepts(&fresh).await);
    let conn = s.connection(&connection).await;
    assert_eq!(conn["health_status"], "healthy");
    assert!(conn["last_error"].is_null(), "{conn}");
    assert_eq!(
        s.actions().await,
        [
            "connected",
            "refresh_failed",
            "refresh_failed",
            "refresh_recovered"
        ]
    );
    // Each of those changes wrote its outbound event in its transaction.
    let tenant = connvault::models::TenantId::parse(&s.tenant).unwrap();
    let events = connvault::repositories::events::all_of_tenant(&s.app.t.db, tenant)
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "connection.created",
            "token.refresh_failed",
            "token.refresh_failed",
            "token.refresh_recovered"
        ]
    );
    assert!(
        events[1]
            .body
            .contains("\"reason_code\":\"provider_unavailable\""),
        "{}",
        events[1].body
    );
}

impl Setup {
    async fn access_token_without_refresh(&self, connection: &str) -> String {
        match self.stored(connection).await {
            Credential::Oauth2 { access_token, .. } => {
                secrets::record(access_token.expose_secret());
                access_token.expose_secret().to_owned()
            }
            _ => panic!("not an OAuth credential"),
        }
    }
}

async fn the_background_refresher_renews_due_tokens_once(t: TestDb) {
    let s = setup(t).await;
    s.idp.set_ttl(10, 3600).await;
    let a = s.connected("gina").await;
    let b = s.connected("hal").await;
    s.idp.set_ttl(3600, 3600).await;
    let before_a = s.access_token_without_refresh(&a).await;
    let keyring = s.app.t.keyring().await;
    let refresher = Refresher::new(s.app.t.db.clone(), keyring, RefreshOptions::default());
    let report = refresher.pass().await.unwrap();
    assert_eq!((report.due, report.refreshed, report.failed), (2, 2, 0));
    assert_eq!(s.idp.count("refresh_token").await, 2);
    let report = refresher.pass().await.unwrap();
    assert_eq!(report.due, 0, "renewed tokens are not due again");
    let after_a = s.access_token_without_refresh(&a).await;
    assert_ne!(before_a, after_a);
    assert!(s.idp.accepts(&after_a).await);
    assert!(
        s.idp
            .accepts(&s.access_token_without_refresh(&b).await)
            .await
    );

    // A token not renewed for longer than the idle limit is renewed although it
    // does not expire soon.
    let idle = Refresher::new(
        s.app.t.db.clone(),
        s.app.t.keyring().await,
        RefreshOptions {
            idle_after: std::time::Duration::from_secs(60),
            ..RefreshOptions::default()
        },
    );
    s.app
        .t
        .exec("UPDATE connections SET last_refreshed_at = '2020-01-01T00:00:00+00:00'")
        .await
        .unwrap();
    let report = idle.pass().await.unwrap();
    assert_eq!((report.due, report.refreshed), (2, 2));
    assert_eq!(s.idp.count("refresh_token").await, 4);

    // A connect link opened but never finished: once expired, the periodic expiry
    // fails the session and erases its encrypted verifier, so no key stays in use.
    let link = s.connect_link().await;
    s.open(&link).await;
    let verifiers = "connect_sessions WHERE verifier_ciphertext IS NOT NULL";
    assert_eq!(s.app.t.count(verifiers).await, 1);
    let expire = || connvault::services::connect::expire_sessions(&s.app.t.db);
    assert_eq!(expire().await.unwrap(), 0, "not expired yet");
    s.app
        .t
        .exec("UPDATE connect_sessions SET expires_at = '2020-01-01T00:00:00+00:00' WHERE status = 'started'")
        .await
        .unwrap();
    assert_eq!(expire().await.unwrap(), 1);
    assert_eq!(s.app.t.count(verifiers).await, 0);
    assert_eq!(
        s.app
            .t
            .count("connect_sessions WHERE error_code = 'session_expired'")
            .await,
        1
    );
}

/// Two `connvault serve` processes on one PostgreSQL database; 200 concurrent
/// credential reads over 20 connections whose tokens are due: the authorization
/// server sees exactly 20 refreshes, every reader gets a token it accepts, and no
/// connection ends up needing re-authorization.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_each_connection_exactly_once() {
    let s = setup(TestDb::postgres().await).await;
    s.idp.set_ttl(10, 3600).await;
    let mut connections = Vec::new();
    for i in 0..20 {
        connections.push(s.connected(&format!("user-{i}")).await);
    }
    s.idp.set_ttl(3600, 3600).await;
    s.idp.reset_stats().await;
    // Each refresh takes the provider 300 ms: every reader of a connection arrives
    // while its refresh is under way.
    s.idp.set_token_delay(300).await;

    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", s.app.t.url.as_str()),
        ("CONNVAULT_MASTER_KEY", s.app.t.master_key_b64.as_str()),
        // Reads race here, not the background refresher.
        ("CONNVAULT_REFRESH_INTERVAL_SECS", "0"),
        ("RUST_LOG", "warn,connvault=info"),
    ];
    let one = spawn_serve(dir.path(), &env).await;
    let two = spawn_serve(dir.path(), &env).await;
    let http = reqwest::Client::new();
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..200 {
        let connection = connections[i % 20].clone();
        // Each connection's ten readers are split between the two processes.
        let addr = if (i / 20) % 2 == 0 {
            &one.addr
        } else {
            &two.addr
        };
        let url = format!(
            "http://{addr}/v1/tenants/{}/connections/{connection}/credentials",
            s.tenant
        );
        let request = http.get(url).bearer_auth(&s.service);
        reads.spawn(async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            (connection, status, body)
        });
    }
    let mut tokens: HashMap<String, BTreeSet<String>> = HashMap::new();
    while let Some(joined) = reads.join_next().await {
        let (connection, status, body) = joined.unwrap();
        assert_eq!(status, 200, "{body}");
        let token = body["fields"]["access_token"].as_str().unwrap().to_owned();
        secrets::record(&token);
        tokens.entry(connection).or_default().insert(token);
    }
    assert_eq!(s.idp.count("refresh_token").await, 20, "one refresh each");
    assert_eq!(tokens.len(), 20);
    for (connection, seen) in &tokens {
        assert_eq!(
            seen.len(),
            1,
            "{connection}: every reader got the renewed token"
        );
        for token in seen {
            assert!(
                s.idp.accepts(token).await,
                "the server accepts {connection}'s token"
            );
        }
    }
    for connection in &connections {
        let conn = s.connection(connection).await;
        assert_eq!(conn["status"], "active", "{conn}");
        assert_eq!(conn["health_status"], "healthy", "{conn}");
    }
    let log_one = one.interrupt().await;
    let log_two = two.interrupt().await;
    for log in [log_one, log_two] {
        assert!(!log.contains(oidc::CLIENT_SECRET));
        assert!(!log.contains("lease expired"), "{log}");
    }
}

crate::on_both_backends!(
    consent_flow_connects_with_pkce,
    refresh_rotates_and_stores_the_new_refresh_token,
    a_revoked_grant_needs_reauth,
    a_provider_error_code_is_recorded_as_clean_text,
    denied_consent_bad_and_replayed_states_persist_nothing,
    client_credentials_are_obtained_cached_and_renewed,
    the_background_refresher_renews_due_tokens_once,
    provider_outages_degrade_health_keep_status_and_recover,
);
