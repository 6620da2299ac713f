//! The real `claude-memory` binary run as a user would, in a temporary
//! directory that stands in for the user's home: the harness of the CLI's
//! integration tests.
//!
//! Every command runs in the project folder with `HOME` and
//! `CLAUDE_MEMORY_HOME` inside the temporary directory, and with none of the
//! caller's `CLAUDE_MEMORY_*` or `CLAUDE_CONFIG_DIR` settings, so a test never
//! reads or changes the real Claude Code configuration or memories.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long `serve` may take to answer `status` before the test fails: the
/// engine's start-up on a loaded two-core machine, not its normal speed.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A temporary home, a project in it, and the binary to run there.
#[derive(Debug)]
pub struct Sandbox {
    _tmp: tempfile::TempDir,
    bin: PathBuf,
    /// The temporary directory (canonical), holding everything below.
    pub root: PathBuf,
    /// `HOME` of every command (created empty).
    pub home: PathBuf,
    /// `CLAUDE_MEMORY_HOME` of every command (not created: the binary makes it).
    pub cm_home: PathBuf,
    /// The working directory of every command: a git repository's root,
    /// without a `.claude-memory/` folder yet.
    pub project: PathBuf,
    /// `PATH` of every command; `None` keeps the test's own.
    pub path: Option<String>,
    /// More environment variables for every command, set last.
    pub vars: Vec<(String, String)>,
    /// Start every command from an empty environment: then it sees only
    /// `HOME`, `CLAUDE_MEMORY_HOME`, [`Sandbox::path`] and [`Sandbox::vars`].
    pub clear_env: bool,
}

impl Sandbox {
    /// A fresh sandbox for the binary at `bin` (a test passes
    /// `env!("CARGO_BIN_EXE_claude-memory")`).
    pub fn new(bin: impl Into<PathBuf>) -> Sandbox {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let root = tmp.path().canonicalize().expect("the temporary directory exists");
        let (home, cm_home, project) = (root.join("home"), root.join("cm-home"), root.join("project"));
        std::fs::create_dir_all(project.join(".git")).expect("creating the project");
        std::fs::create_dir_all(&home).expect("creating HOME");
        Sandbox {
            _tmp: tmp,
            bin: bin.into(),
            root,
            home,
            cm_home,
            project,
            path: None,
            vars: Vec::new(),
            clear_env: false,
        }
    }

    /// The command `claude-memory <args>` in the project, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_in(&self.project, args)
    }

    /// The command `claude-memory <args>` in `dir`, not yet started.
    pub fn command_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args).current_dir(dir);
        if self.clear_env {
            c.env_clear();
        } else {
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("CLAUDE_MEMORY_") {
                    c.env_remove(&name);
                }
            }
            c.env_remove("CLAUDE_CONFIG_DIR");
        }
        c.env("HOME", &self.home).env("CLAUDE_MEMORY_HOME", &self.cm_home);
        if let Some(path) = &self.path {
            c.env("PATH", path);
        }
        for (name, value) in &self.vars {
            c.env(name, value);
        }
        c
    }

    /// Runs `claude-memory <args>` in the project to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_in(&self.project, args)
    }

    /// Runs `claude-memory <args>` in `dir` to the end.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Output {
        self.command_in(dir, args).output().expect("the binary runs")
    }

    /// Runs `claude-memory <args>` in the project with `input` on its stdin.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        child.stdin.take().expect("piped stdin").write_all(input.as_bytes()).expect("writing stdin");
        child.wait_with_output().expect("the binary runs")
    }

    /// Runs `claude-memory <args>`, asserts it succeeded, and returns its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs `claude-memory <args> --json`, asserts it succeeded, and returns its stdout as JSON.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{all:?} printed no JSON ({e}): {out}"))
    }

    /// Runs `claude-memory <args>`, asserts it failed with nothing on stdout,
    /// and returns its stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should have failed");
        assert!(out.stdout.is_empty(), "nothing on stdout when failing");
        String::from_utf8(out.stderr).expect("stderr is UTF-8")
    }

    /// Starts `claude-memory <args>` (a `serve` command line) and waits until
    /// `status --json` says the engine is running.
    #[track_caller]
    pub fn serve(&self, args: &[&str]) -> Serving {
        let child =
            self.command(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("serve starts");
        // Stopped however the test ends, a failed assertion included.
        let serving = Serving(Some(child));
        let until = Instant::now() + START_DEADLINE;
        while Instant::now() < until {
            let out = self.run(&["status", "--json"]);
            if serde_json::from_slice::<Value>(&out.stdout).is_ok_and(|v| v["running"] == true) {
                return serving;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the engine did not start within {START_DEADLINE:?}");
    }
}

/// A running `serve`, killed when dropped.
#[derive(Debug)]
pub struct Serving(Option<Child>);

impl Serving {
    /// Stops the engine as a service manager does (SIGTERM) and waits for it
    /// to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.0.take().expect("still running");
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {}", child.id());
        child.wait().expect("waiting for serve")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
