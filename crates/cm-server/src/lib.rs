//! The claude-memory service: one HTTP router on 127.0.0.1 serving
//!
//! - `/mcp`: MCP over Streamable HTTP (rmcp), the memory tools;
//! - `/hooks/{event}`: Claude Code's hook payloads, answered as Claude Code expects;
//! - `/api/...`: JSON for the dashboard, and `/api/events`, a server-sent-events stream;
//! - `/healthz`;
//! - everything else: the dashboard's files, when a UI directory is given
//!   (no token: they hold no data; see `static_files.rs`).
//!
//! Everything but `/healthz` needs the bearer token; every request must name
//! a loopback Host, and a request from a browser page must come from the
//! dashboard's own origin (see `security.rs`). This is the only crate that
//! knows about HTTP, MCP or filesystem watching; the engine does the work.

mod api;
pub mod discovery;
pub mod doctor;
pub mod dto;
mod error;
mod hooks;
pub mod launch;
pub mod mcp;
pub mod project;
mod security;
mod serve;
mod static_files;
pub mod team;
pub mod watcher;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use cm_engine::Engine;

pub use discovery::{EngineInfo, Token};
pub use error::{Error, Result};
pub use launch::{LaunchOptions, launch};
pub use mcp::MemoryTools;
pub use serve::{ServeOptions, Server};

/// Largest hook payload accepted (a PostToolUse of a big Write carries the file).
pub const HOOK_BODY_LIMIT: usize = 8 << 20;
/// Largest `/api` or `/mcp` request body.
pub const API_BODY_LIMIT: usize = 1 << 20;
/// How long an `/api` or `/mcp` request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

#[derive(Debug)]
struct StateInner {
    engine: Engine,
    token: Token,
    port: u16,
    home: PathBuf,
    ui_dir: Option<PathBuf>,
    started: Instant,
    /// Background tasks that can be cancelled (model downloads), by name.
    tasks: std::sync::Mutex<std::collections::HashMap<String, cm_embed::CancellationToken>>,
}

impl AppState {
    /// State for a service on `port`, with `token`, keeping per-user state in `home`.
    /// `ui_dir`, when given, holds the dashboard's files, served at `/`.
    pub fn new(engine: Engine, token: Token, port: u16, home: PathBuf, ui_dir: Option<PathBuf>) -> AppState {
        AppState {
            inner: Arc::new(StateInner {
                engine,
                token,
                port,
                home,
                ui_dir,
                started: Instant::now(),
                tasks: std::sync::Mutex::default(),
            }),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The port the service listens on (for the Origin check).
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// Registers a cancellable task; `None` when one of that name runs.
    pub(crate) fn start_task(&self, name: &str) -> Option<cm_embed::CancellationToken> {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        if tasks.contains_key(name) {
            return None;
        }
        let token = cm_embed::CancellationToken::new();
        tasks.insert(name.to_owned(), token.clone());
        Some(token)
    }

    /// Forgets a finished task.
    pub(crate) fn end_task(&self, name: &str) {
        self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
    }

    /// Cancels a running task; whether one was running.
    pub(crate) fn cancel_task(&self, name: &str) -> bool {
        match self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// The per-user state directory.
    pub fn home(&self) -> &std::path::Path {
        &self.inner.home
    }

    /// The directory of the dashboard's files, if it is served.
    pub fn ui_dir(&self) -> Option<&std::path::Path> {
        self.inner.ui_dir.as_deref()
    }

    pub(crate) fn token(&self) -> &Token {
        &self.inner.token
    }

    pub(crate) fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }
}

/// The whole service as one router.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .nest("/api", api::router(state.clone()).layer(DefaultBodyLimit::max(API_BODY_LIMIT)))
        .nest_service("/mcp", mcp::http_service(state.clone()))
        .route_layer(axum::middleware::from_fn(with_timeout))
        .nest("/hooks", hooks::router(state.clone()).layer(DefaultBodyLimit::max(HOOK_BODY_LIMIT)))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::require_token));
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .merge(protected)
        .fallback(static_files::fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::check_host_and_origin))
        .with_state(state)
}

/// Bounds `/api` and `/mcp` requests by [`REQUEST_TIMEOUT`] (hooks have
/// their own, shorter budgets; the event stream has none).
async fn with_timeout(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let path = req.uri().path();
    if path.starts_with("/hooks/") || path == "/api/events" {
        return next.run(req).await;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => Error::Timeout(REQUEST_TIMEOUT.as_millis() as u64).into_response(),
    }
}

async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_ms": state.uptime().as_millis() as u64,
    }))
}
