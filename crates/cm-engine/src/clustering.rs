//! Clustering and merging: a saved memory joins the nearest cluster of its
//! domain (cosine to the centroid ≥ the model's calibrated cluster threshold or
//! `clusters.join_similarity`); a mature
//! cluster is merged into one consolidated `skill` memory that links its
//! sources, which are archived — not deleted, as the original did — and
//! `unmerge` gives them back exactly.

use std::collections::HashSet;
use std::time::Duration;

use cm_core::extract::{merge_prompt, parse_merge};
use cm_core::structure::{LlmVerdict, Structured, offline_structure, parse_llm_output};
use cm_core::{LlmPurpose, MemoryType, NewMemory, Source};
use cm_store::{Assignment, Maturity, Member, Space};
use serde::Serialize;

use crate::{Engine, Error, Project, Result};

/// Memories clustered per batch at session end.
const CLUSTER_BATCH: usize = 500;
/// Most memories drawn on the dashboard's map.
pub const MAP_LIMIT: usize = 5_000;

/// What the session-end pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterPass {
    /// Memories that joined or started a cluster.
    pub clustered: usize,
    /// Consolidated memories written from mature clusters.
    pub merged: Vec<i64>,
}

/// One memory on the dashboard's map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoint {
    /// Memory id.
    pub id: i64,
    /// Position, both in [-1, 1].
    pub x: f64,
    /// See `x`.
    pub y: f64,
    /// Its cluster, if any.
    pub cluster_id: Option<i64>,
}

impl Engine {
    fn maturity(&self) -> Maturity {
        let c = &self.config().clusters;
        Maturity { members: c.mature_members as i64, avg_confidence: c.mature_confidence }
    }

    /// Clusters a just-saved memory with its vector (called by `save`).
    pub(crate) async fn cluster_saved(&self, project: &Project, id: i64, space: &Space, vector: &[f32]) {
        let store = match self.store(project).await {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "clustering skipped"),
        };
        let threshold = self.calibration().cluster;
        match store.assign_cluster(id, space, vector, threshold, self.maturity()).await {
            Ok(Assignment { cluster_id, mature: true, .. }) => {
                tracing::info!(cluster_id, "a cluster is mature and can be merged");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, memory = id, "clustering failed; the memory is saved"),
        }
    }

    /// Clusters the memories that have a vector from the active model but
    /// no cluster (saved before a model was active, re-embedded, or whose
    /// clustering failed), oldest first, so the result is deterministic.
    pub async fn cluster_unclustered(&self, project: &Project) -> Result<usize> {
        let Some(embedder) = self.embedder() else { return Ok(0) };
        let store = self.store(project).await?;
        let Some(space) = store.space(embedder.model_id()).await? else { return Ok(0) };
        let threshold = self.calibration().cluster;
        let mut clustered = 0;
        loop {
            let batch = store.unclustered(&space, CLUSTER_BATCH).await?;
            if batch.is_empty() {
                return Ok(clustered);
            }
            for (id, vector) in &batch {
                store.assign_cluster(*id, &space, vector, threshold, self.maturity()).await?;
                clustered += 1;
            }
        }
    }

    /// What a session's end does to clusters: clusters the unclustered and,
    /// with `clusters.auto_merge`, merges every mature cluster.
    pub async fn cluster_pass(&self, project: &Project) -> Result<ClusterPass> {
        let mut pass =
            ClusterPass { clustered: self.cluster_unclustered(project).await?, merged: Vec::new() };
        if self.config().clusters.auto_merge {
            let store = self.store(project).await?;
            for cluster in store.clusters().await? {
                if cluster.status == "mature" {
                    pass.merged.push(self.merge_cluster(project, cluster.id).await?);
                }
            }
        }
        Ok(pass)
    }

    /// Merges cluster `cluster_id` into one consolidated memory (type
    /// `skill`, confidence 0.9): written by the LLM when one is set up and
    /// answers usably, else by a deterministic union of the members' what /
    /// when / do / warn. Returns the new memory's id.
    pub async fn merge_cluster(&self, project: &Project, cluster_id: i64) -> Result<i64> {
        let store = self.store(project).await?;
        let members = store.cluster_members(cluster_id).await?;
        if members.len() < 2 {
            return Err(Error::Project(format!("cluster {cluster_id} has fewer than two live members")));
        }
        let merged = match self.llm_merge(project, &members).await {
            Some(m) => m,
            None => consolidate(&members),
        };
        let domain = store.get(members[0].id).await?.domain;
        let mut new = NewMemory::new(&merged.what, Source::Merge)?
            .with_type(MemoryType::Skill)
            .with_domain(domain)
            .with_confidence(cm_core::memory::MAX_CONFIDENCE)?
            .with_keywords(&merged.keywords)?;
        new.structured = Some(merged.to_xml());
        new.summary = merged.summary.clone();
        // The LLM wrote it: redacted like any other save.
        crate::redaction::Redact::redact(&mut new);
        let text = crate::engine::embed_text(&new.content, new.summary.as_deref());
        let embedded = self.embed_passage(&store, text).await?;
        let vector = embedded.as_ref().map(|(s, v)| (s, v.as_slice()));
        Ok(store.merge_cluster(cluster_id, &new, vector).await?)
    }

    /// The LLM's consolidation of `members`, or `None` (no LLM, a failure,
    /// an unusable answer).
    async fn llm_merge(&self, project: &Project, members: &[Member]) -> Option<Structured> {
        self.llm()?;
        let sources: Vec<Structured> = members.iter().map(structure_of).collect();
        let timeout = Duration::from_millis(self.config().structure.timeout_ms);
        let answer = self.ask_llm(project, LlmPurpose::Merge, merge_prompt(&sources), timeout).await?;
        match parse_merge(&answer) {
            Ok(mut m) => {
                if m.summary.is_none() {
                    m.summary = Some(format!("Consolidated from {} memories", members.len()));
                }
                Some(m)
            }
            Err(e) => {
                tracing::warn!(error = %e, "unusable merge from the LLM; merging offline");
                None
            }
        }
    }

    /// A 2-D map of the project's live memories with a vector from the
    /// active model: their embeddings projected on the two principal
    /// components, scaled into [-1, 1]. Empty without a model or vectors.
    pub async fn memory_map(&self, project: &Project) -> Result<Vec<MapPoint>> {
        let Some(embedder) = self.embedder() else { return Ok(Vec::new()) };
        let store = self.store(project).await?;
        let Some(space) = store.space(embedder.model_id()).await? else { return Ok(Vec::new()) };
        let rows = store.live_vectors(&space, MAP_LIMIT).await?;
        let vectors: Vec<Vec<f32>> = rows.iter().map(|(_, _, v)| v.clone()).collect();
        let coords = tokio::task::spawn_blocking(move || crate::projection::project_2d(&vectors))
            .await
            .map_err(|e| Error::Project(format!("projecting the map failed: {e}")))?;
        Ok(rows
            .iter()
            .zip(coords)
            .map(|((id, cluster_id, _), (x, y))| MapPoint { id: *id, x, y, cluster_id: *cluster_id })
            .collect())
    }

    /// Undoes a merge: the sources come back exactly as they were and the
    /// consolidated memory is deleted. Returns the restored ids.
    pub async fn unmerge_cluster(&self, project: &Project, cluster_id: i64) -> Result<Vec<i64>> {
        let store = self.store(project).await?;
        Ok(store.unmerge_cluster(cluster_id, self.maturity()).await?)
    }
}

/// The union of the members' structures, in member order, each line once.
pub(crate) fn consolidate(members: &[Member]) -> Structured {
    let mut out = Structured { memory_type: Some(MemoryType::Skill), ..Structured::default() };
    let mut whats: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |list: &mut Vec<String>, item: &str| {
        let key = item.trim().to_lowercase();
        if !key.is_empty() && seen.insert(key) {
            list.push(item.trim().to_owned());
        }
    };
    for m in members {
        let s = structure_of(m);
        add(&mut whats, &s.what);
        for w in &s.when {
            add(&mut out.when, w);
        }
        for d in &s.do_steps {
            add(&mut out.do_steps, d);
        }
        for w in &s.warn {
            add(&mut out.warn, w);
        }
        for k in s.keywords {
            if out.keywords.len() < 8 && !out.keywords.contains(&k) {
                out.keywords.push(k);
            }
        }
    }
    out.what = whats.join("\n");
    out.summary = Some(format!("Consolidated from {} memories", members.len()));
    out
}

/// A member's structure: its stored XML, or the offline structure of its text.
fn structure_of(m: &Member) -> Structured {
    match m.structured.as_deref().map(parse_llm_output) {
        Some(Ok(LlmVerdict::Memory(s))) => s,
        _ => offline_structure(&m.content, None),
    }
}
