//! `claude-memory serve`, `status` and `mcp`: running the engine, asking
//! about it, and bridging Claude Code's stdio MCP to it.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cm_engine::{Engine, Project};
use cm_server::{EngineInfo, LaunchOptions, Token};
use serde_json::{Value, json};

use crate::{client, output, paths};

/// Runs the engine in the foreground until Ctrl-C or SIGTERM.
pub async fn serve(port: Option<u16>, watch: bool) -> Result<()> {
    let ui_dir = cm_server::launch::ui_dir();
    let server = cm_server::launch(LaunchOptions { port, watch, ui_dir: ui_dir.clone() }).await?;
    tracing::info!(url = %server.url(), pid = std::process::id(), ui = ?ui_dir, "engine ready");
    eprintln!("claude-memory engine listening on {} (Ctrl-C to stop)", server.url());
    match paths::home().ok().and_then(|home| Token::load(&home).ok().flatten()) {
        // A service manager keeps this output in a log other users of the
        // machine may read (journald's): the token stays in its file.
        Some(_) if crate::autostart::started_by_service_manager() => {
            eprintln!("dashboard: {}/ (`claude-memory status` prints its signed-in link)", server.url());
        }
        Some(token) => eprintln!("dashboard: {}/#token={}", server.url(), token.expose()),
        None => {}
    }
    if ui_dir.is_none() {
        eprintln!("no dashboard files found (build ui/ or set CLAUDE_MEMORY_UI_DIR); the API still works");
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// The running engine's discovery record and token, if it answers.
pub(crate) fn running_engine(home: &Path, wait: Duration) -> Option<(EngineInfo, Token)> {
    let info = EngineInfo::read(home)?;
    let token = Token::load(home).ok()??;
    let health = client::request(info.port, "GET", "/healthz", &[], b"", Instant::now() + wait).ok()?;
    (health.status == 200).then_some((info, token))
}

/// Asks the running engine, if any, to follow `config.toml` again
/// (`POST /api/reload`); returns its answer, `None` when none runs.
pub fn reload_engine(home: &Path) -> Result<Option<Value>> {
    let Some((info, token)) = running_engine(home, Duration::from_secs(2)) else { return Ok(None) };
    let auth = format!("Bearer {}", token.expose());
    let deadline = Instant::now() + Duration::from_secs(120);
    let r = client::request(info.port, "POST", "/api/reload", &[("Authorization", &auth)], b"", deadline)
        .context("the engine did not answer /api/reload")?;
    let answer: Value = serde_json::from_slice(&r.body).context("the engine's answer is not JSON")?;
    if r.status != 200 {
        anyhow::bail!("the engine could not reload: {}", answer["error"].as_str().unwrap_or("unknown error"));
    }
    Ok(Some(answer))
}

/// `claude-memory reload`.
pub fn reload(json_out: bool) -> Result<()> {
    let home = paths::home()?;
    let answer = reload_engine(&home)?;
    output::print(json_out, &json!({ "running": answer.is_some(), "engine": answer }), |_| match &answer {
        None => "no claude-memory engine is running; it reads config.toml when it starts".to_owned(),
        Some(a) => {
            format!("the engine follows config.toml again (model: {})", a["model"].as_str().unwrap_or("none"))
        }
    })
}

/// The running engine, its token and its `/api/status`, if one answers.
pub fn engine_status(home: &Path) -> Result<Option<(EngineInfo, Token, Value)>> {
    let Some((info, token)) = running_engine(home, Duration::from_secs(2)) else { return Ok(None) };
    let auth = format!("Bearer {}", token.expose());
    let deadline = Instant::now() + Duration::from_secs(5);
    let r = client::request(info.port, "GET", "/api/status", &[("Authorization", &auth)], b"", deadline)
        .context("the engine did not answer /api/status")?;
    let status: Value = serde_json::from_slice(&r.body).context("the engine's status is not JSON")?;
    Ok(Some((info, token, status)))
}

/// `claude-memory status`.
pub fn status(json_out: bool) -> Result<()> {
    let home = paths::home()?;
    let Some((info, token, status)) = engine_status(&home)? else {
        output::print(json_out, &json!({ "running": false }), |_| {
            "no claude-memory engine is running (start one with `claude-memory serve`)".to_owned()
        })?;
        return Ok(());
    };
    let report = json!({
        "running": true,
        "url": info.url,
        "pid": info.pid,
        "version": status["version"],
        "projects": status["projects"],
        "model": status["model"],
        "paused": status["paused"],
        // The token is the user's own (an owner-only file); the fragment never
        // reaches a server, and the page drops it from the address bar.
        "dashboard_url": format!("{}/#token={}", info.url, token.expose()),
    });
    output::print(json_out, &report, |_| {
        let model = status["model"]["id"].as_str().unwrap_or("none (full-text search only)");
        format!(
            "engine running at {} (pid {}, version {})\ndashboard: {}\nprojects: {}\nmodel: {model}{}",
            info.url,
            info.pid,
            status["version"].as_str().unwrap_or("?"),
            report["dashboard_url"].as_str().unwrap_or(""),
            status["projects"],
            if status["paused"].as_bool() == Some(true) { "\nmemory is PAUSED" } else { "" }
        )
    })
}

/// `claude-memory mcp`: MCP over stdio for the project of the working
/// directory. Relays to the running engine, starting one in the background
/// if none runs; serves in-process if that fails too. Only protocol goes to
/// stdout.
pub async fn mcp(project: Option<&Path>) -> Result<()> {
    let cwd = std::env::current_dir().context("no working directory")?;
    let root = match project {
        Some(p) => p.to_owned(),
        None => cm_engine::find_project(&cwd).unwrap_or(cwd),
    };
    let root = root.canonicalize().with_context(|| format!("project {}", root.display()))?;
    let home = paths::home()?;
    let engine = match running_engine(&home, Duration::from_millis(500)) {
        Some(found) => Some(found),
        None => start_background_engine(&home),
    };
    match engine {
        Some((info, token)) => tokio::task::spawn_blocking(move || relay(&home, info, token, &root))
            .await
            .context("relay failed")?,
        None => {
            tracing::warn!("no engine could be started; serving MCP in-process");
            serve_in_process(&root).await
        }
    }
}

/// Starts `claude-memory serve` detached and waits (a few seconds) for it.
fn start_background_engine(home: &Path) -> Option<(EngineInfo, Token)> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().ok()?;
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Some(found) = running_engine(home, Duration::from_millis(300)) {
            return Some(found);
        }
        if let Ok(Some(_)) = child.try_wait() {
            // It exited: another engine won the race, or it could not start.
            return running_engine(home, Duration::from_millis(300));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Serves the memory tools over stdio with an engine of our own.
async fn serve_in_process(root: &Path) -> Result<()> {
    use rmcp::ServiceExt;
    let config = paths::load_config()?;
    let embedder = paths::load_embedder(&config, paths::Workload::Serving).await;
    let engine = Engine::with_registry(config, embedder, paths::registry()?);
    paths::attach_llm(&engine).await;
    let project = Project::at(root)?;
    let tools = cm_server::MemoryTools::new(engine.clone(), Some(project));
    let service = tools.serve(rmcp::transport::stdio()).await.context("MCP handshake failed")?;
    service.waiting().await.context("MCP session failed")?;
    engine.close().await;
    Ok(())
}

/// Relays newline-delimited JSON-RPC from stdin to `POST /mcp`, and the
/// answers (JSON or server-sent events) back to stdout, one message per line.
fn relay(home: &Path, info: EngineInfo, token: Token, root: &Path) -> Result<()> {
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    let target = Arc::new(Mutex::new((info, token)));
    let protocol: Arc<Mutex<Option<String>>> = Arc::default();
    let project = root.to_string_lossy().into_owned();
    let stdin = std::io::stdin();
    let mut workers = Vec::new();
    for line in stdin.lock().lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let (stdout, target, protocol, project, home) =
            (stdout.clone(), target.clone(), protocol.clone(), project.clone(), home.to_owned());
        // Requests are independent: answer each as soon as it is ready.
        workers.push(std::thread::spawn(move || {
            let replies = forward(&home, &target, &protocol, &project, &line);
            let mut out = stdout.lock().unwrap_or_else(|e| e.into_inner());
            for reply in replies {
                let _ = writeln!(out, "{reply}");
            }
            let _ = out.flush();
        }));
        workers.retain(|w| !w.is_finished());
    }
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// Sends one message; returns the messages to print.
fn forward(
    home: &Path,
    target: &Mutex<(EngineInfo, Token)>,
    protocol: &Mutex<Option<String>>,
    project: &str,
    line: &str,
) -> Vec<String> {
    let message: Option<Value> = serde_json::from_str(line).ok();
    let id = message.as_ref().and_then(|m| m.get("id")).cloned();
    let fail = |text: String| -> Vec<String> {
        match &id {
            Some(id) => vec![
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": text}}).to_string(),
            ],
            None => Vec::new(),
        }
    };
    let mut attempt = 0;
    let response = loop {
        let (port, auth) = {
            let t = target.lock().unwrap_or_else(|e| e.into_inner());
            (t.0.port, format!("Bearer {}", t.1.expose()))
        };
        let version = protocol.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            (cm_server::mcp::PROJECT_HEADER, project),
        ];
        if let Some(v) = &version {
            headers.push(("MCP-Protocol-Version", v));
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        match client::request(port, "POST", "/mcp", &headers, line.as_bytes(), deadline) {
            Ok(r) => break r,
            // The engine restarted (new port or token): find it again, once.
            Err(_) if attempt == 0 => {
                attempt += 1;
                let found = running_engine(home, Duration::from_millis(500))
                    .or_else(|| start_background_engine(home));
                match found {
                    Some(found) => *target.lock().unwrap_or_else(|e| e.into_inner()) = found,
                    None => return fail("the claude-memory engine is not running".into()),
                }
            }
            Err(e) => return fail(format!("the claude-memory engine did not answer: {e}")),
        }
    };
    if response.status == 202 || (response.body.is_empty() && response.status < 300) {
        return Vec::new();
    }
    let is_sse = response.header("content-type").is_some_and(|c| c.starts_with("text/event-stream"));
    let replies: Vec<String> = if is_sse {
        sse_messages(&response.body)
    } else if response.status < 300 {
        vec![String::from_utf8_lossy(&response.body).trim().to_owned()]
    } else {
        // An HTTP error may carry a JSON-RPC error; otherwise make one.
        match serde_json::from_slice::<Value>(&response.body) {
            Ok(v) if v.get("jsonrpc").is_some() => vec![v.to_string()],
            _ => {
                return fail(format!(
                    "the engine answered {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                ));
            }
        }
    };
    for r in &replies {
        if let Ok(v) = serde_json::from_str::<Value>(r)
            && let Some(version) = v["result"]["protocolVersion"].as_str()
        {
            *protocol.lock().unwrap_or_else(|e| e.into_inner()) = Some(version.to_owned());
        }
    }
    replies
}

/// The `data:` payloads of a server-sent-events body, one per event.
fn sse_messages(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        } else if line.is_empty() && !data.is_empty() {
            if serde_json::from_str::<Value>(&data).is_ok() {
                out.push(std::mem::take(&mut data));
            } else {
                data.clear();
            }
        }
    }
    out
}

/// Where `serve` writes its log.
pub fn log_file() -> Option<PathBuf> {
    Some(cm_server::launch::engine_log(&paths::home().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_bodies_yield_their_json_messages() {
        let body =
            b"event: message\ndata: {\"a\":1}\n\n: ping\n\ndata: {\"b\":\ndata: 2}\n\ndata: not json\n\n";
        assert_eq!(sse_messages(body), vec!["{\"a\":1}".to_owned(), "{\"b\":\n2}".to_owned()]);
    }
}
