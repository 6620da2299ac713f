/// Why Claude Code's configuration could not be set up or removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project folder cannot be used, or its data folder cannot be created.
    #[error(transparent)]
    Project(#[from] cm_engine::Error),
    /// A file we will not edit, or a set-up that cannot be done (the message
    /// names the file, and says when nothing was changed).
    #[error("{0}")]
    Refused(String),
    /// Filesystem failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
