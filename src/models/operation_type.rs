//! `operation_types`: the operators' registry of provider-backed operations. A type
//! names the provider whose connection gates it, the scopes that connection must
//! hold, and how its runs are retried and deduplicated.

use sea_orm::entity::prelude::*;

use super::json::StringList;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "operation_types")]
pub struct Model {
    /// Slug-like name, e.g. `inventory.sync`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub operation_type: String,
    pub provider_slug: String,
    pub required_scopes: StringList,
    /// The product module that owns the operation (free text, shown to people).
    pub module: String,
    /// Claims a run may have before a lost worker fails it (`worker_lost`).
    pub max_attempts: i32,
    /// A running run whose heartbeat is older than this is taken back.
    pub heartbeat_timeout_seconds: i32,
    /// Whether starting an identical run while one is active returns that run.
    pub dedupe: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::provider::Entity",
        from = "Column::ProviderSlug",
        to = "super::provider::Column::Slug",
        on_delete = "Restrict"
    )]
    Provider,
}

impl Related<super::provider::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Provider.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// Longest operation type name, in bytes (the column's length).
pub const NAME_MAX_LEN: usize = 64;

/// A checked operation type name: 1 to 64 characters, dot-separated segments of
/// `a-z`, `0-9`, `_` and `-`, each starting with a letter or digit (`inventory.sync`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct OperationTypeName(String);

impl OperationTypeName {
    pub fn parse(s: &str) -> crate::Result<Self> {
        let segment_ok = |seg: &str| {
            seg.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        if s.is_empty() || s.len() > NAME_MAX_LEN || !s.split('.').all(segment_ok) {
            return Err(crate::Error::invalid(
                "type",
                "use 1 to 64 characters: dot-separated segments of a-z, 0-9, '_' and '-', each starting with a letter or digit (e.g. inventory.sync)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OperationTypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::OperationTypeName;

    #[test]
    fn type_names_are_dotted_slugs() {
        for ok in ["inventory.sync", "a", "x1.y_2.z-3", "9lives"] {
            assert!(OperationTypeName::parse(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "Inventory.sync",
            "a b",
            "_a",
            &long,
            "a/b",
        ] {
            assert!(OperationTypeName::parse(bad).is_err(), "{bad}");
        }
    }
}
