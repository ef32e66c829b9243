//! Provider-backed operations: the registry of operation types, the gate that decides
//! whether a run may start, and the runs' life (start, claim, heartbeat, complete,
//! cancel, rescue). The library API an embedding backend calls without HTTP.

pub mod gate;
pub mod gating;
