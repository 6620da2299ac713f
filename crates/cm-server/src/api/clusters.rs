//! `/api/clusters`: the project's clusters, their map, merge and exact unmerge.

use axum::Json;
use axum::extract::State;

use super::{Id, ProjectParam};
use crate::dto::{ClusterMapAnswer, ClustersAnswer, MapPointView, MergeAnswer, UnmergeAnswer};
use crate::{AppState, Error, Result};

/// `GET /api/clusters`.
pub(super) async fn list(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
) -> Result<Json<ClustersAnswer>> {
    Ok(Json(ClustersAnswer { clusters: state.engine().clusters(&project).await? }))
}

/// `POST /api/clusters/{id}/merge`: one consolidated memory; its sources
/// are archived.
pub(super) async fn merge(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
) -> Result<Json<MergeAnswer>> {
    let memory = state.engine().merge_cluster(&project, id).await.map_err(merge_error)?;
    Ok(Json(MergeAnswer { cluster: id, memory }))
}

/// `POST /api/clusters/{id}/unmerge`: restores a merged cluster's sources
/// exactly and deletes the consolidated memory.
pub(super) async fn unmerge(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
) -> Result<Json<UnmergeAnswer>> {
    let restored = state.engine().unmerge_cluster(&project, id).await.map_err(merge_error)?;
    Ok(Json(UnmergeAnswer { cluster: id, restored }))
}

/// A cluster that cannot be merged or unmerged is the caller's mistake.
fn merge_error(e: cm_engine::Error) -> Error {
    match e {
        cm_engine::Error::Project(m) | cm_engine::Error::Store(cm_store::Error::Data(m)) => {
            Error::BadRequest(m)
        }
        other => Error::Engine(other),
    }
}

/// `GET /api/clusters/map`: the project's memories on a 2-D projection of
/// their embeddings, with their clusters.
pub(super) async fn map(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
) -> Result<Json<ClusterMapAnswer>> {
    let engine = state.engine();
    let points = engine.memory_map(&project).await?;
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        let m = engine.get(&project, p.id).await?;
        out.push(MapPointView {
            id: p.id,
            x: p.x,
            y: p.y,
            cluster_id: p.cluster_id,
            memory_type: m.memory_type,
            domain: m.domain.as_str().to_owned(),
            summary: m.summary.unwrap_or_else(|| m.content.chars().take(120).collect()),
        });
    }
    let model = if out.is_empty() { None } else { engine.embedder().map(|e| e.model_id().to_owned()) };
    Ok(Json(ClusterMapAnswer { model, points: out }))
}
