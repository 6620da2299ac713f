//! `claude-memory bench gate`: calibrates a model's hook and cluster
//! thresholds.
//!
//! Cosine similarity is spread differently by every model, so the threshold
//! above which a hook injects a memory, and the one above which a memory
//! joins a cluster, are measured per model rather than chosen once:
//!
//! - **The gate**, on a realistic coding project (`coding_project.json`: 55
//!   memories in 13 topics, near misses included, 26 prompts with the
//!   memories a good hook injects and 6 off-topic prompts that should get
//!   nothing) and, when given, the
//!   LoCoMo conversations (each question a prompt, its evidence turns the
//!   relevant memories). Each prompt is searched once the way the
//!   UserPromptSubmit hook searches; the gate is then applied at every
//!   threshold of the sweep. Reported per threshold: memories injected per
//!   prompt, precision and recall against the relevant memories, and the
//!   share of off-topic prompts that got anything.
//! - **Clusters**, on the coding project saved afresh at each threshold:
//!   memories in multi-member clusters, those clusters, and how many of them
//!   hold a single topic.
//!
//! The suggestion: the relevance threshold with the best F1 on the coding
//! project among those that inject into the fewest off-topic prompts; the
//! lowest cluster threshold at which at least half the pairs of memories
//! sharing a cluster are on the same topic (a memory's cluster-mates are
//! more often on its subject than not). LoCoMo's questions share names
//! with their evidence, so its gate is decided by shared words and barely
//! moves with the threshold: it is reported, not used to choose.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use cm_core::{Calibration, Config, Embedder, MemoryType, NewMemory, SearchRequest, Source};
use cm_engine::hooks::{Gate, meaningful_words, prompt_query};
use cm_engine::{Engine, ListFilter, Project};
use serde::{Deserialize, Serialize};

use crate::locomo::{self, Conversation};
use crate::{Error, Result};

/// The built-in coding project.
const CODING_PROJECT: &str = include_str!("coding_project.json");

#[derive(Debug, Deserialize)]
pub(crate) struct Fixture {
    pub(crate) memories: Vec<FixtureMemory>,
    pub(crate) prompts: Vec<FixturePrompt>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FixtureMemory {
    pub(crate) key: String,
    topic: String,
    #[serde(rename = "type")]
    memory_type: MemoryType,
    content: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FixturePrompt {
    pub(crate) text: String,
    pub(crate) relevant: Vec<String>,
}

pub(crate) fn fixture() -> Result<Fixture> {
    serde_json::from_str(CODING_PROJECT)
        .map_err(|e| Error::Data { file: "coding_project.json".into(), message: e.to_string() })
}

/// The gate at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct GatePoint {
    /// Cosine threshold.
    pub threshold: f64,
    /// Memories injected per on-topic prompt.
    pub injected_per_prompt: f64,
    /// Share of injected memories that are relevant.
    pub precision: f64,
    /// Share of relevant memories injected.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Share of off-topic prompts that got at least one memory.
    pub off_topic_injected: f64,
}

/// Clustering at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterPoint {
    /// Cosine threshold.
    pub threshold: f64,
    /// Clusters with at least two members.
    pub clusters: usize,
    /// Memories in them.
    pub clustered: usize,
    /// Of those clusters, how many hold one topic only.
    pub single_topic: usize,
    /// Of all pairs of memories sharing a cluster, the share on the same topic.
    pub pair_precision: f64,
}

/// Of all pairs of memories sharing a cluster, the share on the same topic.
fn pair_precision(clusters: &[&Vec<&str>]) -> f64 {
    let (mut same, mut pairs) = (0usize, 0usize);
    for c in clusters {
        for (i, a) in c.iter().enumerate() {
            for b in &c[i + 1..] {
                pairs += 1;
                same += usize::from(a == b);
            }
        }
    }
    if pairs == 0 { 0.0 } else { same as f64 / pairs as f64 }
}

/// The whole calibration.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    /// The model measured.
    pub model: String,
    /// The thresholds it has today (the catalogue's, or the unmeasured default).
    pub current: Calibration,
    /// What this run suggests.
    pub suggested: Calibration,
    /// Memories searched per prompt, as the UserPromptSubmit hook does.
    pub candidates: usize,
    /// Memories injected at most per prompt.
    pub limit: usize,
    /// The gate on the coding project.
    pub coding: Vec<GatePoint>,
    /// The gate on LoCoMo, when its conversations were given.
    pub locomo: Option<Vec<GatePoint>>,
    /// Clusters of the coding project.
    pub clusters: Vec<ClusterPoint>,
}

/// One prompt's search: per candidate, whether it is relevant, its cosine
/// similarity and whether it passes on shared words alone.
struct Searched {
    on_topic: bool,
    relevant_total: usize,
    candidates: Vec<(bool, Option<f64>, bool)>,
}

/// The sweeps: 0.10 to 0.90 by 0.05.
fn sweep() -> Vec<f64> {
    (2..=18).map(|i| f64::from(i) * 0.05).collect()
}

/// Runs the calibration with `embedder`, on the coding project and, when
/// given, `conversations`.
pub async fn run(
    config: Config,
    embedder: Arc<dyn Embedder>,
    conversations: &[Conversation],
) -> Result<GateReport> {
    let config = locomo::bench_config(config);
    let fixture = fixture()?;
    let limit = config.hooks.prompt_limit;
    let candidates = limit * 4;
    let model = embedder.model_id().to_owned();
    let current = embedder.calibration().unwrap_or(Calibration::UNMEASURED);
    let min_words = config.hooks.min_shared_words;

    let engine = Engine::new(config.clone(), Some(embedder.clone()));
    let dir = tempdir()?;
    let project = Project::at(dir.path())?;
    let ids = save_fixture(&engine, &project, &fixture).await?;
    let mut searched = Vec::new();
    for p in &fixture.prompts {
        let relevant: HashSet<i64> =
            p.relevant.iter().filter_map(|k| ids.get(k).map(|(id, _)| *id)).collect();
        if relevant.len() != p.relevant.len() {
            return Err(Error::Data {
                file: "coding_project.json".into(),
                message: format!("a prompt names an unknown memory: {:?}", p.relevant),
            });
        }
        searched.push(search(&engine, &project, &p.text, candidates, min_words, &relevant).await?);
    }
    engine.close().await;
    let coding: Vec<GatePoint> = sweep().into_iter().map(|t| gate_at(t, &searched, limit)).collect();

    let locomo = if conversations.is_empty() {
        None
    } else {
        let engine = Engine::new(config.clone(), Some(embedder.clone()));
        let ingested = locomo::ingest(&engine, conversations).await?;
        let mut searched = Vec::new();
        for (i, c) in conversations.iter().enumerate() {
            let (project, turns) = ingested.conversation(i).expect("one project per conversation");
            let by_turn: HashMap<&str, i64> = turns.iter().map(|(id, t)| (t.as_str(), *id)).collect();
            for q in &c.questions {
                let relevant = q.evidence.iter().filter_map(|e| by_turn.get(e.as_str()).copied()).collect();
                searched.push(search(&engine, project, &q.text, candidates, min_words, &relevant).await?);
            }
        }
        engine.close().await;
        Some(sweep().into_iter().map(|t| gate_at(t, &searched, limit)).collect())
    };

    let mut clusters = Vec::new();
    for threshold in sweep() {
        let mut config = config.clone();
        config.clusters.join_similarity = Some(threshold);
        config.clusters.auto_merge = false;
        let engine = Engine::new(config, Some(embedder.clone()));
        let dir = tempdir()?;
        let project = Project::at(dir.path())?;
        let ids = save_fixture(&engine, &project, &fixture).await?;
        let topic: HashMap<i64, &str> = ids.values().map(|(id, topic)| (*id, topic.as_str())).collect();
        let memories = engine.list(&project, &ListFilter::default(), ids.len() + 1, 0).await?;
        engine.close().await;
        let mut members: HashMap<i64, Vec<&str>> = HashMap::new();
        for m in &memories {
            if let (Some(c), Some(t)) = (m.cluster_id, topic.get(&m.id)) {
                members.entry(c).or_default().push(t);
            }
        }
        let multi: Vec<&Vec<&str>> = members.values().filter(|m| m.len() > 1).collect();
        clusters.push(ClusterPoint {
            threshold,
            clusters: multi.len(),
            clustered: multi.iter().map(|m| m.len()).sum(),
            single_topic: multi.iter().filter(|m| m.iter().all(|t| *t == m[0])).count(),
            pair_precision: pair_precision(&multi),
        });
    }

    // The fixture's near misses (an off-topic prompt sharing a subject with
    // a memory) can keep every threshold above zero: the fewest is the bar.
    let fewest_off_topic = coding.iter().map(|p| p.off_topic_injected).fold(f64::INFINITY, f64::min);
    let suggested = Calibration {
        relevance: coding
            .iter()
            .filter(|p| p.off_topic_injected <= fewest_off_topic)
            .max_by(|a, b| a.f1.total_cmp(&b.f1).then(a.threshold.total_cmp(&b.threshold)))
            .map_or(current.relevance, |p| p.threshold),
        cluster: clusters
            .iter()
            .find(|c| c.clusters > 0 && c.pair_precision >= 0.5)
            .map_or(current.cluster, |c| c.threshold),
    };
    Ok(GateReport { model, current, suggested, candidates, limit, coding, locomo, clusters })
}

pub(crate) fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("claude-memory-gate-")
        .tempdir()
        .map_err(|source| Error::Io { context: "creating a temporary directory".into(), source })
}

/// Saves the fixture's memories; answers each key's id and topic.
pub(crate) async fn save_fixture(
    engine: &Engine,
    project: &Project,
    fixture: &Fixture,
) -> Result<HashMap<String, (i64, String)>> {
    let mut ids = HashMap::new();
    for m in &fixture.memories {
        let new = NewMemory::new(&m.content, Source::Import)?.with_type(m.memory_type);
        let outcome = engine.save(project, new).await?;
        let id = outcome.id.ok_or_else(|| Error::Data {
            file: "coding_project.json".into(),
            message: format!("memory {} was not saved as its own memory", m.key),
        })?;
        ids.insert(m.key.clone(), (id, m.topic.clone()));
    }
    Ok(ids)
}

/// Searches `text` as the UserPromptSubmit hook does.
async fn search(
    engine: &Engine,
    project: &Project,
    text: &str,
    candidates: usize,
    min_shared_words: usize,
    relevant: &HashSet<i64>,
) -> Result<Searched> {
    let query = prompt_query(text, 1).unwrap_or_else(|| text.to_owned());
    let mut req = SearchRequest::new(query.clone(), candidates);
    req.touch = false;
    let results = engine.search(project, &req).await?;
    let subject = meaningful_words(&query);
    // Shared words pass whatever the threshold: measured once.
    let words_only = Gate { min_similarity: f64::INFINITY, min_shared_words, min_relative_score: 0.0 };
    Ok(Searched {
        on_topic: !relevant.is_empty(),
        relevant_total: relevant.len(),
        candidates: results
            .hits
            .iter()
            .map(|h| (relevant.contains(&h.memory.id), h.vector_similarity, words_only.passes(h, &subject)))
            .collect(),
    })
}

/// The gate at `threshold` over every searched prompt.
fn gate_at(threshold: f64, searched: &[Searched], limit: usize) -> GatePoint {
    let (mut injected, mut hits, mut relevant, mut on_topic, mut off_topic, mut off_injected) =
        (0, 0, 0, 0, 0, 0);
    for s in searched {
        let passed: Vec<bool> = s
            .candidates
            .iter()
            .filter(|(_, sim, words)| *words || sim.is_some_and(|v| v >= threshold))
            .take(limit)
            .map(|(rel, _, _)| *rel)
            .collect();
        if s.on_topic {
            on_topic += 1;
            injected += passed.len();
            hits += passed.iter().filter(|r| **r).count();
            relevant += s.relevant_total;
        } else {
            off_topic += 1;
            off_injected += usize::from(!passed.is_empty());
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (precision, recall) = (ratio(hits, injected), ratio(hits, relevant));
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    GatePoint {
        threshold,
        injected_per_prompt: ratio(injected, on_topic),
        precision,
        recall,
        f1,
        off_topic_injected: ratio(off_injected, off_topic),
    }
}

impl fmt::Display for GateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Gate calibration for {} ({} candidates searched, at most {} injected per prompt)",
            self.model, self.candidates, self.limit
        )?;
        let table = |f: &mut fmt::Formatter<'_>, title: &str, points: &[GatePoint]| -> fmt::Result {
            writeln!(f, "\n{title}\n  cosine  injected  precision  recall     F1  off-topic")?;
            for p in points {
                writeln!(
                    f,
                    "  {:>6.2}  {:>8.2}  {:>9.3}  {:>6.3}  {:>5.3}  {:>9.2}",
                    p.threshold, p.injected_per_prompt, p.precision, p.recall, p.f1, p.off_topic_injected
                )?;
            }
            Ok(())
        };
        table(f, "Hook gate, coding project", &self.coding)?;
        if let Some(points) = &self.locomo {
            table(f, "Hook gate, LoCoMo (off-topic: none)", points)?;
        }
        writeln!(
            f,
            "\nClusters, coding project\n  cosine  clusters  clustered  single-topic  same-topic pairs"
        )?;
        for c in &self.clusters {
            writeln!(
                f,
                "  {:>6.2}  {:>8}  {:>9}  {:>12}  {:>16.2}",
                c.threshold, c.clusters, c.clustered, c.single_topic, c.pair_precision
            )?;
        }
        writeln!(
            f,
            "\nCurrent: relevance {:.2}, cluster {:.2}. Suggested: relevance {:.2}, cluster {:.2}.",
            self.current.relevance, self.current.cluster, self.suggested.relevance, self.suggested.cluster
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_is_consistent() {
        let f = fixture().unwrap();
        let keys: HashSet<&str> = f.memories.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys.len(), f.memories.len(), "duplicate keys");
        for p in &f.prompts {
            for k in &p.relevant {
                assert!(keys.contains(k.as_str()), "{:?} names unknown {k}", p.text);
            }
        }
        assert!(f.prompts.iter().any(|p| p.relevant.is_empty()), "no off-topic prompt");
    }

    #[test]
    fn the_gate_counts_what_passes_within_the_limit() {
        let searched = [
            Searched {
                on_topic: true,
                relevant_total: 2,
                candidates: vec![
                    (true, Some(0.6), false),
                    (false, Some(0.4), false),
                    (true, Some(0.2), true),
                ],
            },
            Searched { on_topic: false, relevant_total: 0, candidates: vec![(false, Some(0.45), false)] },
        ];
        let p = gate_at(0.5, &searched, 5);
        assert_eq!(
            (p.injected_per_prompt, p.precision, p.recall, p.off_topic_injected),
            (2.0, 1.0, 1.0, 0.0)
        );
        let p = gate_at(0.3, &searched, 2);
        assert_eq!(
            (p.injected_per_prompt, p.precision, p.recall, p.off_topic_injected),
            (2.0, 0.5, 0.5, 1.0)
        );
    }

    #[test]
    fn pair_precision_counts_same_topic_pairs() {
        let (a, b) = (vec!["deploy", "deploy", "ci"], vec!["db", "db"]);
        assert!((pair_precision(&[&a, &b]) - 0.5).abs() < 1e-9);
        assert_eq!(pair_precision(&[]), 0.0);
    }
}
