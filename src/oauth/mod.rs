//! OAuth 2.0 as a client: provider profiles read from the catalog, the token endpoint
//! client, PKCE and the random values of a flow.

pub mod client;
pub mod profile;

pub use client::{ClientSecret, Grant, TokenClient, TokenError, TokenSet};
pub use profile::{ClientAuth, Identity, OAuthProfile};

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// `n` random bytes, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    let out = URL_SAFE_NO_PAD.encode(&bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    out
}

/// A PKCE verifier (RFC 7636: 43 characters from 32 random bytes).
pub fn pkce_verifier() -> SecretString {
    SecretString::from(random_token(32))
}

/// The S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &SecretString) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose_secret().as_bytes()))
}

/// SHA-256 of a bearer value (connect token, state), as stored.
pub fn hash(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}
