//! `/api/team`: the project's team database link, a sync now, and marking a
//! memory shared. A password given to link goes to the keychain and is
//! never answered back.

use axum::Json;
use axum::extract::State;

use super::{Id, JsonBody, ProjectParam};
use crate::dto::MemoryAnswer;
use crate::team::{LinkInput, Linked, TeamAnswer};
use crate::{AppState, Error, Result};

/// `GET /api/team`: the link, counts and whether the last sync failed.
pub(super) async fn status(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
) -> Result<Json<TeamAnswer>> {
    Ok(Json(TeamAnswer::new(state.engine().team_status(&project).await?)))
}

/// `POST /api/team/link`: links the project (checked by connecting first).
pub(super) async fn link(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
    JsonBody(input): JsonBody<LinkInput>,
) -> Result<Json<Linked>> {
    Ok(Json(crate::team::link(state.engine(), state.home(), &project, input).await?))
}

/// `DELETE /api/team`: unlinks the project; its memories stay.
pub(super) async fn unlink(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
) -> Result<Json<TeamAnswer>> {
    state.engine().team_unlink(&project).await?;
    Ok(Json(TeamAnswer::new(None)))
}

/// `POST /api/team/sync`: syncs now. A failed sync answers the status with
/// its error (the dashboard shows the team offline), not a failed request;
/// a project with no team is a 409.
pub(super) async fn sync(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
) -> Result<Json<TeamAnswer>> {
    if state.engine().team_status(&project).await?.is_none() {
        return Err(Error::Conflict("this project is not linked to a team database: link it first".into()));
    }
    if let Err(e) = crate::team::sync_project(state.engine(), state.home(), &project).await {
        tracing::warn!(error = %e, "team sync from the dashboard failed");
    }
    Ok(Json(TeamAnswer::new(state.engine().team_status(&project).await?)))
}

/// `POST /api/memories/{id}/share`: shared with the team from the next sync.
pub(super) async fn share(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
) -> Result<Json<MemoryAnswer>> {
    let memory = state.engine().share(&project, id, true).await?;
    Ok(Json(MemoryAnswer { memory: memory.into() }))
}

/// `POST /api/memories/{id}/unshare`: withdrawn from the team at the next sync.
pub(super) async fn unshare(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
) -> Result<Json<MemoryAnswer>> {
    let memory = state.engine().share(&project, id, false).await?;
    Ok(Json(MemoryAnswer { memory: memory.into() }))
}
