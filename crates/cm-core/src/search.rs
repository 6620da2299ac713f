//! Search requests and the fusion of full-text and vector results.
//!
//! The store fetches candidates (already filtered in SQL); this module turns
//! their raw scores into one ranking. It is pure so the formula can be tested
//! and benchmarked without a database.

use serde::{Deserialize, Serialize};

use crate::config::{Fusion, SearchConfig};
use crate::memory::{Domain, Memory, MemoryType};

/// Which retrievers a search uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// BM25 and vectors, fused.
    #[default]
    Hybrid,
    /// Vectors only.
    Vector,
    /// BM25 only.
    Bm25,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Free text; anything is accepted.
    pub query: String,
    /// Most results returned.
    pub limit: usize,
    /// Only this type.
    pub memory_type: Option<MemoryType>,
    /// Only this domain.
    pub domain: Option<Domain>,
    /// Only memories at least this confident.
    pub min_confidence: Option<f64>,
    /// Include archived memories.
    pub include_archived: bool,
    /// Drop results whose vector similarity is below this (push contexts).
    pub min_similarity: Option<f64>,
    /// Retrievers to use.
    pub mode: SearchMode,
    /// Count the returned memories as accessed.
    pub touch: bool,
}

impl SearchRequest {
    /// Most results one search may ask for.
    pub const MAX_LIMIT: usize = 200;

    /// A hybrid search for `query` returning at most `limit` (clamped to 1..=200) results.
    pub fn new(query: impl Into<String>, limit: usize) -> Self {
        SearchRequest {
            query: query.into(),
            limit: limit.clamp(1, Self::MAX_LIMIT),
            memory_type: None,
            domain: None,
            min_confidence: None,
            include_archived: false,
            min_similarity: None,
            mode: SearchMode::Hybrid,
            touch: true,
        }
    }
}

/// One memory found by a search, with the scores that placed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The memory.
    #[serde(flatten)]
    pub memory: Memory,
    /// Final score (fusion × age decay); higher is better.
    pub score: f64,
    /// Cosine similarity to the query, when the memory has a vector and vectors were searched.
    pub vector_similarity: Option<f64>,
    /// SQLite's BM25 (negative; more negative is better), when the text matched.
    pub bm25: Option<f64>,
}

/// What a search did and found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// The retrievers actually used: a hybrid request without an embedder is BM25-only.
    pub mode: SearchMode,
}

/// A candidate before fusion.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Memory id.
    pub id: i64,
    /// Its type, for decay.
    pub memory_type: MemoryType,
    /// Creation time in unix milliseconds, for decay.
    pub created_at: i64,
    /// BM25 score and 1-based rank among full-text results.
    pub bm25: Option<(f64, usize)>,
    /// Cosine similarity and 1-based rank among vector results.
    pub similarity: Option<(f64, usize)>,
}

const MS_PER_DAY: f64 = 86_400_000.0;

/// Scores every candidate and returns `(index into candidates, score)` best
/// first. `vectors_used` / `bm25_used` say which retrievers ran, so that a
/// BM25-only search is not penalised for lacking vector similarity.
pub fn fuse(
    candidates: &[Candidate],
    config: &SearchConfig,
    mode: SearchMode,
    now_ms: i64,
) -> Vec<(usize, f64)> {
    let mut scored: Vec<(usize, f64)> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let bm25_part = c.bm25.map_or(0.0, |(s, _)| (s.abs() / config.bm25_scale).min(1.0));
            let vec_part = c.similarity.map_or(0.0, |(s, _)| s.max(0.0));
            let base = match (mode, config.fusion) {
                // Alone, BM25 must keep BM25's order. Capped at 1, every strong
                // match tied and was then ranked by age alone (decay, or the
                // newest-first tie-break). |s| / (|s| + scale) is strictly
                // increasing, stays below 1 and is ½ at the scale.
                (SearchMode::Bm25, _) => c.bm25.map_or(0.0, |(s, _)| s.abs() / (s.abs() + config.bm25_scale)),
                (SearchMode::Vector, _) => vec_part,
                (SearchMode::Hybrid, Fusion::Weighted) => {
                    config.vector_weight * vec_part + config.bm25_weight * bm25_part
                }
                (SearchMode::Hybrid, Fusion::Rrf) => {
                    let rrf = |rank: usize| 1.0 / (config.rrf_k + rank as f64);
                    c.bm25.map_or(0.0, |(_, r)| rrf(r)) + c.similarity.map_or(0.0, |(_, r)| rrf(r))
                }
            };
            let age_days = (now_ms - c.created_at) as f64 / MS_PER_DAY;
            (i, base * config.decay_factor(c.memory_type, age_days))
        })
        .collect();
    // Ties go to the newer memory, then the higher id.
    scored.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(candidates[b.0].created_at.cmp(&candidates[a.0].created_at))
            .then(candidates[b.0].id.cmp(&candidates[a.0].id))
    });
    scored
}

/// Whether two memories come from neighbouring stretches of one session's
/// transcript: one ends on the line (or turn) before the other starts.
fn adjacent(a: &Memory, b: &Memory) -> bool {
    let (pa, pb) = (&a.provenance, &b.provenance);
    let (Some(sa), Some(sb)) = (&pa.session_id, &pb.session_id) else { return false };
    let (Some(a_start), Some(b_start)) = (pa.transcript_start, pb.transcript_start) else { return false };
    let (a_end, b_end) = (pa.transcript_end.unwrap_or(a_start), pb.transcript_end.unwrap_or(b_start));
    sa == sb && (a_end + 1 == b_start || b_end + 1 == a_start)
}

/// Lifts each hit by `weight` × the best score among the hits drawn from the
/// turns right before and after it in the same session, then re-sorts
/// (stable: equal scores keep their order). A short turn rarely says what it
/// is about ("Yes, last Friday!"): the turn it answers does, and matches the
/// query in its place. Scores are the ones fusion gave, so a neighbour lends
/// at most `weight` of its own relevance. Memories without a session and a
/// position (saved by hand) neither lend nor receive.
pub fn boost_neighbours(hits: &mut [SearchHit], weight: f64) {
    if weight <= 0.0 {
        return;
    }
    let lifts: Vec<f64> = hits
        .iter()
        .map(|h| hits.iter().filter(|n| adjacent(&h.memory, &n.memory)).map(|n| n.score).fold(0.0, f64::max))
        .collect();
    for (h, lift) in hits.iter_mut().zip(lifts) {
        h.score += weight * lift;
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: i64, session: Option<&str>, position: Option<i64>, score: f64) -> SearchHit {
        let memory: Memory = serde_json::from_value(serde_json::json!({
            "id": id, "content": format!("memory {id}"), "type": "context", "domain": "general",
            "tags": [], "keywords": [], "confidence": 0.7, "evidence_count": 0, "access_count": 0,
            "created_at": 0, "updated_at": 0, "source": "import", "content_hash": "", "archived": false,
            "provenance": {"session_id": session, "transcript_start": position, "transcript_end": position}
        }))
        .unwrap();
        SearchHit { memory, score, vector_similarity: None, bm25: None }
    }

    #[test]
    fn a_turn_next_to_a_strong_match_rises_above_an_isolated_weak_one() {
        let mut hits = vec![
            hit(1, Some("s1"), Some(4), 0.9),
            hit(2, Some("s2"), Some(7), 0.4),
            hit(3, Some("s1"), Some(5), 0.3),
            // Same position in another session, and a memory with no position: no neighbours.
            hit(4, Some("s2"), Some(5), 0.35),
            hit(5, None, None, 0.32),
        ];
        boost_neighbours(&mut hits, 0.3);
        let order: Vec<i64> = hits.iter().map(|h| h.memory.id).collect();
        assert_eq!(order, vec![1, 3, 2, 4, 5]);
        assert!((hits[1].score - (0.3 + 0.3 * 0.9)).abs() < 1e-12);
        // The strong match is lifted by its weaker neighbour too, and keeps first place.
        assert!((hits[0].score - (0.9 + 0.3 * 0.3)).abs() < 1e-12);
        let mut unchanged = vec![hit(1, Some("s1"), Some(1), 0.5), hit(2, Some("s1"), Some(2), 0.6)];
        boost_neighbours(&mut unchanged, 0.0);
        assert_eq!(unchanged[0].memory.id, 1);
    }

    fn cand(id: i64, bm25: Option<f64>, sim: Option<f64>) -> Candidate {
        Candidate {
            id,
            memory_type: MemoryType::Fact,
            created_at: 0,
            bm25: bm25.map(|s| (s, id as usize)),
            similarity: sim.map(|s| (s, id as usize)),
        }
    }

    #[test]
    fn weighted_fusion_is_the_original_formula() {
        let c = [cand(1, Some(-5.0), Some(0.8))];
        let cfg = SearchConfig { decay_weight: 0.0, ..SearchConfig::default() };
        let s = fuse(&c, &cfg, SearchMode::Hybrid, 0);
        let want = cfg.vector_weight * 0.8 + cfg.bm25_weight * 5.0 / cfg.bm25_scale;
        assert!((s[0].1 - want).abs() < 1e-12);
    }

    #[test]
    fn the_bm25_part_of_weighted_fusion_saturates_at_scale() {
        let c = [cand(1, Some(-500.0), Some(0.0))];
        let cfg = SearchConfig { decay_weight: 0.0, ..SearchConfig::default() };
        assert!((fuse(&c, &cfg, SearchMode::Hybrid, 0)[0].1 - cfg.bm25_weight).abs() < 1e-12);
    }

    #[test]
    fn bm25_only_search_keeps_the_order_of_strong_matches() {
        // Regression: both were capped at 1, tied, and the newer, weaker match won.
        let mut strong = cand(1, Some(-50.0), None);
        strong.created_at = -1;
        let weak = cand(2, Some(-20.0), None);
        let cfg = SearchConfig { decay_weight: 0.0, ..SearchConfig::default() };
        let s = fuse(&[strong, weak], &cfg, SearchMode::Bm25, 0);
        assert_eq!(s[0].0, 0);
        assert!(s[0].1 < 1.0 && s[1].1 < s[0].1);
        let at_scale = [cand(1, Some(-cfg.bm25_scale), None)];
        assert!((fuse(&at_scale, &cfg, SearchMode::Bm25, 0)[0].1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn rrf_rewards_agreement() {
        let c = [cand(1, Some(-1.0), Some(0.1)), cand(2, None, Some(0.9))];
        let cfg = SearchConfig { fusion: Fusion::Rrf, decay_weight: 0.0, ..SearchConfig::default() };
        let s = fuse(&c, &cfg, SearchMode::Hybrid, 0);
        assert_eq!(c[s[0].0].id, 1);
    }

    #[test]
    fn older_memories_rank_lower_at_equal_relevance() {
        let mut old = cand(1, Some(-5.0), Some(0.8));
        let new = cand(2, Some(-5.0), Some(0.8));
        old.created_at = -(400.0 * MS_PER_DAY) as i64;
        let s = fuse(&[old, new], &SearchConfig::default(), SearchMode::Hybrid, 0);
        assert_eq!(s[0].0, 1);
        assert!(s[1].1 < s[0].1);
    }
}
