//! Updates in the tray: a check soon after start and then every few hours
//! (`cm_update` fetches and verifies the signed manifest), the release and
//! its notes in the menu when one is found, and on the person's click the
//! package downloaded, verified and installed the way this installation was
//! (`cm_update::InstallPlan`). Nothing here opens a dialog: a check that
//! cannot reach the server is one log line, a refused release a warning and
//! a line in the menu.
//!
//! The manifest's URL and the release public key are the app config's
//! `plugins.updater` (`endpoints`, `pubkey`; src-tauri/tauri.conf.json).
//! `CLAUDE_MEMORY_UPDATE_URL` replaces the URL (`off` turns checks off); a
//! debug build also takes a key from `CLAUDE_MEMORY_UPDATE_PUBKEY` and the
//! kind of installation from `CLAUDE_MEMORY_UPDATE_INSTALLER` (`deb`, …), for
//! the tray test's own release and install.

use std::path::PathBuf;
use std::time::Duration;

use cm_update::{After, Config, InstallPlan, Installer, Update, Updater, Version};
use tauri::{AppHandle, Manager};

/// The first check waits this long after start, so it never slows it.
const FIRST_CHECK: Duration = Duration::from_secs(5);
/// Then one check every this often.
const EVERY: Duration = Duration::from_secs(6 * 60 * 60);
/// Environment variables (see the module's doc).
const URL_VAR: &str = "CLAUDE_MEMORY_UPDATE_URL";
const PUBKEY_VAR: &str = "CLAUDE_MEMORY_UPDATE_PUBKEY";
const INSTALLER_VAR: &str = "CLAUDE_MEMORY_UPDATE_INSTALLER";

/// Where updates stand, as the menu shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Status {
    /// Not checked yet.
    #[default]
    Idle,
    Checking,
    UpToDate,
    /// The server could not be reached.
    Offline,
    /// A newer release, verified.
    Available(Update),
    /// Downloading or installing; what the person is told.
    Installing(String),
    /// Something to say: a refused release, a failed install, or why
    /// updates are off.
    Note(String),
}

impl Status {
    /// The menu's line for this status, if any (not for [`Status::Available`],
    /// which has its own submenu).
    pub fn line(&self, current: &Version) -> Option<String> {
        match self {
            Status::Idle | Status::Available(_) => None,
            Status::Checking => Some("Checking for updates…".into()),
            Status::UpToDate => Some(format!("Up to date ({current})")),
            Status::Offline => Some("Update server unreachable".into()),
            Status::Installing(note) | Status::Note(note) => Some(shorten(note, 70)),
        }
    }
}

/// Cuts `text` to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{}…", cut.trim_end())
}

/// The app's updater, managed by Tauri.
#[derive(Debug)]
pub struct Updates {
    updater: Option<Updater>,
    installer: Option<Installer>,
    current: Version,
    status: std::sync::Mutex<Status>,
}

impl Updates {
    /// The running version: the package's, when the build was given one
    /// (`installers/build.sh` with `CM_PACKAGE_VERSION`), else the crate's.
    pub fn current() -> Version {
        let text =
            option_env!("CM_PACKAGE_VERSION").filter(|v| !v.is_empty()).unwrap_or(env!("CARGO_PKG_VERSION"));
        Version::parse(text.trim_start_matches('v')).unwrap_or_else(|_| Version::new(0, 0, 0))
    }

    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn version(&self) -> &Version {
        &self.current
    }

    /// Whether updates are checked at all (a key and an endpoint are configured).
    pub fn enabled(&self) -> bool {
        self.updater.is_some()
    }

    /// Whether a found update can be installed from here.
    pub fn can_install(&self) -> bool {
        self.installer.is_some()
    }

    fn set(&self, status: Status) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }
}

/// Reads the configuration and manages [`Updates`]; starts the periodic
/// check when updates are on.
pub fn init(app: &AppHandle) {
    let current = Updates::current();
    let forced = std::env::var(INSTALLER_VAR).ok().filter(|_| cfg!(debug_assertions));
    let installer = match forced {
        Some(name) => Installer::parse(&name),
        None => cm_update::install::detect(),
    };
    let (updater, status) = match config(app, &current, installer) {
        Ok(config) => match Updater::new(config) {
            Ok(updater) => (Some(updater), Status::Idle),
            Err(error) => {
                tracing::warn!(error = %error, "updates are off");
                (None, Status::Note(format!("Updates off: {error}")))
            }
        },
        Err(reason) => {
            tracing::info!(reason, "updates are off");
            (None, Status::Note(format!("Updates off: {reason}")))
        }
    };
    let on = updater.is_some();
    app.manage(Updates { updater, installer, current, status: std::sync::Mutex::new(status) });
    if on {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            tokio::time::sleep(FIRST_CHECK).await;
            loop {
                check(&app).await;
                tokio::time::sleep(EVERY).await;
            }
        });
    }
}

fn config(app: &AppHandle, current: &Version, installer: Option<Installer>) -> Result<Config, &'static str> {
    let section = app.config().plugins.0.get("updater");
    let text = |key: &str| section.and_then(|s| s.get(key)).and_then(|v| v.as_str()).map(str::to_owned);
    let configured = section
        .and_then(|s| s.get("endpoints"))
        .and_then(|e| e.as_array())
        .and_then(|e| e.first())
        .and_then(|e| e.as_str())
        .map(str::to_owned);
    let endpoint = match std::env::var(URL_VAR) {
        Ok(url) if url == "off" => return Err("turned off by CLAUDE_MEMORY_UPDATE_URL"),
        Ok(url) if !url.is_empty() => url,
        _ => configured.ok_or("no update endpoint is configured")?,
    };
    let mut pubkey = text("pubkey").unwrap_or_default();
    if cfg!(debug_assertions)
        && let Ok(key) = std::env::var(PUBKEY_VAR)
    {
        pubkey = key;
    }
    if pubkey.trim().is_empty() {
        return Err("this build has no release key");
    }
    let platform = cm_update::install::this_platform(installer);
    Ok(Config { endpoint, pubkey, current: current.clone(), platform })
}

/// One check; the result goes to the menu and the log.
pub async fn check(app: &AppHandle) {
    let updates = app.state::<Updates>();
    let Some(updater) = &updates.updater else { return };
    if matches!(updates.status(), Status::Installing(_)) {
        return;
    }
    updates.set(Status::Checking);
    crate::tray::refresh(app, None).await;
    let status = match updater.check().await {
        Ok(Some(update)) => {
            tracing::info!(version = %update.version, current = %updates.current, "an update is available");
            Status::Available(update)
        }
        Ok(None) => {
            tracing::info!(current = %updates.current, "up to date");
            Status::UpToDate
        }
        Err(error) if error.is_offline() => {
            tracing::info!(error = %error, "update check: offline");
            Status::Offline
        }
        Err(error) => {
            tracing::warn!(error = %error, "update check failed");
            Status::Note(error.to_string())
        }
    };
    updates.set(status);
    crate::tray::refresh(app, None).await;
}

/// Downloads, verifies and installs the update the menu shows (the
/// person's click).
pub async fn install(app: &AppHandle) {
    let updates = app.state::<Updates>();
    let (Some(updater), Some(installer)) = (&updates.updater, updates.installer) else { return };
    let Status::Available(update) = updates.status() else { return };
    updates.set(Status::Installing(format!("Downloading {}…", update.version)));
    crate::tray::refresh(app, None).await;
    let outcome = download_and_install(app, updater, installer, &update).await;
    match outcome {
        Ok(After::KeepRunning) => {
            updates.set(Status::Note(InstallPlan::new(installer, &PathBuf::new()).note.into()));
        }
        Ok(After::Quit) => {
            crate::quit(app).await;
            return;
        }
        Ok(After::WaitThenRestart) => {
            tracing::info!(version = %update.version, "update installed; restarting");
            app.state::<crate::engine::Host>().shutdown().await;
            app.restart();
        }
        Err(error) => {
            tracing::error!(error = %error, version = %update.version, "the update was not installed");
            updates.set(Status::Note(format!("Not installed: {error}")));
        }
    }
    crate::tray::refresh(app, None).await;
}

async fn download_and_install(
    app: &AppHandle,
    updater: &Updater,
    installer: Installer,
    update: &Update,
) -> Result<After, String> {
    let dir = cm_server::launch::home().map_err(|e| e.to_string())?.join("updates");
    let package = updater.download(update, &dir).await.map_err(|e| e.to_string())?;
    let plan = InstallPlan::new(installer, &package);
    app.state::<Updates>().set(Status::Installing(plan.note.into()));
    crate::tray::refresh(app, None).await;
    tracing::info!(program = ?plan.program, args = ?plan.args, "installing the update");
    let mut command = tokio::process::Command::new(&plan.program);
    command.args(&plan.args);
    match plan.after {
        After::WaitThenRestart => {
            let status = command.status().await;
            // Installed or not, the package is not needed again: a new
            // attempt downloads and verifies it afresh.
            let _ = std::fs::remove_file(&package);
            let status = status.map_err(|e| format!("cannot run {:?}: {e}", plan.program))?;
            if !status.success() {
                return Err(format!("the installer ended with {status}"));
            }
        }
        After::Quit | After::KeepRunning => {
            command.spawn().map_err(|e| format!("cannot run {:?}: {e}", plan.program))?;
        }
    }
    Ok(plan.after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_has_its_menu_line() {
        let v = Version::new(0, 1, 0);
        assert_eq!(Status::Idle.line(&v), None);
        assert_eq!(Status::UpToDate.line(&v).as_deref(), Some("Up to date (0.1.0)"));
        assert_eq!(Status::Offline.line(&v).as_deref(), Some("Update server unreachable"));
        let long = Status::Note(
            "refused: the update manifest is not signed by the release key (the signature does not match)"
                .into(),
        );
        let line = long.line(&v).unwrap();
        assert_eq!(line.chars().count(), 70);
        assert!(line.ends_with('…'), "{line}");
    }

    #[test]
    fn the_running_version_parses() {
        assert!(Updates::current() >= Version::new(0, 1, 0));
    }
}
