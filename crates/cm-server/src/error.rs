//! Errors, and how they look on the wire: a status code and
//! `{"error": "<message>"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A failed request or a service that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (bad JSON, bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// No or wrong token.
    #[error("missing or wrong token: send `Authorization: Bearer <token>` (see `claude-memory status`)")]
    Unauthorized,
    /// Foreign Host or Origin.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown endpoint, project or memory.
    #[error("{0}")]
    NotFound(String),
    /// A known endpoint, asked with a method it does not take.
    #[error("this endpoint does not take that method")]
    MethodNotAllowed,
    /// The request conflicts with work in progress.
    #[error("{0}")]
    Conflict(String),
    /// The request's body is over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// The request took too long.
    #[error("the request took longer than {0} ms")]
    Timeout(u64),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] cm_engine::Error),
    /// Anything else that stops the service from starting or running.
    #[error("{0}")]
    Service(String),
}

/// Result alias for the service.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Engine(e) if e.is_not_found() => StatusCode::NOT_FOUND,
            Error::Engine(cm_engine::Error::NotAProject(_)) => StatusCode::NOT_FOUND,
            Error::Engine(cm_engine::Error::Invalid(_)) => StatusCode::BAD_REQUEST,
            // Bad input the store found (too many tags on an edit).
            Error::Engine(cm_engine::Error::Store(cm_store::Error::Invalid(_))) => StatusCode::BAD_REQUEST,
            Error::Engine(cm_engine::Error::Paused) => StatusCode::CONFLICT,
            // Not linked, a private memory, or the team database refused.
            Error::Engine(cm_engine::Error::Team(_)) => StatusCode::CONFLICT,
            Error::Engine(_) | Error::Service(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let mut response =
            (status, axum::Json(serde_json::json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
