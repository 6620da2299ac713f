//! How clients find the running engine, and prove they are the user.
//!
//! In the per-user state directory (`CLAUDE_MEMORY_HOME`):
//! - `token`: 256 random bits, hex, created on first start, owner-only;
//! - `engine.json`: port, pid, version and URL of the running engine,
//!   removed when it stops cleanly;
//! - `engine.lock`: held (an OS file lock) while an engine runs, so a second
//!   one refuses to start; the OS releases it when the process dies, however.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The bearer token. Never printed by `Debug`.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// The token file in `home`.
    pub fn path(home: &Path) -> PathBuf {
        home.join("token")
    }

    /// Reads the token, creating it (owner-only) on first use.
    pub fn load_or_create(home: &Path) -> Result<Token> {
        let path = Token::path(home);
        if let Some(token) = Token::load(home)? {
            return Ok(token);
        }
        std::fs::create_dir_all(home).map_err(|e| io(home, e))?;
        let bytes: [u8; 32] = rand::random();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // create_new: two engines starting at once cannot both write one.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(hex.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| io(&path, e))?;
                Ok(Token(hex))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match Token::load(home)? {
                Some(token) => Ok(token),
                None => {
                    // An empty token file (a full disk, a crash mid-write)
                    // blocked every start; a fresh token replaces it, written
                    // beside it and renamed over it. The caller holds the
                    // engine lock, so no other engine is writing one.
                    let fresh = path.with_extension("new");
                    let _ = std::fs::remove_file(&fresh);
                    let mut file = options.open(&fresh).map_err(|e| io(&fresh, e))?;
                    file.write_all(hex.as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(|e| io(&fresh, e))?;
                    std::fs::rename(&fresh, &path).map_err(|e| io(&path, e))?;
                    tracing::warn!(file = %path.display(), "the token file was empty; a new token was written");
                    Ok(Token(hex))
                }
            },
            Err(e) => Err(io(&path, e)),
        }
    }

    /// Reads the token, if one was created. A token others could read is
    /// made owner-only first (it guards every memory).
    pub fn load(home: &Path) -> Result<Option<Token>> {
        let path = Token::path(home);
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(&path) {
            use std::os::unix::fs::PermissionsExt as _;
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
                    Error::Service(format!(
                        "{} can be read by others and cannot be restricted: {e}",
                        path.display()
                    ))
                })?;
                tracing::warn!(file = %path.display(), "the token could be read by others; it is owner-only now");
            }
        }
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => Ok(Some(Token(text.trim().to_owned()))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// The secret, for a client's `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the strings differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// What `engine.json` says about the running engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Process id.
    pub pid: u32,
    /// claude-memory version.
    pub version: String,
    /// Base URL.
    pub url: String,
}

impl EngineInfo {
    /// The discovery file in `home`.
    pub fn path(home: &Path) -> PathBuf {
        home.join("engine.json")
    }

    /// What the discovery file says, if there is one (it may be stale: a
    /// client still has to connect).
    pub fn read(home: &Path) -> Option<EngineInfo> {
        let text = std::fs::read(EngineInfo::path(home)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub(crate) fn write(&self, home: &Path) -> Result<()> {
        let path = EngineInfo::path(home);
        let tmp = home.join(format!(".engine.json.{}", std::process::id()));
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::Service(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))
    }

    pub(crate) fn remove(home: &Path) {
        let _ = std::fs::remove_file(EngineInfo::path(home));
    }
}

/// The lock held while an engine runs.
#[derive(Debug)]
pub struct EngineLock {
    _file: File,
}

impl EngineLock {
    /// Takes the lock, or explains which engine holds it.
    pub fn acquire(home: &Path) -> Result<EngineLock> {
        std::fs::create_dir_all(home).map_err(|e| io(home, e))?;
        let path = home.join("engine.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(EngineLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                let who = EngineInfo::read(home)
                    .map(|i| format!(" (pid {}, {})", i.pid, i.url))
                    .unwrap_or_default();
                Err(Error::Service(format!(
                    "another claude-memory engine is already running{who}; `claude-memory status` shows it"
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(io(&path, e)),
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Service(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_token_others_can_read_is_made_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = Token::path(tmp.path());
        std::fs::write(&path, "f".repeat(64)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(Token::load(tmp.path()).unwrap().unwrap().expose(), "f".repeat(64));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn token_is_created_once_owner_only_and_never_debug_printed() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Token::load_or_create(tmp.path()).unwrap();
        let b = Token::load_or_create(tmp.path()).unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        assert!(a.matches(b.expose()) && !a.matches("x") && !a.matches(&"0".repeat(64)));
        assert!(!format!("{a:?}").contains(a.expose()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Token::path(tmp.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn an_empty_token_file_is_replaced_by_a_fresh_token() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(Token::path(tmp.path()), "  \n").unwrap();
        let token = Token::load_or_create(tmp.path()).unwrap();
        assert_eq!(token.expose().len(), 64);
        let stored = std::fs::read_to_string(Token::path(tmp.path())).unwrap();
        assert_eq!(stored, token.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(Token::path(tmp.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn second_lock_is_refused_and_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let lock = EngineLock::acquire(tmp.path()).unwrap();
        let err = EngineLock::acquire(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("already running"), "{err}");
        drop(lock);
        EngineLock::acquire(tmp.path()).unwrap();
    }
}
