//! `claude-memory hook` never blocks or breaks Claude Code: with the engine
//! down, hung, or answering garbage, every run exits 0 within its budget
//! and prints nothing at all.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const RUNS: usize = 200;
/// Runs at once (the machine may have two cores; this is about correctness).
const PARALLEL: usize = 8;
/// How far past its budget a run may go before it counts as hanging: process
/// start-up on a loaded machine, not the hook's own work.
const SLACK: Duration = Duration::from_millis(1500);

const PROMPT: &str = r#"{"session_id":"s","cwd":"/tmp","hook_event_name":"UserPromptSubmit","prompt":"how do we deploy the staging database?"}"#;
const TOOL: &str = r#"{"session_id":"s","cwd":"/tmp","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"make deploy"}}"#;

/// A per-user state directory whose discovery file points at `port`.
fn home_pointing_at(dir: &Path, port: u16) {
    std::fs::create_dir_all(dir).unwrap();
    let info = serde_json::json!({"port": port, "pid": 1, "version": "0", "url": format!("http://127.0.0.1:{port}")});
    std::fs::write(dir.join("engine.json"), info.to_string()).unwrap();
    std::fs::write(dir.join("token"), "0".repeat(64)).unwrap();
}

/// Runs `hook <event>` `runs` times (PARALLEL at once); asserts each exits 0
/// with empty stdout and stderr within `budget + SLACK`; returns the slowest.
fn run_many(home: &Path, event: &str, payload: &str, runs: usize, budget: Duration) -> Duration {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (next, home, event, payload) =
                (next.clone(), home.to_owned(), event.to_owned(), payload.to_owned());
            std::thread::spawn(move || {
                let mut slowest = Duration::ZERO;
                while next.fetch_add(1, Ordering::Relaxed) < runs {
                    slowest = slowest.max(run_once(&home, &event, &payload, budget + SLACK));
                }
                slowest
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).max().unwrap()
}

fn run_once(home: &Path, event: &str, payload: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_claude-memory"))
        .args(["hook", event])
        .env("CLAUDE_MEMORY_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(payload.as_bytes()).unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("hook {event} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = started.elapsed();
    let mut out = String::new();
    let mut err = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "hook {event} exited with {status}");
    assert!(out.is_empty(), "hook {event} printed {out:?}");
    assert!(err.is_empty(), "hook {event} wrote to stderr: {err:?}");
    elapsed
}

/// A server that accepts connections and answers each with the next of `answers`.
fn answering(answers: Vec<Vec<u8>>) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let mut i = 0;
        for conn in listener.incoming() {
            if flag.load(Ordering::Relaxed) {
                break;
            }
            let Ok(mut conn) = conn else { continue };
            let answer = answers[i % answers.len()].clone();
            i += 1;
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(&answer);
            });
        }
    });
    (port, stop)
}

#[test]
fn engine_down_no_discovery_file_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing at all in the state directory.
    let slowest = run_many(tmp.path(), "UserPromptSubmit", PROMPT, RUNS, Duration::from_millis(1500));
    eprintln!("no engine ever started: {RUNS} runs, slowest {slowest:?}");
    // A discovery file left by a dead engine: the port refuses connections.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    home_pointing_at(tmp.path(), port);
    let slowest = run_many(tmp.path(), "UserPromptSubmit", PROMPT, RUNS, Duration::from_millis(1500));
    eprintln!("engine down: {RUNS} runs, slowest {slowest:?}");
    let slowest = run_many(tmp.path(), "PreToolUse", TOOL, RUNS, Duration::from_millis(300));
    eprintln!("engine down (PreToolUse): {RUNS} runs, slowest {slowest:?}");
}

#[test]
fn engine_hung() {
    let tmp = tempfile::tempdir().unwrap();
    // Accepts, reads, never answers; keeps every connection open.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    home_pointing_at(tmp.path(), port);
    let slowest = run_many(tmp.path(), "PreToolUse", TOOL, RUNS, Duration::from_millis(300));
    eprintln!("engine hung (PreToolUse, 300 ms budget): {RUNS} runs, slowest {slowest:?}");
    let slowest = run_many(tmp.path(), "UserPromptSubmit", PROMPT, 24, Duration::from_millis(1500));
    eprintln!("engine hung (UserPromptSubmit, 1500 ms budget): 24 runs, slowest {slowest:?}");
}

#[test]
fn engine_answers_garbage() {
    let tmp = tempfile::tempdir().unwrap();
    let json = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let answers = vec![
        b"garbage that is not HTTP".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ntruncated".to_vec(),
        json("not json at all"),
        json("[1, 2, 3]"),
        json(r#"{"decision":"block","reason":"no"}"#),
        // A permission decision must never reach Claude Code.
        json(
            r#"{"hookSpecificOutput":{"hookEventName":"UserPromptSubmit","additionalContext":"x","permissionDecision":"allow"}}"#,
        ),
        json(r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","additionalContext":"wrong event"}}"#),
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nbad\r\n0\r\n\r\n".to_vec(),
        Vec::new(),
    ];
    let (port, _stop) = answering(answers);
    home_pointing_at(tmp.path(), port);
    let slowest = run_many(tmp.path(), "UserPromptSubmit", PROMPT, RUNS, Duration::from_millis(1500));
    eprintln!("engine answering garbage: {RUNS} runs, slowest {slowest:?}");
}

#[test]
fn bad_payloads_and_unknown_events_print_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (port, _stop) = answering(vec![b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}".to_vec()]);
    home_pointing_at(tmp.path(), port);
    for (event, payload) in [
        ("UserPromptSubmit", "{not json"),
        ("UserPromptSubmit", ""),
        ("NoSuchEvent", PROMPT),
        ("UserPromptSubmit", "\u{0}\u{1}binary"),
    ] {
        run_once(tmp.path(), event, payload, Duration::from_millis(1500) + SLACK);
    }
}
