//! Domain logic that spans repositories and the keyring.

pub mod activity;
pub mod api_keys;
pub mod cache_watch;
pub mod connect;
pub mod connections;
pub mod console_sessions;
pub mod credential_cache;
pub mod credential_fit;
pub mod credentials;
pub mod events;
pub mod guarded_lru;
pub mod health;
pub mod inbound;
pub mod key_cache;
pub mod operations;
pub mod passes;
pub mod reencrypt;
pub mod refresh;
pub mod repositories;
