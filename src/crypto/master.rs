//! The master key: 32 random bytes that wrap the data keys. It comes from
//! `CONNVAULT_MASTER_KEY` (base64) or a key file, and never enters the database; only
//! its fingerprint does.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const NONCE_LEN: usize = 12;
const WRAP_AAD: &[u8] = b"connvault/data-key/v1";

pub struct MasterKey {
    key: SecretBox<[u8; 32]>,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    fn from_bytes(bytes: [u8; 32]) -> Self {
        let key = SecretBox::new(Box::new(bytes));
        let digest = Sha256::new()
            .chain_update(b"connvault/master-key-id/v1")
            .chain_update(key.expose_secret())
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self { key, id }
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let key = Self::from_bytes(bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        key
    }

    /// Decodes the base64 form (standard alphabet, 32 bytes).
    pub fn from_base64(text: &str) -> Result<Self> {
        let decoded = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| {
            Error::MasterKey("not valid base64 (expected 32 bytes, base64-encoded)".into())
        })?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            Error::MasterKey(format!(
                "must be 32 bytes, got {} (generate one with `connvault keys generate-master-key`)",
                decoded.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// Reads a key file holding the base64 form.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            Error::MasterKey(format!("cannot read key file {}: {e}", path.display()))
        })?);
        Self::from_base64(&text)
            .map_err(|e| Error::MasterKey(format!("key file {}: {e}", path.display())))
    }

    /// Writes this key to a new file readable by its owner only (mode 0600). Refuses to
    /// overwrite an existing file.
    pub fn write_new_file(&self, path: &Path) -> Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| {
            Error::MasterKey(format!("cannot create key file {}: {e}", path.display()))
        })?;
        let encoded = Zeroizing::new(STANDARD.encode(self.key.expose_secret()));
        file.write_all(encoded.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::MasterKey(format!("cannot write key file {}: {e}", path.display())))
    }

    /// Fingerprint stored beside each wrapped data key; reveals nothing of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A key for `purpose` (HMAC-SHA256 of the label under the master key): every
    /// replica with the same master key derives the same one, and it reveals nothing of
    /// the master key. The web pages sign their session cookies and CSRF tokens with it.
    pub fn derive(&self, purpose: &str) -> SecretBox<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(b"connvault/derive/v1/");
        mac.update(purpose.as_bytes());
        SecretBox::new(Box::new(mac.finalize().into_bytes().into()))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.expose_secret().into())
    }

    fn aad(key_id: u32) -> Vec<u8> {
        let mut aad = WRAP_AAD.to_vec();
        aad.extend_from_slice(&key_id.to_be_bytes());
        aad
    }

    /// Encrypts a data key, bound to its id.
    pub(crate) fn wrap(&self, key_id: u32, data_key: &[u8; 32]) -> Result<Vec<u8>> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = Self::aad(key_id);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: data_key,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::MasterKey("cannot wrap data key".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a data key; fails if this is not the master key that wrapped it.
    pub(crate) fn unwrap(&self, key_id: u32, wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        if wrapped.len() <= NONCE_LEN {
            return Err(Error::MalformedCiphertext);
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::MalformedCiphertext)?;
        let aad = Self::aad(key_id);
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: sealed,
                        aad: &aad,
                    },
                )
                .map_err(|_| {
                    Error::MasterKey(format!(
                        "data key {key_id} does not open with the configured master key ({})",
                        self.id
                    ))
                })?,
        );
        let mut out = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(Error::MalformedCiphertext);
        }
        out.copy_from_slice(&plain);
        Ok(out)
    }
}
