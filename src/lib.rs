//! connvault keeps a multi-tenant product's connections to external providers.
//!
//! - [`models`]: SeaORM entities (one per table) and the validated id and value types.
//! - [`repositories`]: tenant-scoped data access; every connection method takes the tenant.
//! - [`catalog`]: the built-in provider catalog and its idempotent seeding.
//! - [`db`]: connecting to SQLite or PostgreSQL and running migrations.
//! - [`http`]: the axum router served by `connvault serve`; [`cli`]: the binary's commands.
//! - [`web`]: the connect page for end users and the admin console, server-rendered.
//! - [`webhooks`]: verifying inbound deliveries of GitHub, GitLab and Bitbucket.
//! - [`events`]: outbound events: types, bodies, Standard Webhooks signing, retries, URL rules.
//! - [`config`] and [`error`]: the typed configuration and the library's error enum.

pub mod audit;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod events;
pub mod http;
pub mod jobs;
pub mod models;
pub mod oauth;
pub mod repositories;
pub mod sanitize;
pub mod services;
pub mod tenancy;
pub mod web;
pub mod webhooks;

pub use error::{Error, Result};
