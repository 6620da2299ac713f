//! The registry of known projects: every project the engine has opened, kept
//! in a small JSON file in the user's data directory, so that work spanning
//! projects (re-embedding after a model switch, the dashboard's project
//! list) can find them all.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The registry file and its lock.
#[derive(Debug, Clone)]
pub struct Registry {
    path: PathBuf,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

impl Registry {
    /// The registry stored at `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Registry {
        Registry { path: path.into() }
    }

    /// Known project roots, sorted. A missing or unreadable file is an empty
    /// registry: it is a cache of what the engine has seen, never the only
    /// copy of anything.
    pub fn projects(&self) -> Vec<PathBuf> {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| serde_json::from_str::<Vec<PathBuf>>(&text).ok())
            .unwrap_or_default()
    }

    /// Adds `root`, if it is new. Concurrent processes are serialised by an
    /// exclusive lock on a side file; the file is replaced atomically.
    pub fn add(&self, root: &Path) -> Result<()> {
        if self.projects().iter().any(|p| p == root) {
            return Ok(());
        }
        self.update(|set| {
            set.insert(root.to_owned());
        })
    }

    /// Removes `root`.
    pub fn remove(&self, root: &Path) -> Result<()> {
        self.update(|set| {
            set.remove(root);
        })
    }

    fn update(&self, change: impl FnOnce(&mut BTreeSet<PathBuf>)) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let lock_path = self.path.with_extension("lock");
        let lock = File::create(&lock_path).map_err(io(format!("opening {}", lock_path.display())))?;
        lock.lock().map_err(io(format!("locking {}", lock_path.display())))?;
        let mut set: BTreeSet<PathBuf> = self.projects().into_iter().collect();
        change(&mut set);
        let list: Vec<&PathBuf> = set.iter().collect();
        let text = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into());
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &self.path).map_err(io(format!("replacing {}", self.path.display())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_is_idempotent_and_remove_forgets() {
        let tmp = tempfile::tempdir().unwrap();
        let reg = Registry::new(tmp.path().join("state/projects.json"));
        assert!(reg.projects().is_empty());
        reg.add(Path::new("/a")).unwrap();
        reg.add(Path::new("/b")).unwrap();
        reg.add(Path::new("/a")).unwrap();
        assert_eq!(reg.projects(), vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        reg.remove(Path::new("/a")).unwrap();
        assert_eq!(reg.projects(), vec![PathBuf::from("/b")]);
    }

    #[test]
    fn a_damaged_registry_reads_as_empty_and_is_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("projects.json");
        std::fs::write(&path, "{not json").unwrap();
        let reg = Registry::new(&path);
        assert!(reg.projects().is_empty());
        reg.add(Path::new("/c")).unwrap();
        assert_eq!(reg.projects(), vec![PathBuf::from("/c")]);
    }
}
