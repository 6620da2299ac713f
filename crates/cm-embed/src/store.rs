//! The model store: installed models under one cache directory.
//!
//! The layout is `<root>/<id>/` holding the model's files (flat, under the
//! names the catalogue gives them) and a `manifest.json` saying what was
//! installed, from where, and how far it could be verified. The front ends
//! pass `<CLAUDE_MEMORY_HOME>/models` as the root, which is also where the
//! embedder looks for `<id>` by default.
//!
//! A model directory only ever appears whole: files are staged in
//! `<root>/.partial-<id>-<random>/`, checked, given their manifest, and the
//! staging directory is renamed into place in one step. A crash or a
//! cancelled download leaves a `.partial-*` directory that nothing reads
//! (downloads resume from it), never a half-installed `<id>/`. One lock file
//! per model (`<root>/.lock-<id>`) keeps two processes from installing the
//! same model at once.
//!
//! Everything here except [`ModelStore::download`] does blocking file I/O
//! (hashing a 2 GB model takes seconds); async callers should run it on
//! `spawn_blocking`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalogue::{CATALOGUE, CatalogueEntry, ModelFile};
use crate::service::EmbedConfig;
use crate::spec::ModelSpec;
use crate::{Error, Result, archive};

/// The manifest's file name inside a model directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What the manifest says a local build is, word for word: the files were
/// accepted although they differ from what the catalogue pins on Hugging Face.
pub const LOCAL_BUILD_NOTE: &str = "local build (unverified against Hugging Face)";

const MANIFEST_FORMAT: u32 = 1;

/// How one installed file was checked when it was installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileCheck {
    /// Its SHA-256 equals the one the catalogue pins.
    Pinned,
    /// The catalogue pins none, but it equals the SHA-256 the Hub reported
    /// for it while downloading (an LFS file's object id or ETag).
    HubReported,
    /// Nothing to check it against.
    Unpinned,
    /// It differs from the catalogue's pin and was accepted because the model
    /// was named explicitly (a model built locally, for instance).
    LocalBuild,
}

/// One file of an installed model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ManifestFile {
    /// Name inside the model directory.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// How it was checked.
    pub check: FileCheck,
}

/// Where an installed model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InstallSource {
    /// Downloaded from a Hugging Face Hub.
    Download {
        /// The Hub's base URL.
        endpoint: String,
        /// Repository, `owner/name`.
        repo: String,
        /// The pinned revision.
        revision: String,
    },
    /// Installed from a local directory or archive.
    Local {
        /// The directory or archive.
        path: PathBuf,
    },
}

/// `manifest.json`: what an installed model is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Manifest {
    /// Layout version of this file.
    pub format: u32,
    /// The model's id.
    pub id: String,
    /// How to run it, so an installed model stays usable even if a later
    /// catalogue drops it.
    pub spec: ModelSpec,
    /// Its files.
    pub files: Vec<ManifestFile>,
    /// When it was installed, RFC 3339, UTC.
    pub installed_at: String,
    /// Where it came from.
    pub source: InstallSource,
    /// How far it is verified, in words (`verified`, or [`LOCAL_BUILD_NOTE`], ...).
    pub verification: String,
}

/// How trustworthy an installed model is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ModelState {
    /// Every file matches the catalogue's SHA-256 (or, where it pins none, the Hub's).
    Verified,
    /// Intact, but some files had nothing to be checked against.
    Unverified {
        /// The files without a known SHA-256.
        unpinned: Vec<String>,
    },
    /// Intact, but built or obtained elsewhere: it differs from the catalogue's pins.
    LocalBuild {
        /// The files that differ.
        differing: Vec<String>,
    },
    /// Files are missing or changed since they were installed.
    Damaged {
        /// What is wrong, one line per file.
        problems: Vec<String>,
    },
    /// A directory without a manifest: not installed by claude-memory.
    Unmanaged,
}

impl std::fmt::Display for ModelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelState::Verified => f.write_str("verified"),
            ModelState::Unverified { unpinned } => {
                write!(f, "unverified (no known SHA-256 for {})", unpinned.join(", "))
            }
            ModelState::LocalBuild { .. } => f.write_str(LOCAL_BUILD_NOTE),
            ModelState::Damaged { problems } => write!(f, "damaged: {}", problems.join("; ")),
            ModelState::Unmanaged => f.write_str("unmanaged (no manifest)"),
        }
    }
}

/// An installed model, as [`ModelStore::list`] reports it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InstalledModel {
    /// Its id (the directory's name).
    pub id: String,
    /// Its directory.
    pub path: PathBuf,
    /// Its catalogue entry, if the catalogue knows it.
    pub entry: Option<CatalogueEntry>,
    /// Its manifest; `None` for an unmanaged directory.
    pub manifest: Option<Manifest>,
    /// Bytes of the files in its directory.
    pub size_on_disk: u64,
    /// How far it can be trusted. From the manifest and a check that every
    /// file is there with its recorded size; [`ModelStore::verify`] re-hashes.
    pub state: ModelState,
}

/// One file's result in a [`VerifyReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FileReport {
    /// Name inside the model directory.
    pub name: String,
    /// SHA-256 recorded at install time.
    pub recorded_sha256: String,
    /// SHA-256 now; `None` if the file is missing.
    pub actual_sha256: Option<String>,
    /// SHA-256 the catalogue pins, if any.
    pub pinned_sha256: Option<String>,
    /// How it checks out against the catalogue (or the Hub).
    pub check: FileCheck,
}

/// The result of re-hashing an installed model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct VerifyReport {
    /// The model's id.
    pub id: String,
    /// Overall state.
    pub state: ModelState,
    /// Every file.
    pub files: Vec<FileReport>,
}

/// How [`ModelStore::install_from`] should treat its source.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// The catalogue model the source holds. Without it, the model is
    /// recognised by the SHA-256 of its ONNX file. Naming it also accepts
    /// files that differ from the catalogue's pins, recorded as a local build.
    pub model: Option<String>,
    /// Replace an installed model of the same id.
    pub replace: bool,
}

/// The installed models under one directory, and the catalogue they come from.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
    catalogue: Vec<CatalogueEntry>,
}

impl ModelStore {
    /// A store over `root` with the built-in [`CATALOGUE`]. Nothing is created
    /// or read until it is used.
    pub fn new(root: impl Into<PathBuf>) -> ModelStore {
        ModelStore::with_catalogue(root, CATALOGUE.to_vec())
    }

    /// A store with another catalogue (tests serve their own models).
    pub fn with_catalogue(root: impl Into<PathBuf>, catalogue: Vec<CatalogueEntry>) -> ModelStore {
        ModelStore { root: root.into(), catalogue }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The catalogue this store installs from.
    pub fn catalogue(&self) -> &[CatalogueEntry] {
        &self.catalogue
    }

    /// The catalogue entry called `id`.
    pub fn entry(&self, id: &str) -> Result<&CatalogueEntry> {
        self.catalogue.iter().find(|e| e.id() == id).ok_or_else(|| Error::UnknownModel {
            id: id.to_string(),
            known: self.catalogue.iter().map(|e| e.id().to_string()).collect(),
        })
    }

    /// Where model `id` is (or would be) installed.
    pub fn path(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Whether model `id` is installed (its directory has a manifest).
    pub fn is_installed(&self, id: &str) -> bool {
        valid_id(id) && self.path(id).join(MANIFEST_FILE).is_file()
    }

    /// The manifest of installed model `id`.
    pub fn manifest(&self, id: &str) -> Result<Manifest> {
        if !self.is_installed(id) {
            return Err(Error::NotInstalled { id: id.to_string() });
        }
        read_manifest(&self.path(id).join(MANIFEST_FILE))
    }

    /// An embedder configuration for installed model `id`: its directory and
    /// the spec recorded when it was installed.
    pub fn embed_config(&self, id: &str) -> Result<EmbedConfig> {
        let manifest = self.manifest(id)?;
        Ok(EmbedConfig::new(self.path(id), manifest.spec))
    }

    /// Every model directory under the root, sorted by id. Staging
    /// directories and lock files (names starting with `.`) are not models.
    pub fn list(&self) -> Result<Vec<InstalledModel>> {
        let read = match fs::read_dir(&self.root) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.root)(e)),
        };
        let mut models = Vec::new();
        for dirent in read {
            let dirent = dirent.map_err(Error::io(&self.root))?;
            let name = dirent.file_name().to_string_lossy().into_owned();
            let path = dirent.path();
            if name.starts_with('.') || !path.is_dir() {
                continue;
            }
            let entry = self.catalogue.iter().find(|e| e.id() == name).cloned();
            let size_on_disk = dir_size(&path);
            let manifest_path = path.join(MANIFEST_FILE);
            let (manifest, state) = if manifest_path.is_file() {
                match read_manifest(&manifest_path) {
                    Ok(manifest) => {
                        let state = quick_state(&path, &manifest, entry.as_ref());
                        (Some(manifest), state)
                    }
                    Err(e) => (None, ModelState::Damaged { problems: vec![e.to_string()] }),
                }
            } else {
                (None, ModelState::Unmanaged)
            };
            models.push(InstalledModel { id: name, path, entry, manifest, size_on_disk, state });
        }
        models.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(models)
    }

    /// Re-hashes every file of installed model `id` and compares it with what
    /// was recorded at install time and with the catalogue's pins.
    pub fn verify(&self, id: &str) -> Result<VerifyReport> {
        let manifest = self.manifest(id)?;
        let dir = self.path(id);
        let entry = self.catalogue.iter().find(|e| e.id() == id);
        let mut files = Vec::new();
        let mut problems = Vec::new();
        for file in &manifest.files {
            let path = dir.join(&file.name);
            let actual = if path.is_file() { Some(sha256_file(&path)?.0) } else { None };
            match &actual {
                None => problems.push(format!("{} is missing", file.name)),
                Some(sha) if *sha != file.sha256 => {
                    problems.push(format!("{} changed since it was installed", file.name))
                }
                Some(_) => {}
            }
            let pinned = pin_for(entry, &file.name);
            files.push(FileReport {
                name: file.name.clone(),
                recorded_sha256: file.sha256.clone(),
                actual_sha256: actual,
                pinned_sha256: pinned.map(str::to_string),
                check: recheck(file, pinned),
            });
        }
        let state = if problems.is_empty() {
            state_of(files.iter().map(|f| (f.name.as_str(), f.check)))
        } else {
            ModelState::Damaged { problems }
        };
        Ok(VerifyReport { id: id.to_string(), state, files })
    }

    /// Removes installed model `id` (its whole directory), and any staging
    /// directories it left behind.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.path(id);
        if !valid_id(id) || !dir.is_dir() {
            return Err(Error::NotInstalled { id: id.to_string() });
        }
        let _lock = self.lock(id)?;
        // Renamed away first, so a crash half-way through deleting leaves a
        // `.removing-*` directory nothing reads rather than a damaged model.
        let doomed = self.root.join(format!(".removing-{id}-{}", random_suffix()));
        fs::rename(&dir, &doomed).map_err(Error::io(&dir))?;
        fs::remove_dir_all(&doomed).map_err(Error::io(&doomed))?;
        for stale in self.staging_dirs(id) {
            let _ = fs::remove_dir_all(stale);
        }
        tracing::info!(model = id, "model removed");
        Ok(())
    }

    /// Installs a model from a local directory, or a `.zip`, `.tar.gz` or
    /// `.tgz` archive, holding its files (flat, or laid out as in the
    /// Hugging Face repository, e.g. `onnx/model.onnx`).
    ///
    /// The model is the one named in `options`, or else the catalogue model
    /// whose ONNX file has the same SHA-256 as one found in the source; if
    /// none or several match, the error lists what was found. Sizes and
    /// SHA-256 are checked where the catalogue knows them: a mismatch is an
    /// error, unless the model was named explicitly, in which case the
    /// install is recorded as a [local build](LOCAL_BUILD_NOTE).
    pub fn install_from(&self, source: &Path, options: &InstallOptions) -> Result<InstalledModel> {
        if !source.exists() {
            return Err(Error::Io {
                path: source.to_path_buf(),
                message: "no such file or directory".into(),
            });
        }
        fs::create_dir_all(&self.root).map_err(Error::io(&self.root))?;
        if source.is_dir() {
            return self.install_from_dir(source, source, options, false);
        }
        let unpacked = Staging::new(self.root.join(format!(".unpack-{}", random_suffix())))?;
        archive::extract(source, &unpacked.path)?;
        let dir = archive::model_root(&unpacked.path);
        self.install_from_dir(&dir, source, options, true)
    }

    fn install_from_dir(
        &self,
        dir: &Path,
        source: &Path,
        options: &InstallOptions,
        move_files: bool,
    ) -> Result<InstalledModel> {
        let mut hashes = HashCache::default();
        let entry = match &options.model {
            Some(id) => self.entry(id)?.clone(),
            None => self.recognise(dir, source, &mut hashes)?,
        };
        let id = entry.id().to_string();
        self.refuse_if_installed(&id, options.replace)?;
        let _lock = self.lock(&id)?;

        let mut located = Vec::new();
        let mut missing = Vec::new();
        for file in entry.files.iter() {
            match locate(dir, file) {
                Some(path) => located.push((file, path)),
                None => missing.push(file.name.to_string()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::MissingFiles { id, source_path: source.to_path_buf(), missing });
        }

        let mut files = Vec::new();
        for (file, path) in &located {
            let (sha256, size) = hashes.get(path)?;
            let check = match check_against_pin(&entry, file, &sha256, size) {
                Ok(check) => check,
                Err(_) if options.model.is_some() => FileCheck::LocalBuild,
                Err(e) => return Err(e),
            };
            files.push(ManifestFile { name: file.name.to_string(), size, sha256, check });
        }

        let staging = Staging::new(self.root.join(format!(".partial-{id}-{}", random_suffix())))?;
        for (file, path) in &located {
            let target = staging.path.join(file.name.as_ref());
            if move_files {
                fs::rename(path, &target).map_err(Error::io(path))?;
            } else {
                fs::copy(path, &target).map_err(Error::io(path))?;
            }
        }
        let manifest = new_manifest(&entry, files, InstallSource::Local { path: absolute(source) });
        self.commit(staging, &manifest, options.replace)?;
        tracing::info!(model = %id, source = %source.display(), verification = %manifest.verification, "model installed");
        self.installed(&id)
    }

    /// The catalogue model whose ONNX file is in `dir`, by SHA-256.
    fn recognise(&self, dir: &Path, source: &Path, hashes: &mut HashCache) -> Result<CatalogueEntry> {
        let mut found = Vec::new();
        let mut matches: Vec<&CatalogueEntry> = Vec::new();
        for path in onnx_files(dir) {
            let (sha256, size) = hashes.get(&path)?;
            let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
            found.push(format!("{name} ({size} bytes, sha256 {sha256})"));
            for entry in &self.catalogue {
                let primary = entry.onnx_file().and_then(|f| f.sha256.as_deref());
                if primary == Some(sha256.as_str()) && !matches.iter().any(|m| m.id() == entry.id()) {
                    matches.push(entry);
                }
            }
        }
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::Unrecognised {
                source_path: source.to_path_buf(),
                reason: if found.is_empty() {
                    "it holds no .onnx file".into()
                } else {
                    "no ONNX file in it has the SHA-256 of a catalogue model".into()
                },
                found: if found.is_empty() { vec!["nothing usable".into()] } else { found },
            }),
            several => Err(Error::Unrecognised {
                source_path: source.to_path_buf(),
                reason: "it holds the ONNX files of several catalogue models".into(),
                found: several.iter().map(|e| e.id().to_string()).collect(),
            }),
        }
    }

    fn installed(&self, id: &str) -> Result<InstalledModel> {
        self.list()?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| Error::NotInstalled { id: id.to_string() })
    }

    pub(crate) fn refuse_if_installed(&self, id: &str, replace: bool) -> Result<()> {
        if !replace && self.path(id).exists() {
            return Err(Error::AlreadyInstalled { id: id.to_string(), path: self.path(id) });
        }
        Ok(())
    }

    /// Takes the per-model install lock, or fails at once if it is held.
    pub(crate) fn lock(&self, id: &str) -> Result<ModelLock> {
        if !valid_id(id) {
            return Err(Error::InvalidConfig(format!("`{id}` is not a valid model id")));
        }
        fs::create_dir_all(&self.root).map_err(Error::io(&self.root))?;
        let path = self.root.join(format!(".lock-{id}"));
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(Error::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(ModelLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(Error::Busy { id: id.to_string(), lock: path }),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(&path)(e)),
        }
    }

    /// Staging directories of model `id` (`.partial-<id>-*`).
    pub(crate) fn staging_dirs(&self, id: &str) -> Vec<PathBuf> {
        let prefix = format!(".partial-{id}-");
        let Ok(read) = fs::read_dir(&self.root) else { return Vec::new() };
        read.filter_map(|d| d.ok())
            .filter(|d| d.file_name().to_string_lossy().starts_with(&prefix))
            .map(|d| d.path())
            .filter(|p| p.is_dir())
            .collect()
    }

    /// Writes the manifest into a complete staging directory, makes it
    /// durable, and renames it to `<root>/<id>`. The caller holds the lock.
    pub(crate) fn commit(&self, staging: Staging, manifest: &Manifest, replace: bool) -> Result<()> {
        let dir = staging.path.clone();
        for file in &manifest.files {
            sync_file(&dir.join(&file.name))?;
        }
        let manifest_path = dir.join(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(manifest).expect("a manifest always serialises");
        let mut out = File::create(&manifest_path).map_err(Error::io(&manifest_path))?;
        out.write_all(&json).and_then(|()| out.sync_all()).map_err(Error::io(&manifest_path))?;
        sync_dir(&dir);

        let target = self.path(&manifest.id);
        let mut old = None;
        if target.exists() {
            if !replace {
                return Err(Error::AlreadyInstalled { id: manifest.id.clone(), path: target });
            }
            let aside = self.root.join(format!(".removing-{}-{}", manifest.id, random_suffix()));
            fs::rename(&target, &aside).map_err(Error::io(&target))?;
            old = Some(aside);
        }
        fs::rename(&dir, &target).map_err(Error::io(&target))?;
        staging.keep();
        sync_dir(&self.root);
        if let Some(old) = old {
            let _ = fs::remove_dir_all(old);
        }
        Ok(())
    }
}

/// Held while a model is being installed, downloaded or removed.
#[derive(Debug)]
pub(crate) struct ModelLock {
    _file: File,
}

/// A directory that is deleted when dropped, unless kept.
#[derive(Debug)]
pub(crate) struct Staging {
    pub(crate) path: PathBuf,
    keep: bool,
}

impl Staging {
    pub(crate) fn new(path: PathBuf) -> Result<Staging> {
        fs::create_dir_all(&path).map_err(Error::io(&path))?;
        Ok(Staging { path, keep: false })
    }

    /// Adopts an existing directory (a download being resumed).
    pub(crate) fn existing(path: PathBuf) -> Staging {
        Staging { path, keep: false }
    }

    /// Leaves the directory where it is (renamed into place, or kept for a resume).
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// SHA-256 and size of every file hashed during one install, so a file is
/// read once even when it is both recognised and verified.
#[derive(Debug, Default)]
struct HashCache(HashMap<PathBuf, (String, u64)>);

impl HashCache {
    fn get(&mut self, path: &Path) -> Result<(String, u64)> {
        if let Some(hit) = self.0.get(path) {
            return Ok(hit.clone());
        }
        let value = sha256_file(path)?;
        self.0.insert(path.to_path_buf(), value.clone());
        Ok(value)
    }
}

pub(crate) fn new_manifest(
    entry: &CatalogueEntry,
    files: Vec<ManifestFile>,
    source: InstallSource,
) -> Manifest {
    let verification = state_of(files.iter().map(|f| (f.name.as_str(), f.check))).to_string();
    Manifest {
        format: MANIFEST_FORMAT,
        id: entry.id().to_string(),
        spec: entry.spec.clone(),
        files,
        installed_at: now_rfc3339(),
        source,
        verification,
    }
}

/// Checks a file's size and SHA-256 against what the catalogue pins.
pub(crate) fn check_against_pin(
    entry: &CatalogueEntry,
    file: &ModelFile,
    sha256: &str,
    size: u64,
) -> Result<FileCheck> {
    let mismatch = |what, expected: String, actual: String| Error::Integrity {
        id: entry.id().to_string(),
        file: file.name.to_string(),
        what,
        expected,
        actual,
    };
    if let Some(expected) = file.size
        && expected != size
    {
        return Err(mismatch("size", expected.to_string(), size.to_string()));
    }
    match file.sha256.as_deref() {
        Some(expected) if expected != sha256 => {
            Err(mismatch("sha256", expected.to_string(), sha256.to_string()))
        }
        Some(_) => Ok(FileCheck::Pinned),
        None => Ok(FileCheck::Unpinned),
    }
}

/// The overall state of an intact model whose files checked out as `checks`.
fn state_of<'a>(checks: impl Iterator<Item = (&'a str, FileCheck)>) -> ModelState {
    let mut unpinned = Vec::new();
    let mut differing = Vec::new();
    for (name, check) in checks {
        match check {
            FileCheck::Pinned | FileCheck::HubReported => {}
            FileCheck::Unpinned => unpinned.push(name.to_string()),
            FileCheck::LocalBuild => differing.push(name.to_string()),
        }
    }
    if !differing.is_empty() {
        ModelState::LocalBuild { differing }
    } else if !unpinned.is_empty() {
        ModelState::Unverified { unpinned }
    } else {
        ModelState::Verified
    }
}

/// The state from the manifest, after checking only that each file is there
/// with its recorded size (cheap enough for every `list`).
fn quick_state(dir: &Path, manifest: &Manifest, entry: Option<&CatalogueEntry>) -> ModelState {
    let mut problems = Vec::new();
    for file in &manifest.files {
        match fs::metadata(dir.join(&file.name)) {
            Ok(meta) if meta.len() == file.size => {}
            Ok(meta) => {
                problems.push(format!("{} is {} bytes, {} were installed", file.name, meta.len(), file.size))
            }
            Err(_) => problems.push(format!("{} is missing", file.name)),
        }
    }
    if !problems.is_empty() {
        return ModelState::Damaged { problems };
    }
    state_of(manifest.files.iter().map(|f| (f.name.as_str(), recheck(f, pin_for(entry, &f.name)))))
}

/// A recorded file's check against today's catalogue (a pin may have been
/// added since it was installed).
fn recheck(file: &ManifestFile, pinned: Option<&str>) -> FileCheck {
    match pinned {
        Some(pin) if pin == file.sha256 => FileCheck::Pinned,
        Some(_) => FileCheck::LocalBuild,
        None => file.check,
    }
}

fn pin_for<'a>(entry: Option<&'a CatalogueEntry>, name: &str) -> Option<&'a str> {
    entry?.files.iter().find(|f| f.name == name)?.sha256.as_deref()
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = fs::read(path).map_err(Error::io(path))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Manifest { path: path.to_path_buf(), message: e.to_string() })?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(Error::Manifest {
            path: path.to_path_buf(),
            message: format!("format {} is not the supported {MANIFEST_FORMAT}", manifest.format),
        });
    }
    Ok(manifest)
}

/// Where `file` is in a source directory: under its installed name, its
/// repository path, or the last part of its repository path.
fn locate(dir: &Path, file: &ModelFile) -> Option<PathBuf> {
    let base = file.repo_path.rsplit('/').next().unwrap_or(&file.repo_path);
    [file.name.as_ref(), file.repo_path.as_ref(), base]
        .into_iter()
        .map(|candidate| dir.join(candidate))
        .find(|p| p.is_file())
}

/// The `.onnx` files at the top of `dir` and in its `onnx/` folder.
fn onnx_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for place in [dir.to_path_buf(), dir.join("onnx")] {
        let Ok(read) = fs::read_dir(&place) else { continue };
        for dirent in read.flatten() {
            let path = dirent.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "onnx") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A model id is used as a directory name: no separators, no leading dot.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// SHA-256 (lower-case hex) and size of a file.
pub(crate) fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).map_err(Error::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(Error::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub(crate) fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".into())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(read) = fs::read_dir(dir) else { return 0 };
    read.flatten()
        .map(|d| match d.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&d.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

pub(crate) fn sync_file(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| f.sync_all()).map_err(Error::io(path))
}

/// Makes a rename inside `dir` durable. Best effort: not every platform can
/// open a directory for syncing, and the rename itself is already atomic.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_the_root_are_invalid() {
        assert!(valid_id("bge-m3-int8"));
        for bad in ["", ".partial-x", "../x", "a/b", "a\\b"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn state_prefers_the_strongest_warning() {
        let s = state_of([("a", FileCheck::Pinned), ("b", FileCheck::Unpinned)].into_iter());
        assert_eq!(s, ModelState::Unverified { unpinned: vec!["b".into()] });
        let s = state_of([("a", FileCheck::LocalBuild), ("b", FileCheck::Unpinned)].into_iter());
        assert_eq!(s.to_string(), LOCAL_BUILD_NOTE);
        let s = state_of([("a", FileCheck::HubReported), ("b", FileCheck::Pinned)].into_iter());
        assert_eq!(s, ModelState::Verified);
    }
}
