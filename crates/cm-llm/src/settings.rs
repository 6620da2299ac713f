//! The engine's [`Structurer`] over an LLM: the structuring prompt in, the
//! tolerant parser over the answer.

use std::path::Path;

use cm_core::structure::{parse_llm_output, structuring_prompt};
use cm_core::{Domain, MemoryType, StructureError, StructureFuture, Structurer};

use crate::{Credentials, LlmClient, LlmConfig, LlmError, Provider, Result};

/// The settings file in the per-user directory: which provider, no secret.
pub const CONFIG_FILE: &str = "llm.toml";

/// Structures notes with an LLM.
#[derive(Debug, Clone)]
pub struct LlmStructurer {
    client: LlmClient,
    name: String,
}

impl LlmStructurer {
    /// A structurer over `client`, called `name` in logs and the dashboard.
    pub fn new(client: LlmClient, name: impl Into<String>) -> LlmStructurer {
        LlmStructurer { client, name: name.into() }
    }

    /// The client, for its usage counters and the connection test.
    pub fn client(&self) -> &LlmClient {
        &self.client
    }

    /// The structurer the user set up in `<home>/llm.toml`, with its key
    /// from the keychain, `CLAUDE_MEMORY_LLM_API_KEY` or the owner-only key
    /// file. `None` when no provider is set up (offline mode). Blocking
    /// (the keychain may be asked): call from a blocking context.
    pub fn load(home: &Path) -> Result<Option<LlmStructurer>> {
        let path = home.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LlmError::NotConfigured(format!("{}: {e}", path.display()))),
        };
        let config: LlmConfig = toml::from_str(&text)
            .map_err(|e| LlmError::NotConfigured(format!("{}: {}", path.display(), e.message())))?;
        if matches!(config.provider, Provider::None) {
            return Ok(None);
        }
        let key = Credentials::new(home).load()?.map(|(key, _source)| key);
        let name = config.provider.describe();
        Ok(Some(LlmStructurer::new(LlmClient::new(config, key)?, name)))
    }
}

impl Structurer for LlmStructurer {
    fn name(&self) -> &str {
        &self.name
    }

    fn structure<'a>(
        &'a self,
        content: &'a str,
        hint_type: Option<MemoryType>,
        hint_domain: Option<&'a Domain>,
    ) -> StructureFuture<'a> {
        Box::pin(async move {
            let (system, user) = structuring_prompt(content, hint_type, hint_domain);
            let answer = self.client.chat(&system, &user).await.map_err(|e| StructureError(e.to_string()))?;
            parse_llm_output(&answer.text).map_err(|e| StructureError(format!("unusable answer: {e}")))
        })
    }
}
