//! What happened in a project: statistics, injections, the timeline of
//! hook answers, saves and jobs, and the job queue.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::{Params, ProjectParam};
use crate::dto::{DayCount, InjectionsAnswer, JobsAnswer, StatsAnswer, TimelineAnswer};
use crate::{AppState, Result};

/// The most rows one page of history returns.
const MAX_ROWS: usize = 1000;

/// `GET /api/stats`: counts, and injections per day over the last 30 days.
pub(super) async fn stats(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
) -> Result<Json<StatsAnswer>> {
    let engine = state.engine();
    let stats = engine.stats(&project).await?;
    let per_day = engine.injections_per_day(&project, 30).await?;
    let injections_per_day = per_day.into_iter().map(|(day, count)| DayCount { day, count }).collect();
    Ok(Json(StatsAnswer { stats, injections_per_day }))
}

#[derive(Deserialize)]
pub(super) struct InjectionsQuery {
    limit: Option<usize>,
    memory_id: Option<i64>,
}

/// `GET /api/injections`: the latest, of one memory with `memory_id`.
pub(super) async fn injections(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
    Params(q): Params<InjectionsQuery>,
) -> Result<Json<InjectionsAnswer>> {
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_ROWS);
    let injections = state.engine().injections(&project, q.memory_id, limit).await?;
    Ok(Json(InjectionsAnswer { injections }))
}

#[derive(Deserialize)]
pub(super) struct TimelineQuery {
    limit: Option<usize>,
    /// One Claude Code session's history.
    session: Option<String>,
    /// Unix ms: older entries only (paging back).
    before: Option<i64>,
}

/// `GET /api/timeline`: the project's history (hook answers with why each
/// memory passed, saves, jobs), newest first, and the latest call of each hook.
pub(super) async fn timeline(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
    Params(q): Params<TimelineQuery>,
) -> Result<Json<TimelineAnswer>> {
    let engine = state.engine();
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_ROWS);
    let entries = engine.timeline(&project, q.session.as_deref(), q.before, limit).await?;
    let hook_calls = engine.hook_calls(&project).await?;
    Ok(Json(TimelineAnswer { entries, hook_calls }))
}

#[derive(Deserialize)]
pub(super) struct JobsQuery {
    limit: Option<usize>,
    /// Only jobs in this state (`queued`, `running`, `done`, `failed`).
    state: Option<String>,
}

/// `GET /api/jobs`.
pub(super) async fn jobs(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
    Params(q): Params<JobsQuery>,
) -> Result<Json<JobsAnswer>> {
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_ROWS);
    let jobs = state.engine().jobs(&project, q.state.as_deref(), limit).await?;
    Ok(Json(JobsAnswer { jobs }))
}
