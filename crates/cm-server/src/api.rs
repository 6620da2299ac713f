//! `/api/...`: the JSON the dashboard is built on.
//!
//! Handlers only adapt: a request's parts arrive through the extractors
//! below ([`ProjectParam`], [`Params`], [`JsonBody`]), each answering a bad
//! request with the API's error shape (`400 {"error": "..."}`), and answers
//! are the typed structs of [`crate::dto`], the contract the dashboard's generated
//! TypeScript types are made from. Nothing is written when a request is
//! refused. The handlers live by resource, one module each.

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::{get, post};
use cm_engine::Project;
use serde::de::DeserializeOwned;

use crate::{AppState, Error, Result};

mod activity;
mod clusters;
mod llm;
mod memories;
mod models;
mod setup;
mod system;
mod team;

pub(crate) use setup::setup_done;

pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/status", get(system::status))
        .route("/pause", post(system::pause))
        .route("/projects", get(system::projects).post(setup::add_project))
        .route("/setup", post(setup::run_setup))
        .route("/setup/done", post(setup::setup_finished))
        .route("/llm", get(llm::get_llm).put(llm::put_llm))
        .route("/llm/test", post(llm::test_llm))
        .route("/memories", get(memories::search_or_list).post(memories::save))
        .route("/memories/{id}", get(memories::detail).patch(memories::update).delete(memories::delete))
        .route("/memories/{id}/validate", post(memories::validate))
        .route("/memories/{id}/restore", post(memories::restore))
        .route("/memories/{id}/unsupersede", post(memories::unsupersede))
        .route("/memories/{id}/share", post(team::share))
        .route("/memories/{id}/unshare", post(team::unshare))
        .route("/team", get(team::status).delete(team::unlink))
        .route("/team/link", post(team::link))
        .route("/team/sync", post(team::sync))
        .route("/memories/{id}/confirm", post(memories::confirm))
        .route("/stats", get(activity::stats))
        .route("/injections", get(activity::injections))
        .route("/jobs", get(activity::jobs))
        .route("/timeline", get(activity::timeline))
        .route("/clusters", get(clusters::list))
        .route("/clusters/map", get(clusters::map))
        .route("/clusters/{id}/merge", post(clusters::merge))
        .route("/clusters/{id}/unmerge", post(clusters::unmerge))
        .route("/models", get(models::list))
        .route("/models/{id}/install", post(models::install))
        .route("/models/{id}/cancel", post(models::cancel))
        .route("/models/{id}/verify", post(models::verify))
        .route("/models/{id}/activate", post(models::activate))
        .route("/reload", post(models::reload))
        .route("/doctor", get(system::doctor))
        .route("/settings", get(system::settings).put(system::put_settings))
        .route("/events", get(system::events))
        // A known endpoint asked with a method it does not take: said in
        // the API's JSON, as every other refusal is.
        .method_not_allowed_fallback(async || Error::MethodNotAllowed)
        .with_state(state)
}

/// The project a request names with its `project` query parameter (an
/// absolute path), validated the way MCP requests are.
pub(crate) struct ProjectParam(pub Project);

impl FromRequestParts<AppState> for ProjectParam {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let raw = crate::project::project_in_query(&parts.uri)
            .ok_or_else(|| Error::BadRequest("missing `project` parameter".into()))?;
        crate::project::resolve_project(state.engine(), &raw).map(ProjectParam).map_err(Error::BadRequest)
    }
}

/// The id a path names (`/memories/{id}`, `/clusters/{id}`): one that is
/// not a whole number is a 400 with the API's JSON error, like every other
/// bad parameter (axum's own answer is plain text).
pub(crate) struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::BadRequest(e.body_text()))?;
        raw.parse()
            .map(Id)
            .map_err(|_| Error::BadRequest(format!("invalid id {raw:?}: a whole number is expected")))
    }
}

/// Typed query parameters. An empty value counts as absent (forms send
/// `type=` for "any"); a wrong one is a 400 naming the parameter.
pub(crate) struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        let query = parts.uri.query().unwrap_or("").as_bytes();
        let kept = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(query).filter(|(_, v)| !v.trim().is_empty()))
            .finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(kept.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| Error::BadRequest(format!("parameter {}: {}", e.path(), e.inner())))
    }
}

/// A JSON body, or a 400 with the parser's message (and the field it
/// stopped at). An empty body is the type's default when it has one: see
/// [`OptionalBody`].
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be left out: `None` when the request has none.
pub(crate) struct OptionalBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(None));
        }
        parse_json(&bytes).map(|b| OptionalBody(Some(b)))
    }
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes> {
    axum::body::Bytes::from_request(req, state).await.map_err(|e| match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge(e.body_text()),
        _ => Error::BadRequest(format!("cannot read the body: {}", e.body_text())),
    })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { String::new() } else { format!(" at {path}") };
        Error::BadRequest(format!("invalid JSON body{at}: {}", e.inner()))
    })?;
    de.end().map_err(|e| Error::BadRequest(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// Runs blocking work (files, hashing, the keychain) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Service(e.to_string()))?
}
