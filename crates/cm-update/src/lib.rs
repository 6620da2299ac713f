//! Updates for claude-memory's desktop app: find a newer release in a signed
//! manifest, download its package for this machine, verify it, and say how
//! this platform installs it.
//!
//! The manifest is Tauri's updater JSON (`version`, `notes`, `pub_date`, and
//! per platform key such as `linux-x86_64-deb` a package `url` and its
//! `signature`), published as `latest.json` on each release. Unlike Tauri's
//! updater, which signs only the packages, the manifest itself is signed too:
//! `latest.json.sig` beside it. So a changed version, changed release notes or
//! a different package URL is refused before anything is downloaded, not only
//! a changed package. Signatures are minisign's (Ed25519 over a BLAKE2b-512
//! hash), in the files `tauri signer sign` writes: base64 of the minisign
//! signature file; the public key is base64 of the minisign public key file,
//! as `tauri signer generate` prints it.
//!
//! - [`Updater::check`]: fetches the manifest and its signature, verifies,
//!   and returns the [`Update`] for this platform if its version is newer
//!   than the running one (an older signed manifest, replayed, is no update).
//! - [`Updater::download`]: streams the package to a file while hashing it,
//!   and keeps it only if its signature verifies.
//! - [`install`]: which package kind this installation came from
//!   ([`Installer`]) and the command that installs a downloaded package
//!   ([`InstallPlan`]), as data so every platform's plan is tested on any.
//!
//! Failing to reach the server is [`Error::Offline`], which callers log
//! quietly; every other error means something is wrong with the release or
//! the server and is worth a warning. This is the only crate that imports
//! minisign-verify.

pub mod install;
mod manifest;
mod signature;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use install::{After, InstallPlan, Installer};
pub use manifest::{Manifest, Platform, Update};
pub use semver::Version;
pub use signature::PublicKey;

/// How long the manifest and its signature may take, each.
const MANIFEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take, and a package download may stall.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest manifest (or signature) read.
const MAX_MANIFEST: usize = 1024 * 1024;
/// The largest package downloaded (a debug `.deb` is about 130 MiB).
const MAX_PACKAGE: u64 = 1024 * 1024 * 1024;

/// Everything that can stop a check, a download or an install.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The update server could not be reached (no network, DNS, refused, timed out).
    #[error("the update server cannot be reached: {0}")]
    Offline(String),
    /// The server answered with an error status.
    #[error("the update server answered {status} for {url}")]
    Status { status: u16, url: String },
    /// The configured public key is not a minisign public key.
    #[error("the update public key is not valid: {0}")]
    BadKey(String),
    /// A signature is missing, malformed, from another key or does not match.
    #[error("refused: {what} is not signed by the release key ({reason})")]
    BadSignature { what: &'static str, reason: String },
    /// The (verified) manifest does not parse.
    #[error("the update manifest is not valid: {0}")]
    BadManifest(String),
    /// A manifest, signature or package is larger than any real one.
    #[error("refused: {what} is larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    /// The configured endpoint is not a URL.
    #[error("the update endpoint is not a URL: {0}")]
    BadEndpoint(String),
    /// Writing the package failed.
    #[error("cannot save the update in {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// This installation cannot install a package by itself.
    #[error("{0}")]
    CannotInstall(String),
}

impl Error {
    /// Whether this only means "no network right now": log it quietly.
    pub fn is_offline(&self) -> bool {
        matches!(self, Error::Offline(_))
    }

    fn http(error: reqwest::Error) -> Error {
        if error.is_connect() || error.is_timeout() {
            return Error::Offline(error_chain(&error));
        }
        if let Some(status) = error.status() {
            let url = error.url().map(ToString::to_string).unwrap_or_default();
            return Error::Status { status: status.as_u16(), url };
        }
        // A connection dropped mid-answer is the network too.
        Error::Offline(error_chain(&error))
    }
}

/// An error with its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the updater needs to know: where the manifest is, whom to trust, who
/// is asking.
#[derive(Debug, Clone)]
pub struct Config {
    /// The manifest's URL; its signature is this URL with `.sig` appended.
    pub endpoint: String,
    /// The release key, as `tauri signer generate` prints it.
    pub pubkey: String,
    /// The running version.
    pub current: Version,
    /// This machine's platform key, e.g. `linux-x86_64-deb` ([`install::platform_key`]).
    pub platform: String,
}

/// Checks for and downloads updates; cheap to keep for the app's lifetime.
#[derive(Debug)]
pub struct Updater {
    config: Config,
    endpoint: reqwest::Url,
    key: PublicKey,
    client: reqwest::Client,
}

impl Updater {
    /// Validates the key and the endpoint up front, so a bad configuration
    /// is found at start, not at the first check.
    pub fn new(config: Config) -> Result<Updater> {
        let key = PublicKey::from_tauri(&config.pubkey)?;
        let endpoint = reqwest::Url::parse(&config.endpoint)
            .map_err(|e| Error::BadEndpoint(format!("{}: {e}", config.endpoint)))?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("claude-memory-updater/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Offline(error_chain(&e)))?;
        Ok(Updater { config, endpoint, key, client })
    }

    /// The manifest, verified, and this platform's update if it is newer than
    /// the running version.
    #[tracing::instrument(skip_all, fields(endpoint = %self.endpoint))]
    pub async fn check(&self) -> Result<Option<Update>> {
        let manifest = self.manifest().await?;
        manifest.update_for(&self.config.platform, &self.config.current)
    }

    /// The verified manifest, whatever its version.
    pub async fn manifest(&self) -> Result<Manifest> {
        let mut sig_url = self.endpoint.clone();
        sig_url.set_path(&format!("{}.sig", self.endpoint.path()));
        let body = self.get_small(self.endpoint.clone(), "the update manifest").await?;
        let sig = self.get_small(sig_url, "the manifest's signature").await.map_err(|e| match e {
            Error::Status { status: 404, .. } => {
                Error::BadSignature { what: "the update manifest", reason: "it has no signature".into() }
            }
            other => other,
        })?;
        let sig = String::from_utf8_lossy(&sig);
        self.key.verify(&body, sig.trim(), "the update manifest")?;
        Manifest::parse(&body)
    }

    /// Downloads `update`'s package into `dir` and verifies it; the file is
    /// there only if its signature matched. Returns its path.
    #[tracing::instrument(skip_all, fields(version = %update.version, url = %update.url))]
    pub async fn download(&self, update: &Update, dir: &Path) -> Result<PathBuf> {
        let url = reqwest::Url::parse(&update.url)
            .map_err(|e| Error::BadManifest(format!("{}: {e}", update.url)))?;
        fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
            move |source| Error::Io { path: path.to_owned(), source }
        }
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
        let name = manifest::file_name(&url);
        let path = dir.join(&name);
        let partial = dir.join(format!("{name}.part"));
        let result = self.fetch_to(url, &partial).await;
        let result = match result {
            Ok(()) => {
                let (key, file, signature) = (self.key.clone(), partial.clone(), update.signature.clone());
                tokio::task::spawn_blocking(move || key.verify_file(&file, &signature, "the update package"))
                    .await
                    .unwrap_or_else(|e| {
                        Err(Error::CannotInstall(format!("verifying the package failed: {e}")))
                    })
            }
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(error);
        }
        tokio::fs::rename(&partial, &path).await.map_err(io(&path))?;
        tracing::info!(path = %path.display(), "update downloaded and verified");
        Ok(path)
    }

    /// Streams `url` into the file `path`, bounded by [`MAX_PACKAGE`].
    async fn fetch_to(&self, url: reqwest::Url, path: &Path) -> Result<()> {
        use tokio::io::AsyncWriteExt as _;
        let io = |source| Error::Io { path: path.to_owned(), source };
        let mut response =
            self.client.get(url).send().await.and_then(|r| r.error_for_status()).map_err(Error::http)?;
        if response.content_length().is_some_and(|n| n > MAX_PACKAGE) {
            return Err(Error::TooLarge { what: "the update package", limit: MAX_PACKAGE });
        }
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut total = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(Error::http)? {
            total += chunk.len() as u64;
            if total > MAX_PACKAGE {
                return Err(Error::TooLarge { what: "the update package", limit: MAX_PACKAGE });
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        file.sync_all().await.map_err(io)
    }

    async fn get_small(&self, url: reqwest::Url, what: &'static str) -> Result<Vec<u8>> {
        let mut response = self
            .client
            .get(url)
            .timeout(MANIFEST_TIMEOUT)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(Error::http)?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Error::http)? {
            if body.len() + chunk.len() > MAX_MANIFEST {
                return Err(Error::TooLarge { what, limit: MAX_MANIFEST as u64 });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
