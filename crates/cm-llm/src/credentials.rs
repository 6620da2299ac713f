//! The API key: where it is kept and how it stays out of sight.
//!
//! Looked up in order: the OS keychain (feature `keychain`), the
//! `CLAUDE_MEMORY_LLM_API_KEY` variable, and `$CLAUDE_MEMORY_HOME/llm-key`, a
//! plaintext file readable by its owner only, used when no keychain is
//! available (headless Linux has no Secret Service, for instance).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::{LlmError, Result};

/// The environment variable holding an API key.
pub const ENV_VAR: &str = "CLAUDE_MEMORY_LLM_API_KEY";
/// The fallback key file's name inside `$CLAUDE_MEMORY_HOME`.
pub const KEY_FILE: &str = "llm-key";
/// The keychain service name.
pub const KEYCHAIN_SERVICE: &str = "claude-memory";
/// The keychain account name; the entry's account is this, `:`, and the
/// per-user directory, so every `$CLAUDE_MEMORY_HOME` (a test's included)
/// has its own key and never overwrites another's.
pub const KEYCHAIN_USER: &str = "llm-api-key";
/// The environment variable holding a team database's password.
pub const TEAM_ENV_VAR: &str = "CLAUDE_MEMORY_TEAM_PASSWORD";

/// An API key. Its `Debug` is redacted, it cannot be serialised, and its
/// memory is zeroed when dropped; the only way to read it is [`Secret::expose`].
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a key; surrounding whitespace (a pasted newline) is dropped.
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into();
        Secret(SecretString::from(key.trim()))
    }

    /// The key itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the key is empty.
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    /// `text` with every occurrence of the key replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let key = self.expose();
        if key.len() < 4 { text.to_owned() } else { text.replace(key, "***") }
    }

    pub(crate) fn secret_string(&self) -> &SecretString {
        &self.0
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a key was found or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// The OS keychain.
    Keychain,
    /// The `CLAUDE_MEMORY_LLM_API_KEY` variable.
    Env,
    /// The owner-only plaintext file `$CLAUDE_MEMORY_HOME/llm-key`.
    File,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeySource::Keychain => "the OS keychain",
            KeySource::Env => ENV_VAR,
            KeySource::File => "the key file (plaintext, owner-only)",
        })
    }
}

/// Finds, stores and deletes the API key.
///
/// Its methods block (the keychain is a system call or a D-Bus round trip):
/// call them from `spawn_blocking` inside an async runtime.
pub struct Credentials {
    home: PathBuf,
    env_value: Option<String>,
    keychain: bool,
    /// The fallback file's name inside `home`.
    file_name: String,
    /// The keychain account, before `:` and the home.
    account: String,
    /// What the secret is, for messages ("the LLM API key").
    what: &'static str,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("home", &self.home)
            .field("env_set", &self.env_value.is_some())
            .field("keychain", &self.keychain)
            .field("account", &self.account)
            .finish()
    }
}

impl Credentials {
    /// Credentials for `home` (`$CLAUDE_MEMORY_HOME`), reading
    /// `CLAUDE_MEMORY_LLM_API_KEY` now and using the keychain when built with it.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        let env_value = std::env::var(ENV_VAR).ok();
        Credentials {
            home: home.into(),
            env_value,
            keychain: cfg!(feature = "keychain"),
            file_name: KEY_FILE.to_owned(),
            account: KEYCHAIN_USER.to_owned(),
            what: "the LLM API key",
        }
    }

    /// The password of a team database, `server` being its URL without the
    /// password (`postgres://role@host:port/db`): in the keychain under
    /// `team-password:<server>:<home>`, else `CLAUDE_MEMORY_TEAM_PASSWORD`,
    /// else an owner-only file `team-<hash>.key` in `home`.
    pub fn team(home: impl Into<PathBuf>, server: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(server.as_bytes());
        let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Credentials {
            home: home.into(),
            env_value: std::env::var(TEAM_ENV_VAR).ok(),
            keychain: cfg!(feature = "keychain"),
            file_name: format!("team-{hash}.key"),
            account: format!("team-password:{server}"),
            what: "the team database password",
        }
    }

    /// Uses `value` as the environment variable's value instead of reading it.
    pub fn with_env_value(mut self, value: Option<String>) -> Self {
        self.env_value = value;
        self
    }

    /// Never touches the OS keychain (tests, or a user who prefers the file).
    pub fn without_keychain(mut self) -> Self {
        self.keychain = false;
        self
    }

    /// The fallback key file.
    pub fn key_file(&self) -> PathBuf {
        self.home.join(&self.file_name)
    }

    /// The keychain account of this home's key.
    fn account(&self) -> String {
        format!("{}:{}", self.account, self.home.display())
    }

    /// The key and where it came from: keychain, then environment, then file.
    pub fn load(&self) -> Result<Option<(Secret, KeySource)>> {
        if self.keychain {
            match keychain::get(&self.account()) {
                Ok(Some(key)) if !key.is_empty() => return Ok(Some((key, KeySource::Keychain))),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "OS keychain unavailable; trying the environment and the key file")
                }
            }
        }
        if let Some(v) = &self.env_value {
            let key = Secret::new(v.clone());
            if !key.is_empty() {
                return Ok(Some((key, KeySource::Env)));
            }
        }
        let path = self.key_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                check_owner_only(&path)?;
                let key = Secret::new(text);
                if key.is_empty() {
                    return Ok(None);
                }
                tracing::warn!(path = %path.display(), "using {} from a plaintext file (no OS keychain)", self.what);
                Ok(Some((key, KeySource::File)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LlmError::Credentials(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Stores `key` in the keychain, or, when none is available, in the
    /// owner-only file (with a warning). Returns where it went.
    pub fn store(&self, key: &Secret) -> Result<KeySource> {
        if key.is_empty() {
            return Err(LlmError::Credentials(format!("{} is empty", self.what)));
        }
        if self.keychain {
            match keychain::set(&self.account(), key) {
                Ok(()) => {
                    // An older plaintext copy must not outlive the move to the keychain.
                    self.remove_file()?;
                    return Ok(KeySource::Keychain);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "OS keychain unavailable; falling back to a plaintext key file")
                }
            }
        }
        write_owner_only(&self.key_file(), key)?;
        tracing::warn!(
            path = %self.key_file().display(),
            "{} is stored in a plaintext file readable only by you; an OS keychain would be safer",
            self.what
        );
        Ok(KeySource::File)
    }

    /// Removes the key from the keychain and the file (not the environment).
    pub fn delete(&self) -> Result<()> {
        if self.keychain
            && let Err(e) = keychain::delete(&self.account())
        {
            tracing::debug!(error = %e, "could not delete the key from the OS keychain");
        }
        self.remove_file()
    }

    fn remove_file(&self) -> Result<()> {
        match std::fs::remove_file(self.key_file()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LlmError::Credentials(format!("cannot remove {}: {e}", self.key_file().display()))),
        }
    }
}

fn write_owner_only(path: &Path, key: &Secret) -> Result<()> {
    let err = |e: std::io::Error| LlmError::Credentials(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(key.expose().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Refuses a key file that others can read, as ssh does.
fn check_owner_only(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| LlmError::Credentials(format!("cannot read {}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(LlmError::Credentials(format!(
                "{} is readable by others (mode {:o}); run `chmod 600` on it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(feature = "keychain")]
mod keychain {
    use super::{KEYCHAIN_SERVICE, Secret};

    fn entry(account: &str) -> keyring::Result<keyring::Entry> {
        keyring::Entry::new(KEYCHAIN_SERVICE, account)
    }

    pub(super) fn get(account: &str) -> Result<Option<Secret>, String> {
        match entry(account).and_then(|e| e.get_password()) {
            Ok(key) => Ok(Some(Secret::new(key))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(describe(&e)),
        }
    }

    pub(super) fn set(account: &str, key: &Secret) -> Result<(), String> {
        entry(account).and_then(|e| e.set_password(key.expose())).map_err(|e| describe(&e))
    }

    pub(super) fn delete(account: &str) -> Result<(), String> {
        match entry(account).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(describe(&e)),
        }
    }

    /// keyring's errors carry no secret, but some wrap platform details;
    /// keep the first line.
    fn describe(e: &keyring::Error) -> String {
        e.to_string().lines().next().unwrap_or_default().to_owned()
    }
}

#[cfg(not(feature = "keychain"))]
mod keychain {
    use super::Secret;

    const OFF: &str = "built without the `keychain` feature";

    pub(super) fn get(_: &str) -> Result<Option<Secret>, String> {
        Err(OFF.to_owned())
    }

    pub(super) fn set(_: &str, _: &Secret) -> Result<(), String> {
        Err(OFF.to_owned())
    }

    pub(super) fn delete(_: &str) -> Result<(), String> {
        Ok(())
    }
}
