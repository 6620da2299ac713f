//! What async-openai sends through: the request line and headers of each
//! provider, and an HTTP layer that keeps the status and `Retry-After` of
//! failed answers, which async-openai's own errors drop.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::SecretString;

use crate::Secret;
use crate::config::{DEFAULT_OPENAI_BASE_URL, Provider, v1_base};

/// How much of an error body is kept.
const MESSAGE_LIMIT: usize = 300;

/// The async-openai [`Config`] of one provider: URL, query and headers.
#[derive(Clone)]
pub(crate) struct ProviderConfig {
    /// Everything before the API path (`/chat/completions`).
    base: String,
    query: Vec<(&'static str, String)>,
    headers: HeaderMap,
    key: SecretString,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are the key itself: only their names are shown.
        f.debug_struct("ProviderConfig")
            .field("base", &self.base)
            .field("query", &self.query)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ProviderConfig {
    /// `None` for [`Provider::None`] and the providers that do not speak
    /// OpenAI's protocol.
    pub(crate) fn new(provider: &Provider, key: Option<&Secret>) -> Result<Option<Self>, String> {
        let mut headers = HeaderMap::new();
        let mut query = Vec::new();
        let base = match provider {
            Provider::None => return Ok(None),
            Provider::Azure { endpoint, deployment, api_version } => {
                if let Some(key) = key {
                    headers.insert("api-key", sensitive(key.expose())?);
                }
                query.push(("api-version", api_version.trim().to_owned()));
                format!("{}/openai/deployments/{}", endpoint.trim().trim_end_matches('/'), deployment.trim())
            }
            Provider::OpenAi { base_url, .. } => {
                if let Some(key) = key {
                    headers.insert(AUTHORIZATION, sensitive(&format!("Bearer {}", key.expose()))?);
                }
                v1_base(base_url.as_deref().unwrap_or(DEFAULT_OPENAI_BASE_URL))
            }
            Provider::Compatible { base_url, .. } => {
                if let Some(key) = key {
                    headers.insert(AUTHORIZATION, sensitive(&format!("Bearer {}", key.expose()))?);
                }
                v1_base(base_url)
            }
            // Not spoken through async-openai.
            Provider::Anthropic { .. } | Provider::ClaudeCode { .. } => return Ok(None),
        };
        let key = key.map(|k| k.secret_string().clone()).unwrap_or_else(|| SecretString::from(""));
        Ok(Some(ProviderConfig { base, query, headers, key }))
    }
}

pub(crate) fn sensitive(value: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| "the API key contains characters not allowed in an HTTP header".to_owned())?;
    v.set_sensitive(true);
    Ok(v)
}

impl Config for ProviderConfig {
    fn headers(&self) -> HeaderMap {
        self.headers.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn query(&self) -> Vec<(&str, &str)> {
        self.query.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    fn api_base(&self) -> &str {
        &self.base
    }

    fn api_key(&self) -> &SecretString {
        &self.key
    }
}

/// A failure seen below async-openai, carried through it as
/// `OpenAIError::Boxed` and recovered by the client.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A non-2xx answer.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` / `retry-after-ms`, if sent.
        retry_after: Option<Duration>,
        /// The start of the body (the error's `message` if it is OpenAI's JSON).
        message: String,
    },
    /// No connection, or it broke before an answer.
    Connect(String),
    /// The HTTP client's own timeout.
    Timeout,
    /// An answer that is not what was asked for; asking again would not help.
    Unusable(String),
    /// A well-formed answer without text (a refusal, a cut-off), with what it cost.
    Empty {
        /// Why there is no text.
        why: String,
        /// Tokens it still used.
        usage: crate::Usage,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status { status, message, .. } => write!(f, "HTTP {status}: {message}"),
            Failure::Connect(m) => write!(f, "connection failed: {m}"),
            Failure::Timeout => f.write_str("timed out"),
            Failure::Unusable(m) => f.write_str(m),
            Failure::Empty { why, .. } => f.write_str(why),
        }
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for OpenAIError {
    fn from(f: Failure) -> Self {
        OpenAIError::Boxed(Box::new(f))
    }
}

/// The HTTP layer handed to async-openai: sends with reqwest, turns non-2xx
/// answers into [`Failure::Status`]. It never retries (the client does).
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
}

type TransportFuture = Pin<Box<dyn Future<Output = Result<reqwest::Response, Failure>> + Send + 'static>>;

impl tower::Service<HttpRequestFactory> for Transport {
    type Response = reqwest::Response;
    type Error = Failure;
    type Future = TransportFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        Box::pin(async move {
            let request = factory.build().await.map_err(|e| Failure::Connect(format!("bad request: {e}")))?;
            let response = http.execute(request).await.map_err(|e| describe_reqwest(&e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = retry_after(response.headers());
            let body = response.bytes().await.unwrap_or_default();
            Err(Failure::Status { status: status.as_u16(), retry_after, message: error_message(&body) })
        })
    }
}

pub(crate) fn describe_reqwest(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout;
    }
    // The URL has no secret in it (keys travel in headers), but the chain of
    // sources is the useful part: "connection refused", "dns error", …
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    Failure::Connect(truncate(&text))
}

/// `retry-after-ms` (Azure, OpenAI) or `Retry-After` in seconds.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_millis(ms as u64));
    }
    get("retry-after").and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs)
}

/// The `error.message` of an OpenAI error body, else the body's text; truncated.
pub(crate) fn error_message(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| {
        let e = v.get("error")?;
        e.get("message").and_then(|m| m.as_str()).or_else(|| e.as_str()).map(str::to_owned)
    });
    let text = parsed.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if text.is_empty() { "(no message)".to_owned() } else { truncate(&text) }
}

pub(crate) fn truncate(text: &str) -> String {
    let text = text.replace(['\r', '\n'], " ");
    if text.chars().count() <= MESSAGE_LIMIT {
        return text;
    }
    let mut cut: String = text.chars().take(MESSAGE_LIMIT).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_openai_json_or_the_body() {
        assert_eq!(error_message(br#"{"error":{"message":"bad model","type":"x"}}"#), "bad model");
        assert_eq!(error_message(b"upstream down\n"), "upstream down");
        assert_eq!(error_message(b""), "(no message)");
        assert_eq!(error_message("é".repeat(1000).as_bytes()).chars().count(), MESSAGE_LIMIT + 1);
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn debug_shows_header_names_only() {
        let key = Secret::new("sk-very-secret-key");
        let c = ProviderConfig::new(&Provider::OpenAi { model: "m".into(), base_url: None }, Some(&key))
            .unwrap()
            .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("very-secret"), "{d}");
        assert!(d.contains("authorization"), "{d}");
        assert_eq!(c.url("/chat/completions"), "https://api.openai.com/v1/chat/completions");
    }
}
