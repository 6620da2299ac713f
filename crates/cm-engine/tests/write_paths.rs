//! Every write path treats a memory the same way: one redaction of every
//! field, one rule for what is embedded, one way to open a project.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cm_core::{Config, EmbedKind, Embedder, NewMemory, SearchRequest, Source};
use cm_engine::{Engine, ExportFormat, ListFilter, MemoryPatch, Project};
use cm_testkit::HashEmbedder;

/// A GitHub token: the redactor knows its shape in any field.
const SECRET: &str = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
/// The part of [`SECRET`] that must never reach the disk, in any case.
const SECRET_BODY: &str = "abcdefghijklmnopqrstuvwxyz0123456789";

fn project(root: &Path, name: &str) -> Project {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    Project::at(&dir).unwrap()
}

/// Every byte the project's database holds on disk (file and WAL), lower-cased.
fn raw_bytes(p: &Project) -> String {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(p.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("memory.db") {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    String::from_utf8_lossy(&all).to_lowercase()
}

#[tokio::test]
async fn a_secret_in_tags_or_keywords_is_never_stored_by_import() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let (a, b) = (project(tmp.path(), "a"), project(tmp.path(), "b"));
    engine
        .save(&a, NewMemory::new("The deploy script lives in ops/deploy.sh", Source::Cli).unwrap())
        .await
        .unwrap();
    let export = engine.export(&a, ExportFormat::Jsonl).await.unwrap();
    let mut line: serde_json::Value = serde_json::from_str(export.lines().next().unwrap()).unwrap();
    line["tags"] = serde_json::json!([SECRET, "deploy"]);
    line["keywords"] = serde_json::json!([SECRET]);
    line["summary"] = serde_json::json!(format!("uses {SECRET}"));
    let report = engine.import_jsonl(&b, &format!("{line}\n")).await.unwrap();
    assert_eq!(report.imported.len(), 1, "{report:?}");
    let m = engine.get(&b, report.imported[0]).await.unwrap();
    assert!(m.tags.contains(&"deploy".to_owned()), "{:?}", m.tags);
    engine.close().await;
    assert!(!raw_bytes(&b).contains(SECRET_BODY), "the token reached the database");
}

#[tokio::test]
async fn a_secret_in_tags_is_never_stored_by_update() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let a = project(tmp.path(), "a");
    let id = engine
        .save(&a, NewMemory::new("Staging runs on the blue cluster", Source::Cli).unwrap())
        .await
        .unwrap()
        .id
        .unwrap();
    let patch = MemoryPatch {
        tags: Some(vec![SECRET.to_owned(), "staging".to_owned()]),
        summary: Some(format!("token {SECRET}")),
        ..MemoryPatch::default()
    };
    let m = engine.update(&a, id, patch).await.unwrap();
    assert!(m.tags.contains(&"staging".to_owned()), "{:?}", m.tags);
    assert!(!format!("{m:?}").to_lowercase().contains(SECRET_BODY));
    engine.close().await;
    assert!(!raw_bytes(&a).contains(SECRET_BODY), "the token reached the database");
}

#[tokio::test]
async fn a_secret_in_a_tag_is_redacted_before_it_is_lower_cased() {
    // `AKIA…` is only an AWS key in upper case: normalising first would hide it.
    let aws = "AKIAQWERTYUIOPASDFGH";
    let m = NewMemory::new("note", Source::Cli).unwrap().with_tags(&[aws]).unwrap();
    assert!(!m.tags.iter().any(|t| t.contains(&aws.to_lowercase())), "{:?}", m.tags);
}

/// The vector stored for memory `id` of `p`, and the one its stored text
/// should have: content, then the summary when the content does not hold it.
async fn vectors_of(engine: &Engine, p: &Project, id: i64) -> (Vec<f32>, Vec<f32>) {
    let m = engine.get(p, id).await.unwrap();
    let text = match m.summary.as_deref() {
        Some(s) if !s.is_empty() && !m.content.contains(s) => format!("{}\n{s}", m.content),
        _ => m.content.clone(),
    };
    let embedder = engine.embedder().unwrap();
    let want = embedder.embed(&[text], EmbedKind::Passage).await.unwrap().remove(0);
    (stored_vector(engine, p, id).await, want)
}

/// The vector stored for memory `id` of `p`.
async fn stored_vector(engine: &Engine, p: &Project, id: i64) -> Vec<f32> {
    let store = engine.store(p).await.unwrap();
    let model = engine.embedder().unwrap().model_id().to_owned();
    let space = store.space(&model).await.unwrap().unwrap();
    let all = store.live_vectors(&space, 1000).await.unwrap();
    all.into_iter().find(|(m, _, _)| *m == id).map(|(_, _, v)| v).expect("the memory has a vector")
}

#[tokio::test]
async fn the_same_memory_gets_the_same_vector_by_every_path() {
    let tmp = tempfile::tempdir().unwrap();
    let embedder: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(64));
    let engine = Engine::new(Config::default(), Some(embedder.clone()));
    let content = "Deploys go through the helm chart in ops/chart with the prod values file";
    let summary = "Deploy with helm and the prod values";
    let note = || {
        let mut m = NewMemory::new(content, Source::Cli).unwrap();
        m.summary = Some(summary.to_owned());
        m
    };
    let text = format!("{content}\n{summary}");
    let expected = embedder.embed(&[text], EmbedKind::Passage).await.unwrap().remove(0);
    let mut vectors = Vec::new();

    // A save (its structurer may rewrite the summary: the stored text counts).
    let saved = project(tmp.path(), "save");
    let id = engine.save(&saved, note()).await.unwrap().id.unwrap();
    let (got, want) = vectors_of(&engine, &saved, id).await;
    vectors.push(("save", got, want));

    // An import of the save's export: the same stored text, the same vector.
    let imported = project(tmp.path(), "import");
    let export = engine.export(&saved, ExportFormat::Jsonl).await.unwrap();
    let id = engine.import_jsonl(&imported, &export).await.unwrap().imported[0];
    let (got, want) = vectors_of(&engine, &imported, id).await;
    assert_eq!(got, vectors[0].1, "an import has the vector of the memory it copies");
    vectors.push(("import", got, want));

    // A recorded memory, stored as given.
    let recorded = project(tmp.path(), "record");
    let id = engine.record(&recorded, vec![(note(), 1_700_000_000_000)]).await.unwrap()[0].id.unwrap();
    vectors.push(("record", stored_vector(&engine, &recorded, id).await, expected.clone()));

    // An edit that makes another memory this one.
    let edited = project(tmp.path(), "update");
    let other = NewMemory::new("Something else entirely about caching layers", Source::Cli).unwrap();
    let id = engine.save(&edited, other).await.unwrap().id.unwrap();
    let patch = MemoryPatch {
        content: Some(content.to_owned()),
        summary: Some(summary.to_owned()),
        ..MemoryPatch::default()
    };
    engine.update(&edited, id, patch).await.unwrap();
    vectors.push(("update", stored_vector(&engine, &edited, id).await, expected.clone()));

    // A memory saved without a model, embedded when one is activated.
    let later = project(tmp.path(), "reembed");
    engine.set_embedder(None);
    let id = engine.save(&later, note()).await.unwrap().id.unwrap();
    engine.set_embedder(Some(embedder.clone()));
    engine.reembed(&later, |_, _| {}).await.unwrap();
    let (got, want) = vectors_of(&engine, &later, id).await;
    assert_eq!(got, vectors[0].1, "re-embedding gives a saved memory the vector its save gave");
    vectors.push(("reembed", got, want));

    for (path, got, want) in &vectors {
        let diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(got.len() == want.len() && diff < 1e-5, "{path}: differs by {diff}");
    }
}

#[tokio::test]
async fn reads_never_create_a_project() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let p = project(tmp.path(), "plain-folder");
    // Nothing to find there, and nothing made.
    assert!(engine.search(&p, &SearchRequest::new("anything", 5)).await.unwrap().hits.is_empty());
    assert!(engine.list(&p, &ListFilter::default(), 10, 0).await.unwrap().is_empty());
    assert_eq!(engine.stats(&p).await.unwrap().total, 0);
    let err = engine.get(&p, 1).await.unwrap_err();
    assert!(err.to_string().contains("is not a claude-memory project"), "{err}");
    assert!(engine.missing_vectors(&p).await.is_err() || !p.data_dir().exists());
    assert!(!p.data_dir().exists(), "a read created {}", p.data_dir().display());
    // An explicit save does.
    engine.save(&p, NewMemory::new("first note", Source::Cli).unwrap()).await.unwrap();
    assert!(p.db_path().is_file());
    assert_eq!(engine.stats(&p).await.unwrap().total, 1);
}

/// Holds an exclusive lock on a fresh database in rollback-journal mode, so
/// opening it (which switches it to WAL) waits for SQLite's busy timeout.
fn lock_database(p: &Project) -> std::process::Child {
    std::fs::create_dir_all(p.data_dir()).unwrap();
    let script = format!(
        "import sqlite3, sys, time\n\
         c = sqlite3.connect({path:?}, isolation_level=None)\n\
         c.execute('PRAGMA journal_mode=DELETE'); c.execute('CREATE TABLE IF NOT EXISTS held(x)')\n\
         c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)\n",
        path = p.db_path().display().to_string()
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_project_does_not_delay_another_projects_hook() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let (slow, quick) = (project(tmp.path(), "slow"), project(tmp.path(), "quick"));
    engine
        .save(&quick, NewMemory::new("The release branch is cut on Mondays", Source::Cli).unwrap())
        .await
        .unwrap();
    let mut holder = lock_database(&slow);
    let waiting = {
        let (engine, slow) = (engine.clone(), slow.clone());
        tokio::spawn(async move { engine.search(&slow, &SearchRequest::new("release", 5)).await })
    };
    // Let the slow project's open start and wait on SQLite's lock.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hits = engine.search(&quick, &SearchRequest::new("release branch", 5)).await.unwrap();
    assert_eq!(hits.hits.len(), 1);
    assert!(!waiting.is_finished(), "the locked project should still be opening");
    holder.kill().unwrap();
    let _ = holder.wait();
    waiting.abort();
}

#[cfg(unix)]
#[tokio::test]
async fn a_projects_memories_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let p = project(tmp.path(), "private");
    engine.save(&p, NewMemory::new("The VPN config lives in ops/vpn", Source::Cli).unwrap()).await.unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&p.data_dir()), 0o700);
    assert_eq!(mode(&p.db_path()), 0o600);
    // A database an older version left readable is tightened when opened.
    engine.close().await;
    std::fs::set_permissions(p.db_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = Engine::new(Config::default(), None);
    again.stats(&p).await.unwrap();
    assert_eq!(mode(&p.db_path()), 0o600);
}

#[tokio::test]
async fn saves_after_the_data_folder_was_deleted_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path(), "repo");
    let engine = Engine::new(Config::default(), None);
    let save = async |text: &str| {
        engine.save(&p, NewMemory::new(text, Source::Cli).unwrap()).await.unwrap().id.unwrap()
    };
    save("Written before the folder was cleaned.").await;
    // `git clean -xdf` while the engine runs.
    std::fs::remove_dir_all(p.data_dir()).unwrap();
    // A read finds no project (and creates none) instead of the deleted file's memories.
    let listed = engine.list(&p, &ListFilter::default(), 10, 0).await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert!(!p.data_dir().exists());
    // An acknowledged save lands in a new database, not in the unlinked file.
    let id = save("Written after the folder was cleaned.").await;
    engine.close().await;

    let reopened = Engine::new(Config::default(), None);
    let all = reopened.list(&p, &ListFilter::default(), 10, 0).await.unwrap();
    assert_eq!(
        all.iter().map(|m| (m.id, m.content.as_str())).collect::<Vec<_>>(),
        [(id, "Written after the folder was cleaned.")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_import_commits_in_batches_and_lets_saves_in_between() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let (a, b) = (project(tmp.path(), "a"), project(tmp.path(), "b"));
    engine
        .save(&a, NewMemory::new("The deploy script lives in ops/deploy.sh", Source::Cli).unwrap())
        .await
        .unwrap();
    let export = engine.export(&a, ExportFormat::Jsonl).await.unwrap();
    let template: serde_json::Value = serde_json::from_str(export.lines().next().unwrap()).unwrap();
    let lines: Vec<String> = (0..1200)
        .map(|i| {
            let mut line = template.clone();
            line["id"] = serde_json::json!(i + 1);
            line["content"] = serde_json::json!(format!("imported note number {i}, one of many"));
            line.to_string()
        })
        .collect();

    // Another process's engine on the same project: its save needs the
    // write lock, which an import holding one long transaction would keep
    // for the whole file (the save would wait out its busy timeout).
    let other = Engine::new(Config::default(), None);
    let mut saved_between = Vec::new();
    let mut reports = Vec::new();
    let report = engine
        .import_jsonl_with_progress(&b, &lines.join("\n"), |done, total| {
            reports.push((done, total));
            if done < total {
                let note =
                    NewMemory::new(&format!("saved while the import ran, after {done} lines"), Source::Cli);
                let outcome = tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(other.save(&b, note.unwrap()))
                })
                .expect("a save between two batches is not blocked by the import");
                saved_between.push(outcome.id.unwrap());
            }
        })
        .await
        .unwrap();
    assert_eq!(reports, [(500, 1200), (1000, 1200), (1200, 1200)]);
    assert_eq!(report.imported.len(), 1200);
    assert_eq!(saved_between.len(), 2);
    for id in saved_between {
        assert!(engine.get(&b, id).await.unwrap().content.starts_with("saved while the import ran"));
    }
    other.close().await;
    engine.close().await;
}

/// The ids a hook names are stored with every injection, hook call and
/// job: whatever a payload puts in them is redacted like any other field.
#[tokio::test]
async fn a_secret_in_a_hooks_session_or_agent_id_is_never_stored() {
    use cm_engine::hooks::{HookEvent, HookInput};
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let p = project(tmp.path(), "p");
    let new = NewMemory::new("The release checklist lives in docs/release.md", Source::Cli).unwrap();
    engine.save(&p, new).await.unwrap();
    let session = format!("sess-{SECRET}");
    let payloads = [
        (HookEvent::UserPromptSubmit, serde_json::json!({ "prompt": "where is the release checklist" })),
        (
            HookEvent::SubagentStop,
            serde_json::json!({ "agent_id": SECRET, "agent_transcript_path": "/x/a.jsonl" }),
        ),
        (HookEvent::SessionEnd, serde_json::json!({ "transcript_path": "/x/t.jsonl", "reason": "exit" })),
    ];
    for (event, mut payload) in payloads {
        payload["session_id"] = session.clone().into();
        payload["cwd"] = p.root().display().to_string().into();
        let input = HookInput::parse(payload.to_string().as_bytes()).unwrap();
        engine.hook(event, &input).await.unwrap();
    }
    // Hook calls and injections are recorded after answering.
    let store = engine.store(&p).await.unwrap();
    for _ in 0..500 {
        if store.hook_calls().await.unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.hook_calls().await.unwrap().len(), 3);
    assert!(!store.jobs(None, 10).await.unwrap().is_empty(), "the transcripts were queued");
    engine.close().await;
    assert!(!raw_bytes(&p).contains(SECRET_BODY), "a hook's id reached the database");
}
