//! The bare lookup `read-bench` compares the credential read with: axum + sqlx, no
//! authentication, no row-level security, no decryption, one indexed `SELECT` of the
//! same rows per request, answered as JSON. It serves the credential read's path, so
//! that `wrk` drives both services with one script.
//!
//! `baseline --database-url URL [--bind ADDR] [--pool N]`; prints
//! `baseline listening on http://ADDR` once it accepts connections.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Parser;
use sea_orm::sqlx::{self, PgPool, SqlitePool};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// A PostgreSQL or SQLite URL of a database connvault has populated.
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: std::net::SocketAddr,
    /// Pool size (connvault's default is 16).
    #[arg(long, default_value_t = 16)]
    pool: u32,
}

#[derive(Clone)]
enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

const LOOKUP_PG: &str =
    "SELECT field, ciphertext FROM credential_secrets WHERE tenant_id = $1 AND connection_id = $2";
const LOOKUP_SQLITE: &str =
    "SELECT field, ciphertext FROM credential_secrets WHERE tenant_id = ?1 AND connection_id = ?2";

async fn read(
    State(db): State<Db>,
    Path((tenant, connection)): Path<(Uuid, Uuid)>,
) -> Result<Json<Value>, StatusCode> {
    let rows: Vec<(String, Vec<u8>)> = match &db {
        Db::Postgres(pool) => {
            sqlx::query_as(LOOKUP_PG)
                .bind(tenant)
                .bind(connection)
                .fetch_all(pool)
                .await
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(LOOKUP_SQLITE)
                .bind(tenant)
                .bind(connection)
                .fetch_all(pool)
                .await
        }
    }
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    if rows.is_empty() {
        return Err(StatusCode::NOT_FOUND);
    }
    let fields: serde_json::Map<String, Value> = rows
        .into_iter()
        .map(|(field, ciphertext)| (field, Value::String(STANDARD.encode(ciphertext))))
        .collect();
    Ok(Json(json!({"connection_id": connection, "fields": fields})))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = if args.database_url.starts_with("sqlite:") {
        Db::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(args.pool)
                .connect(&args.database_url)
                .await?,
        )
    } else {
        Db::Postgres(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(args.pool)
                .connect(&args.database_url)
                .await?,
        )
    };
    let app = Router::new()
        .route(
            "/v1/tenants/{tenant_id}/connections/{connection_id}/credentials",
            get(read),
        )
        .with_state(db);
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    eprintln!("baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
