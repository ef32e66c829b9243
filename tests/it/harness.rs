//! The harness's own guarantees: a log capture sees the events of tasks spawned on
//! other threads.

use crate::support::logs::Capture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_sees_the_events_of_tasks_spawned_on_other_threads() {
    let capture = Capture::start();
    let marker = format!("spawned-task-{}", uuid::Uuid::new_v4().simple());
    let test_thread = std::thread::current().id();
    let value = marker.clone();
    let task_thread = tokio::spawn(async move {
        tracing::warn!(target: "connvault", marker = %value, "an event from a spawned task");
        std::thread::current().id()
    })
    .await
    .unwrap();
    assert_ne!(task_thread, test_thread, "the task ran on a worker thread");
    assert!(capture.text().contains(&marker), "the capture missed it");
}

#[test]
fn a_capture_only_holds_what_happened_while_it_lived() {
    let marker = format!("uncaptured-{}", uuid::Uuid::new_v4().simple());
    let capture = Capture::start();
    drop(capture);
    tracing::warn!(target: "connvault", marker = %marker, "after the capture");
    let capture = Capture::start();
    assert!(!capture.text().contains(&marker));
}
