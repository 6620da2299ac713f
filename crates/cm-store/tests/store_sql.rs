//! The store's own SQL, tested through its public API against a real SQLite
//! file in a temporary directory: no mocks, so a wrong column, join, filter
//! or trigger shows up as a wrong value here rather than in the engine's
//! tests, far from its cause.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use cm_core::text::content_hash;
use cm_core::{
    Domain, Memory, MemoryType, NewMemory, Provenance, SearchConfig, SearchMode, SearchRequest, Source,
};
use cm_store::{
    Candidates, Error, Injected, JobKind, JobRetry, ListFilter, LlmCall, Maturity, MemoryPatch, MinedCommit,
    MinedMemory, NewJob, Space, Store, TranscriptProgress, now_ms,
};
use tempfile::TempDir;

/// Dimension of the test vectors (the store accepts multiples of 8).
const DIM: usize = 8;
/// A threshold above any Jaccard similarity: only exact duplicates are caught.
const NO_FUZZY_DEDUPE: f64 = 1.1;

async fn open() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("memory.db")).await.unwrap();
    (dir, store)
}

fn note(content: &str) -> NewMemory {
    NewMemory::new(content, Source::Cli).unwrap()
}

fn domain(name: &str) -> Domain {
    Domain::parse(name).unwrap()
}

/// Saves `new` without a vector and without near-duplicate detection.
async fn save(store: &Store, new: NewMemory) -> i64 {
    let (id, created) = store.insert(&new, None, NO_FUZZY_DEDUPE, 0).await.unwrap();
    assert!(created, "{:?} was taken for a duplicate", new.content);
    id
}

/// Saves `new` with `vector` in `space`.
async fn save_with_vector(store: &Store, new: NewMemory, space: &Space, vector: &[f32]) -> i64 {
    let (id, created) = store.insert(&new, Some((space, vector)), NO_FUZZY_DEDUPE, 0).await.unwrap();
    assert!(created);
    id
}

/// `weights` scaled to unit length and padded to [`DIM`].
fn unit(weights: &[f32]) -> Vec<f32> {
    let mut v = [0.0; DIM];
    v[..weights.len()].copy_from_slice(weights);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn request(query: &str, mode: SearchMode) -> SearchRequest {
    SearchRequest { mode, touch: false, ..SearchRequest::new(query, 10) }
}

async fn search_ids(store: &Store, req: &SearchRequest) -> Vec<i64> {
    let results = store.search(req, None, &SearchConfig::default()).await.unwrap();
    results.hits.iter().map(|h| h.memory.id).collect()
}

async fn list_ids(store: &Store, filter: &ListFilter, limit: usize, offset: usize) -> Vec<i64> {
    store.list(filter, limit, offset).await.unwrap().iter().map(|m| m.id).collect()
}

fn close_to(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-6
}

/// Lets the millisecond clock move on, so rows written next sort after the last.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

/// Versions of the migrations recorded as applied in the database at `path`,
/// read over a connection of its own.
async fn applied_migrations(path: &Path) -> Vec<i64> {
    use sqlx::ConnectOptions as _;
    let mut conn =
        sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true).connect().await.unwrap();
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1 ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrations_apply_to_a_fresh_database_and_reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.db");
    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    let id = save(&store, note("The schema is created by sqlx migrations")).await;
    // Tables of later migrations are there: llm_usage, and hook_calls from the latest.
    store.record_hook_call("Stop", Some("s1"), "queued", 0).await.unwrap();
    store.record_llm_call(LlmCall { purpose: "structure", tokens: Some((3, 4)) }).await.unwrap();
    let before = store.get(id).await.unwrap();
    store.close().await;

    let mut versions: Vec<i64> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().split('_').next().unwrap().parse().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(applied_migrations(&path).await, versions);

    let reopened = Store::open(&path).await.unwrap();
    assert_eq!(applied_migrations(&path).await, versions, "reopening applies nothing twice");
    assert_eq!(reopened.get(id).await.unwrap(), before);
    assert_eq!(reopened.hook_calls().await.unwrap()[0].outcome, "queued");
    assert_eq!(reopened.llm_usage().await.unwrap().total.completion_tokens, 4);
    let second = save(&reopened, note("Written after reopening")).await;
    assert_eq!(second, id + 1);
}

#[tokio::test]
async fn insert_then_get_returns_every_field() {
    let (_dir, store) = open().await;
    let mut new = note("  Use   sqlx migrations for every schema change  ")
        .with_type(MemoryType::Pattern)
        .with_domain(domain("database"))
        .with_tags(&["Schema", "sqlx", "schema"])
        .unwrap()
        .with_keywords(&["migrations"])
        .unwrap()
        .with_confidence(0.65)
        .unwrap();
    new.source = Source::Transcript;
    new.structured = Some("<memory><what>Use sqlx migrations.</what></memory>".into());
    new.summary = Some("Schema changes go through migrations".into());
    new.provenance =
        Provenance { session_id: Some("s-1".into()), transcript_start: Some(3), transcript_end: Some(9) };
    let before = now_ms();
    let id = save(&store, new.clone()).await;

    let m = store.get(id).await.unwrap();
    assert_eq!(m.id, id);
    assert_eq!(m.content, "Use   sqlx migrations for every schema change");
    assert_eq!(m.structured, new.structured);
    assert_eq!(m.summary, new.summary);
    assert_eq!(m.memory_type, MemoryType::Pattern);
    assert_eq!(m.domain.as_str(), "database");
    assert_eq!(m.tags, ["schema", "sqlx"]);
    assert_eq!(m.keywords, ["migrations"]);
    assert!(close_to(m.confidence, 0.65));
    assert_eq!((m.evidence_count, m.access_count, m.last_accessed_at), (0, 0, None));
    assert!(m.created_at >= before && m.created_at <= now_ms());
    assert_eq!(m.updated_at, m.created_at);
    assert_eq!(m.source, Source::Transcript);
    assert_eq!(m.provenance, new.provenance);
    assert_eq!(m.content_hash, content_hash("use sqlx MIGRATIONS for every schema change"));
    assert_eq!((m.embedding_model, m.archived, m.merged_into, m.cluster_id), (None, false, None, None));
    assert_eq!(m.superseded_by, None);
}

#[tokio::test]
async fn a_missing_memory_is_not_found_everywhere() {
    let (_dir, store) = open().await;
    let patch = MemoryPatch { summary: Some("x".into()), ..MemoryPatch::default() };
    assert!(matches!(store.get(42).await, Err(Error::NotFound(42))));
    assert!(matches!(store.update(42, &patch).await, Err(Error::NotFound(42))));
    assert!(matches!(store.set_archived(42, true).await, Err(Error::NotFound(42))));
    assert!(matches!(store.validate(42, true).await, Err(Error::NotFound(42))));
    assert!(matches!(store.purge(42).await, Err(Error::NotFound(42))));
}

#[tokio::test]
async fn list_filters_by_type_domain_source_confidence_archived_and_tag() {
    let (_dir, store) = open().await;
    let bug = save(
        &store,
        note("The hook crashed on empty input")
            .with_type(MemoryType::Bug)
            .with_tags(&["hooks", "quarantined"])
            .unwrap(),
    )
    .await;
    let api = save(&store, note("Tokens expire after an hour").with_domain(domain("api"))).await;
    let mut from_mcp = note("Saved through MCP").with_confidence(0.4).unwrap();
    from_mcp.source = Source::Mcp;
    let mcp = save(&store, from_mcp).await;
    let archived = save(&store, note("An outdated note")).await;
    store.set_archived(archived, true).await.unwrap();

    let all_live = ListFilter::default();
    assert_eq!(list_ids(&store, &all_live, 10, 0).await, [mcp, api, bug]);
    let by_type = ListFilter { memory_type: Some(MemoryType::Bug), ..ListFilter::default() };
    assert_eq!(list_ids(&store, &by_type, 10, 0).await, [bug]);
    let by_domain = ListFilter { domain: Some(domain("api")), ..ListFilter::default() };
    assert_eq!(list_ids(&store, &by_domain, 10, 0).await, [api]);
    let by_source = ListFilter { source: Some(Source::Mcp), ..ListFilter::default() };
    assert_eq!(list_ids(&store, &by_source, 10, 0).await, [mcp]);
    let confident = ListFilter { min_confidence: Some(0.5), ..ListFilter::default() };
    assert_eq!(list_ids(&store, &confident, 10, 0).await, [api, bug]);
    let only_archived = ListFilter { archived: Some(true), ..ListFilter::default() };
    assert_eq!(list_ids(&store, &only_archived, 10, 0).await, [archived]);
    let both = ListFilter { archived: Some(false), ..ListFilter::default() };
    assert_eq!(list_ids(&store, &both, 10, 0).await, [archived, mcp, api, bug]);
    // A tag matches a whole element of the tags, not a substring of their text.
    let tagged = ListFilter { tag: Some("quarantined".into()), ..ListFilter::default() };
    assert_eq!(list_ids(&store, &tagged, 10, 0).await, [bug]);
    let partial = ListFilter { tag: Some("hook".into()), ..ListFilter::default() };
    assert!(list_ids(&store, &partial, 10, 0).await.is_empty());
    // Tags are stored in lower case; a filter may be spelt as the tag was given.
    let spelt = ListFilter { tag: Some(" Quarantined ".into()), ..ListFilter::default() };
    assert_eq!(list_ids(&store, &spelt, 10, 0).await, [bug]);
}

#[tokio::test]
async fn list_pages_newest_first_and_all_exports_in_id_order() {
    let (_dir, store) = open().await;
    // Dated out of id order; the last two share a time (ties: higher id first).
    let record: Vec<(NewMemory, i64)> = vec![
        (note("third oldest"), 3_000),
        (note("oldest"), 1_000),
        (note("newest, lower id"), 5_000),
        (note("newest, higher id"), 5_000),
    ];
    let ids = store.insert_record(&record, None).await.unwrap();
    let filter = ListFilter::default();
    assert_eq!(list_ids(&store, &filter, 2, 0).await, [ids[3], ids[2]]);
    assert_eq!(list_ids(&store, &filter, 2, 2).await, [ids[0], ids[1]]);
    assert!(list_ids(&store, &filter, 2, 4).await.is_empty());
    let created: Vec<i64> = store.list(&filter, 10, 0).await.unwrap().iter().map(|m| m.created_at).collect();
    assert_eq!(created, [5_000, 5_000, 3_000, 1_000]);
    let all: Vec<i64> = store.all().await.unwrap().iter().map(|m| m.id).collect();
    assert_eq!(all, ids);
}

#[tokio::test]
async fn most_confident_orders_by_confidence_then_use() {
    let (_dir, store) = open().await;
    let pref = |text: &str, confidence: f64| {
        note(text).with_type(MemoryType::Preference).with_confidence(confidence).unwrap()
    };
    let low = save(&store, pref("Prefers tabs", 0.4)).await;
    let high = save(&store, pref("Prefers short commits", 0.9)).await;
    let used = save(&store, pref("Prefers nextest", 0.6)).await;
    let unused = save(&store, pref("Prefers ripgrep", 0.6)).await;
    save(&store, note("A fact, not a preference").with_type(MemoryType::Fact).with_confidence(0.9).unwrap())
        .await;
    store.touch(&[used]).await.unwrap();
    let ids: Vec<i64> =
        store.most_confident(&[MemoryType::Preference], 10).await.unwrap().iter().map(|m| m.id).collect();
    assert_eq!(ids, [high, used, unused, low]);
}

#[tokio::test]
async fn update_patches_only_the_given_fields_and_reindexes_content() {
    let (_dir, store) = open().await;
    let space = store.ensure_space("test-model", DIM).await.unwrap();
    let id =
        save_with_vector(&store, note("Deploys go through the staging cluster"), &space, &unit(&[1.0])).await;
    let original = store.get(id).await.unwrap();
    assert_eq!(original.embedding_model.as_deref(), Some("test-model"));

    let patch = MemoryPatch {
        summary: Some("Staging first".into()),
        memory_type: Some(MemoryType::Decision),
        tags: Some(vec!["Deploy".into()]),
        confidence: Some(1.0),
        ..MemoryPatch::default()
    };
    let m = store.update(id, &patch).await.unwrap();
    assert_eq!(m.content, original.content);
    assert_eq!(m.content_hash, original.content_hash);
    assert_eq!(m.summary.as_deref(), Some("Staging first"));
    assert_eq!(m.memory_type, MemoryType::Decision);
    assert_eq!(m.domain, original.domain);
    assert_eq!(m.tags, ["deploy"]);
    assert!(close_to(m.confidence, 0.9), "clamped: {}", m.confidence);
    assert_eq!(
        m.embedding_model.as_deref(),
        Some("test-model"),
        "an edit without new content keeps its vector"
    );

    let patch =
        MemoryPatch { content: Some("Releases go through canary hosts".into()), ..MemoryPatch::default() };
    let m = store.update(id, &patch).await.unwrap();
    assert_eq!(m.content, "Releases go through canary hosts");
    assert_eq!(m.content_hash, content_hash("Releases go through canary hosts"));
    assert_eq!(m.summary, None, "the old text's summary went with it");
    assert_eq!(m.embedding_model, None, "new content needs a new vector");
    assert_eq!(store.count_missing_vectors(&space.model_id).await.unwrap(), 1);
    assert_eq!(store.space("test-model").await.unwrap().unwrap().vector_count, 0);
    assert!(search_ids(&store, &request("staging", SearchMode::Bm25)).await.is_empty());
    assert!(search_ids(&store, &request("cluster", SearchMode::Bm25)).await.is_empty());
    assert_eq!(search_ids(&store, &request("canary", SearchMode::Bm25)).await, [id]);

    // New content with its own summary and keywords keeps them.
    let patch = MemoryPatch {
        content: Some("Releases go through canary hosts first".into()),
        summary: Some("Canary first".into()),
        keywords: Some(vec!["Rollout".into()]),
        ..MemoryPatch::default()
    };
    let m = store.update(id, &patch).await.unwrap();
    assert_eq!(
        (m.summary.as_deref(), m.keywords.as_slice()),
        (Some("Canary first"), &["rollout".to_owned()][..])
    );
    assert_eq!(search_ids(&store, &request("rollout", SearchMode::Bm25)).await, [id]);
}

#[tokio::test]
async fn validate_moves_confidence_within_its_bounds_and_counts_evidence() {
    let (_dir, store) = open().await;
    let id = save(&store, note("Run clippy before pushing")).await;
    let mut seen = Vec::new();
    for helpful in [true, true, true, false] {
        let m = store.validate(id, helpful).await.unwrap();
        seen.push((m.confidence * 100.0).round() as i64);
    }
    assert_eq!(seen, [80, 90, 90, 85]);
    for _ in 0..20 {
        store.validate(id, false).await.unwrap();
    }
    let m = store.get(id).await.unwrap();
    assert!(close_to(m.confidence, 0.3), "floor: {}", m.confidence);
    assert_eq!(m.evidence_count, 24);
}

#[tokio::test]
async fn record_accesses_adds_counts_and_keeps_the_latest_time() {
    let (_dir, store) = open().await;
    let id = save(&store, note("Accessed often")).await;
    let other = save(&store, note("Accessed once")).await;
    store
        .record_accesses(&[
            cm_store::Access { id, count: 3, last_ms: 7_000 },
            cm_store::Access { id: other, count: 1, last_ms: 2_000 },
        ])
        .await
        .unwrap();
    store.record_accesses(&[cm_store::Access { id, count: 2, last_ms: 5_000 }]).await.unwrap();
    let m = store.get(id).await.unwrap();
    assert_eq!((m.access_count, m.last_accessed_at), (5, Some(7_000)));
    let o = store.get(other).await.unwrap();
    assert_eq!((o.access_count, o.last_accessed_at), (1, Some(2_000)));
}

#[tokio::test]
async fn a_superseded_memory_stays_searchable_and_the_mark_is_undone_or_dropped_with_its_successor() {
    let (_dir, store) = open().await;
    let old = save(&store, note("The main database is MySQL")).await;
    let new = save(&store, note("The main database moved to Postgres")).await;
    let m = store.set_superseded(old, Some(new)).await.unwrap();
    assert_eq!(m.superseded_by, Some(new));
    assert_eq!(search_ids(&store, &request("MySQL", SearchMode::Bm25)).await, [old], "kept and found");

    assert!(matches!(store.set_superseded(old, Some(999)).await, Err(Error::NotFound(999))));
    assert!(matches!(store.set_superseded(999, Some(new)).await, Err(Error::NotFound(999))));
    assert!(store.set_superseded(old, Some(old)).await.is_err(), "nothing supersedes itself");
    assert_eq!(store.get(old).await.unwrap().superseded_by, Some(new), "failed calls change nothing");

    assert_eq!(store.set_superseded(old, None).await.unwrap().superseded_by, None);
    store.set_superseded(old, Some(new)).await.unwrap();
    store.purge(new).await.unwrap();
    assert_eq!(store.get(old).await.unwrap().superseded_by, None, "live again once its successor is gone");
}

#[tokio::test]
async fn archive_restore_and_purge_reach_search_and_injections() {
    let (_dir, store) = open().await;
    let id = save(&store, note("The reindex job runs nightly")).await;
    let other = save(&store, note("The backup job runs weekly")).await;
    let injected = [Injected { memory_id: id, score: Some(0.5), similarity: None, reason: "briefing" }];
    store.record_injections("s1", "SessionStart", &injected).await.unwrap();
    let nightly = request("nightly", SearchMode::Bm25);
    assert_eq!(search_ids(&store, &nightly).await, [id]);

    let m = store.set_archived(id, true).await.unwrap();
    assert!(m.archived);
    tick().await;
    let again = store.set_archived(id, true).await.unwrap();
    assert_eq!(
        (again.archived, again.updated_at),
        (true, m.updated_at),
        "nothing to change, nothing written"
    );
    assert!(matches!(store.set_archived(999, true).await, Err(Error::NotFound(999))));
    assert!(search_ids(&store, &nightly).await.is_empty(), "archived memories are not searched");
    let with_archived = SearchRequest { include_archived: true, ..nightly.clone() };
    assert_eq!(search_ids(&store, &with_archived).await, [id]);
    assert!(store.find_duplicate("The reindex job runs nightly", 0.8, 10).await.unwrap().is_none());

    assert!(!store.set_archived(id, false).await.unwrap().archived);
    assert_eq!(search_ids(&store, &nightly).await, [id]);

    store.purge(id).await.unwrap();
    assert!(matches!(store.get(id).await, Err(Error::NotFound(_))));
    assert!(search_ids(&store, &with_archived).await.is_empty(), "purged from the full-text index");
    assert!(store.injections(Some(id), 10).await.unwrap().is_empty(), "its injections go with it");
    assert_eq!(search_ids(&store, &request("job", SearchMode::Bm25)).await, [other]);
}

#[tokio::test]
async fn full_text_search_matches_words_and_applies_filters() {
    let (_dir, store) = open().await;
    let bug = save(
        &store,
        note("Parser panics on an empty config file").with_type(MemoryType::Bug).with_domain(domain("api")),
    )
    .await;
    let fact =
        save(&store, note("The config file lives in the home directory").with_type(MemoryType::Fact)).await;
    let mut tagged = note("Unrelated text").with_tags(&["config"]).unwrap();
    tagged.confidence = 0.3;
    let by_tag = save(&store, tagged).await;

    let config = request("config", SearchMode::Bm25);
    let results = store.search(&config, None, &SearchConfig::default()).await.unwrap();
    assert_eq!(results.mode, SearchMode::Bm25);
    let mut found: Vec<i64> = results.hits.iter().map(|h| h.memory.id).collect();
    found.sort_unstable();
    assert_eq!(found, [bug, fact, by_tag], "content and tags are indexed");
    assert!(results.hits.iter().all(|h| h.bm25.is_some() && h.vector_similarity.is_none()));

    let bugs = SearchRequest { memory_type: Some(MemoryType::Bug), ..config.clone() };
    assert_eq!(search_ids(&store, &bugs).await, [bug]);
    let api = SearchRequest { domain: Some(domain("api")), ..config.clone() };
    assert_eq!(search_ids(&store, &api).await, [bug]);
    let confident = SearchRequest { min_confidence: Some(0.5), ..config.clone() };
    assert_eq!(search_ids(&store, &confident).await.len(), 2);
    assert!(search_ids(&store, &request("kubernetes", SearchMode::Bm25)).await.is_empty());
    let panics = request("panics", SearchMode::Bm25);
    let candidates = store.text_candidates(&panics, &SearchConfig::default()).await.unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].0, bug);
    assert!(candidates[0].1 < 0.0, "FTS5's bm25 is negative, best first: {}", candidates[0].1);
}

#[tokio::test]
async fn vector_search_orders_by_cosine_similarity_exactly_and_through_the_coarse_scan() {
    let (_dir, store) = open().await;
    let space = store.ensure_space("test-model", DIM).await.unwrap();
    let same = save_with_vector(&store, note("Same direction"), &space, &unit(&[1.0])).await;
    let orthogonal = save_with_vector(&store, note("Orthogonal"), &space, &unit(&[0.0, 1.0])).await;
    let diagonal = save_with_vector(&store, note("Diagonal"), &space, &unit(&[1.0, 1.0])).await;
    let opposite = save_with_vector(&store, note("Opposite"), &space, &unit(&[-1.0, 0.1])).await;
    let no_vector = save(&store, note("No vector yet")).await;
    let space = store.space("test-model").await.unwrap().unwrap();
    assert_eq!(space.vector_count, 4);
    assert_eq!(store.count_missing_vectors(&space.model_id).await.unwrap(), 1);
    let missing = store.missing_vectors(&space, 0, 10).await.unwrap();
    assert_eq!((missing.len(), missing[0].id, missing[0].content.as_str()), (1, no_vector, "No vector yet"));
    assert!(store.missing_vectors(&space, no_vector, 10).await.unwrap().is_empty(), "none after it");

    let query = unit(&[1.0]);
    let exact = SearchConfig { decay_weight: 0.0, ..SearchConfig::default() };
    let coarse = SearchConfig { exact_scan_limit: -1, ..exact.clone() };
    for config in [exact, coarse] {
        let req = request("", SearchMode::Vector);
        let results = store.search(&req, Some((&space, &query)), &config).await.unwrap();
        assert_eq!(results.mode, SearchMode::Vector);
        let ids: Vec<i64> = results.hits.iter().map(|h| h.memory.id).collect();
        assert_eq!(&ids[..2], [same, diagonal], "{}", config.exact_scan_limit);
        let sims: BTreeMap<i64, f64> =
            results.hits.iter().map(|h| (h.memory.id, h.vector_similarity.unwrap())).collect();
        assert_eq!(sims.len(), 4, "every vector, none for the memory without one");
        assert!((sims[&same] - 1.0).abs() < 1e-4, "{sims:?}");
        assert!((sims[&diagonal] - 0.5f64.sqrt()).abs() < 1e-4, "{sims:?}");
        assert!(sims[&orthogonal].abs() < 1e-4, "{sims:?}");
        assert!((sims[&opposite] + 10.0 / 101f64.sqrt()).abs() < 1e-4, "{sims:?}");
        assert!(!ids.contains(&no_vector));
        let near = SearchRequest { min_similarity: Some(0.5), ..req };
        let results = store.search(&near, Some((&space, &query)), &config).await.unwrap();
        assert_eq!(results.hits.iter().map(|h| h.memory.id).collect::<Vec<_>>(), [same, diagonal]);
    }
}

/// A full-text match for "zebra" (cosine 0.6 to the query `unit(&[1.0])`)
/// and the query's nearest vector (cosine 1.0) that does not match it:
/// `(space, text_match, nearest)`.
async fn zebra_and_nearest(store: &Store) -> (Space, i64, i64) {
    let space = store.ensure_space("test-model", DIM).await.unwrap();
    let text_match = save_with_vector(store, note("Zebra crossings"), &space, &unit(&[0.6, 0.8])).await;
    let nearest = save_with_vector(store, note("Nearest"), &space, &unit(&[1.0])).await;
    (store.space("test-model").await.unwrap().unwrap(), text_match, nearest)
}

#[tokio::test]
async fn hybrid_search_looks_up_the_similarity_of_text_matches_the_knn_missed() {
    let (_dir, store) = open().await;
    let (space, text_match, nearest) = zebra_and_nearest(&store).await;
    // One candidate from each retriever: the KNN returns only `nearest`.
    let config = SearchConfig { candidates: 1, decay_weight: 0.0, ..SearchConfig::default() };
    let req = SearchRequest { limit: 1, ..request("zebra", SearchMode::Hybrid) };
    let text = store.text_candidates(&req, &config).await.unwrap();
    assert_eq!(text.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [text_match]);

    // A saturated full-text score: with its true similarity (0.6) the text
    // match outranks the nearest vector (0.8 against 0.5); without one it
    // would tie and lose to the newer memory.
    let query = unit(&[1.0]);
    let text_hits = Some(vec![(text_match, -30.0)]);
    let results = store.search_with_text(&req, Some((&space, &query)), &config, text_hits).await.unwrap();
    assert_eq!(results.mode, SearchMode::Hybrid);
    assert_eq!(results.hits.len(), 1);
    let hit = &results.hits[0];
    assert_eq!(hit.memory.id, text_match, "not {nearest}");
    assert!((hit.vector_similarity.unwrap() - 0.6).abs() < 1e-4, "{:?}", hit.vector_similarity);
    assert_eq!(hit.bm25, Some(-30.0));
}

#[tokio::test]
async fn a_hybrid_search_takes_the_similarities_its_caller_worked_out() {
    let (_dir, store) = open().await;
    let (space, text_match, nearest) = zebra_and_nearest(&store).await;
    let (unembedded, _) =
        store.insert(&note("Zebra without a vector"), None, NO_FUZZY_DEDUPE, 0).await.unwrap();
    let query = unit(&[1.0]);

    // What the engine's full-text leg asks while the vector leg scans: a
    // memory without a vector is left out.
    let sims = store.similarities(&space, &query, &[text_match, unembedded]).await.unwrap();
    assert_eq!(sims.len(), 1, "{sims:?}");
    assert_eq!(sims[0].0, text_match);
    assert!((sims[0].1 - 0.6).abs() < 1e-4, "{sims:?}");
    assert!(store.similarities(&space, &query, &[]).await.unwrap().is_empty());

    // Given, they are used as they are (0.9 here, not the stored 0.6), and
    // a candidate they leave out stays without one.
    let config = SearchConfig { candidates: 1, decay_weight: 0.0, ..SearchConfig::default() };
    let req = SearchRequest { limit: 3, ..request("zebra", SearchMode::Hybrid) };
    let found = Candidates {
        text: Some(vec![(text_match, -30.0), (unembedded, -3.0)]),
        vector: Some(vec![(nearest, 1.0)]),
        text_similarities: Some(vec![(text_match, 0.9)]),
    };
    let results = store.search_with_candidates(&req, Some((&space, &query)), &config, found).await.unwrap();
    let sims: Vec<(i64, Option<f64>)> =
        results.hits.iter().map(|h| (h.memory.id, h.vector_similarity)).collect();
    assert_eq!(sims, [(text_match, Some(0.9)), (nearest, Some(1.0)), (unembedded, None)]);
}

#[tokio::test]
async fn vector_search_filters_on_metadata_kept_in_sync_with_edits() {
    let (_dir, store) = open().await;
    let space = store.ensure_space("test-model", DIM).await.unwrap();
    let closest = save_with_vector(&store, note("Closest"), &space, &unit(&[1.0])).await;
    let next =
        save_with_vector(&store, note("Next").with_type(MemoryType::Bug), &space, &unit(&[1.0, 0.5])).await;
    let query = unit(&[1.0]);
    let config = SearchConfig::default();
    let vector = |req: SearchRequest| {
        let store = store.clone();
        let (space, query, config) = (space.clone(), query.clone(), config.clone());
        async move {
            let results = store.search(&req, Some((&space, &query)), &config).await.unwrap();
            results.hits.iter().map(|h| h.memory.id).collect::<Vec<_>>()
        }
    };
    let bugs = SearchRequest { memory_type: Some(MemoryType::Bug), ..request("", SearchMode::Vector) };
    assert_eq!(vector(bugs.clone()).await, [next]);

    // The filter columns are copied into the vector table: edits must reach them.
    store
        .update(closest, &MemoryPatch { memory_type: Some(MemoryType::Bug), ..MemoryPatch::default() })
        .await
        .unwrap();
    assert_eq!(vector(bugs.clone()).await, [closest, next]);
    store.set_archived(closest, true).await.unwrap();
    assert_eq!(vector(bugs.clone()).await, [next]);
    let lenient = SearchRequest { include_archived: true, ..bugs };
    assert_eq!(vector(lenient).await, [closest, next]);
    let confident = SearchRequest { min_confidence: Some(0.75), ..request("", SearchMode::Vector) };
    assert!(vector(confident.clone()).await.is_empty());
    store.validate(next, true).await.unwrap();
    assert_eq!(vector(confident).await, [next]);
}

#[tokio::test]
async fn spaces_are_created_once_per_model_and_check_dimensions() {
    let (_dir, store) = open().await;
    let space = store.ensure_space("model-a", DIM).await.unwrap();
    assert_eq!((space.model_id.as_str(), space.dimension, space.vector_count), ("model-a", DIM, 0));
    assert_eq!(store.ensure_space("model-a", DIM).await.unwrap(), space);
    assert!(matches!(
        store.ensure_space("model-a", 16).await,
        Err(Error::Dimension { expected: DIM, actual: 16, .. })
    ));
    assert!(matches!(store.ensure_space("model-b", 12).await, Err(Error::Data(_))));
    let other = store.ensure_space("model-b", 16).await.unwrap();
    assert_ne!(other.table, space.table);
    assert_eq!(store.spaces().await.unwrap(), [space.clone(), other.clone()]);
    assert_eq!(store.space("model-c").await.unwrap(), None);

    let id = save(&store, note("Embedded twice")).await;
    assert!(matches!(store.set_vector(id, &space, &[1.0; 4]).await, Err(Error::Dimension { .. })));
    assert!(matches!(store.set_vector(999, &space, &unit(&[1.0])).await, Err(Error::NotFound(999))));
    store.set_vector(id, &space, &unit(&[1.0])).await.unwrap();
    store.set_vector(id, &space, &unit(&[0.0, 1.0])).await.unwrap();
    assert_eq!(store.space("model-a").await.unwrap().unwrap().vector_count, 1, "replaced, not added");
    let vectors = store.live_vectors(&space, 10).await.unwrap();
    assert_eq!(vectors.len(), 1);
    assert_eq!((vectors[0].0, vectors[0].1), (id, None));
    assert!(close_to(f64::from(vectors[0].2[1]), 1.0), "the latest vector: {:?}", vectors[0].2);
    store.purge(id).await.unwrap();
    assert_eq!(store.space("model-a").await.unwrap().unwrap().vector_count, 0);
}

#[tokio::test]
async fn a_batch_of_vectors_is_written_at_once_passing_over_deleted_memories() {
    let (_dir, store) = open().await;
    let space = store.ensure_space("model-a", DIM).await.unwrap();
    let a =
        save(&store, NewMemory { summary: Some("its summary".into()), ..note("First of the batch") }).await;
    let b = save(&store, note("Second of the batch")).await;
    let gone = save(&store, note("Deleted before its vector came")).await;
    store.purge(gone).await.unwrap();

    let texts = store.texts(&[b, gone, a]).await.unwrap();
    let read: Vec<(i64, &str, Option<&str>)> =
        texts.iter().map(|t| (t.id, t.content.as_str(), t.summary.as_deref())).collect();
    assert_eq!(
        read,
        [(b, "Second of the batch", None), (a, "First of the batch", Some("its summary"))],
        "in the order asked, the deleted one left out"
    );

    let (va, vb) = (unit(&[1.0]), unit(&[0.0, 1.0]));
    let wrong = [(a, va.as_slice()), (b, &[1.0; 4][..])];
    assert!(matches!(store.set_vectors(&space, &wrong).await, Err(Error::Dimension { .. })));
    assert_eq!(
        store.count_missing_vectors(&space.model_id).await.unwrap(),
        2,
        "a bad vector writes none of the batch"
    );

    let batch = [(a, va.as_slice()), (gone, va.as_slice()), (b, vb.as_slice())];
    assert_eq!(store.set_vectors(&space, &batch).await.unwrap(), 2);
    assert_eq!(store.count_missing_vectors(&space.model_id).await.unwrap(), 0);
    assert_eq!(store.space("model-a").await.unwrap().unwrap().vector_count, 2);
    let mut req = request("", SearchMode::Vector);
    req.limit = 1;
    let nearest = store.search(&req, Some((&space, &vb)), &SearchConfig::default()).await.unwrap();
    assert_eq!(nearest.hits[0].memory.id, b, "each memory got its own vector");
    assert!(matches!(store.set_vector(gone, &space, &va).await, Err(Error::NotFound(id)) if id == gone));
}

#[tokio::test]
async fn saving_a_duplicate_reinforces_the_existing_memory() {
    let (_dir, store) = open().await;
    let text = "Always run the migrations before starting the server";
    let (id, created) = store.insert(&note(text), None, 0.8, 10).await.unwrap();
    assert!(created);
    // Same words, other case and spacing: the content hash matches.
    let (again, created) = store
        .insert(&note("always run the MIGRATIONS  before starting the server"), None, 0.8, 10)
        .await
        .unwrap();
    assert_eq!((again, created), (id, false));
    let m = store.get(id).await.unwrap();
    assert_eq!(m.access_count, 1);
    assert!(close_to(m.confidence, 0.75));
    assert!(m.last_accessed_at.is_some());
    // Near-duplicates (Jaccard ≥ 0.8) are found through the full-text index.
    let near = "Always run the migrations before starting the server again";
    assert_eq!(store.find_duplicate(near, 0.8, 10).await.unwrap(), Some(id));
    assert_eq!(store.find_duplicate("Never run the server", 0.8, 10).await.unwrap(), None);
    assert_eq!(store.find_duplicate(near, 1.0, 10).await.unwrap(), None);
    store.reinforce(id).await.unwrap();
    assert_eq!(store.get(id).await.unwrap().access_count, 2);
    assert_eq!(store.list(&ListFilter::default(), 10, 0).await.unwrap().len(), 1);
}

#[tokio::test]
async fn import_skips_known_content_and_renumbers_taken_ids() {
    let (_a_dir, source) = open().await;
    let mut mined = note("First exported memory").with_tags(&["export"]).unwrap();
    mined.provenance.session_id = Some("s-9".into());
    let first = save(&source, mined).await;
    let second = save(&source, note("Second exported memory").with_type(MemoryType::Skill)).await;
    let third = save(&source, note("Shared by both projects")).await;
    source.touch(&[second]).await.unwrap();
    source.set_archived(second, true).await.unwrap();
    let exported = source.all().await.unwrap();
    assert_eq!(exported.iter().map(|m| m.id).collect::<Vec<_>>(), [first, second, third]);

    let (_b_dir, target) = open().await;
    let resident = save(&target, note("shared by both   PROJECTS")).await;
    assert_eq!(resident, first, "the first id is taken in the target");
    // Second first, so it keeps its free id; the first's id is taken.
    let order = [exported[1].clone(), exported[0].clone(), exported[2].clone()];
    let report = target.import(&order).await.unwrap();
    assert_eq!(report.skipped, 1);
    assert_eq!(report.renumbered, 1);
    assert_eq!(report.imported, [second, second + 1]);

    let kept = target.get(second).await.unwrap();
    let original = &exported[1];
    let comparable = |m: &Memory| {
        (m.content.clone(), m.memory_type, m.created_at, m.updated_at, m.access_count, m.last_accessed_at)
    };
    assert_eq!(comparable(&kept), comparable(original));
    assert_eq!((kept.archived, kept.source), (true, Source::Cli));
    let renumbered = target.get(second + 1).await.unwrap();
    assert_eq!(renumbered.content, "First exported memory");
    assert_eq!(renumbered.provenance.session_id.as_deref(), Some("s-9"));
    assert_eq!(renumbered.tags, ["export"]);
    assert_eq!(renumbered.created_at, exported[0].created_at);

    let again = target.import(&order).await.unwrap();
    assert_eq!((again.imported.len(), again.skipped, again.renumbered), (0, 3, 0));
}

#[tokio::test]
async fn injections_are_recorded_read_back_and_reset_by_compaction() {
    let (_dir, store) = open().await;
    let a = save(&store, note("Injected first")).await;
    let b = save(&store, note("Injected second")).await;
    let injected = [
        Injected { memory_id: a, score: Some(0.9), similarity: Some(0.8), reason: "similar" },
        Injected { memory_id: 9_999, score: Some(0.1), similarity: None, reason: "similar" },
    ];
    store.record_injections("s1", "UserPromptSubmit", &injected).await.unwrap();
    tick().await;
    let briefing = [Injected { memory_id: b, score: None, similarity: None, reason: "briefing" }];
    store.record_injections("s2", "SessionStart", &briefing).await.unwrap();

    let all = store.injections(None, 10).await.unwrap();
    assert_eq!(all.len(), 2, "an unknown memory is not recorded");
    assert_eq!(
        (all[0].session_id.as_str(), all[0].event.as_str(), all[0].memory_id),
        ("s2", "SessionStart", b)
    );
    assert_eq!(all[0].score, None);
    assert_eq!((all[1].session_id.as_str(), all[1].memory_id, all[1].score), ("s1", a, Some(0.9)));
    assert!(all[0].created_at >= all[1].created_at);
    assert_eq!(store.injections(Some(a), 10).await.unwrap().len(), 1);
    assert_eq!(store.injections(None, 1).await.unwrap().len(), 1);

    assert_eq!(store.injected_in_session("s1").await.unwrap(), HashSet::from([a]));
    tick().await;
    store.record_compaction("s1").await.unwrap();
    assert!(store.injected_in_session("s1").await.unwrap().is_empty(), "compaction forgets them");
    assert_eq!(store.injected_in_session("s2").await.unwrap(), HashSet::from([b]));
    tick().await;
    store.record_injections("s1", "UserPromptSubmit", &injected[..1]).await.unwrap();
    assert_eq!(store.injected_in_session("s1").await.unwrap(), HashSet::from([a]));

    let per_day = store.injections_per_day(2).await.unwrap();
    assert_eq!(per_day.len(), 1);
    assert_eq!(per_day[0].1, 3);
    assert_eq!(per_day[0].0.len(), "YYYY-MM-DD".len());
}

#[tokio::test]
async fn hook_calls_keep_the_latest_call_of_each_event() {
    let (_dir, store) = open().await;
    store.record_hook_call("UserPromptSubmit", Some("s1"), "nothing", 0).await.unwrap();
    tick().await;
    store.record_hook_call("Stop", None, "queued", 0).await.unwrap();
    tick().await;
    store.record_hook_call("UserPromptSubmit", Some("s2"), "injected", 3).await.unwrap();
    let calls = store.hook_calls().await.unwrap();
    assert_eq!(calls.len(), 2);
    let latest = &calls[0];
    assert_eq!(
        (latest.event.as_str(), latest.session_id.as_deref(), latest.outcome.as_str(), latest.injected),
        ("UserPromptSubmit", Some("s2"), "injected", 3)
    );
    assert_eq!((calls[1].event.as_str(), calls[1].session_id.as_deref()), ("Stop", None));
    assert!(latest.at > calls[1].at);
}

#[tokio::test]
async fn timeline_merges_saves_injections_and_jobs_newest_first() {
    let (_dir, store) = open().await;
    let mut saved = note("Saved long ago");
    saved.provenance.session_id = Some("s1".into());
    let id = store.insert_record(&[(saved, 1_000)], None).await.unwrap()[0];
    let injected = [Injected { memory_id: id, score: Some(0.7), similarity: Some(0.6), reason: "similar" }];
    store.record_injections("s1", "UserPromptSubmit", &injected).await.unwrap();
    tick().await;
    let job = NewJob {
        kind: JobKind::Transcript,
        session_id: "s2".into(),
        transcript_path: None,
        trigger: "Stop".into(),
        payload: serde_json::json!({}),
    };
    let job_id = store.enqueue_job(&job).await.unwrap();

    let entries = store.timeline(None, None, 10).await.unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["job", "injection", "save"]);
    let (job_entry, injection, save_entry) = (&entries[0], &entries[1], &entries[2]);
    assert_eq!((job_entry.session_id.as_deref(), job_entry.what.as_str()), (Some("s2"), "transcript"));
    assert_eq!(job_entry.detail["id"], job_id);
    assert_eq!(job_entry.detail["state"], "queued");
    assert_eq!(job_entry.detail["mined"], 0);
    assert_eq!((injection.session_id.as_deref(), injection.what.as_str()), (Some("s1"), "UserPromptSubmit"));
    assert_eq!(injection.detail[0]["id"], id);
    assert_eq!(injection.detail[0]["reason"], "similar");
    assert_eq!(injection.detail[0]["similarity"], 0.6);
    assert_eq!(injection.detail[0]["content"], "Saved long ago");
    assert_eq!((save_entry.at, save_entry.what.as_str()), (1_000, "cli"));
    assert_eq!(save_entry.detail["type"], "context");
    assert_eq!(save_entry.detail["archived"], 0);

    let s1: Vec<String> =
        store.timeline(Some("s1"), None, 10).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(s1, ["injection", "save"]);
    let older = store.timeline(None, Some(injection.at), 10).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].kind, "save");
    assert_eq!(store.timeline(None, None, 1).await.unwrap()[0].kind, "job");
}

fn transcript_job(session: &str) -> NewJob {
    NewJob {
        kind: JobKind::Transcript,
        session_id: session.into(),
        transcript_path: Some(format!("/tmp/{session}.jsonl")),
        trigger: "Stop".into(),
        payload: serde_json::json!({}),
    }
}

#[tokio::test]
async fn jobs_move_from_queued_to_running_to_done() {
    let (_dir, store) = open().await;
    let id = store.enqueue_job(&transcript_job("s1")).await.unwrap();
    // Queued again before it ran: the same job, with the newer trigger.
    let again = NewJob { transcript_path: None, trigger: "SessionEnd".into(), ..transcript_job("s1") };
    assert_eq!(store.enqueue_job(&again).await.unwrap(), id);
    let summary = NewJob {
        kind: JobKind::CompactSummary,
        payload: serde_json::json!({ "summary": "what was said" }),
        ..transcript_job("s1")
    };
    let first_summary = store.enqueue_job(&summary).await.unwrap();
    let second_summary = store.enqueue_job(&summary).await.unwrap();
    assert_ne!(first_summary, second_summary, "only transcript jobs are folded");

    let queued = store.jobs(Some("queued"), 10).await.unwrap();
    assert_eq!(queued.iter().map(|j| j.id).collect::<Vec<_>>(), [second_summary, first_summary, id]);
    let job = &queued[2];
    assert_eq!((job.kind, job.trigger.as_str()), (JobKind::Transcript, "SessionEnd"));
    assert_eq!(job.transcript_path.as_deref(), Some("/tmp/s1.jsonl"), "a missing path keeps the known one");
    assert_eq!((job.attempts, job.last_error.as_deref()), (0, None));
    assert_eq!(queued[0].payload["summary"], "what was said");

    let now = now_ms();
    let claimed = store.claim_job(now, 0).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.state.as_str(), claimed.attempts), (id, "running", 1));
    assert_eq!(claimed.updated_at, now);
    let next = store.claim_job(now, 0).await.unwrap().unwrap();
    assert_eq!(next.id, first_summary, "oldest due first");
    store.finish_job(first_summary).await.unwrap();
    let done = store.jobs(Some("done"), 10).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].id, &done[0].payload), (first_summary, &serde_json::json!({})));
    assert_eq!(store.jobs(Some("running"), 10).await.unwrap()[0].id, id);
    assert_eq!(store.jobs(None, 10).await.unwrap().len(), 3);
}

#[tokio::test]
async fn nothing_is_claimed_before_it_is_due_and_a_dead_workers_job_is_claimed_again() {
    let (_dir, store) = open().await;
    let id = store.enqueue_job(&transcript_job("s1")).await.unwrap();
    let queued_at = store.jobs(None, 1).await.unwrap()[0].run_after;
    assert!(store.claim_job(queued_at - 1, 0).await.unwrap().is_none());
    let claimed = store.claim_job(queued_at + 10, 0).await.unwrap().unwrap();
    assert_eq!(claimed.id, id);
    assert!(store.claim_job(queued_at + 20, queued_at + 10).await.unwrap().is_none(), "not stale yet");
    let reclaimed = store.claim_job(queued_at + 30, queued_at + 11).await.unwrap().unwrap();
    assert_eq!((reclaimed.id, reclaimed.attempts, reclaimed.updated_at), (id, 2, queued_at + 30));
}

#[tokio::test]
async fn a_failed_job_is_retried_after_its_backoff_then_failed_for_good() {
    let (_dir, store) = open().await;
    let id = store.enqueue_job(&transcript_job("s1")).await.unwrap();
    let t0 = now_ms();
    store.claim_job(t0, 0).await.unwrap().unwrap();
    let retry = store.fail_job(id, "LLM timed out", t0, 1_000, 2).await.unwrap();
    assert_eq!(retry, JobRetry::Retry { run_after: t0 + 1_000 });
    let job = &store.jobs(None, 1).await.unwrap()[0];
    assert_eq!((job.state.as_str(), job.last_error.as_deref()), ("queued", Some("LLM timed out")));
    assert_eq!((job.attempts, job.run_after), (1, t0 + 1_000));

    assert!(store.claim_job(t0 + 999, 0).await.unwrap().is_none());
    assert_eq!(store.claim_job(t0 + 1_000, 0).await.unwrap().unwrap().attempts, 2);
    assert_eq!(store.fail_job(id, "still down", t0 + 1_001, 1_000, 2).await.unwrap(), JobRetry::Failed);
    let job = &store.jobs(None, 1).await.unwrap()[0];
    assert_eq!((job.state.as_str(), job.last_error.as_deref()), ("failed", Some("still down")));
    assert!(store.claim_job(t0 + 10_000, t0 + 10_000).await.unwrap().is_none());
    assert!(matches!(store.fail_job(999, "x", t0, 0, 1).await, Err(Error::Data(_))));
}

#[tokio::test]
async fn a_failed_transcript_job_folds_into_its_sessions_newer_one() {
    let (_dir, store) = open().await;
    let running = store.enqueue_job(&transcript_job("s1")).await.unwrap();
    let t0 = now_ms();
    store.claim_job(t0, 0).await.unwrap().unwrap();
    // The session moved on while it ran: a new job is queued beside it.
    let newer = store.enqueue_job(&transcript_job("s1")).await.unwrap();
    assert_ne!(newer, running);
    let later = t0 + 60_000;
    let retry = store.fail_job(running, "boom", later, 5_000, 3).await.unwrap();
    assert_eq!(retry, JobRetry::Folded { into: newer, run_after: later + 5_000 });
    let jobs = store.jobs(None, 10).await.unwrap();
    let (newer_job, old_job) = (&jobs[0], &jobs[1]);
    assert_eq!((newer_job.id, newer_job.state.as_str(), newer_job.attempts), (newer, "queued", 1));
    assert_eq!((newer_job.run_after, newer_job.last_error.as_deref()), (later + 5_000, Some("boom")));
    assert_eq!(old_job.state, "failed");
    assert_eq!(old_job.last_error.as_deref(), Some(format!("boom (retried as job {newer})").as_str()));
}

#[tokio::test]
async fn mined_memories_land_with_the_transcript_position_or_not_at_all() {
    let (_dir, store) = open().await;
    let job = store.enqueue_job(&transcript_job("s1")).await.unwrap();
    let mined = |text: &str| {
        let mut memory = NewMemory::new(text, Source::Transcript).unwrap();
        memory.provenance.session_id = Some("s1".into());
        MinedMemory { memory, vector: None }
    };
    let progress = TranscriptProgress {
        session_id: "s1".into(),
        transcript_path: "/tmp/s1.jsonl".into(),
        lines_done: 10,
        bytes_done: 500,
        updated_at: 0,
        pending: Some(r#"{"failed_calls":[]}"#.into()),
    };
    let before = now_ms();
    let saved = store
        .save_mined(&[mined("Mined from lines one to ten")], NO_FUZZY_DEDUPE, 0, Some((&progress, 0)), None)
        .await
        .unwrap();
    let MinedCommit::Saved(saved) = saved else { panic!("stale on the first read") };
    assert_eq!(saved.len(), 1);
    assert!(saved[0].1);
    let stored = store.transcript_progress("s1").await.unwrap().unwrap();
    assert!(stored.updated_at >= before);
    assert_eq!(stored, TranscriptProgress { updated_at: stored.updated_at, ..progress.clone() });

    // Read from a position that is no longer the stored one: nothing is written.
    let stale = store
        .save_mined(&[mined("Mined twice by mistake")], NO_FUZZY_DEDUPE, 0, Some((&progress, 0)), None)
        .await
        .unwrap();
    assert_eq!(stale, MinedCommit::Stale);
    assert_eq!(store.list(&ListFilter::default(), 10, 0).await.unwrap().len(), 1);

    let next = TranscriptProgress { lines_done: 20, bytes_done: 900, pending: None, ..progress.clone() };
    let batch = [mined("Mined from lines one to ten"), mined("Mined from lines eleven on")];
    let MinedCommit::Saved(saved_next) =
        store.save_mined(&batch, NO_FUZZY_DEDUPE, 0, Some((&next, 500)), Some(job)).await.unwrap()
    else {
        panic!("stale at the stored position")
    };
    assert_eq!(saved_next[0], (saved[0].0, false), "a duplicate reinforces");
    assert!(saved_next[1].1);
    let stored = store.transcript_progress("s1").await.unwrap().unwrap();
    assert_eq!((stored.lines_done, stored.bytes_done, stored.pending), (20, 900, None));
    assert_eq!(store.jobs(Some("done"), 10).await.unwrap()[0].id, job);
    let timeline = store.timeline(None, None, 10).await.unwrap();
    let job_entry = timeline.iter().find(|e| e.kind == "job").unwrap();
    assert_eq!(job_entry.detail["mined"], 2, "two memories from the session's transcript");

    tick().await;
    let other = TranscriptProgress { session_id: "s2".into(), ..progress };
    store.save_mined(&[], NO_FUZZY_DEDUPE, 0, Some((&other, 0)), None).await.unwrap();
    let sessions: Vec<String> =
        store.transcript_progresses(10).await.unwrap().into_iter().map(|p| p.session_id).collect();
    assert_eq!(sessions, ["s2", "s1"]);
    assert_eq!(store.transcript_progress("s3").await.unwrap(), None);
}

#[tokio::test]
async fn clusters_gather_similar_memories_merge_and_unmerge_exactly() {
    let (_dir, store) = open().await;
    let space = store.ensure_space("test-model", DIM).await.unwrap();
    let v1 = unit(&[1.0]);
    let v2 = unit(&[1.0, 0.1]);
    let v3 = unit(&[1.0, 0.0, 0.1]);
    let far = unit(&[0.0, 0.0, 0.0, 1.0]);
    let a = save_with_vector(&store, note("Cache keys include the model id"), &space, &v1).await;
    let b = save_with_vector(&store, note("Cache entries expire after a day"), &space, &v2).await;
    let c = save_with_vector(&store, note("Cache misses are logged"), &space, &v3).await;
    let d = save_with_vector(&store, note("The UI uses Svelte"), &space, &far).await;
    let e =
        save_with_vector(&store, note("Same vector, other domain").with_domain(domain("api")), &space, &v1)
            .await;
    let unclustered: Vec<i64> =
        store.unclustered(&space, 10).await.unwrap().iter().map(|(id, _)| *id).collect();
    assert_eq!(unclustered, [a, b, c, d, e]);

    let maturity = Maturity { members: 3, avg_confidence: 0.5 };
    let first = store.assign_cluster(a, &space, &v1, 0.9, maturity).await.unwrap();
    assert!(first.created && !first.mature);
    let second = store.assign_cluster(b, &space, &v2, 0.9, maturity).await.unwrap();
    assert_eq!((second.cluster_id, second.created, second.mature), (first.cluster_id, false, false));
    let cos_v1_v2: f64 = v1.iter().zip(&v2).map(|(x, y)| f64::from(x * y)).sum();
    assert!((second.similarity - cos_v1_v2).abs() < 1e-5, "the centroid was v1 alone");
    let third = store.assign_cluster(c, &space, &v3, 0.9, maturity).await.unwrap();
    assert_eq!((third.cluster_id, third.mature), (first.cluster_id, true));
    let apart = store.assign_cluster(d, &space, &far, 0.9, maturity).await.unwrap();
    assert!(apart.created);
    let other_domain = store.assign_cluster(e, &space, &v1, 0.9, maturity).await.unwrap();
    assert!(other_domain.created, "clusters never span domains");
    let again = store.assign_cluster(a, &space, &far, 0.9, maturity).await.unwrap();
    assert_eq!((again.cluster_id, again.created), (first.cluster_id, false));
    assert!(store.unclustered(&space, 10).await.unwrap().is_empty());

    let clusters = store.clusters().await.unwrap();
    assert_eq!(clusters.len(), 3);
    let big = &clusters[0];
    assert_eq!((big.id, big.member_count, big.status.as_str()), (first.cluster_id, 3, "mature"));
    assert!(close_to(big.avg_confidence, 0.7));
    assert_eq!((big.domain.as_str(), big.theme.as_str()), ("general", "Cache keys include the model id"));
    assert_eq!(big.merged_memory_id, None);
    let members = store.cluster_members(first.cluster_id).await.unwrap();
    assert_eq!(members.iter().map(|m| m.id).collect::<Vec<_>>(), [a, b, c]);
    assert_eq!(members[1].content, "Cache entries expire after a day");
    assert!(close_to(members[1].confidence, 0.7));
    assert_eq!(store.get(b).await.unwrap().cluster_id, Some(first.cluster_id));
    let mapped = store.live_vectors(&space, 10).await.unwrap();
    assert_eq!(
        mapped.iter().map(|(id, cluster, _)| (*id, *cluster)).collect::<Vec<_>>(),
        [
            (a, Some(first.cluster_id)),
            (b, Some(first.cluster_id)),
            (c, Some(first.cluster_id)),
            (d, Some(apart.cluster_id)),
            (e, Some(other_domain.cluster_id)),
        ]
    );
    assert_eq!(mapped[1].2, v2);

    let sources_before =
        [store.get(a).await.unwrap(), store.get(b).await.unwrap(), store.get(c).await.unwrap()];
    let mut merged = note("Cache: keys include the model id, entries expire daily, misses are logged");
    merged.source = Source::Merge;
    let merged_id = store.merge_cluster(first.cluster_id, &merged, Some((&space, &v1))).await.unwrap();
    for id in [a, b, c] {
        let m = store.get(id).await.unwrap();
        assert_eq!((m.archived, m.merged_into), (true, Some(merged_id)));
    }
    let merged_cluster =
        store.clusters().await.unwrap().into_iter().find(|c| c.id == first.cluster_id).unwrap();
    assert_eq!(
        (merged_cluster.status.as_str(), merged_cluster.merged_memory_id),
        ("merged", Some(merged_id))
    );
    assert!(matches!(store.merge_cluster(first.cluster_id, &merged, None).await, Err(Error::Data(_))));
    assert!(matches!(store.merge_cluster(999, &merged, None).await, Err(Error::Data(_))));
    assert!(
        !store.unclustered(&space, 10).await.unwrap().iter().any(|(id, _)| *id == merged_id),
        "a consolidated memory is never clustered again"
    );

    let restored = store.unmerge_cluster(first.cluster_id, maturity).await.unwrap();
    assert_eq!(restored, [a, b, c]);
    for before in &sources_before {
        assert_eq!(&store.get(before.id).await.unwrap(), before, "restored exactly");
    }
    assert!(matches!(store.get(merged_id).await, Err(Error::NotFound(_))));
    let reopened = store.clusters().await.unwrap().into_iter().find(|c| c.id == first.cluster_id).unwrap();
    assert_eq!(
        (reopened.status.as_str(), reopened.merged_memory_id, reopened.member_count),
        ("mature", None, 3)
    );
    assert!(matches!(store.unmerge_cluster(first.cluster_id, maturity).await, Err(Error::Data(_))));
}

#[tokio::test]
async fn stats_count_live_and_archived_memories_clusters_vectors_and_llm_use() {
    let (_dir, store) = open().await;
    let space = store.ensure_space("test-model", DIM).await.unwrap();
    let bug = note("A bug").with_type(MemoryType::Bug).with_confidence(0.5).unwrap();
    let bug = save_with_vector(&store, bug, &space, &unit(&[1.0])).await;
    let mut from_mcp = note("A fact").with_type(MemoryType::Fact).with_domain(domain("api"));
    from_mcp.source = Source::Mcp;
    save(&store, from_mcp).await;
    let gone = save(&store, note("Archived").with_confidence(0.9).unwrap()).await;
    store.set_archived(gone, true).await.unwrap();
    store
        .assign_cluster(bug, &space, &unit(&[1.0]), 0.9, Maturity { members: 1, avg_confidence: 0.0 })
        .await
        .unwrap();
    store.record_llm_call(LlmCall { purpose: "extract", tokens: Some((10, 2)) }).await.unwrap();
    store.record_llm_call(LlmCall { purpose: "extract", tokens: None }).await.unwrap();

    let stats = store.stats().await.unwrap();
    assert_eq!((stats.total, stats.archived), (2, 1));
    assert!(close_to(stats.avg_confidence, 0.6), "live memories only: {}", stats.avg_confidence);
    let map = |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    };
    assert_eq!(stats.by_type, map(&[("bug", 1), ("fact", 1)]));
    assert_eq!(stats.by_domain, map(&[("api", 1), ("general", 1)]));
    assert_eq!(stats.by_source, map(&[("cli", 1), ("mcp", 1)]));
    assert_eq!(stats.clusters, map(&[("mature", 1)]));
    assert_eq!(stats.vectors, map(&[("test-model", 1)]));
    assert!(stats.db_bytes > 0);
    assert_eq!((stats.llm.total.requests, stats.llm.total.failures), (1, 1));
    assert_eq!(stats.llm.by_purpose["extract"].prompt_tokens, 10);
}

#[tokio::test]
async fn briefing_candidates_put_recently_used_memories_first_and_count_showings() {
    let (_dir, store) = open().await;
    let pref = |text: &str, confidence: f64| {
        note(text).with_type(MemoryType::Preference).with_confidence(confidence).unwrap()
    };
    let confident = save(&store, pref("Prefers small pull requests", 0.9)).await;
    let used = save(&store, pref("Prefers nextest", 0.5)).await;
    let shown = save(&store, pref("Prefers rebase over merge", 0.7)).await;
    let since = now_ms();
    let prompt = [Injected { memory_id: used, score: Some(0.5), similarity: Some(0.7), reason: "similar" }];
    store.record_injections("s1", "UserPromptSubmit", &prompt).await.unwrap();
    store.record_injections("s1", "PreToolUse", &prompt).await.unwrap();
    let briefing = [Injected { memory_id: shown, score: None, similarity: None, reason: "briefing" }];
    for session in ["s1", "s2", "s3"] {
        store.record_injections(session, "SessionStart", &briefing).await.unwrap();
        tick().await;
    }

    let candidates = store.briefing_candidates(&[MemoryType::Preference], since, 2, 10).await.unwrap();
    let rows: Vec<(i64, i64, i64)> =
        candidates.iter().map(|c| (c.memory.id, c.recent_uses, c.shown)).collect();
    assert_eq!(rows, [(used, 2, 0), (confident, 0, 0), (shown, 0, 2)]);
    let later = store.briefing_candidates(&[MemoryType::Preference], now_ms() + 1, 10, 10).await.unwrap();
    assert_eq!(later[0].memory.id, confident, "old uses no longer count");
    assert_eq!((later[1].memory.id, later[1].shown), (shown, 3), "every briefing of the last ten");
    assert!(store.briefing_candidates(&[MemoryType::Bug], since, 2, 10).await.unwrap().is_empty());
}

/// The candidates are the best `limit` of every live memory of the types,
/// in the documented order, whatever the limit: used ones (archived, of
/// another type, or of low confidence among them) first, then by
/// confidence, last change and id.
#[tokio::test]
async fn briefing_candidates_are_the_best_of_every_live_memory() {
    let (_dir, store) = open().await;
    let types = [MemoryType::Preference, MemoryType::Bug, MemoryType::Fact];
    let mut ids = Vec::new();
    for i in 0..60_usize {
        let confidence = ((i * 7) % 10 + 1) as f64 / 10.0;
        let new = note(&format!("memory {i} about subject {}", i * 13))
            .with_type(types[i % 3])
            .with_confidence(confidence)
            .unwrap();
        ids.push(save(&store, new).await);
        if i % 20 == 0 {
            tick().await;
        }
    }
    for &id in ids.iter().step_by(9) {
        store.set_archived(id, true).await.unwrap();
    }
    let since = now_ms();
    let mut uses: BTreeMap<i64, i64> = BTreeMap::new();
    for (i, &id) in ids.iter().enumerate().filter(|(i, _)| i % 5 == 0) {
        let times = 1 + i % 2;
        for _ in 0..times {
            let used = [Injected { memory_id: id, score: Some(0.5), similarity: None, reason: "similar" }];
            store.record_injections("s1", "UserPromptSubmit", &used).await.unwrap();
        }
        *uses.entry(id).or_default() += times as i64;
    }
    let shown = [Injected { memory_id: ids[1], score: None, similarity: None, reason: "briefing" }];
    store.record_injections("s1", "SessionStart", &shown).await.unwrap();

    let wanted = [MemoryType::Preference, MemoryType::Bug];
    let mut expected = Vec::new();
    for &id in &ids {
        let m = store.get(id).await.unwrap();
        if !m.archived && wanted.contains(&m.memory_type) {
            expected.push((uses.get(&id).copied().unwrap_or(0), m.confidence, m.updated_at, id));
        }
    }
    expected.sort_by(|a, b| {
        (b.0 > 0).cmp(&(a.0 > 0)).then(b.1.total_cmp(&a.1)).then(b.2.cmp(&a.2)).then(b.3.cmp(&a.3))
    });
    for limit in [1, 5, 12, 100] {
        let got: Vec<(i64, i64)> = store
            .briefing_candidates(&wanted, since, 3, limit)
            .await
            .unwrap()
            .iter()
            .map(|c| (c.memory.id, c.recent_uses))
            .collect();
        let want: Vec<(i64, i64)> = expected.iter().take(limit).map(|e| (e.3, e.0)).collect();
        assert_eq!(got, want, "limit {limit}");
    }
    let all = store.briefing_candidates(&wanted, since, 3, 100).await.unwrap();
    let first = all.iter().find(|c| c.memory.id == ids[1]).unwrap();
    assert_eq!(first.shown, 1);
}

/// Regression: two processes opening a project's new database at once made
/// one of them fail with "database is locked". Switching a new file to WAL
/// reads its header and then writes it, and SQLite's busy handler does not
/// cover a read turning into a write; the migrations had the same shape.
/// Here several connections (separate pools, as separate processes have)
/// open each fresh file at the same moment, many times over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opening_a_new_database_from_many_connections_at_once_never_sees_a_lock_error() {
    const OPENERS: usize = 6;
    for round in 0..25 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.db");
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(OPENERS));
        let openers: Vec<_> = (0..OPENERS)
            .map(|i| {
                let (path, start) = (path.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    let store =
                        Store::open(&path).await.unwrap_or_else(|e| panic!("round {round}, opener {i}: {e}"));
                    save(&store, note(&format!("round {round}: written by opener {i}"))).await;
                    store
                })
            })
            .collect();
        let mut stores = Vec::new();
        for opener in openers {
            stores.push(opener.await.unwrap());
        }
        assert_eq!(stores[0].stats().await.unwrap().total, OPENERS as i64);
        for store in stores {
            store.close().await;
        }
    }
}
