//! `claude-memory service install|uninstall|status`: the engine (`serve`)
//! started at login by the operating system's own service manager, for
//! machines with no tray app — a systemd user unit on Linux, a launchd agent
//! on macOS, a Task Scheduler task on Windows.
//!
//! Everything platform-specific is data built by plain functions ([`plan`]):
//! the file's path and bytes, and the manager's commands as argument lists.
//! Only [`Manager::current`] looks at the platform, so every platform's unit,
//! plist and task XML is built and tested on any machine, and running them
//! is the same code everywhere ([`install`], [`uninstall`], [`query`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde::Serialize;

use crate::output;

/// `claude-memory service …`.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Start the engine at login (systemd user unit, launchd agent or scheduled task), and now.
    Install,
    /// Stop it and remove what `install` wrote.
    Uninstall,
    /// Whether it is installed and what the service manager says of it.
    Status,
}

/// The service's name in systemd and Task Scheduler.
const NAME: &str = "claude-memory";
/// The launchd label, in the reverse-DNS form launchd expects (the tray
/// app's identifier is `dev.claude-memory.desktop`).
const LABEL: &str = "dev.claude-memory.engine";

/// Whether this process is the engine a service manager started (systemd
/// sets `INVOCATION_ID` for every unit it runs, launchd names the agent's
/// label in `XPC_SERVICE_NAME`), whose output goes to the manager's log.
pub fn started_by_service_manager() -> bool {
    std::env::var_os("INVOCATION_ID").is_some()
        || std::env::var_os("XPC_SERVICE_NAME").is_some_and(|n| n == LABEL)
}

/// Which service manager starts the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Manager {
    Systemd,
    Launchd,
    TaskScheduler,
}

impl Manager {
    /// This platform's manager.
    pub fn current() -> Result<Manager> {
        if cfg!(target_os = "linux") {
            Ok(Manager::Systemd)
        } else if cfg!(target_os = "macos") {
            Ok(Manager::Launchd)
        } else if cfg!(windows) {
            Ok(Manager::TaskScheduler)
        } else {
            bail!(
                "`claude-memory service` knows systemd, launchd and Task Scheduler; run `claude-memory serve` from your own service manager here"
            )
        }
    }
}

/// What the service runs, and where the manager's files go.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The `claude-memory` executable.
    pub exe: PathBuf,
    /// Variables the engine needs that a service would not inherit from the
    /// login shell (`CLAUDE_MEMORY_HOME`, `ORT_DYLIB_PATH` when set).
    pub env: Vec<(String, String)>,
    /// The user's home directory.
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME`, if set (systemd puts user units below it).
    pub config_home: Option<PathBuf>,
    /// claude-memory's per-user directory (the task XML is kept there).
    pub data_home: PathBuf,
    /// The numeric user id (launchd's `gui/<uid>` domain).
    pub uid: Option<u32>,
    /// `DOMAIN\user` (the Windows task runs as them, at their logon).
    pub windows_user: Option<String>,
}

/// One manager's service: its file and the commands that load, unload and
/// query it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub manager: Manager,
    /// The unit, plist or task XML.
    pub file: PathBuf,
    pub contents: Vec<u8>,
    /// Run first when (re)loading, failures ignored: stop what an earlier
    /// install left running, so the new file takes effect.
    pub reset: Vec<Vec<String>>,
    /// Run after the file is written: register, enable and (re)start.
    pub load: Vec<Vec<String>>,
    /// Run before the file is removed: stop and unregister.
    pub unload: Vec<Vec<String>>,
    /// Run after the file is removed.
    pub forget: Vec<Vec<String>>,
    /// Asks whether it is loaded: exit 0 means yes, stdout says more.
    pub query: Vec<String>,
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// A path the manager's file can name: UTF-8, with no control character
/// (each format would need its own escape for a line break, and no real
/// path has one).
fn plain(path: &Path, what: &str) -> Result<String> {
    let s = path.to_str().with_context(|| format!("{what} {} is not valid UTF-8", path.display()))?;
    if s.chars().any(char::is_control) {
        bail!("{what} {s:?} holds a control character; a service cannot name it");
    }
    Ok(s.to_owned())
}

/// The service `spec` describes, for `manager`.
pub fn plan(manager: Manager, spec: &Spec) -> Result<Plan> {
    let exe = plain(&spec.exe, "the executable")?;
    for (name, value) in &spec.env {
        if value.chars().any(char::is_control)
            || name.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '_'))
        {
            bail!("the variable {name} cannot be passed to a service (control characters in its value?)");
        }
    }
    Ok(match manager {
        Manager::Systemd => {
            let dir = spec.config_home.clone().unwrap_or_else(|| spec.home.join(".config"));
            let unit = format!("{NAME}.service");
            Plan {
                manager,
                file: dir.join("systemd").join("user").join(&unit),
                contents: systemd_unit(&exe, &spec.env).into_bytes(),
                reset: Vec::new(),
                load: vec![
                    argv(&["systemctl", "--user", "daemon-reload"]),
                    argv(&["systemctl", "--user", "enable", &unit]),
                    argv(&["systemctl", "--user", "restart", &unit]),
                ],
                unload: vec![argv(&["systemctl", "--user", "disable", "--now", &unit])],
                forget: vec![argv(&["systemctl", "--user", "daemon-reload"])],
                query: argv(&["systemctl", "--user", "is-active", &unit]),
            }
        }
        Manager::Launchd => {
            let uid = spec.uid.context("launchd needs the user's id")?;
            let file = spec.home.join("Library").join("LaunchAgents").join(format!("{LABEL}.plist"));
            let domain = format!("gui/{uid}");
            let service = format!("{domain}/{LABEL}");
            let file_arg = plain(&file, "the agent's file")?;
            Plan {
                manager,
                contents: launchd_plist(&exe, &spec.env).into_bytes(),
                reset: vec![argv(&["launchctl", "bootout", &service])],
                load: vec![argv(&["launchctl", "bootstrap", &domain, &file_arg])],
                unload: vec![argv(&["launchctl", "bootout", &service])],
                forget: Vec::new(),
                query: argv(&["launchctl", "print", &service]),
                file,
            }
        }
        Manager::TaskScheduler => {
            let user =
                spec.windows_user.as_deref().context("Task Scheduler needs the user's name (USERNAME)")?;
            // The variables go through `cmd /c set "NAME=value"`, where a
            // quote ends the value and `%` expands another variable.
            if let Some((name, _)) = spec.env.iter().find(|(_, v)| v.contains(['"', '%'])) {
                bail!("the variable {name} holds \" or %, which a scheduled task cannot pass on");
            }
            let file = spec.data_home.join("service").join(format!("{NAME}-task.xml"));
            let file_arg = plain(&file, "the task's file")?;
            Plan {
                manager,
                contents: utf16le_with_bom(&task_xml(&exe, user, &spec.env)),
                reset: vec![argv(&["schtasks", "/End", "/TN", NAME])],
                load: vec![
                    argv(&["schtasks", "/Create", "/TN", NAME, "/XML", &file_arg, "/F"]),
                    argv(&["schtasks", "/Run", "/TN", NAME]),
                ],
                unload: vec![
                    argv(&["schtasks", "/End", "/TN", NAME]),
                    argv(&["schtasks", "/Delete", "/TN", NAME, "/F"]),
                ],
                forget: Vec::new(),
                query: argv(&["schtasks", "/Query", "/TN", NAME]),
                file,
            }
        }
    })
}

/// A value in a unit file, quoted: systemd reads C escapes inside double
/// quotes, expands `%` specifiers everywhere and `$` variables in commands.
fn systemd_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The systemd user unit. A failed start is retried every 10 seconds, at
/// most 5 times in 5 minutes: an engine already running (the tray app's)
/// makes `serve` fail, and should not be retried forever.
pub fn systemd_unit(exe: &str, env: &[(String, String)]) -> String {
    let mut unit = String::new();
    unit.push_str(
        "# Written by `claude-memory service install`; `claude-memory service uninstall` removes it.\n",
    );
    unit.push_str("[Unit]\nDescription=claude-memory engine: long-term memory for Claude Code\n");
    unit.push_str("StartLimitIntervalSec=300\nStartLimitBurst=5\n\n");
    unit.push_str("[Service]\nType=exec\n");
    let _ = writeln!(unit, "ExecStart={} serve", systemd_quote(exe));
    for (name, value) in env {
        // `$` is not expanded in Environment=, only `%`.
        let quoted = systemd_quote(&format!("{name}={value}")).replace("$$", "$");
        let _ = writeln!(unit, "Environment={quoted}");
    }
    unit.push_str("Restart=on-failure\nRestartSec=10\n\n[Install]\nWantedBy=default.target\n");
    unit
}

/// Text for XML content and attribute values.
fn xml_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The launchd agent: started at login, restarted (launchd waits 10
/// seconds between starts) only when it did not exit cleanly.
pub fn launchd_plist(exe: &str, env: &[(String, String)]) -> String {
    let mut p = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
        "<plist version=\"1.0\">\n<dict>\n",
    ));
    let _ = writeln!(p, "  <key>Label</key>\n  <string>{LABEL}</string>");
    let _ = writeln!(
        p,
        "  <key>ProgramArguments</key>\n  <array>\n    <string>{}</string>\n    <string>serve</string>\n  </array>",
        xml_escape(exe)
    );
    if !env.is_empty() {
        p.push_str("  <key>EnvironmentVariables</key>\n  <dict>\n");
        for (name, value) in env {
            let _ = writeln!(
                p,
                "    <key>{}</key>\n    <string>{}</string>",
                xml_escape(name),
                xml_escape(value)
            );
        }
        p.push_str("  </dict>\n");
    }
    p.push_str("  <key>RunAtLoad</key>\n  <true/>\n");
    p.push_str("  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n");
    p.push_str("  <key>ProcessType</key>\n  <string>Background</string>\n</dict>\n</plist>\n");
    p
}

/// The Task Scheduler task: at `user`'s logon, as them, without elevation,
/// with no time limit, restarted three times a minute apart if it fails.
/// Environment variables are passed through `cmd /c set … &&` only when
/// there are any (a task has no environment of its own).
///
/// `claude-memory.exe` is a console program: started directly, the task
/// would open a console window at every logon, which closing kills the
/// engine. So it runs under `conhost.exe --headless` (the console host of
/// Windows 10 1809 and later, with no window), which also keeps Windows
/// Terminal, when it is the default terminal, from opening a tab for it.
pub fn task_xml(exe: &str, user: &str, env: &[(String, String)]) -> String {
    let inner = if env.is_empty() {
        format!("\"{exe}\" serve")
    } else {
        let sets: Vec<String> = env.iter().map(|(n, v)| format!("set \"{n}={v}\" &&")).collect();
        format!("cmd.exe /d /c {} \"{exe}\" serve", sets.join(" "))
    };
    let (command, arguments) = (TASK_HOST.to_owned(), format!("--headless {inner}"));
    let user = xml_escape(user);
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>claude-memory engine: long-term memory for Claude Code. Written by `claude-memory service install`.</Description>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>{user}</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{user}</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>3</Count>
    </RestartOnFailure>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{}</Command>
      <Arguments>{}</Arguments>
    </Exec>
  </Actions>
</Task>
"#,
        xml_escape(&command),
        xml_escape(&arguments)
    )
}

/// The program a scheduled task starts: the console host, windowless
/// (`--headless`); Task Scheduler expands the variable.
pub const TASK_HOST: &str = r"%SystemRoot%\System32\conhost.exe";

/// `schtasks /XML` reads the file in the encoding its declaration names:
/// UTF-16 little-endian with a byte-order mark, as Task Scheduler exports.
pub fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

/// This user's [`Spec`] for the running executable.
fn current_spec() -> Result<Spec> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let home = dirs::home_dir().context("cannot find the home directory")?;
    let data_home = crate::paths::home()?;
    let mut env = Vec::new();
    for name in ["CLAUDE_MEMORY_HOME", "ORT_DYLIB_PATH"] {
        if let Some(value) = std::env::var_os(name).filter(|v| !v.is_empty()) {
            let value = std::path::absolute(PathBuf::from(&value)).unwrap_or_else(|_| PathBuf::from(value));
            env.push((name.to_owned(), plain(&value, name)?));
        }
    }
    #[cfg(unix)]
    let uid = {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(&home).ok().map(|m| m.uid())
    };
    #[cfg(not(unix))]
    let uid = None;
    let windows_user = std::env::var("USERNAME").ok().map(|user| match std::env::var("USERDOMAIN") {
        Ok(domain) if !domain.is_empty() => format!("{domain}\\{user}"),
        _ => user,
    });
    let config_home = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
    Ok(Spec { exe, env, home, config_home, data_home, uid, windows_user })
}

/// The service's file, if `service install` wrote one for this user.
pub fn installed_file() -> Option<PathBuf> {
    let plan = plan(Manager::current().ok()?, &current_spec().ok()?).ok()?;
    plan.file.is_file().then_some(plan.file)
}

/// What a `service` command did or found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub manager: Manager,
    /// The unit, plist or task XML.
    pub file: PathBuf,
    /// Whether the file is there (after the command).
    pub installed: bool,
    /// Whether the command changed anything.
    pub changed: bool,
    /// The manager's answer about the service: loaded, and its state if it says one.
    pub loaded: Option<bool>,
    pub state: Option<String>,
    pub notes: Vec<String>,
}

/// Runs one manager command; its first stderr (or stdout) line on failure.
fn run(args: &[String]) -> Result<std::process::Output> {
    let (program, rest) = args.split_first().context("empty command")?;
    Command::new(program).args(rest).output().with_context(|| format!("cannot run {program}"))
}

fn run_ok(args: &[String]) -> Result<()> {
    let out = run(args)?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(if out.stderr.is_empty() { &out.stdout } else { &out.stderr })
            .into_owned();
        bail!("`{}` failed: {}", args.join(" "), output::first_line(text.trim()));
    }
    Ok(())
}

/// Whether `program` is a file on `PATH`.
fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|dir| {
        dir.join(program).is_file()
            || dir.join(format!("{program}{}", std::env::consts::EXE_SUFFIX)).is_file()
    })
}

/// Writes the file and (re)loads it, unless the same file is already there
/// and loaded; on any failure puts back what was there before and unloads,
/// so a failed install changes nothing.
pub fn install(plan: &Plan) -> Result<Report> {
    let tool = &plan.load[0][0];
    if !on_path(tool) {
        bail!(
            "{tool} was not found on PATH: without it the engine cannot be started at login (run `claude-memory serve` from your own service manager)"
        );
    }
    let previous = std::fs::read(&plan.file).ok();
    let changed = previous.as_deref() != Some(plan.contents.as_slice());
    if !changed {
        let report = query(plan);
        if report.loaded == Some(true) {
            return Ok(report);
        }
    }
    // The folders this install creates, deepest first, so a failure can take them back.
    let created: Vec<PathBuf> =
        plan.file.ancestors().skip(1).take_while(|dir| !dir.exists()).map(Path::to_path_buf).collect();
    if changed {
        write_atomic(&plan.file, &plan.contents)?;
    }
    for cmd in &plan.reset {
        let _ = run(cmd);
    }
    let loaded = plan.load.iter().try_for_each(|cmd| run_ok(cmd));
    if let Err(err) = loaded {
        for cmd in &plan.unload {
            let _ = run(cmd);
        }
        match &previous {
            Some(bytes) if changed => write_atomic(&plan.file, bytes)?,
            Some(_) => {}
            None => {
                let _ = std::fs::remove_file(&plan.file);
                for dir in &created {
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
        for cmd in &plan.forget {
            let _ = run(cmd);
        }
        return Err(err.context("the service was not installed; nothing was changed"));
    }
    let mut report = query(plan);
    report.changed = true;
    Ok(report)
}

/// Unloads and removes the file; not installed is not an error.
pub fn uninstall(plan: &Plan) -> Result<Report> {
    if !plan.file.exists() {
        let mut report = query(plan);
        report.notes.push("not installed: nothing to remove".into());
        return Ok(report);
    }
    let mut notes = Vec::new();
    for cmd in &plan.unload {
        if let Err(err) = run_ok(cmd) {
            notes.push(format!("{err:#}"));
        }
    }
    std::fs::remove_file(&plan.file).with_context(|| format!("cannot remove {}", plan.file.display()))?;
    for cmd in &plan.forget {
        if let Err(err) = run_ok(cmd) {
            notes.push(format!("{err:#}"));
        }
    }
    let mut report = query(plan);
    report.changed = true;
    report.notes.extend(notes);
    Ok(report)
}

/// Whether the file is there, and what the manager says.
pub fn query(plan: &Plan) -> Report {
    let installed = plan.file.is_file();
    let (loaded, state) = if on_path(&plan.query[0]) {
        match run(&plan.query) {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout);
                let state = (plan.manager == Manager::Systemd)
                    .then(|| text.trim().to_owned())
                    .filter(|s| !s.is_empty());
                (Some(out.status.success()), state)
            }
            Err(_) => (None, None),
        }
    } else {
        (None, None)
    };
    Report {
        manager: plan.manager,
        file: plan.file.clone(),
        installed,
        changed: false,
        loaded,
        state,
        notes: Vec::new(),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("the service file has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or(NAME)));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// `claude-memory service …`.
pub fn run_command(command: ServiceCommand, json: bool) -> Result<()> {
    let plan = plan(Manager::current()?, &current_spec()?)?;
    let report = match command {
        ServiceCommand::Install => install(&plan)?,
        ServiceCommand::Uninstall => uninstall(&plan)?,
        ServiceCommand::Status => query(&plan),
    };
    output::print(json, &report, render)
}

fn render(r: &Report) -> String {
    let mut out = String::new();
    let manager = match r.manager {
        Manager::Systemd => "systemd user service",
        Manager::Launchd => "launchd agent",
        Manager::TaskScheduler => "scheduled task",
    };
    if r.installed {
        let _ = writeln!(out, "{manager} installed: {}", r.file.display());
    } else {
        let _ = writeln!(out, "{manager} not installed ({})", r.file.display());
    }
    match (r.loaded, &r.state) {
        (_, Some(state)) => {
            let _ = writeln!(out, "state: {state}");
        }
        (Some(true), None) => out.push_str("state: loaded\n"),
        (Some(false), None) => out.push_str("state: not loaded\n"),
        (None, None) => {}
    }
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            exe: PathBuf::from("/opt/my tools/claude-memory"),
            env: vec![("CLAUDE_MEMORY_HOME".into(), "/home/ann/100% \"memory\" $HOME".into())],
            home: PathBuf::from("/home/ann"),
            config_home: None,
            data_home: PathBuf::from("/home/ann/.local/share/claude-memory"),
            uid: Some(501),
            windows_user: Some("WORK\\ann & co".into()),
        }
    }

    #[test]
    fn systemd_plan_names_the_user_unit_and_its_commands() {
        let p = plan(Manager::Systemd, &spec()).unwrap();
        assert_eq!(p.file, Path::new("/home/ann/.config/systemd/user/claude-memory.service"));
        assert_eq!(p.load[1], argv(&["systemctl", "--user", "enable", "claude-memory.service"]));
        assert_eq!(p.load[2], argv(&["systemctl", "--user", "restart", "claude-memory.service"]));
        assert_eq!(p.unload[0], argv(&["systemctl", "--user", "disable", "--now", "claude-memory.service"]));
        let moved = Spec { config_home: Some("/cfg".into()), ..spec() };
        assert_eq!(
            plan(Manager::Systemd, &moved).unwrap().file,
            Path::new("/cfg/systemd/user/claude-memory.service")
        );
    }

    #[test]
    fn systemd_unit_quotes_spaces_specifiers_and_variables() {
        let unit = String::from_utf8(plan(Manager::Systemd, &spec()).unwrap().contents).unwrap();
        assert!(unit.contains("ExecStart=\"/opt/my tools/claude-memory\" serve\n"), "{unit}");
        assert!(
            unit.contains("Environment=\"CLAUDE_MEMORY_HOME=/home/ann/100%% \\\"memory\\\" $HOME\"\n"),
            "{unit}"
        );
        assert_eq!(systemd_quote("a$b"), "\"a$$b\"");
        assert!(unit.contains("WantedBy=default.target"));
    }

    #[test]
    fn launchd_plan_uses_the_gui_domain() {
        let p = plan(Manager::Launchd, &spec()).unwrap();
        assert_eq!(p.file, Path::new("/home/ann/Library/LaunchAgents/dev.claude-memory.engine.plist"));
        assert_eq!(
            p.load[0],
            argv(&[
                "launchctl",
                "bootstrap",
                "gui/501",
                "/home/ann/Library/LaunchAgents/dev.claude-memory.engine.plist"
            ])
        );
        assert_eq!(p.unload[0], argv(&["launchctl", "bootout", "gui/501/dev.claude-memory.engine"]));
        // A loaded agent must be booted out before bootstrap takes a new plist.
        assert_eq!(p.reset, p.unload);
        assert!(plan(Manager::Launchd, &Spec { uid: None, ..spec() }).is_err());
    }

    #[test]
    fn launchd_plist_parses_with_what_it_was_given() {
        let p = plan(Manager::Launchd, &spec()).unwrap();
        let value: plist::Value = plist::from_bytes(&p.contents).expect("a valid plist");
        let dict = value.as_dictionary().unwrap();
        assert_eq!(dict["Label"].as_string(), Some(LABEL));
        let args: Vec<&str> =
            dict["ProgramArguments"].as_array().unwrap().iter().map(|v| v.as_string().unwrap()).collect();
        assert_eq!(args, ["/opt/my tools/claude-memory", "serve"]);
        let env = dict["EnvironmentVariables"].as_dictionary().unwrap();
        assert_eq!(env["CLAUDE_MEMORY_HOME"].as_string(), Some("/home/ann/100% \"memory\" $HOME"));
        assert_eq!(dict["RunAtLoad"].as_boolean(), Some(true));
        let keep = dict["KeepAlive"].as_dictionary().unwrap();
        assert_eq!(keep["SuccessfulExit"].as_boolean(), Some(false));
        // Markup in a path stays text.
        let odd = launchd_plist("/a/<b>&c/claude-memory", &[]);
        let value: plist::Value = plist::from_bytes(odd.as_bytes()).unwrap();
        let args = value.as_dictionary().unwrap()["ProgramArguments"].as_array().unwrap().clone();
        assert_eq!(args[0].as_string(), Some("/a/<b>&c/claude-memory"));
        assert!(!odd.contains("EnvironmentVariables"));
    }

    /// The text of the first element named `name` in `xml`, entities
    /// resolved; the whole document must be well-formed.
    fn element_text(xml: &str, name: &str) -> Option<String> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        reader.config_mut().check_end_names = true;
        let (mut text, mut inside, mut found) = (String::new(), false, None);
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) if e.name().into_inner() == name && found.is_none() => inside = true,
                Event::End(_) if inside => {
                    inside = false;
                    found = Some(std::mem::take(&mut text));
                }
                Event::Text(t) if inside => text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) if inside => match r.resolve_char_ref().unwrap() {
                    Some(c) => text.push(c),
                    None => text
                        .push_str(quick_xml::escape::resolve_predefined_entity(&r).expect("a known entity")),
                },
                Event::Eof => return found,
                _ => {}
            }
        }
    }

    #[test]
    fn task_xml_is_utf16_and_well_formed_xml() {
        let err = plan(Manager::TaskScheduler, &spec()).unwrap_err().to_string();
        assert!(err.contains("CLAUDE_MEMORY_HOME"), "{err}");
        let spec =
            Spec { env: vec![("CLAUDE_MEMORY_HOME".into(), "C:\\Users\\ann\\a & <b>".into())], ..spec() };
        let p = plan(Manager::TaskScheduler, &spec).unwrap();
        assert_eq!(p.file, Path::new("/home/ann/.local/share/claude-memory/service/claude-memory-task.xml"));
        assert_eq!(&p.contents[..2], &[0xFF, 0xFE]);
        let units: Vec<u16> = p.contents[2..].chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let xml = String::from_utf16(&units).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-16\"?>"));
        // No console window: the console host runs it headless.
        assert_eq!(element_text(&xml, "Command").as_deref(), Some(r"%SystemRoot%\System32\conhost.exe"));
        assert_eq!(
            element_text(&xml, "Arguments").as_deref(),
            Some(
                "--headless cmd.exe /d /c set \"CLAUDE_MEMORY_HOME=C:\\Users\\ann\\a & <b>\" && \"/opt/my tools/claude-memory\" serve"
            )
        );
        assert_eq!(element_text(&xml, "UserId").as_deref(), Some("WORK\\ann & co"));
        assert_eq!(
            p.load[0],
            argv(&["schtasks", "/Create", "/TN", "claude-memory", "/XML", &p.file.to_string_lossy(), "/F"])
        );
        let bare = task_xml("C:\\Program Files\\claude-memory\\claude-memory.exe", "ann", &[]);
        assert_eq!(element_text(&bare, "Command").as_deref(), Some(TASK_HOST));
        assert_eq!(
            element_text(&bare, "Arguments").as_deref(),
            Some("--headless \"C:\\Program Files\\claude-memory\\claude-memory.exe\" serve")
        );
    }

    #[test]
    fn a_path_with_a_line_break_is_refused() {
        let bad = Spec { exe: PathBuf::from("/tmp/evil\n[Service]\nExecStart=/bin/sh"), ..spec() };
        for manager in [Manager::Systemd, Manager::Launchd, Manager::TaskScheduler] {
            let err = plan(manager, &bad).unwrap_err().to_string();
            assert!(err.contains("control character"), "{err}");
        }
        let bad_env = Spec { env: vec![("X".into(), "a\nb".into())], ..spec() };
        assert!(plan(Manager::Systemd, &bad_env).is_err());
    }

    /// `systemd-analyze verify` reads the unit as systemd would: unknown keys
    /// and bad values are warnings on stderr, a missing executable an error.
    #[test]
    fn systemd_analyze_accepts_the_unit() {
        if !on_path("systemd-analyze") {
            eprintln!("skipped: systemd-analyze is not installed here");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let unit = systemd_unit(exe.to_str().unwrap(), &[("CLAUDE_MEMORY_HOME".into(), "/tmp/a b%".into())]);
        let file = dir.path().join("claude-memory.service");
        std::fs::write(&file, unit).unwrap();
        let out = Command::new("systemd-analyze").arg("verify").arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("Failed to initialize manager") {
            eprintln!("skipped: systemd-analyze cannot run here: {stderr}");
            return;
        }
        assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
    }
}
