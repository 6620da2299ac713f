//! The engine itself: status, pause, the known projects, doctor's checks,
//! settings, and the live event stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use cm_core::Config;
use cm_engine::Project;
use futures_util::Stream;
use serde_json::{Value, json};

use super::{JsonBody, blocking, setup_done};
use crate::dto::{
    MemoryCounts, ModelInfo, Paused, ProjectInfo, ProjectsAnswer, SettingsAnswer, SettingsSaved, StatusAnswer,
};
use crate::{AppState, Error, Result};

/// `GET /api/status`.
pub(super) async fn status(State(state): State<AppState>) -> Json<StatusAnswer> {
    let engine = state.engine();
    Json(StatusAnswer {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_ms: state.uptime().as_millis() as u64,
        port: state.port(),
        paused: engine.is_paused(),
        projects: engine.registry().map(|r| r.projects().len()).unwrap_or(0),
        model: engine.embedder().map(|e| ModelInfo { id: e.model_id().to_owned(), dimension: e.dimension() }),
        llm: engine.llm().map(|l| l.name().to_owned()),
        setup_done: setup_done(state.home()),
    })
}

/// `GET /api/doctor`: `claude-memory doctor`'s checks, run by the engine
/// for the Overview: config.toml read afresh, the engine as it is, every
/// known project. The PATH is the engine's own (what Claude Code's hooks
/// see may differ).
pub(super) async fn doctor(State(state): State<AppState>) -> Result<Json<crate::doctor::Report>> {
    let engine = state.engine().clone();
    let home = state.home().to_owned();
    let seen = crate::doctor::EngineSeen {
        url: format!("http://127.0.0.1:{}/", state.port()),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model: engine.embedder().map(|e| e.model_id().to_owned()),
    };
    let report = blocking(move || {
        let config = crate::launch::load_config_in(&home)?;
        let projects = engine.registry().map(|r| r.projects()).unwrap_or_default();
        let path_var = std::env::var_os("PATH").unwrap_or_default();
        // The serving engine reads the projects' records: their stores are
        // open already, or stay open for the hooks to come.
        Ok(crate::doctor::run_checks(&home, &config, &path_var, &projects, Some(&seen), &engine))
    })
    .await?;
    Ok(Json(report))
}

/// `POST /api/pause`: hooks answer nothing while paused.
pub(super) async fn pause(State(state): State<AppState>, JsonBody(b): JsonBody<Paused>) -> Json<Paused> {
    state.engine().set_paused(b.paused);
    Json(b)
}

/// What the dashboard shows of a project folder.
pub(crate) async fn project_info(state: &AppState, root: &std::path::Path) -> ProjectInfo {
    let present = root.join(cm_engine::DATA_DIR).is_dir();
    let memories = match (present, Project::at(root)) {
        (true, Ok(p)) => {
            state.engine().stats(&p).await.ok().map(|s| MemoryCounts { total: s.total, archived: s.archived })
        }
        _ => None,
    };
    ProjectInfo {
        path: root.to_owned(),
        name: root.file_name().map(|n| n.to_string_lossy().into_owned()),
        present,
        memories,
    }
}

/// `GET /api/projects`: every folder the engine knows.
pub(super) async fn projects(State(state): State<AppState>) -> Json<ProjectsAnswer> {
    let roots = state.engine().registry().map(|r| r.projects()).unwrap_or_default();
    let mut projects = Vec::with_capacity(roots.len());
    for root in roots {
        projects.push(project_info(&state, &root).await);
    }
    Json(ProjectsAnswer { projects })
}

/// `GET /api/settings`: the settings file as it is (defaults where it says
/// nothing), and what the running engine uses.
pub(super) async fn settings(State(state): State<AppState>) -> Result<Json<SettingsAnswer>> {
    let file = crate::launch::read_config_file(state.home())?;
    Ok(Json(SettingsAnswer { file, running: state.engine().config().clone() }))
}

/// `PUT /api/settings`: the settings the body gives, over those of the file
/// (a section or value it leaves out stays as it is: `{}` changes nothing),
/// validated, then written keeping the file's comments (some take effect
/// at the next start, which the answer says).
pub(super) async fn put_settings(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<SettingsSaved>> {
    if !body.is_object() {
        return Err(Error::BadRequest("the settings must be a JSON object".into()));
    }
    let current = crate::launch::read_config_file(state.home())?;
    let mut merged = serde_json::to_value(&current).map_err(|e| Error::Service(e.to_string()))?;
    overlay(&mut merged, body);
    let config: Config = super::parse_json(merged.to_string().as_bytes())?;
    config.validate().map_err(|e| Error::BadRequest(e.to_string()))?;
    crate::launch::write_config(state.home(), &config)?;
    Ok(Json(SettingsSaved { saved: true, restart_required: &config != state.engine().config() }))
}

/// `base` with every value `over` gives in its place, objects merged key by key.
fn overlay(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => overlay(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// `GET /api/events`: server-sent events, every [`cm_engine::EngineEvent`]
/// as `event: <type>` with JSON data.
pub(super) async fn events(
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
