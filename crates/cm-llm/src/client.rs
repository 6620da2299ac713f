//! The chat client: timeouts, retries, a concurrency limit and usage counts
//! around one call of the provider: an async-openai chat completion, an
//! Anthropic Messages request, or a headless `claude -p` run.

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

use crate::anthropic::Messages;
use crate::claude_code::ClaudeCli;
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

impl Usage {
    /// The counts of Anthropic's API (and so of Claude Code): prompt tokens
    /// written to or read from the cache are prompt tokens too, and count
    /// against a limit like the others.
    pub(crate) fn with_cache(input: u64, cache_creation: u64, cache_read: u64, output: u64) -> Usage {
        Usage { prompt_tokens: input + cache_creation + cache_read, completion_tokens: output }
    }
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
        }
    }
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

/// One chat, the same for every provider.
pub(crate) struct Prompt<'a> {
    pub(crate) system: &'a str,
    pub(crate) user: &'a str,
    /// The longest answer wanted, where the provider takes a limit.
    pub(crate) max_tokens: Option<u32>,
}

/// A provider's answer, before the client counts it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) text: String,
    pub(crate) usage: Usage,
}

/// How a provider is spoken to.
enum Backend {
    /// Azure OpenAI, OpenAI and compatible servers.
    OpenAi(async_openai::Client<ProviderConfig>),
    Anthropic(Messages),
    ClaudeCode(ClaudeCli),
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
    backend: Backend,
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
    /// A client for `config`; `key` is required by Azure, OpenAI and
    /// Anthropic, optional for compatible servers and unused by Claude Code
    /// (it has its own login).
    pub fn new(config: LlmConfig, key: Option<Secret>) -> Result<Self> {
        config.validate()?;
        let key = key.filter(|k| !k.is_empty());
        if key.is_none() && config.provider.needs_key() {
            return Err(LlmError::NotConfigured(format!("{} needs an API key", config.provider.describe())));
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| LlmError::NotConfigured(format!("cannot set up HTTP: {e}")))?;
        let backend = match &config.provider {
            Provider::None => return Err(LlmError::NotConfigured("no LLM provider is set".to_owned())),
            Provider::Anthropic { model, base_url } => Backend::Anthropic(
                Messages::new(http, base_url.as_deref(), model, config.temperature, key.as_ref())
                    .map_err(LlmError::NotConfigured)?,
            ),
            Provider::ClaudeCode { model, command } => Backend::ClaudeCode(
                ClaudeCli::new(command.as_deref(), model.as_deref()).map_err(LlmError::NotConfigured)?,
            ),
            Provider::Azure { .. } | Provider::OpenAi { .. } | Provider::Compatible { .. } => {
                let provider = ProviderConfig::new(&config.provider, key.as_ref())
                    .map_err(LlmError::NotConfigured)?
                    .ok_or_else(|| LlmError::NotConfigured("no LLM provider is set".to_owned()))?;
                Backend::OpenAi(
                    async_openai::Client::build(http.clone(), provider).with_http_service(Transport { http }),
                )
            }
        };
        let model = match &config.provider {
            Provider::Azure { deployment, .. } => deployment.clone(),
            Provider::OpenAi { model, .. }
            | Provider::Compatible { model, .. }
            | Provider::Anthropic { model, .. } => model.clone(),
            Provider::ClaudeCode { model, .. } => model.clone().unwrap_or_default(),
            Provider::None => String::new(),
        };
        Ok(LlmClient {
            inner: Arc::new(Inner {
                permits: Semaphore::new(config.concurrency),
                description: config.provider.describe(),
                config,
                model,
                backend,
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
            Err(LlmError::Http { status: 401 | 403, message })
                if matches!(self.inner.config.provider, Provider::ClaudeCode { .. }) =>
            {
                ConnectionTest {
                    ok: false,
                    message: format!(
                        "{what} cannot use your login (run `claude` once and log in): {message}"
                    ),
                    latency_ms,
                }
            }
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
        let prompt = Prompt { system, user, max_tokens };
        let mut attempt = 0u32;
        loop {
            let (error, after) = match self.attempt(&prompt).await {
                Ok(completion) => return Ok(completion),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Retry { error, after }) => (error, after),
            };
            if attempt >= max_retries {
                return Err(error);
            }
            let wait =
                after.unwrap_or_else(|| backoff(self.inner.config.retry_base_ms, attempt)).min(MAX_BACKOFF);
            tracing::debug!(attempt = attempt + 1, wait_ms = wait.as_millis() as u64, error = %error, "retrying the LLM call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One request, holding a concurrency permit only while it is in flight.
    async fn attempt(&self, prompt: &Prompt<'_>) -> std::result::Result<Completion, Attempt> {
        let inner = &self.inner;
        let _permit = inner.permits.acquire().await.expect("the semaphore is never closed");
        let timeout_ms = inner.config.timeout_ms;
        let reply = match tokio::time::timeout(Duration::from_millis(timeout_ms), self.send(prompt)).await {
            Err(_) => return Err(Attempt::Fail(LlmError::Timeout(timeout_ms))),
            Ok(reply) => reply,
        };
        match reply {
            Ok(Reply { text, usage }) => {
                self.count(usage);
                Ok(Completion { text, usage })
            }
            Err(Failure::Empty { why, usage }) => {
                self.count(usage);
                Err(Attempt::Fail(LlmError::BadResponse(self.mask(&why))))
            }
            Err(failure) => Err(self.classify(failure)),
        }
    }

    fn count(&self, usage: Usage) {
        let inner = &self.inner;
        inner.prompt_tokens.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        inner.completion_tokens.fetch_add(usage.completion_tokens, Ordering::Relaxed);
        inner.requests.fetch_add(1, Ordering::Relaxed);
    }

    async fn send(&self, prompt: &Prompt<'_>) -> std::result::Result<Reply, Failure> {
        match &self.inner.backend {
            Backend::OpenAi(client) => self.send_openai(client, prompt).await,
            Backend::Anthropic(messages) => messages.send(prompt).await,
            Backend::ClaudeCode(cli) => cli.run(prompt).await,
        }
    }

    async fn send_openai(
        &self,
        client: &async_openai::Client<ProviderConfig>,
        prompt: &Prompt<'_>,
    ) -> std::result::Result<Reply, Failure> {
        let request = CreateChatCompletionRequest {
            model: self.inner.model.clone(),
            messages: vec![
                ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(prompt.system)),
                ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(prompt.user)),
            ],
            temperature: Some(self.inner.config.temperature),
            max_completion_tokens: prompt.max_tokens,
            ..Default::default()
        };
        let chat = client.chat();
        let answer = chat.create_byot::<_, ChatAnswer>(&request).await.map_err(openai_failure)?;
        let usage = answer
            .usage
            .map(|u| Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens })
            .unwrap_or_default();
        let Some(choice) = answer.choices.into_iter().next() else {
            return Err(Failure::Empty { why: "the answer has no choices".to_owned(), usage });
        };
        match choice.message.content {
            Some(text) => Ok(Reply { text, usage }),
            None => {
                let why = match (choice.message.refusal, choice.finish_reason) {
                    (Some(refusal), _) => format!("the model refused: {refusal}"),
                    (None, Some(reason)) => format!("the answer has no text (finish reason `{reason}`)"),
                    (None, None) => "the answer has no text".to_owned(),
                };
                Err(Failure::Empty { why, usage })
            }
        }
    }

    /// Whether a failed attempt is worth another.
    fn classify(&self, failure: Failure) -> Attempt {
        match failure {
            Failure::Status { status: 429, retry_after, .. } => Attempt::Retry {
                error: LlmError::RateLimited { retry_after_ms: retry_after.map(|d| d.as_millis() as u64) },
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
            Failure::Unusable(message) | Failure::Empty { why: message, .. } => {
                Attempt::Fail(LlmError::BadResponse(self.mask(&message)))
            }
        }
    }

    fn mask(&self, text: &str) -> String {
        match &self.inner.key {
            Some(key) => key.mask(text),
            None => text.to_owned(),
        }
    }
}

/// What async-openai's error means, as a [`Failure`].
fn openai_failure(e: OpenAIError) -> Failure {
    match e {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<Failure>() {
            Ok(failure) => *failure,
            Err(other) => Failure::Unusable(truncate(&other.to_string())),
        },
        OpenAIError::Reqwest(e) if e.is_timeout() => Failure::Timeout,
        // The body broke off mid-way: the connection, not the answer, failed.
        OpenAIError::Reqwest(e) => Failure::Connect(truncate(&e.to_string())),
        // Never quote the body of an unparsable answer: it could be anything.
        OpenAIError::JSONDeserialize(e, _) => Failure::Unusable(format!("not a chat completion ({e})")),
        other => Failure::Unusable(truncate(&other.to_string())),
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
