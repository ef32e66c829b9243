//! The SQLite file behind a pool: where the URL points, made ready before the pool opens
//! it (its directory must exist; the file is created only with `mode=rwc`), and watched
//! afterwards. A pooled connection is handed out only while the path still names the
//! file the pool opened, so a deleted or replaced file is an error (answered 503), never
//! writes into an unlinked inode that vanish at the next start.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// What a `sqlite:` URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteTarget {
    /// The database file; `None` for an in-memory database.
    pub path: Option<PathBuf>,
    /// `mode=rwc`: create the file when it is missing.
    pub create: bool,
}

/// Reads a `sqlite:` URL as sqlx does: `sqlite://FILE?params` or `sqlite:FILE?params`,
/// the file percent-decoded, `:memory:` or `mode=memory` in memory.
pub fn target(url: &str) -> SqliteTarget {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (file, params) = rest.split_once('?').unwrap_or((rest, ""));
    let mut create = false;
    let mut memory = file.is_empty() || file == ":memory:";
    for (key, value) in url::form_urlencoded::parse(params.as_bytes()) {
        if key == "mode" {
            create = value == "rwc";
            memory |= value == "memory";
        }
    }
    let path = (!memory).then(|| {
        PathBuf::from(
            percent_encoding::percent_decode_str(file)
                .decode_utf8_lossy()
                .into_owned(),
        )
    });
    SqliteTarget { path, create }
}

/// The identity of an open file: it stays the same while the file is renamed back and
/// forth, and changes when the path names another file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
}

impl Identity {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// Elsewhere only the file's presence is checked.
    #[cfg(not(unix))]
    fn of(_meta: &std::fs::Metadata) -> Self {
        Self {}
    }
}

/// The file a pool opened, to check that its path still names it.
#[derive(Clone, Debug)]
pub struct FileGuard {
    path: PathBuf,
    identity: Identity,
}

impl FileGuard {
    /// `Ok` while the path names the file the pool opened; otherwise why not, in one
    /// line that names the path.
    pub fn check(&self) -> Result<(), String> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if Identity::of(&meta) == self.identity => Ok(()),
            Ok(_) => Err(format!(
                "the SQLite database {} was replaced by another file while in use; restart to use the new one",
                self.path.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "the SQLite database {} was deleted while in use",
                self.path.display()
            )),
            Err(e) => Err(format!(
                "the SQLite database {} cannot be checked: {e}",
                self.path.display()
            )),
        }
    }

    /// [`FileGuard::check`] as an error a pool hook returns.
    pub fn check_sqlx(&self) -> Result<(), sea_orm::sqlx::Error> {
        self.check()
            .map_err(|why| sea_orm::sqlx::Error::Io(std::io::Error::other(why)))
    }
}

/// Makes the file of `url` ready for a pool that never creates it: refuses a missing
/// directory, and a missing file unless the URL says `mode=rwc` (then creates it empty,
/// which SQLite takes for a new database). `None` for an in-memory database.
pub fn prepare(url: &str) -> Result<Option<FileGuard>, Error> {
    let SqliteTarget { path, create } = target(url);
    let Some(path) = path else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    let unavailable = |why: String| {
        Err(Error::DatabaseUnavailable(format!(
            "cannot open the SQLite database {shown}: {why}"
        )))
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return unavailable(format!("the directory {} does not exist", dir.display()));
    }
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => return unavailable("it is a directory".to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            if let Err(e) = create_empty(&path) {
                return unavailable(format!("cannot create it: {e}"));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return unavailable(
                "the file does not exist (add ?mode=rwc to the URL to create it)".to_owned(),
            );
        }
        Err(e) => return unavailable(e.to_string()),
    }
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    match std::fs::metadata(&path) {
        Ok(meta) => Ok(Some(FileGuard {
            identity: Identity::of(&meta),
            path,
        })),
        Err(e) => unavailable(e.to_string()),
    }
}

/// Creates the file if nobody did meanwhile; never truncates one.
fn create_empty(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_its_file_and_whether_to_create_it() {
        assert_eq!(
            target("sqlite://connvault.db?mode=rwc"),
            SqliteTarget {
                path: Some("connvault.db".into()),
                create: true
            }
        );
        assert_eq!(
            target("sqlite:///var/lib/cv/a%20b.db"),
            SqliteTarget {
                path: Some("/var/lib/cv/a b.db".into()),
                create: false
            }
        );
        assert_eq!(target("sqlite:x.db?mode=rw").path, Some("x.db".into()));
        assert_eq!(target("sqlite::memory:").path, None);
        assert_eq!(target("sqlite://x.db?mode=memory").path, None);
    }

    #[test]
    fn a_missing_directory_or_file_is_named_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let missing_dir = dir.path().join("nope").join("x.db");
        let err = prepare(&format!("sqlite://{}?mode=rwc", missing_dir.display()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&missing_dir.display().to_string()), "{err}");
        assert!(err.contains("directory"), "{err}");
        assert_eq!(err.lines().count(), 1);
        assert!(!missing_dir.parent().unwrap().exists(), "nothing created");

        let file = dir.path().join("x.db");
        let err = prepare(&format!("sqlite://{}", file.display()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mode=rwc"), "{err}");
        assert!(!file.exists());
        let guard = prepare(&format!("sqlite://{}?mode=rwc", file.display()))
            .unwrap()
            .expect("a file");
        assert!(file.exists());
        assert_eq!(guard.check(), Ok(()));
    }

    #[test]
    fn the_guard_sees_a_file_deleted_replaced_or_moved_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.db");
        let guard = prepare(&format!("sqlite://{}?mode=rwc", file.display()))
            .unwrap()
            .unwrap();
        let aside = dir.path().join("aside.db");
        std::fs::rename(&file, &aside).unwrap();
        assert!(guard.check().unwrap_err().contains("deleted"));
        std::fs::write(&file, b"").unwrap();
        #[cfg(unix)]
        assert!(guard.check().unwrap_err().contains("replaced"));
        std::fs::rename(&aside, &file).unwrap();
        assert_eq!(guard.check(), Ok(()), "the same file, back in place");
    }
}
