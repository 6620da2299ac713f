//! Building and starting the per-user engine the way every front end does:
//! `claude-memory serve` and the tray app both call [`launch`], so they
//! host exactly the same engine (settings, model, LLM, dashboard files).
//!
//! The path and settings helpers are public too: the CLI's other commands
//! open the same home, registry and model in-process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cm_engine::Engine;

use crate::discovery::EngineLock;
use crate::{Error, Result, ServeOptions, Server};

/// What [`launch`] needs from its caller.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Port on 127.0.0.1; `None` takes the configured one (`service.port`,
    /// `CLAUDE_MEMORY_PORT`).
    pub port: Option<u16>,
    /// Watch the configured roots for projects.
    pub watch: bool,
    /// The dashboard's built files ([`ui_dir`] finds the usual places).
    pub ui_dir: Option<PathBuf>,
}

/// Loads the settings, model and LLM and starts serving. Fails with the
/// service's message when another engine already runs, checked before the
/// (possibly slow) model load.
pub async fn launch(options: LaunchOptions) -> Result<Server> {
    let home = home()?;
    let config = load_config()?;
    let port = options.port.unwrap_or(config.service.port);
    // Only a quick look: `Server::start` takes the lock for good.
    drop(EngineLock::acquire(&home)?);
    let embedder = load_embedder(&config, Workload::Serving).await;
    let engine = Engine::with_registry(config, embedder, registry()?);
    attach_llm(&engine).await;
    Server::start(engine, ServeOptions { home, port, watch: options.watch, ui_dir: options.ui_dir }).await
}

/// The one directory holding all per-user state (config, token, project
/// registry, queue, logs and model cache). `CLAUDE_MEMORY_HOME` overrides it,
/// which is what tests do so they never touch the real home.
pub fn home() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CLAUDE_MEMORY_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let base = dirs::data_dir().ok_or_else(|| {
        Error::Service("cannot find the user's data directory; set CLAUDE_MEMORY_HOME".into())
    })?;
    Ok(base.join("claude-memory"))
}

/// The registry of every project claude-memory has opened.
pub fn registry() -> Result<cm_engine::Registry> {
    Ok(cm_engine::Registry::new(registry_file(&home()?)))
}

// Every per-user file and folder is named here once (the token and
// `engine.json` in `discovery`); nothing else spells them.

/// The settings file in `home`.
pub fn config_file(home: &Path) -> PathBuf {
    home.join("config.toml")
}

/// The list of every project opened, in `home`.
pub fn registry_file(home: &Path) -> PathBuf {
    home.join("projects.json")
}

/// The installed embedding models, in `home`.
pub fn models_dir(home: &Path) -> PathBuf {
    home.join("models")
}

/// What the engine logs unless `CLAUDE_MEMORY_LOG` says otherwise: its own
/// `info`, and of its libraries only what needs a person. hf-hub logs each
/// exhausted retry as an ERROR (the download's own error names the cause
/// once); notify warns whenever a watched lock file vanishes before it is
/// unwatched (Claude Code's `.claude.json.lock`, many times a session);
/// rmcp logs every MCP connection at `info`.
pub const LOG_FILTER: &str = "info,hf_hub=off,notify=error,rmcp=warn";

/// The engine's log (`serve` and the tray app append to it), in `home`.
pub fn engine_log(home: &Path) -> PathBuf {
    home.join("logs").join("engine.log")
}

/// Loads settings: defaults → `<home>/config.toml` → `CLAUDE_MEMORY_*` variables.
pub fn load_config() -> Result<cm_core::Config> {
    load_config_in(&home()?)
}

/// [`load_config`] for the home directory `home`.
pub fn load_config_in(home: &Path) -> Result<cm_core::Config> {
    let mut config = read_config_file(home)?;
    config.apply_env(std::env::vars()).map_err(|e| Error::Service(cm_core::error_chain(&e)))?;
    Ok(config)
}

/// The settings file alone, without environment overrides: the defaults
/// where there is none.
pub fn read_config_file(home: &Path) -> Result<cm_core::Config> {
    let file = config_file(home);
    match std::fs::read_to_string(&file) {
        Ok(text) => cm_core::Config::from_toml(&text)
            .map_err(|e| Error::Service(format!("in {}: {}", file.display(), cm_core::error_chain(&e)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(cm_core::Config::default()),
        Err(e) => Err(Error::Service(format!("reading {}: {}", file.display(), cm_core::error_chain(&e)))),
    }
}

/// Writes `config` into the settings file, changing only the values that
/// differ: the user's comments, order and formatting stay.
pub fn write_config(home: &Path, config: &cm_core::Config) -> Result<()> {
    config.validate().map_err(|e| Error::Service(cm_core::error_chain(&e)))?;
    let wanted: toml_edit::DocumentMut = toml::to_string_pretty(config)
        .map_err(|e| Error::Service(e.to_string()))?
        .parse()
        .map_err(|e: toml_edit::TomlError| Error::Service(e.to_string()))?;
    edit_config(home, |doc| {
        merge_table(doc.as_table_mut(), wanted.as_table());
        Ok(())
    })
}

/// Marks the first run as done (the tray app opens the wizard, and the
/// dashboard shows "Finish setup", until then): by the wizard, or by
/// `claude-memory setup` connecting a project from the command line.
pub const SETUP_DONE_FILE: &str = ".setup-done";

/// Whether the first run was completed in `home`.
pub fn setup_done(home: &Path) -> bool {
    home.join(SETUP_DONE_FILE).is_file()
}

/// Records that the first run was completed in `home`.
pub fn mark_setup_done(home: &Path) -> Result<()> {
    let path = home.join(SETUP_DONE_FILE);
    std::fs::create_dir_all(home)
        .and_then(|()| std::fs::write(&path, b"done\n"))
        .map_err(|e| Error::Service(format!("writing {}: {e}", path.display())))
}

/// Makes installed model `id` the configured one (`[embedding] model`), the
/// rest of the file kept as it is.
pub fn remember_model(home: &Path, id: &str) -> Result<()> {
    edit_config(home, |doc| {
        let table = doc.entry("embedding").or_insert(toml_edit::table());
        let table = table
            .as_table_mut()
            .ok_or_else(|| Error::Service("`embedding` in config.toml is not a table".into()))?;
        table.insert("model", toml_edit::value(id));
        table.remove("model_dir");
        Ok(())
    })
}

/// Reads the settings file as a document, lets `change` edit it, checks the
/// result is valid settings, and replaces the file atomically (owner-only).
fn edit_config(home: &Path, change: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<()>) -> Result<()> {
    let file = config_file(home);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::Service(format!("reading {}: {e}", file.display()))),
    };
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|e| Error::Service(format!("in {}: {e}", file.display())))?;
    // A file of comments only keeps them in its trailing text, after which
    // a new table would go: they stay at the top instead.
    let lead = doc.as_table().is_empty().then(|| doc.trailing().as_str().unwrap_or("").to_owned());
    change(&mut doc)?;
    if let Some(lead) = lead.filter(|l| !l.trim().is_empty()) {
        let first = doc.as_table_mut().iter_mut().next().and_then(|(_, item)| item.as_table_mut());
        if let Some(table) = first {
            table.decor_mut().set_prefix(lead);
            doc.set_trailing("");
        }
    }
    let text = doc.to_string();
    cm_core::Config::from_toml(&text)
        .map_err(|e| Error::Service(format!("updating {}: {}", file.display(), cm_core::error_chain(&e))))?;
    std::fs::create_dir_all(home).map_err(|e| Error::Service(format!("creating {}: {e}", home.display())))?;
    let tmp = file.with_extension("toml.tmp");
    let written = std::fs::write(&tmp, text).and_then(|()| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, &file)
    });
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Service(format!("writing {}: {e}", file.display()))
    })
}

/// Makes `doc` hold exactly `wanted`'s values, touching only what differs.
fn merge_table(doc: &mut toml_edit::Table, wanted: &toml_edit::Table) {
    let stale: Vec<String> =
        doc.iter().map(|(k, _)| k.to_owned()).filter(|k| !wanted.contains_key(k)).collect();
    for key in stale {
        doc.remove(&key);
    }
    for (key, item) in wanted.iter() {
        match (doc.get_mut(key), item) {
            (Some(toml_edit::Item::Table(have)), toml_edit::Item::Table(want)) => merge_table(have, want),
            (Some(toml_edit::Item::Value(have)), toml_edit::Item::Value(want))
                if have.to_string().trim() == want.to_string().trim() => {}
            (Some(toml_edit::Item::Value(have)), toml_edit::Item::Value(want)) => {
                let decor = have.decor().clone();
                *have = want.clone();
                *have.decor_mut() = decor;
            }
            _ => {
                doc.insert(key, item.clone());
            }
        }
    }
}

/// What an embedder is loaded for: it decides the model's threads (unless
/// `embedding.threads` is configured) and whether they spin between
/// operators (only for a bulk run, which embeds back to back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The engine and the commands that embed a few texts (a save, a
    /// search): beside the person's own work ([`cm_embed::model::default_intra_threads`]).
    Serving,
    /// One command embedding a whole file or every project (an import, a
    /// model switch), which the person waits for ([`cm_embed::bulk_intra_threads`]).
    Bulk,
}

/// How to run model `model` (default: the configured one, else
/// all-MiniLM-L6-v2) from `model_dir` (default: the configured directory, else
/// `<home>/models/<model>`), with the configured runtime and threads. For
/// commands that need a model whether or not one is configured (benchmarks).
pub fn embed_config(
    config: &cm_core::Config,
    model: Option<&str>,
    model_dir: Option<&Path>,
) -> Result<cm_embed::EmbedConfig> {
    embed_config_for(config, model, model_dir, Workload::Serving)
}

/// [`embed_config`] for `workload`.
pub fn embed_config_for(
    config: &cm_core::Config,
    model: Option<&str>,
    model_dir: Option<&Path>,
    workload: Workload,
) -> Result<cm_embed::EmbedConfig> {
    let e = &config.embedding;
    let id = model
        .map(str::to_owned)
        .or_else(|| e.model.clone())
        .unwrap_or_else(|| cm_embed::ModelSpec::all_minilm_l6_v2().id.into_owned());
    let dir = model_dir.map(Path::to_owned).or_else(|| e.model_dir.clone());
    let mut cfg = match dir {
        // An explicit directory holds the catalogue model's files as they are.
        Some(dir) => {
            let spec = cm_embed::ModelSpec::builtin(&id)
                .ok_or_else(|| Error::Service(format!("unknown model {id:?}")))?;
            cm_embed::EmbedConfig::new(dir, spec)
        }
        // An installed model: its manifest says which ONNX file to run.
        None => cm_embed::ModelStore::new(models_dir(&home()?))
            .embed_config(&id)
            .map_err(|e| Error::Service(cm_core::error_chain(&e)))?,
    };
    cfg.onnxruntime = e.onnxruntime.clone();
    cfg.model.intra_threads = match (e.threads, workload) {
        (Some(threads), _) => threads,
        (None, Workload::Serving) => cm_embed::model::default_intra_threads(),
        (None, Workload::Bulk) => cm_embed::bulk_intra_threads(),
    };
    cfg.model.spin = workload == Workload::Bulk;
    Ok(cfg)
}

/// Loads the active embedding model, if one is configured.
///
/// A configured model that cannot be loaded is a warning, not an error: the
/// engine still works with full-text search, and says so on stderr.
pub async fn load_embedder(
    config: &cm_core::Config,
    workload: Workload,
) -> Option<Arc<dyn cm_core::Embedder>> {
    let e = &config.embedding;
    if e.model.is_none() && e.model_dir.is_none() {
        return None;
    }
    let id = e.model.clone().unwrap_or_else(|| cm_embed::ModelSpec::all_minilm_l6_v2().id.into_owned());
    let cfg = match embed_config_for(config, None, None, workload) {
        Ok(cfg) => cfg,
        Err(err) => {
            warn(&format!("embedding model {id} unavailable ({err}); searching by full text only"));
            return None;
        }
    };
    match cm_embed::EmbedService::load_async(cfg).await {
        Ok(service) => Some(Arc::new(service)),
        Err(err) => {
            warn(&format!("embedding model {id} unavailable ({err}); searching by full text only"));
            None
        }
    }
}

/// Gives `engine` the LLM set up in `<home>/llm.toml` (with its key from the
/// keychain, the environment or the owner-only key file), if any. A provider
/// that cannot be used is a warning: saves are then structured offline.
pub async fn attach_llm(engine: &Engine) {
    let Ok(home) = home() else { return };
    match tokio::task::spawn_blocking(move || cm_llm::load(&home)).await {
        Ok(Ok(Some(llm))) => {
            tracing::info!(llm = llm.description(), "using an LLM");
            engine.set_llm(Some(Arc::new(llm)));
        }
        Ok(Ok(None)) => {}
        Ok(Err(err)) => warn(&format!("LLM unavailable ({err}); structuring saves offline")),
        Err(err) => warn(&format!("could not load the LLM settings ({err}); structuring saves offline")),
    }
}

/// Where the dashboard's built files are, the first that holds an
/// `index.html` of: `$CLAUDE_MEMORY_UI_DIR`, then the places
/// `ui_candidates` names beside the executable.
pub fn ui_dir() -> Option<PathBuf> {
    let has_index = |d: &Path| d.join("index.html").is_file();
    if let Some(dir) = std::env::var_os("CLAUDE_MEMORY_UI_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if has_index(&dir) {
            return Some(dir);
        }
        tracing::warn!(dir = %dir.display(), "CLAUDE_MEMORY_UI_DIR has no index.html");
        return None;
    }
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    ui_candidates(exe.parent()?).into_iter().find(|d| has_index(d))
}

/// Where the dashboard may be for an executable in `exe_dir`, in order:
/// `<exe dir>/../share/claude-memory/ui` (`claude-memory install`, the
/// .deb and .rpm); `<exe dir>/ui` (the Windows installers' resources);
/// `<exe dir>/../Resources/ui` (a macOS .app's); `<repo>/ui/dist` for a
/// binary built in `<repo>/target/<profile>/`.
fn ui_candidates(exe_dir: &Path) -> Vec<PathBuf> {
    let parent = exe_dir.parent();
    [
        parent.map(|p| p.join("share/claude-memory/ui")),
        Some(exe_dir.join("ui")),
        parent.map(|p| p.join("Resources/ui")),
        parent.and_then(Path::parent).map(|repo| repo.join("ui/dist")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A degraded start, told to whoever is at the terminal: a plain line, as
/// the CLI has always printed it (its log filter may hide a `tracing` one).
fn warn(message: &str) {
    eprintln!("warning: {message}");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every package's layout finds its dashboard: the Linux packages'
    /// and `install`'s, the Windows installers' and the macOS app's.
    #[test]
    fn ui_candidates_cover_every_package_layout() {
        let unix = super::ui_candidates(Path::new("/usr/bin"));
        assert_eq!(unix[0], Path::new("/usr/share/claude-memory/ui"));
        let windows = super::ui_candidates(Path::new("C:/Program Files/claude-memory"));
        assert!(windows.contains(&Path::new("C:/Program Files/claude-memory/ui").to_path_buf()));
        let mac = super::ui_candidates(Path::new("/Applications/claude-memory.app/Contents/MacOS"));
        assert!(
            mac.contains(&Path::new("/Applications/claude-memory.app/Contents/Resources/ui").to_path_buf())
        );
        let dev = super::ui_candidates(Path::new("/src/repo/target/debug"));
        assert_eq!(dev.last().unwrap(), Path::new("/src/repo/ui/dist"));
    }

    /// An import or a model switch runs its model on every core, its threads
    /// spinning between operators; the engine and small commands on the
    /// default share, sleeping between them; `embedding.threads` decides
    /// the count for both when set.
    #[test]
    fn a_bulk_run_gets_every_core_unless_threads_are_configured() {
        use super::{Workload, embed_config_for};
        let dir = Some(Path::new("/nonexistent/model"));
        let threads = |config: &cm_core::Config, workload| {
            embed_config_for(config, None, dir, workload).unwrap().model.intra_threads
        };
        let mut config = cm_core::Config::default();
        assert_eq!(threads(&config, Workload::Serving), cm_embed::model::default_intra_threads());
        assert_eq!(threads(&config, Workload::Bulk), cm_embed::bulk_intra_threads());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(cm_embed::bulk_intra_threads(), cores.clamp(1, 8));
        let spins = |workload| embed_config_for(&config, None, dir, workload).unwrap().model.spin;
        assert!(spins(Workload::Bulk) && !spins(Workload::Serving));
        config.embedding.threads = Some(3);
        assert_eq!(threads(&config, Workload::Serving), 3);
        assert_eq!(threads(&config, Workload::Bulk), 3);
    }
}
