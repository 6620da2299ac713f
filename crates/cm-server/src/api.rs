//! `/api/...`: the JSON the dashboard is built on.
//!
//! A project is named by the `project` query parameter (an absolute path).
//! Bodies are JSON; a malformed one is a 400 with the parser's message, and
//! nothing is written.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cm_core::{Config, Domain, MemoryType, NewMemory, SearchMode, SearchRequest, Source};
use cm_engine::{EngineEvent, ListFilter, MemoryPatch, Project};
use futures_util::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{AppState, Error, Result};

mod llm;
mod setup;

pub(crate) use setup::setup_done;

type Params = Query<HashMap<String, String>>;

pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/pause", post(pause))
        .route("/projects", get(projects).post(setup::add_project))
        .route("/setup", post(setup::run_setup))
        .route("/setup/done", post(setup::setup_finished))
        .route("/llm", get(llm::get_llm).put(llm::put_llm))
        .route("/llm/test", post(llm::test_llm))
        .route("/memories", get(memories).post(save))
        .route("/memories/{id}", get(memory).patch(update).delete(delete))
        .route("/memories/{id}/validate", post(validate))
        .route("/memories/{id}/restore", post(restore))
        .route("/stats", get(stats))
        .route("/injections", get(injections))
        .route("/jobs", get(jobs))
        .route("/timeline", get(timeline))
        .route("/clusters", get(clusters))
        .route("/clusters/map", get(cluster_map))
        .route("/clusters/{id}/merge", post(merge_cluster))
        .route("/clusters/{id}/unmerge", post(unmerge_cluster))
        .route("/models", get(models))
        .route("/models/{id}/install", post(install_model))
        .route("/models/{id}/cancel", post(cancel_model_task))
        .route("/models/{id}/verify", post(verify_model))
        .route("/models/{id}/activate", post(activate_model))
        .route("/reload", post(reload))
        .route("/doctor", get(doctor))
        .route("/settings", get(settings).put(put_settings))
        .route("/events", get(events))
        .with_state(state)
}

/// Parses a JSON body, or answers 400 with the parser's message.
pub(super) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::BadRequest(format!("invalid JSON body: {e}")))
}

fn project(state: &AppState, q: &HashMap<String, String>) -> Result<Project> {
    let raw = q.get("project").ok_or_else(|| Error::BadRequest("missing `project` parameter".into()))?;
    crate::mcp::resolve_project(state.engine(), raw).map_err(Error::BadRequest)
}

fn param<T: std::str::FromStr>(q: &HashMap<String, String>, key: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match q.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|e| Error::BadRequest(format!("parameter {key}: {e}"))),
    }
}

async fn status(State(state): State<AppState>) -> Result<axum::Json<Value>> {
    let engine = state.engine();
    let projects = engine.registry().map(|r| r.projects().len()).unwrap_or(0);
    Ok(axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_ms": state.uptime().as_millis() as u64,
        "port": state.port(),
        "paused": engine.is_paused(),
        "projects": projects,
        "model": engine.embedder().map(|e| json!({ "id": e.model_id(), "dimension": e.dimension() })),
        "llm": engine.llm().map(|l| l.name().to_owned()),
        "setup_done": setup_done(state.home()),
    })))
}

/// `claude-memory doctor`'s checks, run by the engine for the Overview:
/// config.toml read afresh, the engine as it is, every known project. The
/// PATH is the engine's own (what Claude Code's hooks see may differ).
async fn doctor(State(state): State<AppState>) -> Result<axum::Json<Value>> {
    let engine = state.engine().clone();
    let home = state.home().to_owned();
    let seen = crate::doctor::EngineSeen {
        url: format!("http://127.0.0.1:{}/", state.port()),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model: engine.embedder().map(|e| e.model_id().to_owned()),
    };
    let report = tokio::task::spawn_blocking(move || {
        let config = crate::launch::load_config_in(&home)?;
        let projects = engine.registry().map(|r| r.projects()).unwrap_or_default();
        let path_var = std::env::var_os("PATH").unwrap_or_default();
        Ok::<_, Error>(crate::doctor::run_checks(&config, &path_var, &projects, Some(&seen)))
    })
    .await
    .map_err(|e| Error::Service(e.to_string()))??;
    Ok(axum::Json(serde_json::to_value(&report).map_err(|e| Error::Service(e.to_string()))?))
}

#[derive(Deserialize)]
struct PauseBody {
    paused: bool,
}

async fn pause(State(state): State<AppState>, bytes: Bytes) -> Result<axum::Json<Value>> {
    let b: PauseBody = body(&bytes)?;
    state.engine().set_paused(b.paused);
    Ok(axum::Json(json!({ "paused": b.paused })))
}

async fn projects(State(state): State<AppState>) -> Result<axum::Json<Value>> {
    let engine = state.engine();
    let roots = engine.registry().map(|r| r.projects()).unwrap_or_default();
    let mut out = Vec::with_capacity(roots.len());
    for root in roots {
        let present = root.join(cm_engine::DATA_DIR).is_dir();
        let counts = match (present, Project::at(&root)) {
            (true, Ok(p)) => {
                engine.stats(&p).await.ok().map(|s| json!({ "total": s.total, "archived": s.archived }))
            }
            _ => None,
        };
        out.push(json!({
            "path": root,
            "name": root.file_name().map(|n| n.to_string_lossy().into_owned()),
            "present": present,
            "memories": counts,
        }));
    }
    Ok(axum::Json(json!({ "projects": out })))
}

fn memory_type(q: &HashMap<String, String>) -> Result<Option<MemoryType>> {
    param::<MemoryType>(q, "type")
}

fn domain(q: &HashMap<String, String>) -> Result<Option<Domain>> {
    q.get("domain")
        .filter(|d| !d.trim().is_empty())
        .map(|d| Domain::parse(d))
        .transpose()
        .map_err(|e| Error::BadRequest(e.to_string()))
}

/// Search (with `q`) or list memories.
async fn memories(State(state): State<AppState>, Query(q): Params) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let limit = param::<usize>(&q, "limit")?.unwrap_or(50).clamp(1, 200);
    let offset = param::<usize>(&q, "offset")?.unwrap_or(0);
    let archived = param::<bool>(&q, "archived")?;
    if let Some(text) = q.get("q").filter(|t| !t.trim().is_empty()) {
        let mut req = SearchRequest::new(text.as_str(), limit);
        req.memory_type = memory_type(&q)?;
        req.domain = domain(&q)?;
        req.min_confidence = param(&q, "min_confidence")?;
        req.include_archived = archived.unwrap_or(false);
        req.mode = match q.get("mode").map(String::as_str) {
            None | Some("" | "hybrid") => SearchMode::Hybrid,
            Some("bm25") => SearchMode::Bm25,
            Some("vector") => SearchMode::Vector,
            Some(other) => {
                return Err(Error::BadRequest(format!("mode {other:?}: expected hybrid, bm25 or vector")));
            }
        };
        let results = state.engine().search(&project, &req).await?;
        let engine = state.engine();
        let hook = json!({
            "injects": engine.would_inject(text, &results),
            "limit": engine.config().hooks.prompt_limit,
            "min_similarity": engine.calibration().relevance,
        });
        let mut answer = serde_json::to_value(&results).map_err(|e| Error::Service(e.to_string()))?;
        answer["hook"] = hook;
        return Ok(axum::Json(answer));
    }
    let filter = ListFilter {
        memory_type: memory_type(&q)?,
        domain: domain(&q)?,
        source: param::<Source>(&q, "source")?,
        min_confidence: param(&q, "min_confidence")?,
        // The API's `archived=true` means archived only; absent means live only.
        archived: archived.and_then(|a| a.then_some(true)),
    };
    let list = state.engine().list(&project, &filter, limit, offset).await?;
    Ok(axum::Json(json!({ "memories": list, "limit": limit, "offset": offset })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveBody {
    content: String,
    #[serde(rename = "type")]
    memory_type: Option<String>,
    domain: Option<String>,
    confidence: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
}

async fn save(State(state): State<AppState>, Query(q): Params, bytes: Bytes) -> Result<Response> {
    let project = project(&state, &q)?;
    let b: SaveBody = body(&bytes)?;
    let build = || -> cm_core::Result<NewMemory> {
        let mut new = NewMemory::new(&b.content, Source::Cli)?.with_tags(&b.tags)?;
        if let Some(t) = &b.memory_type {
            new = new.with_type(t.parse()?);
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
    Ok((StatusCode::CREATED, axum::Json(outcome)).into_response())
}

async fn memory(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Params,
) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let memory = state.engine().get(&project, id).await?;
    let store = state.engine().store(&project).await?;
    let injections = store.injections(Some(id), 20).await.map_err(cm_engine::Error::from)?;
    Ok(axum::Json(json!({ "memory": memory, "injections": injections })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    content: Option<String>,
    #[serde(rename = "type")]
    memory_type: Option<String>,
    domain: Option<String>,
    confidence: Option<f64>,
    tags: Option<Vec<String>>,
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Params,
    bytes: Bytes,
) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let b: PatchBody = body(&bytes)?;
    let bad = |e: cm_core::Error| Error::BadRequest(e.to_string());
    let patch = MemoryPatch {
        content: b.content,
        memory_type: b.memory_type.map(|t| t.parse()).transpose().map_err(bad)?,
        domain: b.domain.map(|d| Domain::parse(&d)).transpose().map_err(bad)?,
        confidence: b.confidence,
        tags: b.tags,
        ..MemoryPatch::default()
    };
    let memory = state.engine().update(&project, id, patch).await?;
    Ok(axum::Json(json!({ "memory": memory })))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Params,
) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    if param::<bool>(&q, "purge")?.unwrap_or(false) {
        state.engine().purge(&project, id).await?;
        return Ok(axum::Json(json!({ "id": id, "purged": true })));
    }
    let memory = state.engine().set_archived(&project, id, true).await?;
    Ok(axum::Json(json!({ "memory": memory })))
}

#[derive(Deserialize)]
struct ValidateBody {
    is_valid: bool,
}

async fn validate(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Params,
    bytes: Bytes,
) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let b: ValidateBody = body(&bytes)?;
    let memory = state.engine().validate(&project, id, b.is_valid).await?;
    Ok(axum::Json(json!({ "memory": memory })))
}

async fn restore(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Params,
) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let memory = state.engine().set_archived(&project, id, false).await?;
    Ok(axum::Json(json!({ "memory": memory })))
}

async fn stats(State(state): State<AppState>, Query(q): Params) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let stats = state.engine().stats(&project).await?;
    let store = state.engine().store(&project).await?;
    let per_day = store.injections_per_day(30).await.map_err(cm_engine::Error::from)?;
    let per_day: Vec<Value> = per_day.into_iter().map(|(day, n)| json!({ "day": day, "count": n })).collect();
    Ok(axum::Json(json!({ "stats": stats, "injections_per_day": per_day })))
}

async fn injections(State(state): State<AppState>, Query(q): Params) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let limit = param::<usize>(&q, "limit")?.unwrap_or(100).clamp(1, 1000);
    let store = state.engine().store(&project).await?;
    let list = store.injections(param(&q, "memory_id")?, limit).await.map_err(cm_engine::Error::from)?;
    Ok(axum::Json(json!({ "injections": list })))
}

/// The project's history (hook answers with why each memory passed, saves,
/// jobs), newest first, and the latest call of each hook.
async fn timeline(State(state): State<AppState>, Query(q): Params) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let limit = param::<usize>(&q, "limit")?.unwrap_or(200).clamp(1, 1000);
    let session = q.get("session").map(String::as_str).filter(|s| !s.is_empty());
    let store = state.engine().store(&project).await?;
    let entries =
        store.timeline(session, param(&q, "before")?, limit).await.map_err(cm_engine::Error::from)?;
    let hook_calls = store.hook_calls().await.map_err(cm_engine::Error::from)?;
    Ok(axum::Json(json!({ "entries": entries, "hook_calls": hook_calls })))
}

async fn jobs(State(state): State<AppState>, Query(q): Params) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let limit = param::<usize>(&q, "limit")?.unwrap_or(100).clamp(1, 1000);
    let store = state.engine().store(&project).await?;
    let list = store.jobs(q.get("state").map(String::as_str), limit).await.map_err(cm_engine::Error::from)?;
    Ok(axum::Json(json!({ "jobs": list })))
}

async fn clusters(State(state): State<AppState>, Query(q): Params) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let store = state.engine().store(&project).await?;
    let list = store.clusters().await.map_err(cm_engine::Error::from)?;
    Ok(axum::Json(json!({ "clusters": list })))
}

/// Merges a cluster into one consolidated memory (its sources are archived).
async fn merge_cluster(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Params,
) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let memory = state.engine().merge_cluster(&project, id).await.map_err(merge_error)?;
    Ok(axum::Json(json!({ "cluster": id, "memory": memory })))
}

/// Restores a merged cluster's sources exactly and deletes the consolidated memory.
async fn unmerge_cluster(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Params,
) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let restored = state.engine().unmerge_cluster(&project, id).await.map_err(merge_error)?;
    Ok(axum::Json(json!({ "cluster": id, "restored": restored })))
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

fn model_store(state: &AppState) -> cm_embed::ModelStore {
    cm_embed::ModelStore::new(state.home().join("models"))
}

async fn models(State(state): State<AppState>) -> Result<axum::Json<Value>> {
    let store = model_store(&state);
    let installed = store.list().map_err(|e| Error::Service(e.to_string()))?;
    let catalogue: Vec<Value> = store
        .catalogue()
        .iter()
        .map(|e| {
            let inst = installed.iter().find(|m| m.id == e.id());
            json!({
                "id": e.id(),
                "entry": e,
                "installed": inst.map(|m| json!({ "state": m.state.to_string(), "size_on_disk": m.size_on_disk })),
            })
        })
        .collect();
    let loaded = state.engine().embedder().map(|e| e.model_id().to_owned());
    // An activated model is the active one even before the next start.
    let active = loaded.clone().or_else(|| state.engine().config().embedding.model.clone());
    Ok(axum::Json(json!({ "catalogue": catalogue, "active": active, "loaded": loaded })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InstallBody {
    /// Install from this local file or directory instead of downloading.
    from: Option<std::path::PathBuf>,
    #[serde(default)]
    replace: bool,
}

/// Starts installing a model in the background; progress arrives on `/api/events`.
async fn install_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let b: InstallBody = if bytes.is_empty() { InstallBody::default() } else { body(&bytes)? };
    let store = model_store(&state);
    store.entry(&id).map_err(|e| Error::NotFound(e.to_string()))?;
    let engine = state.engine().clone();
    let task = format!("install:{id}");
    let cancel =
        state.start_task(&task).ok_or_else(|| Error::Conflict(format!("{id} is already being installed")))?;
    tokio::spawn({
        let task = task.clone();
        let state = state.clone();
        async move {
            let progress = |message: &str, detail: Option<Value>| EngineEvent::Progress {
                task: task.clone(),
                done: 0,
                total: None,
                message: Some(message.to_owned()),
                detail,
            };
            engine.emit(progress("started", None));
            let result = match b.from {
                Some(path) => {
                    let options = cm_embed::InstallOptions { model: Some(id.clone()), replace: b.replace };
                    tokio::task::spawn_blocking(move || store.install_from(&path, &options))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()))
                }
                None => {
                    let options = cm_embed::DownloadOptions { replace: b.replace, ..Default::default() };
                    let sink = {
                        let engine = engine.clone();
                        let task = task.clone();
                        move |event: cm_embed::DownloadEvent| {
                            let detail = serde_json::to_value(&event).ok();
                            let done = detail.as_ref().and_then(|d| d["bytes"].as_u64()).unwrap_or(0);
                            let total = detail.as_ref().and_then(|d| d["total_bytes"].as_u64());
                            engine.emit(EngineEvent::Progress {
                                task: task.clone(),
                                done,
                                total,
                                message: None,
                                detail,
                            });
                        }
                    };
                    store.download(&id, &options, &sink, &cancel).await.map_err(|e| e.to_string())
                }
            };
            state.end_task(&task);
            match result {
                Ok(m) => engine.emit(progress("installed", Some(json!({ "state": m.state.to_string() })))),
                Err(message) => {
                    engine.emit(EngineEvent::Error { message: format!("installing {id}: {message}") })
                }
            }
        }
    });
    Ok((StatusCode::ACCEPTED, axum::Json(json!({ "task": task }))).into_response())
}

/// `POST /api/models/{id}/verify`: re-hashes installed model `id`'s files
/// against what was recorded at install and what the catalogue pins.
async fn verify_model(State(state): State<AppState>, Path(id): Path<String>) -> Result<axum::Json<Value>> {
    let store = model_store(&state);
    let report = tokio::task::spawn_blocking(move || store.verify(&id))
        .await
        .map_err(|e| Error::Service(e.to_string()))?
        .map_err(|e| Error::NotFound(e.to_string()))?;
    let ok = !matches!(report.state, cm_embed::ModelState::Damaged { .. });
    Ok(axum::Json(json!({ "ok": ok, "state": report.state.to_string(), "report": report })))
}

/// `POST /api/models/{id}/cancel`: stops a running download of `id`
/// (its partial files are removed by the downloader).
async fn cancel_model_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>> {
    Ok(axum::Json(json!({ "cancelled": state.cancel_task(&format!("install:{id}")) })))
}

/// `POST /api/models/{id}/activate`: loads installed model `id`, makes it
/// the engine's embedder at once and the configured one for the next start,
/// then re-embeds every known project's memories in the background,
/// reporting `progress` events (task `activate:<id>`, memories done / total)
/// and clustering them in the new model's space.
async fn activate_model(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response> {
    let task = switch_model(&state, &id, true).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({ "task": task }))).into_response())
}

/// `POST /api/reload`: follows `config.toml` as it is now (edited by hand,
/// or by `claude-memory models use`): a different model is switched to the
/// way the dashboard activates one; no model means full-text search.
async fn reload(State(state): State<AppState>) -> Result<axum::Json<Value>> {
    let config = crate::launch::load_config_in(state.home())?;
    let engine = state.engine();
    let loaded = engine.embedder().map(|e| e.model_id().to_owned());
    let wanted = config.embedding.model.clone();
    let task = match &wanted {
        Some(id) if loaded.as_ref() != Some(id) => Some(switch_model(&state, id, false).await?),
        Some(_) => None,
        None => {
            if loaded.is_some() {
                engine.set_embedder(None);
                tracing::info!("embedding model turned off by config.toml");
            }
            None
        }
    };
    crate::launch::attach_llm(engine).await;
    Ok(axum::Json(json!({ "model": wanted, "previous": loaded, "task": task })))
}

/// Loads installed model `id` and makes it the engine's embedder at once
/// (and, with `remember`, the configured one), then re-embeds every known
/// project in the background; returns the progress task's name.
async fn switch_model(state: &AppState, id: &str, remember: bool) -> Result<String> {
    let id = id.to_owned();
    let store = model_store(state);
    let mut cfg = store.embed_config(&id).map_err(|e| Error::BadRequest(e.to_string()))?;
    let engine = state.engine().clone();
    let e = &engine.config().embedding;
    cfg.onnxruntime = e.onnxruntime.clone();
    if let Some(threads) = e.threads {
        cfg.model.intra_threads = threads;
    }
    let task = format!("activate:{id}");
    let _ =
        state.start_task(&task).ok_or_else(|| Error::Conflict(format!("{id} is already being activated")))?;
    let state = state.clone();
    let embedder = match cm_embed::EmbedService::load_async(cfg).await {
        Ok(service) => service,
        Err(err) => {
            state.end_task(&task);
            return Err(Error::BadRequest(format!("cannot load {id}: {err}")));
        }
    };
    if remember && let Err(err) = crate::launch::remember_model(state.home(), &id) {
        state.end_task(&task);
        return Err(Error::Service(err.to_string()));
    }
    engine.set_embedder(Some(std::sync::Arc::new(embedder)));
    tracing::info!(model = %id, "embedding model activated");
    tokio::spawn({
        let task = task.clone();
        async move {
            let outcome = reembed_everything(&engine, &task).await;
            let (done, total, message) = match outcome {
                Ok(total) => (total, Some(total), "done".to_owned()),
                Err(e) => (0, None, format!("failed: {e}")),
            };
            engine.emit(EngineEvent::Progress {
                task: task.clone(),
                done,
                total,
                message: Some(message),
                detail: None,
            });
            state.end_task(&task);
        }
    });
    Ok(task)
}

/// Re-embeds every known project with the engine's (new) model; returns
/// how many memories it embedded.
async fn reembed_everything(
    engine: &cm_engine::Engine,
    task: &str,
) -> std::result::Result<u64, cm_engine::Error> {
    let projects = engine.known_projects().await;
    let mut totals = Vec::with_capacity(projects.len());
    for p in &projects {
        totals.push(engine.missing_vectors(p).await?);
    }
    let total: u64 = totals.iter().sum();
    let mut before = 0u64;
    let report = |done: u64| EngineEvent::Progress {
        task: task.to_owned(),
        done,
        total: Some(total),
        message: Some("re-embedding".to_owned()),
        detail: None,
    };
    engine.emit(report(0));
    for (p, n) in projects.iter().zip(totals) {
        engine.reembed(p, |done, _| engine.emit(report(before + done.min(n)))).await?;
        before += n;
        engine.cluster_unclustered(p).await?;
    }
    Ok(total)
}

/// `GET /api/clusters/map`: the project's memories on a 2-D projection of
/// their embeddings, with their clusters.
async fn cluster_map(State(state): State<AppState>, Query(q): Params) -> Result<axum::Json<Value>> {
    let project = project(&state, &q)?;
    let engine = state.engine();
    let points = engine.memory_map(&project).await?;
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        let m = engine.get(&project, p.id).await?;
        out.push(json!({
            "id": p.id, "x": p.x, "y": p.y, "cluster_id": p.cluster_id,
            "memory_type": m.memory_type, "domain": m.domain,
            "summary": m.summary.unwrap_or_else(|| m.content.chars().take(120).collect()),
        }));
    }
    let model = if out.is_empty() { None } else { engine.embedder().map(|e| e.model_id().to_owned()) };
    Ok(axum::Json(json!({ "model": model, "points": out })))
}

/// The settings file as it is (defaults where it says nothing), and what
/// the running engine uses.
async fn settings(State(state): State<AppState>) -> Result<axum::Json<Value>> {
    let file = crate::launch::read_config_file(state.home())?;
    Ok(axum::Json(json!({ "file": file, "running": state.engine().config() })))
}

/// Replaces the settings file after validating the new settings (some take
/// effect at the next start, which the answer says).
async fn put_settings(State(state): State<AppState>, bytes: Bytes) -> Result<axum::Json<Value>> {
    let config: Config = body(&bytes)?;
    config.validate().map_err(|e| Error::BadRequest(e.to_string()))?;
    crate::launch::write_config(state.home(), &config)?;
    Ok(axum::Json(json!({ "saved": true, "restart_required": &config != state.engine().config() })))
}

/// Server-sent events: every [`EngineEvent`] as `event: <type>` with JSON data.
async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = std::result::Result<Event, Infallible>>> {
    let rx = state.engine().subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(event) => {
                let data = serde_json::to_value(&event).unwrap_or(Value::Null);
                let kind = data["type"].as_str().unwrap_or("event").to_owned();
                Event::default().event(kind).data(data.to_string())
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                let data = json!({ "type": "lagged", "missed": n });
                Event::default().event("lagged").data(data.to_string())
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
