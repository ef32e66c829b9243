//! The ciphertext format, version 1:
//!
//! ```text
//! [0x01][data key id: u32 BE][nonce: 12 bytes][AES-256-GCM ciphertext + 16-byte tag]
//! ```
//!
//! The associated data binds the ciphertext to its place: a domain string, the format
//! version, the key id, the tenant id, the row id and the field name. A ciphertext
//! copied to another tenant, row or field, or with a byte changed, fails to open.

use aes_gcm::Aes256Gcm;
use aes_gcm::Nonce;
use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const DOMAIN: &[u8] = b"connvault/secret";

/// Where a ciphertext lives: its tenant, its row and its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding<'a> {
    pub tenant: Uuid,
    pub row: Uuid,
    pub field: &'a str,
}

impl Binding<'_> {
    fn aad(&self, version: u8, key_id: u32) -> Vec<u8> {
        let mut aad = Vec::with_capacity(DOMAIN.len() + 1 + 4 + 32 + 1 + self.field.len());
        aad.extend_from_slice(DOMAIN);
        aad.push(version);
        aad.extend_from_slice(&key_id.to_be_bytes());
        aad.extend_from_slice(self.tenant.as_bytes());
        aad.extend_from_slice(self.row.as_bytes());
        // Length-prefixed, so no two (row, field) pairs share an encoding.
        aad.push(u8::try_from(self.field.len()).unwrap_or(u8::MAX));
        aad.extend_from_slice(self.field.as_bytes());
        aad
    }
}

/// The data key id a ciphertext names, read from its header.
pub fn key_id_of(ciphertext: &[u8]) -> Result<u32> {
    if ciphertext.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || ciphertext[0] != FORMAT_V1 {
        return Err(Error::MalformedCiphertext);
    }
    let mut id = [0u8; 4];
    id.copy_from_slice(&ciphertext[1..HEADER_LEN]);
    Ok(u32::from_be_bytes(id))
}

/// Encrypts `plaintext` under `cipher` (data key `key_id`) with a fresh random nonce.
pub(crate) fn seal(
    cipher: &Aes256Gcm,
    key_id: u32,
    binding: Binding<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let aad = binding.aad(FORMAT_V1, key_id);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::Decrypt)?;
    let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts a ciphertext made by [`seal`] for the same binding.
pub(crate) fn open(
    cipher: &Aes256Gcm,
    binding: Binding<'_>,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let key_id = key_id_of(ciphertext)?;
    let nonce: [u8; NONCE_LEN] = ciphertext[HEADER_LEN..HEADER_LEN + NONCE_LEN]
        .try_into()
        .map_err(|_| Error::MalformedCiphertext)?;
    let sealed = &ciphertext[HEADER_LEN + NONCE_LEN..];
    let aad = binding.aad(FORMAT_V1, key_id);
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::Decrypt)
}
