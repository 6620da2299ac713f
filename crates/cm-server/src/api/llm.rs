//! `/api/llm`: the LLM provider the engine uses. The API key goes one way —
//! into the OS keychain (or the owner-only file where there is none) — and
//! never comes back: answers only say whether one is stored, and where.

use std::sync::Arc;

use axum::extract::State;
use cm_llm::{Credentials, KeySource, LlmClient, LlmConfig, Provider, Secret};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{JsonBody, OptionalBody, blocking};
use crate::{AppState, Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LlmBody {
    config: LlmConfig,
    /// A new key; absent keeps the stored one.
    #[serde(default)]
    api_key: Option<String>,
    /// Removes the stored key.
    #[serde(default)]
    clear_key: bool,
}

/// The stored key and where it is, if any.
fn stored_key(home: &std::path::Path) -> Result<Option<(Secret, KeySource)>> {
    Credentials::new(home).load().map_err(|e| Error::Service(e.to_string()))
}

/// Whether `config` sends a key somewhere other than the saved settings'
/// server: the stored key then stays home (a key pasted for OpenAI is not
/// sent to a compatible server at another address after a switch).
fn elsewhere(home: &std::path::Path, config: &LlmConfig) -> Result<bool> {
    let saved = cm_llm::read_config(home).map_err(|e| Error::Service(e.to_string()))?;
    let to = config.provider.destination();
    Ok(to.is_some() && saved.provider.destination() != to)
}

impl LlmBody {
    /// The key typed into the form, if one was (blank is none).
    fn typed_key(&self) -> Option<Secret> {
        self.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()).map(Secret::new)
    }
}

/// The dashboard may choose Claude Code's program, but only one named
/// `claude`: whoever holds the API token could otherwise have the engine run
/// any program (any path can still be written into `llm.toml` by hand).
fn check_command(config: &LlmConfig) -> Result<()> {
    if let Provider::ClaudeCode { command: Some(command), .. } = &config.provider {
        let stem = std::path::Path::new(command.trim()).file_stem().and_then(|s| s.to_str());
        if stem != Some("claude") {
            return Err(Error::BadRequest(format!(
                "the Claude Code program must be named `claude` (got `{command}`); other paths go in llm.toml"
            )));
        }
    }
    Ok(())
}

async fn describe(state: &AppState) -> Result<Value> {
    let home = state.home().to_owned();
    let (config, source) = blocking(move || {
        let config = cm_llm::read_config(&home).map_err(|e| Error::Service(e.to_string()))?;
        Ok((config, stored_key(&home)?.map(|(_, source)| source)))
    })
    .await?;
    let (usage, today_tokens) = usage_everywhere(state).await;
    Ok(json!({
        "config": config,
        "key": { "present": source.is_some(), "source": source },
        "active": state.engine().llm().map(|l| l.name().to_owned()),
        "usage": usage,
        "today_tokens": today_tokens,
    }))
}

/// Tokens used in every known project (each counts its own): in all, and
/// today as the daily limits count them.
async fn usage_everywhere(state: &AppState) -> (cm_store::LlmTotals, u64) {
    let engine = state.engine();
    let mut total = cm_store::LlmTotals::default();
    for project in engine.known_projects().await {
        if let Ok(u) = engine.llm_usage(&project).await {
            total += u.total;
        }
    }
    (total, engine.llm_tokens_today_in_all(None).await)
}

/// `GET /api/llm`: settings, whether a key is stored, the LLM in use.
pub(super) async fn get_llm(State(state): State<AppState>) -> Result<axum::Json<Value>> {
    Ok(axum::Json(describe(&state).await?))
}

/// `PUT /api/llm`: checks and saves the settings (and the key), then swaps
/// the engine's LLM at once. Invalid settings change nothing.
pub(super) async fn put_llm(
    State(state): State<AppState>,
    JsonBody(b): JsonBody<LlmBody>,
) -> Result<axum::Json<Value>> {
    let key = b.typed_key();
    if !matches!(b.config.provider, Provider::None) {
        b.config.validate().map_err(|e| Error::BadRequest(e.to_string()))?;
    }
    check_command(&b.config)?;
    let home = state.home().to_owned();
    let config = b.config.clone();
    let clear = b.clear_key;
    let client = blocking(move || {
        let credentials = Credentials::new(&home);
        // The client is built before anything is written, so a provider that
        // needs a key it will not have is refused with nothing changed.
        // The stored key goes with the destination it was saved for; saved
        // for another one, it is dropped with this save.
        let moved = key.is_none() && !clear && elsewhere(&home, &config)?;
        let clear = clear || moved;
        let effective_key = match (&key, clear) {
            (Some(k), _) => Some(k.clone()),
            (None, true) => None,
            (None, false) => stored_key(&home)?.map(|(k, _)| k),
        };
        let client = match config.provider {
            Provider::None => None,
            _ => Some(
                LlmClient::new(config.clone(), effective_key)
                    .map_err(|e| Error::BadRequest(e.to_string()))?,
            ),
        };
        if clear {
            credentials.delete().map_err(|e| Error::Service(e.to_string()))?;
        }
        if let Some(k) = &key {
            credentials.store(k).map_err(|e| Error::Service(e.to_string()))?;
        }
        cm_llm::write_config(&home, &config).map_err(|e| Error::BadRequest(e.to_string()))?;
        Ok(client)
    })
    .await?;
    tracing::info!(llm = client.as_ref().map(|c| c.description()), "LLM settings changed");
    state.engine().set_llm(client.map(|c| Arc::new(c) as Arc<dyn cm_core::Llm>));
    Ok(axum::Json(describe(&state).await?))
}

/// `POST /api/llm/test`: one short chat with the given settings (the stored
/// ones without a body; the stored key unless one is given).
pub(super) async fn test_llm(
    State(state): State<AppState>,
    OptionalBody(given): OptionalBody<LlmBody>,
) -> Result<axum::Json<Value>> {
    let home = state.home().to_owned();
    let client = blocking(move || {
        let (config, key) = match given {
            Some(b) => {
                check_command(&b.config)?;
                let key = b.typed_key();
                (b.config, key)
            }
            None => (cm_llm::read_config(&home).map_err(|e| Error::Service(e.to_string()))?, None),
        };
        let key = match key {
            Some(k) => Some(k),
            None if !elsewhere(&home, &config)? => stored_key(&home)?.map(|(k, _)| k),
            None => None,
        };
        Ok(LlmClient::new(config, key))
    })
    .await?;
    let result = match client {
        Ok(client) => {
            serde_json::to_value(client.test_connection().await).map_err(|e| Error::Service(e.to_string()))?
        }
        Err(e) => json!({ "ok": false, "message": e.to_string(), "latency_ms": 0 }),
    };
    Ok(axum::Json(result))
}
