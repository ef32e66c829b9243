//! The operators' registry of operation types: checked definitions in, rows out. A
//! type names the provider whose connection gates it, the scopes that connection must
//! hold, how often a lost run is retried and when a silent worker counts as lost.

use sea_orm::DatabaseConnection;

use crate::error::{Error, Result};
use crate::models::ProviderSlug;
use crate::models::checks::check_scopes;
use crate::models::ids::parse_name;
use crate::models::operation_type::{self, OperationTypeName};
use crate::repositories::operations::types::{self, OperationTypeInput};
use crate::repositories::{Page, PageResult};

/// Most scopes a type may require.
pub const MAX_REQUIRED_SCOPES: usize = 100;
/// Longest module name, in characters (the column's length).
pub const MODULE_MAX_LEN: usize = 64;
pub const MAX_ATTEMPTS: std::ops::RangeInclusive<i32> = 1..=100;
pub const HEARTBEAT_TIMEOUT_SECONDS: std::ops::RangeInclusive<i32> = 5..=86_400;

/// An operation type's definition, unchecked.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationTypeSpec {
    pub provider: String,
    pub required_scopes: Vec<String>,
    pub module: String,
    pub max_attempts: i32,
    pub heartbeat_timeout_seconds: i32,
    pub dedupe: bool,
}

impl OperationTypeSpec {
    /// Checks every field; the error names the first that is wrong.
    fn check(self, name: &str) -> Result<OperationTypeInput> {
        let name = OperationTypeName::parse(name)?;
        let provider = ProviderSlug::parse(&self.provider)?;
        if self.required_scopes.len() > MAX_REQUIRED_SCOPES {
            return Err(Error::invalid(
                "required_scopes",
                format!("at most {MAX_REQUIRED_SCOPES} scopes"),
            ));
        }
        check_scopes("required_scopes", &self.required_scopes)?;
        let mut scopes: Vec<String> = Vec::with_capacity(self.required_scopes.len());
        for scope in self.required_scopes {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let module = parse_name("module", &self.module, MODULE_MAX_LEN)?;
        if !MAX_ATTEMPTS.contains(&self.max_attempts) {
            return Err(Error::invalid("max_attempts", "must be between 1 and 100"));
        }
        if !HEARTBEAT_TIMEOUT_SECONDS.contains(&self.heartbeat_timeout_seconds) {
            return Err(Error::invalid(
                "heartbeat_timeout_seconds",
                "must be between 5 and 86400",
            ));
        }
        Ok(OperationTypeInput {
            name,
            provider,
            required_scopes: scopes,
            module,
            max_attempts: self.max_attempts,
            heartbeat_timeout_seconds: self.heartbeat_timeout_seconds,
            dedupe: self.dedupe,
        })
    }
}

/// Creates or replaces the type `name`; `true` when it was created. The provider must
/// be in the catalog (`UnknownProvider`). Runs already started keep the limits they
/// started with. Bad input writes nothing.
pub async fn put(
    db: &DatabaseConnection,
    name: &str,
    spec: OperationTypeSpec,
) -> Result<(operation_type::Model, bool)> {
    let input = spec.check(name)?;
    types::put(db, input).await
}

/// The type `name`; `NotFound` when there is none (a name that cannot exist included).
pub async fn get(db: &DatabaseConnection, name: &str) -> Result<operation_type::Model> {
    let Ok(name) = OperationTypeName::parse(name) else {
        return Err(Error::NotFound("operation type"));
    };
    types::get(db, name.as_str())
        .await?
        .ok_or(Error::NotFound("operation type"))
}

/// A page of the registry, in name order.
pub async fn list(
    db: &DatabaseConnection,
    page: Page,
) -> Result<PageResult<operation_type::Model>> {
    types::list_page(db, page).await
}

/// Deletes the type `name`: `NotFound` when there is none, `OperationTypeInUse` while
/// any tenant has a run of it (history keeps its type).
pub async fn delete(db: &DatabaseConnection, name: &str) -> Result<()> {
    let Ok(name) = OperationTypeName::parse(name) else {
        return Err(Error::NotFound("operation type"));
    };
    types::delete(db, name.as_str()).await
}
