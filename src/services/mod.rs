//! Domain logic that spans repositories and the keyring.

pub mod connections;
pub mod credentials;
pub mod reencrypt;
