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
