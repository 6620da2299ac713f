//! Anthropic's Messages API, spoken directly: one `POST /v1/messages` with
//! the key in `x-api-key`. Its OpenAI-compatible endpoint exists, but
//! Anthropic documents it as a way to try models, not for production, and it
//! drops the system prompt's caching and error details; the native call is a
//! few dozen lines.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::json;

use crate::client::{Prompt, Reply};
use crate::config::{DEFAULT_ANTHROPIC_BASE_URL, v1_base};
use crate::transport::{Failure, describe_reqwest, error_message, retry_after, sensitive};
use crate::{Secret, Usage};

/// The API version every request names.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Longest answer asked for when the caller sets no limit: a structured
/// memory or a list of extracted ones fits well within it.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A Messages API endpoint with its headers.
#[derive(Debug, Clone)]
pub(crate) struct Messages {
    http: reqwest::Client,
    url: String,
    headers: HeaderMap,
    model: String,
    temperature: f32,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<AnswerUsage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

/// The `usage` of a Messages API answer (and of a `claude -p` run's result).
#[derive(Deserialize)]
pub(crate) struct AnswerUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
}

impl Messages {
    pub(crate) fn new(
        http: reqwest::Client,
        base_url: Option<&str>,
        model: &str,
        temperature: f32,
        key: Option<&Secret>,
    ) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static(ANTHROPIC_VERSION));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = key {
            headers.insert("x-api-key", sensitive(key.expose())?);
        }
        let url = format!("{}/messages", v1_base(base_url.unwrap_or(DEFAULT_ANTHROPIC_BASE_URL)));
        Ok(Messages { http, url, headers, model: model.trim().to_owned(), temperature })
    }

    /// One request; never retried here.
    pub(crate) async fn send(&self, prompt: &Prompt<'_>) -> Result<Reply, Failure> {
        let body = json!({
            "model": self.model,
            "max_tokens": prompt.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            // The Messages API takes 0 to 1 (OpenAI's go to 2).
            "temperature": self.temperature.clamp(0.0, 1.0),
            "system": prompt.system,
            "messages": [{"role": "user", "content": prompt.user}],
        });
        let response = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| describe_reqwest(&e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let body = response.bytes().await.unwrap_or_default();
            return Err(Failure::Status {
                status: status.as_u16(),
                retry_after,
                message: error_message(&body),
            });
        }
        let bytes = response.bytes().await.map_err(|e| describe_reqwest(&e))?;
        let answer: Answer = serde_json::from_slice(&bytes)
            .map_err(|e| Failure::Unusable(format!("not a Messages API answer ({e})")))?;
        let usage = answer.usage.map(|u| u.into()).unwrap_or_default();
        let text: String =
            answer.content.iter().filter(|b| b.kind == "text").filter_map(|b| b.text.as_deref()).collect();
        // An answer cut off at max_tokens is half a structure: unusable.
        if text.is_empty() || answer.stop_reason.as_deref() == Some("max_tokens") {
            let why = match answer.stop_reason.as_deref() {
                Some("max_tokens") => "the answer was cut off at max_tokens".to_owned(),
                Some("refusal") => "the model refused".to_owned(),
                Some(reason) => format!("the answer has no text (stop reason `{reason}`)"),
                None => "the answer has no text".to_owned(),
            };
            return Err(Failure::Empty { why, usage });
        }
        Ok(Reply { text, usage })
    }
}

impl From<AnswerUsage> for Usage {
    fn from(u: AnswerUsage) -> Self {
        Usage::with_cache(
            u.input_tokens,
            u.cache_creation_input_tokens,
            u.cache_read_input_tokens,
            u.output_tokens,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_and_headers_follow_the_messages_api() {
        let key = Secret::new("sk-ant-secret");
        let m = Messages::new(reqwest::Client::new(), None, " claude-haiku-4-5 ", 0.0, Some(&key)).unwrap();
        assert_eq!(m.url, "https://api.anthropic.com/v1/messages");
        assert_eq!(m.model, "claude-haiku-4-5");
        assert_eq!(m.headers["anthropic-version"], ANTHROPIC_VERSION);
        assert!(m.headers["x-api-key"].is_sensitive());
        let local =
            Messages::new(reqwest::Client::new(), Some("http://127.0.0.1:9/"), "m", 0.0, None).unwrap();
        assert_eq!(local.url, "http://127.0.0.1:9/v1/messages");
        assert!(!local.headers.contains_key("x-api-key"));
    }

    #[test]
    fn cached_prompt_tokens_count() {
        let u: AnswerUsage = serde_json::from_str(
            r#"{"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}"#,
        )
        .unwrap();
        assert_eq!(Usage::from(u), Usage { prompt_tokens: 1110, completion_tokens: 5 });
    }
}
