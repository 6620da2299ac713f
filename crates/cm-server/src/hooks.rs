//! `POST /hooks/{event}`: Claude Code's hook payloads, as Claude Code sends
//! them (so an HTTP hook can point here directly, and `claude-memory hook`
//! relays here). The answer is what Claude Code reads from a hook: a JSON
//! object, or `204 No Content` for "nothing to add".
//!
//! The engine gets a little less than the event's budget; past it the hook
//! answers 204, so a slow search never holds up the conversation.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cm_engine::hooks::{HookEvent, HookInput};

use crate::{AppState, Error};

pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new().route("/{event}", axum::routing::post(hook)).with_state(state)
}

/// Time kept back from the budget for the client's own work (spawning,
/// reading stdin, printing).
const CLIENT_SHARE: Duration = Duration::from_millis(50);

async fn hook(State(state): State<AppState>, Path(event): Path<String>, body: Bytes) -> Response {
    let event: HookEvent = match event.parse() {
        Ok(e) => e,
        Err(message) => return Error::NotFound(message).into_response(),
    };
    let input = match HookInput::parse(&body) {
        Ok(input) => input,
        Err(message) => return Error::BadRequest(message).into_response(),
    };
    if event == HookEvent::SessionStart && state.engine().config().hooks.follow_claude_md {
        follow_claude_md(state.engine().clone(), &input);
    }
    let budget = Duration::from_millis(event.budget_ms(&state.engine().config().hooks));
    let deadline = budget.saturating_sub(CLIENT_SHARE).max(budget / 2);
    match tokio::time::timeout(deadline, state.engine().hook(event, &input)).await {
        Ok(Ok(Some(answer))) => axum::Json(answer).into_response(),
        Ok(Ok(None)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => {
            tracing::warn!(event = event.as_str(), error = %e, "hook failed; answering nothing");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(_) => {
            tracing::warn!(event = event.as_str(), budget_ms = budget.as_millis() as u64, "hook over budget");
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

/// Brings the statements of the files Claude Code loads for the session's
/// project (`CLAUDE.md`, rules, auto memory) up to date, after the answer
/// and off the hook's budget: hooks then never repeat them. Only an existing
/// project is read; nothing happens for any other folder.
fn follow_claude_md(engine: cm_engine::Engine, input: &HookInput) {
    let Some(cwd) = input.cwd.clone().filter(|c| c.is_absolute()) else { return };
    let worktrees_use_main = engine.config().projects.worktrees_use_main;
    tokio::spawn(async move {
        let Some(root) = cm_engine::resolve_existing(&cwd, worktrees_use_main) else { return };
        let read = tokio::task::spawn_blocking(move || {
            let user = cm_claude_code::ClaudeUserFiles::from_env()?;
            // A file that cannot be read leaves everything as it was (its
            // statements must not be archived).
            cm_claude_code::loaded_statements(&user, &root).map(|(_, statements)| (root, statements))
        });
        let (root, statements) = match read.await {
            Ok(Ok(read)) => read,
            Ok(Err(e)) => return tracing::warn!(error = %e, "could not read CLAUDE.md and the auto memory"),
            Err(_) => return,
        };
        let Ok(project) = cm_engine::Project::at(&root) else { return };
        if let Err(e) = engine.sync_statements(&project, cm_core::text::CLAUDE_CODE_TAG, &statements).await {
            tracing::warn!(project = %root.display(), error = %e, "could not read CLAUDE.md and the auto memory");
        }
    });
}
