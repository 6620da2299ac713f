//! Transcript mining: the parser on real and hand-made Claude Code
//! transcripts, the offline miner, resumable per-session progress and the
//! job worker, on real project databases.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cm_core::{Config, MemoryType, Source};
use cm_engine::hooks::{HookEvent, HookInput};
use cm_engine::miner::{mine_summary, mine_turns, windows};
use cm_engine::transcript::{Role, parse};
use cm_engine::{Engine, EngineEvent, ListFilter, Project};
use cm_store::{JobKind, NewJob, now_ms};
use serde_json::{Value, json};

const SESSION: &str = "40b9c804-2ed2-4f3e-b5df-e4317834e924";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transcripts").join(name)
}

// ---------------------------------------------------------------------------
// Hand-made transcript lines, shaped like Claude Code's.

fn user(text: &str) -> String {
    json!({"type": "user", "uuid": "u", "parentUuid": null, "isSidechain": false, "sessionId": "s",
           "message": {"role": "user", "content": text}})
    .to_string()
}

fn sidechain_user(text: &str) -> String {
    json!({"type": "user", "isSidechain": true, "agentId": "a1", "message": {"role": "user", "content": text}})
        .to_string()
}

fn assistant(id: &str, blocks: Value) -> String {
    json!({"type": "assistant", "uuid": "a", "isSidechain": false, "sessionId": "s",
           "message": {"id": id, "type": "message", "role": "assistant", "content": blocks,
                       "usage": {"input_tokens": 1}}})
    .to_string()
}

fn sidechain_assistant(id: &str, text: &str) -> String {
    json!({"type": "assistant", "isSidechain": true,
           "message": {"id": id, "role": "assistant", "content": [{"type": "text", "text": text}]}})
    .to_string()
}

fn say(id: &str, text: &str) -> String {
    assistant(id, json!([{"type": "text", "text": text}]))
}

fn call(id: &str, tool_id: &str, command: &str) -> String {
    assistant(id, json!([{"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": command}}]))
}

fn result(tool_id: &str, content: &str, is_error: bool) -> String {
    json!({"type": "user", "isSidechain": false,
           "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
                                                    "content": content, "is_error": is_error}]}})
    .to_string()
}

fn boundary() -> String {
    json!({"type": "system", "subtype": "compact_boundary", "content": "Conversation compacted", "parentUuid": null})
        .to_string()
}

fn jsonl(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

// ---------------------------------------------------------------------------
// The parser.

#[test]
fn the_recorded_session_parses() {
    let data = std::fs::read(fixture("session.jsonl")).unwrap();
    let p = parse(&data, 1, None);
    assert_eq!(p.invalid_lines, 0);
    assert!(!p.pending_tail);
    assert_eq!(p.bytes_read, data.len() as u64);
    assert_eq!(p.lines_read, data.iter().filter(|&&b| b == b'\n').count() as u64);
    assert_eq!(p.boundaries, 1, "one /compact");

    let first = &p.turns[0];
    assert_eq!((first.role, first.line_start, first.meta), (Role::User, 3, false));
    assert!(first.text.starts_with("Remember that this repository always uses pnpm"), "{}", first.text);

    // The text line and the tool_use line of one API message are one turn.
    let run = p.turns.iter().find(|t| t.text == "Let me run the build.").unwrap();
    assert_eq!((run.role, run.line_start, run.line_end), (Role::Assistant, 30, 31));
    assert_eq!(run.tool_calls, [("Bash".to_owned(), "sh build.sh".to_owned())]);

    let failed = p.turns.iter().find(|t| !t.errors.is_empty()).unwrap();
    assert_eq!((failed.role, failed.line_start), (Role::ToolResult, 32));
    assert!(
        failed.errors[0].contains("config/settings.toml: No such file or directory"),
        "{:?}",
        failed.errors
    );
    assert_eq!(
        failed.tool_calls,
        [("Bash".to_owned(), "sh build.sh".to_owned())],
        "the failed call is known"
    );

    // API request blobs repeat the prompt with the git status; they are not turns.
    assert!(p.turns.iter().all(|t| !t.text.contains("gitStatus")));
    // The harness's notes are marked, and the compact summary is a summary.
    let notification = p.turns.iter().find(|t| t.text.starts_with("<task-notification>")).unwrap();
    assert!(notification.meta);
    let summary = p.turns.iter().find(|t| t.role == Role::Summary).unwrap();
    assert_eq!((summary.line_start, summary.segment), (67, 1));
    assert!(p.turns.iter().filter(|t| t.text.contains("<command-name>/compact")).all(|t| t.meta));
    let last = p.turns.last().unwrap();
    assert_eq!((last.role, last.text.as_str(), last.segment), (Role::Assistant, "Sure.", 1));
    assert!(p.turns.iter().all(|t| !t.sidechain));
}

#[test]
fn the_recorded_subagent_transcript_is_a_sidechain() {
    let data = std::fs::read(fixture("subagent.jsonl")).unwrap();
    let p = parse(&data, 1, None);
    assert_eq!(p.invalid_lines, 0);
    assert!(!p.turns.is_empty());
    assert!(p.turns.iter().all(|t| t.sidechain));
    assert_eq!(p.turns[0].text, "List the files of the project.");
}

#[test]
fn a_truncated_last_line_is_waited_for() {
    let full = jsonl(&[user("first prompt here"), say("m1", "An answer.")]);
    let tail = user("Remember that the staging port is 6543.");
    let (head, rest) = tail.split_at(20);
    let data = format!("{full}{head}");
    let p = parse(data.as_bytes(), 1, None);
    assert_eq!((p.lines_read, p.bytes_read), (2, full.len() as u64));
    assert!(p.pending_tail);
    assert_eq!(p.invalid_lines, 0, "the partial line is not counted as invalid");

    // Even a complete JSON object without its newline is left for later.
    let data = format!("{full}{tail}");
    assert_eq!(parse(data.as_bytes(), 1, None).lines_read, 2);

    // Once written, it is read from where the last read stopped, as line 3.
    let data = format!("{full}{head}{rest}\n");
    let next = parse(&data.as_bytes()[full.len()..], 3, None);
    assert_eq!((next.lines_read, next.turns.len()), (1, 1));
    assert_eq!(next.turns[0].line_start, 3);
    assert_eq!(next.turns[0].text, "Remember that the staging port is 6543.");
}

#[test]
fn unknown_types_fields_and_invalid_lines_are_skipped() {
    let data = jsonl(&[
        json!({"type": "queue-operation", "operation": "enqueue"}).to_string(),
        "this is not json".to_owned(),
        "[1, 2, 3]".to_owned(),
        String::new(),
        json!({"type": "hologram", "message": {"role": "user", "content": "not a conversation line"}})
            .to_string(),
        json!({"type": "user", "brandNewField": {"x": [1]}, "message": {"role": "user", "content": [
            {"type": "text", "text": "hello there"}, {"type": "future_block", "data": 1}]}})
        .to_string(),
        json!({"type": "user", "message": "a message that is a string"}).to_string(),
        json!({"type": "assistant", "message": {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "private musings"}, {"type": "text", "text": "Visible."}]}})
        .to_string(),
    ]);
    let p = parse(data.as_bytes(), 1, None);
    assert_eq!(p.lines_read, 8);
    assert_eq!(p.invalid_lines, 2);
    let texts: Vec<&str> = p.turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["hello there", "Visible."]);
    assert_eq!((p.turns[0].line_start, p.turns[1].line_start), (6, 8));
}

#[test]
fn huge_tool_outputs_are_omitted_and_errors_kept_short() {
    let huge = "x".repeat(100_000);
    let data = jsonl(&[
        call("m1", "t1", "cat big.log"),
        result("t1", &huge, false),
        call("m2", "t2", "make"),
        result("t2", &format!("make: *** error 2\n{}", "detail ".repeat(5_000)), true),
    ]);
    let p = parse(data.as_bytes(), 1, None);
    let out = &p.turns[1];
    assert_eq!(out.text, "[tool output: 100000 bytes omitted]");
    let err = &p.turns[3];
    assert!(err.errors[0].starts_with("make: *** error 2 detail"), "{}", err.errors[0]);
    assert!(err.errors[0].len() <= 400 && err.text.len() <= 420);
    assert_eq!(err.tool_calls, [("Bash".to_owned(), "make".to_owned())]);
}

#[test]
fn split_assistant_messages_are_joined() {
    let data = jsonl(&[
        user("please build it"),
        say("m1", "Building now."),
        call("m1", "t1", "cargo build"),
        call("m1", "t2", "cargo test"),
        result("t1", "ok", false),
        say("m2", "Both ran."),
    ]);
    let p = parse(data.as_bytes(), 1, None);
    let roles: Vec<Role> = p.turns.iter().map(|t| t.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::ToolResult, Role::Assistant]);
    let joined = &p.turns[1];
    assert_eq!((joined.line_start, joined.line_end), (2, 4));
    assert_eq!(joined.text, "Building now.");
    assert_eq!(joined.tool_calls.len(), 2);
}

#[test]
fn sidechains_are_marked_and_kept_apart() {
    let data = jsonl(&[
        user("survey the code"),
        sidechain_user("Never touch the vendored directory."),
        sidechain_assistant("s1", "We decided to skip vendor/ because it is generated code."),
        say("m1", "The survey is done."),
    ]);
    let p = parse(data.as_bytes(), 1, None);
    assert_eq!(p.turns.iter().filter(|t| t.sidechain).count(), 2);
    let w = windows(&p.turns);
    assert_eq!(w.len(), 2);
    assert!(w.iter().all(|w| w.iter().all(|t| t.sidechain == w[0].sidechain)));
    // A subagent's instructions were written by Claude, not the user: no rule.
    let mined = mine_turns(&p.turns, "s");
    assert_eq!(mined.len(), 1, "{mined:?}");
    assert_eq!(mined[0].memory_type, MemoryType::Decision);
}

#[test]
fn compaction_boundaries_split_windows() {
    let data = jsonl(&[
        call("m1", "t1", "cargo test"),
        result("t1", "error[E0433]: failed to resolve: use of undeclared crate", true),
        boundary(),
        user("This session is being continued from a previous conversation."),
        say("m2", "Fixed the missing import; the tests now pass."),
    ]);
    let p = parse(data.as_bytes(), 1, None);
    assert_eq!(p.boundaries, 1);
    assert_eq!(p.turns.iter().map(|t| t.segment).collect::<Vec<_>>(), [0, 0, 1, 1]);
    assert_eq!(windows(&p.turns).len(), 2);
    assert!(mine_turns(&p.turns, "s").is_empty(), "an error and a fix across a boundary are not paired");
}

// ---------------------------------------------------------------------------
// The miner.

#[test]
fn the_miner_finds_rules_decisions_and_fixed_bugs_in_the_recorded_session() {
    let data = std::fs::read(fixture("session.jsonl")).unwrap();
    let mined = mine_turns(&parse(&data, 1, None).turns, SESSION);
    let kinds: Vec<(MemoryType, &str)> = mined.iter().map(|m| (m.memory_type, m.content.as_str())).collect();
    assert_eq!(mined.len(), 2, "{kinds:#?}");
    let rule = &mined[0];
    assert_eq!(rule.memory_type, MemoryType::Preference);
    assert_eq!(rule.content, "This repository always uses pnpm; never run npm install here.");
    assert_eq!(rule.source, Source::Transcript);
    assert_eq!(rule.provenance.session_id.as_deref(), Some(SESSION));
    assert_eq!((rule.provenance.transcript_start, rule.provenance.transcript_end), (Some(3), Some(3)));
    let bug = &mined[1];
    assert_eq!(bug.memory_type, MemoryType::Bug);
    assert!(bug.content.starts_with("Bash `sh build.sh` failed with: Exit code 1 cat: config/settings.toml"));
    assert!(bug.content.contains("Fix: the build failed because config/settings.toml was missing"));
    assert_eq!((bug.provenance.transcript_start, bug.provenance.transcript_end), (Some(32), Some(38)));

    let sub = std::fs::read(fixture("subagent.jsonl")).unwrap();
    let mined = mine_turns(&parse(&sub, 1, None).turns, SESSION);
    assert_eq!(mined.len(), 1);
    assert_eq!(mined[0].memory_type, MemoryType::Decision);
    assert_eq!(
        mined[0].content,
        "We decided to keep the config in config/ because the build script reads it from there."
    );
}

#[test]
fn the_miner_ignores_chatter() {
    let data = jsonl(&[
        user("ok thanks"),
        user("Do you remember what we did yesterday?"),
        user("never mind, it works"),
        user("I never liked that library anyway."),
        say("m1", "You're welcome! Let me know if you need anything else."),
        call("m2", "t1", "ls missing"),
        result("t1", "ls: cannot access 'missing': No such file or directory", true),
        say("m3", "That directory does not exist. Should I create it?"),
        user("<command-name>/remember</command-name> Remember that this is a harness line"),
        json!({"type": "user", "isMeta": true, "message": {"role": "user", "content": "Remember that meta lines never count."}})
            .to_string(),
        json!({"type": "user", "isCompactSummary": true, "message": {"role": "user",
               "content": "Summary: the user said to always use tabs."}})
        .to_string(),
    ]);
    let mined = mine_turns(&parse(data.as_bytes(), 1, None).turns, "s");
    assert!(mined.is_empty(), "{mined:#?}");
}

#[test]
fn the_miner_pairs_an_error_with_the_fix_that_follows() {
    let data = jsonl(&[
        user("Run the migrations, and note that the database is Postgres 16 on port 6543."),
        call("m1", "t1", "sqlx migrate run"),
        result("t1", "error: relation \"users\" already exists", true),
        say("m2", "The migration is not idempotent. Let me look."),
        call("m3", "t2", "cat migrations/001.sql"),
        result("t2", "CREATE TABLE users (id int);", false),
        say(
            "m4",
            "The problem was a missing IF NOT EXISTS; I fixed it by adding IF NOT EXISTS to the CREATE TABLE.",
        ),
        user("Let's go with sqlx migrations because they run at startup."),
    ]);
    let mined = mine_turns(&parse(data.as_bytes(), 1, None).turns, "s");
    let got: Vec<(MemoryType, &str)> = mined.iter().map(|m| (m.memory_type, m.content.as_str())).collect();
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[0], (MemoryType::Fact, "The database is Postgres 16 on port 6543."));
    assert_eq!(got[1].0, MemoryType::Bug);
    assert!(
        got[1].1.starts_with("Bash `sqlx migrate run` failed with: error: relation \"users\" already exists")
    );
    assert!(got[1].1.ends_with("Fix: The problem was a missing IF NOT EXISTS; I fixed it by adding IF NOT EXISTS to the CREATE TABLE."));
    assert_eq!(
        (mined[1].provenance.transcript_start, mined[1].provenance.transcript_end),
        (Some(3), Some(7))
    );
    assert_eq!(got[2], (MemoryType::Decision, "Let's go with sqlx migrations because they run at startup."));
}

#[test]
fn a_window_yields_at_most_a_handful() {
    let lines: Vec<String> =
        (0..12).map(|i| user(&format!("Never deploy service number {i} on Fridays."))).collect();
    let mined = mine_turns(&parse(jsonl(&lines).as_bytes(), 1, None).turns, "s");
    assert_eq!(mined.len(), cm_engine::miner::MAX_PER_WINDOW);
}

#[test]
fn compact_summaries_are_mined_like_turns() {
    let summary = "Summary:\n1. Primary request: fix the build.\n- The user said: never commit generated files.\n\
                   - We decided to use SQLite because it needs no server.\n\
                   - The build error (missing config/settings.toml) was fixed by creating the file.\n\
                   - Pending: nothing.";
    let mined = mine_summary(summary, "s");
    let got: Vec<(MemoryType, &str)> = mined.iter().map(|m| (m.memory_type, m.content.as_str())).collect();
    assert_eq!(
        got,
        [
            (MemoryType::Preference, "Never commit generated files."),
            (MemoryType::Decision, "We decided to use SQLite because it needs no server."),
            (
                MemoryType::Bug,
                "The build error (missing config/settings.toml) was fixed by creating the file."
            ),
        ]
    );
    assert!(mined.iter().all(|m| m.provenance.session_id.as_deref() == Some("s")));
}

// ---------------------------------------------------------------------------
// Progress and jobs on real databases.

struct Fx {
    dir: tempfile::TempDir,
    engine: Engine,
    project: Project,
    transcript: PathBuf,
}

fn project_in(dir: &Path) -> Project {
    let root = dir.join("repo");
    std::fs::create_dir_all(&root).unwrap();
    let project = Project::at(&root).unwrap();
    project.ensure_data_dir().unwrap();
    project
}

fn fx() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let project = project_in(dir.path());
    let transcript = dir.path().join("session.jsonl");
    std::fs::write(&transcript, "").unwrap();
    Fx { engine: Engine::new(Config::default(), None), project, transcript, dir }
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

/// What Claude Code's Stop hook does: queue the session's transcript.
async fn stop_hook(engine: &Engine, project: &Project, session: &str, transcript: &Path) {
    let payload = json!({"session_id": session, "cwd": project.root(), "transcript_path": transcript,
                         "hook_event_name": "Stop"});
    let input = HookInput::parse(payload.to_string().as_bytes()).unwrap();
    assert_eq!(engine.hook(HookEvent::Stop, &input).await.unwrap(), None);
}

async fn transcript_memories(engine: &Engine, project: &Project) -> Vec<cm_core::Memory> {
    let filter = ListFilter { source: Some(Source::Transcript), ..ListFilter::default() };
    let mut all = engine.list(project, &filter, 1000, 0).await.unwrap();
    all.sort_by_key(|m| m.id);
    all
}

#[tokio::test]
async fn appended_lines_are_analysed_once() {
    let f = fx();
    append(
        &f.transcript,
        &jsonl(&[user("Remember that the staging database listens on port 6543."), say("m1", "Noted.")]),
    );
    stop_hook(&f.engine, &f.project, "s1", &f.transcript).await;
    let r = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((r.claimed, r.done, r.created, r.reinforced), (1, 1, 1, 0));

    // The next turn appends two lines and half of a third.
    let partial = user("Never run the integration tests against production.");
    let (head, rest) = partial.split_at(30);
    append(
        &f.transcript,
        &format!("{}{head}", jsonl(&[user("Always run cargo fmt before committing."), say("m2", "Sure.")])),
    );
    stop_hook(&f.engine, &f.project, "s1", &f.transcript).await;
    let r = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((r.done, r.created, r.reinforced), (1, 1, 0), "only the new complete lines");
    let store = f.engine.store(&f.project).await.unwrap();
    let p = store.transcript_progress("s1").await.unwrap().unwrap();
    assert_eq!(p.lines_done, 4, "the half-written line is not consumed");

    // Nothing new: nothing done, nothing reinforced.
    stop_hook(&f.engine, &f.project, "s1", &f.transcript).await;
    let r = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((r.done, r.created, r.reinforced), (1, 0, 0));

    append(&f.transcript, &format!("{rest}\n"));
    stop_hook(&f.engine, &f.project, "s1", &f.transcript).await;
    let r = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((r.created, r.reinforced), (1, 0));

    let memories = transcript_memories(&f.engine, &f.project).await;
    let lines: Vec<(i64, i64, i64)> = memories
        .iter()
        .map(|m| {
            (m.provenance.transcript_start.unwrap(), m.provenance.transcript_end.unwrap(), m.access_count)
        })
        .collect();
    assert_eq!(lines, [(1, 1, 0), (3, 3, 0), (5, 5, 0)], "each line mined once, none reinforced");
    assert_eq!(memories[0].memory_type, MemoryType::Fact);
    assert_eq!(memories[2].content, "Never run the integration tests against production.");
    assert!(memories.iter().all(|m| m.provenance.session_id.as_deref() == Some("s1")));
    let jobs = store.jobs(None, 10).await.unwrap();
    assert!(jobs.iter().all(|j| j.state == "done"), "{jobs:#?}");
}

#[tokio::test]
async fn a_restart_mid_job_neither_loses_nor_repeats_work() {
    let f = fx();
    // Three rules, far enough apart to fall in different batches of 1 000 lines.
    let mut lines = Vec::new();
    for i in 1..=2_500 {
        lines.push(match i {
            10 => user("Remember that the cache directory is /var/cache/app."),
            1_500 => user("Never log request bodies; they hold personal data."),
            2_400 => user("Always pin exact versions of the build tools."),
            _ if i % 2 == 0 => say(&format!("m{i}"), "Working on it."),
            _ => user("continue"),
        });
    }
    append(&f.transcript, &jsonl(&lines));
    stop_hook(&f.engine, &f.project, "s1", &f.transcript).await;

    // A worker claims the job, mines one batch, and dies.
    let store = f.engine.store(&f.project).await.unwrap();
    let claimed = store.claim_job(now_ms(), now_ms() - 60_000).await.unwrap().unwrap();
    let first = f.engine.mine_transcript(&f.project, "s1", &f.transcript, Some(1)).await.unwrap();
    assert_eq!((first.batches, first.created, first.position.0), (1, 1, 1_000));
    f.engine.close().await;
    drop(f.engine);

    // A new engine, on the same databases.
    let engine = Engine::new(Config::default(), None);
    let store = engine.store(&f.project).await.unwrap();
    assert_eq!(store.transcript_progress("s1").await.unwrap().unwrap().lines_done, 1_000);
    // Until the dead worker's job is stale, nothing runs; then it is taken again.
    assert_eq!(engine.run_jobs_once(&f.project).await.unwrap().claimed, 0);
    let later = now_ms() + cm_engine::jobs::STALE_AFTER_MS + 1_000;
    let r = engine.run_jobs_at(&f.project, later).await.unwrap();
    assert_eq!((r.claimed, r.done, r.created, r.reinforced), (1, 1, 2, 0));
    let job = store.jobs(None, 10).await.unwrap().into_iter().find(|j| j.id == claimed.id).unwrap();
    assert_eq!((job.state.as_str(), job.attempts), ("done", 2));

    let memories = transcript_memories(&engine, &f.project).await;
    let starts: Vec<i64> = memories.iter().map(|m| m.provenance.transcript_start.unwrap()).collect();
    assert_eq!(starts, [10, 1_500, 2_400]);
    assert!(memories.iter().all(|m| m.access_count == 0), "nothing saved twice");
    let p = store.transcript_progress("s1").await.unwrap().unwrap();
    assert_eq!((p.lines_done, p.bytes_done), (2_500, std::fs::metadata(&f.transcript).unwrap().len() as i64));
    engine.close().await;
    drop(f.dir);
}

#[tokio::test]
async fn an_unreadable_transcript_is_retried_with_backoff_then_failed() {
    let f = fx();
    let mut events = f.engine.subscribe();
    // A transcript that cannot be read (here: a folder); a missing one fails
    // at once instead (hooks.rs: a_job_whose_transcript_is_missing_fails_at_once…).
    let missing = f.dir.path().join("gone.jsonl");
    std::fs::create_dir(&missing).unwrap();
    stop_hook(&f.engine, &f.project, "s1", &missing).await;
    let store = f.engine.store(&f.project).await.unwrap();
    let mut now = now_ms();
    let mut delays = Vec::new();
    for attempt in 1..=5 {
        let r = f.engine.run_jobs_at(&f.project, now).await.unwrap();
        assert_eq!(r.claimed, 1, "attempt {attempt}");
        let job = store.jobs(None, 1).await.unwrap().remove(0);
        assert_eq!(job.attempts, attempt);
        if attempt < 5 {
            assert_eq!((r.retried, job.state.as_str()), (1, "queued"));
            delays.push(job.run_after - now);
            // Not before its time.
            assert_eq!(f.engine.run_jobs_at(&f.project, job.run_after - 1).await.unwrap().claimed, 0);
            now = job.run_after;
        } else {
            assert_eq!((r.failed, job.state.as_str()), (1, "failed"));
            let reason = job.last_error.unwrap();
            assert!(reason.contains("reading transcript") && reason.contains("gone.jsonl"), "{reason}");
        }
    }
    assert_eq!(delays, [30_000, 60_000, 120_000, 240_000]);
    assert_eq!(
        f.engine.run_jobs_at(&f.project, now + 86_400_000).await.unwrap().claimed,
        0,
        "failed for good"
    );

    let mut states = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let EngineEvent::Job { state, reason, .. } = e {
            states.push(state.clone());
            if state == "failed" {
                assert!(reason.unwrap().contains("gone.jsonl"));
            }
        }
    }
    assert_eq!(states.iter().filter(|s| *s == "running").count(), 5);
    assert_eq!(states.iter().filter(|s| *s == "queued").count(), 4);
    assert_eq!(states.last().map(String::as_str), Some("failed"));
}

#[tokio::test]
async fn a_retry_folds_into_a_newer_queued_job_of_the_session() {
    let f = fx();
    let missing = f.dir.path().join("not-yet.jsonl");
    stop_hook(&f.engine, &f.project, "s1", &missing).await;
    let store = f.engine.store(&f.project).await.unwrap();
    let now = now_ms();
    let job = store.claim_job(now, now - 60_000).await.unwrap().unwrap();
    // While it runs, the next Stop queues the session again.
    stop_hook(&f.engine, &f.project, "s1", &missing).await;
    let retry = store.fail_job(job.id, "transient", now, 30_000, 5).await.unwrap();
    let jobs = store.jobs(None, 10).await.unwrap();
    let newer = jobs.iter().find(|j| j.state == "queued").unwrap();
    assert_eq!(retry, cm_store::JobRetry::Folded { into: newer.id, run_after: now + 30_000 });
    assert_eq!((newer.attempts, newer.run_after >= now + 30_000), (1, true));
}

#[tokio::test]
async fn compact_summary_jobs_are_mined_and_finished_together() {
    let f = fx();
    let payload = json!({"session_id": "s1", "cwd": f.project.root(), "transcript_path": f.transcript,
        "hook_event_name": "PostCompact", "trigger": "manual",
        "compact_summary": "- The user said: always squash merge pull requests.\n- Chatter about the weather."});
    let input = HookInput::parse(payload.to_string().as_bytes()).unwrap();
    f.engine.hook(HookEvent::PostCompact, &input).await.unwrap();
    let r = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((r.claimed, r.done, r.created), (2, 2, 1), "the transcript job and the summary job");
    let memories = transcript_memories(&f.engine, &f.project).await;
    assert_eq!(memories.len(), 1);
    assert_eq!(memories[0].content, "Always squash merge pull requests.");
    assert_eq!(memories[0].memory_type, MemoryType::Preference);
    let store = f.engine.store(&f.project).await.unwrap();
    let kinds: Vec<(JobKind, String)> =
        store.jobs(None, 10).await.unwrap().into_iter().map(|j| (j.kind, j.state)).collect();
    assert!(kinds.iter().all(|(_, s)| s == "done"), "{kinds:?}");
    assert_eq!(f.engine.run_jobs_once(&f.project).await.unwrap().claimed, 0);
}

#[tokio::test]
async fn mined_memories_are_redacted_and_deduplicated() {
    let f = fx();
    f.engine
        .save(
            &f.project,
            cm_core::NewMemory::new("Never push directly to the main branch.", Source::Cli).unwrap(),
        )
        .await
        .unwrap();
    append(
        &f.transcript,
        &jsonl(&[
            user("Never push directly to the main branch."),
            user("Remember that the deploy token is ghp_abcdefghijklmnopqrstuvwxyz0123456789AB for CI."),
        ]),
    );
    let store = f.engine.store(&f.project).await.unwrap();
    store
        .enqueue_job(&NewJob {
            kind: JobKind::Transcript,
            session_id: "s1".into(),
            transcript_path: Some(f.transcript.to_string_lossy().into_owned()),
            trigger: "test".into(),
            payload: json!({}),
        })
        .await
        .unwrap();
    let r = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((r.created, r.reinforced), (1, 1));
    let mined = transcript_memories(&f.engine, &f.project).await;
    assert_eq!(mined.len(), 1);
    assert!(!mined[0].content.contains("ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"), "{}", mined[0].content);
}

#[tokio::test]
async fn the_background_worker_mines_open_projects_and_stops() {
    let f = fx();
    append(&f.transcript, &jsonl(&[user("Always use the release profile for benchmarks.")]));
    stop_hook(&f.engine, &f.project, "s1", &f.transcript).await;
    let worker = f.engine.spawn_job_worker(Duration::from_millis(20));
    let mut found = false;
    for _ in 0..300 {
        if !transcript_memories(&f.engine, &f.project).await.is_empty() {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.stop().await;
    assert!(found, "the worker mined the transcript");
}

#[tokio::test]
async fn the_worker_never_creates_a_project() {
    let dir = tempfile::tempdir().unwrap();
    let registry = cm_engine::Registry::new(dir.path().join("projects.json"));
    let gone = dir.path().join("gone");
    std::fs::create_dir_all(&gone).unwrap();
    registry.add(&gone).unwrap();
    let engine = Engine::with_registry(Config::default(), None, registry);
    let worker = engine.spawn_job_worker(Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(60)).await;
    worker.stop().await;
    assert!(!gone.join(cm_engine::DATA_DIR).exists());
}

// ---------------------------------------------------------------------------
// Fuzzing the parser.

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// Lines like Claude Code's, and garbage; `n` makes message ids unique.
    fn lines() -> impl Strategy<Value = Vec<String>> {
        let text = "[a-zA-Z .,;!?\\n\"{}<>/-]{0,80}";
        let line = (0u8..8, text, any::<bool>(), "[^\n]{0,40}");
        proptest::collection::vec(line, 0..30).prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(n, (kind, t, flag, garbage))| match kind {
                    0 => user(&t),
                    1 => say(&format!("m{n}"), &t),
                    2 => call(&format!("m{n}"), &format!("t{n}"), &t),
                    3 => result(&format!("t{}", n.saturating_sub(1)), &t, flag),
                    4 => sidechain_user(&t),
                    5 => boundary(),
                    6 => json!({"type": "attachment", "attachment": {"x": 1}}).to_string(),
                    _ => garbage,
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_stop_at_the_last_newline(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let p = parse(&data, 1, None);
            let end = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            prop_assert_eq!(p.bytes_read as usize, end);
            prop_assert_eq!(p.lines_read, data[..end].iter().filter(|&&b| b == b'\n').count() as u64);
            prop_assert_eq!(p.pending_tail, end < data.len());
            for t in &p.turns {
                prop_assert!(1 <= t.line_start && t.line_start <= t.line_end && t.line_end <= p.lines_read);
            }
            let _ = mine_turns(&p.turns, "s");
        }

        #[test]
        fn reading_in_two_pieces_reads_every_line_once(
            lines in lines(),
            cut in any::<prop::sample::Index>(),
        ) {
            let data = jsonl(&lines);
            let whole = parse(data.as_bytes(), 1, None);
            let first = parse(&data.as_bytes()[..cut.index(data.len() + 1)], 1, None);
            let rest = parse(&data.as_bytes()[first.bytes_read as usize..], first.lines_read + 1, None);
            prop_assert_eq!(first.lines_read + rest.lines_read, whole.lines_read);
            prop_assert_eq!(first.bytes_read + rest.bytes_read, whole.bytes_read);
            prop_assert_eq!(first.invalid_lines + rest.invalid_lines, whole.invalid_lines);
            // Every message id is its own, so nothing joins across the cut.
            let key = |t: &cm_engine::transcript::Turn| {
                (t.line_start, t.line_end, t.role, t.text.clone(), t.errors.clone(), t.sidechain)
            };
            let pieces: Vec<_> = first.turns.iter().chain(&rest.turns).map(key).collect();
            let all: Vec<_> = whole.turns.iter().map(key).collect();
            prop_assert_eq!(pieces, all);
        }
    }
}

#[tokio::test]
async fn an_error_in_one_read_pairs_with_its_fix_in_the_next() {
    let f = fx();
    append(
        &f.transcript,
        &jsonl(&[
            call("m1", "t1", "sqlx migrate run"),
            result("t1", "error: relation \"users\" already exists", true),
            say("m2", "The migration is not idempotent. Let me look."),
        ]),
    );
    stop_hook(&f.engine, &f.project, "s1", &f.transcript).await;
    let r = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((r.done, r.created), (1, 0), "no fix yet");

    // A restart between the reads: the carried failure is in the database.
    let engine = Engine::new(Config::default(), None);
    append(
        &f.transcript,
        &jsonl(&[say("m3", "The problem was a missing IF NOT EXISTS; I fixed it by adding IF NOT EXISTS.")]),
    );
    stop_hook(&engine, &f.project, "s1", &f.transcript).await;
    let r = engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((r.done, r.created), (1, 1));
    let mined = transcript_memories(&engine, &f.project).await;
    assert_eq!(mined[0].memory_type, MemoryType::Bug);
    assert!(
        mined[0].content.starts_with("Bash `sqlx migrate run` failed with: error: relation"),
        "{}",
        mined[0].content
    );
    assert!(
        mined[0]
            .content
            .ends_with("Fix: The problem was a missing IF NOT EXISTS; I fixed it by adding IF NOT EXISTS.")
    );
    assert_eq!(
        (mined[0].provenance.transcript_start, mined[0].provenance.transcript_end),
        (Some(2), Some(4))
    );

    // Once paired, it is not carried again.
    append(&f.transcript, &jsonl(&[say("m4", "I fixed it by adding IF NOT EXISTS, as said.")]));
    stop_hook(&engine, &f.project, "s1", &f.transcript).await;
    let r = engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!(r.created, 0);
    let progress = engine.store(&f.project).await.unwrap().transcript_progress("s1").await.unwrap().unwrap();
    assert_eq!(progress.pending, None);
}
