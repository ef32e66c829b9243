//! Provider-backed operations: the registry of operation types, the gate that decides
//! whether a run may start, and the runs' life (start, claim, heartbeat, complete,
//! cancel, rescue). The library API an embedding backend calls without HTTP.

pub mod claim;
pub mod gate;
pub mod gating;
pub mod rescue;
pub mod worker;

pub use claim::{Claimed, ClaimedRun, claim};
pub use rescue::{RescueReport, rescue};
pub use worker::{Completion, FailureSummary, Worker, complete, credential, heartbeat};
