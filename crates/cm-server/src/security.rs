//! Who may talk to the service.
//!
//! The service only listens on 127.0.0.1, but any web page the user opens can
//! make the browser send requests there, and a DNS-rebinding page can even
//! make them look same-origin. So, beyond loopback:
//! - the `Host` header must be a loopback name (defeats DNS rebinding);
//! - a request carrying an `Origin` must come from the dashboard itself
//!   (served by this service) or the tray app's webview; anything else is 403,
//!   and no CORS header is ever sent, so other pages cannot read answers;
//! - everything that reads or writes memories needs the bearer token, which
//!   only the user (owner-only file) and the tray app's webview have.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{AppState, Error};

/// Origins of the tray app's webview (Tauri serves its assets from these).
const WEBVIEW_ORIGINS: [&str; 3] = ["tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"];

/// Rejects a request whose `Host` is not a loopback name, or whose `Origin`
/// is neither the dashboard's nor the webview's.
pub(crate) async fn check_host_and_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if req.headers().get_all(HOST).iter().count() > 1 {
        return Error::BadRequest("the request has more than one Host header".into()).into_response();
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host {
        Some(h) if is_loopback_host(h) => {}
        Some(h) => return Error::Forbidden(format!("Host {h:?} is not this computer")).into_response(),
        None => return Error::BadRequest("the request has no Host header".into()).into_response(),
    }
    // Every Origin a request carries, not only the first.
    for origin in req.headers().get_all(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !is_allowed_origin(origin, state.port()) {
            return Error::Forbidden(format!("requests from {origin:?} are not allowed")).into_response();
        }
    }
    next.run(req).await
}

/// Rejects a request without the right bearer token.
pub(crate) async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110, 11.1).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match given {
        Some(token) if state.token().matches(token) => next.run(req).await,
        _ => Error::Unauthorized.into_response(),
    }
}

/// `localhost`, `127.0.0.1` (any 127/8 address), `[::1]`, with or without a port.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((addr, port)) if port.is_empty() || valid_port(port.strip_prefix(':')) => addr,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if valid_port(Some(port)) => name,
            Some(_) => return false,
            None => host,
        }
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn valid_port(port: Option<&str>) -> bool {
    port.is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_ok())
}

/// The dashboard's own origins (`http://127.0.0.1:<port>`, `http://localhost:<port>`,
/// `http://[::1]:<port>`) and the webview's.
pub(crate) fn is_allowed_origin(origin: &str, port: u16) -> bool {
    if WEBVIEW_ORIGINS.contains(&origin) {
        return true;
    }
    let Some(authority) = origin.strip_prefix("http://") else { return false };
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| authority == format!("{h}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:23811",
            "127.0.0.1",
            "127.0.0.1:80",
            "127.1.2.3:9",
            "[::1]",
            "[::1]:23811",
            "LOCALHOST:1",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "evil.com:23811",
            "localhost.evil.com",
            "127.0.0.1.evil.com",
            "10.0.0.1:23811",
            "0.0.0.0:23811",
            "[::2]:1",
            "localhost:",
            "localhost:99999",
            "[::1]x",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert!(is_allowed_origin("http://127.0.0.1:23811", 23811));
        assert!(is_allowed_origin("http://localhost:23811", 23811));
        assert!(is_allowed_origin("tauri://localhost", 23811));
        assert!(!is_allowed_origin("http://127.0.0.1:3000", 23811));
        assert!(!is_allowed_origin("https://evil.com", 23811));
        assert!(!is_allowed_origin("null", 23811));
        assert!(!is_allowed_origin("http://localhost:23811.evil.com", 23811));
    }
}
