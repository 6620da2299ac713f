//! Hybrid search: FTS5 BM25 and sqlite-vec KNN, each filtered in SQL, fused in Rust.

use std::collections::HashMap;

use cm_core::search::{
    Candidate, Place, SearchHit, SearchMode, SearchRequest, SearchResults, boost_neighbours, fuse,
};
use cm_core::text::fts_query;
use cm_core::{Domain, MemoryType, Provenance, SearchConfig};
use sqlx::AssertSqlSafe;
use sqlx::{Row, SqliteConnection};

use crate::index::Indexes;
use crate::memories::{MEMORY_COLUMNS, memory_from_row};
use crate::vectors::{Space, vector_blob};
use crate::{Result, Store, now_ms};

impl Store {
    /// Searches this project. `query_vector` is the query's embedding and the
    /// space it belongs to; without it the search is BM25-only and says so in
    /// [`SearchResults::mode`].
    pub async fn search(
        &self,
        req: &SearchRequest,
        query_vector: Option<(&Space, &[f32])>,
        config: &SearchConfig,
    ) -> Result<SearchResults> {
        self.search_with_text(req, query_vector, config, None).await
    }

    /// The full-text candidates of a search, `(id, bm25)` best first: the
    /// part that does not need the query's embedding, so a caller can fetch
    /// them while the query is being embedded and hand them to
    /// [`Store::search_with_text`].
    pub async fn text_candidates(
        &self,
        req: &SearchRequest,
        config: &SearchConfig,
    ) -> Result<Vec<(i64, f64)>> {
        if req.mode == SearchMode::Vector {
            return Ok(Vec::new());
        }
        let mut conn = self.pool().acquire().await?;
        bm25_candidates(&mut conn, req, config.candidates.max(req.limit)).await
    }

    /// The nearest-neighbour candidates of a search, `(id, similarity)` best
    /// first: the other half of [`Store::text_candidates`], so a caller can
    /// run the two on two connections at once and hand both to
    /// [`Store::search_with_candidates`].
    pub async fn vector_candidates(
        &self,
        req: &SearchRequest,
        query_vector: (&Space, &[f32]),
        config: &SearchConfig,
    ) -> Result<Vec<(i64, f64)>> {
        if req.mode == SearchMode::Bm25 {
            return Ok(Vec::new());
        }
        let mut conn = self.pool().acquire().await?;
        let (space, v) = query_vector;
        knn(&self.indexes, &mut conn, space, v, req, config.candidates.max(req.limit), config).await
    }

    /// Loads `space`'s in-memory vector index, or brings it up to date, when
    /// searches of this project scan it (more than `config.exact_scan_limit`
    /// vectors); returns how many vectors it holds, 0 when it is not used.
    /// The first search after the engine starts would otherwise read every
    /// vector of the project first (about 0.1 s at 10k memories, seconds at
    /// 100k: more than a prompt hook's budget).
    pub async fn warm_index(&self, space: &Space, config: &SearchConfig) -> Result<usize> {
        if space.vector_count <= config.exact_scan_limit {
            return Ok(0);
        }
        let mut conn = self.pool().acquire().await?;
        self.indexes.refresh(&mut conn, space).await?;
        Ok(self.indexes.loaded(space).unwrap_or(0))
    }

    /// How many vectors the in-memory index of `space` holds, or `None` while
    /// it is not loaded (no search has scanned it and it was not warmed).
    pub fn indexed_vectors(&self, space: &Space) -> Option<usize> {
        self.indexes.loaded(space)
    }

    /// How many segments (b-trees) FTS5's index of the memories holds. Each
    /// write transaction adds one and FTS5 merges them by levels, so a
    /// project of 10k memories saved one at a time holds about 20, and every
    /// search term is looked up in each of them.
    pub async fn text_index_segments(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(DISTINCT segid) FROM memories_fts_idx")
            .fetch_one(self.pool())
            .await?)
    }

    /// Merges the full-text index into one segment when it holds more than
    /// `max_segments`, `pages` pages per step; returns whether it merged.
    ///
    /// Full-text candidates of a 10k project took half the time from one
    /// segment as from the 20 saves leave (0.40 against 0.85 ms). Each step
    /// is its own write transaction, so saves and hooks' bookkeeping wait
    /// for one step at most, never for the whole merge (seconds at 1M
    /// memories). FTS5 starts an incremental optimize on a negative page
    /// count and continues it on positive ones; a step that changed fewer
    /// than two rows found nothing left to merge.
    pub async fn merge_text_index(&self, max_segments: i64, pages: i64) -> Result<bool> {
        if self.text_index_segments().await? <= max_segments {
            return Ok(false);
        }
        let pages = pages.max(1);
        let mut step = -pages;
        loop {
            let mut tx = self.begin_write().await?;
            let before: i64 = sqlx::query_scalar("SELECT total_changes()").fetch_one(&mut *tx).await?;
            sqlx::query("INSERT INTO memories_fts (memories_fts, rank) VALUES ('merge', ?1)")
                .bind(step)
                .execute(&mut *tx)
                .await?;
            let after: i64 = sqlx::query_scalar("SELECT total_changes()").fetch_one(&mut *tx).await?;
            tx.commit().await?;
            if after - before < 2 {
                return Ok(true);
            }
            step = pages;
        }
    }

    /// [`Store::search`] with the full-text candidates already fetched by
    /// [`Store::text_candidates`] (for the same request), when given.
    pub async fn search_with_text(
        &self,
        req: &SearchRequest,
        query_vector: Option<(&Space, &[f32])>,
        config: &SearchConfig,
        text_hits: Option<Vec<(i64, f64)>>,
    ) -> Result<SearchResults> {
        let found = Candidates { text: text_hits, ..Candidates::default() };
        self.search_with_candidates(req, query_vector, config, found).await
    }

    /// The cosine similarities of `ids`' vectors in `space` to `vector`
    /// (memories without one there are left out): for full-text candidates,
    /// which a hybrid search ranks by their similarity too, computed while
    /// [`Store::vector_candidates`] scans on another connection.
    pub async fn similarities(&self, space: &Space, vector: &[f32], ids: &[i64]) -> Result<Vec<(i64, f64)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool().acquire().await?;
        exact_similarities(&mut conn, space, vector, ids).await
    }

    /// [`Store::search`] with what `found` holds of its candidates already
    /// fetched (for the same request and query vector) by
    /// [`Store::text_candidates`], [`Store::vector_candidates`] and
    /// [`Store::similarities`].
    pub async fn search_with_candidates(
        &self,
        req: &SearchRequest,
        query_vector: Option<(&Space, &[f32])>,
        config: &SearchConfig,
        found: Candidates,
    ) -> Result<SearchResults> {
        let Candidates { text: text_hits, vector: vector_hits, text_similarities } = found;
        let mode = match (req.mode, query_vector.is_some()) {
            (SearchMode::Bm25, _) | (SearchMode::Hybrid, false) => SearchMode::Bm25,
            (SearchMode::Vector, false) => {
                return Ok(SearchResults { hits: Vec::new(), mode: SearchMode::Vector });
            }
            (m, true) => m,
        };
        let want = config.candidates.max(req.limit);
        let t0 = std::time::Instant::now();
        let mut conn = self.pool().acquire().await?;
        let t_acquire = t0.elapsed();

        let text_hits = match text_hits {
            _ if mode == SearchMode::Vector => Vec::new(),
            Some(hits) => hits,
            None => bm25_candidates(&mut conn, req, want).await?,
        };
        let t_bm25 = t0.elapsed();
        let vector_hits = match (mode, query_vector, vector_hits) {
            (SearchMode::Bm25, _, _) | (_, None, _) => Vec::new(),
            (_, Some(_), Some(hits)) => hits,
            (_, Some((space, v)), None) => knn(&self.indexes, &mut conn, space, v, req, want, config).await?,
        };

        let mut by_id: HashMap<i64, Candidate> = HashMap::new();
        for (rank, (id, score)) in text_hits.iter().enumerate() {
            by_id.entry(*id).or_insert_with(|| blank(*id)).bm25 = Some((*score, rank + 1));
        }
        for (rank, (id, sim)) in vector_hits.iter().enumerate() {
            by_id.entry(*id).or_insert_with(|| blank(*id)).similarity = Some((*sim, rank + 1));
        }
        if by_id.is_empty() {
            return Ok(SearchResults { hits: Vec::new(), mode });
        }
        let t_knn = t0.elapsed();
        // Text matches the vector scan did not reach still deserve their true
        // similarity, not zero: the caller's, else looked up directly.
        if let (SearchMode::Hybrid, Some((space, v))) = (mode, query_vector) {
            // Ranked after every vector hit: it was not in the KNN top list.
            let outside = vector_hits.len() + 1;
            let similarities = match text_similarities {
                Some(known) => known,
                None => {
                    let missing: Vec<i64> =
                        by_id.values().filter(|c| c.similarity.is_none()).map(|c| c.id).collect();
                    exact_similarities(&mut conn, space, v, &missing).await?
                }
            };
            for (id, sim) in similarities {
                if let Some(c) = by_id.get_mut(&id).filter(|c| c.similarity.is_none()) {
                    c.similarity = Some((sim, outside));
                }
            }
        }
        let t_exact = t0.elapsed();
        // Ranking needs a few columns of every candidate; the whole memory
        // (text, tags, structure) is read only for the ones returned.
        let fused = by_id.len();
        let mut candidates = ranking_fields(&mut conn, by_id).await?;
        let t_fields = t0.elapsed();
        if let (Some(min), true) = (req.min_similarity, mode != SearchMode::Bm25) {
            candidates.retain(|c| c.similarity.is_some_and(|(s, _)| s >= min));
        }
        let mut ranked = fuse(&candidates, config, mode, now_ms());
        demote_stale(&mut ranked, &candidates);
        // Neighbouring turns lend each other relevance among the best
        // `want`, so a turn just below the cut can still rise into it.
        if mode == SearchMode::Hybrid && config.neighbour_weight > 0.0 {
            ranked.truncate(want);
            boost_neighbours(&mut ranked, &candidates, config.neighbour_weight);
        }
        ranked.truncate(req.limit);
        let returned: Vec<i64> = ranked.iter().map(|&(i, _)| candidates[i].id).collect();
        let mut memories = fetch_memories(&mut conn, &returned).await?;
        drop(conn);
        tracing::trace!(
            acquire_us = t_acquire.as_micros() as u64,
            bm25_us = (t_bm25 - t_acquire).as_micros() as u64,
            knn_us = (t_knn - t_bm25).as_micros() as u64,
            exact_us = (t_exact - t_knn).as_micros() as u64,
            fields_us = (t_fields - t_exact).as_micros() as u64,
            fetch_us = (t0.elapsed() - t_fields).as_micros() as u64,
            text_hits = text_hits.len(),
            candidates = fused,
            "search stages"
        );

        let mut hits = Vec::with_capacity(ranked.len());
        for (i, score) in ranked {
            let c = &candidates[i];
            // Gone between the two reads (deleted by another connection).
            if let Some(memory) = memories.remove(&c.id) {
                hits.push(SearchHit {
                    memory,
                    score,
                    vector_similarity: c.similarity.map(|(s, _)| s),
                    bm25: c.bm25.map(|(s, _)| s),
                });
            }
        }
        if req.touch {
            let ids: Vec<i64> = hits.iter().map(|h| h.memory.id).collect();
            self.touch(&ids).await?;
        }
        Ok(SearchResults { hits, mode })
    }
}

/// What a caller already fetched of a search's candidates, each on a
/// connection of its own, for [`Store::search_with_candidates`]; what is
/// `None` or absent is fetched there.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// Full-text candidates `(id, bm25)`, best first ([`Store::text_candidates`]).
    pub text: Option<Vec<(i64, f64)>>,
    /// Nearest neighbours `(id, similarity)`, best first ([`Store::vector_candidates`]).
    pub vector: Option<Vec<(i64, f64)>>,
    /// Similarities `(id, similarity)` to the query of every candidate in
    /// `text`, when the caller computed them ([`Store::similarities`]); a
    /// memory without a vector is left out.
    pub text_similarities: Option<Vec<(i64, f64)>>,
}

/// What a memory flagged stale (a file it names went away) keeps of its
/// score: it still turns up, below the fresh memories that match as well,
/// until a person confirms it or the file comes back.
pub const STALE_FACTOR: f64 = 0.5;

/// Scales the scores of stale memories by [`STALE_FACTOR`] and re-sorts,
/// keeping fusion's order among equals.
fn demote_stale(ranked: &mut [(usize, f64)], candidates: &[Candidate]) {
    let mut any = false;
    for (i, score) in ranked.iter_mut() {
        if candidates[*i].stale {
            *score *= STALE_FACTOR;
            any = true;
        }
    }
    if any {
        // Stable: equal scores keep fusion's tie-break.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    }
}

fn blank(id: i64) -> Candidate {
    Candidate {
        id,
        memory_type: MemoryType::Context,
        created_at: 0,
        bm25: None,
        similarity: None,
        stale: false,
        place: None,
    }
}

/// How many of FTS5's best matches are read before filtering, per wanted
/// candidate (see `bm25_candidates`).
const BM25_OVERFETCH: usize = 4;

/// Full-text candidates `(id, bm25)` best first, filters applied before the limit.
///
/// A common word matches thousands of notes in a large project, and joining
/// each to `memories` to filter it cost more than scoring it (BM25 p50
/// 6.5 ms at 100k). So FTS5 first ranks alone and only its best
/// `BM25_OVERFETCH × limit` are joined and filtered. When at least `limit`
/// survive they are exactly the best `limit` of the filtered matches (any
/// better one would have been among those read); when fewer survive and
/// more matches exist, the full filtered query answers instead.
async fn bm25_candidates(
    conn: &mut SqliteConnection,
    req: &SearchRequest,
    limit: usize,
) -> Result<Vec<(i64, f64)>> {
    let Some(query) = fts_query(&req.query) else {
        return Ok(Vec::new());
    };
    let read = limit * BM25_OVERFETCH;
    let rows = filtered_matches(conn, req, &query, limit, read as i64).await?;
    if rows.len() >= limit {
        return Ok(rows);
    }
    let matched: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ?1 LIMIT ?2)",
    )
    .bind(&query)
    .bind(read as i64 + 1)
    .fetch_one(&mut *conn)
    .await?;
    if matched as usize <= read {
        // Every match was read: nothing better was left out.
        return Ok(rows);
    }
    // SQLite reads a negative LIMIT as none.
    filtered_matches(conn, req, &query, limit, -1).await
}

/// The best `limit` of FTS5's best `read` matches `(id, score)` that pass
/// `req`'s filters. The ranked matches drive the join (CROSS JOIN): a plain
/// JOIN lets the planner scan `memories` and re-run the MATCH once per row.
///
/// Sorted by `bm25()` in SQLite's own sorter rather than `ORDER BY rank`:
/// the scores and order are the same, but FTS5 answers `ORDER BY rank` by
/// preparing a nested statement for every query, which cost more than
/// scoring the matches (0.85 against 1.35 ms for 130 matches at 10k).
async fn filtered_matches(
    conn: &mut SqliteConnection,
    req: &SearchRequest,
    query: &str,
    limit: usize,
    read: i64,
) -> Result<Vec<(i64, f64)>> {
    // One JSON row rather than a row per match (see `exact_similarities`).
    let json: String = sqlx::query_scalar(
        "SELECT json_group_array(json_array(id, score)) FROM (
           SELECT m.id, f.score
           FROM (SELECT rowid, bm25(memories_fts) AS score FROM memories_fts
                 WHERE memories_fts MATCH ?1 ORDER BY score LIMIT ?7) AS f
           CROSS JOIN memories m ON m.id = f.rowid
           WHERE (?2 OR m.archived = 0)
             AND (?3 IS NULL OR m.memory_type = ?3)
             AND (?4 IS NULL OR m.domain = ?4)
             AND (?5 IS NULL OR m.confidence >= ?5)
           ORDER BY f.score LIMIT ?6)",
    )
    .bind(query)
    .bind(req.include_archived)
    .bind(req.memory_type.map(MemoryType::as_str))
    .bind(req.domain.as_ref().map(Domain::as_str))
    .bind(req.min_confidence)
    .bind(limit as i64)
    .bind(read)
    .fetch_one(&mut *conn)
    .await?;
    let mut matches: Vec<(i64, f64)> = json_rows(&json, "full-text matches")?;
    // An aggregate's input order is SQLite's to choose; best first again
    // (stable, so equal scores keep the order they came in).
    matches.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(matches)
}

/// Filter clauses on a space's metadata columns, for the KNN query. sqlite-vec
/// accepts only plain comparisons here, so absent filters are left out
/// rather than written as `?N IS NULL OR …`.
fn metadata_filters(req: &SearchRequest) -> String {
    let mut sql = String::new();
    if !req.include_archived {
        sql.push_str(" AND archived = 0");
    }
    if req.memory_type.is_some() {
        sql.push_str(" AND memory_type = ?3");
    }
    if req.domain.is_some() {
        sql.push_str(" AND domain = ?4");
    }
    if req.min_confidence.is_some() {
        sql.push_str(" AND confidence >= ?5");
    }
    sql
}

/// Nearest neighbours `(id, cosine similarity)` best first, filters applied inside the KNN.
///
/// Small spaces are scanned exactly by sqlite-vec. Large ones are first
/// scanned in the in-memory index of sign bits (`index.rs`), and the best
/// `rescore_factor × k` re-scored with the full-precision vectors.
async fn knn(
    indexes: &Indexes,
    conn: &mut SqliteConnection,
    space: &Space,
    vector: &[f32],
    req: &SearchRequest,
    k: usize,
    config: &SearchConfig,
) -> Result<Vec<(i64, f64)>> {
    if vector.len() != space.dimension {
        return Err(crate::Error::Dimension {
            model: space.model_id.clone(),
            expected: space.dimension,
            actual: vector.len(),
        });
    }
    let blob = vector_blob(vector);
    let filters = metadata_filters(req);
    if space.vector_count <= config.exact_scan_limit {
        let sql = format!(
            "SELECT memory_id, distance FROM {} WHERE embedding MATCH ?1 AND k = ?2{filters} ORDER BY distance",
            space.table
        );
        let rows = bind_filters(sqlx::query(AssertSqlSafe(sql)).bind(&blob).bind(k as i64), req)
            .fetch_all(&mut *conn)
            .await?;
        return rows
            .iter()
            .map(|r| Ok((r.try_get("memory_id")?, 1.0 - r.try_get::<f64, _>("distance")?)))
            .collect();
    }
    let started = std::time::Instant::now();
    let ids = indexes.candidates(conn, space, vector, req, k * config.rescore_factor.max(1)).await?;
    let scanned = started.elapsed();
    let mut exact = exact_similarities(conn, space, vector, &ids).await?;
    exact.sort_by(|a, b| b.1.total_cmp(&a.1));
    exact.truncate(k);
    tracing::trace!(
        index_us = scanned.as_micros() as u64,
        rescore_us = (started.elapsed() - scanned).as_micros() as u64,
        rescored = ids.len(),
        "knn stages"
    );
    Ok(exact)
}

fn bind_filters<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    req: &'q SearchRequest,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    q.bind(req.memory_type.map(MemoryType::as_str))
        .bind(req.domain.as_ref().map(Domain::as_str))
        .bind(req.min_confidence)
}

/// Exact cosine similarities of the stored vectors of `ids` to `vector`.
/// Memories without a vector in `space` are absent from the result.
///
/// sqlite-vec computes them where the vectors are (as its own scan does for
/// small spaces) and the pairs come back as one JSON row: the driver hands
/// rows over one at a time between threads, which cost more than reading
/// and scoring the vectors (200 re-scored rows: 1.7 ms as rows).
async fn exact_similarities(
    conn: &mut SqliteConnection,
    space: &Space,
    vector: &[f32],
    ids: &[i64],
) -> Result<Vec<(i64, f64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The id list drives the join: `WHERE id IN (SELECT …)` let the planner
    // scan the whole table and probe the list, which is linear in project size.
    let sql = format!(
        "SELECT json_group_array(json_array(v.memory_id, 1.0 - vec_distance_cosine(v.embedding, ?2)))
         FROM json_each(?1) AS j CROSS JOIN {}_full AS v ON v.memory_id = j.value",
        space.table
    );
    let json: String = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(serde_json::Value::from(ids.to_vec()).to_string())
        .bind(vector_blob(vector))
        .fetch_one(&mut *conn)
        .await?;
    let pairs: Vec<(i64, Option<f64>)> = json_rows(&json, "vector similarities")?;
    // A zero vector has no direction: sqlite-vec's NaN arrives as null.
    Ok(pairs.into_iter().map(|(id, sim)| (id, sim.unwrap_or(0.0))).collect())
}

/// The candidates of `by_id` that still exist, with what ranking needs of
/// each (type and age for decay, the stale flag, the transcript place for
/// neighbours) filled in; one query, driven by the id list like
/// `exact_similarities`.
async fn ranking_fields(
    conn: &mut SqliteConnection,
    mut by_id: HashMap<i64, Candidate>,
) -> Result<Vec<Candidate>> {
    let ids: Vec<i64> = by_id.keys().copied().collect();
    // One JSON row rather than a row per candidate (see `exact_similarities`).
    let json: String = sqlx::query_scalar(
        "SELECT json_group_array(json_array(m.id, m.memory_type, m.created_at,
                    m.stale_path IS NOT NULL AND m.stale_at IS NOT NULL,
                    m.session_id, m.transcript_start, m.transcript_end))
         FROM json_each(?1) AS j CROSS JOIN memories m ON m.id = j.value",
    )
    .bind(serde_json::Value::from(ids).to_string())
    .fetch_one(&mut *conn)
    .await?;
    type Fields = (i64, String, i64, u8, Option<String>, Option<i64>, Option<i64>);
    let rows: Vec<Fields> = json_rows(&json, "ranking fields")?;
    let mut candidates = Vec::with_capacity(rows.len());
    for (id, memory_type, created_at, stale, session_id, transcript_start, transcript_end) in rows {
        let Some(mut c) = by_id.remove(&id) else { continue };
        c.memory_type = memory_type.parse().map_err(|e: cm_core::Error| crate::Error::Data(e.to_string()))?;
        c.created_at = created_at;
        c.stale = stale != 0;
        c.place = Place::of(&Provenance { session_id, transcript_start, transcript_end });
        candidates.push(c);
    }
    Ok(candidates)
}

/// The rows a `json_group_array` query handed over as one JSON array (see
/// `exact_similarities` for why), each read as a `T`; `what` names them in
/// the error.
pub(crate) fn json_rows<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<Vec<T>> {
    serde_json::from_str(json).map_err(|e| crate::Error::Data(format!("{what}: {e}")))
}

/// The memories with these ids, driven by the id list (see `exact_similarities`).
async fn fetch_memories(conn: &mut SqliteConnection, ids: &[i64]) -> Result<HashMap<i64, cm_core::Memory>> {
    let list = serde_json::Value::from(ids.to_vec()).to_string();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {MEMORY_COLUMNS} FROM (SELECT value AS wanted FROM json_each(?1)) AS j
         CROSS JOIN memories ON memories.id = j.wanted"
    )))
    .bind(list)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| memory_from_row(r).map(|m| (m.id, m))).collect()
}
