//! The in-memory vector index against the database it caches: its results
//! agree with sqlite-vec's exact scan, and it follows every write path —
//! saves, edits, archives, purges, merges, a model switch, and writes made
//! through another `Store` on the same file (as another process would).
//!
//! "Coarse" searches force the index (`exact_scan_limit: -1`); "exact"
//! ones force sqlite-vec's full float scan. On the small spaces here the
//! index re-scores every vector that passes the filters, so a coarse search
//! must return exactly what the exact one does: any difference is the index
//! holding a vector, a filter column or a membership the database no longer has.

use cm_core::{Domain, MemoryType, NewMemory, SearchConfig, SearchMode, SearchRequest, Source};
use cm_store::{Maturity, MemoryPatch, Space, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

const DIM: usize = 64;

fn exact() -> SearchConfig {
    SearchConfig { decay_weight: 0.0, exact_scan_limit: i64::MAX, ..SearchConfig::default() }
}

fn coarse() -> SearchConfig {
    SearchConfig { exact_scan_limit: -1, ..exact() }
}

fn random_unit(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

/// A vector near `centre`: clustered like text embeddings, so sign bits are
/// put to a realistic test rather than to uniform noise.
fn near(rng: &mut StdRng, centre: &[f32], spread: f32) -> Vec<f32> {
    let noise = random_unit(rng, centre.len());
    let v: Vec<f32> = centre.iter().zip(&noise).map(|(c, n)| c + spread * n).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

async fn open(dir: &TempDir) -> Store {
    Store::open(&dir.path().join("memory.db")).await.unwrap()
}

async fn save(store: &Store, content: &str, space: &Space, v: &[f32]) -> i64 {
    let new = NewMemory::new(content, Source::Cli).unwrap();
    let (id, created) = store.insert(&new, Some((space, v)), 1.1, 0).await.unwrap();
    assert!(created);
    id
}

fn vector_request(limit: usize) -> SearchRequest {
    SearchRequest { mode: SearchMode::Vector, touch: false, ..SearchRequest::new("", limit) }
}

async fn ids(
    store: &Store,
    req: &SearchRequest,
    space: &Space,
    q: &[f32],
    config: &SearchConfig,
) -> Vec<i64> {
    let results = store.search(req, Some((space, q)), config).await.unwrap();
    results.hits.iter().map(|h| h.memory.id).collect()
}

/// The coarse search returns what the exact one does, hit for hit.
async fn assert_agrees(store: &Store, model: &str, req: &SearchRequest, q: &[f32], what: &str) {
    let space = store.space(model).await.unwrap().unwrap();
    let exact = ids(store, req, &space, q, &exact()).await;
    let coarse = ids(store, req, &space, q, &coarse()).await;
    assert_eq!(coarse, exact, "after {what}");
}

#[tokio::test]
async fn the_index_finds_what_the_exact_scan_finds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let dim = 256;
    let space = store.ensure_space("m", dim).await.unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let centres: Vec<Vec<f32>> = (0..40).map(|_| random_unit(&mut rng, dim)).collect();
    let memories: Vec<(NewMemory, i64)> =
        (0..3000).map(|i| (NewMemory::new(&format!("note {i}"), Source::Import).unwrap(), 0)).collect();
    let vectors: Vec<Vec<f32>> = (0..3000).map(|i| near(&mut rng, &centres[i % 40], 0.8)).collect();
    store.insert_record(&memories, Some((&space, &vectors))).await.unwrap();
    let space = store.space("m").await.unwrap().unwrap();
    let (mut found, mut total) = (0, 0);
    for i in 0..50 {
        let q = near(&mut rng, &centres[i % 40], 0.8);
        let exact = ids(&store, &vector_request(10), &space, &q, &exact()).await;
        let coarse = ids(&store, &vector_request(10), &space, &q, &coarse()).await;
        total += exact.len();
        found += exact.iter().filter(|id| coarse.contains(id)).count();
    }
    let recall = found as f64 / total as f64;
    // Printed for the record; 200 of 3,000 re-scored for a top 10.
    eprintln!("recall@10 of the index against the exact scan: {recall:.3}");
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[tokio::test]
async fn the_index_follows_every_write_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let space = store.ensure_space("m", DIM).await.unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let q = random_unit(&mut rng, DIM);
    let mut saved = Vec::new();
    for i in 0..40 {
        saved.push(save(&store, &format!("memory {i}"), &space, &random_unit(&mut rng, DIM)).await);
    }
    let all = vector_request(100);
    // Loads the index.
    assert_agrees(&store, "m", &all, &q, "the first saves").await;
    assert_eq!(ids(&store, &all, &space, &q, &coarse()).await.len(), 40);

    // A save right next to the query is found first.
    let nearest = save(&store, "nearest", &space, &q).await;
    let first = ids(&store, &all, &space, &q, &coarse()).await;
    assert_eq!((first.len(), first[0]), (41, nearest));
    assert_agrees(&store, "m", &all, &q, "a save").await;

    // Edits of the filtered columns.
    let patch = MemoryPatch {
        memory_type: Some(MemoryType::Bug),
        domain: Some(Domain::parse("api").unwrap()),
        confidence: Some(0.9),
        ..MemoryPatch::default()
    };
    store.update(saved[3], &patch).await.unwrap();
    let bugs = SearchRequest { memory_type: Some(MemoryType::Bug), ..all.clone() };
    assert_eq!(ids(&store, &bugs, &space, &q, &coarse()).await, [saved[3]]);
    let api = SearchRequest { domain: Some(Domain::parse("api").unwrap()), ..all.clone() };
    assert_eq!(ids(&store, &api, &space, &q, &coarse()).await, [saved[3]]);
    let confident = SearchRequest { min_confidence: Some(0.85), ..all.clone() };
    assert_eq!(ids(&store, &confident, &space, &q, &coarse()).await, [saved[3]]);
    store
        .update(saved[3], &MemoryPatch { memory_type: Some(MemoryType::Fact), ..MemoryPatch::default() })
        .await
        .unwrap();
    assert!(ids(&store, &bugs, &space, &q, &coarse()).await.is_empty());

    // A new vector for an existing memory (an edited text, re-embedded).
    store.set_vector(saved[5], &space, &q).await.unwrap();
    assert_agrees(&store, "m", &all, &q, "a re-embedding").await;

    // Archive, unarchive, purge.
    store.set_archived(nearest, true).await.unwrap();
    assert!(!ids(&store, &all, &space, &q, &coarse()).await.contains(&nearest));
    let with_archived = SearchRequest { include_archived: true, ..all.clone() };
    assert!(ids(&store, &with_archived, &space, &q, &coarse()).await.contains(&nearest));
    assert_agrees(&store, "m", &all, &q, "an archive").await;
    store.set_archived(nearest, false).await.unwrap();
    assert_eq!(ids(&store, &all, &space, &q, &coarse()).await[0], nearest);
    store.purge(nearest).await.unwrap();
    assert!(!ids(&store, &with_archived, &space, &q, &coarse()).await.contains(&nearest));
    assert_agrees(&store, "m", &with_archived, &q, "a purge").await;

    // A merge archives its sources and adds the merged memory; unmerging
    // takes it back.
    let maturity = Maturity { members: 100, avg_confidence: 1.0 };
    let centre = random_unit(&mut rng, DIM);
    let mut clusters = Vec::new();
    for &id in &saved[10..13] {
        clusters.push(store.assign_cluster(id, &space, &centre, 0.5, maturity).await.unwrap().cluster_id);
    }
    clusters.dedup();
    assert_eq!(clusters.len(), 1);
    let cluster = clusters[0];
    let merged_new = NewMemory::new("merged", Source::Cli).unwrap();
    let merged = store.merge_cluster(cluster, &merged_new, Some((&space, &q))).await.unwrap();
    let after = ids(&store, &all, &space, &q, &coarse()).await;
    assert_eq!(after[0], merged);
    assert!(saved[10..13].iter().all(|id| !after.contains(id)), "sources are archived");
    assert_agrees(&store, "m", &all, &q, "a merge").await;
    store.unmerge_cluster(cluster, maturity).await.unwrap();
    let after = ids(&store, &all, &space, &q, &coarse()).await;
    assert!(!after.contains(&merged) && saved[10..13].iter().all(|id| after.contains(id)));
    assert_agrees(&store, "m", &all, &q, "an unmerge").await;

    // A model switch: a new space of another size, filled by re-embedding,
    // has an index of its own; the old one still answers for its model.
    let other = store.ensure_space("other", 16).await.unwrap();
    let q16 = random_unit(&mut rng, 16);
    for &id in &saved[..20] {
        store.set_vector(id, &other, &random_unit(&mut rng, 16)).await.unwrap();
    }
    let other = store.space("other").await.unwrap().unwrap();
    assert_eq!(ids(&store, &all, &other, &q16, &coarse()).await.len(), 20);
    assert_agrees(&store, "other", &all, &q16, "a model switch").await;
    assert_agrees(&store, "m", &all, &q, "switching back").await;
}

#[tokio::test]
async fn the_index_sees_writes_made_through_another_store() {
    let dir = tempfile::tempdir().unwrap();
    let reader = open(&dir).await;
    let writer = open(&dir).await;
    let space = writer.ensure_space("m", DIM).await.unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let q = random_unit(&mut rng, DIM);
    for i in 0..10 {
        save(&writer, &format!("memory {i}"), &space, &random_unit(&mut rng, DIM)).await;
    }
    let all = vector_request(100);
    let space = reader.space("m").await.unwrap().unwrap();
    assert_eq!(ids(&reader, &all, &space, &q, &coarse()).await.len(), 10, "loaded");

    let nearest = save(&writer, "nearest", &space, &q).await;
    assert_eq!(ids(&reader, &all, &space, &q, &coarse()).await[0], nearest, "a save elsewhere");
    writer.set_archived(nearest, true).await.unwrap();
    assert!(!ids(&reader, &all, &space, &q, &coarse()).await.contains(&nearest), "an archive elsewhere");
    writer.purge(nearest).await.unwrap();
    let with_archived = SearchRequest { include_archived: true, ..all.clone() };
    assert!(
        !ids(&reader, &with_archived, &space, &q, &coarse()).await.contains(&nearest),
        "a purge elsewhere"
    );
    assert_agrees(&reader, "m", &with_archived, &q, "writes elsewhere").await;
}

#[tokio::test]
async fn an_index_behind_a_pruned_log_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let reader = open(&dir).await;
    let writer = open(&dir).await;
    let space = writer.ensure_space("m", 8).await.unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let q = random_unit(&mut rng, 8);
    let away: Vec<f32> = q.iter().map(|x| -x).collect();
    let first = save(&writer, "first", &space, &away).await;
    let top = vector_request(10);
    let space = reader.space("m").await.unwrap().unwrap();
    assert_eq!(ids(&reader, &top, &space, &q, &coarse()).await, [first], "loaded");
    // More changes than the log keeps (65,536), so the reader's position is
    // pruned away. The ten written first, whose log entries are pruned, are
    // the ones nearest the query: an index that only applied what is left
    // of the log would miss them.
    let memories: Vec<(NewMemory, i64)> =
        (0..70_000).map(|i| (NewMemory::new(&format!("n{i}"), Source::Import).unwrap(), 0)).collect();
    let vectors: Vec<Vec<f32>> = (0..70_000).map(|i| if i < 10 { q.clone() } else { away.clone() }).collect();
    let written = writer.insert_record(&memories, Some((&space, &vectors))).await.unwrap();
    let mut found = ids(&reader, &top, &space, &q, &coarse()).await;
    found.sort_unstable();
    assert_eq!(found, written[..10]);
}

/// What the index re-scores, and what a hybrid search looks up for the text
/// matches the vector leg did not reach, is each stored vector's exact
/// cosine (computed inside SQLite); a zero vector, which has no direction,
/// scores 0 rather than failing the search.
#[tokio::test]
async fn similarities_are_the_stored_vectors_exact_cosines() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let space = store.ensure_space("m", DIM).await.unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let mut saved = Vec::new();
    for i in 0..40 {
        let v = random_unit(&mut rng, DIM);
        saved.push((save(&store, &format!("note {i} about parsers"), &space, &v).await, v));
    }
    let zero = save(&store, "parsers again, with a zero vector", &space, &[0.0; DIM]).await;
    let space = store.space("m").await.unwrap().unwrap();
    let q = random_unit(&mut rng, DIM);
    // Ten candidates per leg: the vector leg re-scores 40 and keeps 10, and
    // most of the ten text matches need their similarity looked up.
    let config = SearchConfig { candidates: 10, ..coarse() };
    let req = SearchRequest { touch: false, ..SearchRequest::new("parsers", 20) };
    let results = store.search(&req, Some((&space, &q)), &config).await.unwrap();
    assert!(results.hits.len() > 10, "only {} hits", results.hits.len());
    for hit in &results.hits {
        let stored = saved.iter().find(|(id, _)| *id == hit.memory.id);
        let expected = stored.map_or(0.0, |(_, v)| v.iter().zip(&q).map(|(a, b)| f64::from(a * b)).sum());
        let got = hit.vector_similarity.expect("every hit has a vector");
        assert!((got - expected).abs() < 1e-5, "memory {}: {got} vs {expected}", hit.memory.id);
    }
    let by_vector = ids(&store, &vector_request(40), &space, &q, &coarse()).await;
    let best = saved.iter().max_by(|a, b| {
        let dot = |v: &[f32]| v.iter().zip(&q).map(|(x, y)| x * y).sum::<f32>();
        dot(&a.1).total_cmp(&dot(&b.1))
    });
    assert_eq!(by_vector.first(), best.map(|(id, _)| id));
    let req = SearchRequest { touch: false, ..SearchRequest::new("zero vector", 5) };
    let results = store.search(&req, Some((&space, &q)), &config).await.unwrap();
    let hit = results.hits.iter().find(|h| h.memory.id == zero).expect("the text match is found");
    assert_eq!(hit.vector_similarity, Some(0.0));
}

/// `warm_index` loads a large space's index before any search (the engine
/// does it when a session starts) and brings it up to date after writes; a
/// space small enough to be scanned exactly gets none.
#[tokio::test]
async fn warming_loads_the_index_and_follows_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let space = store.ensure_space("m", DIM).await.unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    for i in 0..30 {
        save(&store, &format!("note {i}"), &space, &random_unit(&mut rng, DIM)).await;
    }
    let space = store.space("m").await.unwrap().unwrap();
    assert_eq!(store.warm_index(&space, &exact()).await.unwrap(), 0, "scanned exactly: no index");
    assert_eq!(store.indexed_vectors(&space), None);
    assert_eq!(store.warm_index(&space, &coarse()).await.unwrap(), 30);
    assert_eq!(store.indexed_vectors(&space), Some(30));

    save(&store, "note 30", &space, &random_unit(&mut rng, DIM)).await;
    let space = store.space("m").await.unwrap().unwrap();
    assert_eq!(store.warm_index(&space, &coarse()).await.unwrap(), 31);
    let q = random_unit(&mut rng, DIM);
    assert_agrees(&store, "m", &vector_request(10), &q, "warming").await;
}
