//! `/api/models`: the catalogue, installs (downloads or local files) with
//! progress on `/api/events`, verification, and switching the engine's
//! embedding model (which re-embeds every known project in the background).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cm_engine::{EngineEvent, TaskState};
use serde_json::json;

use super::{OptionalBody, blocking};
use crate::dto::{
    CancelAnswer, InstallRequest, InstalledModel, ModelEntry, ModelsAnswer, ReloadAnswer, TaskAnswer,
    VerifyAnswer,
};
use crate::{AppState, Error, Result};

fn model_store(state: &AppState) -> cm_embed::ModelStore {
    cm_embed::ModelStore::new(crate::launch::models_dir(state.home()))
}

/// A task's progress event.
fn progress(task: &str, state: TaskState, done: u64, total: Option<u64>, message: &str) -> EngineEvent {
    EngineEvent::Progress {
        task: task.to_owned(),
        state,
        done,
        total,
        message: Some(message.to_owned()),
        detail: None,
    }
}

/// `GET /api/models`: the catalogue, what is installed, what is active.
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<ModelsAnswer>> {
    let store = model_store(&state);
    let installed = store.list().map_err(|e| Error::Service(e.to_string()))?;
    let catalogue = store
        .catalogue()
        .iter()
        .map(|e| ModelEntry {
            id: e.id().to_owned(),
            entry: e.clone(),
            installed: installed
                .iter()
                .find(|m| m.id == e.id())
                .map(|m| InstalledModel { state: m.state.to_string(), size_on_disk: m.size_on_disk }),
        })
        .collect();
    let loaded = state.engine().embedder().map(|e| e.model_id().to_owned());
    // An activated model is the active one even before the next start.
    let active = loaded.clone().or_else(|| state.engine().config().embedding.model.clone());
    Ok(Json(ModelsAnswer { catalogue, active, loaded }))
}

/// `POST /api/models/{id}/install`: starts installing a model in the
/// background; progress arrives on `/api/events` as task `install:<id>`.
pub(super) async fn install(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalBody(b): OptionalBody<InstallRequest>,
) -> Result<(StatusCode, Json<TaskAnswer>)> {
    let b = b.unwrap_or_default();
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
            engine.emit(progress(&task, TaskState::Running, 0, None, "started"));
            let result = match b.from {
                Some(path) => {
                    let options = cm_embed::InstallOptions { model: Some(id.clone()), replace: b.replace };
                    let from = path.clone();
                    tokio::task::spawn_blocking(move || store.install_from(&path, &options))
                        .await
                        .unwrap_or_else(|e| Err(cm_embed::Error::Io { path: from, message: e.to_string() }))
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
                                state: TaskState::Running,
                                done,
                                total,
                                message: None,
                                detail,
                            });
                        }
                    };
                    store.download(&id, &options, &sink, &cancel).await
                }
            };
            state.end_task(&task);
            match result {
                Ok(m) => engine.emit(EngineEvent::Progress {
                    task: task.clone(),
                    state: TaskState::Finished,
                    done: 0,
                    total: None,
                    message: Some("installed".to_owned()),
                    detail: Some(json!({ "state": m.state.to_string() })),
                }),
                Err(cm_embed::Error::Cancelled { .. }) => {
                    engine.emit(progress(&task, TaskState::Cancelled, 0, None, "cancelled"));
                }
                Err(e) => {
                    let message = format!("installing {id}: {e}");
                    engine.emit(progress(&task, TaskState::Failed, 0, None, &message));
                    engine.emit(EngineEvent::Error { message, task: Some(task.clone()) });
                }
            }
        }
    });
    Ok((StatusCode::ACCEPTED, Json(TaskAnswer { task })))
}

/// `POST /api/models/{id}/verify`: re-hashes installed model `id`'s files
/// against what was recorded at install and what the catalogue pins.
pub(super) async fn verify(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<VerifyAnswer>> {
    let store = model_store(&state);
    let report = blocking(move || store.verify(&id).map_err(|e| Error::NotFound(e.to_string()))).await?;
    let ok = !matches!(report.state, cm_embed::ModelState::Damaged { .. });
    Ok(Json(VerifyAnswer { ok, state: report.state.to_string(), report }))
}

/// `POST /api/models/{id}/cancel`: stops a running download of `id`
/// (its partial files are removed by the downloader).
pub(super) async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Json<CancelAnswer> {
    Json(CancelAnswer { cancelled: state.cancel_task(&format!("install:{id}")) })
}

/// `POST /api/models/{id}/activate`: loads installed model `id`, makes it
/// the engine's embedder at once and the configured one for the next start,
/// then re-embeds every known project's memories in the background,
/// reporting `progress` events (task `activate:<id>`, memories done / total)
/// and clustering them in the new model's space.
pub(super) async fn activate(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TaskAnswer>)> {
    let task = switch_model(&state, &id, true).await?;
    Ok((StatusCode::ACCEPTED, Json(TaskAnswer { task })))
}

/// `POST /api/reload`: follows `config.toml` as it is now (edited by hand,
/// or by `claude-memory models use`): a different model is switched to the
/// way the dashboard activates one; no model means full-text search.
pub(super) async fn reload(State(state): State<AppState>) -> Result<Json<ReloadAnswer>> {
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
    Ok(Json(ReloadAnswer { model: wanted, previous: loaded, task }))
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
            match reembed_everything(&engine, &task).await {
                Ok(total) => engine.emit(progress(&task, TaskState::Finished, total, Some(total), "done")),
                Err(e) => {
                    let message = format!("activating {id}: {e}");
                    engine.emit(progress(&task, TaskState::Failed, 0, None, &message));
                    engine.emit(EngineEvent::Error { message, task: Some(task.clone()) });
                }
            }
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
    let report = |done: u64| progress(task, TaskState::Running, done, Some(total), "re-embedding");
    engine.emit(report(0));
    for (p, n) in projects.iter().zip(totals) {
        engine.reembed(p, |done, _| engine.emit(report(before + done.min(n)))).await?;
        before += n;
        engine.cluster_unclustered(p).await?;
    }
    Ok(total)
}
