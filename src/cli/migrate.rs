//! `connvault migrate up|down|status|fresh`.

use clap::Subcommand;
use migration::{Migrator, MigratorTrait};

use crate::config::{GlobalArgs, Profile};
use crate::db;

#[derive(Subcommand, Debug)]
pub enum MigrateAction {
    /// Apply pending migrations (all, or the next N).
    Up {
        #[arg(long)]
        steps: Option<u32>,
    },
    /// Roll back the last N applied migrations (default 1).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// Show each migration and whether it is applied.
    Status,
    /// Drop every table and apply all migrations again. Destroys all data.
    Fresh {
        /// Required with the production profile.
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(global: &GlobalArgs, action: MigrateAction) -> anyhow::Result<()> {
    let plan = global.database_plan()?;
    let url = plan
        .owner_url
        .clone()
        .ok_or_else(|| anyhow::anyhow!("MIGRATION_DATABASE_URL is required"))?;
    let db = db::connect(&url, 2).await?;
    match action {
        MigrateAction::Up { steps } => {
            Migrator::up(&db, steps).await?;
            provision(&db, &plan).await?;
            println!("migrations applied");
        }
        MigrateAction::Down { steps } => {
            Migrator::down(&db, Some(steps)).await?;
            println!("rolled back {steps} migration(s)");
        }
        MigrateAction::Status => {
            let applied = Migrator::get_applied_migrations(&db).await?;
            let pending = Migrator::get_pending_migrations(&db).await?;
            for m in &applied {
                println!("applied\t{}", m.name());
            }
            for m in &pending {
                println!("pending\t{}", m.name());
            }
        }
        MigrateAction::Fresh { yes } => {
            if global.profile == Profile::Production && !yes {
                anyhow::bail!("migrate fresh destroys all data; pass --yes to do it in production");
            }
            Migrator::fresh(&db).await?;
            provision(&db, &plan).await?;
            println!("database recreated");
        }
    }
    Ok(())
}

/// Gives the service role its grants on the tables just migrated.
async fn provision(db: &sea_orm::DatabaseConnection, plan: &db::Plan) -> anyhow::Result<()> {
    if let Some(role) = &plan.role {
        db::roles::provision(
            db,
            &role.name,
            role.password.as_ref(),
            role.always_set_password,
        )
        .await?;
    }
    Ok(())
}
