//! Prometheus metrics: requests and latency by route, method and status, and the
//! database pool. Kept in process, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;

use super::AppState;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
    /// Credential reads by API key and result (`ok` or the problem code).
    credential_reads: Mutex<BTreeMap<(uuid::Uuid, &'static str), u64>>,
    /// Inbound webhook deliveries by outcome (`stored`, `duplicate`, `too_large`,
    /// `gone`, `not_json`, or `refused_` and the refusal's reason).
    webhook_deliveries: Mutex<BTreeMap<&'static str, u64>>,
}

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut series) = self.series.lock() {
            let s = series
                .entry((method.to_owned(), route.to_owned(), status))
                .or_default();
            s.count += 1;
            s.sum += seconds;
            for (bucket, bound) in s.buckets.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
        }
    }

    /// Counts one credential read by `key_id` that ended with `result`.
    pub fn count_credential_read(&self, key_id: uuid::Uuid, result: &'static str) {
        if let Ok(mut reads) = self.credential_reads.lock() {
            *reads.entry((key_id, result)).or_default() += 1;
        }
    }

    /// Counts one inbound webhook delivery that ended with `outcome`.
    pub fn count_webhook_delivery(&self, outcome: &'static str) {
        if let Ok(mut deliveries) = self.webhook_deliveries.lock() {
            *deliveries.entry(outcome).or_default() += 1;
        }
    }

    fn render_webhook_deliveries(&self, out: &mut String) {
        out.push_str(
            "# HELP connvault_webhook_deliveries_total Inbound webhook deliveries by outcome.\n",
        );
        out.push_str("# TYPE connvault_webhook_deliveries_total counter\n");
        if let Ok(deliveries) = self.webhook_deliveries.lock() {
            for (outcome, n) in deliveries.iter() {
                let _ = writeln!(
                    out,
                    "connvault_webhook_deliveries_total{{outcome=\"{outcome}\"}} {n}"
                );
            }
        }
    }

    fn render_credential_reads(&self, out: &mut String) {
        out.push_str(
            "# HELP connvault_credential_reads_total Credential reads by API key and result.\n",
        );
        out.push_str("# TYPE connvault_credential_reads_total counter\n");
        if let Ok(reads) = self.credential_reads.lock() {
            for ((key_id, result), n) in reads.iter() {
                let _ = writeln!(
                    out,
                    "connvault_credential_reads_total{{key_id=\"{key_id}\",result=\"{result}\"}} {n}"
                );
            }
        }
    }

    fn render(&self, db: &DatabaseConnection) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP connvault_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE connvault_http_requests_total counter\n");
        let series = match self.series.lock() {
            Ok(s) => s,
            Err(_) => return out,
        };
        for ((method, route, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "connvault_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP connvault_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE connvault_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in series.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (count, bound) in s.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "connvault_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "connvault_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "connvault_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "connvault_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        drop(series);
        self.render_credential_reads(&mut out);
        self.render_webhook_deliveries(&mut out);
        let (size, idle) = pool_stats(db);
        out.push_str(
            "# HELP connvault_db_pool_connections Open database connections in the pool.\n",
        );
        out.push_str("# TYPE connvault_db_pool_connections gauge\n");
        let _ = writeln!(out, "connvault_db_pool_connections {size}");
        out.push_str(
            "# HELP connvault_db_pool_idle_connections Idle database connections in the pool.\n",
        );
        out.push_str("# TYPE connvault_db_pool_idle_connections gauge\n");
        let _ = writeln!(out, "connvault_db_pool_idle_connections {idle}");
        out
    }
}

fn pool_stats(db: &DatabaseConnection) -> (u32, usize) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    }
}

/// Middleware: times every routed request under its route template (never the raw
/// path, so ids do not explode the label set).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    state.metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Prometheus metrics.
///
/// No key: expose it on an internal port only. Requests by route, method and status,
/// their durations, the database pool, and connections (not revoked) by health
/// (`connvault_connections_by_health{health=…}`, across tenants).
#[utoipa::path(
    operation_id = "metrics",
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain", example = super::examples::metrics),
    )
)]
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = state.metrics.render(&state.db);
    render_health(&state.db, &mut out).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// The gauge of connections by health; left out (and logged) when the database cannot
/// count them, so the rest of the metrics still come.
async fn render_health(db: &DatabaseConnection, out: &mut String) {
    let counts = match crate::services::health::connections_by_health(db).await {
        Ok(counts) => counts,
        Err(err) => {
            tracing::warn!(error = %err, "cannot count connections by health");
            return;
        }
    };
    out.push_str("# HELP connvault_connections_by_health Connections (not revoked) by health.\n");
    out.push_str("# TYPE connvault_connections_by_health gauge\n");
    for (health, n) in counts {
        let _ = writeln!(
            out,
            "connvault_connections_by_health{{health=\"{health}\"}} {n}"
        );
    }
}
