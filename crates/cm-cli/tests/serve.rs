//! `claude-memory serve`, `status`, `hook` and `mcp` as Claude Code and a user
//! run them: the real binary, a real engine process, a temporary home.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;

use cm_testkit::cli::{Sandbox, Serving};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_claude-memory");

/// A sandbox whose project already has its data folder.
fn sandbox() -> Sandbox {
    let env = Sandbox::new(BIN);
    std::fs::create_dir_all(env.project.join(".claude-memory")).unwrap();
    env
}

/// Runs `args` with `stdin`: whether it succeeded, its stdout and its stderr.
fn run(env: &Sandbox, args: &[&str], stdin: &str) -> (bool, String, String) {
    let out = env.run_with_input(args, stdin);
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn stop(engine: Serving, cm_home: &Path) {
    let status = engine.terminate();
    assert!(status.success(), "serve exited with {status} on SIGTERM");
    assert!(!cm_home.join("engine.json").exists(), "the discovery file is removed on a clean stop");
}

#[test]
fn serve_status_hook_and_clean_shutdown() {
    let env = sandbox();
    let (ok, _, err) = run(
        &env,
        &["save", "Deploys go out from the release branch on Tuesdays only", "--type", "decision"],
        "",
    );
    assert!(ok, "{err}");
    let (_, out, _) = run(&env, &["status", "--json"], "");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["running"], false);

    let engine = env.serve(&["serve", "--port", "0"]);
    let (_, out, _) = run(&env, &["status", "--json"], "");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert!(status["url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{status}");
    assert_eq!(status["projects"], 1, "the saved-to project was discovered: {status}");

    // A second engine refuses to start, saying why.
    let (ok, _, err) = run(&env, &["serve", "--port", "0"], "");
    assert!(!ok && err.contains("already running"), "{err}");

    let payload = json!({ "session_id": "s", "cwd": env.project, "prompt": "when do deploys go out from the release branch?" });
    let (ok, out, err) = run(&env, &["hook", "UserPromptSubmit"], &payload.to_string());
    assert!(ok && err.is_empty(), "{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["hookEventName"], "UserPromptSubmit");
    assert!(answer["hookSpecificOutput"]["additionalContext"].as_str().unwrap().contains("Tuesdays only"));
    assert_eq!(out.lines().count(), 1, "exactly one JSON object on stdout");

    // Session end queues the transcript; the hook prints nothing.
    let end =
        json!({ "session_id": "s", "cwd": env.project, "transcript_path": "/t/s.jsonl", "reason": "exit" });
    let (ok, out, _) = run(&env, &["hook", "SessionEnd"], &end.to_string());
    assert!(ok && out.is_empty(), "{out}");

    stop(engine, &env.cm_home);
    let (_, out, _) = run(&env, &["status", "--json"], "");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["running"], false);
}

#[test]
fn mcp_over_stdio_relays_to_the_engine_and_prints_only_protocol() {
    let env = sandbox();
    let engine = env.serve(&["serve", "--port", "0"]);
    let mut mcp = env
        .command(&["mcp"])
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
    let (_, out, _) = run(&env, &["list", "--json"], "");
    assert!(out.contains("CI caches cargo registries"), "{out}");
    stop(engine, &env.cm_home);
}

#[test]
fn a_file_removed_through_a_hook_makes_its_memory_stale_until_confirm() {
    let env = sandbox();
    std::fs::create_dir_all(env.project.join("src")).unwrap();
    std::fs::write(env.project.join("src/flags.rs"), "// flags").unwrap();
    let saved = env.json(&["save", "Feature flags are parsed in src/flags.rs at startup", "--type", "fact"]);
    let id = saved["id"].as_i64().unwrap().to_string();

    let engine = env.serve(&["serve", "--port", "0", "--no-watch"]);
    std::fs::remove_file(env.project.join("src/flags.rs")).unwrap();
    let rm = json!({ "session_id": "s", "cwd": env.project, "tool_name": "Bash",
                     "tool_input": { "command": "git rm -q src/flags.rs" }, "tool_response": { "stdout": "" } });
    let (ok, _, err) = run(&env, &["hook", "PostToolUse"], &rm.to_string());
    assert!(ok && err.is_empty(), "{err}");
    // The engine flags it after answering the hook.
    let mut shown = String::new();
    for _ in 0..100 {
        shown = env.ok(&["show", &id]);
        if shown.contains("(stale: src/flags.rs deleted)") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(shown.contains("(stale: src/flags.rs deleted)"), "{shown}");
    assert_eq!(env.json(&["show", &id])["stale"]["reason"], "deleted");
    let listed = env.json(&["list", "--stale"]);
    assert_eq!(listed.as_array().map(|l| l.len()), Some(1), "{listed}");
    assert_eq!(listed[0]["id"].to_string(), id);

    assert!(env.ok(&["confirm", &id]).contains("confirmed: not stale"));
    assert_eq!(env.json(&["show", &id]).get("stale"), None);
    assert_eq!(env.json(&["list", "--stale"]), json!([]));
    assert!(env.fails(&["confirm", "999"]).contains("memory 999 not found"));
    stop(engine, &env.cm_home);
}

/// The first `dashboard:` line `serve` prints to stderr, `env` added.
fn dashboard_line(env: &Sandbox, vars: &[(&str, &str)]) -> String {
    let mut command = env.command(&["serve", "--port", "0"]);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.starts_with("dashboard:") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let line = rx.recv_timeout(std::time::Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    line.expect("serve printed its dashboard line")
}

/// Under a service manager the engine's stderr is the manager's log
/// (journald's, readable beyond the owner): the token stays out of it.
#[test]
fn serve_prints_the_signed_in_link_only_outside_a_service_manager() {
    let env = sandbox();
    assert!(dashboard_line(&env, &[]).contains("/#token="));
    let line = dashboard_line(&env, &[("INVOCATION_ID", "0123456789abcdef")]);
    assert!(!line.contains("token") && line.contains("claude-memory status"), "{line}");
}
