//! `claude-memory setup` and `uninstall`: arguments in, `cm_claude_code` out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use cm_claude_code::{FileAction, Operation, Part, Program, Scope, SetupOptions, SetupReport};

use crate::output;

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Project directory (default: --project, else the project of the current directory).
    pub dir: Option<PathBuf>,
    /// Hooks in .claude/settings.json, which the team commits (default: .claude/settings.local.json).
    #[arg(long, conflicts_with = "user")]
    pub shared: bool,
    /// For every project: hooks in ~/.claude/settings.json, MCP server in ~/.claude.json
    /// (CLAUDE_CONFIG_DIR moves both, as it does for Claude Code).
    #[arg(long)]
    pub user: bool,
    /// Print the diff of every file that would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `setup` or `uninstall` (`operation`) for `args`, the project defaulting
/// to `--project`.
pub fn run(args: SetupArgs, operation: Operation, project: Option<&Path>, json: bool) -> Result<()> {
    let uninstall = operation == Operation::Uninstall;
    let scope = match (args.user, args.shared) {
        (true, _) => Scope::User,
        (false, true) => Scope::Shared,
        (false, false) => Scope::Local,
    };
    // For every project, a folder is only set up when named: a data folder
    // in the home directory would catch every project below it.
    let project = match (args.dir.or_else(|| project.map(Path::to_owned)), scope) {
        (Some(dir), _) => Some(dir),
        (None, Scope::User) => None,
        (None, _) => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            Some(cm_engine::find_project(&cwd).unwrap_or(cwd))
        }
    };
    let options =
        SetupOptions { project, scope, user_files: None, dry_run: args.dry_run, program: Program::resolve() };
    let report =
        if uninstall { cm_claude_code::uninstall(&options)? } else { cm_claude_code::setup(&options)? };
    if !uninstall && !args.dry_run {
        // Claude Code is connected: the dashboard stops asking to finish setup.
        cm_server::launch::mark_setup_done(&crate::paths::home()?)?;
    }
    output::print(json, &report, render)
}

fn render(r: &SetupReport) -> String {
    let mut out = String::new();
    if r.dry_run {
        for f in r.files.iter().filter(|f| !f.diff.is_empty()) {
            out.push_str(&f.diff);
        }
    }
    let scope = match r.scope {
        Scope::Local => "this project, only you",
        Scope::Shared => "this project, the whole team",
        Scope::User => "every project, only you",
    };
    let subject = r.project.as_ref().map(|p| format!(" for {}", p.display())).unwrap_or_default();
    let done = match (r.operation, r.changed(), r.dry_run) {
        (Operation::Setup, false, _) => {
            format!("claude-memory is already set up{subject} ({scope}): nothing to change")
        }
        (Operation::Uninstall, false, _) => {
            format!("claude-memory is not set up{subject} ({scope}): nothing to remove")
        }
        (Operation::Setup, true, false) => format!("Set up claude-memory{subject} ({scope}):"),
        (Operation::Uninstall, true, false) => format!("Removed claude-memory{subject} ({scope}):"),
        (_, true, true) => format!("Dry run{subject} ({scope}), nothing was changed; it would do:"),
    };
    out.push_str(&done);
    out.push('\n');
    if r.changed() {
        if let Some(d) = &r.data_dir {
            let (action, what) = match (r.operation, d.action) {
                (Operation::Uninstall, _) => ("kept", "the memories"),
                (_, FileAction::Created) => ("created", "memory data, ignored by git"),
                _ => ("kept", "memory data"),
            };
            let _ = writeln!(out, "  {action:<9} {}/  ({what})", d.path.display());
        }
        for f in &r.files {
            let action = match f.action {
                FileAction::Created => "created",
                FileAction::Updated => "updated",
                FileAction::Unchanged => "unchanged",
                FileAction::Removed => "removed",
            };
            let parts: Vec<&str> = f
                .parts
                .iter()
                .map(|p| match p {
                    Part::Hooks => "hooks",
                    Part::McpServer => "MCP server",
                    Part::McpApproval => "MCP server approval",
                })
                .collect();
            let _ = write!(out, "  {action:<9} {}  ({})", f.path.display(), parts.join(", "));
            if let Some(backup) = &f.backup {
                let _ = write!(out, ", backup in {}", backup.display());
            }
            out.push('\n');
        }
        if r.operation == Operation::Setup && !r.dry_run {
            out.push_str("Claude Code loads them in its next session.\n");
        }
    }
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}
