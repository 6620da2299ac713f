use std::path::{Path, PathBuf};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No memory with this id in this project.
    #[error("memory {0} not found")]
    NotFound(i64),
    /// The database file could not be opened.
    #[error("cannot open memory database {path}: {detail}")]
    Open {
        /// The file.
        path: PathBuf,
        /// SQLite's reason.
        detail: String,
    },
    /// The file is not a SQLite database, or is damaged.
    #[error(
        "memory database {path} is corrupt or not a SQLite database ({detail}); move it aside to start afresh"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// SQLite's reason.
        detail: String,
    },
    /// A newer version of claude-memory wrote the file (its schema has a
    /// migration this one does not know): it is left untouched.
    #[error(
        "memory database {path} was written by a newer claude-memory (schema version {version}); update claude-memory to open it"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// The newest migration this binary does not know.
        version: i64,
    },
    /// The schema could not be brought up to date.
    #[error("cannot update the schema of {path}: {detail}")]
    Migrate {
        /// The file.
        path: PathBuf,
        /// The migrator's reason.
        detail: String,
    },
    /// A vector of the wrong length for its model.
    #[error("embedding model {model} has dimension {expected}, got a vector of {actual}")]
    Dimension {
        /// Model id.
        model: String,
        /// Dimension recorded for the model.
        expected: usize,
        /// Length received.
        actual: usize,
    },
    /// A value read back from the database that the domain rejects.
    #[error("invalid data in the database: {0}")]
    Data(String),
    /// Bad input.
    #[error(transparent)]
    Invalid(#[from] cm_core::Error),
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
}

impl Error {
    /// Classifies an error met while opening `path`: "not a database" and
    /// "malformed" become [`Error::Corrupt`].
    pub(crate) fn open(path: &Path, e: impl std::fmt::Display) -> Error {
        let detail = e.to_string();
        let lower = detail.to_lowercase();
        if lower.contains("not a database") || lower.contains("malformed") || lower.contains("corrupt") {
            Error::Corrupt { path: path.to_owned(), detail }
        } else {
            Error::Open { path: path.to_owned(), detail }
        }
    }
}

/// Result alias for the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;
