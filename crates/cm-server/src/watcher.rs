//! Project discovery: the folders holding `.claude-memory/` below the
//! configured roots (default: the home directory), depth-limited, never
//! descending into `node_modules`, `.git`, `target` and the like.
//!
//! A scan at start-up catches what happened while the engine was down; then
//! a watcher on every directory within the depth limit (one non-recursive
//! watch each, so skipped trees cost nothing) adds projects as their
//! `.claude-memory/` appears and removes them when it goes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cm_core::ProjectsConfig;
use cm_engine::{DATA_DIR, Engine, EngineEvent};
use notify::{RecursiveMode, Watcher};

use crate::{Error, Result};

/// Most directories watched; past it, deeper directories are only scanned
/// at start-up (inotify watches are a limited resource).
const MAX_WATCHES: usize = 20_000;

/// The directories to watch and the projects found below `roots`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Directories within the depth limit, with their depth.
    pub dirs: Vec<(PathBuf, usize)>,
    /// Project roots (directories holding `.claude-memory/`).
    pub projects: Vec<PathBuf>,
}

/// Walks `root` (at depth `start_depth`) down to `cfg.depth`.
pub fn scan(root: &Path, start_depth: usize, cfg: &ProjectsConfig) -> Scan {
    let mut out = Scan::default();
    let mut stack = vec![(root.to_owned(), start_depth)];
    while let Some((dir, depth)) = stack.pop() {
        if out.dirs.len() >= MAX_WATCHES {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        out.dirs.push((dir.clone(), depth));
        for entry in entries.flatten() {
            // Symlinks are not followed: no loops, no leaving the roots.
            let Ok(kind) = entry.file_type() else { continue };
            if !kind.is_dir() {
                continue;
            }
            let name = entry.file_name();
            if name == DATA_DIR {
                out.projects.push(dir.clone());
            } else if depth < cfg.depth && !skipped(&name.to_string_lossy(), cfg) {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    out.projects.sort();
    out
}

fn skipped(name: &str, cfg: &ProjectsConfig) -> bool {
    cfg.skip.iter().any(|s| s == name)
}

/// The configured roots, or the home directory.
pub fn roots(cfg: &ProjectsConfig) -> Vec<PathBuf> {
    if cfg.roots.is_empty() { dirs_home().into_iter().collect() } else { cfg.roots.clone() }
}

fn dirs_home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// The running watcher; dropping it stops discovery.
#[derive(Debug)]
pub struct ProjectWatcher {
    _watcher: Arc<Mutex<notify::RecommendedWatcher>>,
}

impl ProjectWatcher {
    /// Scans the roots, brings the registry up to date, and watches for changes.
    pub fn start(engine: Engine) -> Result<ProjectWatcher> {
        let cfg = engine.config().projects.clone();
        let registry =
            engine.registry().cloned().ok_or_else(|| Error::Service("no project registry".into()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })
        .map_err(|e| Error::Service(format!("cannot watch for projects: {e}")))?;
        let watcher = Arc::new(Mutex::new(watcher));
        let mut state = State { engine, cfg, registry, watched: HashMap::new(), watcher: watcher.clone() };
        state.rescan();
        std::thread::Builder::new()
            .name("claude-memory-watcher".into())
            .spawn(move || {
                // Ends when the watcher (and with it the sender) is dropped.
                for event in rx {
                    match event {
                        Ok(event) => state.handle(&event),
                        Err(e) => tracing::warn!(error = %e, "project watcher error"),
                    }
                }
            })
            .map_err(|e| Error::Service(e.to_string()))?;
        Ok(ProjectWatcher { _watcher: watcher })
    }
}

struct State {
    engine: Engine,
    cfg: ProjectsConfig,
    registry: cm_engine::Registry,
    watched: HashMap<PathBuf, usize>,
    watcher: Arc<Mutex<notify::RecommendedWatcher>>,
}

impl State {
    /// Scans every root, watches what it finds and brings the registry up to date.
    fn rescan(&mut self) {
        let roots = roots(&self.cfg);
        let mut found = Vec::new();
        for root in &roots {
            let s = scan(root, 0, &self.cfg);
            self.watch_all(&s.dirs);
            found.extend(s.projects);
        }
        self.reconcile(&roots, &found);
    }

    fn watch_all(&mut self, dirs: &[(PathBuf, usize)]) {
        let Ok(mut watcher) = self.watcher.lock() else { return };
        for (dir, depth) in dirs {
            if self.watched.len() >= MAX_WATCHES || self.watched.contains_key(dir) {
                continue;
            }
            if watcher.watch(dir, RecursiveMode::NonRecursive).is_ok() {
                self.watched.insert(dir.clone(), *depth);
            }
        }
    }

    /// Registers the projects found; forgets registered ones under the
    /// roots whose `.claude-memory/` is gone.
    fn reconcile(&mut self, roots: &[PathBuf], found: &[PathBuf]) {
        let known = self.registry.projects();
        for p in found {
            if !known.contains(p) {
                self.set(p, true);
            }
        }
        for p in known {
            if roots.iter().any(|r| p.starts_with(r)) && !p.join(DATA_DIR).is_dir() {
                self.set(&p, false);
            }
        }
    }

    fn set(&self, project: &Path, present: bool) {
        let result = if present { self.registry.add(project) } else { self.registry.remove(project) };
        match result {
            Ok(()) => {
                tracing::info!(project = %project.display(), present, "project discovered");
                self.engine.emit(EngineEvent::Project { project: project.to_owned(), present });
            }
            Err(e) => tracing::warn!(error = %e, "could not update the project registry"),
        }
    }

    fn handle(&mut self, event: &notify::Event) {
        // Only appearing, disappearing and renamed entries matter. Above all,
        // not accesses: every scan opens the directories it reads, and
        // answering those events with another scan would never stop.
        use notify::EventKind;
        use notify::event::ModifyKind;
        // The kernel's event queue overflowed: changes were lost, look again.
        if event.need_rescan() {
            tracing::info!("project watcher lost events; rescanning");
            self.rescan();
            return;
        }
        if !matches!(
            event.kind,
            EventKind::Any
                | EventKind::Create(_)
                | EventKind::Remove(_)
                | EventKind::Modify(ModifyKind::Name(_) | ModifyKind::Any)
        ) {
            return;
        }
        for path in &event.paths {
            let Some(parent) = path.parent() else { continue };
            let Some(&parent_depth) = self.watched.get(parent) else { continue };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name == DATA_DIR {
                let present = path.is_dir();
                if present != self.registry.projects().iter().any(|p| p == parent) {
                    self.set(parent, present);
                }
            } else if path.is_dir() && parent_depth < self.cfg.depth && !skipped(&name, &self.cfg) {
                // A new directory (perhaps a whole copied tree): watch and scan
                // it. What appears inside between a scan and the watch on its
                // directory sends no event, so scan again until a pass finds
                // no directory that was not watched yet.
                let mut s = scan(path, parent_depth + 1, &self.cfg);
                while s.dirs.iter().any(|(d, _)| !self.watched.contains_key(d)) {
                    let before = self.watched.len();
                    self.watch_all(&s.dirs);
                    s = scan(path, parent_depth + 1, &self.cfg);
                    if self.watched.len() == before {
                        break;
                    }
                }
                for p in s.projects {
                    if !self.registry.projects().contains(&p) {
                        self.set(&p, true);
                    }
                }
            } else if !path.exists() {
                // Deleted or moved away: forget the projects that were below it
                // (a move never reports the `.claude-memory/` inside).
                self.watched.retain(|dir, _| !dir.starts_with(path));
                for p in self.registry.projects() {
                    if p.starts_with(path) && !p.join(DATA_DIR).is_dir() {
                        self.set(&p, false);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_projects_within_depth_and_skips_noise() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for dir in [
            "a/.claude-memory",
            "a/b/c/.claude-memory",
            "deep/1/2/3/4/.claude-memory",
            "x/node_modules/pkg/.claude-memory",
            "y/target/.claude-memory",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let cfg = ProjectsConfig { depth: 4, ..ProjectsConfig::default() };
        let s = scan(root, 0, &cfg);
        assert_eq!(s.projects, vec![root.join("a"), root.join("a/b/c")]);
        assert!(s.dirs.iter().any(|(d, depth)| d == &root.join("deep/1/2/3") && *depth == 4));
        assert!(!s.dirs.iter().any(|(d, _)| d.ends_with("node_modules")));
    }
}
