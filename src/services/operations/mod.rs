//! Provider-backed operations: the registry of operation types, the gate that decides
//! whether a run may start, and the runs' life (start, claim, heartbeat, complete,
//! cancel, rescue). The library API an embedding backend calls without HTTP:
//! [`types`] (the registry), [`start()`], and [`runs`] (get, list, cancel).

pub mod activity;
pub mod dedupe;
pub mod gate;
pub mod gating;
pub mod runs;
pub mod start;
pub mod types;

pub use start::{StartRequest, Started, start};
