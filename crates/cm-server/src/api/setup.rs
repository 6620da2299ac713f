//! `/api/setup` and `POST /api/projects`: what the first-run wizard does —
//! add project folders, show the exact changes to Claude Code's
//! configuration, make them, and remember that setup was completed.

use std::path::PathBuf;

use axum::extract::State;
use cm_claude_code::{Program, Scope, SetupOptions};
use cm_engine::Project;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{JsonBody, blocking};
use crate::dto::ProjectAnswer;
use crate::{AppState, Error, Result};

pub(crate) use crate::launch::setup_done;

fn absolute_dir(raw: &str) -> Result<PathBuf> {
    let path = PathBuf::from(raw.trim());
    if !path.is_absolute() {
        return Err(Error::BadRequest(format!("{raw:?} is not an absolute path")));
    }
    if !path.is_dir() {
        return Err(Error::BadRequest(format!("{} is not an existing folder", path.display())));
    }
    if cm_claude_code::holds_every_project(&path) {
        return Err(Error::BadRequest(format!(
            "{} holds every project below it: choose the project's own folder",
            path.display()
        )));
    }
    Ok(path)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddProject {
    path: String,
}

/// `POST /api/projects`: records a folder as a project. Nothing is written
/// in the folder: its `.claude-memory/` is created when setup is applied
/// (or the first memory is saved), so the wizard's review shows it.
pub(super) async fn add_project(
    State(state): State<AppState>,
    JsonBody(b): JsonBody<AddProject>,
) -> Result<axum::Json<ProjectAnswer>> {
    let root = absolute_dir(&b.path)?;
    let project = Project::at(&root)?;
    let registry = state
        .engine()
        .registry()
        .ok_or_else(|| Error::Service("this engine keeps no list of projects".into()))?;
    registry.add(project.root()).map_err(|e| Error::Service(e.to_string()))?;
    Ok(axum::Json(ProjectAnswer { project: super::system::project_info(&state, project.root()).await }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetupBody {
    project: String,
    scope: String,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/setup`: the same setup as `claude-memory setup`, for one
/// project and scope; with `dry_run`, only the report of what would change
/// (every file's unified diff).
pub(super) async fn run_setup(
    State(state): State<AppState>,
    JsonBody(b): JsonBody<SetupBody>,
) -> Result<axum::Json<Value>> {
    let scope = match b.scope.as_str() {
        "local" => Scope::Local,
        "shared" => Scope::Shared,
        "user" => Scope::User,
        other => {
            return Err(Error::BadRequest(format!("unknown scope {other:?}: use local, shared or user")));
        }
    };
    let root = absolute_dir(&b.project)?;
    let options = SetupOptions {
        project: Some(root.clone()),
        scope,
        user_files: None,
        dry_run: b.dry_run,
        program: Program::resolve(),
    };
    let report =
        blocking(move || cm_claude_code::setup(&options).map_err(|e| Error::BadRequest(e.to_string())))
            .await?;
    if !b.dry_run
        && let Some(registry) = state.engine().registry()
    {
        registry.add(&root).map_err(|e| Error::Service(e.to_string()))?;
    }
    Ok(axum::Json(serde_json::to_value(&report).map_err(|e| Error::Service(e.to_string()))?))
}

/// `POST /api/setup/done`: the wizard was completed.
pub(super) async fn setup_finished(State(state): State<AppState>) -> Result<axum::Json<Value>> {
    crate::launch::mark_setup_done(state.home())?;
    Ok(axum::Json(json!({ "ok": true })))
}
