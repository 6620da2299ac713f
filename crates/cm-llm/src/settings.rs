//! The user's LLM settings (`<home>/llm.toml`, no secret in it) and the
//! engine's [`Llm`] over the configured client.

use std::path::Path;

use cm_core::{Llm, LlmAnswer, LlmCallError, LlmFuture, TokenLimits};

use crate::{Credentials, LlmClient, LlmConfig, LlmError, Provider, Result};

/// The settings file in the per-user directory: which provider, no secret.
pub const CONFIG_FILE: &str = "llm.toml";

/// Reads `<home>/llm.toml`; the defaults (no provider) when it is absent.
pub fn read_config(home: &Path) -> Result<LlmConfig> {
    let path = home.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LlmConfig::default()),
        Err(e) => return Err(LlmError::NotConfigured(format!("{}: {e}", path.display()))),
    };
    toml::from_str(&text).map_err(|e| LlmError::NotConfigured(format!("{}: {}", path.display(), e.message())))
}

/// Writes `config` to `<home>/llm.toml` atomically (a temporary file renamed
/// over the old one), after checking it: a provider must be complete.
pub fn write_config(home: &Path, config: &LlmConfig) -> Result<()> {
    if !matches!(config.provider, Provider::None) {
        config.validate()?;
    }
    let text = toml::to_string(config).map_err(|e| LlmError::NotConfigured(e.to_string()))?;
    let io = |e: std::io::Error| {
        LlmError::NotConfigured(format!("writing {}: {e}", home.join(CONFIG_FILE).display()))
    };
    std::fs::create_dir_all(home).map_err(io)?;
    let tmp = home.join(format!("{CONFIG_FILE}.tmp"));
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, home.join(CONFIG_FILE)).map_err(io)
}

/// The client the user set up in `<home>/llm.toml`, with its key from the
/// keychain, `CLAUDE_MEMORY_LLM_API_KEY` or the owner-only key file. `None`
/// when no provider is set up (offline mode). Blocking (the keychain may be
/// asked): call from a blocking context.
pub fn load(home: &Path) -> Result<Option<LlmClient>> {
    let config = read_config(home)?;
    if matches!(config.provider, Provider::None) {
        return Ok(None);
    }
    let key = Credentials::new(home).load()?.map(|(key, _source)| key);
    Ok(Some(LlmClient::new(config, key)?))
}

impl Llm for LlmClient {
    fn name(&self) -> &str {
        self.description()
    }

    fn complete<'a>(&'a self, system: &'a str, user: &'a str) -> LlmFuture<'a> {
        Box::pin(async move {
            let answer = self.chat(system, user).await.map_err(|e| LlmCallError(e.to_string()))?;
            Ok(LlmAnswer {
                text: answer.text,
                prompt_tokens: answer.usage.prompt_tokens,
                completion_tokens: answer.usage.completion_tokens,
            })
        })
    }

    fn background_only(&self) -> bool {
        self.config().provider.background_only()
    }

    fn daily_limits(&self) -> TokenLimits {
        let c = self.config();
        TokenLimits { total: c.daily_tokens, per_project: c.project_daily_tokens }
    }
}
