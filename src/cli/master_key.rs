//! Where the master key comes from: `CONNVAULT_MASTER_KEY` (base64), or
//! `CONNVAULT_MASTER_KEY_FILE`, or — for the local and test profiles only — a key file
//! beside the SQLite database, created on first start. A key file its group or others
//! may access is refused in production and warned about elsewhere.

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
    match configured(global)? {
        Some(key) => Ok(key),
        None => local(global, create_if_missing),
    }
}

/// The master key configured by `CONNVAULT_MASTER_KEY` or `CONNVAULT_MASTER_KEY_FILE`,
/// read and checked without touching the database: `None` when neither is set and the
/// profile may use the local key file ([`local`]); an error in production.
pub fn configured(global: &GlobalArgs) -> anyhow::Result<Option<MasterKey>> {
    let from_env = std::env::var(MASTER_KEY_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    match (from_env, &global.master_key_file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "both {MASTER_KEY_ENV} and CONNVAULT_MASTER_KEY_FILE are set: set only one"
        ),
        (Some(value), None) => {
            let value = zeroize::Zeroizing::new(value);
            Ok(Some(
                MasterKey::from_base64(&value)
                    .map_err(|e| anyhow::anyhow!("{MASTER_KEY_ENV}: {e}"))?,
            ))
        }
        (None, Some(path)) => Ok(Some(from_file(path, global.profile)?)),
        (None, None) if global.profile == Profile::Production => anyhow::bail!(
            "the production profile needs a master key: set {MASTER_KEY_ENV} or CONNVAULT_MASTER_KEY_FILE"
        ),
        (None, None) => Ok(None),
    }
}

/// The local key file beside the SQLite database (local and test profiles), made when
/// missing and `create_if_missing`.
pub fn local(global: &GlobalArgs, create_if_missing: bool) -> anyhow::Result<MasterKey> {
    if global.profile == Profile::Production {
        anyhow::bail!(
            "the production profile needs a master key: set {MASTER_KEY_ENV} or CONNVAULT_MASTER_KEY_FILE"
        );
    }
    let path = local_key_path(&global.database_url()?);
    if path.exists() {
        tracing::warn!(path = %path.display(), "using the local master key file; configure {MASTER_KEY_ENV} or CONNVAULT_MASTER_KEY_FILE outside development");
        return from_file(&path, global.profile);
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

/// Reads a key file after checking who else may read it: a file open to its group or
/// to others is refused in production and warned about elsewhere.
fn from_file(path: &Path, profile: Profile) -> anyhow::Result<MasterKey> {
    if let Some(mode) = exposed_mode(path) {
        let problem = format!(
            "master key file {} is accessible by its group or others (mode {mode:04o})",
            path.display()
        );
        if profile == Profile::Production {
            anyhow::bail!(
                "{problem}: refusing it in the production profile; make it private (chmod 600 {})",
                path.display()
            );
        }
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{mode:04o}"),
            "master key file is accessible by its group or others; make it private (chmod 600), \
             the production profile refuses it"
        );
    }
    Ok(MasterKey::from_file(path)?)
}

/// The permission bits of `path` when its group or others hold any of them (Unix; the
/// link target for a symbolic link). `None` when private, unreadable, or not on Unix.
fn exposed_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
        is_exposed(mode).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Whether permission bits let anyone but the owner read, write or run the file.
fn is_exposed(mode: u32) -> bool {
    mode & 0o077 != 0
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

#[cfg(test)]
mod tests {
    use super::is_exposed;

    #[test]
    fn only_owner_only_modes_are_private() {
        for mode in [0o600, 0o400, 0o700] {
            assert!(!is_exposed(mode), "{mode:o}");
        }
        for mode in [0o644, 0o640, 0o604, 0o660, 0o606, 0o610] {
            assert!(is_exposed(mode), "{mode:o}");
        }
    }
}
