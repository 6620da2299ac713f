//! The day's token limits and the providers that only background work may
//! use, through a real engine, real project databases and an LLM behind a
//! local server speaking Anthropic's Messages API: past a limit the engine
//! works offline (nothing is sent), and the next day it asks again.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cm_core::{Config, Source};
use cm_engine::hooks::{HookEvent, HookInput};
use cm_engine::{Engine, ListFilter, Project};
use cm_llm::{LlmClient, LlmConfig, Provider, Secret};
use cm_testkit::openai::{FakeServer, Reply};
use serde_json::json;

const TWO: &str = "<memory type=\"bug\" domain=\"database\"><what>Migrations failed on CI because \
    DATABASE_URL pointed at port 5432 instead of 6543.</what><summary>CI migrations need port 6543</summary>\
    </memory>\n<memory type=\"decision\" domain=\"database\"><what>The team uses sqlx rather than diesel.</what>\
    </memory>";

fn engine(server: &FakeServer, total: u64, per_project: u64) -> Engine {
    let provider = Provider::Anthropic { model: "claude-test".into(), base_url: Some(server.url.clone()) };
    let config = LlmConfig {
        provider,
        timeout_ms: 2_000,
        max_retries: 0,
        daily_tokens: total,
        project_daily_tokens: per_project,
        ..LlmConfig::default()
    };
    let engine = Engine::new(Config::default(), None);
    engine.set_llm(Some(Arc::new(LlmClient::new(config, Some(Secret::new("sk-ant-test"))).unwrap())));
    engine
}

fn project(dir: &Path, name: &str) -> (Project, PathBuf) {
    let root = dir.join(name);
    std::fs::create_dir_all(&root).unwrap();
    let project = Project::at(&root).unwrap();
    project.ensure_data_dir().unwrap();
    let transcript = dir.join(format!("{name}.jsonl"));
    std::fs::write(&transcript, "").unwrap();
    (project, transcript)
}

/// A user turn appended to the transcript, then Stop and the queued jobs run.
async fn turn(engine: &Engine, project: &Project, transcript: &Path, text: &str) -> usize {
    let line = json!({"type": "user", "isSidechain": false, "message": {"role": "user", "content": text}});
    let mut file = std::fs::OpenOptions::new().append(true).open(transcript).unwrap();
    writeln!(file, "{line}").unwrap();
    let payload = json!({"session_id": "s1", "cwd": project.root(), "transcript_path": transcript,
                         "hook_event_name": "Stop"});
    engine.hook(HookEvent::Stop, &HookInput::parse(payload.to_string().as_bytes()).unwrap()).await.unwrap();
    engine.run_jobs_once(project).await.unwrap().created
}

async fn mined(engine: &Engine, project: &Project) -> Vec<cm_core::Memory> {
    let filter = ListFilter { source: Some(Source::Transcript), ..ListFilter::default() };
    engine.list(project, &filter, 100, 0).await.unwrap()
}

#[tokio::test]
async fn past_the_projects_daily_limit_it_works_offline() {
    let server = FakeServer::start(vec![Reply::answer(TWO, 900, 120)]).await;
    let engine = engine(&server, 0, 1_000);
    let dir = tempfile::tempdir().unwrap();
    let (p, transcript) = project(dir.path(), "repo");

    assert_eq!(turn(&engine, &p, &transcript, "CI fails at migrations; we stay on sqlx").await, 2);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].path, "/v1/messages");

    // 1020 tokens used today: the limit of 1000 is reached.
    let created =
        turn(&engine, &p, &transcript, "Remember that the staging database listens on port 6543.").await;
    assert_eq!(created, 1, "mined offline instead");
    assert_eq!(server.requests().len(), 1, "nothing more was sent");
    assert!(mined(&engine, &p).await.iter().any(|m| m.content.contains("port 6543")));
    let usage = engine.stats(&p).await.unwrap().llm;
    assert_eq!((usage.total.requests, usage.total.failures), (1, 0), "a refused call is not a failed one");
}

#[tokio::test]
async fn the_daily_limit_in_all_projects_holds_across_them() {
    let server = FakeServer::start(vec![Reply::answer(TWO, 900, 120), Reply::answer(TWO, 900, 120)]).await;
    let engine = engine(&server, 1_000, 0);
    let dir = tempfile::tempdir().unwrap();
    let (a, ta) = project(dir.path(), "a");
    let (b, tb) = project(dir.path(), "b");

    assert_eq!(turn(&engine, &a, &ta, "CI fails at migrations; we stay on sqlx").await, 2);
    // Project b has used nothing, but a used 1020 of the 1000 for all.
    assert_eq!(turn(&engine, &b, &tb, "Remember that the cache lives in /var/cache/app.").await, 1);
    assert_eq!(server.requests().len(), 1);
    assert!(mined(&engine, &b).await[0].content.contains("/var/cache/app"), "mined offline");
}

#[tokio::test]
async fn without_limits_every_call_is_made() {
    let server = FakeServer::start(vec![Reply::answer(TWO, 900, 120), Reply::answer("NONE", 5_000, 1)]).await;
    let engine = engine(&server, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    let (p, transcript) = project(dir.path(), "repo");
    turn(&engine, &p, &transcript, "CI fails at migrations; we stay on sqlx").await;
    turn(&engine, &p, &transcript, "thanks, that is all").await;
    assert_eq!(server.requests().len(), 2);
}
