//! The `connvault` command line: one binary for serving and for operating.

mod keys;
pub mod master_key;
mod migrate;
mod oauth_app;
mod serve;

use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;
use tracing_subscriber::EnvFilter;

use crate::catalog::{self, Catalog};
use crate::config::{GlobalArgs, LogFormat, ServeArgs};
use crate::models::TenantId;
use crate::models::api_key::Role;
use crate::{db, repositories};

#[derive(Parser, Debug)]
#[command(
    name = "connvault",
    version,
    about = "Tenant-scoped connections to external providers"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate the database, seed the catalog (local and test profiles) and serve HTTP.
    Serve(ServeArgs),
    /// Run database migrations by hand.
    Migrate {
        #[command(subcommand)]
        action: migrate::MigrateAction,
    },
    /// Upsert the provider catalog (idempotent).
    Seed,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Manage encryption keys: status, rotation, re-encryption, retirement, master key.
    Keys {
        #[command(subcommand)]
        action: keys::KeysAction,
    },
    /// Manage API keys (the secret is printed once, at creation).
    ApiKey {
        #[command(subcommand)]
        action: ApiKeyAction,
    },
    /// Inspect the provider catalog.
    Providers {
        #[command(subcommand)]
        action: ProvidersAction,
    },
    /// The OAuth app (client id, encrypted client secret, allowed return URLs) of each
    /// provider.
    OauthApp {
        #[command(subcommand)]
        action: oauth_app::OAuthAppAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantAction {
    /// Create a tenant and print its id.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List tenants: id and name, one per line.
    List,
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyAction {
    /// Create a key and print its secret (only now; only a hash is stored).
    Create {
        /// The key's tenant; omit with --operator.
        #[arg(
            long,
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        tenant: Option<String>,
        /// admin, service or viewer (tenant keys).
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Make an operator key (all tenants).
        #[arg(long)]
        operator: bool,
        #[arg(long)]
        name: String,
    },
    /// Revoke a key by id: an operator key or any tenant's key.
    Revoke {
        id: String,
        /// Look for the key only in this tenant; without it the key is found by its id
        /// among the operator keys and every tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProvidersAction {
    /// List the catalog: slug, auth modes and display name, one per line.
    List,
}

/// Parses the command line and runs it.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.global.log_format);
    match cli.command {
        Command::Serve(args) => serve::run(&cli.global, &args).await,
        Command::Migrate { action } => migrate::run(&cli.global, action).await,
        Command::Seed => {
            let catalog = Catalog::load(cli.global.catalog.as_deref())?;
            let db = open_migrated(&cli.global).await?;
            let count = catalog::seed(&db, &catalog).await?;
            println!("seeded {count} providers");
            Ok(())
        }
        Command::Keys { action } => keys::run(&cli.global, action).await,
        Command::OauthApp { action } => oauth_app::run(&cli.global, action).await,
        Command::ApiKey { action } => {
            let db = open_migrated(&cli.global).await?;
            match action {
                ApiKeyAction::Create {
                    tenant,
                    role,
                    operator,
                    name,
                } => {
                    let (tenant, role) = if operator {
                        (None, Role::Operator)
                    } else {
                        let tenant = TenantId::parse(tenant.as_deref().unwrap_or_default())?;
                        let role = Role::parse(&role)
                            .filter(|r| *r != Role::Operator)
                            .ok_or_else(|| {
                                anyhow::anyhow!("--role must be admin, service or viewer")
                            })?;
                        (Some(tenant), role)
                    };
                    let key = repositories::api_keys::create(&db, tenant, role, &name).await?;
                    eprintln!(
                        "api key {} ({}) created; the secret below is shown only once",
                        key.key.id,
                        role.as_str()
                    );
                    println!("{}", secrecy::ExposeSecret::expose_secret(&key.secret));
                }
                ApiKeyAction::Revoke { id, tenant } => {
                    let tenant = tenant.as_deref().map(TenantId::parse).transpose()?;
                    let id = uuid::Uuid::parse_str(&id)
                        .map_err(|_| anyhow::anyhow!("{id:?} is not a key id"))?;
                    match tenant {
                        Some(tenant) => {
                            repositories::api_keys::revoke(&db, Some(tenant), id).await?
                        }
                        None => {
                            repositories::api_keys::revoke_by_id(&db, id).await?;
                        }
                    }
                    println!("revoked {id}");
                }
            }
            Ok(())
        }
        Command::Tenant { action } => {
            let db = open_migrated(&cli.global).await?;
            match action {
                TenantAction::Create { name } => {
                    let tenant = repositories::tenants::create(&db, &name).await?;
                    println!("{}", tenant.id);
                }
                TenantAction::List => {
                    for tenant in repositories::tenants::list(&db).await? {
                        println!("{}\t{}", tenant.id, tenant.name);
                    }
                }
            }
            Ok(())
        }
        Command::Providers {
            action: ProvidersAction::List,
        } => {
            let db = open_migrated(&cli.global).await?;
            for p in repositories::providers::list_all(&db).await? {
                let modes: Vec<&str> = p.auth_modes.0.iter().map(|m| m.as_str()).collect();
                println!("{}\t{}\t{}", p.slug, modes.join(","), p.display_name);
            }
            Ok(())
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // axum traces every rejected request body with its parse error, which quotes the
    // offending value; that value can be a secret sent in the wrong field.
    let filter = match "axum::rejection=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Applies pending migrations as the owner, then opens the service's pool (checked on
/// PostgreSQL: it must be bound by row-level security).
async fn open_migrated(global: &GlobalArgs) -> anyhow::Result<DatabaseConnection> {
    let plan = global.database_plan()?;
    Ok(db::open(&plan, global.db_max_connections).await?)
}
