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
        let new = !dir.is_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|source| Error::Io { context: format!("creating {}", dir.display()), source })?;
        // The memories are the user's alone; the project folder itself may be shared.
        #[cfg(unix)]
        if new {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|source| Error::Io { context: format!("restricting {}", dir.display()), source })?;
        }
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, DATA_GITIGNORE)
                .map_err(|source| Error::Io { context: format!("writing {}", ignore.display()), source })?;
        }
        Ok(dir)
    }
}

/// The project for `start`, as the hooks find it: the nearest ancestor
/// holding `.claude-memory/` (in a linked git worktree without one, the main
/// repository's, see [`resolve_existing`]), else the root of the git
/// repository containing it, else `None`. The CLI and `claude-memory mcp`
/// use it, so in a worktree they read the memory the hooks inject instead
/// of splitting it into a second project.
pub fn find_project(start: &Path) -> Option<PathBuf> {
    if let Some(dir) = resolve_existing(start, true) {
        return Some(dir);
    }
    let start = start.canonicalize().ok()?;
    start.ancestors().find(|d| d.join(".git").exists()).map(Path::to_owned)
}

/// The existing project `start` belongs to, for hooks and requests that must
/// never create one: the nearest ancestor holding `.claude-memory/`. Inside a
/// linked git worktree without its own (the folder is git-ignored, so a new
/// worktree never has one), with `worktrees_use_main`, the main repository's.
pub fn resolve_existing(start: &Path, worktrees_use_main: bool) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    for dir in start.ancestors() {
        if dir.join(DATA_DIR).is_dir() {
            return Some(dir.to_owned());
        }
        if worktrees_use_main
            && let Some(main) = worktree_main_root(dir)
            && main.join(DATA_DIR).is_dir()
        {
            return Some(main);
        }
    }
    None
}

/// The main working tree of the linked worktree rooted at `dir`: its `.git`
/// is a file `gitdir: <main>/.git/worktrees/<name>`, whose `commondir` names
/// the main repository's `.git`.
fn worktree_main_root(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    if !dot_git.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let gitdir = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
    let gitdir = dir.join(gitdir);
    let common = std::fs::read_to_string(gitdir.join("commondir")).ok()?;
    let common = gitdir.join(common.trim()).canonicalize().ok()?;
    // A bare repository's worktrees have no main working tree.
    (common.file_name()? == ".git").then(|| common.parent().map(Path::to_owned))?
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

    #[test]
    fn existing_projects_only_and_worktrees_use_the_main_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main");
        std::fs::create_dir_all(main.join(".git/worktrees/feature")).unwrap();
        std::fs::write(main.join(".git/worktrees/feature/commondir"), "../..\n").unwrap();
        let wt = tmp.path().join("feature");
        std::fs::create_dir_all(wt.join("src")).unwrap();
        std::fs::write(
            wt.join(".git"),
            format!("gitdir: {}\n", main.join(".git/worktrees/feature").display()),
        )
        .unwrap();
        // No .claude-memory anywhere: nothing, even though there is a git root.
        assert_eq!(resolve_existing(&wt.join("src"), true), None);
        std::fs::create_dir(main.join(DATA_DIR)).unwrap();
        let main_c = main.canonicalize().unwrap();
        assert_eq!(resolve_existing(&wt.join("src"), true), Some(main_c.clone()));
        assert_eq!(resolve_existing(&wt.join("src"), false), None);
        assert_eq!(resolve_existing(&main, true), Some(main_c));
        // The CLI and the MCP server find the same project as the hooks.
        assert_eq!(find_project(&wt.join("src")), Some(main.canonicalize().unwrap()));
        // The worktree's own folder wins once it has one.
        std::fs::create_dir(wt.join(DATA_DIR)).unwrap();
        assert_eq!(resolve_existing(&wt.join("src"), true), Some(wt.canonicalize().unwrap()));
    }
}
