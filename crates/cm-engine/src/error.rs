/// Errors from the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input.
    #[error(transparent)]
    Invalid(#[from] cm_core::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] cm_store::Error),
    /// The embedder failed (saves still succeed without a vector; searches fall back to BM25).
    #[error(transparent)]
    Embed(#[from] cm_core::EmbedError),
    /// A project directory problem.
    #[error("{0}")]
    Project(String),
    /// An import file could not be read.
    #[error("cannot import line {line}: {message}")]
    Import {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// Filesystem failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A read named a folder that is not a project: reads never create one.
    #[error(
        "{} is not a claude-memory project (no .claude-memory/ folder): run `claude-memory setup` there, or save a memory to start one",
        .0.display()
    )]
    NotAProject(std::path::PathBuf),
    /// Memory is paused (from the tray menu or the dashboard): nothing is saved.
    #[error("memory is paused; resume it to save")]
    Paused,
    /// Team memory: not linked, a private memory, or the team database failed.
    #[error("{0}")]
    Team(String),
}

impl Error {
    /// Whether the error means the memory id does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Store(cm_store::Error::NotFound(_)))
    }

    /// Whether a file the work needs does not exist (a retry cannot help).
    pub fn is_missing_file(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
