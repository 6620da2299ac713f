//! Connecting Claude Code to claude-memory, and disconnecting it: the one
//! place that edits Claude Code's own files (its `settings.json` hooks, the
//! MCP server registration in `.mcp.json` or `.claude.json`) and detects the
//! `project-memory` plugin.
//!
//! This is not engine code: the engine stores and searches memories and knows
//! nothing of Claude Code's configuration. The CLI (`claude-memory setup`,
//! `uninstall`, `install`) and the local service (the dashboard's setup
//! wizard, `doctor`'s checks) depend on this crate; it depends on cm-engine
//! only for [`cm_engine::Project`], to find and create a project's data folder.
//!
//! [`setup`] creates the project's `.claude-memory/` folder, merges the
//! `claude-memory hook <Event>` command hooks into a Claude Code settings file
//! and the `claude-memory mcp` stdio server into an MCP configuration file;
//! [`uninstall`] takes out exactly those entries again and keeps the data.
//!
//! These files belong to the user and often to their team, so the edits are
//! conservative:
//! - every other key, hook, matcher group and server stays where it was (the
//!   files are read into an order-keeping tree, `json::Json`);
//! - our entries are recognised only by the command prefix
//!   `<program> hook <Event>` ([`PROGRAM_NAME`]) and the server name [`MCP_SERVER_NAME`], and are
//!   updated in place when they differ from what this version writes;
//! - a file that is not JSON, or whose shape is not what Claude Code reads,
//!   is refused before anything is written, so nothing changes at all;
//! - a changed file is copied to `<file>.claude-memory.bak` first and replaced
//!   atomically (temporary file and rename), keeping its indentation, final
//!   newline and permissions;
//! - a dry run computes the same plan and returns the diffs without writing.
//!
//! Where things go, from Claude Code's settings and MCP documentation (and
//! checked against Claude Code 2.1): project hooks in
//! `.claude/settings.local.json` (personal, git-ignored) or
//! `.claude/settings.json` (shared); user hooks in `settings.json` of the
//! configuration directory (`$CLAUDE_CONFIG_DIR`, else `~/.claude`);
//! project MCP servers in `<project>/.mcp.json`, which Claude Code only
//! starts once approved, so the personal `enabledMcpjsonServers` list in
//! `.claude/settings.local.json` gets our name too (what Claude Code itself
//! writes when you approve a server); user MCP servers under `mcpServers` in
//! the global configuration file `.claude.json` (in `$CLAUDE_CONFIG_DIR`,
//! else in the home directory).

mod diff;
mod error;
mod git_exclude;
mod json;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cm_engine::Project;
use serde::Serialize;

pub use error::{Error, Result};
use json::{Json, Object};

/// Every hook command setup writes is `<program> hook <Event>`, where the
/// program is this command's name or a path ending in it.
pub const PROGRAM_NAME: &str = "claude-memory";
/// The name of our MCP server in `mcpServers`.
pub const MCP_SERVER_NAME: &str = "claude-memory";
/// Appended to a file's name for the copy taken before changing it.
pub const BACKUP_SUFFIX: &str = ".claude-memory.bak";

/// Tools whose calls the tool hooks see: those that change files or run commands.
const TOOL_MATCHER: &str = "Edit|Write|MultiEdit|Bash";

/// One command hook setup installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HookSpec {
    /// Claude Code's event name, also the argument of `claude-memory hook`.
    pub event: &'static str,
    /// The matcher group's `matcher`, for events that filter on one.
    pub matcher: Option<&'static str>,
    /// Claude Code's timeout for the command, in seconds (its unit). The hook
    /// keeps its own, shorter deadline and exits quietly; this only bounds a
    /// hook that hangs.
    pub timeout_secs: u32,
    /// Whether Claude Code runs it in the background (`"async": true`)
    /// instead of waiting for it: only hooks that queue work and answer
    /// nothing, and only where Claude Code still runs them to the end in
    /// `claude -p`. Measured with 2.1.332 (`claude_code_contract`): an async
    /// `Stop` or `PostCompact` hook is never started there, and an async
    /// `PreCompact` or `SubagentStop` hook still running when the process
    /// exits is killed; only `SessionEnd` runs whole after the exit. So only
    /// `SessionEnd` is async.
    #[serde(rename = "async")]
    pub is_async: bool,
}

/// The hooks, in the order of a session's life. SessionStart, PreCompact,
/// PostCompact and SessionEnd can filter on their source, trigger or reason;
/// we want every one, so they have no matcher (Claude Code ignores matchers
/// on UserPromptSubmit and Stop anyway; SubagentStop's would filter on the
/// agent type).
pub const HOOKS: &[HookSpec] = &[
    HookSpec { event: "SessionStart", matcher: None, timeout_secs: 2, is_async: false },
    HookSpec { event: "UserPromptSubmit", matcher: None, timeout_secs: 2, is_async: false },
    HookSpec { event: "PreToolUse", matcher: Some(TOOL_MATCHER), timeout_secs: 1, is_async: false },
    HookSpec { event: "PostToolUse", matcher: Some(TOOL_MATCHER), timeout_secs: 1, is_async: false },
    HookSpec { event: "PostToolUseFailure", matcher: Some(TOOL_MATCHER), timeout_secs: 1, is_async: false },
    HookSpec { event: "PreCompact", matcher: None, timeout_secs: 2, is_async: false },
    HookSpec { event: "PostCompact", matcher: None, timeout_secs: 2, is_async: false },
    HookSpec { event: "Stop", matcher: None, timeout_secs: 2, is_async: false },
    HookSpec { event: "SubagentStop", matcher: None, timeout_secs: 2, is_async: false },
    HookSpec { event: "SessionEnd", matcher: None, timeout_secs: 2, is_async: true },
];

/// Whose Claude Code configuration is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// This project, only you: hooks in `.claude/settings.local.json`.
    Local,
    /// This project, the whole team: hooks in `.claude/settings.json`.
    Shared,
    /// Every project, only you: the user's settings and global configuration.
    User,
}

/// The user-level files of Claude Code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaudeUserFiles {
    /// User settings, holding user-wide hooks.
    pub settings: PathBuf,
    /// The global configuration file, holding user-scope MCP servers.
    pub global_config: PathBuf,
}

impl ClaudeUserFiles {
    /// Claude Code's locations for this process's environment
    /// (`CLAUDE_CONFIG_DIR`, `HOME`).
    pub fn from_env() -> Result<ClaudeUserFiles> {
        let config_dir = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|v| !v.is_empty()).map(PathBuf::from);
        ClaudeUserFiles::resolve(config_dir, std::env::home_dir())
    }

    /// Claude Code's rules: the configuration directory is `config_dir`, else
    /// `<home>/.claude`, with `settings.json` inside; the global configuration
    /// is `.claude.json` in `config_dir`, else in `home` — unless a legacy
    /// `.config.json` exists in the configuration directory, which Claude
    /// Code then reads instead.
    pub fn resolve(config_dir: Option<PathBuf>, home: Option<PathBuf>) -> Result<ClaudeUserFiles> {
        let base = config_dir.clone().or(home).ok_or_else(|| {
            Error::Refused("cannot find the home directory: set HOME or CLAUDE_CONFIG_DIR".into())
        })?;
        let dir = config_dir.unwrap_or_else(|| base.join(".claude"));
        let legacy = dir.join(".config.json");
        let global_config = if legacy.is_file() { legacy } else { base.join(".claude.json") };
        Ok(ClaudeUserFiles { settings: dir.join("settings.json"), global_config })
    }
}

impl ClaudeUserFiles {
    /// Claude Code's auto memory of `project` (`MEMORY.md` and topic files):
    /// `projects/<the project's path, every character but letters and
    /// digits made '-'>/memory` in the configuration directory.
    pub fn auto_memory_dir(&self, project: &Path) -> PathBuf {
        let encoded: String = project
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let config_dir = self.settings.parent().map_or_else(PathBuf::new, Path::to_path_buf);
        config_dir.join("projects").join(encoded).join("memory")
    }
}

/// The Markdown files Claude Code loads into every session of `project`
/// that exist: `CLAUDE.md`, `CLAUDE.local.md`, `.claude/CLAUDE.md`, the
/// rules in `.claude/rules/` and the auto memory, in that order.
pub fn instruction_files(user: &ClaudeUserFiles, project: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["CLAUDE.md", "CLAUDE.local.md", ".claude/CLAUDE.md"]
        .iter()
        .map(|name| project.join(name))
        .filter(|p| p.is_file())
        .collect();
    for dir in [project.join(".claude").join("rules"), user.auto_memory_dir(project)] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "md"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// The statements Claude Code loads into every session of `project` (see
/// [`instruction_files`] and `cm_core::markdown`), and the files read. A
/// file that cannot be read, is over 1 MiB or is not UTF-8 is an error
/// naming it: a caller then changes nothing rather than act on a part.
pub fn loaded_statements(user: &ClaudeUserFiles, project: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
    /// Instructions files are small; past this one is not what it seems.
    const MAX_BYTES: u64 = 1 << 20;
    let files = instruction_files(user, project);
    let mut statements = Vec::new();
    for file in &files {
        let io = |source| Error::Io { context: format!("reading {}", file.display()), source };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open(file).map_err(io)?, MAX_BYTES + 1),
            &mut bytes,
        )
        .map_err(io)?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(Error::Refused(format!("{} is larger than 1 MiB", file.display())));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::Refused(format!("{} is not UTF-8 text", file.display())))?;
        statements.extend(cm_core::markdown::statements(&text));
    }
    Ok((files, statements))
}

/// The Claude Code plugin of this repository (`plugin/project-memory`):
/// when it is enabled it provides the hooks and the MCP server, and setup
/// must not register them a second time.
pub const PLUGIN_NAME: &str = "project-memory";

/// Whether the [`PLUGIN_NAME`] plugin is enabled for `project` (in the
/// user's settings or the project's), from any marketplace.
pub fn plugin_enabled(user: &ClaudeUserFiles, project: Option<&Path>) -> bool {
    enabled_plugin(user, project).is_some()
}

/// The id (`name@marketplace`) under which the [`PLUGIN_NAME`] plugin is
/// enabled for `project`, or for every project with `None`.
pub fn enabled_plugin(user: &ClaudeUserFiles, project: Option<&Path>) -> Option<String> {
    let mut files = vec![user.settings.clone()];
    if let Some(root) = project {
        files.push(root.join(".claude/settings.json"));
        files.push(root.join(".claude/settings.local.json"));
    }
    // The most specific file that mentions the plugin decides.
    let mut enabled = None;
    for file in files {
        let Some(settings) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        else {
            continue;
        };
        if let Some(plugins) = settings["enabledPlugins"].as_object() {
            for (id, on) in plugins {
                if id.split('@').next() == Some(PLUGIN_NAME) {
                    enabled = (on.as_bool() == Some(true)).then(|| id.clone());
                }
            }
        }
    }
    enabled
}

/// What an uninstall cannot take out: the plugin, which Claude Code
/// installed and removes.
fn plugin_note(id: &str) -> String {
    format!(
        "the {id} plugin is still enabled and keeps giving Claude Code claude-memory's hooks and \
         MCP server: `claude plugin uninstall {id}` removes it"
    )
}

/// What to set up or remove, and where.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// The project. Needed for [`Scope::Local`] and [`Scope::Shared`]; with
    /// [`Scope::User`] it is optional and only gets its data folder.
    pub project: Option<PathBuf>,
    /// Whose configuration.
    pub scope: Scope,
    /// The user's Claude Code files (for [`Scope::User`]); found from the
    /// environment when `None`.
    pub user_files: Option<ClaudeUserFiles>,
    /// Compute and return the changes without making them.
    pub dry_run: bool,
    /// What Claude Code runs: [`Program::resolve`] for this process.
    pub program: Program,
}

/// The `claude-memory` that Claude Code's hooks and MCP server run.
///
/// The bare name when the PATH finds this very program (the same line then
/// works for everyone who shares the file); else the absolute path of the
/// binary, since a bare name the shell cannot find makes every hook fail
/// with exit 127 and the MCP server with ENOENT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Program {
    /// The bare name or an absolute path.
    pub command: String,
    /// Whether `command` is the bare name found on the PATH.
    pub on_path: bool,
}

impl Program {
    /// The bare name, found on the PATH.
    pub fn bare() -> Program {
        Program { command: PROGRAM_NAME.to_owned(), on_path: true }
    }

    /// The binary at `path`, run by its path.
    pub fn at(path: &Path) -> Program {
        Program { command: path.display().to_string(), on_path: false }
    }

    /// For this process: the CLI is this executable when it is
    /// `claude-memory`, else the `claude-memory` beside it (the tray app
    /// ships it so). The bare name when `PATH` resolves to the same file.
    pub fn resolve() -> Program {
        let Some(cli) = own_cli() else { return Program::bare() };
        let path = std::env::var_os("PATH").unwrap_or_default();
        Program::resolve_with(&cli, &path)
    }

    /// [`Program::resolve`] for the binary `cli` and the search path `path`:
    /// the PATH's `claude-memory` is this program when it is the same file
    /// or an identical copy (what `claude-memory install` makes).
    pub fn resolve_with(cli: &Path, path: &std::ffi::OsStr) -> Program {
        let same = |found: &Path| match (found.canonicalize(), cli.canonicalize()) {
            (Ok(a), Ok(b)) if a == b => true,
            (Ok(a), Ok(b)) => {
                let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).ok();
                len(&a) == len(&b) && std::fs::read(&a).ok() == std::fs::read(&b).ok()
            }
            _ => false,
        };
        match find_on_path(path) {
            Some(found) if same(&found) => Program::bare(),
            _ => Program::at(&std::path::absolute(cli).unwrap_or_else(|_| cli.to_owned())),
        }
    }

    /// The hook command for `event`, quoted for the shell Claude Code runs it with.
    pub fn hook_command(&self, event: &str) -> String {
        format!("{} hook {event}", shell_quote(&self.command))
    }
}

/// The shell line that puts `dir` on the PATH of every new terminal, as
/// `install` and `doctor` give it.
pub fn path_line(dir: &Path) -> String {
    format!("echo 'export PATH=\"{}:$PATH\"' >> ~/.profile", dir.display())
}

/// The first `claude-memory` file the search path `path` finds.
pub fn find_on_path(path: &std::ffi::OsStr) -> Option<PathBuf> {
    let name = format!("{PROGRAM_NAME}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(path).map(|dir| dir.join(&name)).find(|c| c.is_file())
}

fn own_cli() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    if exe.file_stem().is_some_and(|n| n == PROGRAM_NAME) {
        return Some(exe);
    }
    let beside = exe.parent()?.join(format!("{PROGRAM_NAME}{}", std::env::consts::EXE_SUFFIX));
    beside.is_file().then_some(beside)
}

/// `text` as one shell word: as it is when it only holds safe characters,
/// else in single quotes.
fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The program of one of our hook commands, `<program> hook …`, where the
/// program (its first word, or a quoted path) is our name or a path ending
/// in it; `None` for anyone else's command.
pub fn own_hook_program(command: &str) -> Option<&str> {
    let command = command.trim_start();
    let (program, rest) = match command.chars().next() {
        Some(quote @ ('\'' | '"')) => {
            let end = command[1..].find(quote)?;
            (&command[1..1 + end], &command[2 + end..])
        }
        _ => command.split_once(' ').unwrap_or((command, "")),
    };
    let name = Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = name.strip_suffix(".exe").unwrap_or(name);
    (name == PROGRAM_NAME && rest.trim_start().starts_with("hook ")).then_some(program)
}

/// Which of the two operations a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Setup,
    Uninstall,
}

/// What happened (or, in a dry run, would happen) to a file or folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    Created,
    Updated,
    Unchanged,
    Removed,
}

/// What a configuration file holds for us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The command hooks.
    Hooks,
    /// The `claude-memory` MCP server.
    McpServer,
    /// `claude-memory` in `enabledMcpjsonServers` (approval of the `.mcp.json` server).
    McpApproval,
}

/// One configuration file setup looked at.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    pub parts: Vec<Part>,
    pub action: FileAction,
    /// The copy of the previous contents (never in a dry run).
    pub backup: Option<PathBuf>,
    /// Unified diff from the old to the new contents; empty when unchanged.
    pub diff: String,
}

/// The project's data folder (absent from an uninstall report when there is none).
#[derive(Debug, Clone, Serialize)]
pub struct DataDirReport {
    pub path: PathBuf,
    /// `created` or `unchanged` (uninstall always keeps it).
    pub action: FileAction,
}

/// Everything setup or uninstall did, for people (`--json`) and the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    pub operation: Operation,
    pub scope: Scope,
    pub dry_run: bool,
    pub project: Option<PathBuf>,
    /// What the hooks and the MCP server run.
    pub program: Program,
    pub data_dir: Option<DataDirReport>,
    pub files: Vec<FileReport>,
    /// Things in the files that will stop claude-memory from working.
    pub notes: Vec<String>,
}

impl SetupReport {
    /// Whether anything was (or in a dry run, would be) changed.
    pub fn changed(&self) -> bool {
        self.files.iter().any(|f| f.action != FileAction::Unchanged)
            || self.data_dir.as_ref().is_some_and(|d| d.action != FileAction::Unchanged)
    }
}

/// Creates the data folder and merges the hooks and MCP server into Claude
/// Code's configuration. Running it again changes nothing.
pub fn setup(options: &SetupOptions) -> Result<SetupReport> {
    run(Operation::Setup, options)
}

/// Removes what [`setup`] added; the data folder and everything else stay.
pub fn uninstall(options: &SetupOptions) -> Result<SetupReport> {
    run(Operation::Uninstall, options)
}

/// One file to edit.
struct Target {
    path: PathBuf,
    parts: Vec<Part>,
    /// Created owner-only: the global configuration also holds account data.
    private: bool,
    /// Where the copy of its previous contents goes: a project's files are
    /// backed up in its data folder (git-ignored), not beside themselves in
    /// the work tree; the user's files beside themselves.
    backup_dir: Option<PathBuf>,
}

/// A file's computed change, not yet made.
struct Plan {
    target: Target,
    original: Option<String>,
    /// The new contents, or `None` to delete the file.
    new_text: Option<String>,
    action: FileAction,
    diff: String,
}

fn run(operation: Operation, options: &SetupOptions) -> Result<SetupReport> {
    let project = options.project.as_deref().map(Project::at).transpose()?;
    if let Some(p) = &project
        && operation == Operation::Setup
        && holds_every_project(p.root())
    {
        return Err(Error::Refused(format!(
            "{} holds every project below it: run setup in the project's own folder \
             (`setup --user` sets up every project)",
            p.root().display()
        )));
    }
    let targets = targets(options, project.as_ref())?;

    // With the plugin enabled, Claude Code already runs its hooks and MCP
    // server: setup only makes the data folder, and takes out entries an
    // earlier setup wrote, so nothing runs twice.
    let mut notes = Vec::new();
    let user_files = match &options.user_files {
        Some(files) => Some(files.clone()),
        None => ClaudeUserFiles::from_env().ok(),
    };
    let plugin = user_files.and_then(|u| enabled_plugin(&u, project.as_ref().map(Project::root)));
    let by_plugin = operation == Operation::Setup && plugin.is_some();
    if let Some(id) = plugin.filter(|_| operation == Operation::Uninstall) {
        notes.push(plugin_note(&id));
    }
    let file_operation = if by_plugin {
        notes.push(format!(
            "the {PLUGIN_NAME} plugin provides the hooks and the MCP server: setup adds no second copy of them"
        ));
        Operation::Uninstall
    } else {
        operation
    };

    // Plan every file before touching any, so a file we cannot read or
    // understand leaves all of them as they were.
    let program = &options.program;
    let plans = targets
        .into_iter()
        .map(|t| plan(file_operation, t, program, &mut notes))
        .collect::<Result<Vec<_>>>()?;
    if operation == Operation::Setup && !by_plugin && !program.on_path {
        // Installed (in a `bin` folder): that folder goes on the PATH;
        // otherwise the install puts it in one.
        let installed =
            Path::new(&program.command).parent().filter(|dir| dir.file_name().is_some_and(|n| n == "bin"));
        let fix = match installed {
            Some(dir) => format!("to run it by name, add {} to your PATH", dir.display()),
            None => format!("`{} install` installs it", shell_quote(&program.command)),
        };
        notes.push(format!(
            "`{PROGRAM_NAME}` is not on your PATH (or is another copy), so Claude Code will run {}; {fix}",
            program.command
        ));
        if options.scope == Scope::Shared {
            notes.push("the shared files name a path on this machine: teammates need claude-memory on their PATH and to run setup themselves".to_owned());
        }
    }

    let data_dir = match &project {
        Some(p) if p.data_dir().is_dir() => {
            Some(DataDirReport { path: p.data_dir(), action: FileAction::Unchanged })
        }
        Some(p) if operation == Operation::Setup => {
            if !options.dry_run {
                p.ensure_data_dir()?;
            }
            Some(DataDirReport { path: p.data_dir(), action: FileAction::Created })
        }
        _ => None,
    };

    let mut files = Vec::with_capacity(plans.len());
    for plan in plans {
        let backup = match (options.dry_run, plan.action) {
            (true, _) | (false, FileAction::Unchanged) => None,
            (false, _) => apply(&plan)?,
        };
        files.push(FileReport {
            path: plan.target.path,
            parts: plan.target.parts,
            action: plan.action,
            backup,
            diff: plan.diff,
        });
    }
    if let Some(p) = project.as_ref().filter(|_| !options.dry_run && options.scope != Scope::User) {
        notes.extend(keep_out_of_git(p.root(), options.scope, &files)?);
    }
    Ok(SetupReport {
        operation,
        scope: options.scope,
        dry_run: options.dry_run,
        project: project.map(|p| p.root().to_owned()),
        program: options.program.clone(),
        data_dir,
        files,
        notes,
    })
}

/// Whether `root` is the file system's root or the home folder: a project
/// there would hold the memory of every folder below it (setup refuses it,
/// and so does the dashboard's wizard).
pub fn holds_every_project(root: &Path) -> bool {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let home = std::env::home_dir().and_then(|h| h.canonicalize().ok());
    canonical.parent().is_none() || home.as_deref() == Some(canonical.as_path())
}

/// Keeps the personal files this run created in the project out of git,
/// and forgets those it removed (see `git_exclude`): the local settings
/// always, `.mcp.json` when it is personal (not a shared setup's). A note
/// when files were newly kept out.
fn keep_out_of_git(root: &Path, scope: Scope, files: &[FileReport]) -> Result<Option<String>> {
    let personal: &[&str] = match scope {
        Scope::Local => &[".claude/settings.local.json", ".mcp.json"],
        _ => &[".claude/settings.local.json"],
    };
    let with = |action: FileAction| -> Vec<&str> {
        personal
            .iter()
            .copied()
            .filter(|file| files.iter().any(|f| f.path == root.join(file) && f.action == action))
            .collect()
    };
    let (created, removed) = (with(FileAction::Created), with(FileAction::Removed));
    let changed = git_exclude::update(root, &created, &removed)?;
    Ok((changed && !created.is_empty()).then(|| {
        format!(
            "{} kept out of git (.git/info/exclude): they name this machine's path to claude-memory",
            created.join(" and ")
        )
    }))
}

fn targets(options: &SetupOptions, project: Option<&Project>) -> Result<Vec<Target>> {
    let backup_dir = project.map(|p| p.data_dir().join("backups"));
    let target = |path: PathBuf, parts: &[Part]| Target {
        path,
        parts: parts.to_vec(),
        private: false,
        backup_dir: backup_dir.clone(),
    };
    let root = || {
        project
            .map(Project::root)
            .ok_or_else(|| Error::Refused("setting up one project (not the user) needs its directory".into()))
    };
    Ok(match options.scope {
        Scope::Local => {
            let root = root()?;
            vec![
                target(root.join(".claude/settings.local.json"), &[Part::Hooks, Part::McpApproval]),
                target(root.join(".mcp.json"), &[Part::McpServer]),
            ]
        }
        Scope::Shared => {
            let root = root()?;
            vec![
                target(root.join(".claude/settings.json"), &[Part::Hooks]),
                target(root.join(".claude/settings.local.json"), &[Part::McpApproval]),
                target(root.join(".mcp.json"), &[Part::McpServer]),
            ]
        }
        Scope::User => {
            let files = match &options.user_files {
                Some(files) => files.clone(),
                None => ClaudeUserFiles::from_env()?,
            };
            // Backed up beside themselves: a project's data folder is no place for them.
            let user = |path: PathBuf, part: Part, private: bool| Target {
                path,
                parts: vec![part],
                private,
                backup_dir: None,
            };
            vec![user(files.settings, Part::Hooks, false), user(files.global_config, Part::McpServer, true)]
        }
    })
}

fn plan(operation: Operation, target: Target, program: &Program, notes: &mut Vec<String>) -> Result<Plan> {
    let file = target.path.as_path();
    let original = read_optional(file)?;
    let before = match &original {
        Some(text) if !text.trim().is_empty() => match json::parse(text) {
            Ok(Json::Object(root)) => root,
            Ok(other) => {
                return Err(refuse(file, format!("the top level is {}, not an object", other.kind())));
            }
            Err(e) => return Err(refuse(file, format!("not valid JSON ({e})"))),
        },
        _ => Object::default(),
    };

    let mut after = before.clone();
    for part in &target.parts {
        match (operation, part) {
            (Operation::Setup, Part::Hooks) => install_hooks(&mut after, file, program)?,
            (Operation::Setup, Part::McpServer) => install_server(&mut after, file, program)?,
            (Operation::Setup, Part::McpApproval) => install_approval(&mut after, file)?,
            (Operation::Uninstall, Part::Hooks) => remove_hooks(&mut after, file)?,
            (Operation::Uninstall, Part::McpServer) => remove_server(&mut after, file)?,
            (Operation::Uninstall, Part::McpApproval) => remove_approval(&mut after, file)?,
        }
    }
    if operation == Operation::Setup {
        notes.extend(blockers(&after, file, &target.parts));
    }

    let unchanged = after == before && (original.is_some() || operation == Operation::Uninstall);
    let (action, new_text) = if unchanged {
        (FileAction::Unchanged, original.clone())
    } else if after.is_empty() && operation == Operation::Uninstall && !file.is_symlink() {
        // Only what setup added was left: the file goes, as before setup (a
        // link stays, and its target is emptied instead).
        (FileAction::Removed, None)
    } else {
        let (indent, newline) = match &original {
            Some(text) if !text.trim().is_empty() => (json::detect_indent(text), text.ends_with('\n')),
            _ => ("  ".to_owned(), true),
        };
        let text = json::render(&Json::Object(after), &indent, newline);
        let action = if original.is_some() { FileAction::Updated } else { FileAction::Created };
        (action, Some(text))
    };

    let diff = if action == FileAction::Unchanged {
        String::new()
    } else {
        let shown = file.display().to_string();
        let old_label = if original.is_some() { shown.as_str() } else { "/dev/null" };
        let new_label = if new_text.is_some() { shown.as_str() } else { "/dev/null" };
        diff::unified(
            original.as_deref().unwrap_or(""),
            new_text.as_deref().unwrap_or(""),
            old_label,
            new_label,
        )
    };
    Ok(Plan { target, original, new_text, action, diff })
}

/// Makes one planned change; returns the backup taken, if any.
fn apply(plan: &Plan) -> Result<Option<PathBuf>> {
    let path = plan.target.path.as_path();
    // Claude Code rewrites some of these files while it runs: do not
    // overwrite a change made since we read the file.
    if read_optional(path)? != plan.original {
        let why = "changed while claude-memory was editing it; left as it is now, run the command again";
        return Err(Error::Refused(format!("{}: {why}", path.display())));
    }
    let backup = match plan.original {
        Some(_) => {
            let mut name = path.file_name().unwrap_or_default().to_owned();
            name.push(BACKUP_SUFFIX);
            // In the project's data folder when it has one (an uninstall
            // never makes one), else beside the file.
            let backup = match plan.target.backup_dir.as_deref() {
                Some(dir) if dir.parent().is_some_and(Path::is_dir) => {
                    std::fs::create_dir_all(dir).map_err(|e| io(format!("creating {}", dir.display()), e))?;
                    dir.join(name)
                }
                _ => path.with_file_name(name),
            };
            std::fs::copy(path, &backup)
                .map_err(|e| io(format!("backing up {} to {}", path.display(), backup.display()), e))?;
            Some(backup)
        }
        None => None,
    };
    match &plan.new_text {
        Some(text) => write_atomic(path, text, plan.target.private)?,
        None => std::fs::remove_file(path).map_err(|e| io(format!("removing {}", path.display()), e))?,
    }
    Ok(backup)
}

/// Replaces `path` with `text` through a temporary file in the same folder
/// and a rename, so readers see the old or the new file, never half of one.
/// Follows a symbolic link (dotfile managers link these files) and keeps the
/// permissions of the file it replaces.
fn write_atomic(path: &Path, text: &str, private: bool) -> Result<()> {
    let target = if path.is_symlink() {
        std::fs::canonicalize(path).map_err(|e| io(format!("following the link {}", path.display()), e))?
    } else {
        path.to_owned()
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(format!("creating {}", dir.display()), e))?;
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.claude-memory-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        match std::fs::metadata(&target) {
            Ok(meta) => std::fs::set_permissions(&tmp, meta.permissions())?,
            Err(_) if private => restrict(&tmp)?,
            Err(_) => {}
        }
        std::fs::rename(&tmp, &target)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(format!("writing {}", target.display()), e)
    })
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            String::from_utf8(bytes).map(Some).map_err(|_| refuse(path, "not UTF-8 text".to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("reading {}", path.display()), e)),
    }
}

fn io(context: String, source: std::io::Error) -> Error {
    Error::Io { context, source }
}

/// A file we will not edit, named, with why.
fn refuse(file: &Path, why: String) -> Error {
    Error::Refused(format!("{}: {why}; nothing was changed", file.display()))
}

fn wrong_shape(file: &Path, at: &str, found: &Json, expected: &str) -> Error {
    refuse(file, format!("\"{at}\" is {}, but Claude Code expects {expected}", found.kind()))
}

// --- hooks ---------------------------------------------------------------

fn is_own_hook(entry: &Json) -> bool {
    entry
        .as_object()
        .and_then(|o| o.get("command"))
        .and_then(Json::as_str)
        .is_some_and(|c| own_hook_program(c).is_some())
}

fn hook_entry(spec: &HookSpec, program: &Program) -> Object {
    let mut entry = Object::from([
        ("type", Json::str("command")),
        ("command", Json::String(program.hook_command(spec.event))),
        ("timeout", Json::Number(spec.timeout_secs.into())),
    ]);
    if spec.is_async {
        entry.insert("async", Json::Bool(true));
    }
    entry
}

/// Checks `hooks` is an object of events, each a list of matcher groups
/// whose `hooks` (when present) is a list, before anything is edited.
fn hooks_table<'a>(root: &'a mut Object, file: &Path, create: bool) -> Result<Option<&'a mut Object>> {
    if create {
        root.get_or_insert_with("hooks", || Json::Object(Object::default()));
    }
    let hooks = match root.get_mut("hooks") {
        None => return Ok(None),
        Some(Json::Object(hooks)) => hooks,
        Some(other) => return Err(wrong_shape(file, "hooks", other, "an object of events")),
    };
    for (event, groups) in hooks.iter_mut() {
        let Json::Array(groups) = groups else {
            return Err(wrong_shape(file, &format!("hooks.{event}"), groups, "a list of matcher groups"));
        };
        for (n, group) in groups.iter().enumerate() {
            let Json::Object(group) = group else {
                return Err(wrong_shape(
                    file,
                    &format!("hooks.{event}[{n}]"),
                    group,
                    "a matcher group object",
                ));
            };
            if let Some(list) = group.get("hooks").filter(|l| !matches!(l, Json::Array(_))) {
                let at = format!("hooks.{event}[{n}].hooks");
                return Err(wrong_shape(file, &at, list, "a list of hooks"));
            }
        }
    }
    Ok(Some(hooks))
}

/// The hook list of a matcher group (validated by [`hooks_table`]).
fn group_hooks(group: &mut Json) -> Option<&mut Vec<Json>> {
    match group {
        Json::Object(o) => match o.get_mut("hooks") {
            Some(Json::Array(list)) => Some(list),
            _ => None,
        },
        _ => None,
    }
}

/// Removes our entries from an event's groups, except the one at `keep`,
/// and drops the groups that this empties. Returns whether it removed any.
fn remove_own_hooks(groups: &mut Vec<Json>, keep: Option<(usize, usize)>) -> bool {
    let mut removed = false;
    let mut g = 0;
    groups.retain_mut(|group| {
        let gi = g;
        g += 1;
        let Some(list) = group_hooks(group) else { return true };
        let before = list.len();
        let mut h = 0;
        list.retain(|entry| {
            let keep_it = !is_own_hook(entry) || keep == Some((gi, h));
            h += 1;
            keep_it
        });
        if list.len() == before {
            return true;
        }
        removed = true;
        !list.is_empty()
    });
    removed
}

fn install_hooks(root: &mut Object, file: &Path, program: &Program) -> Result<()> {
    let Some(hooks) = hooks_table(root, file, true)? else { return Ok(()) };
    // Our entries on events this version no longer uses go away.
    let mut emptied = Vec::new();
    for (event, groups) in hooks.iter_mut() {
        if let Json::Array(groups) = groups
            && !HOOKS.iter().any(|spec| spec.event == event)
            && remove_own_hooks(groups, None)
            && groups.is_empty()
        {
            emptied.push(event.to_owned());
        }
    }
    hooks.retain(|event, _| !emptied.iter().any(|e| e == event));

    for spec in HOOKS {
        if let Json::Array(groups) = hooks.get_or_insert_with(spec.event, || Json::Array(Vec::new())) {
            install_hook(groups, spec, program);
        }
    }
    Ok(())
}

fn matcher(group: &Json) -> Option<&str> {
    group.as_object().and_then(|o| o.get("matcher")).and_then(Json::as_str)
}

/// Makes exactly one entry of ours on this event, as `spec` says: the first
/// existing one is updated in place when its group can carry our matcher,
/// otherwise a new group of our own is appended.
fn install_hook(groups: &mut Vec<Json>, spec: &HookSpec, program: &Program) {
    let mut own = Vec::new();
    for (g, group) in groups.iter_mut().enumerate() {
        if let Some(list) = group_hooks(group) {
            own.extend(list.iter().enumerate().filter(|(_, e)| is_own_hook(e)).map(|(h, _)| (g, h)));
        }
    }
    let only_ours = |group: &mut Json| group_hooks(group).is_some_and(|l| l.iter().all(is_own_hook));
    // A group already matching as we want, else one holding nothing but our
    // entries (so changing its matcher affects no one else's hooks).
    let home = own
        .iter()
        .find(|(g, _)| matcher(&groups[*g]) == spec.matcher)
        .or_else(|| own.iter().find(|(g, _)| only_ours(&mut groups[*g])))
        .copied();
    let Some((g, h)) = home else {
        remove_own_hooks(groups, None);
        let mut group = Object::default();
        if let Some(m) = spec.matcher {
            group.insert("matcher", Json::str(m));
        }
        group.insert("hooks", Json::Array(vec![Json::Object(hook_entry(spec, program))]));
        groups.push(Json::Object(group));
        return;
    };
    if let Json::Object(group) = &mut groups[g] {
        match spec.matcher {
            Some(m) => group.insert("matcher", Json::str(m)),
            None => drop(group.remove("matcher")),
        }
    }
    if let Some(Json::Object(entry)) = group_hooks(&mut groups[g]).and_then(|l| l.get_mut(h)) {
        if !spec.is_async {
            entry.remove("async");
        }
        for (key, value) in hook_entry(spec, program) {
            entry.insert(&key, value);
        }
    }
    remove_own_hooks(groups, Some((g, h)));
}

fn remove_hooks(root: &mut Object, file: &Path) -> Result<()> {
    let Some(hooks) = hooks_table(root, file, false)? else { return Ok(()) };
    let mut emptied = Vec::new();
    for (event, groups) in hooks.iter_mut() {
        if let Json::Array(groups) = groups
            && remove_own_hooks(groups, None)
            && groups.is_empty()
        {
            emptied.push(event.to_owned());
        }
    }
    if emptied.is_empty() {
        return Ok(());
    }
    hooks.retain(|event, _| !emptied.iter().any(|e| e == event));
    if hooks.is_empty() {
        root.remove("hooks");
    }
    Ok(())
}

// --- MCP server ----------------------------------------------------------

/// The stdio server: no token, and the bare command when it is on the PATH,
/// so the same line works for everyone who commits `.mcp.json`. Claude Code
/// (2.1.3xx) defers an MCP server's tools behind its tool search unless the
/// server says `alwaysLoad`: eight small tools that Claude should reach for
/// without a search first.
fn server_entry(program: &Program) -> Object {
    Object::from([
        ("type", Json::str("stdio")),
        ("command", Json::String(program.command.clone())),
        ("args", Json::Array(vec![Json::str("mcp")])),
        ("alwaysLoad", Json::Bool(true)),
    ])
}

fn servers_table<'a>(root: &'a mut Object, file: &Path, create: bool) -> Result<Option<&'a mut Object>> {
    if create {
        root.get_or_insert_with("mcpServers", || Json::Object(Object::default()));
    }
    match root.get_mut("mcpServers") {
        None => Ok(None),
        Some(Json::Object(servers)) => match servers.get(MCP_SERVER_NAME) {
            Some(own) if own.as_object().is_none() => {
                let at = format!("mcpServers.{MCP_SERVER_NAME}");
                Err(wrong_shape(file, &at, own, "a server object"))
            }
            _ => Ok(Some(servers)),
        },
        Some(other) => Err(wrong_shape(file, "mcpServers", other, "an object of servers")),
    }
}

fn install_server(root: &mut Object, file: &Path, program: &Program) -> Result<()> {
    let Some(servers) = servers_table(root, file, true)? else { return Ok(()) };
    match servers.get_mut(MCP_SERVER_NAME) {
        Some(Json::Object(own)) => {
            // Keep what the user added (say `env`); drop what only an HTTP
            // server has.
            for (key, value) in server_entry(program) {
                own.insert(&key, value);
            }
            own.remove("url");
            own.remove("headers");
        }
        _ => servers.insert(MCP_SERVER_NAME, Json::Object(server_entry(program))),
    }
    Ok(())
}

fn remove_server(root: &mut Object, file: &Path) -> Result<()> {
    let Some(servers) = servers_table(root, file, false)? else { return Ok(()) };
    if servers.remove(MCP_SERVER_NAME).is_some() && servers.is_empty() {
        root.remove("mcpServers");
    }
    Ok(())
}

// --- approval of the .mcp.json server --------------------------------------

const APPROVED: &str = "enabledMcpjsonServers";

fn approvals<'a>(root: &'a mut Object, file: &Path, create: bool) -> Result<Option<&'a mut Vec<Json>>> {
    if create {
        root.get_or_insert_with(APPROVED, || Json::Array(Vec::new()));
    }
    match root.get_mut(APPROVED) {
        None => Ok(None),
        Some(Json::Array(list)) => Ok(Some(list)),
        Some(other) => Err(wrong_shape(file, APPROVED, other, "a list of server names")),
    }
}

fn install_approval(root: &mut Object, file: &Path) -> Result<()> {
    if let Some(list) = approvals(root, file, true)?
        && !list.iter().any(|v| v.as_str() == Some(MCP_SERVER_NAME))
    {
        list.push(Json::str(MCP_SERVER_NAME));
    }
    Ok(())
}

fn remove_approval(root: &mut Object, file: &Path) -> Result<()> {
    let Some(list) = approvals(root, file, false)? else { return Ok(()) };
    let before = list.len();
    list.retain(|v| v.as_str() != Some(MCP_SERVER_NAME));
    if list.len() != before && list.is_empty() {
        root.remove(APPROVED);
    }
    Ok(())
}

/// Settings in the file that would keep the hooks or the server from running.
fn blockers(root: &Object, file: &Path, parts: &[Part]) -> Vec<String> {
    let mut notes = Vec::new();
    if parts.contains(&Part::Hooks) && root.get("disableAllHooks") == Some(&Json::Bool(true)) {
        notes.push(format!("{}: \"disableAllHooks\" is true, so Claude Code runs no hooks", file.display()));
    }
    let rejected = match root.get("disabledMcpjsonServers") {
        Some(Json::Array(list)) => list.iter().any(|v| v.as_str() == Some(MCP_SERVER_NAME)),
        _ => false,
    };
    if parts.contains(&Part::McpApproval) && rejected {
        notes.push(format!(
            "{}: \"disabledMcpjsonServers\" lists {MCP_SERVER_NAME}, so Claude Code will not start its MCP server",
            file.display()
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> Object {
        match json::parse(text).unwrap() {
            Json::Object(o) => o,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn user_files_follow_claude_config_dir() {
        let home = PathBuf::from("/home/u");
        let files = ClaudeUserFiles::resolve(None, Some(home.clone())).unwrap();
        assert_eq!(files.settings, home.join(".claude/settings.json"));
        assert_eq!(files.global_config, home.join(".claude.json"));
        let files = ClaudeUserFiles::resolve(Some("/cfg".into()), Some(home)).unwrap();
        assert_eq!(files.settings, PathBuf::from("/cfg/settings.json"));
        assert_eq!(files.global_config, PathBuf::from("/cfg/.claude.json"));
        assert!(ClaudeUserFiles::resolve(None, None).is_err());
    }

    #[test]
    fn an_own_entry_sharing_a_group_with_other_hooks_moves_out_instead_of_changing_their_matcher() {
        let mut root = obj(r#"{"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
                {"type": "command", "command": "lint.sh"},
                {"type": "command", "command": "claude-memory hook PreToolUse", "timeout": 1}
            ]}]}}"#);
        install_hooks(&mut root, Path::new("f"), &Program::bare()).unwrap();
        let want = obj(&format!(
            r#"{{"hooks": {{"PreToolUse": [
                {{"matcher": "Bash", "hooks": [{{"type": "command", "command": "lint.sh"}}]}},
                {{"matcher": "{TOOL_MATCHER}", "hooks": [{{"type": "command", "command": "claude-memory hook PreToolUse", "timeout": 1}}]}}
            ]}}}}"#
        ));
        assert_eq!(
            root.get("hooks").unwrap().as_object().unwrap().get("PreToolUse"),
            want.get("hooks").unwrap().as_object().unwrap().get("PreToolUse")
        );
    }

    #[test]
    fn duplicates_collapse_to_one_entry_and_obsolete_events_go() {
        let mut root = obj(r#"{"hooks": {
                "Notification": [{"hooks": [{"type": "command", "command": "claude-memory hook Notification"}]}],
                "Stop": [
                    {"hooks": [{"type": "command", "command": "claude-memory hook Stop", "timeout": 9, "statusMessage": "saving"}]},
                    {"hooks": [{"type": "command", "command": "claude-memory hook Stop"}]}
                ]}}"#);
        install_hooks(&mut root, Path::new("f"), &Program::bare()).unwrap();
        let hooks = root.get("hooks").unwrap().as_object().unwrap();
        assert!(hooks.get("Notification").is_none());
        let stop = json::render(hooks.get("Stop").unwrap(), "", false);
        assert_eq!(
            stop.replace('\n', ""),
            r#"[{"hooks": [{"type": "command","command": "claude-memory hook Stop","timeout": 2,"statusMessage": "saving"}]}]"#
        );
    }

    #[test]
    fn only_session_end_runs_async_and_an_entry_that_should_not_loses_the_flag() {
        let mut root = obj(r#"{"hooks": {
                "PreCompact": [{"hooks": [{"type": "command", "command": "claude-memory hook PreCompact", "timeout": 2, "async": true}]}],
                "SessionEnd": [{"hooks": [{"type": "command", "command": "claude-memory hook SessionEnd", "timeout": 2}]}]
            }}"#);
        install_hooks(&mut root, Path::new("f"), &Program::bare()).unwrap();
        let hooks = root.get("hooks").unwrap().as_object().unwrap();
        let entry = |event: &str| json::render(hooks.get(event).unwrap(), "", false).replace('\n', "");
        assert_eq!(
            entry("PreCompact"),
            r#"[{"hooks": [{"type": "command","command": "claude-memory hook PreCompact","timeout": 2}]}]"#
        );
        assert_eq!(
            entry("SessionEnd"),
            r#"[{"hooks": [{"type": "command","command": "claude-memory hook SessionEnd","timeout": 2,"async": true}]}]"#
        );
        let asynchronous: Vec<&str> = HOOKS.iter().filter(|h| h.is_async).map(|h| h.event).collect();
        assert_eq!(asynchronous, ["SessionEnd"]);
    }
}
