//! Downloading catalogue models from a Hugging Face Hub.
//!
//! Nothing is downloaded unless [`ModelStore::download`] is called: loading,
//! listing and installing from a local source never touch the network.
//!
//! Files are fetched with `hf-hub` from `{endpoint}/{repo}/resolve/{revision}/{path}`
//! at the catalogue's pinned revision, so the same bytes arrive every time.
//! The endpoint is [`DownloadOptions::endpoint`], else the `HF_ENDPOINT`
//! variable, else `https://huggingface.co`; a mirror or a test server is just
//! another endpoint. `hf-hub` itself cannot resume a download into a
//! directory of our choosing, so each file is streamed into
//! `<name>.part` inside the model's staging directory and, after a broken
//! transfer, fetched again from where it stopped with an HTTP range request
//! (`hf-hub`'s `download_file_stream` takes the range, and also handles
//! Xet-backed files). The partial files survive the process, so a later call
//! resumes too.
//!
//! Every file is checked before the model is installed: against the
//! catalogue's SHA-256, or where the catalogue has none, against the SHA-256
//! the Hub reports as the file's ETag (LFS files). A mismatch is always an
//! error and discards the download. Cancelling, likewise, leaves nothing.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hf_hub::HFClient;
use hf_hub::repository::{HFRepository, RepoTypeModel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::catalogue::{CatalogueEntry, ModelFile};
use crate::store::{
    self, FileCheck, InstallSource, InstalledModel, ManifestFile, ModelStore, Staging, check_against_pin,
};
use crate::{Error, Result};

/// The Hub used when neither the options nor `HF_ENDPOINT` name one.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Marks a staging directory as a download of one repository revision, so a
/// later call knows it may resume from it.
const DOWNLOAD_MARKER: &str = ".download.json";

/// How to download.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// The Hub's base URL. `None`: `HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`].
    pub endpoint: Option<String>,
    /// Replace an installed model of the same id.
    pub replace: bool,
    /// Times one file may be resumed after a broken transfer that made no
    /// progress, within one call. A transfer that made progress resets it.
    pub max_retries: u32,
    /// Least time between two [`DownloadEvent::Progress`] events of a file.
    pub progress_interval: Duration,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            endpoint: None,
            replace: false,
            max_retries: 5,
            progress_interval: Duration::from_millis(100),
        }
    }
}

impl DownloadOptions {
    /// The endpoint these options use.
    pub fn resolved_endpoint(&self) -> String {
        self.endpoint
            .clone()
            .or_else(|| std::env::var("HF_ENDPOINT").ok().filter(|e| !e.is_empty()))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
    }
}

/// What a download reports while it runs. Serialisable, so the engine's
/// event bus can forward it to the dashboard as it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DownloadEvent {
    /// Sizes are known; the transfer begins.
    Started {
        /// The model's id.
        model: String,
        /// Number of files.
        files: usize,
        /// Bytes of all files, when every size is known.
        total_bytes: Option<u64>,
        /// Bytes already on disk from an earlier, interrupted download.
        resumed_bytes: u64,
    },
    /// Bytes arrived. Byte counts only grow, and a file's last event has
    /// `file_bytes == file_total`.
    Progress {
        /// The model's id.
        model: String,
        /// The file, by its name in the model directory.
        file: String,
        /// Bytes of this file on disk.
        file_bytes: u64,
        /// Size of this file, when known.
        file_total: Option<u64>,
        /// Bytes of all files on disk.
        bytes: u64,
        /// Bytes of all files, when every size is known.
        total_bytes: Option<u64>,
        /// Recent transfer speed, bytes per second.
        bytes_per_sec: f64,
        /// Estimated seconds left, when the total and the speed are known.
        eta_secs: Option<f64>,
    },
    /// A transfer broke and is being resumed from `offset`.
    Resuming {
        /// The model's id.
        model: String,
        /// The file.
        file: String,
        /// Where the next request starts.
        offset: u64,
        /// Consecutive attempts without progress so far.
        attempt: u32,
        /// What went wrong.
        reason: String,
    },
    /// A file is complete and checked.
    FileVerified {
        /// The model's id.
        model: String,
        /// The file.
        file: String,
        /// Its SHA-256.
        sha256: String,
        /// What it was checked against.
        check: FileCheck,
    },
    /// The model is installed.
    Installed {
        /// The model's id.
        model: String,
        /// Its directory.
        path: PathBuf,
    },
}

/// Receives [`DownloadEvent`]s. It is called on the downloading task and
/// must not block: forward the event and return.
///
/// Implemented for closures, for `()` (no reporting), and for tokio
/// channels. A bounded [`tokio::sync::mpsc::Sender`] drops `Progress` events
/// when it is full (a later one supersedes them) but waits for room for the
/// others.
pub trait DownloadSink: Send + Sync {
    /// Handles one event.
    fn send(&self, event: DownloadEvent) -> impl Future<Output = ()> + Send;
}

impl DownloadSink for () {
    async fn send(&self, _event: DownloadEvent) {}
}

impl<F: Fn(DownloadEvent) + Send + Sync> DownloadSink for F {
    async fn send(&self, event: DownloadEvent) {
        self(event)
    }
}

impl DownloadSink for tokio::sync::mpsc::UnboundedSender<DownloadEvent> {
    async fn send(&self, event: DownloadEvent) {
        // A receiver that went away only means nobody is watching.
        let _ = tokio::sync::mpsc::UnboundedSender::send(self, event);
    }
}

impl DownloadSink for tokio::sync::mpsc::Sender<DownloadEvent> {
    async fn send(&self, event: DownloadEvent) {
        if matches!(event, DownloadEvent::Progress { .. }) {
            let _ = self.try_send(event);
        } else {
            let _ = tokio::sync::mpsc::Sender::send(self, event).await;
        }
    }
}

/// What `.download.json` records.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Marker {
    repo: String,
    revision: String,
}

/// One file to fetch, with what it is checked against.
#[derive(Debug)]
struct Planned<'a> {
    file: &'a ModelFile,
    size: Option<u64>,
    expected_sha256: Option<String>,
    check: FileCheck,
}

impl ModelStore {
    /// Downloads catalogue model `id` and installs it. See [`ModelStore::download_entry`].
    pub async fn download(
        &self,
        id: &str,
        options: &DownloadOptions,
        sink: &impl DownloadSink,
        cancel: &CancellationToken,
    ) -> Result<InstalledModel> {
        let entry = self.entry(id)?.clone();
        self.download_entry(&entry, options, sink, cancel).await
    }

    /// Downloads the files of `entry` at its pinned revision into a staging
    /// directory, checks every one, and installs the model as
    /// [`install_from`](ModelStore::install_from) does.
    ///
    /// An interrupted download (network failure, crash) keeps its partial
    /// files, and the next call for the same model resumes them. A
    /// cancelled one (`cancel`), or one whose content fails verification,
    /// is deleted: nothing is installed.
    pub async fn download_entry(
        &self,
        entry: &CatalogueEntry,
        options: &DownloadOptions,
        sink: &impl DownloadSink,
        cancel: &CancellationToken,
    ) -> Result<InstalledModel> {
        let id = entry.id().to_string();
        let endpoint = options.resolved_endpoint();
        self.refuse_if_installed(&id, options.replace)?;
        let _lock = self.lock(&id)?;
        let staging = self.download_staging(entry)?;

        let fail = |message: String, file: &str| Error::Download {
            id: id.clone(),
            file: file.to_string(),
            endpoint: endpoint.clone(),
            message,
        };
        let client = HFClient::builder()
            .endpoint(endpoint.clone())
            .cache_enabled(false)
            // Transfers are retried (and resumed) by `fetch`; one retry of
            // each request here is enough, and an unreachable Hub is said
            // at once rather than after half a minute of back-off.
            .retry_max_attempts(1)
            .build()
            .map_err(|e| fail(e.to_string(), ""))?;
        let (owner, name) = hf_hub::split_id(&entry.repo);
        let repo = client.model(owner, name);

        let mut job = Job {
            id: &id,
            entry,
            options,
            sink,
            cancel,
            repo: &repo,
            staging: &staging.path,
            endpoint: &endpoint,
            meter: Meter::new(),
        };
        let result = job.run().await;
        match result {
            Ok(files) => {
                let _ = std::fs::remove_file(staging.path.join(DOWNLOAD_MARKER));
                let source = InstallSource::Download {
                    endpoint: endpoint.clone(),
                    repo: entry.repo.to_string(),
                    revision: entry.revision.to_string(),
                };
                let manifest = store::new_manifest(entry, files, source);
                self.commit(staging, &manifest, options.replace)?;
                tracing::info!(model = %id, %endpoint, verification = %manifest.verification, "model downloaded");
                sink.send(DownloadEvent::Installed { model: id.clone(), path: self.path(&id) }).await;
                self.list()?
                    .into_iter()
                    .find(|m| m.id == id)
                    .ok_or_else(|| Error::NotInstalled { id: id.clone() })
            }
            // Nothing of a cancelled or corrupt download is worth keeping:
            // dropping the staging directory deletes it.
            Err(e @ (Error::Cancelled { .. } | Error::Integrity { .. })) => Err(e),
            Err(e) => {
                // Unreachable: the error says it all, and what an earlier
                // attempt fetched stays for the next one.
                if !matches!(e, Error::Unreachable { .. }) {
                    tracing::warn!(model = %id, error = %e, "download interrupted; it resumes on the next try");
                }
                staging.keep();
                Err(e)
            }
        }
    }

    /// The staging directory of an earlier download of the same revision, or
    /// a new one. Anything else staged for this model is stale (the caller
    /// holds the model's lock) and is removed.
    fn download_staging(&self, entry: &CatalogueEntry) -> Result<Staging> {
        let want = Marker { repo: entry.repo.to_string(), revision: entry.revision.to_string() };
        let mut resumable = None;
        for dir in self.staging_dirs(entry.id()) {
            let marker = std::fs::read(dir.join(DOWNLOAD_MARKER))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Marker>(&bytes).ok());
            if resumable.is_none() && marker.as_ref() == Some(&want) {
                resumable = Some(dir);
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        if let Some(dir) = resumable {
            tracing::info!(model = entry.id(), dir = %dir.display(), "resuming an earlier download");
            return Ok(Staging::existing(dir));
        }
        let staging =
            Staging::new(self.root().join(format!(".partial-{}-{}", entry.id(), store::random_suffix())))?;
        let marker = staging.path.join(DOWNLOAD_MARKER);
        std::fs::write(&marker, serde_json::to_vec(&want).expect("a marker serialises"))
            .map_err(Error::io(&marker))?;
        Ok(staging)
    }
}

/// One download in progress.
struct Job<'a, S> {
    id: &'a str,
    entry: &'a CatalogueEntry,
    options: &'a DownloadOptions,
    sink: &'a S,
    cancel: &'a CancellationToken,
    repo: &'a HFRepository<RepoTypeModel>,
    staging: &'a Path,
    endpoint: &'a str,
    meter: Meter,
}

impl<'a, S: DownloadSink> Job<'a, S> {
    async fn run(&mut self) -> Result<Vec<ManifestFile>> {
        let plan = self.plan_all().await?;
        let total = plan.iter().map(|p| p.size).sum::<Option<u64>>();
        let resumed: u64 = plan.iter().map(|p| self.on_disk(p)).sum();
        self.meter.total = total;
        self.meter.done = resumed;
        self.sink
            .send(DownloadEvent::Started {
                model: self.id.to_string(),
                files: plan.len(),
                total_bytes: total,
                resumed_bytes: resumed,
            })
            .await;

        let mut files = Vec::new();
        for planned in &plan {
            let (sha256, size) = self.fetch(planned).await?;
            let check = match &planned.expected_sha256 {
                Some(expected) if *expected != sha256 => {
                    return Err(Error::Integrity {
                        id: self.id.to_string(),
                        file: planned.file.name.to_string(),
                        what: "sha256",
                        expected: expected.clone(),
                        actual: sha256,
                    });
                }
                _ => planned.check,
            };
            // The catalogue's own pins, sizes included, have the last word.
            if check != FileCheck::HubReported {
                check_against_pin(self.entry, planned.file, &sha256, size)?;
            }
            self.sink
                .send(DownloadEvent::FileVerified {
                    model: self.id.to_string(),
                    file: planned.file.name.to_string(),
                    sha256: sha256.clone(),
                    check,
                })
                .await;
            files.push(ManifestFile { name: planned.file.name.to_string(), size, sha256, check });
        }
        Ok(files)
    }

    /// Learns every file's size, and what to check it against, before any
    /// byte is fetched. The Hub's `paths-info` API gives exact sizes (and an
    /// LFS file's SHA-256, where `hf-hub` can read it) in one request; a
    /// Hub or mirror without it is asked per file with a HEAD request, whose
    /// ETag is an LFS file's SHA-256. Where neither answers, the catalogue's
    /// values stand alone.
    async fn plan_all(&self) -> Result<Vec<Planned<'a>>> {
        let entry = self.entry;
        let paths: Vec<String> = entry.files.iter().map(|f| f.repo_path.to_string()).collect();
        let info = tokio::select! {
            () = self.cancel.cancelled() => return Err(self.cancelled()),
            info = self.repo.get_paths_info().paths(paths).revision(entry.revision.to_string()).send() => info,
        };
        let listed: Option<Vec<hf_hub::repository::RepoTreeEntry>> = match info {
            Ok(listed) => Some(listed),
            Err(e) if stops(&e) => return Err(self.fail(&entry.files[0], e.to_string())),
            Err(hf_hub::HFError::Request { source, .. }) if source.is_connect() || source.is_timeout() => {
                return Err(Error::Unreachable {
                    id: self.id.to_string(),
                    endpoint: self.endpoint.to_string(),
                    reason: innermost(&source),
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "no paths-info from the Hub; asking file by file");
                None
            }
        };
        let mut plan = Vec::new();
        for file in entry.files.iter() {
            let known = listed.as_ref().map(|listed| {
                listed.iter().find_map(|item| match item {
                    hf_hub::repository::RepoTreeEntry::File { path, size, lfs, .. }
                        if *path == file.repo_path =>
                    {
                        let sha = lfs.as_ref().and_then(|l| l.sha256.clone()).filter(|s| is_sha256(s));
                        Some((*size, sha))
                    }
                    _ => None,
                })
            });
            let (hub_size, hub_sha256) = match known {
                Some(Some((size, sha))) => (Some(size), sha),
                Some(None) => {
                    return Err(
                        self.fail(file, format!("not in {} at revision {}", entry.repo, entry.revision))
                    );
                }
                None => self.head(file).await?,
            };
            plan.push(self.planned(file, hub_size, hub_sha256)?);
        }
        Ok(plan)
    }

    /// Size and SHA-256 of one file from a HEAD request, when the Hub answers it.
    async fn head(&self, file: &ModelFile) -> Result<(Option<u64>, Option<String>)> {
        let metadata = tokio::select! {
            () = self.cancel.cancelled() => return Err(self.cancelled()),
            meta = self.repo.get_file_metadata().filepath(file.repo_path.to_string()).revision(&self.entry.revision).send() => meta,
        };
        match metadata {
            Ok(meta) => {
                if is_commit(&self.entry.revision)
                    && !meta.commit_hash.is_empty()
                    && meta.commit_hash != self.entry.revision
                {
                    return Err(self.fail(
                        file,
                        format!(
                            "the Hub served commit {} for pinned revision {}",
                            meta.commit_hash, self.entry.revision
                        ),
                    ));
                }
                let sha = is_sha256(&meta.etag).then(|| meta.etag.to_lowercase());
                Ok((Some(meta.file_size).filter(|&s| s > 0), sha))
            }
            Err(e) if stops(&e) => Err(self.fail(file, e.to_string())),
            // A HEAD redirected to a CDN loses the Hub's headers; the
            // download itself still works.
            Err(e) => {
                tracing::debug!(file = %file.repo_path, error = %e, "no metadata from the Hub; relying on the catalogue");
                Ok((None, None))
            }
        }
    }

    fn planned(
        &self,
        file: &'a ModelFile,
        hub_size: Option<u64>,
        hub_sha256: Option<String>,
    ) -> Result<Planned<'a>> {
        if let (Some(pinned), Some(hub)) = (file.size, hub_size)
            && pinned != hub
        {
            return Err(Error::Integrity {
                id: self.id.to_string(),
                file: file.name.to_string(),
                what: "size",
                expected: pinned.to_string(),
                actual: format!("{hub} (as the Hub reports it)"),
            });
        }
        let (expected_sha256, check) = match (&file.sha256, hub_sha256) {
            (Some(pinned), _) => (Some(pinned.to_string()), FileCheck::Pinned),
            (None, Some(hub)) => (Some(hub), FileCheck::HubReported),
            (None, None) => (None, FileCheck::Unpinned),
        };
        Ok(Planned { file, size: file.size.or(hub_size), expected_sha256, check })
    }

    /// Bytes of `planned` already in the staging directory.
    fn on_disk(&self, planned: &Planned<'_>) -> u64 {
        let done = self.staging.join(planned.file.name.as_ref());
        let part = part_path(self.staging, planned.file);
        let len =
            std::fs::metadata(&done).or_else(|_| std::fs::metadata(&part)).map(|m| m.len()).unwrap_or(0);
        // A part file longer than the file is discarded by `fetch`.
        if planned.size.is_some_and(|size| len > size) { 0 } else { len }
    }

    /// Fetches one file, resuming its `.part` file, and returns its SHA-256 and size.
    async fn fetch(&mut self, planned: &Planned<'_>) -> Result<(String, u64)> {
        let name = planned.file.name.to_string();
        let done_path = self.staging.join(&name);
        if done_path.is_file() {
            // Finished by an earlier call; its check happens again below.
            let (sha, size) = hash_prefix(done_path.clone()).await?;
            self.progress(&name, size, Some(size), true).await;
            return Ok((hex_of(sha), size));
        }
        let part = part_path(self.staging, planned.file);
        let mut offset = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if planned.size.is_some_and(|size| offset > size) {
            std::fs::remove_file(&part).map_err(Error::io(&part))?;
            offset = 0;
        }
        let (mut hasher, hashed) =
            if offset > 0 { hash_prefix(part.clone()).await? } else { (Sha256::new(), 0) };
        offset = hashed;

        let mut attempt = 0u32;
        loop {
            if planned.size == Some(offset) {
                break;
            }
            self.check_cancel()?;
            match self.transfer(planned, &part, &mut offset, &mut hasher).await {
                Ok(Transfer::Complete) => break,
                Ok(Transfer::Restart) => {
                    // The server sent the file from its start, ignoring the
                    // range: start over rather than append a second copy.
                    std::fs::remove_file(&part).map_err(Error::io(&part))?;
                    offset = 0;
                    hasher = Sha256::new();
                    attempt += 1;
                }
                Err(Broken { message, progressed }) => {
                    attempt = if progressed { 1 } else { attempt + 1 };
                    if attempt > self.options.max_retries {
                        return Err(self.fail(planned.file, message));
                    }
                    self.sink
                        .send(DownloadEvent::Resuming {
                            model: self.id.to_string(),
                            file: name.clone(),
                            offset,
                            attempt,
                            reason: message,
                        })
                        .await;
                    let backoff = Duration::from_millis(200 * u64::from(attempt.min(10)));
                    tokio::select! {
                        () = self.cancel.cancelled() => return Err(self.cancelled()),
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
            if attempt > self.options.max_retries {
                return Err(self.fail(planned.file, "the server keeps ignoring range requests".into()));
            }
        }
        let size = offset;
        if let Some(expected) = planned.size
            && expected != size
        {
            return Err(Error::Integrity {
                id: self.id.to_string(),
                file: name,
                what: "size",
                expected: expected.to_string(),
                actual: size.to_string(),
            });
        }
        store::sync_file(&part)?;
        std::fs::rename(&part, &done_path).map_err(Error::io(&done_path))?;
        self.progress(&name, size, Some(size), true).await;
        Ok((hex_of(hasher), size))
    }

    /// One request, from `offset` to the end. On a broken transfer the bytes
    /// that did arrive stay written and hashed, and `offset` says how far.
    async fn transfer(
        &mut self,
        planned: &Planned<'_>,
        part: &Path,
        offset: &mut u64,
        hasher: &mut Sha256,
    ) -> Result<Transfer, Broken> {
        let start = *offset;
        let broken = |message: String, offset: u64| Broken { message, progressed: offset > start };
        // Without a known size the range is left open-ended; servers clamp it.
        let range = (start > 0).then(|| start..planned.size.unwrap_or(u64::MAX));
        let request = self
            .repo
            .download_file_stream()
            .filename(planned.file.repo_path.to_string())
            .revision(self.entry.revision.to_string())
            .maybe_range(range);
        let response = tokio::select! {
            () = self.cancel.cancelled() => return Err(Broken::cancelled()),
            response = request.send() => response,
        };
        let (_length, mut stream) = response.map_err(|e| broken(e.to_string(), start))?;
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(part)
            .await
            .map_err(|e| broken(format!("{}: {e}", part.display()), start))?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let name = planned.file.name.to_string();
        let result = loop {
            let next = tokio::select! {
                () = self.cancel.cancelled() => break Err(Broken::cancelled()),
                next = stream.next() => next,
            };
            match next {
                Some(Ok(chunk)) => {
                    if let Some(size) = planned.size
                        && *offset + chunk.len() as u64 > size
                    {
                        if start > 0 {
                            break Ok(Transfer::Restart);
                        }
                        break Err(broken(
                            format!("the server sent more than the expected {size} bytes"),
                            *offset,
                        ));
                    }
                    if let Err(e) = out.write_all(&chunk).await {
                        break Err(broken(format!("{}: {e}", part.display()), *offset));
                    }
                    hasher.update(&chunk);
                    *offset += chunk.len() as u64;
                    self.meter.add(chunk.len() as u64);
                    self.progress(&name, *offset, planned.size, false).await;
                }
                Some(Err(e)) => break Err(broken(e.to_string(), *offset)),
                None if planned.size.is_some_and(|size| *offset < size) => {
                    break Err(broken(format!("the connection closed after {} bytes", *offset), *offset));
                }
                None => break Ok(Transfer::Complete),
            }
        };
        // What arrived is kept for the next attempt, whatever happened.
        if let Err(e) = out.flush().await
            && result.is_ok()
        {
            return Err(broken(format!("{}: {e}", part.display()), *offset));
        }
        result
    }

    async fn progress(&mut self, file: &str, file_bytes: u64, file_total: Option<u64>, last: bool) {
        let now = Instant::now();
        if !last && now.duration_since(self.meter.last_event) < self.options.progress_interval {
            return;
        }
        self.meter.last_event = now;
        let bytes_per_sec = self.meter.speed(now);
        let eta_secs = match self.meter.total {
            Some(total) if bytes_per_sec > 0.0 => {
                Some(total.saturating_sub(self.meter.done) as f64 / bytes_per_sec)
            }
            _ => None,
        };
        self.sink
            .send(DownloadEvent::Progress {
                model: self.id.to_string(),
                file: file.to_string(),
                file_bytes,
                file_total,
                bytes: self.meter.total.map_or(self.meter.done, |total| self.meter.done.min(total)),
                total_bytes: self.meter.total,
                bytes_per_sec,
                eta_secs,
            })
            .await;
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.is_cancelled() { Err(self.cancelled()) } else { Ok(()) }
    }

    fn cancelled(&self) -> Error {
        Error::Cancelled { id: self.id.to_string() }
    }

    fn fail(&self, file: &ModelFile, message: String) -> Error {
        if self.cancel.is_cancelled() {
            return self.cancelled();
        }
        Error::Download {
            id: self.id.to_string(),
            file: file.repo_path.to_string(),
            endpoint: self.endpoint.to_string(),
            message,
        }
    }
}

/// How a request ended when it did not break.
enum Transfer {
    Complete,
    Restart,
}

/// A request that broke off; `progressed` when it wrote something first.
struct Broken {
    message: String,
    progressed: bool,
}

impl Broken {
    fn cancelled() -> Broken {
        Broken { message: "cancelled".into(), progressed: false }
    }
}

/// Bytes transferred and the recent speed, over a few seconds' window.
struct Meter {
    total: Option<u64>,
    done: u64,
    transferred: u64,
    samples: VecDeque<(Instant, u64)>,
    last_event: Instant,
}

impl Meter {
    const WINDOW: Duration = Duration::from_secs(5);

    fn new() -> Meter {
        let now = Instant::now();
        Meter { total: None, done: 0, transferred: 0, samples: VecDeque::from([(now, 0)]), last_event: now }
    }

    fn add(&mut self, bytes: u64) {
        self.done += bytes;
        self.transferred += bytes;
        let now = Instant::now();
        self.samples.push_back((now, self.transferred));
        while self.samples.len() > 2
            && self.samples.front().is_some_and(|(t, _)| now.duration_since(*t) > Meter::WINDOW)
        {
            self.samples.pop_front();
        }
    }

    fn speed(&self, now: Instant) -> f64 {
        let Some(&(t0, b0)) = self.samples.front() else { return 0.0 };
        let elapsed = now.duration_since(t0).as_secs_f64();
        if elapsed < 0.05 { 0.0 } else { (self.transferred - b0) as f64 / elapsed }
    }
}

fn part_path(staging: &Path, file: &ModelFile) -> PathBuf {
    staging.join(format!("{}.part", file.name))
}

/// The hash state and length of what is already in `path`, read off the
/// async runtime (a resumed 2 GB file takes seconds to hash).
async fn hash_prefix(path: PathBuf) -> Result<(Sha256, u64)> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(&path).map_err(Error::io(&path))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(Error::io(&path))?;
            if n == 0 {
                return Ok((hasher, len));
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
    })
    .await
    .map_err(|e| Error::Io { path: PathBuf::new(), message: format!("hashing task failed: {e}") })?
}

fn hex_of(hasher: Sha256) -> String {
    store::hex(&hasher.finalize())
}

/// Errors that mean the download cannot succeed, rather than that one way
/// of learning about a file did not work.
fn stops(e: &hf_hub::HFError) -> bool {
    matches!(
        e,
        hf_hub::HFError::EntryNotFound { .. }
            | hf_hub::HFError::RepoNotFound { .. }
            | hf_hub::HFError::RevisionNotFound { .. }
            | hf_hub::HFError::AuthRequired { .. }
            | hf_hub::HFError::Forbidden { .. }
    )
}

/// The innermost cause of `e`: "failed to lookup address information: …"
/// rather than "error sending request for url (…)".
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}
