//! The health checks of `claude-memory doctor` and the dashboard's Overview:
//! every link between Claude Code and its memory, in the order a failure
//! would show, each problem with the one command that fixes it. One
//! implementation; the CLI and the engine only differ in how they learn
//! about the running engine ([`EngineSeen`]).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// Works, but less well than it could.
    Warn,
    /// Claude Code gets nothing from claude-memory because of this.
    Fail,
}

/// One check.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Check {
    /// A stable name (`path`, `onnxruntime`, `model`, `engine`, `project.hooks`…).
    pub name: String,
    pub outcome: Outcome,
    /// What was found.
    pub detail: String,
    /// The command (or action) that fixes it, when it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Every check, and whether none failed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

/// The running engine as whoever runs the checks sees it.
#[derive(Debug, Clone)]
pub struct EngineSeen {
    /// Where it listens.
    pub url: String,
    /// Its version.
    pub version: String,
    /// The embedding model it has loaded.
    pub model: Option<String>,
}

fn check(name: impl Into<String>, outcome: Outcome, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check { name: name.into(), outcome, detail: detail.into(), fix }
}

/// Runs every check: `home` is the per-user directory, `projects` the
/// folders to check (those without a `.claude-memory/` are skipped),
/// `path_var` the PATH Claude Code's hooks will see, `engine` the running
/// engine (`None`: none runs), `reader` the engine the projects' records
/// are read through (the serving engine itself, or one the command made
/// for it: each project's store is opened once). Called off the async
/// runtime's threads, inside it.
pub fn run_checks(
    home: &Path,
    config: &cm_core::Config,
    path_var: &std::ffi::OsStr,
    projects: &[PathBuf],
    engine: Option<&EngineSeen>,
    reader: &cm_engine::Engine,
) -> Report {
    let mut checks =
        vec![on_path(path_var), onnxruntime(config), model(config), engine_check(config, engine), llm(home)];
    let claude = ClaudeState::load();
    for root in projects.iter().filter(|p| p.join(cm_engine::DATA_DIR).is_dir()) {
        checks.extend(project_checks(root, &claude, path_var, reader));
        if let Some(model) = config.embedding.model.as_deref() {
            checks.extend(vectors_check(root, model, reader));
        }
    }
    let ok = checks.iter().all(|c| c.outcome != Outcome::Fail);
    Report { ok, checks }
}

/// The report as text, one check a line, each fix under it.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    for c in &r.checks {
        let mark = match c.outcome {
            Outcome::Ok => "ok  ",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
        };
        out.push_str(&format!("{mark}  {:<22} {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("      {:<22} fix: {fix}\n", ""));
        }
    }
    out.trim_end().to_owned()
}

/// Whether the shell finds `claude-memory` by name. Not a failure in
/// itself: setup writes the full path when the command is not on the PATH,
/// and each project's check fails a hook or MCP server that names a
/// program that cannot run.
fn on_path(path_var: &std::ffi::OsStr) -> Check {
    match cm_claude_code::find_on_path(path_var) {
        Some(found) => check("path", Outcome::Ok, format!("claude-memory is {}", found.display()), None),
        None => check(
            "path",
            Outcome::Warn,
            "claude-memory is not on your PATH: your shell does not find it by name \
             (hooks set up with its full path still run)",
            Some(path_fix()),
        ),
    }
}

/// How to put the command on the PATH: the line for the folder it is
/// installed in (this binary's, else the default `~/.local/bin`), else the
/// install.
fn path_fix() -> String {
    let name = cm_claude_code::PROGRAM_NAME;
    let this =
        std::env::current_exe().ok().filter(|e| e.parent().and_then(Path::file_name) == Some("bin".as_ref()));
    let installed = this
        .into_iter()
        .chain(std::env::home_dir().map(|h| h.join(".local/bin").join(name)))
        .find(|p| p.is_file() && p.file_stem().is_some_and(|s| s == name));
    match installed.as_deref().and_then(Path::parent) {
        Some(dir) => format!("{}, then open a new terminal", cm_claude_code::path_line(dir)),
        None => install_command(),
    }
}

/// How to run the install with this very binary (the CLI), else by name.
fn install_command() -> String {
    match std::env::current_exe() {
        Ok(exe) if exe.file_stem().is_some_and(|s| s == cm_claude_code::PROGRAM_NAME) => {
            format!("{} install", exe.display())
        }
        _ => format!("{} install", cm_claude_code::PROGRAM_NAME),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

fn onnxruntime(config: &cm_core::Config) -> Check {
    let explicit = config.embedding.onnxruntime.as_deref();
    let fix =
        Some(format!("{} --onnxruntime /path/to/libonnxruntime.so (or ./scripts/run.sh)", install_command()));
    match cm_embed::find_onnxruntime(explicit) {
        Err(e) => check(
            "onnxruntime",
            Outcome::Fail,
            format!("not found: {}", first_line(&cm_core::error_chain(&e))),
            fix,
        ),
        Ok(lib) => match cm_embed::init_onnxruntime(Some(&lib)) {
            Ok(rt) => check(
                "onnxruntime",
                Outcome::Ok,
                format!("{} (version {})", rt.path().display(), rt.version().unwrap_or("unknown")),
                None,
            ),
            Err(e) => check(
                "onnxruntime",
                Outcome::Fail,
                format!("{} cannot be loaded: {}", lib.display(), first_line(&cm_core::error_chain(&e))),
                fix,
            ),
        },
    }
}

fn model(config: &cm_core::Config) -> Check {
    let Some(id) = config.embedding.model.clone() else {
        return check(
            "model",
            Outcome::Warn,
            "no embedding model is active: memories are found by full text only",
            Some(
                "claude-memory models install all-minilm-l6-v2 && claude-memory models use all-minilm-l6-v2"
                    .into(),
            ),
        );
    };
    if config.embedding.model_dir.is_some() {
        return check("model", Outcome::Ok, format!("{id} from the configured model_dir"), None);
    }
    match crate::launch::embed_config(config, None, None) {
        Ok(cfg) => {
            check("model", Outcome::Ok, format!("{id} installed in {}", cfg.model_dir.display()), None)
        }
        Err(e) => check(
            "model",
            Outcome::Fail,
            format!("{id} is active but not installed: {}", first_line(&e.to_string())),
            Some(format!("claude-memory models install {id}")),
        ),
    }
}

fn engine_check(config: &cm_core::Config, engine: Option<&EngineSeen>) -> Check {
    let Some(seen) = engine else {
        return check(
            "engine",
            Outcome::Warn,
            "no engine is running: `claude-memory mcp` starts one when Claude Code opens, hooks stay silent until then",
            Some("claude-memory serve (or the tray app)".into()),
        );
    };
    let detail = format!(
        "running at {}, version {}, model {}",
        seen.url,
        seen.version,
        seen.model.as_deref().unwrap_or("none")
    );
    if seen.model != config.embedding.model {
        let want = config.embedding.model.as_deref().unwrap_or("none");
        return check(
            "engine",
            Outcome::Fail,
            format!("{detail}, but config.toml says {want}"),
            Some("claude-memory reload".into()),
        );
    }
    check("engine", Outcome::Ok, detail, None)
}

/// The LLM of `llm.toml`: whether it can work (a key where one is needed,
/// the `claude` program for Claude Code). Without one everything still
/// works offline, so nothing here fails.
fn llm(home: &Path) -> Check {
    const FIX: &str = "the dashboard's Settings → LLM, or llm.toml (see the README)";
    let config = match cm_llm::read_config(home) {
        Ok(config) => config,
        Err(e) => return check("llm", Outcome::Warn, format!("{e}: working offline"), Some(FIX.into())),
    };
    if matches!(config.provider, cm_llm::Provider::None) {
        return check("llm", Outcome::Ok, "none: memories are structured and mined offline", None);
    }
    let what = config.provider.describe();
    // Claude Code has its own login: no keychain prompt for it.
    let key = match &config.provider {
        cm_llm::Provider::ClaudeCode { .. } => None,
        _ => match cm_llm::Credentials::new(home).load() {
            Ok(found) => found.map(|(key, _)| key),
            Err(e) => return check("llm", Outcome::Warn, format!("{what}: {e}"), Some(FIX.into())),
        },
    };
    match cm_llm::LlmClient::new(config.clone(), key) {
        Ok(_) => {
            let limit = match config.daily_tokens {
                0 => "no daily token limit".to_owned(),
                n => format!("at most {n} tokens a day"),
            };
            check("llm", Outcome::Ok, format!("{what}, {limit}"), None)
        }
        Err(e) => check("llm", Outcome::Warn, format!("{e}: working offline"), Some(FIX.into())),
    }
}

/// When a hook of this project last reached the engine, and what came of
/// it: the proof that the wiring works end to end.
fn last_hook(root: &Path, name: &str, hooks_set_up: bool, reader: &cm_engine::Engine) -> Check {
    let calls = match cm_engine::Project::at(root) {
        Ok(project) if project.db_path().is_file() => {
            tokio::runtime::Handle::current().block_on(reader.hook_calls(&project)).map_err(|e| e.to_string())
        }
        _ => Ok(Vec::new()),
    };
    let start = Some(format!("start Claude Code in {} (the engine must be running)", root.display()));
    match calls {
        Err(e) => check(name, Outcome::Warn, format!("cannot read the project's records: {e}"), None),
        Ok(calls) => match calls.first() {
            None if hooks_set_up => {
                check(name, Outcome::Warn, "no hook of this project has reached the engine yet", start)
            }
            None => check(name, Outcome::Warn, "no hook has run (none is set up)", None),
            Some(c) => {
                let outcome = if c.outcome == "injected" {
                    format!("injected {}", c.injected)
                } else {
                    c.outcome.clone()
                };
                let detail = format!("{} {}: {outcome}", c.event, ago(c.at));
                if c.outcome.starts_with("error") {
                    check(name, Outcome::Warn, detail, Some("see the engine's log (logs/engine.log)".into()))
                } else {
                    check(name, Outcome::Ok, detail, None)
                }
            }
        },
    }
}

/// `then` (Unix ms) as "3 min ago".
fn ago(then: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let secs = (now - then).max(0) / 1000;
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// Claude Code's user files, read once: which folders are trusted, and
/// the user-wide settings (hooks for every project).
struct ClaudeState {
    global: Option<Value>,
    global_path: Option<PathBuf>,
    user_settings: Option<Value>,
}

impl ClaudeState {
    fn load() -> ClaudeState {
        let files = cm_claude_code::ClaudeUserFiles::from_env().ok();
        let user_settings = files.as_ref().and_then(|f| read_json(&f.settings));
        let global_path = files.map(|f| f.global_config);
        let global = global_path.as_deref().and_then(read_json);
        ClaudeState { global, global_path, user_settings }
    }

    /// Whether the user accepted Claude Code's trust prompt for `root` (or a folder above it).
    fn trusted(&self, root: &Path) -> bool {
        let Some(projects) = self.global.as_ref().and_then(|g| g["projects"].as_object()) else {
            return false;
        };
        root.ancestors().any(|dir| {
            let key = dir.display().to_string();
            projects.get(&key).and_then(|p| p["hasTrustDialogAccepted"].as_bool()) == Some(true)
        })
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The programs our hooks in a settings file run (as setup recognises them).
fn own_hook_programs(settings: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(events) = settings["hooks"].as_object() {
        for groups in events.values() {
            for group in groups.as_array().into_iter().flatten() {
                for hook in group["hooks"].as_array().into_iter().flatten() {
                    if let Some(program) = hook["command"].as_str().and_then(cm_claude_code::own_hook_program)
                    {
                        out.push(program.to_owned());
                    }
                }
            }
        }
    }
    out
}

/// Whether the program a hook or the MCP server names can be run: a bare
/// name found on the PATH, or an existing file.
fn runnable(program: &str, path_var: &std::ffi::OsStr) -> bool {
    if program.contains('/') {
        Path::new(program).is_file()
    } else {
        cm_claude_code::find_on_path(path_var).is_some()
    }
}

fn project_checks(
    root: &Path,
    claude: &ClaudeState,
    path_var: &std::ffi::OsStr,
    reader: &cm_engine::Engine,
) -> Vec<Check> {
    let name =
        |what: &str| format!("{}: {what}", root.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
    let setup_fix = Some(format!("claude-memory setup {}", root.display()));
    let mut checks = Vec::new();

    let settings: Vec<Value> = [root.join(".claude/settings.local.json"), root.join(".claude/settings.json")]
        .iter()
        .filter_map(|p| read_json(p))
        .chain(claude.user_settings.clone())
        .collect();
    let hooks: Vec<String> = settings.iter().flat_map(own_hook_programs).collect();
    let broken: Vec<&String> = hooks.iter().filter(|p| !runnable(p, path_var)).collect();
    let plugin = cm_claude_code::ClaudeUserFiles::from_env()
        .is_ok_and(|u| cm_claude_code::plugin_enabled(&u, Some(root)));
    if plugin {
        let name_of = cm_claude_code::PLUGIN_NAME;
        let detail = if hooks.is_empty() {
            format!("hooks and MCP server from the {name_of} plugin")
        } else {
            format!(
                "the {name_of} plugin and {} hooks of an earlier setup both run: each hook fires twice",
                hooks.len()
            )
        };
        let outcome = if hooks.is_empty() { Outcome::Ok } else { Outcome::Warn };
        let fix = (!hooks.is_empty())
            .then(|| format!("claude-memory setup {} (removes the duplicates)", root.display()));
        checks.push(check(name("hooks"), outcome, detail, fix));
        checks.push(last_hook(root, &name("last hook"), true, reader));
        checks.push(trust_check(root, claude, &name("trust")));
        checks.extend(team_check(root, &name("team"), reader));
        return checks;
    }
    let mcp = read_json(&root.join(".mcp.json"));
    let server = mcp.as_ref().map(|m| m["mcpServers"]["claude-memory"].clone()).filter(|s| !s.is_null());
    // A folder whose memory is used only from the command line (a save or
    // an import made it a project) was never wired to Claude Code: that is
    // worth saying, not a failure of what was set up.
    if hooks.is_empty() && server.is_none() {
        checks.push(check(
            name("setup"),
            Outcome::Warn,
            "not set up for Claude Code: its memories are kept, but Claude Code neither gets nor saves them",
            setup_fix,
        ));
        checks.extend(team_check(root, &name("team"), reader));
        return checks;
    }
    checks.push(match (hooks.is_empty(), broken.first()) {
        (true, _) => check(
            name("hooks"),
            Outcome::Fail,
            "no claude-memory hooks in Claude Code's settings",
            setup_fix.clone(),
        ),
        (false, Some(c)) => check(
            name("hooks"),
            Outcome::Fail,
            format!("a hook runs `{c}`, which cannot be found"),
            setup_fix.clone(),
        ),
        (false, None) => check(name("hooks"), Outcome::Ok, format!("{} hooks set up", hooks.len()), None),
    });

    checks.push(match &server {
        None => check(name("mcp"), Outcome::Fail, "no claude-memory server in .mcp.json", setup_fix.clone()),
        Some(s) if !runnable(s["command"].as_str().unwrap_or(""), path_var) => check(
            name("mcp"),
            Outcome::Fail,
            format!("the MCP server's command {} cannot run (not found)", s["command"]),
            setup_fix.clone(),
        ),
        Some(_) => {
            let approved = settings.iter().any(|s| {
                s["enableAllProjectMcpServers"].as_bool() == Some(true)
                    || s["enabledMcpjsonServers"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|v| v.as_str() == Some("claude-memory")))
            });
            if approved {
                check(name("mcp"), Outcome::Ok, "MCP server in .mcp.json, approved", None)
            } else {
                check(name("mcp"), Outcome::Fail, "the .mcp.json server is not approved", setup_fix.clone())
            }
        }
    });

    checks.push(last_hook(root, &name("last hook"), !hooks.is_empty(), reader));

    checks.push(trust_check(root, claude, &name("trust")));
    checks.extend(team_check(root, &name("team"), reader));
    checks
}

/// Memories of the project without a vector from the active `model` (saved
/// while no model could load, or before it was chosen): found by full text
/// only until `models use` embeds them. Nothing when every memory has one.
fn vectors_check(root: &Path, model: &str, reader: &cm_engine::Engine) -> Option<Check> {
    let project = cm_engine::Project::at(root).ok().filter(|p| p.db_path().is_file())?;
    let name = format!("{}: vectors", root.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
    let missing = tokio::runtime::Handle::current().block_on(async {
        Ok::<_, cm_engine::Error>(reader.store(&project).await?.count_missing_vectors(model).await?)
    });
    let missing = match missing {
        Ok(0) => return None,
        Ok(n) => n,
        Err(e) => return Some(check(name, Outcome::Warn, format!("cannot count its vectors: {e}"), None)),
    };
    let noun = if missing == 1 { "memory has" } else { "memories have" };
    Some(check(
        name,
        Outcome::Warn,
        format!(
            "{missing} {noun} no vector from {model} (saved while it could not load): found by full text only"
        ),
        Some(format!("claude-memory models use {model}")),
    ))
}

/// A project linked to a team database: how its last sync went, from the
/// project's own records (no connection is made). Nothing for a project
/// with no team.
fn team_check(root: &Path, name: &str, reader: &cm_engine::Engine) -> Option<Check> {
    let project = cm_engine::Project::at(root).ok().filter(|p| p.db_path().is_file())?;
    let status = tokio::runtime::Handle::current().block_on(reader.team_status(&project));
    let status = match status {
        Ok(status) => status?,
        Err(e) => return Some(check(name, Outcome::Warn, format!("cannot read the team link: {e}"), None)),
    };
    let (link, counts) = (&status.link, &status.counts);
    let sync = Some(format!("claude-memory team sync --project {}", root.display()));
    Some(match (&link.last_error, link.last_sync_at) {
        (Some(error), _) => check(
            name,
            Outcome::Warn,
            format!(
                "the last sync with {} failed: {}; {} memories wait to be published",
                link.url,
                first_line(error),
                counts.pending
            ),
            sync,
        ),
        (None, None) => check(name, Outcome::Warn, format!("linked to {}, never synced", link.url), sync),
        (None, Some(at)) => check(
            name,
            Outcome::Ok,
            format!(
                "{} ({}): last sync {}, {} shared, {} from teammates, {} waiting",
                link.team_key,
                link.url,
                ago(at),
                counts.shared,
                counts.pulled,
                counts.pending
            ),
            None,
        ),
    })
}

fn trust_check(root: &Path, claude: &ClaudeState, name: &str) -> Check {
    if claude.trusted(root) {
        check(name, Outcome::Ok, "folder trusted in Claude Code", None)
    } else {
        let file = claude.global_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        check(
            name,
            Outcome::Warn,
            format!(
                "pending approval in Claude Code: the folder is not trusted yet ({file}); an interactive \
                 session asks first and runs nothing of the project's until you accept (`claude -p` does not ask)"
            ),
            Some(format!("run `claude` in {} once and accept the trust prompt", root.display())),
        )
    }
}
