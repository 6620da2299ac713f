//! Team memory through two real engines with separate homes (two teammates)
//! sharing a project over a real PostgreSQL with pgvector.

use std::sync::Arc;

use cm_core::{Config, MemoryType, NewMemory, SearchMode, SearchRequest, Source};
use cm_engine::hooks::{HookEvent, HookInput};
use cm_engine::team::LinkRequest;
use cm_engine::{Engine, Project};
use cm_team::TeamUrl;
use cm_testkit::HashEmbedder;
use cm_testkit::postgres::PgServer;
use serde_json::json;

struct Mate {
    _dir: tempfile::TempDir,
    engine: Engine,
    project: Project,
    name: &'static str,
}

/// Polls `ready` every 20 ms for up to 30 s.
fn wait_until(mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "gave up waiting after 30 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A team database with its schema and one team role; returns the role's URL
/// (password included) and the database's name.
fn team_database(pg: &PgServer) -> (TeamUrl, String) {
    let db = pg.create_database("mates");
    let role = format!("{db}_team");
    pg.psql("postgres", &format!("CREATE ROLE {role} LOGIN PASSWORD 'secret-{role}'")).unwrap();
    let admin = TeamUrl::parse(&pg.admin_url(&db)).unwrap();
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(cm_team::migrate(&admin)).unwrap();
    });
    pg.psql("postgres", &format!("GRANT claude_memory_teams TO {role}")).unwrap();
    (TeamUrl::parse(&pg.url(&role, &format!("secret-{role}"), &db)).unwrap(), db)
}

async fn mate(name: &'static str, url: &TeamUrl, share_types: Vec<MemoryType>) -> Mate {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shop");
    std::fs::create_dir_all(&root).unwrap();
    let project = Project::at(&root).unwrap();
    project.ensure_data_dir().unwrap();
    let engine =
        Engine::new(Config::default(), Some(Arc::new(HashEmbedder::new(64)) as Arc<dyn cm_core::Embedder>));
    let status = engine
        .team_link(
            &project,
            LinkRequest {
                url: url.clone(),
                team_key: "github.com/acme/shop".to_owned(),
                author: name.to_owned(),
                origin: format!("{name}@laptop"),
                share_types,
                share_min_confidence: 0.5,
            },
        )
        .await
        .unwrap();
    assert_eq!(status.link.url, url.url, "the link keeps the URL without its password");
    Mate { _dir: dir, engine, project, name }
}

impl Mate {
    async fn save(&self, text: &str, t: MemoryType) -> i64 {
        let new = NewMemory::new(text, Source::Cli).unwrap().with_type(t);
        self.engine.save(&self.project, new).await.unwrap().id.unwrap()
    }

    async fn sync(&self, url: &TeamUrl) -> cm_engine::team::SyncReport {
        self.engine.team_sync(&self.project, url.password.as_deref()).await.unwrap()
    }

    async fn injected(&self, prompt: &str) -> String {
        let payload = json!({ "session_id": format!("{}-{prompt}", self.name), "cwd": self.project.root(), "prompt": prompt });
        let answer = self
            .engine
            .hook(HookEvent::UserPromptSubmit, &HookInput::parse(payload.to_string().as_bytes()).unwrap())
            .await
            .unwrap();
        answer
            .as_ref()
            .and_then(|a| a["hookSpecificOutput"]["additionalContext"].as_str())
            .unwrap_or("")
            .to_owned()
    }

    async fn store(&self) -> cm_store::Store {
        self.engine.store(&self.project).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_memory_reaches_a_teammate_and_edits_and_archives_follow() {
    let pg = PgServer::shared();
    let (url, db) = team_database(pg);
    let alice = mate("alice", &url, vec![]).await;
    let bob = mate("bob", &url, vec![]).await;

    let id = alice
        .save("Deploys go through the blue-green pipeline in deploy/bluegreen.yml", MemoryType::Decision)
        .await;
    alice.engine.share(&alice.project, id, true).await.unwrap();
    let report = alice.sync(&url).await;
    assert_eq!(report.published, 1, "{report:?}");
    let report = bob.sync(&url).await;
    assert_eq!(report.inserted, 1, "{report:?}");

    let context = bob.injected("how do deploys work with the blue-green pipeline?").await;
    assert!(context.contains("blue-green pipeline"), "bob's prompt did not get alice's memory: {context}");
    assert!(
        context.contains("from teammate alice"),
        "a teammate's memory is labelled with its author: {context}"
    );

    // Alice edits; bob gets the edit, and the old version is in the team's history.
    alice
        .engine
        .update(
            &alice.project,
            id,
            cm_store::MemoryPatch {
                content: Some("Deploys go through the canary pipeline in deploy/canary.yml".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    alice.sync(&url).await;
    assert_eq!(bob.sync(&url).await.updated, 1);
    let bobs = bob.store().await.list(&Default::default(), 100, 0).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert!(bobs[0].content.contains("canary pipeline"), "{:?}", bobs[0].content);
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM cm_team_history").unwrap(), "1");

    // Bob archives it (a team memory's edits propagate whoever makes them).
    bob.engine.set_archived(&bob.project, bobs[0].id, true).await.unwrap();
    bob.sync(&url).await;
    alice.sync(&url).await;
    assert!(alice.store().await.get(id).await.unwrap().archived, "bob's archive reached alice");
    // And her searches: the vector scan filters on its own copy of the flag.
    for mode in [SearchMode::Vector, SearchMode::Hybrid] {
        let mut req = SearchRequest::new("deploys canary pipeline", 5);
        req.mode = mode;
        let hits = alice.engine.search(&alice.project, &req).await.unwrap().hits;
        assert!(hits.iter().all(|h| h.memory.id != id), "{mode:?} found the archived memory");
    }

    // Syncing again changes nothing on either side.
    assert_eq!(alice.sync(&url).await, Default::default());
    assert_eq!(bob.sync(&url).await, Default::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_memories_never_reach_the_team_database() {
    let pg = PgServer::shared();
    let (url, db) = team_database(pg);
    // The rule shares every decision from confidence 0.5.
    let alice = mate("alice", &url, vec![MemoryType::Decision]).await;
    let public = alice.save("We pin Rust 1.95 in rust-toolchain.toml", MemoryType::Decision).await;
    let tagged = alice
        .engine
        .save(
            &alice.project,
            NewMemory::new("The staging box is ours alone: host stage-7", Source::Cli)
                .unwrap()
                .with_type(MemoryType::Decision)
                .with_tags(&["private"])
                .unwrap(),
        )
        .await
        .unwrap()
        .id
        .unwrap();
    let region = alice
        .save("Decided: <private>salary bands live in hr/bands.md</private>", MemoryType::Decision)
        .await;
    let err = alice.engine.share(&alice.project, tagged, true).await.unwrap_err();
    assert!(err.to_string().contains("private"), "{err}");
    let report = alice.sync(&url).await;
    assert_eq!((report.shared_by_rule, report.published), (1, 1), "{report:?}");
    let raw = pg.psql(&db, "SELECT content FROM cm_team_memories").unwrap();
    assert_eq!(raw, "We pin Rust 1.95 in rust-toolchain.toml");
    for text in ["stage-7", "salary", "hr/bands"] {
        for table in ["cm_team_memories", "cm_team_history"] {
            let n =
                pg.psql(&db, &format!("SELECT count(*) FROM {table} WHERE content LIKE '%{text}%'")).unwrap();
            assert_eq!(n, "0", "{text} leaked into {table}");
        }
    }
    let _ = (public, region);

    // A shared memory later made private leaves the team as a tombstone.
    let store = alice.store().await;
    alice
        .engine
        .update(
            &alice.project,
            public,
            cm_store::MemoryPatch { tags: Some(vec!["private".to_owned()]), ..Default::default() },
        )
        .await
        .unwrap();
    alice.sync(&url).await;
    let raw = pg.psql(&db, "SELECT deleted::text || ' ' || content FROM cm_team_memories").unwrap();
    assert_eq!(raw, "true (deleted)");
    assert!(!store.get(public).await.unwrap().content.is_empty(), "the memory itself stays here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_reached_a_memory_is_redacted_again_before_publishing() {
    let pg = PgServer::shared();
    let (url, db) = team_database(pg);
    let alice = mate("alice", &url, vec![]).await;
    let id = alice.save("The deploy token lives in CI settings", MemoryType::Fact).await;
    // Written straight into the file, past the engine's redaction: an older
    // version's memory, or an edit by another tool.
    let secret = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
    let db_path = alice.project.root().join(".claude-memory/memory.db");
    rewrite_behind_the_engine(&db_path, id, &format!("The deploy token is {secret}"));
    alice.engine.share(&alice.project, id, true).await.unwrap();
    alice.sync(&url).await;
    let raw = pg.psql(&db, "SELECT content FROM cm_team_memories").unwrap();
    assert!(!raw.contains(secret), "{raw}");
    assert!(raw.contains("[REDACTED"), "{raw}");
}

/// Rewrites a memory's content through the store alone, bypassing the
/// engine's redaction.
fn rewrite_behind_the_engine(path: &std::path::Path, id: i64, content: &str) {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            let store = cm_store::Store::open(path).await.unwrap();
            store
                .update(
                    id,
                    &cm_store::MemoryPatch { content: Some(content.to_owned()), ..Default::default() },
                )
                .await
                .unwrap();
            store.close().await;
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_from_two_teammates_adds_up() {
    let pg = PgServer::shared();
    let (url, _db) = team_database(pg);
    let alice = mate("alice", &url, vec![]).await;
    let bob = mate("bob", &url, vec![]).await;
    let carol = mate("carol", &url, vec![]).await;
    let id = alice.save("Run cargo test with --workspace, never -p", MemoryType::Pattern).await;
    alice.engine.share(&alice.project, id, true).await.unwrap();
    alice.engine.validate(&alice.project, id, true).await.unwrap();
    alice.sync(&url).await;
    bob.sync(&url).await;
    let bobs = bob.store().await.list(&Default::default(), 10, 0).await.unwrap()[0].id;
    bob.engine.validate(&bob.project, bobs, true).await.unwrap();
    bob.engine.validate(&bob.project, bobs, true).await.unwrap();
    bob.sync(&url).await;
    carol.sync(&url).await;
    let carols = carol.store().await.list(&Default::default(), 10, 0).await.unwrap()[0].id;
    let marks = carol.store().await.team_marks(&[carols]).await.unwrap();
    assert_eq!(marks[&carols].team_evidence, 3, "1 from alice + 2 from bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_mid_sync_loses_and_duplicates_nothing() {
    let pg = PgServer::start_private().unwrap();
    let (url, db) = team_database(&pg);
    let alice = mate("alice", &url, vec![]).await;
    let bob = mate("bob", &url, vec![]).await;
    let mut ids = Vec::new();
    for i in 0..120 {
        let id =
            alice.save(&format!("Service number {i} listens on port {}", 9000 + i), MemoryType::Fact).await;
        alice.engine.share(&alice.project, id, true).await.unwrap();
        ids.push(id);
    }
    alice.save("The billing worker retries payment webhooks five times with backoff", MemoryType::Fact).await;
    // Stop the server while alice publishes: a session holds the team table
    // locked, so her publish is waiting inside the server when it stops.
    let mut locker =
        pg.psql_background(&db, "BEGIN; LOCK TABLE cm_team_memories; SELECT pg_sleep(120)").unwrap();
    let locked = "SELECT count(*) FROM pg_locks WHERE relation = 'cm_team_memories'::regclass AND granted";
    wait_until(|| pg.psql(&db, locked).unwrap() == "1");
    let sync = {
        let engine = alice.engine.clone();
        let project = alice.project.clone();
        let password = url.password.clone();
        tokio::spawn(async move { engine.team_sync(&project, password.as_deref()).await })
    };
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'claude-memory' AND wait_event_type = 'Lock'";
    wait_until(|| pg.psql(&db, waiting).unwrap() == "1");
    pg.stop();
    let _ = locker.kill();
    let _ = locker.wait();
    // Offline at once (not a wait per queued memory): a clear error, recorded
    // for `team status`; hooks still answer from the local copy.
    let started = std::time::Instant::now();
    let e = sync.await.unwrap().unwrap_err();
    assert!(e.to_string().contains("offline"), "{e}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the cut sync took {:?}",
        started.elapsed()
    );
    let status = alice.engine.team_status(&alice.project).await.unwrap().unwrap();
    assert!(status.link.last_error.is_some());
    assert_eq!(status.counts.pending, 120);
    let offline = alice.injected("how many times are payment webhooks retried?").await;
    assert!(offline.contains("retries payment webhooks"), "{offline}");
    // And a sync that starts with the server down fails the same way.
    let err = alice.engine.team_sync(&alice.project, url.password.as_deref()).await.unwrap_err();
    assert!(err.to_string().contains("offline"), "{err}");
    pg.restart().unwrap();
    alice.sync(&url).await;
    let status = alice.engine.team_status(&alice.project).await.unwrap().unwrap();
    assert_eq!((status.counts.pending, status.link.last_error), (0, None));
    assert_eq!(
        pg.psql(&db, "SELECT count(*), count(DISTINCT content) FROM cm_team_memories").unwrap(),
        "120|120"
    );
    assert_eq!(bob.sync(&url).await.inserted, 120);
    assert_eq!(bob.sync(&url).await, Default::default());
}
