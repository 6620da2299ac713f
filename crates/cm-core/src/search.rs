//! Search requests and the fusion of full-text and vector results.
//!
//! The store fetches candidates (already filtered in SQL); this module turns
//! their raw scores into one ranking. It is pure so the formula can be tested
//! and benchmarked without a database.

use serde::{Deserialize, Serialize};

use crate::config::{Fusion, SearchConfig};
use crate::memory::{Domain, Memory, MemoryType, Provenance};

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
    /// Flagged stale: a file it names went away.
    pub stale: bool,
    /// Where in a session's transcript it was drawn from, if anywhere.
    pub place: Option<Place>,
}

/// A stretch of one session's transcript a memory was drawn from: the
/// session, and its first and last turn or line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Claude Code session id.
    pub session: String,
    /// First turn or line.
    pub start: i64,
    /// Last turn or line (inclusive).
    pub end: i64,
}

impl Place {
    /// A memory's place, when it has a session and a position (memories
    /// saved by hand have neither).
    pub fn of(provenance: &Provenance) -> Option<Place> {
        let session = provenance.session_id.clone()?;
        let start = provenance.transcript_start?;
        Some(Place { session, start, end: provenance.transcript_end.unwrap_or(start) })
    }

    /// Whether the two are neighbouring stretches of one session: one ends
    /// on the turn (or line) before the other starts.
    fn adjacent(&self, other: &Place) -> bool {
        self.session == other.session && (self.end + 1 == other.start || other.end + 1 == self.start)
    }
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

/// Lifts each of `ranked` (`(index into candidates, score)`, from [`fuse`])
/// by `weight` × the best score among the ranked candidates drawn from the
/// turns right before and after it in the same session, then re-sorts
/// (stable: equal scores keep their order). A short turn rarely says what it
/// is about ("Yes, last Friday!"): the turn it answers does, and matches the
/// query in its place. Scores are the ones fusion gave, so a neighbour lends
/// at most `weight` of its own relevance. Candidates without a [`Place`]
/// (saved by hand) neither lend nor receive.
pub fn boost_neighbours(ranked: &mut [(usize, f64)], candidates: &[Candidate], weight: f64) {
    if weight <= 0.0 {
        return;
    }
    let lifts: Vec<f64> = ranked
        .iter()
        .map(|&(i, _)| {
            let Some(place) = &candidates[i].place else { return 0.0 };
            ranked
                .iter()
                .filter(|&&(j, _)| candidates[j].place.as_ref().is_some_and(|p| place.adjacent(p)))
                .map(|&(_, score)| score)
                .fold(0.0, f64::max)
        })
        .collect();
    for (r, lift) in ranked.iter_mut().zip(lifts) {
        r.1 += weight * lift;
    }
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(id: i64, session: Option<&str>, position: Option<i64>) -> Candidate {
        let provenance = Provenance {
            session_id: session.map(str::to_owned),
            transcript_start: position,
            transcript_end: position,
        };
        Candidate { place: Place::of(&provenance), ..cand(id, None, None) }
    }

    #[test]
    fn a_turn_next_to_a_strong_match_rises_above_an_isolated_weak_one() {
        let candidates = [
            placed(1, Some("s1"), Some(4)),
            placed(2, Some("s2"), Some(7)),
            placed(3, Some("s1"), Some(5)),
            // Same position in another session, and a memory with no position: no neighbours.
            placed(4, Some("s2"), Some(5)),
            placed(5, None, None),
        ];
        let mut ranked = vec![(0, 0.9), (1, 0.4), (2, 0.3), (3, 0.35), (4, 0.32)];
        boost_neighbours(&mut ranked, &candidates, 0.3);
        let order: Vec<i64> = ranked.iter().map(|&(i, _)| candidates[i].id).collect();
        assert_eq!(order, vec![1, 3, 2, 4, 5]);
        assert!((ranked[1].1 - (0.3 + 0.3 * 0.9)).abs() < 1e-12);
        // The strong match is lifted by its weaker neighbour too, and keeps first place.
        assert!((ranked[0].1 - (0.9 + 0.3 * 0.3)).abs() < 1e-12);
        let pair = [placed(1, Some("s1"), Some(1)), placed(2, Some("s1"), Some(2))];
        let mut unchanged = vec![(0, 0.5), (1, 0.6)];
        boost_neighbours(&mut unchanged, &pair, 0.0);
        assert_eq!(unchanged, vec![(0, 0.5), (1, 0.6)]);
    }

    fn cand(id: i64, bm25: Option<f64>, sim: Option<f64>) -> Candidate {
        Candidate {
            id,
            memory_type: MemoryType::Fact,
            created_at: 0,
            bm25: bm25.map(|s| (s, id as usize)),
            similarity: sim.map(|s| (s, id as usize)),
            stale: false,
            place: None,
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
