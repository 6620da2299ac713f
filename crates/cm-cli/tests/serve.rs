//! `claude-memory serve`, `status`, `hook` and `mcp` as Claude Code and a user
//! run them: the real binary, a real engine process, a temporary home.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_claude-memory");

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let project = tmp.path().join("project");
        std::fs::create_dir_all(project.join(".claude-memory")).unwrap();
        Env { home, project: project.canonicalize().unwrap(), _tmp: tmp }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(&self.project)
            .env("CLAUDE_MEMORY_HOME", &self.home)
            // The watcher would scan the real home otherwise.
            .env("HOME", self.home.parent().unwrap())
            .env_remove("CLAUDE_MEMORY_LOG");
        c
    }

    fn run(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    }

    fn serve(&self) -> Child {
        let mut child =
            self.cmd(&["serve", "--port", "0"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            let (_, out, _) = self.run(&["status", "--json"], "");
            if serde_json::from_str::<Value>(&out).is_ok_and(|v| v["running"] == true) {
                return child;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the engine did not start");
    }
}

fn stop(mut child: Child, home: &Path) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status} on SIGTERM");
    assert!(!home.join("engine.json").exists(), "the discovery file is removed on a clean stop");
}

#[test]
fn serve_status_hook_and_clean_shutdown() {
    let env = Env::new();
    let (ok, _, err) = env
        .run(&["save", "Deploys go out from the release branch on Tuesdays only", "--type", "decision"], "");
    assert!(ok, "{err}");
    let (_, out, _) = env.run(&["status", "--json"], "");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["running"], false);

    let engine = env.serve();
    let (_, out, _) = env.run(&["status", "--json"], "");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert!(status["url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{status}");
    assert_eq!(status["projects"], 1, "the saved-to project was discovered: {status}");

    // A second engine refuses to start, saying why.
    let (ok, _, err) = env.run(&["serve", "--port", "0"], "");
    assert!(!ok && err.contains("already running"), "{err}");

    let payload = json!({ "session_id": "s", "cwd": env.project, "prompt": "when do deploys go out from the release branch?" });
    let (ok, out, err) = env.run(&["hook", "UserPromptSubmit"], &payload.to_string());
    assert!(ok && err.is_empty(), "{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["hookEventName"], "UserPromptSubmit");
    assert!(answer["hookSpecificOutput"]["additionalContext"].as_str().unwrap().contains("Tuesdays only"));
    assert_eq!(out.lines().count(), 1, "exactly one JSON object on stdout");

    // Session end queues the transcript; the hook prints nothing.
    let end =
        json!({ "session_id": "s", "cwd": env.project, "transcript_path": "/t/s.jsonl", "reason": "exit" });
    let (ok, out, _) = env.run(&["hook", "SessionEnd"], &end.to_string());
    assert!(ok && out.is_empty(), "{out}");

    stop(engine, &env.home);
    let (_, out, _) = env.run(&["status", "--json"], "");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["running"], false);
}

#[test]
fn mcp_over_stdio_relays_to_the_engine_and_prints_only_protocol() {
    let env = Env::new();
    let engine = env.serve();
    let mut mcp = env
        .cmd(&["mcp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = mcp.stdin.take().unwrap();
    let mut stdout = BufReader::new(mcp.stdout.take().unwrap());
    let mut call = |message: Value| -> Value {
        writeln!(stdin, "{message}").unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON-RPC on stdout: {line:?}: {e}"))
    };
    let init = call(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}));
    assert_eq!(init["result"]["serverInfo"]["name"], "claude-memory", "{init}");
    let saved = call(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "memory_save", "arguments": {"content": "CI caches cargo registries under ~/.cargo", "type": "fact"}}}));
    assert_eq!(saved["result"]["structuredContent"]["action"], "created", "{saved}");
    let found = call(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "memory_search", "arguments": {"query": "cargo registries cache"}}}));
    let text = found["result"]["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("] CI caches cargo registries under ~/.cargo (relevance"), "{found}");
    drop(stdin);
    assert!(mcp.wait().unwrap().success());

    // The memory went to the project of the working directory.
    let (_, out, _) = env.run(&["list", "--json"], "");
    assert!(out.contains("CI caches cargo registries"), "{out}");
    stop(engine, &env.home);
}
