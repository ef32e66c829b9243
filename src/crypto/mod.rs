//! Envelope encryption of credentials.
//!
//! - [`MasterKey`]: 256 bits from the environment or a file; wraps data keys; never
//!   stored in the database.
//! - [`Keyring`]: the data keys (stored wrapped), rotation, retirement, nonce budgets.
//! - [`envelope`]: the ciphertext format and the associated data that binds a
//!   ciphertext to its tenant, row and field.
//! - [`mask`]: the safe display form of a secret.

pub mod envelope;
pub mod keyring;
pub mod mask;
pub mod master;

pub use envelope::Binding;
pub use keyring::{KeyStatus, Keyring, KeyringOptions};
pub use mask::mask;
pub use master::MasterKey;
