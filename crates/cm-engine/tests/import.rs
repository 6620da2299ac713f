//! Moving in from other tools: the lenient JSONL import takes any file with
//! a `content` per line, reports every line it refuses (and writes nothing
//! of it), redacts like a save, and adds nothing when run again.

use cm_core::{Config, MemoryType, Source};
use cm_engine::{Engine, ImportFormat, ListFilter, Project};

const SECRET: &str = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";

#[tokio::test]
async fn a_lenient_jsonl_import_takes_what_it_can_and_says_what_it_cannot() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let p = Project::at(tmp.path()).unwrap();
    let text = [
        r#"{"content": "The API gateway times out after 30 seconds", "type": "fact", "domain": "api", "tags": ["gateway"], "confidence": 0.8, "created_at": "2026-05-01T12:00:00Z"}"#,
        r#"{"content": "Use pnpm, never npm, in this repository", "type": "preference", "created_at": 1767225600}"#,
        r#"{"content": "Only content is needed", "extra": {"ignored": true}}"#,
        "",
        r#"{"type": "fact"}"#,
        r#"{"content": "a bad type", "type": "rumour"}"#,
        r#"{"content": "too sure", "confidence": 7}"#,
        "not json at all",
        &format!(r#"{{"content": "The CI token is {SECRET}", "tags": ["{SECRET}"]}}"#),
    ]
    .join("\n");

    let report = engine.import(&p, &text, ImportFormat::Jsonl, |_, _| {}).await.unwrap();
    assert_eq!(report.imported.len(), 4, "{report:?}");
    let failed: Vec<usize> = report.failed.iter().map(|f| f.line).collect();
    assert_eq!(failed, [5, 6, 7, 8], "{report:?}");
    assert!(report.failed[0].reason.contains("content"), "{:?}", report.failed[0]);
    assert!(report.failed[1].reason.contains("rumour"), "{:?}", report.failed[1]);

    let all = engine.list(&p, &ListFilter::default(), 100, 0).await.unwrap();
    let gateway = all.iter().find(|m| m.content.contains("gateway")).unwrap();
    assert_eq!(gateway.memory_type, MemoryType::Fact);
    assert_eq!(gateway.domain.as_str(), "api");
    assert_eq!(gateway.confidence, 0.8);
    assert_eq!(gateway.created_at, 1_777_636_800_000, "RFC 3339 time kept");
    assert_eq!(gateway.source, Source::Import);
    let pnpm = all.iter().find(|m| m.content.contains("pnpm")).unwrap();
    assert_eq!(pnpm.created_at, 1_767_225_600_000, "Unix seconds taken as seconds");
    let token = all.iter().find(|m| m.content.contains("CI token")).unwrap();
    assert!(!token.content.contains(SECRET) && !token.tags.iter().any(|t| t.contains("abcdef")), "{token:?}");
    assert!(!all.iter().any(|m| m.content.contains("bad type") || m.content.contains("too sure")));

    let again = engine.import(&p, &text, ImportFormat::Jsonl, |_, _| {}).await.unwrap();
    assert!(again.imported.is_empty(), "{again:?}");
    assert_eq!(again.skipped, 4);
    assert_eq!(engine.list(&p, &ListFilter::default(), 100, 0).await.unwrap().len(), 4);
    engine.close().await;
}

#[tokio::test]
async fn statements_claude_code_loads_itself_are_never_injected() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let p = Project::at(tmp.path()).unwrap();
    let statement = "Releases are cut from the main branch every Thursday".to_owned();
    engine.sync_statements(&p, cm_core::text::CLAUDE_CODE_TAG, &[statement]).await.unwrap();
    engine
        .save(
            &p,
            cm_core::NewMemory::new("Releases need a signed tag on the main branch", Source::Cli).unwrap(),
        )
        .await
        .unwrap();
    let query = "how are releases cut from the main branch?";
    let results = engine.search(&p, &cm_core::SearchRequest::new(query, 10)).await.unwrap();
    assert_eq!(results.hits.len(), 2, "both are found by a search");
    let injected = engine.would_inject(query, &results);
    let ids: Vec<i64> =
        results.hits.iter().filter(|h| h.memory.source == Source::Cli).map(|h| h.memory.id).collect();
    assert_eq!(injected, ids, "only the memory Claude Code does not load itself");
    engine.close().await;
}

/// A `memory.db` of claude-persistent-memory, made from the schema its
/// `lib/memory-db.js` creates (the vector table needs sqlite-vec and is
/// left out; the importer never reads it), with `rows` inserted.
fn original_db(path: &std::path::Path, rows: &str) {
    let script = format!(
        r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript('''
CREATE TABLE clusters (id INTEGER PRIMARY KEY AUTOINCREMENT, theme TEXT NOT NULL, centroid_id INTEGER,
  centroid_vector TEXT, member_count INTEGER DEFAULT 0, avg_confidence REAL DEFAULT 0.5,
  domain TEXT DEFAULT 'general', status TEXT DEFAULT 'growing', evolved_at DATETIME,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE memories (id INTEGER PRIMARY KEY AUTOINCREMENT, content TEXT NOT NULL, structured_content TEXT,
  summary TEXT, type TEXT DEFAULT 'context', tags TEXT, keywords TEXT, domain TEXT DEFAULT 'general',
  confidence REAL DEFAULT 0.5, evidence_count INTEGER DEFAULT 0, cluster_id INTEGER, source TEXT,
  trigger TEXT, action TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME DEFAULT CURRENT_TIMESTAMP, last_accessed_at DATETIME, access_count INTEGER DEFAULT 0,
  FOREIGN KEY (cluster_id) REFERENCES clusters(id));
CREATE VIRTUAL TABLE memories_fts USING fts5(content, structured_content, summary, tags, keywords);
{rows}
''')
db.commit()
"#
    );
    let out =
        std::process::Command::new("python3").arg("-c").arg(script).arg(path).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn the_original_tools_database_is_imported_with_its_structure_counts_and_times() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("memory.db");
    original_db(
        &db,
        &format!(
            r#"
INSERT INTO memories (id, content, structured_content, summary, type, tags, keywords, domain, confidence,
  evidence_count, source, created_at, updated_at, last_accessed_at, access_count)
VALUES (7, 'Use WAL for sqlite', '<memory type="pattern" domain="backend">
  <what>Use WAL mode</what>
  <when>concurrent readers | long writes</when>
  <do>PRAGMA journal_mode=WAL；set busy_timeout</do>
  <warn>do not put the DB on NFS</warn>
</memory>', 'Use WAL for sqlite', 'pattern', '', 'wal,sqlite,busy', 'backend', 0.8, 3, 'mcp-tool',
  '2026-01-05 09:30:00', '2026-01-06 10:00:00', '2026-02-01 08:00:00', 12);
INSERT INTO memories (id, content, type, domain, confidence) VALUES (9, 'The CI token is {SECRET}', 'bogus-type', 'not a domain!', 0.5);
INSERT INTO memories (id, content) VALUES (11, '   ');
"#
        ),
    );
    let engine = Engine::new(Config::default(), None);
    let p = Project::at(&tmp.path().join("project")).unwrap_or_else(|_| {
        std::fs::create_dir_all(tmp.path().join("project")).unwrap();
        Project::at(&tmp.path().join("project")).unwrap()
    });

    let report = engine.import_original(&p, &db).await.unwrap();
    assert_eq!(report.imported, [7, 9], "ids kept where free: {report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].line, 11);

    let wal = engine.get(&p, 7).await.unwrap();
    assert_eq!(wal.memory_type, MemoryType::Pattern);
    assert_eq!(wal.domain.as_str(), "backend");
    assert_eq!((wal.confidence, wal.evidence_count, wal.access_count), (0.8, 3, 12));
    assert_eq!(wal.created_at, 1_767_605_400_000, "2026-01-05 09:30:00 UTC");
    assert_eq!(wal.last_accessed_at, Some(1_769_932_800_000));
    assert_eq!(wal.keywords, ["wal", "sqlite", "busy"]);
    let structured = wal.structured.unwrap();
    assert!(structured.contains("<what>Use WAL mode</what>") && structured.contains("NFS"), "{structured}");
    let token = engine.get(&p, 9).await.unwrap();
    assert!(!token.content.contains(SECRET), "redacted: {}", token.content);
    assert_eq!(token.memory_type, MemoryType::Context, "an unknown type falls back");

    let again = engine.import_original(&p, &db).await.unwrap();
    assert!(again.imported.is_empty(), "{again:?}");
    assert_eq!(again.skipped, 2);
    let not_db = tmp.path().join("notes.txt");
    std::fs::write(&not_db, "hello").unwrap();
    let err = engine.import_original(&p, &not_db).await.unwrap_err().to_string();
    assert!(err.contains("notes.txt"), "{err}");
    engine.close().await;
}

#[tokio::test]
async fn claude_mems_observations_for_this_project_are_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    std::fs::create_dir_all(&root).unwrap();
    let db = tmp.path().join("claude-mem.db");
    // The tables claude-mem's migrations leave on a fresh install (columns
    // an importer does not read left out), with a session first: its
    // foreign keys are enforced.
    let script = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript('''
PRAGMA foreign_keys = ON;
CREATE TABLE sdk_sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, content_session_id TEXT NOT NULL,
  memory_session_id TEXT UNIQUE, project TEXT NOT NULL, started_at TEXT NOT NULL, started_at_epoch INTEGER NOT NULL);
CREATE TABLE observations (id INTEGER PRIMARY KEY AUTOINCREMENT, memory_session_id TEXT NOT NULL, project TEXT NOT NULL,
  text TEXT, type TEXT NOT NULL, title TEXT, subtitle TEXT, facts TEXT, narrative TEXT, concepts TEXT,
  files_read TEXT, files_modified TEXT, prompt_number INTEGER, discovery_tokens INTEGER DEFAULT 0,
  created_at TEXT NOT NULL, created_at_epoch INTEGER NOT NULL, content_hash TEXT, merged_into_project TEXT,
  FOREIGN KEY(memory_session_id) REFERENCES sdk_sessions(memory_session_id));
CREATE TABLE session_summaries (id INTEGER PRIMARY KEY AUTOINCREMENT, memory_session_id TEXT NOT NULL, project TEXT NOT NULL,
  request TEXT, investigated TEXT, learned TEXT, completed TEXT, next_steps TEXT, notes TEXT,
  created_at TEXT NOT NULL, created_at_epoch INTEGER NOT NULL);
INSERT INTO sdk_sessions (content_session_id, memory_session_id, project, started_at, started_at_epoch)
  VALUES ('c1', 'm1', 'shop', '2026-03-01T10:00:00.000Z', 1772359200000);
INSERT INTO observations (memory_session_id, project, type, title, narrative, facts, concepts, created_at, created_at_epoch)
  VALUES ('m1', 'shop', 'bugfix', 'Checkout double-charged on retry',
          'The payment call was retried without an idempotency key; it now sends one.',
          '["retries resend the charge"]', '["problem-solution", "gotcha"]', '2026-03-01T10:05:00.000Z', 1772359500000),
         ('m1', 'shop/feature-x', 'decision', 'Prices are stored in cents', NULL,
          '["integers avoid rounding", "the API returns cents"]', 'not json', '2026-03-01T10:06:00.000Z', 1772359560000),
         ('m1', 'other-repo', 'discovery', 'Not this project', 'belongs elsewhere', NULL, NULL, '2026-03-01T10:07:00.000Z', 1772359620000),
         ('m1', 'shop', 'change', NULL, NULL, NULL, NULL, '2026-03-01T10:08:00.000Z', 1772359680000);
INSERT INTO session_summaries (memory_session_id, project, request, learned, created_at, created_at_epoch)
  VALUES ('m1', 'shop', 'fix checkout', 'Stripe webhooks arrive before the redirect returns.', '2026-03-01T11:00:00.000Z', 1772362800000);
''')
db.commit()
"#;
    let out =
        std::process::Command::new("python3").arg("-c").arg(script).arg(&db).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let engine = Engine::new(Config::default(), None);
    let p = Project::at(&root).unwrap();
    let report = engine.import_claude_mem(&p, &db).await.unwrap();
    assert_eq!(report.imported.len(), 3, "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].reason.starts_with("observation 4"), "{report:?}");

    let all = engine.list(&p, &ListFilter::default(), 100, 0).await.unwrap();
    let bug = all.iter().find(|m| m.content.starts_with("Checkout double-charged")).unwrap();
    assert_eq!(bug.memory_type, MemoryType::Bug);
    assert!(bug.content.contains("idempotency key"), "{}", bug.content);
    assert_eq!(bug.tags, ["problem-solution", "gotcha"]);
    assert_eq!(bug.created_at, 1_772_359_500_000);
    let cents = all.iter().find(|m| m.content.starts_with("Prices are stored in cents")).unwrap();
    assert_eq!(cents.memory_type, MemoryType::Decision);
    assert!(cents.content.contains("integers avoid rounding; the API returns cents"), "{}", cents.content);
    assert!(all.iter().any(|m| m.content.contains("Stripe webhooks arrive before the redirect")));
    assert!(!all.iter().any(|m| m.content.contains("Not this project")));

    let again = engine.import_claude_mem(&p, &db).await.unwrap();
    assert!(again.imported.is_empty(), "{again:?}");
    assert_eq!(again.skipped, 3);
    engine.close().await;
}

#[tokio::test]
async fn a_memory_that_repeats_claude_md_is_not_injected_either() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let p = Project::at(tmp.path()).unwrap();
    let statement = "Always run the database migrations with make migrate before the tests".to_owned();
    engine.sync_statements(&p, cm_core::text::CLAUDE_CODE_TAG, &[statement]).await.unwrap();
    // Saved by Claude earlier, in other words: the same lesson.
    engine
        .save(
            &p,
            cm_core::NewMemory::new(
                "Run the database migrations with make migrate before the tests",
                Source::Mcp,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let other = engine
        .save(
            &p,
            cm_core::NewMemory::new(
                "The tests need the database container running on port 5433",
                Source::Mcp,
            )
            .unwrap(),
        )
        .await
        .unwrap()
        .id
        .unwrap();
    let query = "how do I prepare the database before running the tests?";
    let results = engine.search(&p, &cm_core::SearchRequest::new(query, 10)).await.unwrap();
    assert_eq!(results.hits.len(), 3, "all are found");
    assert_eq!(engine.would_inject(query, &results), [other], "only what CLAUDE.md does not already say");
    engine.close().await;
}

#[tokio::test]
async fn a_statement_holding_a_secret_stays_live_when_synced_again() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::new(Config::default(), None);
    let p = Project::at(tmp.path()).unwrap();
    let statements = [format!("The CI token for the release job is {SECRET}")];
    let first = engine.sync_statements(&p, cm_core::text::CLAUDE_CODE_TAG, &statements).await.unwrap();
    assert_eq!(first.imported.len(), 1, "{first:?}");
    // Stored redacted; the same file read again is the same statement.
    for _ in 0..2 {
        let again = engine.sync_statements(&p, cm_core::text::CLAUDE_CODE_TAG, &statements).await.unwrap();
        assert!(again.imported.is_empty() && again.archived == 0, "{again:?}");
        assert_eq!(again.skipped, 1, "{again:?}");
    }
    let live = engine.get(&p, first.imported[0]).await.unwrap();
    assert!(!live.archived && !live.content.contains(SECRET), "{live:?}");
    engine.close().await;
}

/// An export moved to another project keeps which memory superseded which,
/// even when the ids there are taken and both are renumbered.
#[tokio::test]
async fn an_export_keeps_which_memory_superseded_which() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let engine = Engine::new(Config::default(), None);
    let (from, to) = (Project::at(a.path()).unwrap(), Project::at(b.path()).unwrap());
    let save = |p: &Project, text: &str| {
        let (engine, p, text) = (engine.clone(), p.clone(), text.to_owned());
        async move {
            let new = cm_core::NewMemory::new(&text, Source::Cli).unwrap();
            engine.save(&p, new).await.unwrap().id.unwrap()
        }
    };
    let old = save(&from, "The staging database listens on port 5432").await;
    let newer = save(&from, "The staging database moved to port 6543 in March").await;
    engine.store(&from).await.unwrap().set_superseded(old, Some(newer)).await.unwrap();
    // Ids 1 and 2 are taken in the other project.
    save(&to, "Builds run on the self-hosted runners").await;
    save(&to, "Release notes are written before tagging").await;

    let export = engine.export(&from, cm_engine::ExportFormat::Jsonl).await.unwrap();
    let report = engine.import(&to, &export, ImportFormat::Export, |_, _| {}).await.unwrap();
    assert_eq!((report.imported.len(), report.renumbered), (2, 2), "{report:?}");
    let all = engine
        .list(&to, &ListFilter { archived: Some(false), ..ListFilter::default() }, 10, 0)
        .await
        .unwrap();
    let find = |word: &str| all.iter().find(|m| m.content.contains(word)).unwrap();
    assert_eq!(find("5432").superseded_by, Some(find("6543").id));
    assert_eq!(find("6543").superseded_by, None);
}
