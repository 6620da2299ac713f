//! Stale memories through the real engine: a file a memory names is
//! deleted or renamed by a tool call, or found missing at session start;
//! the memory ranks lower and is marked until the file comes back or a
//! person confirms it.

use std::path::Path;
use std::time::Duration;

use cm_core::{Config, MemoryType, NewMemory, SearchRequest, Source};
use cm_engine::hooks::{HookEvent, HookInput};
use cm_engine::{Engine, ListFilter, Project};
use serde_json::{Value, json};

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    project: Project,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        let project = Project::at(&root).unwrap();
        project.ensure_data_dir().unwrap();
        Fixture { engine: Engine::new(Config::default(), None), project, _dir: dir }
    }

    fn root(&self) -> &Path {
        self.project.root()
    }

    fn write(&self, rel: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    }

    async fn save(&self, text: &str) -> i64 {
        let new = NewMemory::new(text, Source::Cli).unwrap().with_type(MemoryType::Fact);
        self.engine.save(&self.project, new).await.unwrap().id.unwrap()
    }

    async fn hook(&self, event: HookEvent, payload: Value) -> Option<Value> {
        let mut payload = payload;
        if payload.get("session_id").is_none() {
            payload["session_id"] = json!("s1");
        }
        payload["cwd"] = json!(self.root());
        let input = HookInput::parse(payload.to_string().as_bytes()).unwrap();
        self.engine.hook(event, &input).await.unwrap()
    }

    async fn bash(&self, command: &str) {
        self.hook(HookEvent::PostToolUse, json!({"tool_name": "Bash", "tool_input": {"command": command}}))
            .await;
    }

    async fn stale(&self, id: i64) -> Option<(String, String)> {
        let m = self.engine.get(&self.project, id).await.unwrap();
        m.stale.map(|s| (s.path, s.reason))
    }

    /// Waits for the work a hook does after answering to show on `id`.
    async fn wait_stale(&self, id: i64, want: bool) -> Option<(String, String)> {
        for _ in 0..200 {
            let s = self.stale(id).await;
            if s.is_some() == want {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("memory {id} never became {}", if want { "stale" } else { "fresh" });
    }

    /// Lets the hook's background work finish when nothing is expected to change.
    async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn pair(s: Option<(String, String)>) -> Option<(&'static str, String)> {
    s.map(|(p, r)| (Box::leak(p.into_boxed_str()) as &str, r))
}

#[tokio::test]
async fn a_deleted_file_makes_its_memories_stale_ranked_lower_and_restoring_it_clears_them() {
    let f = Fixture::new();
    f.write("src/db/migrate.rs");
    f.write("src/parse.rs");
    let by_path = f.save("The migration runner lives in src/db/migrate.rs and runs on startup.").await;
    let by_name = f.save("migrate.rs applies migrations in one transaction per file.").await;
    let other = f.save("Parser errors come from CRLF line endings in src/parse.rs.").await;

    let req = |q: &str| {
        let mut r = SearchRequest::new(q, 10);
        r.touch = false;
        r
    };
    let score = |hits: &[cm_core::SearchHit], id: i64| hits.iter().find(|h| h.memory.id == id).unwrap().score;
    let before = f.engine.search(&f.project, &req("migration runner startup")).await.unwrap().hits;

    // The command really removes it; Claude Code then reports the call.
    std::fs::remove_file(f.root().join("src/db/migrate.rs")).unwrap();
    f.bash("rm -f src/db/migrate.rs").await;
    let s = f.wait_stale(by_path, true).await;
    assert_eq!(pair(s), Some(("src/db/migrate.rs", "deleted".to_owned())));
    assert_eq!(pair(f.wait_stale(by_name, true).await), Some(("src/db/migrate.rs", "deleted".to_owned())));
    assert_eq!(f.stale(other).await, None, "a memory naming another file stays fresh");

    // Ranked lower: the same search scores it by half.
    let after = f.engine.search(&f.project, &req("migration runner startup")).await.unwrap().hits;
    let ratio = score(&after, by_path) / score(&before, by_path);
    assert!((ratio - 0.5).abs() < 1e-3, "stale score ratio {ratio}");

    // Injected (into a new session: the tool calls' session saw it), it says so.
    let prompt = json!({"session_id": "s2", "prompt": "where does the migration runner live on startup"});
    let answer = f
        .hook(HookEvent::UserPromptSubmit, prompt)
        .await
        .expect("the memory is still injected when nothing better matches");
    let text = answer["hookSpecificOutput"]["additionalContext"].as_str().unwrap();
    assert!(text.contains(&format!("[memory #{by_path}")), "{text}");
    assert!(text.contains("may be stale: src/db/migrate.rs deleted"), "{text}");

    // The dashboard's filter lists exactly the stale ones.
    let filter = ListFilter { stale: true, ..ListFilter::default() };
    let mut listed: Vec<i64> =
        f.engine.list(&f.project, &filter, 50, 0).await.unwrap().iter().map(|m| m.id).collect();
    listed.sort();
    assert_eq!(listed, vec![by_path, by_name]);

    // Restored by a Write: fresh again, at full score.
    f.write("src/db/migrate.rs");
    f.hook(
        HookEvent::PostToolUse,
        json!({"tool_name": "Write", "tool_input": {"file_path": f.root().join("src/db/migrate.rs")}}),
    )
    .await;
    f.wait_stale(by_path, false).await;
    f.wait_stale(by_name, false).await;
    let restored = f.engine.search(&f.project, &req("migration runner startup")).await.unwrap().hits;
    assert!((score(&restored, by_path) / score(&before, by_path) - 1.0).abs() < 1e-3);

    // The timeline tells both, with the path and why.
    let timeline = f.engine.timeline(&f.project, None, None, 100).await.unwrap();
    let inferred: Vec<(String, String)> = timeline
        .iter()
        .filter(|e| e.kind == "inference" && e.detail["id"] == by_path && e.what != "followed")
        .map(|e| (e.what.clone(), e.detail["reason"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        inferred,
        vec![
            ("fresh".to_owned(), "src/db/migrate.rs: the file is back".to_owned()),
            ("stale".to_owned(), "src/db/migrate.rs: deleted".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_renamed_file_or_directory_says_where_it_went() {
    let f = Fixture::new();
    f.write("src/a.rs");
    f.write("src/db/pool.rs");
    let file = f.save("The retry policy is in src/a.rs, three attempts with backoff.").await;
    let under_dir = f.save("Connections come from src/db/pool.rs with a limit of ten.").await;

    std::fs::rename(f.root().join("src/a.rs"), f.root().join("src/retry.rs")).unwrap();
    f.bash("git mv src/a.rs src/retry.rs").await;
    assert_eq!(
        pair(f.wait_stale(file, true).await),
        Some(("src/a.rs", "renamed to src/retry.rs".to_owned()))
    );

    std::fs::rename(f.root().join("src/db"), f.root().join("src/store")).unwrap();
    f.bash("mv src/db src/store").await;
    assert_eq!(
        pair(f.wait_stale(under_dir, true).await),
        Some(("src/db/pool.rs", "renamed to src/store/pool.rs".to_owned()))
    );

    // Moved back: both fresh again.
    std::fs::rename(f.root().join("src/retry.rs"), f.root().join("src/a.rs")).unwrap();
    std::fs::rename(f.root().join("src/store"), f.root().join("src/db")).unwrap();
    f.bash("mv src/retry.rs src/a.rs && mv src/store src/db").await;
    f.wait_stale(file, false).await;
    f.wait_stale(under_dir, false).await;
}

#[tokio::test]
async fn commands_that_remove_nothing_flag_nothing() {
    let f = Fixture::new();
    f.write("src/keep.rs");
    let id = f.save("Configuration is parsed in src/keep.rs at startup.").await;
    // The rm failed (the file is still there), the rm was only echoed, the
    // path is outside the project, or another file went away.
    f.bash("rm src/keep.rs || true").await;
    f.bash("echo rm src/keep.rs").await;
    f.bash("rm /tmp/src/keep.rs").await;
    f.write("src/other.rs");
    std::fs::remove_file(f.root().join("src/other.rs")).unwrap();
    f.bash("rm src/other.rs").await;
    f.settle().await;
    assert_eq!(f.stale(id).await, None);
}

#[tokio::test]
async fn session_start_finds_missing_files_and_a_confirmation_sticks() {
    let f = Fixture::new();
    f.write("src/lib.rs");
    let missing = f.save("Feature flags are read in src/flags.rs before the server starts.").await;
    let present = f.save("The crate's entry point is src/lib.rs.").await;
    // A directory that does not exist here, and a bare name: cannot tell.
    let no_dir = f.save("Build notes are in docs/build.md.").await;
    let bare = f.save("flags.rs parses the feature flags.").await;

    f.hook(HookEvent::SessionStart, json!({"source": "startup"})).await;
    assert_eq!(
        pair(f.wait_stale(missing, true).await),
        Some(("src/flags.rs", "missing at session start".to_owned()))
    );
    f.settle().await;
    for id in [present, no_dir, bare] {
        assert_eq!(f.stale(id).await, None, "memory {id}");
    }

    // A person confirms it still holds: fresh, and the next check keeps it so.
    let m = f.engine.confirm_fresh(&f.project, missing).await.unwrap();
    assert!(m.stale.is_none());
    f.hook(HookEvent::SessionStart, json!({"source": "startup"})).await;
    f.settle().await;
    assert_eq!(f.stale(missing).await, None);
    let timeline = f.engine.timeline(&f.project, None, None, 100).await.unwrap();
    assert!(timeline.iter().any(|e| e.kind == "inference"
        && e.what == "fresh"
        && e.detail["reason"] == "src/flags.rs: confirmed by a person"));

    // Confirming an unknown memory is an error and changes nothing.
    let err = f.engine.confirm_fresh(&f.project, 999).await.unwrap_err();
    assert!(err.to_string().contains("999"), "{err}");
}

/// A project's memories are read a page at a time: the oldest, pages
/// behind the newest, are checked at session start and after a tool call
/// all the same.
#[tokio::test]
async fn memories_pages_behind_the_newest_are_checked_too() {
    let f = Fixture::new();
    f.write("src/kept/a.rs");
    f.write("src/old/b.rs");
    f.write("src/tool/c.rs");
    let oldest = f.save("The first importer was src/old/gone.rs.").await;
    let by_tool = f.save("The formatter lives in src/tool/c.rs.").await;
    let filler: Vec<(NewMemory, i64)> = (0..2_500)
        .map(|i| {
            let text = format!("Note {i}: module {} is in src/kept/a.rs.", i * 7);
            (NewMemory::new(&text, Source::Import).unwrap(), 0)
        })
        .collect();
    let store = f.engine.store(&f.project).await.unwrap();
    store.insert_record(&filler, None).await.unwrap();
    let newest = f.save("The exporter is src/new/gone.rs, in a directory that is there.").await;
    std::fs::create_dir_all(f.root().join("src/new")).unwrap();

    let change = f.engine.check_stale(&f.project).await.unwrap();
    let mut flagged = change.flagged.clone();
    flagged.sort();
    assert_eq!(flagged, vec![oldest, newest]);
    assert_eq!(pair(f.stale(oldest).await), Some(("src/old/gone.rs", "missing at session start".to_owned())));

    std::fs::remove_file(f.root().join("src/tool/c.rs")).unwrap();
    f.bash("rm src/tool/c.rs").await;
    assert_eq!(pair(f.wait_stale(by_tool, true).await), Some(("src/tool/c.rs", "deleted".to_owned())));
}
