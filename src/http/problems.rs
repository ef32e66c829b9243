//! The problem answers an operation may give, declared once for the OpenAPI document:
//! each type lists statuses with a description and the `Problem` body, and an
//! operation's `responses(...)` names the types that apply to it.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// One problem response: `description`, body `application/problem+json` `Problem`.
fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

const MALFORMED: (u16, &str) = (
    400,
    "Malformed request: invalid_id, invalid_query, invalid_cursor or malformed_json",
);
const UNAUTHENTICATED: (u16, &str) = (401, "Unauthenticated");
const ROLE_NOT_ALLOWED: (u16, &str) = (403, "Role not allowed");
const OPERATORS_ONLY: (u16, &str) = (403, "Operators only");
const UNKNOWN_RESOURCE: (u16, &str) = (404, "Unknown resource (or another tenant's)");
const TOO_LARGE: (u16, &str) = (413, "Body larger than 64 KiB");
const NOT_JSON: (u16, &str) = (415, "Body is not application/json");
const INVALID: (u16, &str) = (422, "Validation failed");

macro_rules! problems {
    ($($(#[$doc:meta])* $name:ident = [$($response:expr),+ $(,)?];)+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    [$($response),+]
                        .into_iter()
                        .map(|(status, description)| (status.to_string(), problem(description)))
                        .collect()
                }
            }
        )+
    };
}

problems! {
    /// 401: no or an unknown API key.
    Unauthenticated = [UNAUTHENTICATED];
    /// 401, and 403 for every caller but an operator.
    OperatorOnly = [UNAUTHENTICATED, OPERATORS_ONLY];
    /// 400, 401, 403 and 404: what any authorized read of a tenant's resource may answer.
    ReadProblems = [MALFORMED, UNAUTHENTICATED, ROLE_NOT_ALLOWED, UNKNOWN_RESOURCE];
    /// [`ReadProblems`], and 413, 415 and 422 for a JSON body that is refused.
    WriteProblems = [
        MALFORMED,
        UNAUTHENTICATED,
        ROLE_NOT_ALLOWED,
        UNKNOWN_RESOURCE,
        TOO_LARGE,
        NOT_JSON,
        INVALID,
    ];
    /// 413, 415 and 422: a JSON body that is refused.
    BodyProblems = [TOO_LARGE, NOT_JSON, INVALID];
    /// 400: a malformed id, query or body.
    Malformed = [MALFORMED];
    /// 403 for a role that may not do this.
    RoleNotAllowed = [ROLE_NOT_ALLOWED];
    /// 404 for an unknown resource, or another tenant's.
    UnknownResource = [UNKNOWN_RESOURCE];
}
