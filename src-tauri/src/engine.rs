//! The engine this app hosts, started exactly as `claude-memory serve`
//! starts it (`cm_server::launch`) — or, when another claude-memory already
//! runs for this user, that one, which the tray still shows and opens.

use std::path::{Path, PathBuf};

use cm_engine::{Engine, Project};
use cm_server::{EngineInfo, LaunchOptions, Server, Token};
use tokio::sync::Mutex;

/// What the app found or started at launch. Built once, then managed by Tauri.
#[derive(Debug)]
pub enum Host {
    /// Our own engine, in this process.
    Local {
        /// The engine handle (cheap to clone): counts, pause.
        engine: Engine,
        /// Where it listens.
        url: String,
        /// The server, taken out once to shut it down on Quit.
        server: Mutex<Option<Server>>,
    },
    /// Another process (`claude-memory serve`, or an app of another
    /// session) already serves this user's memory.
    Elsewhere {
        /// Its base URL, from `engine.json`.
        url: String,
    },
    /// No engine: why (the tray says so; the app stays up to tell it).
    Failed(String),
}

/// Starts the engine, or finds the one already running.
pub async fn start(ui_dir: Option<PathBuf>) -> Host {
    let started = std::time::Instant::now();
    let options = LaunchOptions { port: None, watch: true, ui_dir };
    match cm_server::launch(options).await {
        Ok(server) => {
            let url = server.url();
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!(%url, pid = std::process::id(), launch_ms = ms, "engine ready");
            Host::Local { engine: server.engine().clone(), url, server: Mutex::new(Some(server)) }
        }
        Err(error) => {
            let running = cm_server::launch::home().ok().and_then(|home| EngineInfo::read(&home));
            match running {
                Some(info) if error.to_string().contains("already running") => {
                    tracing::warn!(url = %info.url, "another claude-memory engine is running; showing it");
                    Host::Elsewhere { url: info.url }
                }
                _ => {
                    tracing::error!(error = %error, "the engine could not start");
                    Host::Failed(error.to_string())
                }
            }
        }
    }
}

/// What the tray's status line and Projects menu show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// One line: which engine, its state and counts.
    pub status: String,
    /// Known projects (registry order).
    pub projects: Vec<PathBuf>,
    /// Whether memory is paused (`None`: not ours to pause).
    pub paused: Option<bool>,
}

impl Host {
    /// The dashboard's base URL, if any engine runs.
    pub fn url(&self) -> Option<&str> {
        match self {
            Host::Local { url, .. } | Host::Elsewhere { url } => Some(url),
            Host::Failed(_) => None,
        }
    }

    /// Our engine, if we host it.
    pub fn engine(&self) -> Option<&Engine> {
        match self {
            Host::Local { engine, .. } => Some(engine),
            _ => None,
        }
    }

    /// Counts for the tray (opens each present project's database once;
    /// the engine keeps it open for the hooks anyway).
    pub async fn snapshot(&self) -> Snapshot {
        let projects = match self.engine().and_then(Engine::registry) {
            Some(registry) => registry.projects(),
            None => cm_server::launch::registry().map(|r| r.projects()).unwrap_or_default(),
        };
        match self {
            Host::Local { engine, .. } => {
                let mut memories = 0;
                for root in &projects {
                    if let Some(project) = present(root) {
                        memories += engine.stats(&project).await.map(|s| s.total).unwrap_or(0);
                    }
                }
                let paused = engine.is_paused();
                let state = if paused { "paused" } else { "running" };
                let status = format!(
                    "Engine {state} · {} · {}",
                    plural(projects.len() as i64, "project"),
                    plural(memories, "memory")
                );
                Snapshot { status, projects, paused: Some(paused) }
            }
            Host::Elsewhere { url } => {
                let status = format!("Engine: another claude-memory is running at {url}");
                Snapshot { status, projects, paused: None }
            }
            Host::Failed(error) => {
                Snapshot { status: format!("Engine stopped: {error}"), projects, paused: None }
            }
        }
    }

    /// Stops our engine cleanly (requests in flight finish, databases are
    /// checkpointed, `engine.json` is removed). Idempotent.
    pub async fn shutdown(&self) {
        let Host::Local { server, .. } = self else { return };
        let Some(server) = server.lock().await.take() else { return };
        match server.shutdown().await {
            Ok(()) => tracing::info!("engine stopped"),
            Err(error) => tracing::error!(error = %error, "the engine did not stop cleanly"),
        }
    }
}

/// The dashboard's address for `route` (`/`, `/setup`, `/memories?project=…`),
/// carrying the token in the fragment: browsers never send a fragment to a
/// server, and the page stores it and strips it from the address at once.
pub fn dashboard_url(base: &str, token: &str, route: &str) -> String {
    format!("{base}/#token={token}&route={}", encode_component(route))
}

/// The user's token, read from the state directory (the engine created it).
pub fn token() -> Option<Token> {
    let home = cm_server::launch::home().ok()?;
    Token::load(&home).ok().flatten()
}

/// True until the user has set claude-memory up: no `config.toml` and no
/// `.setup-done` marker in the state directory.
pub fn first_run(home: &Path) -> bool {
    !cm_server::launch::config_file(home).exists() && !cm_server::launch::setup_done(home)
}

fn present(root: &Path) -> Option<Project> {
    root.join(cm_engine::DATA_DIR).is_dir().then(|| Project::at(root).ok()).flatten()
}

fn plural(n: i64, word: &str) -> String {
    match (n, word) {
        (1, _) => format!("1 {word}"),
        (_, "memory") => format!("{n} memories"),
        _ => format!("{n} {word}s"),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters and `/`
/// (kept readable), as `URLSearchParams` in the page decodes it.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_urls_carry_token_and_an_encoded_route() {
        assert_eq!(dashboard_url("http://127.0.0.1:5", "abc", "/"), "http://127.0.0.1:5/#token=abc&route=/");
        assert_eq!(
            dashboard_url("http://127.0.0.1:5", "abc", "/memories?project=/home/me/a b&c"),
            "http://127.0.0.1:5/#token=abc&route=/memories%3Fproject%3D/home/me/a%20b%26c"
        );
    }

    #[test]
    fn first_run_until_configured_or_marked() {
        let home = tempfile::tempdir().unwrap();
        assert!(first_run(home.path()));
        std::fs::write(home.path().join(".setup-done"), "").unwrap();
        assert!(!first_run(home.path()));
    }

    #[test]
    fn counts_read_naturally() {
        assert_eq!(plural(1, "memory"), "1 memory");
        assert_eq!(plural(0, "memory"), "0 memories");
        assert_eq!(plural(3, "project"), "3 projects");
    }
}
