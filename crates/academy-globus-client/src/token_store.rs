//! Tokens on disk: `$ACADEMY_HOME/tokens.json`, keyed by namespace and
//! resource server like globus-sdk's token storage, written atomically
//! (temporary file + rename) with mode 0600.
//!
//! Format: `{"<namespace>": {"<resource_server>": <TokenData>}}` with
//! globus-sdk's `TokenStorageData` fields. academy-py itself uses a SQLite
//! file (`storage.db`); this store is ours and does not touch it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::token::TokenData;

/// Namespace used by academy-py.
pub const DEFAULT_NAMESPACE: &str = "DEFAULT";
/// File name inside `$ACADEMY_HOME`.
pub const FILE_NAME: &str = "tokens.json";

type Contents = BTreeMap<String, BTreeMap<String, TokenData>>;

/// A JSON token store. Operations are synchronous (the file is small) and
/// serialised within the process.
///
/// ```
/// use academy_globus_client::{TokenStore, token::TokenData};
/// let dir = tempfile::tempdir().unwrap();
/// let store = TokenStore::new(dir.path().join("tokens.json"));
/// store.store("DEFAULT", &[TokenData::new("rs", "tok", 60)]).unwrap();
/// assert_eq!(store.get("DEFAULT", "rs").unwrap().unwrap().access_token.expose(), "tok");
/// ```
pub struct TokenStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TokenStore {
    /// A store at `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TokenStore {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// `$ACADEMY_HOME/tokens.json` (default `<config dir>/academy`).
    pub fn default_location() -> Result<Self> {
        Ok(TokenStore::new(
            crate::config::academy_home()?.join(FILE_NAME),
        ))
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: std::io::Error) -> Error {
        Error::TokenStore {
            path: self.path.clone(),
            source,
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> Result<Contents> {
        match std::fs::read(&self.path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Contents::new()),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| self.err(std::io::Error::new(std::io::ErrorKind::InvalidData, e))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Contents::new()),
            Err(e) => Err(self.err(e)),
        }
    }

    fn write(&self, contents: &Contents) -> Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        let bytes =
            serde_json::to_vec_pretty(contents).map_err(|e| self.err(std::io::Error::other(e)))?;
        let tmp = dir.join(format!(
            ".{FILE_NAME}.{}.{:016x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let result = (|| {
            let mut file = open_private(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| self.err(e))
    }

    /// The token for `resource_server` in `namespace`.
    pub fn get(&self, namespace: &str, resource_server: &str) -> Result<Option<TokenData>> {
        let _g = self.guard();
        Ok(self
            .read()?
            .get(namespace)
            .and_then(|m| m.get(resource_server))
            .cloned())
    }

    /// All tokens of `namespace`, by resource server.
    pub fn get_all(&self, namespace: &str) -> Result<BTreeMap<String, TokenData>> {
        let _g = self.guard();
        Ok(self.read()?.remove(namespace).unwrap_or_default())
    }

    /// Stores (replaces) tokens, each under its resource server.
    pub fn store(&self, namespace: &str, tokens: &[TokenData]) -> Result<()> {
        let _g = self.guard();
        let mut contents = self.read()?;
        let ns = contents.entry(namespace.to_string()).or_default();
        for t in tokens {
            ns.insert(t.resource_server.clone(), t.clone());
        }
        self.write(&contents)
    }

    /// Removes one resource server's token; true if it existed.
    pub fn remove(&self, namespace: &str, resource_server: &str) -> Result<bool> {
        let _g = self.guard();
        let mut contents = self.read()?;
        let removed = contents
            .get_mut(namespace)
            .and_then(|m| m.remove(resource_server))
            .is_some();
        if removed {
            self.write(&contents)?;
        }
        Ok(removed)
    }

    /// Removes a whole namespace (logout).
    pub fn clear(&self, namespace: &str) -> Result<()> {
        let _g = self.guard();
        let mut contents = self.read()?;
        if contents.remove(namespace).is_some() {
            self.write(&contents)?;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn round_trip_mode_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("sub").join(FILE_NAME));
        assert!(store.get("DEFAULT", "rs").unwrap().is_none());
        let mut t = TokenData::new("rs", "AT", 100);
        t.refresh_token = Some(Secret::new("RT"));
        store
            .store("DEFAULT", &[t.clone(), TokenData::new("other", "AT2", 5)])
            .unwrap();
        assert_eq!(store.get("DEFAULT", "rs").unwrap().unwrap(), t);
        assert_eq!(store.get_all("DEFAULT").unwrap().len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(store.path()).unwrap()).unwrap();
        assert_eq!(raw["DEFAULT"]["rs"]["refresh_token"], "RT");
        assert_eq!(raw["DEFAULT"]["rs"]["resource_server"], "rs");
        assert!(raw["DEFAULT"]["other"].get("refresh_token").is_none());
        assert!(store.remove("DEFAULT", "rs").unwrap());
        assert!(!store.remove("DEFAULT", "rs").unwrap());
        store.clear("DEFAULT").unwrap();
        assert!(store.get_all("DEFAULT").unwrap().is_empty());
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
        assert!(!format!("{store:?}").contains("AT"));
    }

    #[test]
    fn corrupt_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"{not json").unwrap();
        let store = TokenStore::new(&path);
        assert!(matches!(
            store.get("DEFAULT", "rs"),
            Err(Error::TokenStore { .. })
        ));
    }
}
