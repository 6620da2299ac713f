//! Team memory in the service: the background sync of every linked project
//! and the password lookup the CLI shares.
//!
//! The sync runs beside the hooks, never on their path: a hook answers from
//! the local copy whether the team database is up or not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cm_engine::team::SyncReport;
use cm_engine::{Engine, Project};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// The password of the team database at `url` (stored without it), from
/// the keychain, `CLAUDE_MEMORY_TEAM_PASSWORD` or the owner-only file.
pub async fn password(home: &Path, url: &str) -> Result<Option<String>> {
    let server = cm_team::TeamUrl { url: url.to_owned(), password: None };
    let credentials = cm_llm::Credentials::team(home, server.server());
    tokio::task::spawn_blocking(move || credentials.load())
        .await
        .map_err(|e| Error::Service(e.to_string()))?
        .map(|found| found.map(|(secret, _)| secret.expose().to_owned()))
        .map_err(|e| Error::Service(e.to_string()))
}

/// Stores the password of the team database at `url`; returns where it went.
pub async fn store_password(home: &Path, url: &str, password: &str) -> Result<cm_llm::KeySource> {
    let server = cm_team::TeamUrl { url: url.to_owned(), password: None };
    let credentials = cm_llm::Credentials::team(home, server.server());
    let secret = cm_llm::Secret::new(password);
    tokio::task::spawn_blocking(move || credentials.store(&secret))
        .await
        .map_err(|e| Error::Service(e.to_string()))?
        .map_err(|e| Error::Service(e.to_string()))
}

/// Syncs `project` with its team now, with the stored password.
pub async fn sync_project(engine: &Engine, home: &Path, project: &Project) -> Result<SyncReport> {
    let Some(status) = engine.team_status(project).await? else {
        return Err(Error::Service("this project is not linked to a team".to_owned()));
    };
    let password = password(home, &status.link.url).await?;
    Ok(engine.team_sync(project, password.as_deref()).await?)
}

/// The background sync: every `interval`, each registered project with a
/// team link is synced in turn. Stopped by [`TeamSyncer::stop`].
#[derive(Debug)]
pub struct TeamSyncer {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl TeamSyncer {
    /// Starts syncing in the background; the first round runs soon after start.
    pub fn spawn(engine: Engine, home: PathBuf, interval: Duration) -> TeamSyncer {
        let cancel = CancellationToken::new();
        let task = tokio::spawn({
            let cancel = cancel.clone();
            async move {
                let mut wait = Duration::from_secs(2).min(interval);
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = interval;
                    sync_all(&engine, &home, &cancel).await;
                }
            }
        });
        TeamSyncer { cancel, task }
    }

    /// Stops after the sync in progress, if any.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

async fn sync_all(engine: &Engine, home: &Path, cancel: &CancellationToken) {
    let Some(registry) = engine.registry() else { return };
    for root in registry.projects() {
        if cancel.is_cancelled() {
            return;
        }
        let Ok(project) = Project::at(&root) else { continue };
        // Only projects that exist and are linked; a read never creates one.
        match engine.team_status(&project).await {
            Ok(Some(_)) => {}
            _ => continue,
        }
        match sync_project(engine, home, &project).await {
            Ok(report) if report != SyncReport::default() => {
                tracing::info!(project = %root.display(), ?report, "team sync")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(project = %root.display(), error = %e, "team sync failed; retrying next round")
            }
        }
    }
}

/// `GET /api/team`: a project's team, as the dashboard shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct TeamAnswer {
    /// The link and counts; absent when the project has no team.
    pub team: Option<cm_engine::team::TeamStatus>,
    /// The last sync failed (the dashboard says "team offline"); memories
    /// still work from the local copy and changes stay queued.
    pub offline: bool,
}

impl TeamAnswer {
    /// The answer for `status`.
    pub fn new(status: Option<cm_engine::team::TeamStatus>) -> TeamAnswer {
        let offline = status.as_ref().is_some_and(|s| s.link.last_error.is_some());
        TeamAnswer { team: status, offline }
    }
}
