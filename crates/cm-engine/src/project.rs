//! Projects: directories holding a `.claude-memory/` folder.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Name of the per-project data folder.
pub const DATA_DIR: &str = ".claude-memory";
/// The database file inside [`DATA_DIR`].
pub const DB_FILE: &str = "memory.db";

/// Written into a new data folder so its databases are never committed, even
/// when the project's own `.gitignore` does not mention them.
const DATA_GITIGNORE: &str = "# Created by claude-memory: local databases are never committed.\n*\n";

/// A project: a canonical root directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// The project rooted at `root`, which must be an existing directory.
    pub fn at(root: &Path) -> Result<Project> {
        let root = root
            .canonicalize()
            .map_err(|e| Error::Project(format!("project directory {}: {e}", root.display())))?;
        if !root.is_dir() {
            return Err(Error::Project(format!("{} is not a directory", root.display())));
        }
        Ok(Project { root })
    }

    /// The project's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/.claude-memory`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join(DATA_DIR)
    }

    /// `<root>/.claude-memory/memory.db`.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join(DB_FILE)
    }

    /// Creates the data folder (with its ignore file) if it does not exist.
    pub fn ensure_data_dir(&self) -> Result<PathBuf> {
        let dir = self.data_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|source| Error::Io { context: format!("creating {}", dir.display()), source })?;
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, DATA_GITIGNORE)
                .map_err(|source| Error::Io { context: format!("writing {}", ignore.display()), source })?;
        }
        Ok(dir)
    }
}

/// The project for `start`: the nearest ancestor holding `.claude-memory/`,
/// else the root of the git repository containing it, else `None`.
pub fn find_project(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    if let Some(dir) = start.ancestors().find(|d| d.join(DATA_DIR).is_dir()) {
        return Some(dir.to_owned());
    }
    start.ancestors().find(|d| d.join(".git").exists()).map(Path::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_data_dir_wins_over_git_root() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let sub = repo.join("pkg/inner");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::create_dir(repo.join(".git")).unwrap();
        assert_eq!(find_project(&sub).unwrap(), repo.canonicalize().unwrap());
        std::fs::create_dir(repo.join("pkg").join(DATA_DIR)).unwrap();
        assert_eq!(find_project(&sub).unwrap(), repo.join("pkg").canonicalize().unwrap());
    }

    #[test]
    fn data_dir_is_ignored_by_git() {
        let tmp = tempfile::tempdir().unwrap();
        let p = Project::at(tmp.path()).unwrap();
        let dir = p.ensure_data_dir().unwrap();
        assert!(std::fs::read_to_string(dir.join(".gitignore")).unwrap().contains("\n*\n"));
    }
}
