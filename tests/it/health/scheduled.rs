//! Scheduled checks: due connections are checked once however many processes pass at
//! the same time, the next check waits an interval, a transition is recorded without
//! the on-demand test entries, and interval 0 turns the schedule off.

use std::time::Duration;

use connvault::services::health::{HealthChecker, HealthOptions};
use connvault::services::refresh::{RefreshOptions, Refresher};

use super::provider::Mode;
use super::{KEYED, Setup, UNCHECKED, api_key, options, setup};
use crate::support::TestDb;
use crate::support::serve::spawn_serve;

/// A checker as another replica would have it.
async fn checker(s: &Setup, options: HealthOptions) -> HealthChecker {
    let db = s.app.t.db.clone();
    let keyring = s.app.t.keyring().await;
    let refresher = Refresher::new(db.clone(), keyring.clone(), RefreshOptions::default());
    HealthChecker::new(db, keyring, refresher, options)
}

/// Two replicas pass at once over twelve connections of two tenants (the provider
/// slow enough that their passes overlap): each connection is checked exactly once,
/// and a pass right after finds nothing due.
async fn two_concurrent_passes_check_each_connection_once(t: TestDb) {
    let s = setup(t).await;
    let other = s.app.tenant("other").await;
    let mut keys = Vec::new();
    for i in 0..12 {
        let key = api_key();
        let tenant = if i % 2 == 0 {
            s.tenant.clone()
        } else {
            other.clone()
        };
        s.connect_in(&tenant, KEYED, &key).await;
        keys.push(key);
    }
    // Neither checked nor counted: no health check in the catalog.
    s.connect(UNCHECKED, &api_key()).await;
    s.provider.delay(Duration::from_millis(100));
    let opts = HealthOptions {
        concurrency: 3,
        ..options()
    };
    let one = checker(&s, opts.clone()).await;
    let two = checker(&s, opts).await;
    let (a, b) = tokio::join!(one.pass(), two.pass());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.checked + b.checked, 12, "{a:?} {b:?}");
    assert_eq!(a.healthy + b.healthy, 12);
    assert_eq!(a.failed + b.failed, 0, "{a:?} {b:?}");
    for key in &keys {
        assert_eq!(s.provider.hits(key), 1, "each connection checked once");
    }
    let again = one.pass().await.unwrap();
    assert_eq!(again.due, 0, "nothing is due an interval early: {again:?}");
    assert_eq!(s.provider.total_hits(), 12);
    assert_eq!(
        s.app
            .t
            .count(
                "connections WHERE health_status = 'healthy' AND last_health_check_at IS NOT NULL"
            )
            .await,
        12
    );
}

/// With an interval that has passed by the next pass, a scheduled check finds the key
/// rejected: health and status change, recorded as such, with no test entries.
async fn a_scheduled_check_records_transitions_only(t: TestDb) {
    let s = setup(t).await;
    let key = api_key();
    let id = s.connect(KEYED, &key).await;
    let opts = HealthOptions {
        interval: Duration::from_millis(1),
        ..options()
    };
    let checker = checker(&s, opts).await;
    assert_eq!(checker.pass().await.unwrap().healthy, 1);
    s.provider.set(Mode::Status(401));
    // Due again a millisecond after the check.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = checker.pass().await.unwrap();
    assert_eq!((report.checked, report.healthy), (1, 0), "{report:?}");
    let conn = s.connection(&id).await;
    assert_eq!(conn["status"], "error");
    assert_eq!(conn["health_status"], "unhealthy");
    assert_eq!(conn["last_error"]["reason_code"], "credential_rejected");
    assert_eq!(
        s.actions(&id).await,
        ["connected", "health_changed", "status_changed"]
    );
    // An `error` connection is no longer scheduled.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(checker.pass().await.unwrap().due, 0);
    assert_eq!(s.provider.hits(&key), 2);
}

/// Interval 0: a pass does nothing at all.
async fn interval_zero_turns_scheduled_checks_off(t: TestDb) {
    let s = setup(t).await;
    s.connect(KEYED, &api_key()).await;
    let off = checker(
        &s,
        HealthOptions {
            interval: Duration::ZERO,
            ..options()
        },
    )
    .await;
    let report = off.pass().await.unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(s.provider.total_hits(), 0);
    // The same connection with the schedule on is checked.
    let on = checker(&s, options()).await;
    assert_eq!(on.pass().await.unwrap().checked, 1);
}

/// `connvault serve` runs the scheduled checks on its own, as configured.
async fn serve_checks_connections_on_its_schedule(t: TestDb) {
    let s = setup(t).await;
    let key = api_key();
    let id = s.connect(KEYED, &key).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", s.app.t.url.as_str()),
        ("CONNVAULT_MASTER_KEY", s.app.t.master_key_b64.as_str()),
        ("CONNVAULT_REFRESH_INTERVAL_SECS", "0"),
        ("CONNVAULT_HEALTH_CHECK_INTERVAL_SECS", "1"),
        ("CONNVAULT_HEALTH_CHECK_TIMEOUT_MS", "1500"),
    ];
    let _server = spawn_serve(dir.path(), &env).await;
    let mut checked = false;
    for _ in 0..600 {
        if s.connection(&id).await["health_status"] == "healthy" {
            checked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(checked, "serve never checked the connection");
    assert!(s.provider.hits(&key) >= 1);
    assert_eq!(
        s.actions(&id).await,
        ["connected"],
        "a first healthy check is no transition"
    );
}

crate::on_both_backends!(
    serve_checks_connections_on_its_schedule,
    two_concurrent_passes_check_each_connection_once,
    a_scheduled_check_records_transitions_only,
    interval_zero_turns_scheduled_checks_off,
);
