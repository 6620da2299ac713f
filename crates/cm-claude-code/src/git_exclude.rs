//! Keeping the personal files a project setup writes out of git: lines of
//! the clone's own `.git/info/exclude`, which is never committed, rather
//! than the team's `.gitignore`. They name this machine's path to
//! claude-memory, and one `git add -A` would otherwise hand them to every
//! teammate.

use std::path::Path;

use crate::{Result, io, read_optional, write_atomic};

/// The line above ours; the lines after it, up to a blank line, are ours.
const HEADER: &str =
    "# claude-memory: personal Claude Code files (`claude-memory uninstall` takes these lines out)";

/// Keeps the files `add` (relative to `root`) out of the clone at `root`,
/// and forgets `gone`; nothing for a folder that is not a clone's top (no
/// `.git` directory: a worktree's `.git` file, or no git). Whether the
/// file changed.
pub(crate) fn update(root: &Path, add: &[&str], gone: &[&str]) -> Result<bool> {
    let git = root.join(".git");
    if !git.is_dir() {
        return Ok(false);
    }
    // Anchored to the clone's top: the file there, not one of that name anywhere.
    let anchored = |files: &[&str]| -> Vec<String> { files.iter().map(|f| format!("/{f}")).collect() };
    let (add, gone) = (anchored(add), anchored(gone));
    let path = git.join("info/exclude");
    let before = read_optional(&path)?.unwrap_or_default();
    let after = edited(
        &before,
        &add.iter().map(String::as_str).collect::<Vec<_>>(),
        &gone.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    if after == before {
        return Ok(false);
    }
    std::fs::create_dir_all(git.join("info")).map_err(|e| io(format!("creating {}", git.display()), e))?;
    write_atomic(&path, &after, false)?;
    Ok(true)
}

/// `text` with our block holding its lines and `patterns`, less `gone`;
/// without the block (and the blank line that set it apart) when nothing is
/// left in it. Every other line stays.
fn edited(text: &str, patterns: &[&str], gone: &[&str]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let (head, ours, tail) = match lines.iter().position(|l| *l == HEADER) {
        Some(at) => {
            let len = lines[at + 1..].iter().take_while(|l| !l.trim().is_empty()).count();
            (&lines[..at], &lines[at + 1..at + 1 + len], &lines[at + 1 + len..])
        }
        None => (&lines[..], &[][..], &[][..]),
    };
    let mut kept: Vec<&str> = ours.iter().copied().filter(|l| !gone.contains(l)).collect();
    for p in patterns {
        if !kept.contains(p) && !gone.contains(p) {
            kept.push(p);
        }
    }
    let mut out: Vec<&str> = head.to_vec();
    if kept.is_empty() {
        out.extend(tail.strip_prefix(&[""][..]).unwrap_or(tail));
    } else {
        if out.last().is_some_and(|l| !l.trim().is_empty()) {
            out.push("");
        }
        out.push(HEADER);
        out.extend(kept);
        out.extend(tail);
    }
    while out.last() == Some(&"") {
        out.pop();
    }
    if out.is_empty() { String::new() } else { out.join("\n") + "\n" }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIT_DEFAULT: &str = "# git ls-files --others --exclude-from=.git/info/exclude\n# *~\n";

    #[test]
    fn our_lines_are_added_once_and_taken_out_leaving_the_rest() {
        let set_up = edited(GIT_DEFAULT, &["/.claude/settings.local.json", "/.mcp.json"], &[]);
        assert_eq!(
            set_up,
            format!("{GIT_DEFAULT}\n{HEADER}\n/.claude/settings.local.json\n/.mcp.json\n"),
            "{set_up}"
        );
        assert_eq!(edited(&set_up, &["/.mcp.json"], &[]), set_up, "again: unchanged");
        let one_gone = edited(&set_up, &[], &["/.mcp.json"]);
        assert_eq!(one_gone, format!("{GIT_DEFAULT}\n{HEADER}\n/.claude/settings.local.json\n"));
        let all_gone = edited(&one_gone, &[], &["/.claude/settings.local.json"]);
        assert_eq!(all_gone, GIT_DEFAULT);
        assert_eq!(edited("", &["/x"], &[]), format!("{HEADER}\n/x\n"));
        assert_eq!(edited(&format!("{HEADER}\n/x\n"), &[], &["/x"]), "");
    }

    #[test]
    fn a_block_of_someone_else_after_ours_is_kept() {
        let text = format!("{HEADER}\n/x\n\n# mine\n*.log\n");
        assert_eq!(edited(&text, &["/y"], &[]), format!("{HEADER}\n/x\n/y\n\n# mine\n*.log\n"));
        assert_eq!(edited(&text, &[], &["/x"]), "# mine\n*.log\n");
    }
}
