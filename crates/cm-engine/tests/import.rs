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
