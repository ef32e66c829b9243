//! The event types, the JSON body every endpoint receives, and which activity entries
//! are events. Every `data` is built from ids, statuses, reason codes and sanitized
//! text: the activity details it copies never hold a secret (see `models::activity`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::models::activity::Action;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    ConnectionCreated,
    ConnectionStatusChanged,
    ConnectionHealthChanged,
    ConnectionDisconnected,
    ConnectionDeleted,
    TokenRefreshFailed,
    TokenRefreshRecovered,
    OperationBlocked,
    OperationCompleted,
    RepositoryEvent,
    EndpointDisabled,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::ConnectionCreated,
        EventType::ConnectionStatusChanged,
        EventType::ConnectionHealthChanged,
        EventType::ConnectionDisconnected,
        EventType::ConnectionDeleted,
        EventType::TokenRefreshFailed,
        EventType::TokenRefreshRecovered,
        EventType::OperationBlocked,
        EventType::OperationCompleted,
        EventType::RepositoryEvent,
        EventType::EndpointDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConnectionCreated => "connection.created",
            EventType::ConnectionStatusChanged => "connection.status_changed",
            EventType::ConnectionHealthChanged => "connection.health_changed",
            EventType::ConnectionDisconnected => "connection.disconnected",
            EventType::ConnectionDeleted => "connection.deleted",
            EventType::TokenRefreshFailed => "token.refresh_failed",
            EventType::TokenRefreshRecovered => "token.refresh_recovered",
            EventType::OperationBlocked => "operation.blocked",
            EventType::OperationCompleted => "operation.completed",
            EventType::RepositoryEvent => "repository.event",
            EventType::EndpointDisabled => "endpoint.disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The id an event is known by outside (`webhook-id` and the body's `id`).
pub fn public_id(id: Uuid) -> String {
    format!("evt_{}", id.simple())
}

/// The body sent to every endpoint: `{"id","type","timestamp","tenant_id","data"}`.
pub fn body(
    id: Uuid,
    event_type: EventType,
    at: DateTime<Utc>,
    tenant: Option<Uuid>,
    data: Value,
) -> String {
    json!({
        "id": public_id(id),
        "type": event_type.as_str(),
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "tenant_id": tenant,
        "data": data,
    })
    .to_string()
}

/// The event an activity entry reports, if any, with its `data`: the connection (or
/// run) ids, the provider, who did it, and the entry's details.
pub fn from_activity(
    action: Action,
    connection_id: Option<Uuid>,
    provider: Option<&str>,
    actor: &str,
    details: &Value,
) -> Option<(EventType, Value)> {
    let event_type = match action {
        Action::Connected => EventType::ConnectionCreated,
        Action::RepositoryConnected
            if details.get("created").and_then(Value::as_bool) == Some(true) =>
        {
            EventType::ConnectionCreated
        }
        Action::StatusChanged => EventType::ConnectionStatusChanged,
        Action::HealthChanged => EventType::ConnectionHealthChanged,
        Action::Disconnected => EventType::ConnectionDisconnected,
        Action::Deleted => EventType::ConnectionDeleted,
        Action::RefreshFailed => EventType::TokenRefreshFailed,
        Action::RefreshRecovered => EventType::TokenRefreshRecovered,
        Action::OperationBlocked => EventType::OperationBlocked,
        Action::OperationCompleted => EventType::OperationCompleted,
        _ => return None,
    };
    let mut data = Map::new();
    data.insert("connection_id".into(), json!(connection_id));
    data.insert("provider".into(), json!(provider));
    data.insert("actor".into(), json!(actor));
    if let Some(details) = details.as_object() {
        for (k, v) in details {
            data.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Some((event_type, Value::Object(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_back() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("connection.exploded"), None);
    }

    #[test]
    fn api_key_entries_are_not_events() {
        assert!(from_activity(Action::ApiKeyCreated, None, None, "cli", &json!({})).is_none());
        let repo = json!({"created": false});
        assert!(from_activity(Action::RepositoryConnected, None, None, "a", &repo).is_none());
    }
}
