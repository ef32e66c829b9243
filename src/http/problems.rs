//! The problem answers an operation may give, declared once for the OpenAPI document:
//! each type lists statuses with a description and the `Problem` body, and an
//! operation's `responses(...)` names the types that apply to it.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// One problem answer: its status, what it means, and the example shown with it.
struct Answer {
    status: u16,
    description: &'static str,
    code: &'static str,
    detail: &'static str,
    field: Option<&'static str>,
    /// `reason_code` of the example, for answers that carry one.
    reason_code: Option<&'static str>,
}

/// The example body of an answer, as `ApiError` renders it.
pub fn example(status: u16, code: &str, detail: &str, field: Option<&str>) -> serde_json::Value {
    let title = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut body = serde_json::json!({
        "type": format!("urn:connvault:problem:{code}"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    });
    if let Some(field) = field {
        body["field"] = field.into();
    }
    body
}

/// One problem response: `description`, body `application/problem+json` `Problem`.
fn problem(answer: &Answer) -> RefOr<Response> {
    let mut body = example(answer.status, answer.code, answer.detail, answer.field);
    if let Some(reason) = answer.reason_code {
        body["reason_code"] = reason.into();
    }
    let mut response = ResponseBuilder::new()
        .description(answer.description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .example(Some(body))
                .build(),
        );
    if answer.status == 503 {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .description(Some("Seconds after which a retry may succeed"))
                .build(),
        );
    }
    response.build().into()
}

const MALFORMED: Answer = Answer {
    status: 400,
    description: "Malformed request: invalid_id, invalid_query, invalid_cursor or malformed_json",
    code: "invalid_query",
    detail: "limit must be between 1 and 200",
    field: Some("limit"),
    reason_code: None,
};
const UNAUTHENTICATED: Answer = Answer {
    status: 401,
    description: "Unauthenticated: no API key, or an unknown or revoked one (unauthenticated)",
    code: "unauthenticated",
    detail: "unknown or revoked API key",
    field: None,
    reason_code: None,
};
const ROLE_NOT_ALLOWED: Answer = Answer {
    status: 403,
    description: "The key's role may not do this (forbidden)",
    code: "forbidden",
    detail: "the viewer role cannot do this",
    field: None,
    reason_code: None,
};
const OPERATORS_ONLY: Answer = Answer {
    status: 403,
    description: "Operators only (forbidden)",
    code: "forbidden",
    detail: "this needs an operator key",
    field: None,
    reason_code: None,
};
const UNKNOWN_RESOURCE: Answer = Answer {
    status: 404,
    description: "Unknown resource, or another tenant's (not_found)",
    code: "not_found",
    detail: "tenant not found",
    field: None,
    reason_code: None,
};
const TOO_LARGE: Answer = Answer {
    status: 413,
    description: "Body larger than 64 KiB (payload_too_large)",
    code: "payload_too_large",
    detail: "the request body is larger than the limit",
    field: None,
    reason_code: None,
};
const NOT_JSON: Answer = Answer {
    status: 415,
    description: "Body is not application/json (unsupported_media_type)",
    code: "unsupported_media_type",
    detail: "send the body as application/json",
    field: None,
    reason_code: None,
};
const INVALID: Answer = Answer {
    status: 422,
    description: "Validation failed: validation_failed, unknown_field, invalid_slug or unknown_provider, with the field",
    code: "validation_failed",
    detail: "invalid name: must not be empty",
    field: Some("name"),
    reason_code: None,
};

const DUPLICATE: Answer = Answer {
    status: 409,
    description: "A connection to this provider for this external id exists in the tenant (duplicate_connection)",
    code: "duplicate_connection",
    detail: "a connection to stripe for external id \"acct_1Nv0FG\" already exists in this tenant",
    field: None,
    reason_code: None,
};
const UNUSABLE: Answer = Answer {
    status: 409,
    description: "The connection cannot be used: connection_needs_reauth (status needs_reauth, with reason_code such as refresh_token_revoked) or connection_unusable (pending, needs_consent, error or revoked)",
    code: "connection_needs_reauth",
    detail: "the connection cannot be used (needs_reauth): refresh_token_revoked",
    field: None,
    reason_code: Some("refresh_token_revoked"),
};
const NOT_TESTABLE: Answer = Answer {
    status: 409,
    description: "The connection cannot be tested (connection_not_testable), with reason_code disconnected, not_connected, no_health_check (its provider has none), no_credential or unsendable_credential",
    code: "connection_not_testable",
    detail: "the connection cannot be tested (disconnected)",
    field: None,
    reason_code: Some("disconnected"),
};
const PROVIDER_DOWN: Answer = Answer {
    status: 503,
    description: "The token expired and the provider could not renew it (provider_unavailable, with reason_code and Retry-After), or the database is unavailable (database_unavailable, with Retry-After)",
    code: "provider_unavailable",
    detail: "the provider could not renew the token (provider_unavailable); try again later",
    field: None,
    reason_code: Some("provider_unavailable"),
};
const DATABASE_DOWN: Answer = Answer {
    status: 503,
    description: "The database is down, unreachable or not migrated (database_unavailable, with Retry-After); nothing was written",
    code: "database_unavailable",
    detail: "the database is unavailable; try again later",
    field: None,
    reason_code: None,
};
const INVALID_STATE: Answer = Answer {
    status: 400,
    description: "The state names no connect session of this service (invalid_state), or the query is malformed (invalid_query)",
    code: "invalid_state",
    detail: "the state names no connect session of this service",
    field: None,
    reason_code: None,
};
const UNKNOWN_LINK: Answer = Answer {
    status: 404,
    description: "Unknown, used or expired connect link (not_found)",
    code: "not_found",
    detail: "connect link not found",
    field: None,
    reason_code: None,
};
const INVALID_START: Answer = Answer {
    status: 422,
    description: "Refused: unknown_operation_type (the type is not in the registry), or validation_failed, unknown_field, with the field",
    code: "unknown_operation_type",
    detail: "unknown operation type \"inventory.sync\"",
    field: Some("type"),
    reason_code: None,
};
const TYPE_IN_USE: Answer = Answer {
    status: 409,
    description: "Runs of this type exist (operation_type_in_use)",
    code: "operation_type_in_use",
    detail: "operation type \"inventory.sync\" has runs: it cannot be deleted",
    field: None,
    reason_code: None,
};
const RUN_FINISHED: Answer = Answer {
    status: 409,
    description: "The run is already completed (operation_finished)",
    code: "operation_finished",
    detail: "the operation run is already completed",
    field: None,
    reason_code: None,
};

const REGISTRATION_FAILED: Answer = Answer {
    status: 502,
    description: "The Git service did not create the webhook (webhook_registration_failed); nothing was stored",
    code: "webhook_registration_failed",
    detail: "the provider did not create the webhook: 403 (the access token may not manage the repository's webhooks)",
    field: None,
    reason_code: None,
};
const DELIVERY_MALFORMED: Answer = Answer {
    status: 400,
    description: "The verified delivery is not a JSON document (invalid_webhook_payload); nothing was stored",
    code: "invalid_webhook_payload",
    detail: "the verified delivery is not a JSON document",
    field: None,
    reason_code: None,
};
const DELIVERY_REFUSED: Answer = Answer {
    status: 401,
    description: "Not verified: a missing or wrong signature, or an unknown, inactive or non-repository connection, all alike (webhook_unauthorized); nothing was stored",
    code: "webhook_unauthorized",
    detail: "the delivery could not be verified",
    field: None,
    reason_code: None,
};
const DELIVERY_GONE: Answer = Answer {
    status: 410,
    description: "The repository connection was disconnected (connection_disconnected); nothing was stored",
    code: "connection_disconnected",
    detail: "the repository connection was disconnected",
    field: None,
    reason_code: None,
};
const DELIVERY_TOO_LARGE: Answer = Answer {
    status: 413,
    description: "Body larger than CONNVAULT_WEBHOOK_MAX_BYTES (payload_too_large); nothing was stored",
    code: "payload_too_large",
    detail: "the delivery is larger than the limit",
    field: None,
    reason_code: None,
};

macro_rules! problems {
    ($($(#[$doc:meta])* $name:ident = [$($response:expr),+ $(,)?];)+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    [$($response),+]
                        .iter()
                        .map(|answer| (answer.status.to_string(), problem(answer)))
                        .collect()
                }
            }
        )+
    };
}

problems! {
    /// 401: no or an unknown API key; 503 when the database cannot check it.
    Unauthenticated = [UNAUTHENTICATED, DATABASE_DOWN];
    /// 401, and 403 for every caller but an operator; 503 without a database.
    OperatorOnly = [UNAUTHENTICATED, OPERATORS_ONLY, DATABASE_DOWN];
    /// 400, 401, 403 and 404: what any authorized read of a tenant's resource may answer;
    /// 503 without a database.
    ReadProblems = [
        MALFORMED,
        UNAUTHENTICATED,
        ROLE_NOT_ALLOWED,
        UNKNOWN_RESOURCE,
        DATABASE_DOWN,
    ];
    /// [`ReadProblems`], and 413, 415 and 422 for a JSON body that is refused.
    WriteProblems = [
        MALFORMED,
        UNAUTHENTICATED,
        ROLE_NOT_ALLOWED,
        UNKNOWN_RESOURCE,
        TOO_LARGE,
        NOT_JSON,
        INVALID,
        DATABASE_DOWN,
    ];
    /// 413, 415 and 422: a JSON body that is refused.
    BodyProblems = [TOO_LARGE, NOT_JSON, INVALID];
    /// 400: a malformed id, query or body.
    Malformed = [MALFORMED];
    /// 403 for a role that may not do this.
    RoleNotAllowed = [ROLE_NOT_ALLOWED];
    /// 404 for an unknown resource, or another tenant's.
    UnknownResource = [UNKNOWN_RESOURCE];
    /// 422 for a request that is well formed but refused.
    Invalid = [INVALID];
    /// 409 for a connection that exists already.
    Duplicate = [DUPLICATE];
    /// 409 and 503: a credential that cannot be handed out.
    CredentialUnavailable = [UNUSABLE, PROVIDER_DOWN];
    /// 409 for a connection that cannot be tested.
    NotTestable = [NOT_TESTABLE];
    /// 400 for an OAuth callback whose state names no session.
    InvalidState = [INVALID_STATE, DATABASE_DOWN];
    /// [`WriteProblems`], with the 422 of a start (`unknown_operation_type`).
    StartProblems = [
        MALFORMED,
        UNAUTHENTICATED,
        ROLE_NOT_ALLOWED,
        UNKNOWN_RESOURCE,
        TOO_LARGE,
        NOT_JSON,
        INVALID_START,
        DATABASE_DOWN,
    ];
    /// 409 for an operation type that has runs.
    TypeInUse = [TYPE_IN_USE];
    /// 409 for a run that is already completed.
    RunFinished = [RUN_FINISHED];
    /// 404 for a connect link that does not open.
    UnknownLink = [UNKNOWN_LINK, DATABASE_DOWN];
    /// 502 when the Git service does not create a webhook.
    WebhookRegistrationFailed = [REGISTRATION_FAILED];
    /// What an inbound delivery may be answered besides 200.
    WebhookProblems = [
        DELIVERY_MALFORMED,
        DELIVERY_REFUSED,
        DELIVERY_GONE,
        DELIVERY_TOO_LARGE,
        DATABASE_DOWN,
    ];
}

const WORKERS_ONLY: Answer = Answer {
    status: 403,
    description: "Worker keys only (forbidden)",
    code: "forbidden",
    detail: "this needs a worker key",
    field: None,
    reason_code: None,
};
const CLAIM_MALFORMED: Answer = Answer {
    status: 400,
    description: "No X-Claim-Token header (claim_token_missing), or a malformed run id (invalid_id)",
    code: "claim_token_missing",
    detail: "send the claim token of the run as X-Claim-Token",
    field: Some("X-Claim-Token"),
    reason_code: None,
};
const CLAIM_LOST: Answer = Answer {
    status: 409,
    description: "The claim token does not hold the run (claim_lost): the run was taken back from a silent worker and claimed again, it completed, or the token is not its",
    code: "claim_lost",
    detail: "this claim token does not hold the run: the run was taken back, completed, or never claimed with it",
    field: None,
    reason_code: None,
};
const CLAIMED_CREDENTIAL_CONFLICT: Answer = Answer {
    status: 409,
    description: "The claim token does not hold the run (claim_lost), or the run's connection cannot be used: connection_needs_reauth (with reason_code) or connection_unusable",
    code: "claim_lost",
    detail: "this claim token does not hold the run: the run was taken back, completed, or never claimed with it",
    field: None,
    reason_code: None,
};
const NO_CREDENTIAL: Answer = Answer {
    status: 404,
    description: "The run's connection holds no credential (not_found)",
    code: "not_found",
    detail: "credential not found",
    field: None,
    reason_code: None,
};

problems! {
    /// 401, 403 for every key but a worker's; 503 without a database.
    WorkerOnly = [UNAUTHENTICATED, WORKERS_ONLY, DATABASE_DOWN];
    /// What a worker's call on a claimed run may answer: 400 without a token, 401, 403
    /// for other keys, 409 `claim_lost`, 503.
    ClaimHeld = [CLAIM_MALFORMED, UNAUTHENTICATED, WORKERS_ONLY, CLAIM_LOST, DATABASE_DOWN];
    /// [`ClaimHeld`] for the credential read: 404 without a credential, 409 also for an
    /// unusable connection, 503 also when the provider cannot renew an expired token.
    ClaimedCredential = [
        CLAIM_MALFORMED,
        UNAUTHENTICATED,
        WORKERS_ONLY,
        NO_CREDENTIAL,
        CLAIMED_CREDENTIAL_CONFLICT,
        PROVIDER_DOWN,
    ];
}
