//! Hybrid search: FTS5 BM25 and sqlite-vec KNN, each filtered in SQL, fused in Rust.

use std::collections::HashMap;

use cm_core::search::{
    Candidate, Place, SearchHit, SearchMode, SearchRequest, SearchResults, boost_neighbours, fuse,
};
use cm_core::text::fts_terms;
use cm_core::{Domain, MemoryType, Provenance, SearchConfig};
use sqlx::AssertSqlSafe;
use sqlx::{Connection as _, Row, SqliteConnection};

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

/// FTS5's BM25 `k1` (fts5_aux.c): however often a phrase occurs in a note,
/// it adds less than `idf × (k1 + 1)` to the note's score.
const BM25_K1: f64 = 1.2;

/// The weight FTS5's BM25 gives a term matching half the notes or more.
const IDF_FLOOR: f64 = 1e-6;

/// Below this many matches of the query's terms in all, ranking every
/// match costs less than working out where to cut.
const CUT_MIN_MATCHES: i64 = 2_000;

/// Full-text candidates `(id, bm25)` best first, filters applied before the limit.
///
/// A common word matches thousands of notes in a large project, and joining
/// each to `memories` to filter it cost more than scoring it (BM25 p50
/// 6.5 ms at 100k). So FTS5 first ranks alone and only its best
/// `BM25_OVERFETCH × limit` are joined and filtered. When at least `limit`
/// survive they are exactly the best `limit` of the filtered matches (any
/// better one would have been among those read); when fewer survive and
/// more matches exist, the full filtered query answers instead.
///
/// Ranking is itself most of the cost on a large project: FTS5 scores every
/// note that matches any term (0.8 µs each), and one common word matches
/// half a million notes of a million. Where the terms' counts show that a
/// cut pays, the rarest terms are ranked first (see [`Cut`]) and the full
/// ranking answers only when the cut cannot prove it found the same best
/// matches.
async fn bm25_candidates(
    conn: &mut SqliteConnection,
    req: &SearchRequest,
    limit: usize,
) -> Result<Vec<(i64, f64)>> {
    let terms = fts_terms(&req.query);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let query = terms.join(" OR ");
    let read = limit * BM25_OVERFETCH;
    let rows = match cut_ranking(conn, req, &terms, limit, read).await? {
        Some(rows) => rows,
        None => filtered_matches(conn, req, &query, limit, read as i64).await?,
    };
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

/// What FTS5's BM25 weighs a query's terms by: how many notes the index
/// holds (`rows`) and how many each term matches (`matches`, in the
/// query's order).
#[derive(Debug, Clone, PartialEq)]
struct TermCounts {
    rows: i64,
    matches: Vec<i64>,
}

impl TermCounts {
    /// A term's inverse document frequency exactly as FTS5's `bm25()`
    /// computes it, floor included.
    fn idf(&self, term: usize) -> f64 {
        let n = self.matches[term] as f64;
        let idf = ((self.rows as f64 - n + 0.5) / (n + 0.5)).ln();
        if idf <= 0.0 { IDF_FLOOR } else { idf }
    }
}

/// Counts each term's matches, and reads the number of notes FTS5 scores
/// with (its averages record, the one `bm25()` reads) in the same statement.
async fn term_counts(conn: &mut SqliteConnection, terms: &[String]) -> Result<TermCounts> {
    let list = serde_json::Value::from(terms.to_vec()).to_string();
    let (averages, json): (Option<Vec<u8>>, String) = sqlx::query_as(
        "SELECT (SELECT block FROM memories_fts_data WHERE id = 1),
                (SELECT json_group_array(json_array(t.key,
                   (SELECT count(*) FROM memories_fts WHERE memories_fts MATCH t.value)))
                 FROM json_each(?1) AS t)",
    )
    .bind(list)
    .fetch_one(&mut *conn)
    .await?;
    let mut pairs: Vec<(usize, i64)> = json_rows(&json, "term counts")?;
    pairs.sort_unstable();
    Ok(TermCounts {
        rows: averages.as_deref().and_then(|b| varint(b).map(|(v, _)| v as i64)).unwrap_or(0),
        matches: pairs.into_iter().map(|(_, n)| n).collect(),
    })
}

/// The best `limit` of the query's best `read` matches that pass `req`'s
/// filters, ranked through cuts (see [`Cut`]), or `None` where the whole
/// query is to be ranked: a single term, too few matches for a cut to pay,
/// or no cut that holds.
///
/// The first cut leaves out every term but the rare ones. When it does not
/// hold, the `read`-th best of its ranked notes is a floor for any cut
/// that keeps more terms (its notes are a superset, and a note's score is
/// its score on every term), so the next leaves out only the most common
/// terms that together add less than that floor, and holds.
async fn cut_ranking(
    conn: &mut SqliteConnection,
    req: &SearchRequest,
    terms: &[String],
    limit: usize,
    read: usize,
) -> Result<Option<Vec<(i64, f64)>>> {
    if terms.len() < 2 {
        return Ok(None);
    }
    // One snapshot: the bound must be worked out from the counts the
    // ranking scores with, not from those before another process's save.
    let mut tx = conn.begin().await?;
    let counts = term_counts(&mut tx, terms).await?;
    let mut cut = Cut::first(&counts, read);
    if cut.is_none() {
        tracing::trace!(matches = ?counts.matches, "full-text ranking uncut");
    }
    let mut rows = None;
    while let Some(c) = cut {
        let ranked = cut_matches(&mut tx, req, terms, &c, limit, read).await?;
        tracing::trace!(matches = ?counts.matches, cut = ?c, count = ranked.count, worst = ?ranked.worst, "full-text cut");
        if c.holds(ranked.count, ranked.worst, read) {
            rows = Some(best_first(&ranked.json)?);
            break;
        }
        cut = match ranked.worst {
            Some(worst) if ranked.count >= read as i64 => Cut::within(&counts, &c, -worst),
            _ => None,
        };
    }
    tx.commit().await?;
    Ok(rows)
}

/// SQLite's variable-length integer (FTS5 writes its records with it), and
/// the bytes it took; `None` when `bytes` ends first.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return Some(((value << 8) | u64::from(b), 9));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Where to cut a query's ranking, MaxScore style: every note matching one
/// of the `essential` terms (the rarest) is ranked with all the terms; a
/// note matching only the `rest` scores less than `bound`, since no term
/// adds more than `idf × (k1 + 1)`. So when the `read`-th best of the
/// ranked notes scores at least `bound`, they are the best `read` of the
/// whole query, the same notes with the same scores, and the notes that
/// match only common words were never scored.
#[derive(Debug, Clone, PartialEq)]
struct Cut {
    /// Term indexes in the query's order.
    essential: Vec<usize>,
    /// Term indexes in the query's order.
    rest: Vec<usize>,
    /// What the `rest` can add to a note's score, at most (BM25 scores are
    /// negative in FTS5; this is the magnitude).
    bound: f64,
}

impl Cut {
    /// How much more common than the rarest term a term may be and still
    /// count as rare: the words of one topic are about as rare as each
    /// other, and the notes about it match several of them.
    const RARE_SPREAD: i64 = 4;

    /// How many times `read` the rare terms must match in all for a cut to
    /// be tried: with fewer, the `read`-th best note matches one rare term
    /// and the common terms can lift others past it (a cut that does not
    /// hold costs a second ranking).
    const RARE_READS: i64 = 8;

    /// The first cut: [`Cut::rare`], or where that is not tried,
    /// [`Cut::weightless`].
    fn first(counts: &TermCounts, read: usize) -> Option<Cut> {
        Cut::rare(counts, read).or_else(|| Cut::weightless(counts, read))
    }

    /// The rare terms (those matching at most `RARE_SPREAD ×` the rarest's
    /// notes) essential, the rest left out; `None` when the rare terms match
    /// too few notes, or the rest too few for leaving them out to pay.
    fn rare(counts: &TermCounts, read: usize) -> Option<Cut> {
        let mut rarest: Vec<usize> = (0..counts.matches.len()).collect();
        rarest.sort_by_key(|&t| counts.matches[t]);
        let spread = counts.matches[*rarest.first()?].max(1) * Self::RARE_SPREAD;
        let k = rarest.iter().take_while(|&&t| counts.matches[t] <= spread).count();
        let rare: i64 = rarest[..k].iter().map(|&t| counts.matches[t]).sum();
        let others: i64 = rarest[k..].iter().map(|&t| counts.matches[t]).sum();
        if rare < Self::RARE_READS * read as i64 || others < CUT_MIN_MATCHES.max(2 * rare) {
            return None;
        }
        Some(Cut::at(counts, &rarest[k..]))
    }

    /// The terms in half the notes or more left out: BM25 weighs each at
    /// [`IDF_FLOOR`], so they add next to nothing to a score, and ranking
    /// their notes is most of what the query costs (a project's own name in
    /// most of its notes). `None` when there are none, when the other terms
    /// match fewer than `read` notes (no proof then), or when what is left
    /// out is too little to pay.
    fn weightless(counts: &TermCounts, read: usize) -> Option<Cut> {
        let (rest, kept): (Vec<usize>, Vec<usize>) =
            (0..counts.matches.len()).partition(|&t| counts.idf(t) <= IDF_FLOOR);
        let sum = |terms: &[usize]| terms.iter().map(|&t| counts.matches[t]).sum::<i64>();
        if kept.is_empty() || sum(&kept) < read as i64 || sum(&rest) < CUT_MIN_MATCHES {
            return None;
        }
        Some(Cut::at(counts, &rest))
    }

    /// A cut within `tried` (which did not hold) whose essential terms'
    /// notes are sure to score at least `floor` at the `read`-th best: it
    /// leaves out the most common of `tried`'s left-out terms that together
    /// add less than `floor`. `None` when not even the commonest can go.
    fn within(counts: &TermCounts, tried: &Cut, floor: f64) -> Option<Cut> {
        let mut common = tried.rest.clone();
        common.sort_by_key(|&t| std::cmp::Reverse(counts.matches[t]));
        let mut bound = 0.0;
        let mut keep = 0;
        for &t in &common {
            bound += (BM25_K1 + 1.0) * counts.idf(t);
            if !Self::below(bound, floor) {
                break;
            }
            keep += 1;
        }
        (keep > 0 && keep < tried.rest.len()).then(|| Cut::at(counts, &common[..keep]))
    }

    /// The cut leaving out `rest`.
    fn at(counts: &TermCounts, rest: &[usize]) -> Cut {
        let mut rest = rest.to_vec();
        rest.sort_unstable();
        let essential = (0..counts.matches.len()).filter(|t| !rest.contains(t)).collect();
        let bound = rest.iter().map(|&t| (BM25_K1 + 1.0) * counts.idf(t)).sum();
        Cut { essential, rest, bound }
    }

    /// Whether `bound` is below `score` beyond rounding: the margin covers
    /// two ways of summing the same terms.
    fn below(bound: f64, score: f64) -> bool {
        bound * (1.0 + 1e-9) + 1e-12 < score
    }

    /// Whether ranked notes whose `read`-th best scored `worst` (FTS5's
    /// negative score) are the best of the whole query.
    fn holds(&self, ranked: i64, worst: Option<f64>, read: usize) -> bool {
        ranked >= read as i64 && worst.is_some_and(|w| Self::below(self.bound, -w))
    }
}

/// The end of a full-text ranking statement: of the ranked matches `f`
/// (`rowid, score`, defined before it), the best `?6` that pass the
/// request's filters (`?2`–`?5`), as one JSON array of `[id, score]`. The
/// ranked matches drive the join (CROSS JOIN): a plain JOIN lets the
/// planner scan `memories` and re-run the MATCH once per row. One JSON row
/// rather than a row per match (see `exact_similarities`).
const FILTERED: &str = "SELECT json_group_array(json_array(id, score)) FROM (
           SELECT m.id, f.score
           FROM f CROSS JOIN memories m ON m.id = f.rowid
           WHERE (?2 OR m.archived = 0)
             AND (?3 IS NULL OR m.memory_type = ?3)
             AND (?4 IS NULL OR m.domain = ?4)
             AND (?5 IS NULL OR m.confidence >= ?5)
           ORDER BY f.score LIMIT ?6)";

/// What a cut ranked: how many notes it read (at most `read`), the
/// score of the worst of them, and the best of them that pass the
/// request's filters (a JSON array, see [`FILTERED`]).
#[derive(Debug)]
struct Ranked {
    count: i64,
    worst: Option<f64>,
    json: String,
}

/// The query's matches ranked through `cut`.
///
/// FTS5 scores a note over the phrases of its query, so the essential
/// terms' matches are ranked alone (`e`), and the notes matching both an
/// essential term and one of the rest are ranked again with every term
/// (`b`: the query `(essential) AND (rest)` holds each term once). A note's
/// full score is `b`'s where it has one and `e`'s otherwise (the rest add
/// nothing to a note they do not match).
async fn cut_matches(
    conn: &mut SqliteConnection,
    req: &SearchRequest,
    terms: &[String],
    cut: &Cut,
    limit: usize,
    read: usize,
) -> Result<Ranked> {
    let join = |idx: &[usize]| idx.iter().map(|&t| terms[t].as_str()).collect::<Vec<_>>().join(" OR ");
    let (essential, rest) = (join(&cut.essential), join(&cut.rest));
    let sql = format!(
        "WITH e AS MATERIALIZED (SELECT rowid AS id, bm25(memories_fts) AS s FROM memories_fts
                                 WHERE memories_fts MATCH ?1),
              b AS MATERIALIZED (SELECT rowid AS id, bm25(memories_fts) AS s FROM memories_fts
                                 WHERE memories_fts MATCH ?8),
              f AS MATERIALIZED (SELECT e.id AS rowid, coalesce(b.s, e.s) AS score
                                 FROM e LEFT JOIN b ON b.id = e.id ORDER BY score LIMIT ?7)
         SELECT (SELECT count(*) FROM f), (SELECT max(score) FROM f), ({FILTERED})"
    );
    let both = format!("({essential}) AND ({rest})");
    let (count, worst, json) =
        bind_filtered(sqlx::query_as(AssertSqlSafe(sql)).bind(&essential), req, limit, read as i64)
            .bind(&both)
            .fetch_one(&mut *conn)
            .await?;
    Ok(Ranked { count, worst, json })
}

/// Binds what [`FILTERED`] reads (`?2`–`?6`) and the ranking's `LIMIT`
/// (`?7`, negative for none) after a statement's `?1`.
fn bind_filtered<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments>,
    req: &'q SearchRequest,
    limit: usize,
    read: i64,
) -> sqlx::query::QueryAs<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments> {
    q.bind(req.include_archived)
        .bind(req.memory_type.map(MemoryType::as_str))
        .bind(req.domain.as_ref().map(Domain::as_str))
        .bind(req.min_confidence)
        .bind(limit as i64)
        .bind(read)
}

/// The best `limit` of FTS5's best `read` matches `(id, score)` that pass
/// `req`'s filters (see [`FILTERED`]).
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
    let sql = format!(
        "WITH f AS (SELECT rowid, bm25(memories_fts) AS score FROM memories_fts
                    WHERE memories_fts MATCH ?1 ORDER BY score LIMIT ?7)
         {FILTERED}"
    );
    let (json,): (String,) = bind_filtered(sqlx::query_as(AssertSqlSafe(sql)).bind(query), req, limit, read)
        .fetch_one(&mut *conn)
        .await?;
    best_first(&json)
}

/// `[id, score]` rows of a JSON array, best (lowest) score first.
fn best_first(json: &str) -> Result<Vec<(i64, f64)>> {
    let mut matches: Vec<(i64, f64)> = json_rows(json, "full-text matches")?;
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use cm_core::{NewMemory, Source};

    use super::*;

    fn counts(rows: i64, matches: &[i64]) -> TermCounts {
        TermCounts { rows, matches: matches.to_vec() }
    }

    #[test]
    fn varints_read_as_sqlite_writes_them() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00, 0xff]), Some((128, 2)));
        assert_eq!(varint(&[0xbd, 0x84, 0x40]), Some((1_000_000, 3)));
        assert_eq!(varint(&[0xff; 9]), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81]), None);
        assert_eq!(varint(&[]), None);
    }

    #[test]
    fn idf_is_fts5s_with_its_floor() {
        let c = counts(1_000, &[10, 500, 900]);
        assert!((c.idf(0) - (990.5f64 / 10.5).ln()).abs() < 1e-12);
        assert_eq!(c.idf(1), IDF_FLOOR, "a term in half the notes");
        assert_eq!(c.idf(2), IDF_FLOOR);
    }

    #[test]
    fn a_first_cut_leaves_out_all_but_the_rare_terms() {
        // Two rare terms, a common one and one in most notes, of 1M.
        let c = counts(1_000_000, &[1_100, 60_000, 900, 520_000]);
        let cut = Cut::first(&c, 200).unwrap();
        assert_eq!((cut.essential.as_slice(), cut.rest.as_slice()), ([0, 2].as_slice(), [1, 3].as_slice()));
        let bound = 2.2 * (c.idf(1) + c.idf(3));
        assert!((cut.bound - bound).abs() < 1e-12);
        // Held only by a full read whose worst score beats the bound.
        assert!(cut.holds(200, Some(-(bound + 0.01)), 200));
        assert!(!cut.holds(200, Some(-bound), 200));
        assert!(!cut.holds(199, Some(-(bound + 1.0)), 200));
        assert!(!cut.holds(0, None, 200));
    }

    #[test]
    fn a_cut_that_did_not_hold_gives_way_to_one_its_floor_proves() {
        let c = counts(1_000_000, &[1_100, 60_000, 900, 520_000]);
        let tried = Cut::first(&c, 200).unwrap();
        // The floor leaves out the commonest term only.
        let next = Cut::within(&c, &tried, 5.0).unwrap();
        assert_eq!((next.essential.as_slice(), next.rest.as_slice()), ([0, 1, 2].as_slice(), [3].as_slice()));
        assert!(Cut::below(next.bound, 5.0));
        // Nothing smaller to try: the same cut again, or none at all.
        assert_eq!(Cut::within(&c, &tried, 30.0), None);
        assert_eq!(Cut::within(&c, &tried, 1e-6), None);
    }

    #[test]
    fn where_the_rare_terms_match_too_few_the_weightless_ones_are_left_out() {
        // bench search's slowest query at 100k: one word in half the notes.
        let c = counts(100_000, &[110, 1_603, 3_435, 101, 51_483]);
        assert_eq!(Cut::rare(&c, 200), None);
        let cut = Cut::first(&c, 200).unwrap();
        assert_eq!(
            (cut.essential.as_slice(), cut.rest.as_slice()),
            ([0, 1, 2, 3].as_slice(), [4].as_slice())
        );
        assert!((cut.bound - 2.2 * IDF_FLOOR).abs() < 1e-18);
        let two = counts(100_000, &[150, 90_000, 60_000]);
        assert_eq!(Cut::first(&two, 100).unwrap().rest, [1, 2]);
        assert_eq!(Cut::first(&two, 200), None, "fewer matches kept than a read");
        assert_eq!(Cut::first(&counts(3_000, &[100, 1_900]), 50), None, "too little left out");
    }

    #[test]
    fn no_cut_where_ranking_everything_costs_as_little() {
        let first = |rows, matches: &[i64]| Cut::first(&counts(rows, matches), 200);
        assert_eq!(first(1_000_000, &[900_000]), None, "one term");
        assert_eq!(first(1_000_000, &[]), None, "no term");
        assert_eq!(first(100_000, &[110, 120, 9_000, 30_000]), None, "rare terms matching few notes");
        assert_eq!(first(1_000_000, &[3_000, 3_100, 3_200]), None, "terms alike");
        assert_eq!(first(1_000_000, &[1_000, 3_000, 7_000]), None, "the rare terms are most of it");
        assert_eq!(first(0, &[0, 0]), None, "an empty project");
        assert!(first(1_000_000, &[1_700, 12_000]).is_some());
    }

    /// Notes of a large project in miniature: every note says "project",
    /// most say "build", a quarter "release", a sixth "deploy", a few say
    /// one of the rare words, some of them several times.
    async fn corpus() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("memory.db")).await.unwrap();
        let rare = ["zebra", "quartz", "lantern", "harbour"];
        let types = [MemoryType::Bug, MemoryType::Fact, MemoryType::Decision];
        let notes: Vec<(NewMemory, i64)> = (0..6_000usize)
            .map(|i| {
                let mut words = vec!["project"; 1 + i % 3];
                if i % 5 != 0 {
                    words.push("build");
                }
                if i % 4 == 0 {
                    words.extend(["release"; 2]);
                }
                if i % 6 == 1 {
                    words.push("deploy");
                }
                if i % 7 == 0 {
                    words.extend(std::iter::repeat_n(rare[i / 7 % 4], 1 + i / 28 % 3));
                }
                let text = format!("{} note {i}", words.join(" "));
                let new = NewMemory::new(&text, Source::Import).unwrap().with_type(types[i % 3]);
                (new, 0)
            })
            .collect();
        let ids = store.insert_record(&notes, None).await.unwrap();
        for &id in ids.iter().step_by(11) {
            store.set_archived(id, true).await.unwrap();
        }
        (dir, store)
    }

    /// The notes of a ranking, whatever their order among equal scores.
    fn ids(ranked: &[(i64, f64)]) -> HashSet<i64> {
        ranked.iter().map(|(id, _)| *id).collect()
    }

    /// `got` holds the notes of the full ranking `full`, with its scores.
    fn assert_same_ranking(query: &str, got: &[(i64, f64)], full: &[(i64, f64)]) {
        assert_eq!(got.len(), full.len(), "{query}");
        for (g, f) in got.iter().zip(full) {
            assert!((g.1 - f.1).abs() < 1e-9, "{query}: {got:?} against {full:?}");
        }
        assert_eq!(ids(got), ids(full), "{query}");
    }

    #[tokio::test]
    async fn a_cut_ranking_finds_the_full_rankings_best_matches() {
        let (_dir, store) = corpus().await;
        let mut conn = store.pool().acquire().await.unwrap();
        let (limit, read) = (6, 24);
        let mut cuts = 0;
        for query in [
            "zebra project build",
            "quartz lantern project",
            "harbour release build project",
            "zebra release",
            "zebra deploy release",
        ] {
            for memory_type in [None, Some(MemoryType::Fact)] {
                let req = SearchRequest { memory_type, ..SearchRequest::new(query, 10) };
                let terms = fts_terms(query);
                assert_eq!(term_counts(&mut conn, &terms).await.unwrap().rows, 6_000);
                let full =
                    filtered_matches(&mut conn, &req, &terms.join(" OR "), limit, read as i64).await.unwrap();
                let Some(got) = cut_ranking(&mut conn, &req, &terms, limit, read).await.unwrap() else {
                    continue;
                };
                cuts += 1;
                assert_same_ranking(query, &got, &full);
                // And the whole path answers the same (with fewer than
                // `limit` it goes on to rank every match).
                if full.len() == limit {
                    let candidates = bm25_candidates(&mut conn, &req, limit).await.unwrap();
                    assert_eq!(ids(&candidates), ids(&full), "{query}");
                }
            }
        }
        assert!(cuts >= 8, "a cut held for {cuts} of 10 queries");
    }

    /// Rare words too few for a cut of their own: the words in most notes
    /// are left out, and the ranking is still the full one's.
    #[tokio::test]
    async fn a_ranking_without_the_weightless_words_is_the_full_one() {
        let (_dir, store) = corpus().await;
        let mut conn = store.pool().acquire().await.unwrap();
        let (limit, read) = (50, 200);
        for (query, weightless) in
            [("zebra quartz project", vec![2]), ("lantern release build project", vec![2, 3])]
        {
            let req = SearchRequest::new(query, 10);
            let terms = fts_terms(query);
            let counts = term_counts(&mut conn, &terms).await.unwrap();
            assert_eq!(Cut::rare(&counts, read), None, "{query}: {counts:?}");
            assert_eq!(Cut::first(&counts, read).unwrap().rest, weightless, "{query}");
            let got =
                cut_ranking(&mut conn, &req, &terms, limit, read).await.unwrap().expect("the cut holds");
            let full =
                filtered_matches(&mut conn, &req, &terms.join(" OR "), limit, read as i64).await.unwrap();
            assert_eq!(got.len(), limit, "{query}");
            assert_same_ranking(query, &got, &full);
        }
    }

    #[tokio::test]
    async fn a_first_cut_that_does_not_hold_gives_way_to_a_second() {
        let (_dir, store) = corpus().await;
        let mut conn = store.pool().acquire().await.unwrap();
        // "deploy" and "release" together can add more than the 25th best
        // "zebra" note scores; "release" alone cannot.
        let terms = fts_terms("zebra deploy release");
        let req = SearchRequest::new("zebra deploy release", 10);
        let counts = term_counts(&mut conn, &terms).await.unwrap();
        let first = Cut::first(&counts, 25).unwrap();
        assert_eq!(first.rest, [1, 2]);
        let ranked = cut_matches(&mut conn, &req, &terms, &first, 5, 25).await.unwrap();
        assert!(!first.holds(ranked.count, ranked.worst, 25), "{ranked:?}");
        let second = Cut::within(&counts, &first, -ranked.worst.unwrap()).unwrap();
        assert_eq!(second.rest, [2]);
        let ranked = cut_matches(&mut conn, &req, &terms, &second, 5, 25).await.unwrap();
        assert!(second.holds(ranked.count, ranked.worst, 25));
        let got = cut_ranking(&mut conn, &req, &terms, 5, 25).await.unwrap();
        assert_eq!(got, Some(best_first(&ranked.json).unwrap()));
        let full = filtered_matches(&mut conn, &req, &terms.join(" OR "), 5, 25).await.unwrap();
        assert_eq!(got, Some(full));
    }

    #[tokio::test]
    async fn a_cut_that_cannot_prove_its_ranking_is_not_taken() {
        let (_dir, store) = corpus().await;
        let mut conn = store.pool().acquire().await.unwrap();
        let terms = fts_terms("zebra project");
        let req = SearchRequest::new("zebra project", 10);
        // Were "project" able to add more than any note scores on "zebra"…
        let cut = Cut { essential: vec![0], rest: vec![1], bound: 1e3 };
        let ranked = cut_matches(&mut conn, &req, &terms, &cut, 50, 200).await.unwrap();
        assert_eq!(ranked.count, 200);
        assert!(!cut.holds(ranked.count, ranked.worst, 200));
        // Too few essential matches to fill the read: no proof either.
        let ranked = cut_matches(&mut conn, &req, &terms, &cut, 50, 1_000).await.unwrap();
        assert!(ranked.count < 1_000);
        assert!(!Cut { bound: 0.0, ..cut }.holds(ranked.count, ranked.worst, 1_000));
    }
}
