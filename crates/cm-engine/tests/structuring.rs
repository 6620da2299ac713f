//! Structuring on save: what the LLM says is used, what it cannot do falls
//! back to the offline structurer, and no save is ever lost to it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cm_core::{Config, Llm, LlmAnswer, LlmCallError, LlmFuture, MemoryType, NewMemory, SaveAction, Source};
use cm_engine::{Engine, Project};

/// A structurer answering from a script, recording what it was shown.
#[derive(Debug)]
struct Scripted {
    answer: Result<&'static str, &'static str>,
    delay: Duration,
    seen: Mutex<Vec<String>>,
}

impl Llm for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn complete<'a>(&'a self, _system: &'a str, user: &'a str) -> LlmFuture<'a> {
        self.seen.lock().unwrap().push(user.to_owned());
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            match self.answer {
                Ok(text) => Ok(LlmAnswer { text: text.to_owned(), prompt_tokens: 10, completion_tokens: 5 }),
                Err(e) => Err(LlmCallError(e.into())),
            }
        })
    }
}

fn engine(
    answer: Result<&'static str, &'static str>,
    delay: Duration,
) -> (Engine, Arc<Scripted>, Project, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::at(dir.path()).unwrap();
    let mut config = Config::default();
    config.structure.timeout_ms = 300;
    let engine = Engine::new(config, None);
    let llm = Arc::new(Scripted { answer, delay, seen: Mutex::new(Vec::new()) });
    engine.set_llm(Some(llm.clone()));
    (engine, llm, project, dir)
}

const GOOD: &str = "Sure! Here it is:\n```xml\n<memory type=\"pattern\" domain=\"database\"><what>Run sqlx \
    migrations before starting the server.</what><when>fresh checkout | after pulling schema changes</when><do>cargo \
    sqlx migrate run; then start the server</do><warn>never edit a landed migration</warn><summary>Migrate before \
    serving</summary><keywords>sqlx, migrations</keywords></memory>\n```";

fn mcp(text: &str) -> NewMemory {
    NewMemory::new(text, Source::Mcp).unwrap()
}

#[tokio::test]
async fn the_llm_structure_is_stored_and_its_type_fills_the_default() {
    let (engine, llm, project, _dir) = engine(Ok(GOOD), Duration::ZERO);
    let note = "migrations: run them before the server, never edit old ones. token=ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let out = engine.save(&project, mcp(note)).await.unwrap();
    assert_eq!(out.action, SaveAction::Created);
    let m = engine.get(&project, out.id.unwrap()).await.unwrap();
    assert_eq!(m.memory_type, MemoryType::Pattern, "the LLM's type replaces the default");
    assert_eq!(m.domain.as_str(), "database");
    let xml = m.structured.unwrap();
    assert!(xml.contains("<what>Run sqlx migrations before starting the server.</what>"), "{xml}");
    assert!(xml.contains("<warn>never edit a landed migration</warn>"), "{xml}");
    assert_eq!(m.summary.as_deref(), Some("Migrate before serving"));
    assert!(llm.seen.lock().unwrap()[0].contains(&m.content), "the note itself is kept");
    assert!(
        !llm.seen.lock().unwrap()[0].contains("ghp_"),
        "secrets are redacted before the LLM sees the note"
    );

    // A type the caller chose is kept.
    let chosen = mcp("migrations before the server, a decision").with_type(MemoryType::Decision);
    let out = engine.save(&project, chosen).await.unwrap();
    assert_eq!(engine.get(&project, out.id.unwrap()).await.unwrap().memory_type, MemoryType::Decision);
}

#[tokio::test]
async fn reject_refuses_claudes_saves_but_never_a_persons() {
    let (engine, _llm, project, _dir) = engine(Ok("REJECT: temporary debugging note"), Duration::ZERO);
    let out = engine.save(&project, mcp("print x here for now")).await.unwrap();
    assert_eq!(out.action, SaveAction::Rejected);
    assert_eq!(out.id, None);
    assert!(out.reason.unwrap().contains("temporary debugging"));
    assert_eq!(engine.stats(&project).await.unwrap().total, 0, "nothing was written");

    let person = NewMemory::new("print x here for now", Source::Cli).unwrap();
    let out = engine.save(&project, person).await.unwrap();
    assert_eq!(out.action, SaveAction::Created, "`claude-memory save` is never second-guessed");
}

#[tokio::test]
async fn a_failing_slow_or_nonsensical_llm_never_loses_a_save() {
    for (answer, delay) in [
        (Err("HTTP 500 from the provider"), Duration::ZERO),
        (Ok("I am not sure what you mean."), Duration::ZERO),
        (Ok(GOOD), Duration::from_secs(5)),
    ] {
        let (engine, _llm, project, _dir) = engine(answer, delay);
        let started = std::time::Instant::now();
        let note = "Always use the staging stack for integration tests; never run them against production.";
        let out = engine.save(&project, mcp(note)).await.unwrap();
        assert_eq!(out.action, SaveAction::Created, "{answer:?}");
        assert!(started.elapsed() < Duration::from_secs(4), "the save waited only structure.timeout_ms");
        let m = engine.get(&project, out.id.unwrap()).await.unwrap();
        assert_eq!(m.content, note);
        let xml = m.structured.expect("structured offline instead");
        assert!(xml.contains("<warn>"), "the offline structurer found the warning: {xml}");
    }
}

#[tokio::test]
async fn without_an_llm_saves_are_structured_offline_and_sources_can_opt_out() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::at(dir.path()).unwrap();
    let mut config = Config::default();
    config.structure.cli = false;
    let engine = Engine::new(config, None);
    let out = engine.save(&project, mcp("We decided to use SQLite instead of Postgres.")).await.unwrap();
    let m = engine.get(&project, out.id.unwrap()).await.unwrap();
    assert_eq!(m.memory_type, MemoryType::Decision);
    assert!(m.structured.unwrap().starts_with("<memory type=\"decision\""));
    let out =
        engine.save(&project, NewMemory::new("We decided on tabs.", Source::Cli).unwrap()).await.unwrap();
    let m = engine.get(&project, out.id.unwrap()).await.unwrap();
    assert_eq!((m.structured, m.memory_type), (None, MemoryType::Context), "cli structuring is off");
}

/// An LLM that takes seconds to start (like `claude -p`): background work only.
#[derive(Debug)]
struct Slow(Scripted);

impl Llm for Slow {
    fn name(&self) -> &str {
        "slow to start"
    }

    fn complete<'a>(&'a self, system: &'a str, user: &'a str) -> LlmFuture<'a> {
        self.0.complete(system, user)
    }

    fn background_only(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn a_save_never_waits_for_a_background_only_llm() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::at(dir.path()).unwrap();
    let engine = Engine::new(Config::default(), None);
    let llm =
        Arc::new(Slow(Scripted { answer: Ok(GOOD), delay: Duration::ZERO, seen: Mutex::new(Vec::new()) }));
    engine.set_llm(Some(llm.clone()));
    let out = engine.save(&project, mcp("run sqlx migrations before starting the server")).await.unwrap();
    assert!(llm.0.seen.lock().unwrap().is_empty(), "the LLM was not asked");
    let m = engine.get(&project, out.id.unwrap()).await.unwrap();
    assert!(m.structured.is_some_and(|s| s.contains("<what>")), "structured offline instead");
    let usage = engine.stats(&project).await.unwrap().llm;
    assert_eq!(usage.total.requests + usage.total.failures, 0, "nothing counted");
}
