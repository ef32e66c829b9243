//! Bitbucket Cloud: `X-Hub-Signature: sha256=<hex>` with its documented headers.

use connvault::models::ServiceType::{Bitbucket, GitHub};
use connvault::webhooks::{Refusal, Scheme};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Delivery, new_secret, payload, sign_one, tampered};

const REQUEST_UUID: &str = "0a5c6a70-43c3-4a77-9e3a-0e1c2d3f4a5b";

fn delivery(secret: &SecretString) -> Delivery {
    sign_one(json!({
        "kind": "bitbucket", "secret": secret.expose_secret(), "body": payload("bitbucket-repo-push.json"),
        "event": "repo:push", "request_uuid": REQUEST_UUID,
    }))
}

#[test]
fn a_bitbucket_delivery_verifies() {
    let key = new_secret();
    let delivery = delivery(&key);
    let verified = delivery
        .verify(Bitbucket, &[&key])
        .expect("the signature verifies");
    assert_eq!(verified.scheme, Scheme::BitbucketHmacSha256);
    assert_eq!(verified.delivery_id, REQUEST_UUID);
    assert_eq!(verified.event_type, "repo:push");
    assert_eq!(verified.headers["x-attempt-number"], "1");
    assert!(verified.headers["x-hook-uuid"].starts_with('{'));
    assert_eq!(verified.headers["user-agent"], "Bitbucket-Webhooks/2.0");
    assert!(!verified.headers.contains_key("x-hub-signature"));
}

#[test]
fn altered_bitbucket_deliveries_are_refused() {
    let key = new_secret();
    let delivery = delivery(&key);
    assert_eq!(
        delivery
            .with_body(&tampered(&delivery.body))
            .verify(Bitbucket, &[&key]),
        Err(Refusal::SignatureMismatch)
    );
    let wrong = new_secret();
    assert_eq!(
        delivery.verify(Bitbucket, &[&wrong]),
        Err(Refusal::SignatureMismatch)
    );
    assert_eq!(
        delivery
            .verify(Bitbucket, &[&wrong, &key])
            .unwrap()
            .secret_index,
        1
    );
    assert_eq!(
        delivery
            .without("x-hub-signature")
            .verify(Bitbucket, &[&key]),
        Err(Refusal::MissingSignature)
    );
    assert_eq!(
        delivery
            .without("x-request-uuid")
            .verify(Bitbucket, &[&key]),
        Err(Refusal::MissingDeliveryId)
    );
    assert_eq!(
        delivery.without("x-event-key").verify(Bitbucket, &[&key]),
        Err(Refusal::MissingEventType)
    );
    let hex = delivery
        .header("x-hub-signature")
        .strip_prefix("sha256=")
        .unwrap()
        .to_owned();
    assert_eq!(
        delivery
            .with("x-hub-signature", &format!("sha1={}", &hex[..40]))
            .verify(Bitbucket, &[&key]),
        Err(Refusal::MalformedSignature)
    );
    // The same signature under GitHub's header name is not a GitHub delivery: the
    // delivery id and event headers differ.
    let as_github = delivery.with("x-hub-signature-256", &format!("sha256={hex}"));
    assert_eq!(
        as_github.verify(GitHub, &[&key]),
        Err(Refusal::MissingDeliveryId)
    );
}
