//! `connvault operation-type …`: the operators' registry of provider-backed operation
//! types, as `PUT/GET/DELETE /v1/operation-types/{type}` keep it. A refusal prints the
//! API's stable code and field.

use clap::{ArgAction, Subcommand};

use crate::config::GlobalArgs;
use crate::error::Error;
use crate::http::error::ApiError;
use crate::models::operation_type;
use crate::repositories::Page;
use crate::services::operations::types::{self, OperationTypeSpec};

#[derive(Subcommand, Debug)]
pub enum OperationTypeAction {
    /// Create or replace a type; prints it. The module is the type's first segment when
    /// not given (`inventory` for `inventory.sync`).
    Put {
        /// The type, slug-like: `inventory.sync`.
        #[arg(value_name = "TYPE")]
        name: String,
        /// The catalog provider whose connection gates the runs.
        #[arg(long)]
        provider: String,
        /// A scope the connection must hold (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// The product module that owns the operation.
        #[arg(long)]
        module: Option<String>,
        /// Claims a run may have before a lost worker fails it (1 to 100).
        #[arg(long, default_value_t = 3)]
        max_attempts: i32,
        /// Seconds of worker silence before a running run is taken back (5 to 86400).
        #[arg(long, default_value_t = 300)]
        heartbeat_timeout_seconds: i32,
        /// An identical start returns the queued or running run (the default).
        #[arg(long, action = ArgAction::SetTrue, overrides_with = "no_dedupe")]
        dedupe: bool,
        /// Every start makes a new run.
        #[arg(long, action = ArgAction::SetTrue, overrides_with = "dedupe")]
        no_dedupe: bool,
    },
    /// Print one type.
    Get {
        #[arg(value_name = "TYPE")]
        name: String,
    },
    /// List the types, in name order.
    List,
    /// Delete a type (refused while any run of it exists).
    Delete {
        #[arg(value_name = "TYPE")]
        name: String,
    },
}

/// One line per type: type, provider, required scopes (comma-separated, `-` when
/// none), module, max attempts, heartbeat timeout in seconds, `dedupe` or `no-dedupe`.
fn print_type(t: &operation_type::Model) {
    let scopes = if t.required_scopes.0.is_empty() {
        "-".to_owned()
    } else {
        t.required_scopes.0.join(",")
    };
    println!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        t.operation_type,
        t.provider_slug,
        scopes,
        t.module,
        t.max_attempts,
        t.heartbeat_timeout_seconds,
        if t.dedupe { "dedupe" } else { "no-dedupe" }
    );
}

/// A refusal as the API words it: `CODE (field F): detail`. Database failures keep
/// their own message.
fn refusal(err: Error) -> anyhow::Error {
    if matches!(err, Error::Database(_) | Error::DatabaseUnavailable(_)) {
        return err.into();
    }
    let text = err.to_string();
    let api = ApiError::from(err);
    if !api.status.is_client_error() {
        return anyhow::anyhow!(text);
    }
    match api.field {
        Some(field) => anyhow::anyhow!("{} (field {field}): {}", api.code, api.detail),
        None => anyhow::anyhow!("{}: {}", api.code, api.detail),
    }
}

pub async fn run(global: &GlobalArgs, action: OperationTypeAction) -> anyhow::Result<()> {
    let db = super::open_migrated(global).await?;
    match action {
        OperationTypeAction::Put {
            name,
            provider,
            scopes,
            module,
            max_attempts,
            heartbeat_timeout_seconds,
            dedupe: _,
            no_dedupe,
        } => {
            let module =
                module.unwrap_or_else(|| name.split('.').next().unwrap_or_default().to_owned());
            let spec = OperationTypeSpec {
                provider,
                required_scopes: scopes,
                module,
                max_attempts,
                heartbeat_timeout_seconds,
                dedupe: !no_dedupe,
            };
            let (model, created) = types::put(&db, &name, spec).await.map_err(refusal)?;
            eprintln!(
                "operation type {} {}",
                model.operation_type,
                if created { "created" } else { "replaced" }
            );
            print_type(&model);
        }
        OperationTypeAction::Get { name } => {
            print_type(&types::get(&db, &name).await.map_err(refusal)?);
        }
        OperationTypeAction::List => {
            let mut page = Page {
                limit: Some(Page::MAX_LIMIT),
                after: None,
            };
            loop {
                let result = types::list(&db, page.clone()).await.map_err(refusal)?;
                result.items.iter().for_each(print_type);
                match result.next_cursor {
                    Some(cursor) => page.after = Some(cursor),
                    None => break,
                }
            }
        }
        OperationTypeAction::Delete { name } => {
            types::delete(&db, &name).await.map_err(refusal)?;
            println!("deleted the operation type {name}");
        }
    }
    Ok(())
}
