//! Full-text candidates read only FTS5's best matches before filtering
//! (`bm25_candidates`): they must still be exactly the best matches that
//! pass the filters, whether the filters keep many of them or almost none.
//! The reference is the plain query that filters every match, run on the
//! same file.

use cm_core::{Domain, MemoryType, NewMemory, SearchConfig, SearchMode, SearchRequest, Source};
use cm_store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::sqlite::SqlitePoolOptions;

/// Every match filtered, then ranked: what the candidates must equal.
async fn reference(pool: &sqlx::SqlitePool, req: &SearchRequest, limit: usize) -> Vec<(i64, f64)> {
    let query = cm_core::text::fts_query(&req.query).unwrap();
    sqlx::query_as(
        "SELECT m.id, bm25(memories_fts) AS score
         FROM memories_fts CROSS JOIN memories m ON m.id = memories_fts.rowid
         WHERE memories_fts MATCH ?1
           AND (?2 OR m.archived = 0)
           AND (?3 IS NULL OR m.memory_type = ?3)
           AND (?4 IS NULL OR m.domain = ?4)
           AND (?5 IS NULL OR m.confidence >= ?5)
         ORDER BY score, m.id LIMIT ?6",
    )
    .bind(query)
    .bind(req.include_archived)
    .bind(req.memory_type.map(MemoryType::as_str))
    .bind(req.domain.as_ref().map(Domain::as_str))
    .bind(req.min_confidence)
    .bind(limit as i64)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn text_candidates_are_the_best_filtered_matches_however_few_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.db");
    let store = Store::open(&path).await.unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let words = ["zebra", "crossing", "lantern", "harbour", "quartz", "meadow", "violet", "anchor"];
    let types = [MemoryType::Bug, MemoryType::Fact, MemoryType::Decision];
    let domains = ["api", "frontend", "database"];
    // Bugs say "zebra" many times (they outrank everything else on it);
    // a handful of facts say it once among other words.
    let mut memories = Vec::new();
    for i in 0..600 {
        let (text, t) = if i < 400 {
            ("zebra zebra zebra crossing".to_owned(), MemoryType::Bug)
        } else {
            let n = rng.random_range(3..12);
            let text: Vec<&str> = (0..n).map(|_| words[rng.random_range(0..words.len())]).collect();
            (format!("{} note {i}", text.join(" ")), types[i % 3])
        };
        let new = NewMemory::new(&text, Source::Import)
            .unwrap()
            .with_type(t)
            .with_domain(Domain::parse(domains[i % 3]).unwrap())
            .with_confidence(rng.random_range(0.3..0.9))
            .unwrap();
        memories.push((new, 0));
    }
    let ids = store.insert_record(&memories, None).await.unwrap();
    for &id in ids.iter().step_by(7) {
        store.set_archived(id, true).await.unwrap();
    }
    let pool = SqlitePoolOptions::new().connect(&format!("sqlite:{}", path.display())).await.unwrap();
    let config = SearchConfig::default();
    let limit = config.candidates;
    let mut checked = 0;
    for query in ["zebra", "zebra lantern", "quartz meadow", "anchor", "violet harbour zebra"] {
        for t in [None, Some(MemoryType::Fact), Some(MemoryType::Decision), Some(MemoryType::Bug)] {
            for (archived, confidence, domain) in [
                (false, None, None),
                (true, None, None),
                (false, Some(0.8), None),
                (false, None, Some("frontend")),
            ] {
                let req = SearchRequest {
                    mode: SearchMode::Bm25,
                    memory_type: t,
                    include_archived: archived,
                    min_confidence: confidence,
                    domain: domain.map(|d| Domain::parse(d).unwrap()),
                    ..SearchRequest::new(query, 10)
                };
                let got = store.text_candidates(&req, &config).await.unwrap();
                let want = reference(&pool, &req, limit).await;
                // Equal scores may come in either order; the scores and the set must agree.
                let scores =
                    |v: &[(i64, f64)]| v.iter().map(|(_, s)| (s * 1e9).round() as i64).collect::<Vec<_>>();
                assert_eq!(scores(&got), scores(&want), "{req:?}");
                let mut a: Vec<i64> = got.iter().map(|(id, _)| *id).collect();
                let mut b: Vec<i64> = want.iter().map(|(id, _)| *id).collect();
                if a.len() < limit {
                    a.sort_unstable();
                    b.sort_unstable();
                    assert_eq!(a, b, "{req:?}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 80);
    // The case the bound exists for: 400 better-ranked bugs hide the facts,
    // which must still be found.
    let facts = SearchRequest { memory_type: Some(MemoryType::Fact), ..SearchRequest::new("zebra", 10) };
    let got = store.text_candidates(&facts, &config).await.unwrap();
    assert!(!got.is_empty());
    for (id, _) in &got {
        assert_eq!(store.get(*id).await.unwrap().memory_type, MemoryType::Fact);
    }
}

/// Saves one at a time leave FTS5's index in many segments; merging it
/// leaves one, with every search's candidates and scores as they were, and
/// the index whole and still written to. A second merge finds nothing to do.
#[tokio::test]
async fn merging_the_text_index_changes_no_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("memory.db")).await.unwrap();
    let words = ["zebra", "crossing", "lantern", "harbour", "quartz", "meadow", "violet", "anchor"];
    let mut rng = StdRng::seed_from_u64(3);
    let mut saved = 0;
    while store.text_index_segments().await.unwrap() <= 8 && saved < 500 {
        let n = rng.random_range(3..9);
        let text: Vec<&str> = (0..n).map(|_| words[rng.random_range(0..words.len())]).collect();
        let new = NewMemory::new(&format!("{} note {saved}", text.join(" ")), Source::Cli).unwrap();
        store.insert(&new, None, 1.1, 0).await.unwrap();
        saved += 1;
    }
    assert!(store.text_index_segments().await.unwrap() > 8, "{saved} saves left few segments");
    let config = SearchConfig::default();
    let queries = ["zebra", "lantern harbour", "quartz meadow violet", "note 7", "anchor crossing"];
    let mut before = Vec::new();
    for q in queries {
        before.push(store.text_candidates(&SearchRequest::new(q, 10), &config).await.unwrap());
    }

    // Steps of a few pages: the merge runs as many write transactions.
    assert!(store.merge_text_index(8, 2).await.unwrap());
    assert_eq!(store.text_index_segments().await.unwrap(), 1);
    for (q, expected) in queries.iter().zip(&before) {
        let after = store.text_candidates(&SearchRequest::new(*q, 10), &config).await.unwrap();
        assert_eq!(&after, expected, "{q}");
    }
    assert!(!store.merge_text_index(8, 2).await.unwrap(), "nothing left to merge");

    let new = NewMemory::new("a lighthouse keeper's log", Source::Cli).unwrap();
    let (id, _) = store.insert(&new, None, 1.1, 0).await.unwrap();
    let hits = store.text_candidates(&SearchRequest::new("lighthouse", 10), &config).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![id]);
    let pool = SqlitePoolOptions::new()
        .connect(&format!("sqlite:{}", dir.path().join("memory.db").display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO memories_fts (memories_fts, rank) VALUES ('integrity-check', 1)")
        .execute(&pool)
        .await
        .unwrap();
}
