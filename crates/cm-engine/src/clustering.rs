//! Clustering and merging: a saved memory joins the nearest cluster of its
//! domain (cosine to the centroid ≥ `clusters.join_similarity`); a mature
//! cluster is merged into one consolidated `skill` memory that links its
//! sources, which are archived — not deleted, as the original did — and
//! `unmerge` gives them back exactly.

use std::collections::HashSet;

use cm_core::structure::{LlmVerdict, Structured, offline_structure, parse_llm_output};
use cm_core::{MemoryType, NewMemory, Source};
use cm_store::{Assignment, Maturity, Member, Space};

use crate::{Engine, Error, Project, Result};

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
        let threshold = self.config().clusters.join_similarity;
        match store.assign_cluster(id, space, vector, threshold, self.maturity()).await {
            Ok(Assignment { cluster_id, mature: true, .. }) => {
                tracing::info!(cluster_id, "a cluster is mature and can be merged");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, memory = id, "clustering failed; the memory is saved"),
        }
    }

    /// Merges cluster `cluster_id` into one consolidated memory (type
    /// `skill`, confidence 0.9) by a deterministic union of its members'
    /// what / when / do / warn. Returns the new memory's id.
    pub async fn merge_cluster(&self, project: &Project, cluster_id: i64) -> Result<i64> {
        let store = self.store(project).await?;
        let members = store.cluster_members(cluster_id).await?;
        if members.len() < 2 {
            return Err(Error::Project(format!("cluster {cluster_id} has fewer than two live members")));
        }
        let merged = consolidate(&members);
        let domain = store.get(members[0].id).await?.domain;
        let mut new = NewMemory::new(&merged.what, Source::Merge)?
            .with_type(MemoryType::Skill)
            .with_domain(domain)
            .with_confidence(cm_core::memory::MAX_CONFIDENCE)?
            .with_keywords(&merged.keywords)?;
        new.structured = Some(merged.to_xml());
        new.summary = merged.summary.clone();
        let embedded = match self.embed_one(&new.content, cm_core::EmbedKind::Passage).await {
            Some((embedder, v)) => Some((store.ensure_space(embedder.model_id(), v.len()).await?, v)),
            None => None,
        };
        let vector = embedded.as_ref().map(|(s, v)| (s, v.as_slice()));
        Ok(store.merge_cluster(cluster_id, &new, vector).await?)
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
        let s = match m.structured.as_deref().map(parse_llm_output) {
            Some(Ok(LlmVerdict::Memory(s))) => s,
            _ => offline_structure(&m.content, None),
        };
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
