//! Stale memories: a memory that names a file of the project which was
//! deleted or renamed since.
//!
//! Three cheap signals, none on a hook's answer path (each runs after the
//! hook answered, see `Engine::after_hook`):
//!
//! - a Bash tool call that removes or moves files (`rm`, `unlink`, `git rm`,
//!   `mv`, `git mv`; [`cm_core::artifacts::file_ops`]): once it ran, each
//!   path it named that is really gone flags the memories naming that file
//!   (by its project-relative path or its trailing components, or a file
//!   under a removed directory) — reason `deleted` or `renamed to <path>`;
//! - any Write, Edit, MultiEdit or Bash call: a stale memory whose file
//!   exists again is cleared (`the file is back`);
//! - SessionStart: every live memory's project-relative paths are checked
//!   with one `stat` each (at most [`MAX_CHECKED_PATHS`]); a file that is
//!   missing from a directory that exists flags its memories
//!   (`missing at session start`), and a stale memory's file that came back
//!   clears it. A bare file name (`migrate.rs`) could be anywhere, so only
//!   the tool signal flags it.
//!
//! A stale memory keeps its text and stays searchable; search scales its
//! score down (`cm_store`'s `STALE_FACTOR`), briefings halve it, and
//! injections say it may be stale and why. [`Engine::confirm_fresh`] (a
//! person's "it still holds") clears the flag and remembers the path so the
//! same missing file does not flag it again. Claude Code's `FileChanged`
//! event is not used: our hook contract does not register it.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use cm_core::Memory;
use cm_core::artifacts::{file_ops, files, names_path};
use cm_store::{PathMention, Store};

use crate::hooks::HookInput;
use crate::redaction::redact_text;
use crate::{Engine, Project, Result};

/// Paths checked at session start, at most: a bound on the `stat`s. The
/// newest memories' paths come first.
pub const MAX_CHECKED_PATHS: usize = 2_000;

/// Memories read at a time when looking for those naming a file.
const MENTIONS_PAGE: usize = 1_000;

/// The next page of `store`'s memories that may name a file, older than
/// `before`, which moves on past it; `None` after the last.
async fn mentions_page(store: &Store, before: &mut Option<i64>) -> Result<Option<Vec<PathMention>>> {
    let page = store.path_mentions(*before, MENTIONS_PAGE).await?;
    *before = page.last().map(|m| m.id);
    Ok((!page.is_empty()).then_some(page))
}

/// Why a memory was flagged when its file was gone at session start.
pub const MISSING_AT_START: &str = "missing at session start";

/// Tools whose calls can bring a file back.
const WRITING_TOOLS: &[&str] = &["Write", "Edit", "MultiEdit", "NotebookEdit", "Bash"];

/// What a staleness pass changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaleChange {
    /// Memories flagged stale.
    pub flagged: Vec<i64>,
    /// Memories whose flag was cleared because their file is back.
    pub cleared: Vec<i64>,
}

/// `path` with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// `path` (absolute, or relative to `cwd`) relative to the project's
/// `root`, with `/` separators; `None` outside the project.
fn project_relative(root: &Path, cwd: &Path, path: &str) -> Option<String> {
    let path = path.trim();
    if path.is_empty() || path.starts_with('~') || path.starts_with('-') {
        return None;
    }
    let full = normalize(&cwd.join(path));
    let rel = full.strip_prefix(normalize(root)).ok()?;
    let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Where memory file `named` now is after `from` moved to `to`: the same
/// file under the new directory, or the new name itself.
fn moved_to(named_rel: &str, from: &str, to: &str) -> String {
    match named_rel.strip_prefix(from).filter(|rest| rest.starts_with('/')) {
        Some(rest) => format!("{to}{rest}"),
        None => to.to_owned(),
    }
}

impl Engine {
    /// After a tool call answered: flags memories naming files the call
    /// removed or moved, and clears those whose file is back.
    pub async fn stale_after_tool(&self, project: &Project, input: &HookInput) -> Result<StaleChange> {
        let mut change = StaleChange::default();
        let Some(tool) = input.tool_name.as_deref().filter(|t| WRITING_TOOLS.contains(t)) else {
            return Ok(change);
        };
        let root = project.root().to_owned();
        let cwd = input.cwd.clone().unwrap_or_else(|| root.clone());
        let store = self.store(project).await?;
        // (path that went away, why) from what the command did, checked on disk.
        let mut gone: Vec<(String, Option<String>)> = Vec::new();
        if tool == "Bash"
            && let Some(command) = input.tool_input.get("command").and_then(|c| c.as_str())
        {
            let ops = file_ops(command);
            for target in &ops.removed {
                if let Some(rel) = project_relative(&root, &cwd, target)
                    && !root.join(&rel).exists()
                {
                    gone.push((rel, None));
                }
            }
            for (from, to) in &ops.moved {
                let (Some(from), Some(mut to)) =
                    (project_relative(&root, &cwd, from), project_relative(&root, &cwd, to))
                else {
                    continue;
                };
                if root.join(&from).exists() {
                    continue;
                }
                // Into a directory (`mv x.rs dir/`): the file is under it now.
                // A directory renamed is a directory too, but holds no
                // entry of its old name.
                let name = Path::new(&from).file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if root.join(&to).is_dir() && root.join(&to).join(name).exists() {
                    to = format!("{to}/{name}");
                }
                gone.push((from, Some(to)));
            }
        }
        let session = input.conversation();
        let mut before = None;
        while !gone.is_empty()
            && let Some(page) = mentions_page(&store, &mut before).await?
        {
            for mention in page {
                if mention.stale_path.is_some() {
                    continue;
                }
                'named: for named in files(&mention.content) {
                    let named_rel = named.text.trim_start_matches("./");
                    for (path, to) in &gone {
                        let missing = if names_path(named_rel, path) {
                            path.clone()
                        } else if named_rel.starts_with(&format!("{path}/")) && !root.join(named_rel).exists()
                        {
                            named_rel.to_owned()
                        } else {
                            continue;
                        };
                        let reason = match to {
                            Some(to) => format!("renamed to {}", moved_to(&missing, path, to)),
                            None => "deleted".to_owned(),
                        };
                        if self.flag(&store, mention.id, &missing, &reason, session.as_deref()).await? {
                            change.flagged.push(mention.id);
                        }
                        break 'named;
                    }
                }
            }
        }
        change.cleared = self.clear_returned(&store, &root, session.as_deref()).await?;
        Ok(change)
    }

    /// The check at session start: flags live memories naming a
    /// project-relative file missing from a directory that exists, and
    /// clears stale memories whose file is back. At most
    /// [`MAX_CHECKED_PATHS`] paths are looked at.
    pub async fn check_stale(&self, project: &Project) -> Result<StaleChange> {
        let root = project.root().to_owned();
        let store = self.store(project).await?;
        let cleared = self.clear_returned(&store, &root, None).await?;
        // Each distinct path once: memory ids naming it.
        let mut paths: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut before = None;
        while let Some(page) = mentions_page(&store, &mut before).await? {
            for m in page.iter().filter(|m| m.stale_path.is_none()) {
                for named in files(&m.content) {
                    let text = named.text.trim_start_matches("./");
                    let rooted = text.contains('/') || Path::new(text).is_absolute();
                    if !rooted {
                        continue;
                    }
                    let Some(rel) = project_relative(&root, &root, text) else { continue };
                    if m.confirmed.contains(&rel) {
                        continue;
                    }
                    if paths.len() >= MAX_CHECKED_PATHS && !paths.contains_key(&rel) {
                        continue;
                    }
                    paths.entry(rel).or_default().push(m.id);
                }
            }
        }
        let check_root = root.clone();
        let missing: Vec<(String, Vec<i64>)> = tokio::task::spawn_blocking(move || {
            paths
                .into_iter()
                .filter(|(rel, _)| {
                    let full = check_root.join(rel);
                    !full.exists() && full.parent().is_some_and(Path::is_dir)
                })
                .collect()
        })
        .await
        .unwrap_or_default();
        let mut flagged = Vec::new();
        for (rel, ids) in missing {
            for id in ids {
                if !flagged.contains(&id) && self.flag(&store, id, &rel, MISSING_AT_START, None).await? {
                    flagged.push(id);
                }
            }
        }
        if !flagged.is_empty() {
            tracing::info!(flagged = flagged.len(), "memories name files that are gone");
        }
        Ok(StaleChange { flagged, cleared })
    }

    /// A person confirms memory `id` still holds though the file it names is
    /// gone: the flag is cleared, and that path no longer flags it.
    pub async fn confirm_fresh(&self, project: &Project, id: i64) -> Result<Memory> {
        let store = self.store(project).await?;
        Ok(store.clear_stale(id, "confirmed by a person", true, None).await?)
    }

    /// Flags memory `id` stale, its path and reason redacted like every
    /// stored text.
    async fn flag(
        &self,
        store: &Store,
        id: i64,
        path: &str,
        reason: &str,
        session: Option<&str>,
    ) -> Result<bool> {
        let (path, reason) = (redact_text(path), redact_text(reason));
        let session = session.map(redact_text);
        let flagged = store.flag_stale(id, &path, &reason, session.as_deref()).await?;
        if flagged {
            tracing::info!(memory = id, path = %path, reason = %reason, "memory flagged stale");
        }
        Ok(flagged)
    }

    /// Clears stale memories whose file exists again.
    async fn clear_returned(&self, store: &Store, root: &Path, session: Option<&str>) -> Result<Vec<i64>> {
        let mut cleared = Vec::new();
        let session = session.map(redact_text);
        for (id, path) in store.stale_paths().await? {
            if root.join(&path).exists() {
                store.clear_stale(id, "the file is back", false, session.as_deref()).await?;
                cleared.push(id);
            }
        }
        Ok(cleared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_project_relative() {
        let root = Path::new("/repo");
        assert_eq!(
            project_relative(root, Path::new("/repo/web"), "src/a.ts").as_deref(),
            Some("web/src/a.ts")
        );
        assert_eq!(project_relative(root, root, "/repo/./src/../lib/b.rs").as_deref(), Some("lib/b.rs"));
        assert_eq!(project_relative(root, root, "/etc/passwd"), None);
        assert_eq!(project_relative(root, Path::new("/repo/web"), "../../x.rs"), None);
        assert_eq!(moved_to("src/db/m.rs", "src/db", "src/store"), "src/store/m.rs");
        assert_eq!(moved_to("src/a.rs", "src/a.rs", "src/b.rs"), "src/b.rs");
    }
}
