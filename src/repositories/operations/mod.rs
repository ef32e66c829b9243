//! Provider-backed operations: the registry of operation types and the tenants' runs.

pub mod claims;
pub mod rescue;
