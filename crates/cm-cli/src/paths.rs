//! Where per-user state lives.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// The one directory holding all per-user state (config, and later the token,
/// project registry, queue, logs and model cache). `CLAUDE_MEMORY_HOME`
/// overrides it, which is what tests do so they never touch the real home.
pub fn home() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CLAUDE_MEMORY_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let base = dirs::data_dir().context("cannot find the user's data directory; set CLAUDE_MEMORY_HOME")?;
    Ok(base.join("claude-memory"))
}

/// The registry of every project claude-memory has opened.
pub fn registry() -> Result<cm_engine::Registry> {
    Ok(cm_engine::Registry::new(home()?.join("projects.json")))
}

/// Loads settings: defaults → `<home>/config.toml` → `CLAUDE_MEMORY_*` variables.
pub fn load_config() -> Result<cm_core::Config> {
    let file = home()?.join("config.toml");
    let mut config = match std::fs::read_to_string(&file) {
        Ok(text) => cm_core::Config::from_toml(&text).with_context(|| format!("in {}", file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => cm_core::Config::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    config.apply_env(std::env::vars())?;
    Ok(config)
}

/// How to run model `model` (default: the configured one, else
/// all-MiniLM-L6-v2) from `model_dir` (default: the configured directory, else
/// `<home>/models/<model>`), with the configured runtime and threads. For
/// commands that need a model whether or not one is configured (benchmarks).
pub fn embed_config(
    config: &cm_core::Config,
    model: Option<&str>,
    model_dir: Option<&std::path::Path>,
) -> Result<cm_embed::EmbedConfig> {
    let e = &config.embedding;
    let id = model
        .map(str::to_owned)
        .or_else(|| e.model.clone())
        .unwrap_or_else(|| cm_embed::ModelSpec::all_minilm_l6_v2().id.into_owned());
    let dir = model_dir.map(std::path::Path::to_owned).or_else(|| e.model_dir.clone());
    let mut cfg = match dir {
        // An explicit directory holds the catalogue model's files as they are.
        Some(dir) => {
            let spec = cm_embed::ModelSpec::builtin(&id).with_context(|| format!("unknown model {id:?}"))?;
            cm_embed::EmbedConfig::new(dir, spec)
        }
        // An installed model: its manifest says which ONNX file to run.
        None => cm_embed::ModelStore::new(home()?.join("models")).embed_config(&id)?,
    };
    cfg.onnxruntime = e.onnxruntime.clone();
    if let Some(threads) = e.threads {
        cfg.model.intra_threads = threads;
    }
    Ok(cfg)
}

/// Loads the active embedding model, if one is configured.
///
/// A configured model that cannot be loaded is a warning, not an error: the
/// command still works with full-text search, and says so.
pub async fn load_embedder(config: &cm_core::Config) -> Option<std::sync::Arc<dyn cm_core::Embedder>> {
    let e = &config.embedding;
    if e.model.is_none() && e.model_dir.is_none() {
        return None;
    }
    let id = e.model.clone().unwrap_or_else(|| cm_embed::ModelSpec::all_minilm_l6_v2().id.into_owned());
    let cfg = match embed_config(config, None, None) {
        Ok(cfg) => cfg,
        Err(err) => {
            eprintln!("warning: embedding model {id} unavailable ({err:#}); searching by full text only");
            return None;
        }
    };
    match cm_embed::EmbedService::load_async(cfg).await {
        Ok(service) => Some(std::sync::Arc::new(service)),
        Err(err) => {
            eprintln!("warning: embedding model {id} unavailable ({err}); searching by full text only");
            None
        }
    }
}

/// Gives `engine` the LLM set up in `<home>/llm.toml` (with its key from the
/// keychain, the environment or the owner-only key file), if any. A provider
/// that cannot be used is a warning: saves are then structured offline.
pub async fn attach_llm(engine: &cm_engine::Engine) {
    let Ok(home) = home() else { return };
    match tokio::task::spawn_blocking(move || cm_llm::LlmStructurer::load(&home)).await {
        Ok(Ok(Some(llm))) => {
            tracing::info!(llm = cm_core::Structurer::name(&llm), "structuring saves with an LLM");
            engine.set_structurer(Some(std::sync::Arc::new(llm)));
        }
        Ok(Ok(None)) => {}
        Ok(Err(err)) => eprintln!("warning: LLM unavailable ({err}); structuring saves offline"),
        Err(err) => eprintln!("warning: could not load the LLM settings ({err}); structuring saves offline"),
    }
}
