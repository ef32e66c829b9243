//! connvault's integration tests: one binary, modules mirroring the features.
//! Repository tests run on SQLite and on the local PostgreSQL server.

mod support;

mod api;
mod availability;
mod catalog;
mod cli;
mod connections;
mod constraints;
mod credential_cache;
mod credentials;
mod defaults;
mod events;
mod harness;
mod health;
mod http_health;
mod isolation;
mod key_cache;
mod keys;
mod oauth;
mod operations;
mod pagination;
mod providers;
mod refresh_engine;
mod repositories;
mod rls;
mod startup;
mod tenancy;
mod tenants;
mod web;
mod webhooks;
mod workers;
