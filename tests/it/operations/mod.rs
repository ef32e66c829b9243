//! Provider-backed operations: the type registry, starting runs through the gate
//! (every reason code), dedupe under concurrency, cancel, lists, roles.

mod api;
mod library;
mod registry;
mod roles;
