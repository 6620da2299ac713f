//! The dashboard's files (`ui/dist`, built by Vite), served from a directory.
//!
//! They hold no data, so they need no token (the page reads the token from
//! its URL fragment and sends it with every `/api` call); the Host and Origin
//! checks still apply. Only `GET` and `HEAD` of a plain relative path inside
//! the directory are answered: a path with a `..`, a backslash, a NUL or an
//! encoded slash is refused, and the file found must still lie inside the
//! canonical directory once symbolic links are resolved.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{AppState, Error};

/// The `Content-Security-Policy` of the dashboard: its own scripts and API only.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'";

/// What every unmatched request reaches: a dashboard file, else 404.
pub(crate) async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let Some(dir) = state.ui_dir() else {
        return Error::NotFound("no such endpoint".into()).into_response();
    };
    let path = req.uri().path();
    let api = ["/api", "/mcp", "/hooks"].iter().any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if api {
        return Error::NotFound("no such endpoint".into()).into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")]).into_response();
    }
    let Some(file) = resolve(dir, path) else {
        return Error::NotFound(format!("no file {path:?} in the dashboard")).into_response();
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mut response = if req.method() == Method::HEAD {
                let mut r = ().into_response();
                if let Ok(v) = HeaderValue::from_str(&bytes.len().to_string()) {
                    r.headers_mut().insert(header::CONTENT_LENGTH, v);
                }
                r
            } else {
                bytes.into_response()
            };
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
            response
        }
        Err(_) => Error::NotFound(format!("no file {path:?} in the dashboard")).into_response(),
    }
}

/// The file that URL path `path` names inside `dir`, if it is a regular file
/// there; `/` (or a path ending in `/`) names the `index.html` of that folder.
pub(crate) fn resolve(dir: &Path, path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(path)?;
    let mut relative = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => continue,
            ".." => return None,
            s if s.contains('\\') || s.contains('\0') || s.contains(':') => return None,
            s => relative.push(s),
        }
    }
    if decoded.ends_with('/') || relative.as_os_str().is_empty() {
        relative.push("index.html");
    }
    let root = dir.canonicalize().ok()?;
    let file = root.join(&relative).canonicalize().ok()?;
    (file.starts_with(&root) && file.is_file()).then_some(file)
}

/// `%XX` decoding; `None` for a malformed escape, an encoded `/`, or bytes
/// that are not UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            let byte = u8::from_str_radix(hex, 16).ok()?;
            if byte == b'/' {
                return None;
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `Content-Type` of a dashboard file, by its extension.
pub(crate) fn content_type(file: &Path) -> &'static str {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("/a%20b").as_deref(), Some("/a b"));
        assert_eq!(percent_decode("/%2e%2e/x").as_deref(), Some("/../x"));
        assert_eq!(percent_decode("/a%2Fb"), None);
        assert_eq!(percent_decode("/a%2"), None);
        assert_eq!(percent_decode("/a%zz"), None);
    }

    #[test]
    fn types() {
        assert_eq!(content_type(Path::new("a/index.html")), "text/html; charset=utf-8");
        assert_eq!(content_type(Path::new("assets/x-1a2b.JS")), "text/javascript; charset=utf-8");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
