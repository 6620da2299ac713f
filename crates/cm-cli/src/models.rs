//! `claude-memory models …`: the catalogue, installs, downloads and the active model.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cm_embed::{CancellationToken, DownloadEvent, DownloadOptions, InstallOptions, ModelStore};
use serde::Serialize;

use crate::cli::ModelsCommand;
use crate::{output, paths};

fn model_store() -> Result<ModelStore> {
    Ok(ModelStore::new(cm_server::launch::models_dir(&paths::home()?)))
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    name: String,
    dimension: usize,
    approx_bytes: u64,
    languages: String,
    licence: String,
    installed: bool,
    state: Option<String>,
    active: bool,
}

pub async fn run(command: ModelsCommand, json: bool, project: Option<&Path>) -> Result<()> {
    let store = model_store()?;
    match command {
        ModelsCommand::List => {
            let active = paths::load_config()?.embedding.model;
            let installed = store.list()?;
            let rows: Vec<Row> = store
                .catalogue()
                .iter()
                .map(|e| {
                    let inst = installed.iter().find(|m| m.id == e.id());
                    Row {
                        id: e.id().to_owned(),
                        name: e.display_name.to_string(),
                        dimension: e.spec.dimension,
                        approx_bytes: e.approx_bytes(),
                        languages: e.languages.to_string(),
                        licence: e.licence.to_string(),
                        installed: inst.is_some(),
                        state: inst.map(|m| m.state.to_string()),
                        active: active.as_deref() == Some(e.id()),
                    }
                })
                .collect();
            output::print(json, &rows, |rows| {
                let mut s = format!("{:<2}{:<28} {:>5} {:>9}  {}\n", "", "model", "dim", "size", "installed");
                for r in rows {
                    s.push_str(&format!(
                        "{:<2}{:<28} {:>5} {:>7.0}MB  {}\n",
                        if r.active { "*" } else { "" },
                        r.id,
                        r.dimension,
                        r.approx_bytes as f64 / 1e6,
                        r.state.as_deref().unwrap_or("-")
                    ));
                }
                s.push_str("(* = active; install with `claude-memory models install ID` or `--from PATH`)");
                s
            })
        }
        ModelsCommand::Install { model, from, replace, endpoint } => {
            let installed = match from {
                Some(path) => {
                    let options = InstallOptions { model: model.clone(), replace };
                    let store = store.clone();
                    tokio::task::spawn_blocking(move || store.install_from(&path, &options))
                        .await
                        .context("install task failed")??
                }
                None => {
                    let Some(id) = model else {
                        bail!(
                            "name a model to download (see `claude-memory models list`), or give --from PATH"
                        );
                    };
                    download(&store, &id, replace, endpoint).await?
                }
            };
            output::print(
                json,
                &serde_json::json!({"id": installed.id, "path": installed.path, "state": installed.state.to_string()}),
                |_| {
                    format!(
                        "installed {} ({}) in {}",
                        installed.id,
                        installed.state,
                        installed.path.display()
                    )
                },
            )
        }
        ModelsCommand::Use { id } => {
            store.entry(&id)?;
            if !store.is_installed(&id) {
                bail!("model {id} is not installed: run `claude-memory models install {id}` first");
            }
            // Every project gets the new model's vectors first; only then does
            // the configuration switch, so searches (hooks, other terminals)
            // keep using the old vectors until the new ones are complete. An
            // interrupted run changes nothing visible and resumes next time.
            let reembedded = reembed_all_projects(&id, project).await?;
            let home = paths::home()?;
            cm_server::launch::remember_model(&home, &id)?;
            // A running engine switches now, the way the dashboard activates a model.
            let engine = tokio::task::block_in_place(|| crate::service::reload_engine(&home))?;
            let report = serde_json::json!({"active": id, "reembedded": reembedded, "engine": engine});
            output::print(json, &report, |_| {
                let running = match &engine {
                    Some(_) => "; the running engine switched to it",
                    None => "",
                };
                let noun = if reembedded == 1 { "memory" } else { "memories" };
                format!(
                    "{id} is now the active embedding model (saved in {}); {reembedded} {noun} got new vectors{running}",
                    cm_server::launch::config_file(&home).display()
                )
            })
        }
        ModelsCommand::Remove { id } => {
            if paths::load_config()?.embedding.model.as_deref() == Some(id.as_str()) {
                bail!(
                    "model {id} is active; make another model active with `claude-memory models use` first"
                );
            }
            store.remove(&id)?;
            output::print(json, &serde_json::json!({"removed": id}), |_| format!("removed {id}"))
        }
        ModelsCommand::Verify { id } => {
            let store2 = store.clone();
            let report = tokio::task::spawn_blocking(move || store2.verify(&id))
                .await
                .context("verify task failed")??;
            output::print(json, &report, |r| {
                let mut s = format!("{}: {}", r.id, r.state);
                for f in &r.files {
                    let status = match &f.actual_sha256 {
                        None => "missing".to_owned(),
                        Some(actual) if *actual != f.recorded_sha256 => "changed since install".to_owned(),
                        Some(_) => format!("{:?}", f.check).to_lowercase(),
                    };
                    s.push_str(&format!("\n  {:<24} {status}", f.name));
                }
                s
            })
        }
    }
}

/// Downloads with a progress line on stderr; Ctrl-C cancels cleanly.
async fn download(
    store: &ModelStore,
    id: &str,
    replace: bool,
    endpoint: Option<String>,
) -> Result<cm_embed::InstalledModel> {
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let last = Mutex::new(Instant::now() - Duration::from_secs(1));
    let sink = move |event: DownloadEvent| {
        let mut err = std::io::stderr().lock();
        match event {
            DownloadEvent::Progress { file, bytes, total_bytes, bytes_per_sec, eta_secs, .. } => {
                let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if last.elapsed() < Duration::from_millis(200) {
                    return;
                }
                *last = Instant::now();
                let pct = total_bytes
                    .map(|t| format!("{:5.1}%", 100.0 * bytes as f64 / t.max(1) as f64))
                    .unwrap_or_default();
                let eta = eta_secs.map(|s| format!(", {s:.0} s left")).unwrap_or_default();
                let _ = write!(
                    err,
                    "\r{pct} {:.1} MB at {:.1} MB/s{eta} ({file})\x1b[K",
                    bytes as f64 / 1e6,
                    bytes_per_sec / 1e6
                );
            }
            DownloadEvent::Resuming { file, offset, reason, .. } => {
                let _ = writeln!(err, "\rresuming {file} at byte {offset} ({reason})");
            }
            DownloadEvent::Installed { .. } => {
                let _ = writeln!(err);
            }
            _ => {}
        }
    };
    let options = DownloadOptions { endpoint, replace, ..DownloadOptions::default() };
    Ok(store.download(id, &options, &sink, &cancel).await?)
}

/// Gives every known project (and the current one) vectors from model `id`;
/// returns how many memories were embedded.
async fn reembed_all_projects(id: &str, project: Option<&Path>) -> Result<u64> {
    let registry = paths::registry()?;
    let mut roots: Vec<PathBuf> = registry.projects();
    let current = match project {
        Some(p) => Some(p.to_owned()),
        None => std::env::current_dir().ok().and_then(|d| cm_engine::find_project(&d)),
    };
    roots.extend(current.and_then(|p| p.canonicalize().ok()));
    roots.sort();
    roots.dedup();
    let mut config = paths::load_config()?;
    config.embedding.model = Some(id.to_owned());
    config.embedding.model_dir = None;
    let embedder = match paths::embed_config_for(&config, Some(id), None, paths::Workload::Bulk) {
        Ok(cfg) => cm_embed::EmbedService::load_async(cfg).await.with_context(|| format!("loading {id}"))?,
        Err(e) => return Err(e.into()),
    };
    let engine = cm_engine::Engine::with_registry(config, Some(std::sync::Arc::new(embedder)), registry);
    let mut total = 0;
    let count = roots.len();
    // Progress rewrites one line for a person at a terminal; in a pipe or a
    // log it would be control characters.
    let watched = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for (i, root) in roots.iter().enumerate() {
        let Ok(project) = cm_engine::Project::at(root) else { continue };
        if !project.db_path().exists() {
            continue;
        }
        let result = engine
            .reembed(&project, |done, n| {
                if watched && n > 0 {
                    eprint!("\rproject {}/{count} {}: {done}/{n}\x1b[K", i + 1, root.display());
                }
            })
            .await;
        match result {
            Ok(n) => total += n,
            // One unreadable project must not keep the others on the old model.
            Err(e) => eprintln!("\nwarning: {}: {e}", root.display()),
        }
    }
    if watched {
        eprint!("\r\x1b[K");
    }
    engine.close().await;
    Ok(total)
}
