//! `/api/memories`: search, list, save, read, edit, validate, archive,
//! restore and purge one project's memories.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cm_core::{Domain, MemoryType, NewMemory, SearchMode, SearchRequest, Source};
use cm_engine::{ListFilter, MemoryPatch};
use serde::Deserialize;

use super::{Id, JsonBody, Params, ProjectParam};
use crate::dto::{
    HookPreview, MemoriesAnswer, MemoryAnswer, MemoryDetail, MemoryView, PatchRequest, PurgedAnswer,
    SaveAnswer, SaveRequest, SearchAnswer, SearchHitView, ValidateRequest,
};
use crate::{AppState, Error, Result};

/// What the Memories page asks: with `q` a search, without a page of the list.
#[derive(Deserialize)]
pub(super) struct MemoriesQuery {
    q: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    /// List: `true` archived only, otherwise live only. Search: include archived.
    archived: Option<bool>,
    #[serde(rename = "type")]
    memory_type: Option<MemoryType>,
    domain: Option<String>,
    source: Option<Source>,
    min_confidence: Option<f64>,
    mode: Option<SearchMode>,
    /// List: only memories with this tag (`quarantined` for review).
    tag: Option<String>,
    /// List: only memories flagged stale (a file they name went away).
    stale: Option<bool>,
}

fn domain(d: Option<&str>) -> Result<Option<Domain>> {
    d.map(Domain::parse).transpose().map_err(|e| Error::BadRequest(e.to_string()))
}

/// The dashboard's page sizes: larger than MCP's, which feed Claude's context.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

/// `GET /api/memories`: search (with `q`) or list.
pub(super) async fn search_or_list(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
    Params(q): Params<MemoriesQuery>,
) -> Result<Response> {
    let engine = state.engine();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    if let Some(text) = q.q.as_deref() {
        let mut req = SearchRequest::new(text, limit);
        req.memory_type = q.memory_type;
        req.domain = domain(q.domain.as_deref())?;
        req.min_confidence = q.min_confidence;
        req.include_archived = q.archived.unwrap_or(false);
        req.mode = q.mode.unwrap_or(SearchMode::Hybrid);
        // A person browsing the dashboard is not Claude using a memory: the
        // counts that rank the session briefing stay as they are.
        req.touch = false;
        let results = engine.search(&project, &req).await?;
        let hook = HookPreview {
            injects: engine.would_inject(text, &results),
            limit: engine.config().hooks.prompt_limit,
            min_similarity: engine.calibration().relevance,
        };
        let hits = results.hits.iter().map(SearchHitView::from).collect();
        return Ok(Json(SearchAnswer { hits, mode: results.mode, hook }).into_response());
    }
    let offset = q.offset.unwrap_or(0);
    let filter = ListFilter {
        memory_type: q.memory_type,
        domain: domain(q.domain.as_deref())?,
        source: q.source,
        min_confidence: q.min_confidence,
        archived: q.archived.and_then(|a| a.then_some(true)),
        tag: q.tag,
        stale: q.stale.unwrap_or(false),
    };
    let list = engine.list(&project, &filter, limit, offset).await?;
    let memories = list.iter().map(MemoryView::from).collect();
    Ok(Json(MemoriesAnswer { memories, limit, offset }).into_response())
}

/// `POST /api/memories`.
pub(super) async fn save(
    State(state): State<AppState>,
    ProjectParam(project): ProjectParam,
    JsonBody(b): JsonBody<SaveRequest>,
) -> Result<(StatusCode, Json<SaveAnswer>)> {
    let build = || -> cm_core::Result<NewMemory> {
        let mut new = NewMemory::new(&b.content, Source::Cli)?.with_tags(&b.tags)?;
        if let Some(t) = b.memory_type {
            new = new.with_type(t);
        }
        if let Some(d) = &b.domain {
            new = new.with_domain(Domain::parse(d)?);
        }
        if let Some(c) = b.confidence {
            new = new.with_confidence(c)?;
        }
        Ok(new)
    };
    let new = build().map_err(|e| Error::BadRequest(e.to_string()))?;
    let outcome = state.engine().save(&project, new).await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

/// `GET /api/memories/{id}`: the memory and its latest injections.
pub(super) async fn detail(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
) -> Result<Json<MemoryDetail>> {
    let engine = state.engine();
    let memory = engine.get(&project, id).await?;
    let injections = engine.injections(&project, Some(id), 20).await?;
    Ok(Json(MemoryDetail { memory: memory.into(), injections }))
}

/// `PATCH /api/memories/{id}`.
pub(super) async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
    JsonBody(b): JsonBody<PatchRequest>,
) -> Result<Json<MemoryAnswer>> {
    let patch = MemoryPatch {
        content: b.content,
        memory_type: b.memory_type,
        domain: domain(b.domain.as_deref())?,
        confidence: b.confidence,
        tags: b.tags,
        ..MemoryPatch::default()
    };
    let memory = state.engine().update(&project, id, patch).await?;
    Ok(Json(MemoryAnswer { memory: memory.into() }))
}

#[derive(Deserialize)]
pub(super) struct DeleteQuery {
    /// Delete for good instead of archiving.
    purge: Option<bool>,
}

/// `DELETE /api/memories/{id}`: archives (restorable), or with
/// `purge=true` deletes for good.
pub(super) async fn delete(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
    Params(q): Params<DeleteQuery>,
) -> Result<Response> {
    if q.purge.unwrap_or(false) {
        state.engine().purge(&project, id).await?;
        return Ok(Json(PurgedAnswer { id, purged: true }).into_response());
    }
    let memory = state.engine().set_archived(&project, id, true).await?;
    Ok(Json(MemoryAnswer { memory: memory.into() }).into_response())
}

/// `POST /api/memories/{id}/validate`.
pub(super) async fn validate(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
    JsonBody(b): JsonBody<ValidateRequest>,
) -> Result<Json<MemoryAnswer>> {
    let memory = state.engine().validate(&project, id, b.is_valid).await?;
    Ok(Json(MemoryAnswer { memory: memory.into() }))
}

/// `POST /api/memories/{id}/restore`.
pub(super) async fn restore(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
) -> Result<Json<MemoryAnswer>> {
    let memory = state.engine().set_archived(&project, id, false).await?;
    Ok(Json(MemoryAnswer { memory: memory.into() }))
}

/// `POST /api/memories/{id}/confirm`: a person confirms a memory flagged
/// stale still holds; it ranks as before and the same missing file does not
/// flag it again.
pub(super) async fn confirm(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
) -> Result<Json<MemoryAnswer>> {
    let memory = state.engine().confirm_fresh(&project, id).await?;
    Ok(Json(MemoryAnswer { memory: memory.into() }))
}

/// `POST /api/memories/{id}/unsupersede`: makes a superseded memory live
/// again (injected by hooks), undoing an automatic or mistaken supersede.
pub(super) async fn unsupersede(
    State(state): State<AppState>,
    Id(id): Id,
    ProjectParam(project): ProjectParam,
) -> Result<Json<MemoryAnswer>> {
    let memory = state.engine().unsupersede(&project, id).await?;
    Ok(Json(MemoryAnswer { memory: memory.into() }))
}
