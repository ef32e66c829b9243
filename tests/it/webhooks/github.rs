//! GitHub: `X-Hub-Signature-256` over real payloads, signed by GitHub's own signer.

use connvault::models::ServiceType::{Bitbucket, GitHub, GitLab};
use connvault::webhooks::{Refusal, Scheme};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{new_secret, secret, sign, sign_one, tampered};

/// GitHub's documented example: this secret and payload give this signature.
const VECTOR_SECRET: &str = "It's a Secret to Everybody";
const VECTOR_BODY: &str = "Hello, World!";
const VECTOR_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

#[test]
fn githubs_documented_test_vector_verifies() {
    let key = secret(VECTOR_SECRET);
    let delivery = sign_one(json!({
        "kind": "github", "secret": VECTOR_SECRET, "body": VECTOR_BODY, "event": "ping",
        "delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }));
    // GitHub's signer agrees with GitHub's documentation …
    assert_eq!(delivery.header("x-hub-signature-256"), VECTOR_SIGNATURE);
    // … and connvault accepts it.
    let verified = delivery
        .verify(GitHub, &[&key])
        .expect("the documented vector verifies");
    assert_eq!(verified.delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(verified.event_type, "ping");
    assert_eq!(verified.scheme, Scheme::GitHubHmacSha256);
    assert_eq!(verified.secret_index, 0);
    // One character off in the body, or in the secret, and it does not.
    let other = delivery.with_body(b"Hello, World?");
    assert_eq!(
        other.verify(GitHub, &[&key]),
        Err(Refusal::SignatureMismatch)
    );
    let close = secret("It's a Secret to Everybody!");
    assert_eq!(
        delivery.verify(GitHub, &[&close]),
        Err(Refusal::SignatureMismatch)
    );
}

#[test]
fn every_real_github_payload_signed_by_github_verifies() {
    let key = new_secret();
    let deliveries =
        sign(json!([{"kind": "github-examples", "secret": key.expose_secret()}])).remove(0);
    assert!(
        deliveries.len() > 300,
        "{} example payloads",
        deliveries.len()
    );
    let mut events = std::collections::BTreeSet::new();
    for delivery in &deliveries {
        let verified = delivery
            .verify(GitHub, &[&key])
            .unwrap_or_else(|r| panic!("{} payload refused: {r}", delivery.event));
        assert_eq!(verified.event_type, delivery.event);
        assert_eq!(verified.delivery_id, delivery.header("x-github-delivery"));
        assert_eq!(verified.scheme, Scheme::GitHubHmacSha256);
        assert_eq!(verified.headers["x-github-hook-id"], "292430182");
        assert_eq!(verified.headers["x-github-event"], delivery.event);
        assert!(verified.headers["user-agent"].starts_with("GitHub-Hookshot/"));
        assert!(!verified.headers.contains_key("x-hub-signature-256"));
        assert!(!verified.headers.contains_key("content-type"));
        events.insert(delivery.event.clone());
    }
    for event in [
        "push",
        "ping",
        "pull_request",
        "issues",
        "release",
        "workflow_run",
    ] {
        assert!(events.contains(event), "{event} is among the examples");
    }
}

fn push_delivery(secret: &secrecy::SecretString) -> super::Delivery {
    let deliveries =
        sign(json!([{"kind": "github-examples", "secret": secret.expose_secret()}])).remove(0);
    deliveries
        .into_iter()
        .find(|d| d.event == "push")
        .expect("a push example")
}

#[test]
fn altered_github_deliveries_are_refused() {
    let key = new_secret();
    let delivery = push_delivery(&key);
    assert!(delivery.verify(GitHub, &[&key]).is_ok());

    // A changed byte, a wrong secret, another body's signature.
    let body = tampered(&delivery.body);
    assert_eq!(
        delivery.with_body(&body).verify(GitHub, &[&key]),
        Err(Refusal::SignatureMismatch)
    );
    let wrong = new_secret();
    assert_eq!(
        delivery.verify(GitHub, &[&wrong]),
        Err(Refusal::SignatureMismatch)
    );
    let other = sign_one(
        json!({"kind": "github", "secret": key.expose_secret(), "body": "{\"zen\":\"Keep it logically awesome.\"}", "event": "ping"}),
    );
    let swapped = delivery.with("x-hub-signature-256", other.header("x-hub-signature-256"));
    assert_eq!(
        swapped.verify(GitHub, &[&key]),
        Err(Refusal::SignatureMismatch)
    );
    // A body with a byte appended, or cut short.
    let mut longer = delivery.body.clone();
    longer.push(b'\n');
    assert_eq!(
        delivery.with_body(&longer).verify(GitHub, &[&key]),
        Err(Refusal::SignatureMismatch)
    );
    let shorter = &delivery.body[..delivery.body.len() - 1];
    assert_eq!(
        delivery.with_body(shorter).verify(GitHub, &[&key]),
        Err(Refusal::SignatureMismatch)
    );

    // Missing or malformed headers.
    assert_eq!(
        delivery
            .without("x-hub-signature-256")
            .verify(GitHub, &[&key]),
        Err(Refusal::MissingSignature)
    );
    assert_eq!(
        delivery
            .without("x-github-delivery")
            .verify(GitHub, &[&key]),
        Err(Refusal::MissingDeliveryId)
    );
    assert_eq!(
        delivery
            .with("x-github-delivery", "  ")
            .verify(GitHub, &[&key]),
        Err(Refusal::MissingDeliveryId)
    );
    assert_eq!(
        delivery.without("x-github-event").verify(GitHub, &[&key]),
        Err(Refusal::MissingEventType)
    );
    assert_eq!(
        delivery
            .with("x-github-delivery", &"d".repeat(201))
            .verify(GitHub, &[&key]),
        Err(Refusal::InvalidHeader)
    );
    assert_eq!(
        delivery
            .with_another("x-github-delivery", "another-id")
            .verify(GitHub, &[&key]),
        Err(Refusal::InvalidHeader)
    );
    let signature = delivery.header("x-hub-signature-256").to_owned();
    let hex = signature.strip_prefix("sha256=").unwrap();
    for malformed in [
        format!("sha1={hex}"),
        format!("SHA256={hex}"),
        hex.to_owned(),
        format!("sha256={}", &hex[..62]),
        format!("sha256={hex}00"),
        format!("sha256={}zz", &hex[..62]),
        "sha256=".to_owned(),
    ] {
        assert_eq!(
            delivery
                .with("x-hub-signature-256", &malformed)
                .verify(GitHub, &[&key]),
            Err(Refusal::MalformedSignature),
            "{malformed}"
        );
    }
    assert_eq!(
        delivery
            .with_another("x-hub-signature-256", &signature)
            .verify(GitHub, &[&key]),
        Err(Refusal::MalformedSignature)
    );
    // GitHub's legacy SHA-1 header alone is not enough.
    let legacy = delivery
        .without("x-hub-signature-256")
        .with("x-hub-signature", &format!("sha1={}", &hex[..40]));
    assert_eq!(
        legacy.verify(GitHub, &[&key]),
        Err(Refusal::MissingSignature)
    );

    // No secret at all; an empty secret matches nothing.
    assert_eq!(delivery.verify(GitHub, &[]), Err(Refusal::NoSecret));
    let empty = secrecy::SecretString::from(String::new());
    assert_eq!(delivery.verify(GitHub, &[&empty]), Err(Refusal::NoSecret));

    // A GitHub delivery is not a delivery of another service.
    assert_eq!(
        delivery.verify(Bitbucket, &[&key]),
        Err(Refusal::MissingSignature)
    );
    assert_eq!(
        delivery.verify(GitLab, &[&key]),
        Err(Refusal::MissingSignature)
    );
}

#[test]
fn during_a_rotation_either_secret_verifies() {
    let previous = new_secret();
    let current = new_secret();
    let old = push_delivery(&previous);
    let new = push_delivery(&current);
    let both = [&current, &previous];
    assert_eq!(new.verify(GitHub, &both).unwrap().secret_index, 0);
    assert_eq!(old.verify(GitHub, &both).unwrap().secret_index, 1);
    // Once the previous secret is dropped, its deliveries are refused.
    assert_eq!(
        old.verify(GitHub, &[&current]),
        Err(Refusal::SignatureMismatch)
    );
}
