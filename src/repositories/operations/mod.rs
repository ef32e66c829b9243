//! Provider-backed operations: the global registry of operation types ([`types`]) and
//! the tenants' runs ([`runs`], tenant-scoped like every tenant table).

pub mod runs;
pub mod types;
