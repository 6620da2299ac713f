//! Transcript extraction and cluster merging with an LLM behind a local
//! server speaking the OpenAI protocol, through a real engine and real
//! project databases: what the LLM finds is saved with provenance, NONE saves
//! nothing, a failing LLM falls back to the offline heuristics, and tokens are
//! counted per project.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use cm_core::{Config, Domain, MemoryType, NewMemory, Source};
use cm_engine::hooks::{HookEvent, HookInput};
use cm_engine::{Engine, ListFilter, Project};
use cm_llm::{LlmClient, LlmConfig, Provider, Secret};
use cm_testkit::HashEmbedder;
use cm_testkit::openai::{FakeServer, Reply};
use serde_json::json;

struct Fx {
    server: FakeServer,
    engine: Engine,
    project: Project,
    transcript: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn fx(script: Vec<Reply>, config: Config, embed: bool) -> Fx {
    let server = FakeServer::start(script).await;
    let provider = Provider::OpenAi { model: "gpt-test".into(), base_url: Some(server.url.clone()) };
    let llm_config =
        LlmConfig { provider, timeout_ms: 2_000, max_retries: 1, retry_base_ms: 10, ..LlmConfig::default() };
    let client = LlmClient::new(llm_config, Some(Secret::new("sk-test-key"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    let project = Project::at(&root).unwrap();
    project.ensure_data_dir().unwrap();
    let embedder: Option<Arc<dyn cm_core::Embedder>> =
        if embed { Some(Arc::new(HashEmbedder::new(64))) } else { None };
    let engine = Engine::new(config, embedder);
    engine.set_llm(Some(Arc::new(client)));
    let transcript = dir.path().join("session.jsonl");
    std::fs::write(&transcript, "").unwrap();
    Fx { server, engine, project, transcript, _dir: dir }
}

fn user(text: &str) -> String {
    json!({"type": "user", "isSidechain": false, "message": {"role": "user", "content": text}}).to_string()
}

fn say(id: &str, text: &str) -> String {
    json!({"type": "assistant", "isSidechain": false,
           "message": {"id": id, "role": "assistant", "content": [{"type": "text", "text": text}]}})
    .to_string()
}

fn append(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

async fn hook(f: &Fx, event: HookEvent, session: &str) {
    let payload = json!({"session_id": session, "cwd": f.project.root(), "transcript_path": f.transcript,
                         "hook_event_name": event.as_str(), "reason": "other"});
    let input = HookInput::parse(payload.to_string().as_bytes()).unwrap();
    f.engine.hook(event, &input).await.unwrap();
}

async fn mined(f: &Fx) -> Vec<cm_core::Memory> {
    let filter = ListFilter { source: Some(Source::Transcript), ..ListFilter::default() };
    let mut all = f.engine.list(&f.project, &filter, 100, 0).await.unwrap();
    all.sort_by_key(|m| m.id);
    all
}

const TWO: &str = "<memory type=\"bug\" domain=\"database\"><what>Migrations failed on CI because \
    DATABASE_URL pointed at port 5432 instead of 6543.</what><do>export DATABASE_URL with port 6543; rerun \
    sqlx migrate run</do><summary>CI migrations need port 6543</summary><keywords>ci, migrations, port</keywords>\
    </memory>\n<memory type=\"decision\" domain=\"database\"><what>The team uses sqlx rather than diesel, for \
    compile-time checked queries.</what><warn>do not add diesel</warn></memory>";

#[tokio::test]
async fn the_llm_extracts_memories_with_provenance_and_reads_only_new_lines() {
    let f =
        fx(vec![Reply::answer(TWO, 900, 120), Reply::answer("NONE", 400, 1)], Config::default(), false).await;
    append(
        &f.transcript,
        &[
            user("CI fails at migrations again; token is ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            say(
                "m1",
                "DATABASE_URL used 5432; the pooler listens on 6543. I changed it and migrations pass.",
            ),
            user("good. we stay on sqlx, not diesel."),
        ],
    );
    hook(&f, HookEvent::Stop, "s1").await;
    let report = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((report.done, report.created), (1, 2));
    let memories = mined(&f).await;
    assert_eq!(memories.len(), 2);
    let bug = &memories[0];
    assert_eq!((bug.memory_type, bug.domain.as_str()), (MemoryType::Bug, "database"));
    assert!(
        bug.content.starts_with("Migrations failed on CI") && bug.content.contains("Do: export DATABASE_URL")
    );
    assert_eq!(bug.summary.as_deref(), Some("CI migrations need port 6543"));
    assert_eq!(bug.provenance.session_id.as_deref(), Some("s1"));
    assert_eq!((bug.provenance.transcript_start, bug.provenance.transcript_end), (Some(1), Some(3)));
    assert_eq!(memories[1].memory_type, MemoryType::Decision);

    let requests = f.server.requests();
    assert_eq!(requests.len(), 1, "already structured: saving does not ask again");
    let body = requests[0].body.to_string();
    assert!(body.contains("User: CI fails at migrations again") && body.contains("NONE"), "{body}");
    assert!(!body.contains("ghp_abcdef"), "secrets are redacted before the LLM sees the conversation");

    // Appended lines: only they are sent; NONE saves nothing.
    append(&f.transcript, &[user("thanks, that is all for today")]);
    hook(&f, HookEvent::Stop, "s1").await;
    let report = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((report.done, report.created), (1, 0));
    let requests = f.server.requests();
    assert_eq!(requests.len(), 2);
    let body = requests[1].body.to_string();
    assert!(body.contains("that is all for today") && !body.contains("CI fails"), "{body}");

    let usage = f.engine.stats(&f.project).await.unwrap().llm;
    assert_eq!(usage.by_purpose["extract"].requests, 2);
    assert_eq!((usage.total.prompt_tokens, usage.total.completion_tokens), (1300, 121));
}

#[tokio::test]
async fn a_failing_llm_falls_back_to_the_offline_heuristics() {
    let script =
        vec![Reply::status(500, "down"), Reply::status(500, "down"), Reply::answer("I cannot help", 5, 5)];
    let f = fx(script, Config::default(), false).await;
    append(&f.transcript, &[user("Remember that the staging database listens on port 6543.")]);
    hook(&f, HookEvent::Stop, "s1").await;
    let report = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!((report.done, report.created), (1, 1), "mined offline, job done");
    assert!(mined(&f).await[0].content.contains("port 6543"));
    assert_eq!(f.engine.stats(&f.project).await.unwrap().llm.by_purpose["extract"].failures, 1);

    // Nonsense is no better than an error.
    append(&f.transcript, &[user("Remember that the cache lives in /var/cache/app.")]);
    hook(&f, HookEvent::Stop, "s1").await;
    let report = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert_eq!(report.created, 1);
    assert!(mined(&f).await[1].content.contains("/var/cache/app"));
}

#[tokio::test]
async fn compact_summaries_are_read_by_the_llm() {
    let answer = "<memory type=\"preference\"><what>The user wants every PR to pass clippy with -D warnings.</what>\
        </memory>";
    let f = fx(vec![Reply::answer(answer, 300, 30)], Config::default(), false).await;
    let payload = json!({"session_id": "s2", "cwd": f.project.root(), "transcript_path": f.transcript,
                         "hook_event_name": "PostCompact", "trigger": "auto",
                         "compact_summary": "The user asked that every PR passes clippy with -D warnings."});
    let input = HookInput::parse(payload.to_string().as_bytes()).unwrap();
    f.engine.hook(HookEvent::PostCompact, &input).await.unwrap();
    let report = f.engine.run_jobs_once(&f.project).await.unwrap();
    assert!(report.created >= 1, "{report:?}");
    let memories = mined(&f).await;
    assert!(memories.iter().any(|m| m.memory_type == MemoryType::Preference && m.content.contains("clippy")));
    let body = f.server.requests()[0].body.to_string();
    assert!(body.contains("every PR passes clippy"), "{body}");
}

const MIGRATIONS: [&str; 5] = [
    "sqlx migrations run before the server starts in every environment",
    "run sqlx migrations before the server starts on staging",
    "sqlx migrations must run before the server starts in production",
    "before the server starts, sqlx migrations run automatically",
    "sqlx migrations run before the server starts, even in tests",
];

async fn seed_cluster(f: &Fx) -> Vec<i64> {
    let mut ids = Vec::new();
    for text in MIGRATIONS {
        let new = NewMemory::new(text, Source::Cli)
            .unwrap()
            .with_domain(Domain::parse("database").unwrap())
            .with_type(MemoryType::Pattern)
            .with_confidence(0.8)
            .unwrap();
        ids.push(f.engine.save(&f.project, new).await.unwrap().id.unwrap());
    }
    ids
}

fn no_structuring() -> Config {
    let mut config = Config::default();
    config.structure.cli = false;
    config
}

#[tokio::test]
async fn the_llm_writes_the_merge_and_unmerge_restores_the_sources() {
    let merged = "<memory type=\"pattern\" domain=\"database\"><what>Run sqlx migrations before the server starts, \
        in every environment.</what><when>deploys | tests</when><do>sqlx migrate run; then start</do>\
        <warn>never start first</warn><summary>Migrate before serving</summary></memory>";
    let f = fx(vec![Reply::answer(merged, 700, 90)], no_structuring(), true).await;
    let ids = seed_cluster(&f).await;
    let store = f.engine.store(&f.project).await.unwrap();
    let cluster = store.get(ids[0]).await.unwrap().cluster_id.unwrap();
    let id = f.engine.merge_cluster(&f.project, cluster).await.unwrap();
    let m = f.engine.get(&f.project, id).await.unwrap();
    assert_eq!((m.memory_type, m.source), (MemoryType::Skill, Source::Merge));
    assert_eq!(m.confidence, 0.9);
    assert!(m.content.contains("in every environment"));
    assert!(m.structured.unwrap().contains("<do>sqlx migrate run; then start</do>"));
    let body = f.server.requests()[0].body.to_string();
    assert!(MIGRATIONS.iter().all(|t| body.contains(t)), "every source is shown to the LLM");
    assert_eq!(f.engine.stats(&f.project).await.unwrap().llm.by_purpose["merge"].requests, 1);

    let restored = f.engine.unmerge_cluster(&f.project, cluster).await.unwrap();
    assert_eq!(restored, ids);
    for (id, text) in ids.iter().zip(MIGRATIONS) {
        let m = f.engine.get(&f.project, *id).await.unwrap();
        assert!(!m.archived && m.content == text);
    }
}

#[tokio::test]
async fn a_session_end_clusters_the_unclustered_and_merges_mature_clusters() {
    // The LLM's merge is unusable: the offline union is written instead.
    let f = fx(vec![Reply::answer("Sorry, I cannot merge these.", 10, 5)], no_structuring(), true).await;
    // Saved while no model was active: no vectors, no clusters.
    let plain = Engine::new(no_structuring(), None);
    let mut ids = Vec::new();
    for text in MIGRATIONS {
        let new = NewMemory::new(text, Source::Cli).unwrap().with_domain(Domain::parse("database").unwrap());
        let new = new.with_confidence(0.8).unwrap();
        ids.push(plain.save(&f.project, new).await.unwrap().id.unwrap());
    }
    plain.close().await;
    f.engine.reembed(&f.project, |_, _| {}).await.unwrap();
    assert!(f.engine.get(&f.project, ids[0]).await.unwrap().cluster_id.is_none());

    hook(&f, HookEvent::SessionEnd, "s3").await;
    f.engine.run_jobs_once(&f.project).await.unwrap();
    let first = f.engine.get(&f.project, ids[0]).await.unwrap();
    assert!(first.archived, "the mature cluster was merged and its sources archived");
    let skills = f
        .engine
        .list(
            &f.project,
            &ListFilter { memory_type: Some(MemoryType::Skill), ..ListFilter::default() },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(skills.len(), 1);
    assert!(skills[0].content.contains("even in tests"), "the offline union keeps every source's line");
}
