//! What the benchmark binaries share: a throw-away database with the schema, the
//! owner's pool and the service role's pool.

use anyhow::Context;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// The owner's pool, the service's pool (the same on SQLite; on PostgreSQL `pool`
/// connections each), and a future that drops the database.
pub async fn open_database(
    admin_url: &str,
    sqlite: bool,
    pool: u32,
) -> anyhow::Result<(DatabaseConnection, DatabaseConnection, Cleanup)> {
    if sqlite {
        let dir = std::env::temp_dir().join(format!("cv-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let url = format!("sqlite://{}/bench.db?mode=rwc", dir.display());
        let db = connvault::db::connect(&url, 4).await?;
        connvault::db::migrate(&db).await?;
        let cleanup = Box::pin(async move {
            std::fs::remove_dir_all(&dir)?;
            Ok(())
        });
        return Ok((db.clone(), db, cleanup));
    }
    let name = format!("cv_bench_{}", uuid::Uuid::new_v4().simple());
    let server = Database::connect(admin_url).await?;
    server
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(&format!("/{name}"));
    let db = connvault::db::connect(url.as_str(), pool).await?;
    connvault::db::migrate(&db).await?;
    let plan =
        connvault::db::Plan::derived(url.as_str(), connvault::db::roles::DEFAULT_SERVICE_ROLE)?;
    let role = plan.role.as_ref().context("a service role")?;
    connvault::db::roles::provision(&db, &role.name, role.password.as_ref(), true).await?;
    let service = connvault::db::connect(&plan.service_url, pool).await?;
    connvault::db::roles::self_check(&service).await?;
    let cleanup = Box::pin(async move {
        server
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await?;
        Ok(())
    });
    Ok((db, service, cleanup))
}

pub type Cleanup = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>>>>;
