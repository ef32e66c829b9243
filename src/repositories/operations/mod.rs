//! Provider-backed operations: the global registry of operation types ([`types`]), the
//! tenants' runs ([`runs`], tenant-scoped like every tenant table), and the workers'
//! side of the runs ([`claims`], [`rescue`]).

pub mod claims;
pub mod rescue;
pub mod runs;
pub mod types;
