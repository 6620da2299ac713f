//! Which LLM provider to use and how patiently: no secrets here.

use serde::{Deserialize, Serialize};

use crate::{LlmError, Result};

/// The Azure OpenAI API version used when the configuration names none.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// Default OpenAI base URL (`/v1` is appended).
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com";

/// Default Anthropic base URL (`/v1/messages` is appended).
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// The command run for [`Provider::ClaudeCode`] when none is configured.
pub const DEFAULT_CLAUDE_COMMAND: &str = "claude";

/// Tokens a day, in all projects together, unless the settings say otherwise.
pub const DEFAULT_DAILY_TOKENS: u64 = 2_000_000;

/// Tokens a day in any one project, unless the settings say otherwise.
pub const DEFAULT_PROJECT_DAILY_TOKENS: u64 = 500_000;

/// Settings of the LLM client (`[llm]` in `config.toml`).
///
/// ```toml
/// [llm]
/// timeout_ms = 20000
/// [llm.provider]
/// kind = "azure"
/// endpoint = "https://my-resource.openai.azure.com"
/// deployment = "gpt-4o-mini"
/// api_version = "2024-10-21"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Which server to talk to.
    pub provider: Provider,
    /// Deadline of one attempt, in milliseconds.
    pub timeout_ms: u64,
    /// Further attempts after a rate limit, server error or failed connection.
    pub max_retries: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// First backoff between attempts, in milliseconds; it doubles with each
    /// retry (capped at 30 s), with random jitter.
    pub retry_base_ms: u64,
    /// Tokens (sent and generated) a day in all projects together; past it
    /// the engine works offline until midnight (UTC). 0: no limit.
    pub daily_tokens: u64,
    /// Tokens a day in any one project; 0: no limit.
    pub project_daily_tokens: u64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            provider: Provider::None,
            timeout_ms: 20_000,
            max_retries: 3,
            concurrency: 2,
            temperature: 0.0,
            retry_base_ms: 500,
            daily_tokens: DEFAULT_DAILY_TOKENS,
            project_daily_tokens: DEFAULT_PROJECT_DAILY_TOKENS,
        }
    }
}

/// An LLM provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Provider {
    /// No LLM: features that need one are off.
    #[default]
    None,
    /// Azure OpenAI: `POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`
    /// with the key in the `api-key` header.
    Azure {
        /// `https://<resource>.openai.azure.com`.
        endpoint: String,
        /// The deployment's name (it decides the model).
        deployment: String,
        /// The REST API version.
        #[serde(default = "default_api_version")]
        api_version: String,
    },
    /// OpenAI: `POST {base_url}/v1/chat/completions` with `Authorization: Bearer`.
    #[serde(rename = "openai")]
    OpenAi {
        /// Model name, e.g. `gpt-4o-mini`.
        model: String,
        /// Base URL; `https://api.openai.com` when absent.
        #[serde(default)]
        base_url: Option<String>,
    },
    /// An OpenAI-compatible server (Ollama, LM Studio, vLLM): like OpenAI at
    /// `base_url`, with a bearer key only if one is set.
    Compatible {
        /// Base URL, e.g. `http://localhost:11434` (a trailing `/v1` is accepted).
        base_url: String,
        /// Model name as the server knows it.
        model: String,
    },
    /// Anthropic's Messages API: `POST {base_url}/v1/messages` with the key
    /// in `x-api-key`.
    Anthropic {
        /// Model name, e.g. `claude-haiku-4-5`.
        model: String,
        /// Base URL; `https://api.anthropic.com` when absent.
        #[serde(default)]
        base_url: Option<String>,
    },
    /// The person's own Claude Code: `claude -p` run headless with their
    /// login, no tools, no settings, no MCP servers and no hooks, in an empty
    /// folder. Slow to start, so only background work uses it.
    #[serde(rename = "claude-code")]
    ClaudeCode {
        /// Model alias or name (e.g. `haiku`); Claude Code's default when absent.
        #[serde(default)]
        model: Option<String>,
        /// The `claude` program: a path, or a name looked up on the PATH and
        /// where Claude Code's installers put it; `claude` when absent.
        #[serde(default)]
        command: Option<String>,
    },
}

fn default_api_version() -> String {
    DEFAULT_AZURE_API_VERSION.to_owned()
}

impl Provider {
    /// Where a key for it is sent: the provider and the server's address
    /// (its default when none is set); `None` for those that take no key.
    /// A key stored for one destination is never sent to another.
    pub fn destination(&self) -> Option<String> {
        let url = |u: &str| u.trim().trim_end_matches('/').to_ascii_lowercase();
        match self {
            Provider::None | Provider::ClaudeCode { .. } => None,
            Provider::Azure { endpoint, .. } => Some(format!("azure {}", url(endpoint))),
            Provider::OpenAi { base_url, .. } => {
                Some(format!("openai {}", url(base_url.as_deref().unwrap_or("https://api.openai.com"))))
            }
            Provider::Compatible { base_url, .. } => Some(format!("compatible {}", url(base_url))),
            Provider::Anthropic { base_url, .. } => {
                Some(format!("anthropic {}", url(base_url.as_deref().unwrap_or("https://api.anthropic.com"))))
            }
        }
    }

    /// A short human-readable name, e.g. for the dashboard.
    pub fn describe(&self) -> String {
        match self {
            Provider::None => "no LLM".to_owned(),
            Provider::Azure { deployment, .. } => format!("Azure OpenAI deployment `{deployment}`"),
            Provider::OpenAi { model, .. } => format!("OpenAI model `{model}`"),
            Provider::Compatible { base_url, model } => format!("model `{model}` at {base_url}"),
            Provider::Anthropic { model, .. } => format!("Anthropic model `{model}`"),
            Provider::ClaudeCode { model: Some(model), .. } => {
                format!("Claude Code (`claude -p`, model `{model}`)")
            }
            Provider::ClaudeCode { model: None, .. } => "Claude Code (`claude -p`)".to_owned(),
        }
    }

    /// Whether this provider cannot work without an API key.
    pub fn needs_key(&self) -> bool {
        matches!(self, Provider::Azure { .. } | Provider::OpenAi { .. } | Provider::Anthropic { .. })
    }

    /// Whether a call takes seconds before any answer (a program is started
    /// for each): such a provider is asked only by background work, never
    /// while someone waits for a save.
    pub fn background_only(&self) -> bool {
        matches!(self, Provider::ClaudeCode { .. })
    }
}

impl LlmConfig {
    /// Checks that the provider has what it needs and the limits make sense.
    pub fn validate(&self) -> Result<()> {
        let missing = |what: &str| Err(LlmError::NotConfigured(format!("{what} is empty")));
        match &self.provider {
            Provider::None => return Err(LlmError::NotConfigured("no LLM provider is set".to_owned())),
            Provider::Azure { endpoint, deployment, api_version } => {
                if endpoint.trim().is_empty() {
                    return missing("the Azure endpoint");
                }
                if deployment.trim().is_empty() {
                    return missing("the Azure deployment");
                }
                if api_version.trim().is_empty() {
                    return missing("the Azure API version");
                }
                check_url(endpoint)?;
            }
            Provider::OpenAi { model, base_url } => {
                if model.trim().is_empty() {
                    return missing("the OpenAI model");
                }
                if let Some(base) = base_url {
                    check_url(base)?;
                }
            }
            Provider::Compatible { base_url, model } => {
                if model.trim().is_empty() {
                    return missing("the model");
                }
                if base_url.trim().is_empty() {
                    return missing("the base URL");
                }
                check_url(base_url)?;
            }
            Provider::Anthropic { model, base_url } => {
                if model.trim().is_empty() {
                    return missing("the Anthropic model");
                }
                if let Some(base) = base_url {
                    check_url(base)?;
                }
            }
            Provider::ClaudeCode { model, command } => {
                if model.as_deref().is_some_and(|m| m.trim().is_empty()) {
                    return missing("the Claude Code model");
                }
                if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
                    return missing("the `claude` command");
                }
            }
        }
        if self.concurrency == 0 {
            return Err(LlmError::NotConfigured("concurrency must be at least 1".to_owned()));
        }
        if self.timeout_ms == 0 {
            return Err(LlmError::NotConfigured("timeout_ms must be at least 1".to_owned()));
        }
        Ok(())
    }
}

fn check_url(url: &str) -> Result<()> {
    let url = url.trim();
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(LlmError::NotConfigured(format!("`{url}` is not an http:// or https:// URL")))
    }
}

/// `base` without trailing slashes and with `/v1` appended unless it already ends so.
pub(crate) fn v1_base(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with("/v1") { base.to_owned() } else { format!("{base}/v1") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let c = LlmConfig::default();
        assert_eq!(c.provider, Provider::None);
        assert_eq!((c.timeout_ms, c.max_retries, c.concurrency, c.temperature), (20_000, 3, 2, 0.0));
        assert_eq!((c.daily_tokens, c.project_daily_tokens), (2_000_000, 500_000));
    }

    #[test]
    fn parses_each_provider_from_json() {
        let c: LlmConfig = toml_like(
            r#"{"timeout_ms": 5000, "provider": {"kind": "azure", "endpoint": "https://x.openai.azure.com", "deployment": "d"}}"#,
        );
        assert_eq!(c.timeout_ms, 5000);
        assert_eq!(
            c.provider,
            Provider::Azure {
                endpoint: "https://x.openai.azure.com".into(),
                deployment: "d".into(),
                api_version: DEFAULT_AZURE_API_VERSION.into()
            }
        );
        let c: LlmConfig = toml_like(r#"{"provider": {"kind": "openai", "model": "gpt-4o-mini"}}"#);
        assert_eq!(c.provider, Provider::OpenAi { model: "gpt-4o-mini".into(), base_url: None });
        let c: LlmConfig = toml_like(
            r#"{"provider": {"kind": "compatible", "base_url": "http://localhost:11434", "model": "llama3"}}"#,
        );
        assert!(matches!(c.provider, Provider::Compatible { .. }));
        assert!(c.validate().is_ok());
        let a: LlmConfig = toml_like(r#"{"provider": {"kind": "anthropic", "model": "claude-haiku-4-5"}}"#);
        assert_eq!(a.provider, Provider::Anthropic { model: "claude-haiku-4-5".into(), base_url: None });
        assert!(a.provider.needs_key() && !a.provider.background_only());
        let cc: LlmConfig = toml_like(r#"{"provider": {"kind": "claude-code", "model": "haiku"}}"#);
        assert_eq!(cc.provider, Provider::ClaudeCode { model: Some("haiku".into()), command: None });
        assert!(!cc.provider.needs_key() && cc.provider.background_only());
        assert!(cc.validate().is_ok());
        let back: LlmConfig = toml_like(&serde_json::to_string(&c).unwrap());
        assert_eq!(back, c);
    }

    #[test]
    fn parses_the_documented_toml() {
        let c: LlmConfig = toml::from_str(
            "timeout_ms = 5000\n[provider]\nkind = \"azure\"\nendpoint = \"https://r.openai.azure.com\"\ndeployment = \"d\"\n",
        )
        .unwrap();
        assert_eq!(c.timeout_ms, 5000);
        assert!(
            matches!(&c.provider, Provider::Azure { api_version, .. } if api_version == DEFAULT_AZURE_API_VERSION)
        );
        assert!(
            toml::from_str::<LlmConfig>("[provider]\nkind = \"openai\"\nmodel = \"m\"\nextra = 1\n").is_err()
        );
    }

    #[test]
    fn validation_names_what_is_missing() {
        let c = LlmConfig::default();
        assert!(matches!(c.validate(), Err(LlmError::NotConfigured(_))));
        let c = LlmConfig {
            provider: Provider::Compatible { base_url: "localhost:1234".into(), model: "m".into() },
            ..LlmConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("not an http"));
    }

    #[test]
    fn v1_is_appended_once() {
        assert_eq!(v1_base("http://h:1/"), "http://h:1/v1");
        assert_eq!(v1_base("http://h:1/v1/"), "http://h:1/v1");
        assert_eq!(v1_base(DEFAULT_OPENAI_BASE_URL), "https://api.openai.com/v1");
    }

    fn toml_like(json: &str) -> LlmConfig {
        serde_json::from_str(json).unwrap()
    }
}
