//! The project a request is about: named by the `X-Claude-Memory-Project`
//! header (MCP) or the `project` query parameter (MCP and `/api`), an
//! absolute path to a directory that is a known project or at least exists.
//! One rule for every adapter, so `/api` and MCP isolate projects alike.

use std::collections::HashMap;
use std::path::PathBuf;

use cm_engine::{Engine, Project};

/// The header naming the project of an MCP request (an absolute path).
pub const PROJECT_HEADER: &str = "x-claude-memory-project";

/// The project an HTTP request names (header first, then query).
pub fn project_of_request(engine: &Engine, parts: &http::request::Parts) -> Result<Project, String> {
    let from_header = parts.headers.get(PROJECT_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let raw = from_header.or_else(|| project_in_query(&parts.uri)).ok_or_else(|| {
        format!(
            "no project: send the {PROJECT_HEADER} header or a `project` query parameter (an absolute path)"
        )
    })?;
    resolve_project(engine, &raw)
}

/// The `project` query parameter of `uri`, if there is one.
pub(crate) fn project_in_query(uri: &http::Uri) -> Option<String> {
    let query: HashMap<String, String> = axum::extract::Query::try_from_uri(uri).map(|q| q.0).ok()?;
    query.get("project").cloned()
}

/// Validates a project path from a request.
pub fn resolve_project(engine: &Engine, raw: &str) -> Result<Project, String> {
    let path = PathBuf::from(raw);
    if !path.is_absolute() {
        return Err(format!("project {raw:?} is not an absolute path"));
    }
    let canonical = path.canonicalize().map_err(|e| format!("project {raw:?}: {e}"))?;
    let known = engine.registry().is_some_and(|r| r.projects().contains(&canonical));
    if !known && !canonical.is_dir() {
        return Err(format!("project {raw:?} is not a directory"));
    }
    Project::at(&canonical).map_err(|e| e.to_string())
}
