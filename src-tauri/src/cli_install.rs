//! Putting the `claude-memory` command on the PATH. Claude Code's hooks and
//! its stdio MCP server run `claude-memory …`, so it must be found there.
//!
//! The app ships the binary beside its own executable (a bundle's
//! `externalBin`; `target/<profile>/` in a development build). Installing
//! links it into `~/.local/bin` (the XDG user bin directory, on the PATH of
//! most Linux desktops and easy to add on macOS), never replacing a file
//! that is not ours.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The command's file name.
pub const CLI_NAME: &str = if cfg!(windows) { "claude-memory.exe" } else { "claude-memory" };

/// Where the link goes: `~/.local/bin`.
pub fn user_bin_dir() -> Option<PathBuf> {
    Some(dirs::home_dir()?.join(".local").join("bin"))
}

/// The `claude-memory` shipped beside the app's executable `exe`, if present.
pub fn bundled_cli(exe: &Path) -> Option<PathBuf> {
    let exe = exe.canonicalize().ok()?;
    let cli = exe.parent()?.join(CLI_NAME);
    cli.is_file().then_some(cli)
}

/// What an install did (or found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The link was made now.
    Linked {
        /// The link.
        link: PathBuf,
        /// Whether its directory is on `PATH` (if not, the user must add it).
        on_path: bool,
    },
    /// The link was already there, pointing at this binary.
    AlreadyLinked {
        /// The link.
        link: PathBuf,
        /// Whether its directory is on `PATH`.
        on_path: bool,
    },
    /// Something else has the name; it was left alone.
    Taken {
        /// What is there.
        existing: PathBuf,
    },
}

impl Outcome {
    /// One line for the tray menu.
    pub fn describe(&self) -> String {
        let path_note = |dir: &Path, on_path: bool| {
            if on_path { String::new() } else { format!(" — add {} to your PATH", dir.display()) }
        };
        match self {
            Outcome::Linked { link, on_path } => {
                format!("Installed {}{}", link.display(), path_note(link.parent().unwrap_or(link), *on_path))
            }
            Outcome::AlreadyLinked { link, on_path } => format!(
                "Command-line tool installed at {}{}",
                link.display(),
                path_note(link.parent().unwrap_or(link), *on_path)
            ),
            Outcome::Taken { existing } => {
                format!("Not installed: {} already exists (left as it is)", existing.display())
            }
        }
    }
}

/// Why an install could not be done.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The app has no `claude-memory` beside it.
    #[error("no claude-memory binary ships with this app")]
    NotBundled,
    /// No home directory to install into.
    #[error("cannot find your home directory")]
    NoHome,
    /// Creating the directory or the link failed.
    #[error("cannot link {link}: {source}")]
    Io {
        /// The link that could not be made.
        link: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What installing `cli` into `bin_dir` would find, without changing
/// anything: `None` if nothing is there yet.
pub fn current(cli: &Path, bin_dir: &Path, path_var: Option<&OsStr>) -> Option<Outcome> {
    let link = bin_dir.join(CLI_NAME);
    std::fs::symlink_metadata(&link).ok()?;
    let on_path = on_path(bin_dir, path_var);
    if points_to(&link, cli) {
        Some(Outcome::AlreadyLinked { link, on_path })
    } else {
        Some(Outcome::Taken { existing: link })
    }
}

/// Links `bin_dir/claude-memory` to `cli` (creating `bin_dir`). A link to
/// `cli` already there is success; anything else there is left alone.
/// `path_var` is the `PATH` to check the directory against.
pub fn install(cli: &Path, bin_dir: &Path, path_var: Option<&OsStr>) -> Result<Outcome, InstallError> {
    if let Some(found) = current(cli, bin_dir, path_var) {
        return Ok(found);
    }
    let link = bin_dir.join(CLI_NAME);
    let io = |source| InstallError::Io { link: link.clone(), source };
    std::fs::create_dir_all(bin_dir).map_err(io)?;
    symlink(cli, &link).map_err(io)?;
    Ok(Outcome::Linked { on_path: on_path(bin_dir, path_var), link })
}

/// Whether `link` resolves to the same file as `target`.
fn points_to(link: &Path, target: &Path) -> bool {
    match (link.canonicalize(), target.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Whether `dir` is one of the directories in `path_var`.
fn on_path(dir: &Path, path_var: Option<&OsStr>) -> bool {
    let Some(path_var) = path_var else { return false };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    std::env::split_paths(path_var).any(|p| p == dir || p.canonicalize().is_ok_and(|p| p == dir))
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    // Symbolic links need a privilege on Windows; a copy does the job.
    std::fs::copy(target, link).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        cli: PathBuf,
        bin: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let app_dir = dir.path().join("app");
        std::fs::create_dir(&app_dir).unwrap();
        let cli = app_dir.join(CLI_NAME);
        std::fs::write(&cli, "#!/bin/sh\n").unwrap();
        let bin = dir.path().join("home/.local/bin");
        Fixture { cli, bin, _dir: dir }
    }

    #[test]
    fn links_into_a_new_directory_and_says_when_it_is_not_on_path() {
        let f = fixture();
        let outcome = install(&f.cli, &f.bin, Some(OsStr::new("/usr/bin:/bin"))).unwrap();
        let link = f.bin.join(CLI_NAME);
        assert_eq!(outcome, Outcome::Linked { link: link.clone(), on_path: false });
        assert_eq!(std::fs::read_link(&link).unwrap(), f.cli);
        assert!(outcome.describe().contains("add"), "{}", outcome.describe());
    }

    #[test]
    fn installing_twice_finds_its_own_link() {
        let f = fixture();
        let path = std::env::join_paths([f.bin.clone(), PathBuf::from("/usr/bin")]).unwrap();
        install(&f.cli, &f.bin, Some(&path)).unwrap();
        let again = install(&f.cli, &f.bin, Some(&path)).unwrap();
        assert_eq!(again, Outcome::AlreadyLinked { link: f.bin.join(CLI_NAME), on_path: true });
        assert!(!again.describe().contains("PATH"));
    }

    #[test]
    fn never_clobbers_another_file() {
        let f = fixture();
        std::fs::create_dir_all(&f.bin).unwrap();
        let theirs = f.bin.join(CLI_NAME);
        std::fs::write(&theirs, "someone else's").unwrap();
        let outcome = install(&f.cli, &f.bin, None).unwrap();
        assert_eq!(outcome, Outcome::Taken { existing: theirs.clone() });
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "someone else's");
    }

    #[test]
    fn never_replaces_a_link_to_something_else() {
        let f = fixture();
        std::fs::create_dir_all(&f.bin).unwrap();
        let other = f.bin.join("other");
        std::fs::write(&other, "").unwrap();
        symlink(&other, &f.bin.join(CLI_NAME)).unwrap();
        assert!(matches!(install(&f.cli, &f.bin, None).unwrap(), Outcome::Taken { .. }));
        assert_eq!(std::fs::read_link(f.bin.join(CLI_NAME)).unwrap(), other);
    }

    #[test]
    fn nothing_installed_yet_is_none() {
        let f = fixture();
        assert_eq!(current(&f.cli, &f.bin, None), None);
    }

    #[test]
    fn finds_the_cli_beside_the_app() {
        let f = fixture();
        let exe = f.cli.with_file_name("claude-memory-app");
        std::fs::write(&exe, "").unwrap();
        assert_eq!(bundled_cli(&exe), Some(f.cli.canonicalize().unwrap()));
        std::fs::remove_file(&f.cli).unwrap();
        assert_eq!(bundled_cli(&exe), None);
    }
}
