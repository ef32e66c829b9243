//! The delivery worker, one of `serve`'s periodic jobs: fan new events out to their
//! endpoints, claim due deliveries (several replicas share them: `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL), send each signed by the Standard Webhooks scheme, and record
//! the outcome: 2xx succeeds; 410 disables the endpoint; anything else, or no answer
//! in time, is tried again on the schedule (`Retry-After` honoured on 429 and 503),
//! then fails. An endpoint whose attempts all failed for `disable_after` is disabled,
//! with an activity entry (a tenant's endpoint) and an `endpoint.disabled` event to the
//! others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::EventOptions;
use super::endpoints::signing_secrets;
use super::resolve::{GuardedResolver, Refused};
use crate::crypto::Keyring;
use crate::error::Result;
use crate::events::{EventType, public_id, schedule, sign, url};
use crate::models::TenantId;
use crate::models::activity::Action;
use crate::models::event_delivery::DeliveryStatus;
use crate::repositories::activity::{self, Actor, Entry};
use crate::repositories::events::deliveries::{self, Claimed, Outcome};
use crate::repositories::events::{WorkerTxn, emit_as_worker, endpoints};

/// Most rounds of claims one pass makes (a pass ends even when deliveries keep
/// coming due at once).
const MAX_ROUNDS: usize = 20;

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub dispatched: usize,
    pub succeeded: usize,
    pub failed: usize,
}

/// The worker: the database, the keyring (secrets), the options and its HTTP client.
#[derive(Clone)]
pub struct Deliverer {
    db: DatabaseConnection,
    keyring: Keyring,
    options: Arc<EventOptions>,
    client: reqwest::Client,
}

impl Deliverer {
    pub fn new(db: DatabaseConnection, keyring: Keyring, options: EventOptions) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .dns_resolver(Arc::new(GuardedResolver(options.url_policy)))
            .user_agent(concat!("connvault-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            db,
            keyring,
            options: Arc::new(options),
            client,
        }
    }

    pub fn options(&self) -> &EventOptions {
        &self.options
    }

    /// One pass: fan out every new event, then send what is due, round after round,
    /// until nothing is due (or [`MAX_ROUNDS`]).
    pub async fn pass(&self) -> Result<PassReport> {
        let mut report = PassReport::default();
        loop {
            let n = deliveries::dispatch(&self.db, 500, crate::repositories::now()).await?;
            report.dispatched += n;
            if n < 500 {
                break;
            }
        }
        for _ in 0..MAX_ROUNDS {
            let claimed = deliveries::claim(
                &self.db,
                crate::repositories::now(),
                self.options.batch,
                self.options.lease(),
            )
            .await?;
            if claimed.is_empty() {
                break;
            }
            let results: Vec<Result<bool>> = futures::stream::iter(claimed)
                .map(|c| async move { self.deliver(c).await })
                .buffer_unordered(self.options.concurrency.max(1))
                .collect()
                .await;
            for r in results {
                match r? {
                    true => report.succeeded += 1,
                    false => report.failed += 1,
                }
            }
        }
        Ok(report)
    }

    /// [`Deliverer::pass`], logged when it did something.
    pub async fn logged_pass(&self) -> Result<()> {
        let report = self.pass().await?;
        if report != PassReport::default() {
            tracing::debug!(
                dispatched = report.dispatched,
                succeeded = report.succeeded,
                failed = report.failed,
                "event delivery pass"
            );
        }
        Ok(())
    }

    /// The retention purge: events older than `retention_days`, with their deliveries.
    pub async fn purge(&self, now: DateTime<Utc>) -> Result<u64> {
        let before = now - chrono::Duration::days(i64::from(self.options.retention_days));
        deliveries::purge(&self.db, before).await
    }

    /// Sends one claimed delivery and records the outcome; `true` on success.
    async fn deliver(&self, claimed: Claimed) -> Result<bool> {
        let sent = self.send(&claimed).await;
        let now = Utc::now();
        let attempt = u32::try_from(claimed.delivery.attempts).unwrap_or(u32::MAX);
        let (status, next, disable) = match sent.verdict {
            Verdict::Success => (DeliveryStatus::Succeeded, None, None),
            Verdict::Gone => (DeliveryStatus::Failed, None, Some("gone")),
            Verdict::Retry(after) => match self.options.schedule.delay_before(attempt + 1) {
                Some(delay) => {
                    let delay = after.map_or(delay, |a| a.max(delay));
                    let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
                    (DeliveryStatus::Pending, Some(at), None)
                }
                None => (DeliveryStatus::Failed, None, None),
            },
        };
        let outcome = Outcome {
            status,
            next_attempt_at: next,
            status_code: sent.status,
            error_class: sent.error_class,
            attempted_at: sent.at,
            latency_ms: sent.latency.as_millis().try_into().unwrap_or(i64::MAX),
        };
        let succeeded = status == DeliveryStatus::Succeeded;
        let txn = WorkerTxn::begin(&self.db).await?;
        if !deliveries::finish(&txn, &claimed, &outcome).await? {
            // A manual retry took it back meanwhile: that one counts.
            txn.commit().await?;
            return Ok(succeeded);
        }
        let endpoint = endpoints::note_outcome(&txn, claimed.endpoint.id, succeeded, now).await?;
        let failing_too_long =
            endpoint
                .as_ref()
                .and_then(|e| e.failing_since)
                .is_some_and(|since| {
                    !succeeded
                        && now - since
                            >= chrono::Duration::from_std(self.options.disable_after)
                                .unwrap_or(chrono::Duration::days(5))
                });
        let reason = disable.or(failing_too_long.then_some("failing"));
        if let (Some(reason), Some(endpoint)) = (reason, endpoint) {
            disable_endpoint(&txn, &endpoint, reason).await?;
        }
        txn.commit().await?;
        Ok(succeeded)
    }

    async fn send(&self, claimed: &Claimed) -> Sent {
        let at = Utc::now();
        let start = Instant::now();
        let failed = |class: &'static str| Sent {
            verdict: Verdict::Retry(None),
            status: None,
            error_class: Some(class),
            at,
            latency: start.elapsed(),
        };
        let endpoint = &claimed.endpoint;
        if !endpoint.enabled {
            return Sent {
                verdict: Verdict::Gone,
                ..failed("endpoint_disabled")
            };
        }
        // The URL was checked when it was set; the rules may have changed since.
        if url::check_syntax(&endpoint.url, self.options.url_policy).is_err() {
            return failed("refused_address");
        }
        let secrets = match signing_secrets(&self.keyring, endpoint, at).await {
            Ok(s) => s,
            Err(err) => {
                tracing::error!(endpoint = %endpoint.id, error = %err, "event endpoint secret cannot be decrypted");
                return failed("no_secret");
            }
        };
        let id = public_id(claimed.delivery.event_id);
        let timestamp = at.timestamp();
        let signature = sign::signature(&secrets, &id, timestamp, claimed.body.as_bytes());
        drop(secrets);
        let response = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(claimed.body.clone())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(err) => return failed(classify(&err)),
        };
        let code = response.status();
        let retry_after = (code == StatusCode::TOO_MANY_REQUESTS
            || code == StatusCode::SERVICE_UNAVAILABLE)
            .then(|| response.headers().get("retry-after"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| schedule::retry_after(v, at));
        // The body is not read: nothing of it is kept.
        drop(response);
        let verdict = if code.is_success() {
            Verdict::Success
        } else if code == StatusCode::GONE {
            Verdict::Gone
        } else {
            Verdict::Retry(retry_after)
        };
        Sent {
            verdict,
            status: Some(code.as_u16()),
            error_class: (!code.is_success()).then_some("http_status"),
            at,
            latency: start.elapsed(),
        }
    }
}

/// Disables `endpoint` for `reason`, fails its pending deliveries, and tells: an
/// activity entry (a tenant's endpoint) and `endpoint.disabled` to the other
/// endpoints of its tenant and of the deployment. Once: an endpoint already disabled
/// changes nothing.
async fn disable_endpoint(
    txn: &WorkerTxn,
    endpoint: &crate::models::event_endpoint::Model,
    reason: &str,
) -> Result<()> {
    if !endpoints::disable(txn, endpoint.id, reason).await? {
        return Ok(());
    }
    deliveries::fail_pending(txn, endpoint.id, "endpoint_disabled").await?;
    let host = reqwest::Url::parse(&endpoint.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let data = json!({
        "endpoint_id": endpoint.id,
        "host": host,
        "description": endpoint.description,
        "reason": reason,
    });
    tracing::warn!(endpoint = %endpoint.id, reason, "event endpoint disabled");
    if let Some(tenant) = endpoint.tenant_id {
        let entry = Entry {
            connection_id: None,
            provider_slug: None,
            action: Action::EventEndpointDisabled,
            details: data.clone(),
        };
        activity::record(
            txn.txn(),
            TenantId::from_uuid(tenant),
            &Actor::system("events"),
            entry,
        )
        .await?;
    }
    emit_as_worker(txn, endpoint.tenant_id, EventType::EndpointDisabled, data).await?;
    Ok(())
}

enum Verdict {
    Success,
    Gone,
    /// Try again, not before the receiver's `Retry-After` if it gave one.
    Retry(Option<Duration>),
}

struct Sent {
    verdict: Verdict,
    status: Option<u16>,
    error_class: Option<&'static str>,
    at: DateTime<Utc>,
    latency: Duration,
}

/// The class of a request that got no answer.
fn classify(err: &reqwest::Error) -> &'static str {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<Refused>().is_some() {
            return "refused_address";
        }
        source = e.source();
    }
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "request"
    }
}
