//! The values the server checks, as named schemas of the OpenAPI document. Each states
//! the length, pattern or range that `models`, the repositories and the services
//! enforce, taken from the constants they use, so that a request built from the
//! document is not refused for its form. Patterns are the subset of ECMA-262 that
//! other regex engines read alike.

use sea_orm::Iterable;
use serde_json::{Value, json};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::models::api_key::Role;
use crate::models::connection::ConnectionStatus;
use crate::models::{ExternalId, ProviderSlug};
use crate::repositories::connections::DISPLAY_NAME_MAX_LEN;
use crate::repositories::oauth_apps::MAX_RETURN_URLS;
use sea_orm::ActiveEnum;

/// At least one character that is not whitespace, and no control character.
const NAME: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";
/// No control character, and no whitespace at either end.
const TRIMMED: &str = r"^[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F])?$";
/// An https:// URL without user information or fragment; http:// only on the loopback
/// interface.
const HTTPS_URL: &str = r"^(https://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|http://(localhost|127\.0\.0\.1|\[::1\]))(:[0-9]{1,5})?([/?][A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$";

/// Longest URL accepted where one is stored (return URLs and provider endpoints).
pub const URL_MAX_LEN: usize = 2048;
/// Longest scope, in bytes.
pub const SCOPE_MAX_LEN: usize = 512;
/// Most scopes one connect session may ask for.
pub const MAX_SESSION_SCOPES: usize = 100;

fn string(
    description: &str,
    min: usize,
    max: usize,
    pattern: &str,
    example: Value,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .examples([example])
        .into()
}

fn enumeration(description: &str, values: Vec<String>) -> RefOr<Schema> {
    let example = json!(values.first());
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .examples([example])
        .into()
}

macro_rules! schema {
    ($(#[$doc:meta])* $name:ident => $body:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $body
            }
        }

        impl ToSchema for $name {}
    };
}

schema!(
    /// A provider's catalog key.
    Slug => string(
        "A provider slug: a-z, 0-9 and '-', starting with a letter or digit, at most 64 characters",
        1,
        ProviderSlug::MAX_LEN,
        r"^[a-z0-9][a-z0-9-]*$",
        json!("github"),
    )
);

schema!(
    /// The external account of a connection.
    ExternalIdText => string(
        "The external account (Slack team, GitHub installation, repository URL, …): 1 to 255 characters, no control characters, no whitespace at either end; a URL must not carry user:password@",
        1,
        ExternalId::MAX_LEN,
        TRIMMED,
        json!("T024BE7LD"),
    )
);

schema!(
    /// A tenant's or key's name.
    Name => string(
        "A name: at most 200 characters around at least one that is not whitespace (surrounding whitespace is trimmed), no control characters",
        1,
        crate::repositories::tenants::NAME_MAX_LEN,
        NAME,
        json!("Acme Corp"),
    )
);

schema!(
    /// A connection's display name.
    DisplayName => string(
        "A display name: at most 200 characters around at least one that is not whitespace (trimmed), no control characters",
        1,
        DISPLAY_NAME_MAX_LEN,
        NAME,
        json!("Stripe (EU)"),
    )
);

schema!(
    /// An OAuth scope.
    Scope => string(
        "An OAuth scope token: 1 to 512 visible ASCII characters, no whitespace",
        1,
        SCOPE_MAX_LEN,
        r"^[!-~]+$",
        json!("repo"),
    )
);

schema!(
    /// An https:// URL.
    HttpsUrl => string(
        "An absolute https:// URL (http:// only on localhost, 127.0.0.1 or [::1]), without user information or fragment, at most 2048 characters",
        1,
        URL_MAX_LEN,
        HTTPS_URL,
        json!("https://app.example.com/connected"),
    )
);

schema!(
    /// Up to 50 return URLs.
    ReturnUrls => ArrayBuilder::new()
        .items(HttpsUrl::schema())
        .max_items(Some(MAX_RETURN_URLS))
        .description(Some("Exact URLs a connect session may send the end user back to, at most 50"))
        .into()
);

schema!(
    /// Scopes of a connect session.
    SessionScopes => ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(Scope::schema())
        .max_items(Some(MAX_SESSION_SCOPES))
        .description(Some("At most 100 scopes; the provider's default scopes when absent"))
        .into()
);

schema!(
    /// A role a tenant key may have.
    TenantKeyRole => enumeration(
        "The role of a tenant key (viewer when absent); operator and worker keys are made at /v1/api-keys",
        Role::iter()
            .filter(|r| !r.is_deployment_wide())
            .map(|r| r.as_str().to_owned())
            .collect(),
    )
);

schema!(
    /// The roles a key made at `/v1/api-keys` may name.
    OperatorKeyRole => enumeration(
        "Keys made here belong to no tenant: operator (the default) or worker",
        vec![Role::Operator.as_str().to_owned(), Role::Worker.as_str().to_owned()],
    )
);

schema!(
    /// A status a PATCH may set.
    SettableStatus => enumeration(
        "A status to set; revoked is reached only by disconnect, and left by replacing the credential",
        ConnectionStatus::iter()
            .filter(|s| *s != ConnectionStatus::Revoked)
            .map(|s| s.to_value())
            .collect(),
    )
);
