//! `claude-memory setup` and `uninstall`: arguments in, `cm_claude_code` out.
//! `uninstall --all` does it for the user and every known project.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use cm_claude_code::{FileAction, Operation, Part, Program, Scope, SetupOptions, SetupReport};
use serde::Serialize;

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

#[derive(Debug, Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Everywhere: your user settings and every project claude-memory knows (set up or opened),
    /// their local and shared files alike.
    #[arg(long, conflicts_with_all = ["dir", "shared", "user"])]
    pub all: bool,
    /// With --all: also delete every known project's .claude-memory/ folder, its memories included.
    #[arg(long, requires = "all")]
    pub purge: bool,
}

/// `uninstall`: one scope of one project (as `setup` takes it), or `--all`.
pub fn uninstall(args: UninstallArgs, project: Option<&Path>, json: bool) -> Result<()> {
    if args.all {
        uninstall_all(project, args.setup.dry_run, args.purge, json)
    } else {
        run(args.setup, Operation::Uninstall, project, json)
    }
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
        // Known from now on, so `uninstall --all` finds it even if no session ever ran there.
        if let Some(root) = &report.project {
            crate::paths::registry()?.add(root)?;
        }
    }
    output::print(json, &report, render)
}

fn render(r: &SetupReport) -> String {
    render_report(r, true)
}

/// One report; `data_dir`: with its line about the project's data folder.
fn render_report(r: &SetupReport, data_dir: bool) -> String {
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
        if let Some(d) = r.data_dir.as_ref().filter(|_| data_dir) {
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

/// What `uninstall --all` did, or would do.
#[derive(Debug, Serialize)]
struct UninstallAll {
    dry_run: bool,
    /// One report per scope and project, the user's first.
    reports: Vec<SetupReport>,
    /// The data folders kept, or deleted with --purge.
    data_dirs: Vec<PathBuf>,
    purged: bool,
    notes: Vec<String>,
}

/// The projects `--all` covers: every one in the registry that still
/// exists, and the current one (`--project`, else the working directory's).
fn known_projects(project: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut roots: Vec<PathBuf> = crate::paths::registry()?.projects();
    let current = match project {
        Some(dir) => Some(dir.to_owned()),
        None => std::env::current_dir().ok().and_then(|cwd| cm_engine::find_project(&cwd)),
    };
    roots.extend(current.filter(|p| p.join(".claude-memory").is_dir()));
    let mut projects: Vec<PathBuf> =
        roots.into_iter().filter(|p| p.is_dir()).filter_map(|p| p.canonicalize().ok()).collect();
    projects.sort();
    projects.dedup();
    Ok(projects)
}

/// Removes claude-memory's entries from the user's Claude Code files and
/// from every known project's (local and shared), and with `purge` every
/// project's data folder. Every file is checked first: one that cannot be
/// changed fails the command before anything is.
fn uninstall_all(project: Option<&Path>, dry_run: bool, purge: bool, json: bool) -> Result<()> {
    let projects = known_projects(project)?;
    let home = crate::paths::home()?;
    if purge
        && !dry_run
        && let Some((info, _)) = crate::service::running_engine(&home, std::time::Duration::from_secs(2))
    {
        // A running engine holds the databases open and would recreate them.
        bail!(
            "an engine is running (pid {}): quit the tray app or stop `claude-memory serve` before --purge; nothing was changed",
            info.pid
        );
    }
    let program = Program::resolve();
    let mut scopes = vec![(None, Scope::User)];
    for root in &projects {
        scopes.push((Some(root.clone()), Scope::Local));
        scopes.push((Some(root.clone()), Scope::Shared));
    }
    let options = |project: &Option<PathBuf>, scope: Scope, dry_run: bool| SetupOptions {
        project: project.clone(),
        scope,
        user_files: None,
        dry_run,
        program: program.clone(),
    };
    // A dry run of everything first: nothing is written unless all of it can be.
    let mut reports = Vec::with_capacity(scopes.len());
    for (root, scope) in &scopes {
        let report = cm_claude_code::uninstall(&options(root, *scope, true))
            .map_err(|e| anyhow::anyhow!("{}; nothing was changed anywhere", cm_core::error_chain(&e)))?;
        reports.push(report);
    }
    if !dry_run {
        reports.clear();
        for (root, scope) in &scopes {
            reports.push(cm_claude_code::uninstall(&options(root, *scope, false))?);
        }
    }
    let with_data: Vec<&PathBuf> = projects.iter().filter(|p| p.join(".claude-memory").is_dir()).collect();
    if purge && !dry_run {
        let registry = crate::paths::registry()?;
        for root in &with_data {
            let dir = root.join(".claude-memory");
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot delete {}", dir.display()))?;
            registry.remove(root)?;
        }
    }
    let data_dirs = with_data.iter().map(|root| root.join(".claude-memory")).collect();
    // What each scope could not take out (the plugin), said once.
    let mut notes: Vec<String> = Vec::new();
    for note in reports.iter_mut().flat_map(|r| r.notes.drain(..)) {
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    // Not Claude Code's wiring, but what else keeps claude-memory running.
    notes.extend(crate::autostart::installed_file().map(|file| {
        format!(
            "the engine still starts at login ({}): `claude-memory service uninstall` stops that",
            file.display()
        )
    }));
    let result = UninstallAll { dry_run, reports, data_dirs, purged: purge, notes };
    output::print(json, &result, render_all)
}

fn render_all(r: &UninstallAll) -> String {
    let mut out = String::new();
    let changed: Vec<&SetupReport> = r.reports.iter().filter(|r| r.changed()).collect();
    if changed.is_empty() {
        out.push_str("claude-memory is not set up in Claude Code anywhere: nothing to remove\n");
    }
    // The data folders are listed once, below, with what became of them.
    for report in changed {
        out.push_str(&render_report(report, false));
    }
    let (verb, what) = match (r.purged, r.dry_run) {
        (true, true) => ("would delete", "memories and all"),
        (true, false) => ("deleted", "memories and all"),
        (false, _) => ("kept", "the memories"),
    };
    for dir in &r.data_dirs {
        let _ = writeln!(out, "{verb:<9} {}/  ({what})", dir.display());
    }
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}
