//! GitLab: the secret token, and signing tokens by the Standard Webhooks scheme signed
//! by the `standardwebhooks` library, over GitLab's documented push payload.

use chrono::{DateTime, Duration, Utc};
use connvault::models::ServiceType::{GitHub, GitLab};
use connvault::webhooks::{Refusal, Scheme, TOLERANCE_SECS};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Delivery, new_secret, payload, secret, sign_one, tampered};

const IDEMPOTENCY_KEY: &str = "a9ea4f3a-1b2c-4d5e-8f90-123456789abc";

fn token_delivery(secret: &SecretString) -> Delivery {
    sign_one(json!({
        "kind": "gitlab-token", "secret": secret.expose_secret(), "body": payload("gitlab-push.json"),
        "event": "Push Hook", "idempotency_key": IDEMPOTENCY_KEY,
    }))
}

/// A delivery signed at `at` by each of `secrets`, listed in one header.
fn signed_delivery(secrets: &[&SecretString], at: DateTime<Utc>, id: &str) -> Delivery {
    let secrets: Vec<&str> = secrets.iter().map(|s| s.expose_secret()).collect();
    sign_one(json!({
        "kind": "gitlab-signing", "secrets": secrets, "body": payload("gitlab-push.json"),
        "event": "Push Hook", "id": id, "timestamp": at.timestamp(),
    }))
}

#[test]
fn a_gitlab_secret_token_verifies() {
    let key = secret("glpat-like-hook-token-0123456789");
    let delivery = token_delivery(&key);
    let verified = delivery
        .verify(GitLab, &[&key])
        .expect("the token verifies");
    assert_eq!(verified.scheme, Scheme::GitLabToken);
    assert_eq!(verified.delivery_id, IDEMPOTENCY_KEY);
    assert_eq!(verified.event_type, "Push Hook");
    assert_eq!(verified.headers["x-gitlab-instance"], "https://gitlab.com");
    assert_eq!(verified.headers["idempotency-key"], IDEMPOTENCY_KEY);
    assert!(verified.headers.contains_key("x-gitlab-event-uuid"));
    // The token is the secret itself: never kept.
    assert!(!verified.headers.contains_key("x-gitlab-token"));
    assert!(
        verified
            .headers
            .values()
            .all(|v| !v.contains(key.expose_secret()))
    );
    // A generated secret serves as a token too.
    let generated = new_secret();
    assert!(
        token_delivery(&generated)
            .verify(GitLab, &[&generated])
            .is_ok()
    );
}

#[test]
fn wrong_or_missing_gitlab_tokens_are_refused() {
    let key = secret("glpat-like-hook-token-0123456789");
    let delivery = token_delivery(&key);
    for wrong in [
        "glpat-like-hook-token-012345678",
        "glpat-like-hook-token-01234567890",
        "GLPAT-LIKE-HOOK-TOKEN-0123456789",
        "x",
    ] {
        assert_eq!(
            delivery
                .with("x-gitlab-token", wrong)
                .verify(GitLab, &[&key]),
            Err(Refusal::SignatureMismatch),
            "{wrong}"
        );
    }
    assert_eq!(
        delivery.without("x-gitlab-token").verify(GitLab, &[&key]),
        Err(Refusal::MissingSignature)
    );
    assert_eq!(
        delivery
            .with_another("x-gitlab-token", key.expose_secret())
            .verify(GitLab, &[&key]),
        Err(Refusal::MalformedSignature)
    );
    assert_eq!(
        delivery.without("x-gitlab-event").verify(GitLab, &[&key]),
        Err(Refusal::MissingEventType)
    );
    assert_eq!(
        delivery.without("idempotency-key").verify(GitLab, &[&key]),
        Err(Refusal::MissingDeliveryId)
    );
    // Without Idempotency-Key, webhook-id names the delivery.
    let with_id = delivery
        .without("idempotency-key")
        .with("webhook-id", "msg_2b8c");
    assert_eq!(
        with_id.verify(GitLab, &[&key]).unwrap().delivery_id,
        "msg_2b8c"
    );
    // A token is checked against each secret: rotation.
    let next = new_secret();
    assert_eq!(
        delivery
            .verify(GitLab, &[&next, &key])
            .unwrap()
            .secret_index,
        1
    );
    assert_eq!(
        delivery.verify(GitLab, &[&next]),
        Err(Refusal::SignatureMismatch)
    );
    // A GitLab delivery is not a GitHub one.
    assert_eq!(
        delivery.verify(GitHub, &[&key]),
        Err(Refusal::MissingSignature)
    );
}

#[test]
fn a_standard_webhooks_signature_verifies() {
    let key = new_secret();
    let now = Utc::now();
    let delivery = signed_delivery(&[&key], now, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
    let verified = delivery
        .verify_at(GitLab, &[&key], now)
        .expect("the signature verifies");
    assert_eq!(verified.scheme, Scheme::StandardWebhooks);
    assert_eq!(verified.delivery_id, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
    assert_eq!(verified.event_type, "Push Hook");
    assert_eq!(
        verified.headers["webhook-id"],
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    );
    assert!(!verified.headers.contains_key("webhook-signature"));
    // The library's own test vector verifies too.
    let vector = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let at = DateTime::from_timestamp(1_614_265_330, 0).unwrap();
    let delivery = Delivery {
        event: "Push Hook".into(),
        body: br#"{"test": 2432232314}"#.to_vec(),
        headers: Default::default(),
    }
    .with("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
    .with("webhook-timestamp", "1614265330")
    .with(
        "webhook-signature",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    )
    .with("x-gitlab-event", "Push Hook");
    assert!(delivery.verify_at(GitLab, &[&vector], at).is_ok());
    assert_eq!(
        delivery
            .with_body(br#"{"test": 2432232315}"#)
            .verify_at(GitLab, &[&vector], at),
        Err(Refusal::SignatureMismatch)
    );
}

#[test]
fn signatures_are_accepted_only_within_five_minutes_either_way() {
    let key = new_secret();
    let sent = Utc::now();
    let delivery = signed_delivery(&[&key], sent, "msg_window");
    let tolerance = Duration::seconds(TOLERANCE_SECS);
    assert_eq!(TOLERANCE_SECS, 300);
    for now in [sent, sent + tolerance, sent - tolerance] {
        assert!(delivery.verify_at(GitLab, &[&key], now).is_ok(), "at {now}");
    }
    let second = Duration::seconds(1);
    assert_eq!(
        delivery.verify_at(GitLab, &[&key], sent + tolerance + second),
        Err(Refusal::StaleTimestamp)
    );
    assert_eq!(
        delivery.verify_at(GitLab, &[&key], sent - tolerance - second),
        Err(Refusal::FutureTimestamp)
    );
    // An hour-old delivery signed by the library is refused now.
    let old = signed_delivery(&[&key], sent - Duration::hours(1), "msg_old");
    assert_eq!(
        old.verify_at(GitLab, &[&key], sent),
        Err(Refusal::StaleTimestamp)
    );
    // Moving the timestamp into the window breaks the signature.
    let moved = old.with("webhook-timestamp", &sent.timestamp().to_string());
    assert_eq!(
        moved.verify_at(GitLab, &[&key], sent),
        Err(Refusal::SignatureMismatch)
    );
    for bad in ["", "-5", "1.5", "0x10", "abc", "1234567890123"] {
        assert_eq!(
            delivery
                .with("webhook-timestamp", bad)
                .verify_at(GitLab, &[&key], sent),
            Err(Refusal::MalformedTimestamp),
            "{bad:?}"
        );
    }
}

#[test]
fn altered_signed_deliveries_are_refused() {
    let key = new_secret();
    let now = Utc::now();
    let delivery = signed_delivery(&[&key], now, "msg_altered");
    let check = |d: &Delivery| d.verify_at(GitLab, &[&key], now);
    assert!(check(&delivery).is_ok());
    assert_eq!(
        check(&delivery.with_body(&tampered(&delivery.body))),
        Err(Refusal::SignatureMismatch)
    );
    // The id is inside the signature: a replay under a new id does not verify.
    assert_eq!(
        check(&delivery.with("webhook-id", "msg_replayed")),
        Err(Refusal::SignatureMismatch)
    );
    let wrong = new_secret();
    assert_eq!(
        delivery.verify_at(GitLab, &[&wrong], now),
        Err(Refusal::SignatureMismatch)
    );
    // Another delivery's signature.
    let other = signed_delivery(&[&key], now, "msg_other");
    assert_eq!(
        check(&delivery.with("webhook-signature", other.header("webhook-signature"))),
        Err(Refusal::SignatureMismatch)
    );
    // Missing and malformed headers.
    assert_eq!(
        check(&delivery.without("webhook-id")),
        Err(Refusal::MissingSigningHeader)
    );
    assert_eq!(
        check(&delivery.without("webhook-timestamp")),
        Err(Refusal::MissingSigningHeader)
    );
    assert_eq!(
        check(&delivery.without("x-gitlab-event")),
        Err(Refusal::MissingEventType)
    );
    assert_eq!(
        check(&delivery.without("webhook-signature")),
        Err(Refusal::MissingSignature)
    );
    let signature = delivery.header("webhook-signature").to_owned();
    let b64 = signature.strip_prefix("v1,").unwrap();
    for malformed in [
        format!("v2,{b64}"),
        format!("v1a,{b64}"),
        b64.to_owned(),
        format!("v1,{}", &b64[..20]),
        "v1,not base64!".to_owned(),
        String::new(),
    ] {
        assert_eq!(
            check(&delivery.with("webhook-signature", &malformed)),
            Err(Refusal::MalformedSignature),
            "{malformed:?}"
        );
    }
    // A secret that is not a whsec_ key cannot check a signature.
    let plain = secret("plain-token-not-a-signing-key");
    assert_eq!(
        delivery.verify_at(GitLab, &[&plain], now),
        Err(Refusal::NoSigningKey)
    );
}

#[test]
fn several_signatures_and_rotation() {
    let previous = new_secret();
    let current = new_secret();
    let unknown = new_secret();
    let now = Utc::now();
    // A sender rotating its key signs with both: either secret of ours verifies.
    let both = signed_delivery(&[&unknown, &current], now, "msg_two");
    assert_eq!(both.header("webhook-signature").split(' ').count(), 2);
    assert_eq!(
        both.verify_at(GitLab, &[&current], now)
            .unwrap()
            .secret_index,
        0
    );
    assert_eq!(
        both.verify_at(GitLab, &[&previous, &current], now)
            .unwrap()
            .secret_index,
        1
    );
    assert_eq!(
        both.verify_at(GitLab, &[&previous], now),
        Err(Refusal::SignatureMismatch)
    );
    // Our rotation: the previous secret still verifies until it is dropped.
    let old = signed_delivery(&[&previous], now, "msg_prev");
    assert_eq!(
        old.verify_at(GitLab, &[&current, &previous], now)
            .unwrap()
            .secret_index,
        1
    );
    assert_eq!(
        old.verify_at(GitLab, &[&current], now),
        Err(Refusal::SignatureMismatch)
    );
}

#[test]
fn a_valid_token_stands_when_a_signature_beside_it_fails() {
    // A hook with both a secret token and a signing token: either proves the sender.
    let token = secret("glpat-like-hook-token-0123456789");
    let signing = new_secret();
    let now = Utc::now();
    let signed = signed_delivery(&[&signing], now, "msg_both");
    let with_token = signed.with("x-gitlab-token", token.expose_secret());
    let verified = with_token.verify_at(GitLab, &[&token], now).unwrap();
    assert_eq!(verified.scheme, Scheme::GitLabToken);
    assert_eq!(verified.delivery_id, "msg_both");
    // With the signing key, the signature wins.
    let verified = with_token.verify_at(GitLab, &[&signing], now).unwrap();
    assert_eq!(verified.scheme, Scheme::StandardWebhooks);
    // Neither proves anything when both are wrong.
    let wrong = new_secret();
    assert_eq!(
        with_token.verify_at(GitLab, &[&wrong], now),
        Err(Refusal::SignatureMismatch)
    );
}
