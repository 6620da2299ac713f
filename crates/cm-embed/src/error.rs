//! The crate's one error type.

use std::path::PathBuf;

/// What to tell a user whose ONNX Runtime could not be found or loaded.
const ORT_HINT: &str = "install ONNX Runtime 1.31 or newer (the `onnxruntime` release for your platform, \
     or `pip install onnxruntime` and point at the library inside it) and set `ORT_DYLIB_PATH` \
     (or the configured runtime path) to the `libonnxruntime` file";

/// Everything that can go wrong while finding the runtime, loading a model or embedding.
///
/// Runtime and tokenizer errors are carried as text so that no type of `ort`
/// or `tokenizers` leaks into the public API, and so that the error is
/// `Clone`: one failed batch answers every request that was in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No ONNX Runtime library in any of the places searched.
    #[error("ONNX Runtime library not found; searched: {}; to fix: {ORT_HINT}", list(searched))]
    RuntimeNotFound {
        /// Every file or directory looked at, in order.
        searched: Vec<PathBuf>,
    },
    /// A path that was asked for explicitly does not exist.
    #[error("ONNX Runtime library {} (from {origin}) does not exist; to fix: {ORT_HINT}", path.display())]
    RuntimeMissing {
        /// The path given.
        path: PathBuf,
        /// Where it came from: the configuration or `ORT_DYLIB_PATH`.
        origin: &'static str,
    },
    /// The library exists but could not be loaded (not a shared library,
    /// wrong architecture, missing dependencies, not ONNX Runtime).
    #[error("could not load ONNX Runtime from {}: {reason}; to fix: {ORT_HINT}", path.display())]
    RuntimeLoad {
        /// The library file.
        path: PathBuf,
        /// What the loader said.
        reason: String,
    },
    /// The library is ONNX Runtime, but older than the API this build needs.
    #[error(
        "ONNX Runtime at {} is version {found}, but claude-memory needs {required} or newer; to fix: {ORT_HINT}",
        path.display()
    )]
    RuntimeVersion {
        /// The library file.
        path: PathBuf,
        /// The version it reports.
        found: String,
        /// The oldest version accepted.
        required: String,
    },
    /// ONNX Runtime failed at something after loading (creating the
    /// environment or a session, running the model).
    #[error("ONNX Runtime: {context}: {message}")]
    Ort {
        /// What was being done.
        context: String,
        /// ONNX Runtime's message.
        message: String,
    },
    /// A model directory or one of its files is missing.
    #[error("{} not found: download the model, or fix the configured model directory", path.display())]
    ModelNotFound {
        /// The missing directory or file.
        path: PathBuf,
    },
    /// `tokenizer.json` could not be read or used.
    #[error("tokenizer {}: {message}", path.display())]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The ONNX model does not have the inputs or outputs an embedding model needs.
    #[error("model {} is not a supported embedding model: {reason}", path.display())]
    UnsupportedModel {
        /// The ONNX file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// Tokenising a batch failed.
    #[error("tokenising failed: {0}")]
    Tokenize(String),
    /// A setting is out of range.
    #[error("invalid embedding configuration: {0}")]
    InvalidConfig(String),
    /// Too many requests are waiting; the caller should retry later or go on without a vector.
    #[error("embedding queue is full ({capacity} requests waiting); try again later")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// No catalogue model has this id.
    #[error("unknown model `{id}`; known models: {}", known.join(", "))]
    UnknownModel {
        /// The id asked for.
        id: String,
        /// Every id the catalogue has.
        known: Vec<String>,
    },
    /// The model is not installed in the model store.
    #[error("model `{id}` is not installed; install it with `claude-memory models install {id}`")]
    NotInstalled {
        /// The model's id.
        id: String,
    },
    /// The model is already installed and replacing it was not asked for.
    #[error("model `{id}` is already installed at {}; remove it first or ask to replace it", path.display())]
    AlreadyInstalled {
        /// The model's id.
        id: String,
        /// Its directory.
        path: PathBuf,
    },
    /// Another process (or task) is installing or downloading the same model.
    #[error("model `{id}` is being installed by another process (lock {} is held); try again when it is done", lock.display())]
    Busy {
        /// The model's id.
        id: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// Reading or writing a file of the model store failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// A file's content is not what the catalogue (or the Hub) says it must be.
    #[error("{file} of model `{id}` failed verification: expected {what} {expected}, got {actual}")]
    Integrity {
        /// The model's id.
        id: String,
        /// The file's name.
        file: String,
        /// `sha256` or `size`.
        what: &'static str,
        /// What it should be.
        expected: String,
        /// What it is.
        actual: String,
    },
    /// A model source does not hold the files the model needs.
    #[error("{} does not hold model `{id}`: missing {}", source_path.display(), missing.join(", "))]
    MissingFiles {
        /// The model's id.
        id: String,
        /// The directory or archive installed from.
        source_path: PathBuf,
        /// The files not found.
        missing: Vec<String>,
    },
    /// No catalogue model could be recognised in a source, or more than one could.
    #[error("cannot tell which model {} holds: {reason}; found: {}; name the model explicitly (`--model ID`)", source_path.display(), found.join(", "))]
    Unrecognised {
        /// The directory or archive installed from.
        source_path: PathBuf,
        /// Why not.
        reason: String,
        /// What was found there (ONNX files with their SHA-256, or the candidate models).
        found: Vec<String>,
    },
    /// An archive could not be read or holds something unsafe.
    #[error("archive {}: {message}", path.display())]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Fetching a file from the Hugging Face Hub failed.
    #[error("downloading {file} of model `{id}` from {endpoint}: {message}")]
    Download {
        /// The model's id.
        id: String,
        /// The file's path in the repository.
        file: String,
        /// The Hub endpoint used.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The Hub cannot be reached at all (no network, DNS, refused, timed
    /// out): said at once, with the way to install without it.
    #[error(
        "cannot reach {endpoint} to download model `{id}` ({reason}); without network, install it \
         from a copy: claude-memory models install {id} --from DIR_OR_ARCHIVE"
    )]
    Unreachable {
        /// The model's id.
        id: String,
        /// The Hub endpoint used.
        endpoint: String,
        /// The innermost cause ("failed to lookup address", "Connection refused").
        reason: String,
    },
    /// A download was cancelled; nothing was installed.
    #[error("download of model `{id}` was cancelled")]
    Cancelled {
        /// The model's id.
        id: String,
    },
    /// An installed model's `manifest.json` cannot be read.
    #[error("manifest {}: {message}; reinstall the model", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The worker thread has stopped (its model failed to load, or it panicked).
    #[error("the embedding worker has stopped{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    WorkerStopped {
        /// Why, when known.
        reason: Option<String>,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Ort`] for a failure while doing `context`.
    pub(crate) fn ort<E: std::fmt::Display>(context: impl Into<String>) -> impl FnOnce(E) -> Error {
        let context = context.into();
        move |e| Error::Ort { context, message: e.to_string() }
    }
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |e| Error::Io { path, message: e.to_string() }
    }
}

impl From<Error> for cm_core::EmbedError {
    fn from(e: Error) -> Self {
        cm_core::EmbedError(e.to_string())
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
