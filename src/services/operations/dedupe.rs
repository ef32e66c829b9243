//! The identity of a run for deduplication: SHA-256 (hex) of its type, connection and
//! target scope, with the scope's object keys in sorted order so that the same scope
//! written differently is the same run.

use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The dedupe key of a run of `operation_type` on `connection` for `target_scope`.
pub fn key(operation_type: &str, connection: Uuid, target_scope: &Value) -> String {
    let mut text = String::new();
    canonical(&Value::String(operation_type.to_owned()), &mut text);
    text.push('\n');
    text.push_str(&connection.to_string());
    text.push('\n');
    canonical(target_scope, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON with object keys sorted at every depth, whatever map order serde_json keeps.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(&Value::String(k.clone()), out);
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        // Scalars have one serialization.
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::key;

    #[test]
    fn the_same_scope_in_another_key_order_is_the_same_run() {
        let c = Uuid::new_v4();
        let a = key(
            "inventory.sync",
            c,
            &json!({"site": "x", "list": {"b": 1, "a": [1, 2]}}),
        );
        let b = key(
            "inventory.sync",
            c,
            &json!({"list": {"a": [1, 2], "b": 1}, "site": "x"}),
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn type_connection_and_scope_each_tell_runs_apart() {
        let c = Uuid::new_v4();
        let base = key("inventory.sync", c, &json!({"site": "x"}));
        assert_ne!(base, key("inventory.push", c, &json!({"site": "x"})));
        assert_ne!(
            base,
            key("inventory.sync", Uuid::new_v4(), &json!({"site": "x"}))
        );
        assert_ne!(base, key("inventory.sync", c, &json!({"site": "y"})));
        assert_ne!(base, key("inventory.sync", c, &json!({})));
    }
}
