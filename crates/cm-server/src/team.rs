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

/// The keychain slot of the team database at `url` (stored without its
/// password): one per server and role.
fn credentials(home: &Path, url: &str) -> cm_llm::Credentials {
    let server = cm_team::TeamUrl { url: url.to_owned(), password: None };
    cm_llm::Credentials::team(home, server.server())
}

/// The password of the team database at `url` (stored without it), from
/// the keychain, `CLAUDE_MEMORY_TEAM_PASSWORD` or the owner-only file.
pub async fn password(home: &Path, url: &str) -> Result<Option<String>> {
    let credentials = credentials(home, url);
    tokio::task::spawn_blocking(move || credentials.load())
        .await
        .map_err(|e| Error::Service(e.to_string()))?
        .map(|found| found.map(|(secret, _)| secret.expose().to_owned()))
        .map_err(|e| Error::Service(e.to_string()))
}

/// Stores the password of the team database at `url`; returns where it went.
async fn store_password(home: &Path, url: &str, password: &str) -> Result<cm_llm::KeySource> {
    let credentials = credentials(home, url);
    let secret = cm_llm::Secret::new(password);
    tokio::task::spawn_blocking(move || credentials.store(&secret))
        .await
        .map_err(|e| Error::Service(e.to_string()))?
        .map_err(|e| Error::Service(e.to_string()))
}

/// What linking a project asks for, from the CLI or the dashboard.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// `postgres://ROLE[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=…]`.
    pub url: String,
    /// The password, when not in the URL (else the stored one, else
    /// `CLAUDE_MEMORY_TEAM_PASSWORD`).
    #[serde(default)]
    pub password: Option<String>,
    /// The team project's name; default: the clone's normalised git origin.
    #[serde(default)]
    pub name: Option<String>,
    /// Who this person is to the team; default: git's `user.name`, else the login.
    #[serde(default)]
    pub author: Option<String>,
    /// Memory types shared without being marked.
    #[serde(default)]
    pub share_types: Vec<cm_core::MemoryType>,
    /// From this confidence up (default 0.8).
    #[serde(default)]
    pub min_confidence: Option<f64>,
}

/// A link made: the team's status and where a new password was kept.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Linked {
    /// The link and counts.
    pub team: cm_engine::team::TeamStatus,
    /// Where the password given went (`null`: none given, or it came from
    /// the environment).
    pub password_stored_in: Option<String>,
}

/// Links `project` to a team: resolves the defaults, checks the connection
/// through the engine, and only then stores a password that was given.
pub async fn link(engine: &Engine, home: &Path, project: &Project, input: LinkInput) -> Result<Linked> {
    let bad = |m: String| Error::BadRequest(m);
    let mut url = cm_team::TeamUrl::parse(&input.url).map_err(|e| bad(e.to_string()))?;
    if let Some(pw) = input.password.filter(|p| !p.is_empty()) {
        url.password = Some(pw);
    }
    let given = url.password.clone();
    if url.password.is_none() {
        url.password = password(home, &url.url).await?;
    }
    if url.password.is_none() {
        url.password = std::env::var(cm_llm::TEAM_ENV_VAR).ok().filter(|p| !p.is_empty());
    }
    let min_confidence = input.min_confidence.unwrap_or(0.8);
    if !(0.0..=1.0).contains(&min_confidence) {
        return Err(bad(format!("the minimum confidence must be between 0 and 1, got {min_confidence}")));
    }
    let team_key = match input.name.as_deref().map(str::trim) {
        Some("") => return Err(bad("the team project name is empty".to_owned())),
        Some(name) => name.to_owned(),
        None => git(project.root(), &["config", "--get", "remote.origin.url"])
            .as_deref()
            .and_then(cm_engine::team::normalize_origin)
            .ok_or_else(|| {
                bad("this clone has no git origin to meet teammates on: give the team project a name"
                    .to_owned())
            })?,
    };
    let author = input
        .author
        .filter(|a| !a.trim().is_empty())
        .or_else(|| git(project.root(), &["config", "--get", "user.name"]))
        .or_else(login)
        .ok_or_else(|| bad("cannot tell who you are: give an author name".to_owned()))?;
    let origin = format!("{}@{}", login().unwrap_or_else(|| "someone".to_owned()), hostname());
    let team = engine
        .team_link(
            project,
            cm_engine::team::LinkRequest {
                url: url.clone(),
                team_key,
                author,
                origin,
                share_types: input.share_types,
                share_min_confidence: min_confidence,
            },
        )
        .await?;
    let password_stored_in = match given {
        Some(pw) => Some(store_password(home, &url.url, &pw).await?.to_string()),
        None => None,
    };
    Ok(Linked { team, password_stored_in })
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn login() -> Option<String> {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
}

fn hostname() -> String {
    std::process::Command::new("hostname")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "this-machine".to_owned())
}

/// Syncs `project` with its team now, with the stored password.
pub async fn sync_project(engine: &Engine, home: &Path, project: &Project) -> Result<SyncReport> {
    let Some(link) = engine.linked_team(project).await? else {
        return Err(Error::Service("this project is not linked to a team".to_owned()));
    };
    let password = password(home, &link.url).await?;
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

/// The longest one background sync of one project may take.
const SYNC_DEADLINE: Duration = Duration::from_secs(300);

async fn sync_all(engine: &Engine, home: &Path, cancel: &CancellationToken) {
    let Some(registry) = engine.registry() else { return };
    for root in registry.projects() {
        if cancel.is_cancelled() {
            return;
        }
        let Ok(project) = Project::at(&root) else { continue };
        // Only projects that exist and are linked; a read never creates one.
        match engine.linked_team(&project).await {
            Ok(Some(_)) => {}
            _ => continue,
        }
        // A server that stops answering (a network black hole) must not
        // hold up every later round: each batch commits, so a cut sync
        // resumes where it stopped.
        let sync = tokio::time::timeout(SYNC_DEADLINE, sync_project(engine, home, &project));
        let Ok(result) = sync.await else {
            tracing::warn!(project = %root.display(), "team sync took over {} s; it resumes next round", SYNC_DEADLINE.as_secs());
            continue;
        };
        match result {
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
