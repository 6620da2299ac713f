//! Superseded memories through the real engine: which saves overtake an
//! older memory, what hooks then inject, and the undo.

use std::sync::Arc;

use cm_core::{Config, MemoryType, NewMemory, Source};
use cm_engine::hooks::{HookEvent, HookInput};
use cm_engine::{Engine, Project};
use cm_testkit::HashEmbedder;
use serde_json::json;

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    project: Project,
}

fn fixture(embed: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    let project = Project::at(&root).unwrap();
    project.ensure_data_dir().unwrap();
    let embedder = embed.then(|| Arc::new(HashEmbedder::new(64)) as Arc<dyn cm_core::Embedder>);
    Fixture { engine: Engine::new(Config::default(), embedder), project, _dir: dir }
}

async fn save(f: &Fixture, text: &str, t: MemoryType) -> i64 {
    let new = NewMemory::new(text, Source::Cli).unwrap().with_type(t);
    f.engine.save(&f.project, new).await.unwrap().id.unwrap()
}

/// Saves `old` then `new` in a fresh project, with and without vectors, and
/// returns what the older memory's `superseded_by` became each time.
async fn pair(old: (&str, MemoryType), new: (&str, MemoryType)) -> Vec<(Option<i64>, i64)> {
    let mut seen = Vec::new();
    for embed in [false, true] {
        let f = fixture(embed);
        let old_id = save(&f, old.0, old.1).await;
        let new_id = save(&f, new.0, new.1).await;
        assert_ne!(old_id, new_id, "the second save was taken for a duplicate: {new:?}");
        let store = f.engine.store(&f.project).await.unwrap();
        seen.push((store.get(old_id).await.unwrap().superseded_by, new_id));
        assert_eq!(store.get(new_id).await.unwrap().superseded_by, None, "the newer memory stays live");
    }
    seen
}

#[tokio::test]
async fn a_changed_decision_a_bumped_version_and_a_replaced_fix_supersede() {
    for (old, new) in [
        (
            ("We use MySQL for the main database.", MemoryType::Decision),
            ("We moved the main database from MySQL to Postgres.", MemoryType::Decision),
        ),
        (
            ("The project runs on Node 18.", MemoryType::Fact),
            ("CI and the project upgraded to Node 20.", MemoryType::Fact),
        ),
        // A version alone, no cue word.
        (
            ("Python 3.11 is required to build the docs.", MemoryType::Fact),
            ("Python 3.12 is required to build the docs.", MemoryType::Fact),
        ),
        (
            ("Flaky login test: fix it by freezing the fixture clock in conftest.", MemoryType::Bug),
            (
                "Flaky login test: freezing the clock no longer works; a fake timer in the fixture replaced it.",
                MemoryType::Bug,
            ),
        ),
    ] {
        for (superseded_by, new_id) in pair(old, new).await {
            assert_eq!(superseded_by, Some(new_id), "{old:?} → {new:?}");
        }
    }
}

#[tokio::test]
async fn restatements_other_subjects_and_preferences_do_not_supersede() {
    for (old, new) in [
        // A near-duplicate restatement: no change in it.
        (
            ("The main database is Postgres.", MemoryType::Decision),
            ("Our main database is Postgres, as decided in March.", MemoryType::Decision),
        ),
        // The same change told twice: both carry the cue.
        (
            ("We moved the main database to Postgres.", MemoryType::Decision),
            ("We moved the main database to Postgres last month.", MemoryType::Decision),
        ),
        // Two subjects, both with change words.
        (
            ("We switched the deploy pipeline to GitHub Actions.", MemoryType::Decision),
            ("The deploy docs moved to the wiki.", MemoryType::Fact),
        ),
        (
            ("We migrated the CI runners to ARM machines.", MemoryType::Decision),
            ("Logging switched to the tracing crate.", MemoryType::Decision),
        ),
        // A person's preference never overtakes a fact, nor a fact a preference.
        (
            ("The API server listens on port 8080.", MemoryType::Fact),
            ("The user switched to running the API server on port 9090.", MemoryType::Preference),
        ),
        (
            ("The user prefers running the API server on port 9090.", MemoryType::Preference),
            ("The API server moved to port 8080.", MemoryType::Fact),
        ),
        // Numbered items are not versions.
        (
            ("Decision 3: module m3 keeps its own error enum.", MemoryType::Decision),
            ("Decision 4: module m4 keeps its own error enum.", MemoryType::Decision),
        ),
        // A different version of a different thing.
        (
            ("The project runs on Node 18.", MemoryType::Fact),
            ("The project upgraded Postgres to 16.", MemoryType::Fact),
        ),
    ] {
        for (superseded_by, _) in pair(old, new).await {
            assert_eq!(superseded_by, None, "{old:?} → {new:?}");
        }
    }
}

#[tokio::test]
async fn hooks_skip_a_superseded_memory_search_shows_it_and_undo_restores_it() {
    let f = fixture(false);
    let old = save(&f, "We use MySQL for the main database.", MemoryType::Decision).await;
    let new = save(&f, "We moved the main database from MySQL to Postgres.", MemoryType::Decision).await;

    // Still listed and searchable, marked.
    let hits = f
        .engine
        .search(&f.project, &cm_core::SearchRequest::new("main database MySQL", 10))
        .await
        .unwrap()
        .hits;
    let found = hits.iter().find(|h| h.memory.id == old).expect("a superseded memory is still found");
    assert_eq!(found.memory.superseded_by, Some(new));

    let ask = |session: &str| {
        let payload = json!({
            "session_id": session,
            "cwd": f.project.root(),
            "prompt": "which main database do we use, MySQL or Postgres?",
        });
        HookInput::parse(payload.to_string().as_bytes()).unwrap()
    };
    let context = |answer: &Option<serde_json::Value>| {
        answer
            .as_ref()
            .and_then(|a| a["hookSpecificOutput"]["additionalContext"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    let before = context(&f.engine.hook(HookEvent::UserPromptSubmit, &ask("s1")).await.unwrap());
    assert!(before.contains("to Postgres"), "{before}");
    assert!(!before.contains("We use MySQL"), "a superseded memory was injected: {before}");
    let briefing = f
        .engine
        .hook(HookEvent::SessionStart, &{
            let payload = json!({ "session_id": "s0", "cwd": f.project.root(), "source": "startup" });
            HookInput::parse(payload.to_string().as_bytes()).unwrap()
        })
        .await
        .unwrap();
    assert!(!context(&briefing).contains("We use MySQL"), "{briefing:?}");

    // The undo: live again, injected again.
    let restored = f.engine.unsupersede(&f.project, old).await.unwrap();
    assert_eq!(restored.superseded_by, None);
    let after = context(&f.engine.hook(HookEvent::UserPromptSubmit, &ask("s2")).await.unwrap());
    assert!(after.contains("We use MySQL"), "{after}");
}

#[tokio::test]
async fn a_memory_mined_from_a_transcript_supersedes_too() {
    let f = fixture(true);
    let old = save(&f, "We use MySQL for the main database.", MemoryType::Decision).await;
    let mined = NewMemory::new("We moved the main database from MySQL to Postgres.", Source::Transcript)
        .unwrap()
        .with_type(MemoryType::Decision);
    let commit = f.engine.save_mined(&f.project, vec![mined], None, None).await.unwrap();
    let cm_engine::MinedCommit::Saved(saved) = commit else { panic!("{commit:?}") };
    let store = f.engine.store(&f.project).await.unwrap();
    assert_eq!(store.get(old).await.unwrap().superseded_by, Some(saved[0].0));
}
