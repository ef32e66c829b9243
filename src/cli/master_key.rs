//! Where the master key comes from: `CONNVAULT_MASTER_KEY` (base64), or
//! `CONNVAULT_MASTER_KEY_FILE`, or — for the local and test profiles only — a key file
//! beside the SQLite database, created on first start.

use std::path::{Path, PathBuf};

use crate::config::{GlobalArgs, Profile};
use crate::crypto::MasterKey;

/// The environment variable holding the base64 master key. Read from the environment
/// only, never from a flag, so it does not show in process listings.
pub const MASTER_KEY_ENV: &str = "CONNVAULT_MASTER_KEY";

/// The file name of the key made for local runs.
pub const LOCAL_KEY_FILE: &str = "connvault.master.key";

/// Resolves the master key. With `create_if_missing`, the local and test profiles make
/// a key file when none is configured or present.
pub fn resolve(global: &GlobalArgs, create_if_missing: bool) -> anyhow::Result<MasterKey> {
    let from_env = std::env::var(MASTER_KEY_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    match (from_env, &global.master_key_file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "both {MASTER_KEY_ENV} and CONNVAULT_MASTER_KEY_FILE are set: set only one"
        ),
        (Some(value), None) => {
            let value = zeroize::Zeroizing::new(value);
            Ok(MasterKey::from_base64(&value)
                .map_err(|e| anyhow::anyhow!("{MASTER_KEY_ENV}: {e}"))?)
        }
        (None, Some(path)) => Ok(MasterKey::from_file(path)?),
        (None, None) => {
            if global.profile == Profile::Production {
                anyhow::bail!(
                    "the production profile needs a master key: set {MASTER_KEY_ENV} or CONNVAULT_MASTER_KEY_FILE"
                );
            }
            let path = local_key_path(&global.database_url()?);
            if path.exists() {
                tracing::warn!(path = %path.display(), "using the local master key file; configure {MASTER_KEY_ENV} or CONNVAULT_MASTER_KEY_FILE outside development");
                return Ok(MasterKey::from_file(&path)?);
            }
            if !create_if_missing {
                anyhow::bail!(
                    "no master key: set {MASTER_KEY_ENV} or CONNVAULT_MASTER_KEY_FILE (or run `connvault serve` once to create {})",
                    path.display()
                );
            }
            let key = MasterKey::generate();
            key.write_new_file(&path)?;
            tracing::warn!(
                path = %path.display(),
                master_key_id = key.id(),
                "NO MASTER KEY CONFIGURED: created a new one in a local file (mode 0600). \
                 Losing this file loses every stored credential. Do not use this in production."
            );
            Ok(key)
        }
    }
}

/// `connvault.master.key` in the directory of the SQLite file, or the current
/// directory for other databases.
pub fn local_key_path(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|p| !p.is_empty() && !p.starts_with(":memory:"));
    let dir = file
        .and_then(|f| Path::new(f).parent().map(Path::to_path_buf))
        .unwrap_or_default();
    dir.join(LOCAL_KEY_FILE)
}
