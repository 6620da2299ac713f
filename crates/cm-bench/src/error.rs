/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine failed (saving, searching, opening a project).
    #[error(transparent)]
    Engine(#[from] cm_engine::Error),
    /// A memory the benchmark built was refused.
    #[error(transparent)]
    Invalid(#[from] cm_core::Error),
    /// A benchmark data set could not be understood.
    #[error("{file}: {message}")]
    Data {
        /// The file (or directory) at fault.
        file: String,
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
}

/// Result alias for the benchmarks.
pub type Result<T, E = Error> = std::result::Result<T, E>;
