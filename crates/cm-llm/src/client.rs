//! The chat client: timeouts, retries, a concurrency limit and usage counts
//! around one async-openai chat-completions call.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::config::{LlmConfig, Provider};
use crate::transport::{Failure, ProviderConfig, Transport, truncate};
use crate::{LlmError, Result, Secret};

/// Longest wait between two attempts, whatever the backoff or `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest time spent connecting, within the per-attempt timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Tokens of one call, or of all calls so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens sent.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The assistant's message.
    pub text: String,
    /// What it cost, as the provider reported it (zero if it did not).
    pub usage: Usage,
}

/// The outcome of [`LlmClient::test_connection`], worded for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionTest {
    /// Whether the provider answered a chat request.
    pub ok: bool,
    /// One sentence saying what happened.
    pub message: String,
    /// How long the round trip took.
    pub latency_ms: u64,
}

/// A chat client for the configured provider; cheap to clone (clones share
/// the concurrency limit and the usage counters).
#[derive(Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: LlmConfig,
    /// The provider, worded for people (see [`Provider::describe`]).
    description: String,
    model: String,
    client: async_openai::Client<ProviderConfig>,
    /// Kept only to mask it out of server messages.
    key: Option<Secret>,
    permits: Semaphore,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    requests: AtomicU64,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("config", &self.inner.config)
            .field("has_key", &self.inner.key.is_some())
            .field("usage", &self.usage())
            .finish()
    }
}

/// What an OpenAI-compatible chat completion must contain for us; other
/// fields are ignored, so servers that omit optional ones still work.
#[derive(Deserialize)]
struct ChatAnswer {
    #[serde(default)]
    choices: Vec<ChatChoice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct ChatChoice {
    message: ChatMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// How one attempt ended, before deciding whether to try again.
enum Attempt {
    Retry { error: LlmError, after: Option<Duration> },
    Fail(LlmError),
}

impl LlmClient {
    /// A client for `config`; `key` is required by Azure and OpenAI and
    /// optional for compatible servers.
    pub fn new(config: LlmConfig, key: Option<Secret>) -> Result<Self> {
        config.validate()?;
        let key = key.filter(|k| !k.is_empty());
        if key.is_none() && config.provider.needs_key() {
            return Err(LlmError::NotConfigured(format!("{} needs an API key", config.provider.describe())));
        }
        let provider = ProviderConfig::new(&config.provider, key.as_ref())
            .map_err(LlmError::NotConfigured)?
            .ok_or_else(|| LlmError::NotConfigured("no LLM provider is set".to_owned()))?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| LlmError::NotConfigured(format!("cannot set up HTTP: {e}")))?;
        let client =
            async_openai::Client::build(http.clone(), provider).with_http_service(Transport { http });
        let model = match &config.provider {
            Provider::Azure { deployment, .. } => deployment.clone(),
            Provider::OpenAi { model, .. } | Provider::Compatible { model, .. } => model.clone(),
            Provider::None => String::new(),
        };
        Ok(LlmClient {
            inner: Arc::new(Inner {
                permits: Semaphore::new(config.concurrency),
                description: config.provider.describe(),
                config,
                model,
                client,
                key,
                prompt_tokens: AtomicU64::new(0),
                completion_tokens: AtomicU64::new(0),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &LlmConfig {
        &self.inner.config
    }

    /// The provider, worded for people, e.g. "OpenAI model `gpt-4o-mini`".
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// Tokens used by every call of this client (and its clones) so far.
    pub fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.inner.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.inner.completion_tokens.load(Ordering::Relaxed),
        }
    }

    /// Chat requests that got an answer so far.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Sends `system` and `user` as one chat and returns the answer.
    ///
    /// Each attempt is bounded by `timeout_ms` (a timeout is not retried);
    /// 429, 5xx and connection failures are retried up to `max_retries`
    /// times with exponential backoff and jitter, or after the provider's
    /// `Retry-After`; other 4xx answers fail at once.
    pub async fn chat(&self, system: &str, user: &str) -> Result<Completion> {
        self.chat_with(system, user, None, self.inner.config.max_retries).await
    }

    /// A one-word chat with no retries, worded for the dashboard.
    pub async fn test_connection(&self) -> ConnectionTest {
        let started = Instant::now();
        let result =
            self.chat_with("You are a connection test.", "Reply with the word OK.", Some(5), 0).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let what = self.inner.config.provider.describe();
        match result {
            Ok(_) => ConnectionTest {
                ok: true,
                message: format!("Connected to {what} in {latency_ms} ms."),
                latency_ms,
            },
            Err(LlmError::RateLimited { .. }) => ConnectionTest {
                ok: true,
                message: format!("Reached {what}, but it is rate limiting requests right now."),
                latency_ms,
            },
            Err(LlmError::Http { status: 401 | 403, message }) => ConnectionTest {
                ok: false,
                message: format!("{what} refused the API key: {message}"),
                latency_ms,
            },
            Err(LlmError::Http { status: 404, message }) => ConnectionTest {
                ok: false,
                message: format!("{what} was not found (check the URL, deployment or model): {message}"),
                latency_ms,
            },
            Err(e) => ConnectionTest { ok: false, message: format!("{what}: {e}"), latency_ms },
        }
    }

    async fn chat_with(
        &self,
        system: &str,
        user: &str,
        max_tokens: Option<u32>,
        max_retries: u32,
    ) -> Result<Completion> {
        let inner = &self.inner;
        let request = CreateChatCompletionRequest {
            model: inner.model.clone(),
            messages: vec![
                ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(system)),
                ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(user)),
            ],
            temperature: Some(inner.config.temperature),
            max_completion_tokens: max_tokens,
            ..Default::default()
        };
        let mut attempt = 0u32;
        loop {
            let outcome = self.attempt(&request).await;
            let (error, after) = match outcome {
                Ok(completion) => return Ok(completion),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry { error, after }) => (error, after),
            };
            if attempt >= max_retries {
                return Err(error);
            }
            let wait = after.unwrap_or_else(|| backoff(inner.config.retry_base_ms, attempt)).min(MAX_BACKOFF);
            tracing::debug!(attempt = attempt + 1, wait_ms = wait.as_millis() as u64, error = %error, "retrying the LLM call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One request, holding a concurrency permit only while it is in flight.
    async fn attempt(
        &self,
        request: &CreateChatCompletionRequest,
    ) -> std::result::Result<Completion, Attempt> {
        let inner = &self.inner;
        let _permit = inner.permits.acquire().await.expect("the semaphore is never closed");
        let timeout_ms = inner.config.timeout_ms;
        let chat = inner.client.chat();
        let call = chat.create_byot::<_, ChatAnswer>(request);
        let answer = match tokio::time::timeout(Duration::from_millis(timeout_ms), call).await {
            Err(_) => return Err(Attempt::Fail(LlmError::Timeout(timeout_ms))),
            Ok(Err(e)) => return Err(self.classify(e)),
            Ok(Ok(answer)) => answer,
        };
        let usage = answer
            .usage
            .map(|u| Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens })
            .unwrap_or_default();
        inner.prompt_tokens.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        inner.completion_tokens.fetch_add(usage.completion_tokens, Ordering::Relaxed);
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let Some(choice) = answer.choices.into_iter().next() else {
            return Err(Attempt::Fail(LlmError::BadResponse("the answer has no choices".to_owned())));
        };
        match choice.message.content {
            Some(text) => Ok(Completion { text, usage }),
            None => {
                let why = match (choice.message.refusal, choice.finish_reason) {
                    (Some(refusal), _) => format!("the model refused: {}", self.mask(&refusal)),
                    (None, Some(reason)) => format!("the answer has no text (finish reason `{reason}`)"),
                    (None, None) => "the answer has no text".to_owned(),
                };
                Err(Attempt::Fail(LlmError::BadResponse(why)))
            }
        }
    }

    fn classify(&self, e: OpenAIError) -> Attempt {
        match e {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<Failure>() {
                Ok(failure) => match *failure {
                    Failure::Status { status: 429, retry_after, .. } => Attempt::Retry {
                        error: LlmError::RateLimited {
                            retry_after_ms: retry_after.map(|d| d.as_millis() as u64),
                        },
                        after: retry_after,
                    },
                    Failure::Status { status, message, retry_after } => {
                        let error = LlmError::Http { status, message: self.mask(&message) };
                        if status >= 500 {
                            Attempt::Retry { error, after: retry_after }
                        } else {
                            Attempt::Fail(error)
                        }
                    }
                    Failure::Connect(message) => {
                        Attempt::Retry { error: LlmError::Connect(self.mask(&message)), after: None }
                    }
                    Failure::Timeout => Attempt::Fail(LlmError::Timeout(self.inner.config.timeout_ms)),
                },
                Err(other) => Attempt::Fail(LlmError::BadResponse(self.mask(&truncate(&other.to_string())))),
            },
            OpenAIError::Reqwest(e) if e.is_timeout() => {
                Attempt::Fail(LlmError::Timeout(self.inner.config.timeout_ms))
            }
            // The body broke off mid-way: the connection, not the answer, failed.
            OpenAIError::Reqwest(e) => {
                Attempt::Retry { error: LlmError::Connect(self.mask(&truncate(&e.to_string()))), after: None }
            }
            // Never quote the body of an unparsable answer: it could be anything.
            OpenAIError::JSONDeserialize(e, _) => {
                Attempt::Fail(LlmError::BadResponse(format!("not a chat completion ({e})")))
            }
            other => Attempt::Fail(LlmError::BadResponse(self.mask(&truncate(&other.to_string())))),
        }
    }

    fn mask(&self, text: &str) -> String {
        match &self.inner.key {
            Some(key) => key.mask(text),
            None => text.to_owned(),
        }
    }
}

/// `base · 2^attempt`, capped, with jitter: a uniformly random point in its upper half.
fn backoff(base_ms: u64, attempt: u32) -> Duration {
    let full = base_ms.saturating_mul(1u64 << attempt.min(20)).min(MAX_BACKOFF.as_millis() as u64);
    let half = full / 2;
    Duration::from_millis(half + rand::random_range(0..=full - half))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        for attempt in 0..5 {
            let full = 100 * (1 << attempt);
            let d = backoff(100, attempt).as_millis() as u64;
            assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d} ms");
        }
        assert!(backoff(1_000, 40) <= MAX_BACKOFF);
    }

    #[test]
    fn a_missing_key_or_provider_is_not_configured() {
        let openai = LlmConfig {
            provider: Provider::OpenAi { model: "gpt-4o-mini".into(), base_url: None },
            ..LlmConfig::default()
        };
        let e = LlmClient::new(openai.clone(), None).unwrap_err();
        assert!(matches!(e, LlmError::NotConfigured(_)), "{e}");
        assert!(LlmClient::new(LlmConfig::default(), None).is_err());
        assert!(LlmClient::new(openai, Some(Secret::new("sk-x"))).is_ok());
    }
}
