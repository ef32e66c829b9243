//! Provider-backed operations: the registry of operation types, the gate that decides
//! whether a run may start, and the runs' life (start, claim, heartbeat, complete,
//! cancel, rescue). The library API an embedding backend calls without HTTP:
//! [`types`] (the registry), [`start()`], [`runs`] (get, list, cancel), and the
//! workers' [`claim()`], [`heartbeat()`], [`complete()`], [`credential()`] and [`rescue()`].

pub mod activity;
pub mod claim;
pub mod dedupe;
pub mod gate;
pub mod gating;
pub mod rescue;
pub mod runs;
pub mod start;
pub mod types;
pub mod worker;

pub use claim::{Claimed, ClaimedRun, claim};
pub use rescue::{RescueReport, rescue};
pub use start::{StartRequest, Started, start};
pub use worker::{Completion, FailureSummary, Worker, complete, credential, heartbeat};
