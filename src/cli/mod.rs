//! The `connvault` command line: one binary for serving and for operating.

mod keys;
pub mod master_key;
mod migrate;
mod oauth_app;
mod operation_type;
mod serve;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;
use tracing_subscriber::EnvFilter;

use crate::catalog::{self, Catalog};
use crate::config::{GlobalArgs, LogFormat, ServeArgs};
use crate::models::TenantId;
use crate::models::api_key::Role;
use crate::{db, repositories, services};

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
    Serve(Box<ServeArgs>),
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
    /// The registry of provider-backed operation types: provider, required scopes,
    /// module, retry and heartbeat limits, dedupe.
    OperationType {
        #[command(subcommand)]
        action: operation_type::OperationTypeAction,
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
        /// The key's tenant; omit with --operator or --worker.
        #[arg(
            long,
            required_unless_present_any = ["operator", "worker"],
            conflicts_with_all = ["operator", "worker"]
        )]
        tenant: Option<String>,
        /// admin, service or viewer (tenant keys).
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Make an operator key (all tenants).
        #[arg(long, conflicts_with = "worker")]
        operator: bool,
        /// Make a worker key (all tenants, but only the worker endpoints: claim
        /// operation runs, heartbeat, complete, read a claimed run's credential).
        #[arg(long)]
        worker: bool,
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
    init_tracing(cli.global.log_format, cli.global.audit_log.as_deref())?;
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
        Command::OperationType { action } => operation_type::run(&cli.global, action).await,
        Command::ApiKey { action } => {
            let db = open_migrated(&cli.global).await?;
            match action {
                ApiKeyAction::Create {
                    tenant,
                    role,
                    operator,
                    worker,
                    name,
                } => {
                    let (tenant, role) = if operator {
                        (None, Role::Operator)
                    } else if worker {
                        (None, Role::Worker)
                    } else {
                        let tenant = TenantId::parse(tenant.as_deref().unwrap_or_default())?;
                        let role = Role::parse(&role)
                            .filter(|r| !r.is_deployment_wide())
                            .ok_or_else(|| {
                                anyhow::anyhow!("--role must be admin, service or viewer")
                            })?;
                        (Some(tenant), role)
                    };
                    let key =
                        services::api_keys::create(&db, &cli_actor(), tenant, role, &name).await?;
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
                        Some(_) => {
                            services::api_keys::revoke(&db, &cli_actor(), tenant, id).await?
                        }
                        None => services::api_keys::revoke_anywhere(&db, &cli_actor(), id).await?,
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

/// An error and its causes in one line, as the binary prints it: a cause is added only
/// when the text before it does not already say it (the database errors repeat their
/// source in their own message), and PostgreSQL's ` at line N` (a line of the server's
/// C source) is left out.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while let Some(i) = rest.find(" at line ") {
        let after = &rest[i + " at line ".len()..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        out.push_str(&rest[..i]);
        if digits == 0 {
            out.push_str(" at line ");
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Who CLI changes are recorded as.
fn cli_actor() -> crate::repositories::activity::Actor {
    crate::repositories::activity::Actor::system("connvault cli")
}

fn init_tracing(format: LogFormat, audit_log: Option<&std::path::Path>) -> anyhow::Result<()> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // axum traces every rejected request body with its parse error, which quotes the
    // offending value; that value can be a secret sent in the wrong field.
    let filter = match "axum::rejection=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let stderr = match format {
        LogFormat::Json => stderr.json().with_filter(filter).boxed(),
        LogFormat::Text => stderr.with_filter(filter).boxed(),
    };
    // The audit trail, when routed to a file: its events only, JSON, one per line.
    let audit = match audit_log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open the audit log {}", path.display()))?;
            let only_audit = tracing_subscriber::filter::Targets::new()
                .with_target(crate::audit::TARGET, tracing::Level::INFO);
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file))
                    .with_filter(only_audit),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(audit)
        .init();
    Ok(())
}

/// Applies pending migrations as the owner, then opens the service's pool (checked on
/// PostgreSQL: it must be bound by row-level security).
async fn open_migrated(global: &GlobalArgs) -> anyhow::Result<DatabaseConnection> {
    let plan = global.database_plan()?;
    Ok(db::open(&plan, global.db_max_connections).await?)
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[test]
    fn an_error_is_one_line_with_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("Connection Error: {0}")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("database \"x\" does not exist at line 948")]
        struct Inner;
        let err = anyhow::Error::new(Outer(Inner)).context("cannot start");
        assert_eq!(
            error_line(&err),
            "cannot start: Connection Error: database \"x\" does not exist"
        );
        let err = anyhow::anyhow!("first\nsecond at line of sight");
        assert_eq!(error_line(&err), "first; second at line of sight");
    }
}
