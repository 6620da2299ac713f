//! The person's own Claude Code as the LLM: `claude -p` run headless with
//! their existing login, so nobody needs an API key of their own.
//!
//! A run must never feed claude-memory itself (no recursion, no memory of
//! its own runs), so it is isolated four ways:
//! - it starts in a fresh empty folder, removed afterwards: no project, no
//!   `.mcp.json`, no project hooks;
//! - `--setting-sources ""` loads no user, project or local settings file
//!   (so none of their hooks or enabled plugins; an organisation's managed
//!   settings still apply) and no `CLAUDE.md` (checked with 2.1.332, which
//!   then also records no project in `~/.claude.json`),
//!   `--strict-mcp-config` with an empty `--mcp-config` starts no MCP
//!   server, `--tools ""` offers no tool, and `--disable-slash-commands`
//!   loads no skill;
//! - `--no-session-persistence` writes no transcript that could be mined;
//! - `CLAUDE_MEMORY_HOOKS=off` in its environment makes `claude-memory
//!   hook` return at once, should a hook run anyway.
//!
//! `--bare` would skip hooks too, but it never reads the OAuth login, and
//! the login is the point. The variables a surrounding Claude Code session
//! sets (the engine may have been started from one) are not passed on, and
//! the system prompt goes in a file, since Windows cannot pass a multi-line
//! argument to a `.cmd` program.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use cm_core::HOOKS_OFF_VAR;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::Usage;
use crate::anthropic::AnswerUsage;
use crate::client::{Prompt, Reply};
use crate::config::DEFAULT_CLAUDE_COMMAND;
use crate::transport::{Failure, truncate};

/// Prefix of the empty folder each run starts in.
pub const RUN_DIR_PREFIX: &str = "claude-memory-llm-";

/// What a Claude Code session sets for the programs it starts; a run must
/// look like one started by a person, not a nested session.
const SESSION_VARS: [&str; 4] =
    ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_SSE_PORT", "CLAUDE_PROJECT_DIR"];

/// The system prompt's file in the run's folder.
const SYSTEM_FILE: &str = "system-prompt.txt";

/// A `claude` program and the model it is asked to use.
#[derive(Debug, Clone)]
pub(crate) struct ClaudeCli {
    program: PathBuf,
    model: Option<String>,
    /// The PATH of a run: where the program is (an npm-installed `claude`
    /// is a Node script that needs `node`, which an engine started at login
    /// may not have on its PATH), then the engine's own.
    path: std::ffi::OsString,
}

/// What `claude -p --output-format json` prints, as far as it matters here.
#[derive(Deserialize)]
struct RunResult {
    #[serde(default)]
    is_error: bool,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    api_error_status: Option<u16>,
    #[serde(default)]
    usage: Option<AnswerUsage>,
    /// Every model the run asked, side requests included.
    #[serde(default, rename = "modelUsage")]
    model_usage: Option<std::collections::BTreeMap<String, ModelUsage>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
}

impl ClaudeCli {
    /// Finds the program: `command` if it is a path, else the first
    /// `command` (default `claude`) on the PATH or where Claude Code's
    /// installers put it.
    pub(crate) fn new(command: Option<&str>, model: Option<&str>) -> Result<Self, String> {
        let command = command.map(str::trim).unwrap_or(DEFAULT_CLAUDE_COMMAND);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        let installers = install_dirs(std::env::home_dir().as_deref());
        dirs.extend(installers.iter().cloned());
        let program = find_program(command, &dirs)
            .and_then(|p| std::path::absolute(p).ok())
            .ok_or_else(|| {
                format!(
                    "the Claude Code program `{command}` was not found on the PATH or in ~/.claude/local, ~/.local/bin; \
                     install Claude Code or give the path of `claude`"
                )
            })?;
        let path = run_path(&program, &installers, &path);
        Ok(ClaudeCli { program, model: model.map(|m| m.trim().to_owned()), path })
    }

    /// The arguments of one run, its system prompt in `system`.
    fn args(&self, system: &Path) -> Vec<String> {
        let mut args: Vec<String> = [
            "-p",
            "--output-format",
            "json",
            "--no-session-persistence",
            "--setting-sources",
            "",
            "--strict-mcp-config",
            "--mcp-config",
            r#"{"mcpServers":{}}"#,
            "--tools",
            "",
            "--disable-slash-commands",
            "--system-prompt-file",
        ]
        .map(str::to_owned)
        .into();
        args.push(system.to_string_lossy().into_owned());
        if let Some(model) = &self.model {
            args.extend(["--model".to_owned(), model.clone()]);
        }
        args
    }

    /// One run, the user message on stdin. The caller bounds it in time:
    /// dropping the future kills the process.
    pub(crate) async fn run(&self, prompt: &Prompt<'_>) -> Result<Reply, Failure> {
        let dir = tempfile::Builder::new()
            .prefix(RUN_DIR_PREFIX)
            .tempdir()
            .map_err(|e| Failure::Connect(format!("cannot make a folder for `claude`: {e}")))?;
        let system = dir.path().join(SYSTEM_FILE);
        std::fs::write(&system, prompt.system)
            .map_err(|e| Failure::Connect(format!("cannot write the system prompt for `claude`: {e}")))?;
        let mut command = tokio::process::Command::new(&self.program);
        for var in SESSION_VARS {
            command.env_remove(var);
        }
        let mut child = command
            .args(self.args(&system))
            .current_dir(dir.path())
            .env("PATH", &self.path)
            .env(HOOKS_OFF_VAR, "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::Connect(format!("cannot start {}: {e}", self.program.display())))?;
        // The message is written while the output is read, so neither pipe
        // can fill up and stall the other; closing stdin ends the message.
        // A run that exits before reading everything says why on stdout.
        let stdin = child.stdin.take();
        let write = async move {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(prompt.user.as_bytes()).await;
            }
        };
        let ((), output) = tokio::join!(write, child.wait_with_output());
        let output = output.map_err(|e| Failure::Connect(format!("`claude` failed: {e}")))?;
        match serde_json::from_slice::<RunResult>(&output.stdout) {
            Ok(run) => outcome(run),
            Err(_) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("no output");
                Err(Failure::Unusable(format!("`claude` exited with {}: {}", output.status, truncate(first))))
            }
        }
    }
}

/// The answer, or the failure, of a finished run.
fn outcome(run: RunResult) -> Result<Reply, Failure> {
    let usage = match (run.model_usage, run.usage) {
        (Some(models), _) if !models.is_empty() => models
            .values()
            .map(|m| {
                Usage::with_cache(
                    m.input_tokens,
                    m.cache_creation_input_tokens,
                    m.cache_read_input_tokens,
                    m.output_tokens,
                )
            })
            .fold(Usage::default(), |sum, u| sum + u),
        (_, Some(u)) => u.into(),
        _ => Usage::default(),
    };
    let text = run.result.unwrap_or_default();
    if !run.is_error && run.subtype.as_deref().is_none_or(|s| s == "success") {
        if text.trim().is_empty() {
            return Err(Failure::Empty { why: "`claude` answered nothing".to_owned(), usage });
        }
        return Ok(Reply { text, usage });
    }
    let message = truncate(if text.is_empty() { run.subtype.as_deref().unwrap_or("error") } else { &text });
    Err(match run.api_error_status {
        Some(status) => Failure::Status { status, retry_after: None, message },
        // Not logged in, or no access: asking again cannot help.
        None if message.contains("/login") || message.to_lowercase().contains("api key") => {
            Failure::Status { status: 401, retry_after: None, message }
        }
        None => Failure::Unusable(message),
    })
}

/// The PATH of a run: the program's folder, the folder of what it links to
/// (npm's `bin/claude` links into the package, beside no `node`, but
/// `~/.claude/local/claude` execs a `node_modules` one), the installers'
/// folders, then `inherited`.
fn run_path(program: &Path, installers: &[PathBuf], inherited: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let linked = std::fs::canonicalize(program).ok();
    for p in [Some(program), linked.as_deref()].into_iter().flatten() {
        if let Some(parent) = p.parent() {
            dirs.push(parent.to_owned());
        }
    }
    dirs.extend(installers.iter().filter(|d| d.is_dir()).cloned());
    dirs.extend(std::env::split_paths(inherited));
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    std::env::join_paths(dirs).unwrap_or_else(|_| inherited.to_owned())
}

/// Where Claude Code's installers put `claude`, besides the PATH (an engine
/// started at login may not have the interactive shell's PATH).
fn install_dirs(home: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = home {
        dirs.push(home.join(".claude").join("local"));
        dirs.push(home.join(".local").join("bin"));
        dirs.push(home.join(".npm-global").join("bin"));
    }
    if cfg!(unix) {
        dirs.push(PathBuf::from("/usr/local/bin"));
        dirs.push(PathBuf::from("/opt/homebrew/bin"));
    }
    dirs
}

/// `command` itself if it names a path, else the first executable of that
/// name in `dirs`.
fn find_program(command: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    if command.is_empty() {
        return None;
    }
    let as_path = Path::new(command);
    if as_path.components().count() > 1 || as_path.is_absolute() {
        return is_executable(as_path).then(|| as_path.to_owned());
    }
    let names: Vec<String> = if cfg!(windows) {
        vec![format!("{command}.exe"), format!("{command}.cmd"), command.to_owned()]
    } else {
        vec![command.to_owned()]
    };
    dirs.iter().flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: &str) -> Result<Reply, Failure> {
        outcome(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_successful_run_is_its_result_and_usage() {
        let reply = run(
            r#"{"type":"result","subtype":"success","is_error":false,"result":"{\"memories\": []}",
                "usage":{"input_tokens":10,"cache_creation_input_tokens":3,"cache_read_input_tokens":2,"output_tokens":5}}"#,
        )
        .unwrap();
        assert_eq!(reply.text, r#"{"memories": []}"#);
        assert_eq!(reply.usage, Usage { prompt_tokens: 15, completion_tokens: 5 });
    }

    #[test]
    fn failed_runs_say_whether_trying_again_can_help() {
        let limited =
            run(r#"{"is_error":true,"result":"API Error: 429 rate limited","api_error_status":429}"#);
        assert!(matches!(limited, Err(Failure::Status { status: 429, .. })), "{limited:?}");
        let login = run(r#"{"is_error":true,"result":"Not logged in · Please run /login"}"#);
        assert!(matches!(login, Err(Failure::Status { status: 401, .. })), "{login:?}");
        let turns = run(r#"{"is_error":true,"subtype":"error_max_turns"}"#);
        assert!(matches!(&turns, Err(Failure::Unusable(m)) if m == "error_max_turns"), "{turns:?}");
        let empty = run(r#"{"is_error":false,"subtype":"success","result":"  "}"#);
        assert!(matches!(empty, Err(Failure::Empty { .. })), "{empty:?}");
    }

    #[test]
    fn side_requests_count_too() {
        let reply = run(
            r#"{"subtype":"success","is_error":false,"result":"ok",
                "usage":{"input_tokens":10,"output_tokens":5},
                "modelUsage":{"claude-haiku-4-5":{"inputTokens":10,"outputTokens":5,"cacheReadInputTokens":100,"cacheCreationInputTokens":0},
                              "claude-sonnet-4-5":{"inputTokens":7,"outputTokens":3}}}"#,
        )
        .unwrap();
        assert_eq!(reply.usage, Usage { prompt_tokens: 117, completion_tokens: 8 });
    }

    #[test]
    fn a_runs_path_starts_where_the_program_is() {
        let inherited = std::ffi::OsString::from("/usr/bin:/bin");
        let path = run_path(Path::new("/opt/tools/claude"), &[], &inherited);
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        assert_eq!(dirs, [PathBuf::from("/opt/tools"), PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
    }

    #[test]
    fn every_run_is_cut_off_from_settings_tools_and_servers() {
        let cli =
            ClaudeCli { program: PathBuf::from("claude"), model: Some("haiku".into()), path: "/bin".into() };
        let args = cli.args(Path::new("/run/system-prompt.txt"));
        let after = |flag: &str| args.iter().position(|a| a == flag).map(|i| args[i + 1].as_str());
        assert_eq!(after("--setting-sources"), Some(""));
        assert_eq!(after("--tools"), Some(""));
        assert_eq!(after("--mcp-config"), Some(r#"{"mcpServers":{}}"#));
        assert_eq!(after("--system-prompt-file"), Some("/run/system-prompt.txt"));
        assert_eq!(after("--model"), Some("haiku"));
        for flag in ["-p", "--strict-mcp-config", "--no-session-persistence", "--disable-slash-commands"] {
            assert!(args.iter().any(|a| a == flag), "{flag} missing: {args:?}");
        }
        assert!(!args.iter().any(|a| a == "--bare"), "--bare never reads the login");
    }

    #[cfg(unix)]
    #[test]
    fn the_program_is_found_on_the_path_or_where_installers_put_it() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let (empty, bin) = (tmp.path().join("empty"), tmp.path().join("bin"));
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let claude = bin.join("claude");
        std::fs::write(&claude, "#!/bin/sh\n").unwrap();
        assert_eq!(find_program("claude", &[empty.clone(), bin.clone()]), None, "not executable yet");
        std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program("claude", &[empty.clone(), bin.clone()]), Some(claude.clone()));
        assert_eq!(find_program(claude.to_str().unwrap(), &[]), Some(claude.clone()));
        assert_eq!(find_program("claude", &[empty]), None);
        assert_eq!(find_program("", &[bin]), None);
        let home = Path::new("/home/a");
        assert!(install_dirs(Some(home)).contains(&home.join(".claude/local")));
    }
}
