//! The tray icon and its menu. On Linux a tray click only opens the menu,
//! so every action is a menu item. Items are named by [`Action`], never by
//! loose strings; the menu is rebuilt from a [`View`] whenever what it shows
//! changes (every few seconds, and soon after the engine reports activity).

use std::path::{Path, PathBuf};
use std::time::Duration;

use cm_engine::EngineEvent;
use tauri::menu::{CheckMenuItem, IsMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_autostart::ManagerExt as _;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::cli_install;
use crate::engine::{Host, Snapshot, encode_component};
use crate::update::{self, Updates};
use crate::window;

/// The tray icon's id.
const TRAY: &str = "main";
/// How often the status line is refreshed without engine activity.
const REFRESH: Duration = Duration::from_secs(10);

/// Everything a menu item can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Show the dashboard's overview.
    OpenDashboard,
    /// Pause memory if it runs, resume it if paused.
    TogglePause,
    /// Show a project's memories in the dashboard.
    OpenProject(PathBuf),
    /// Open a project's folder in the file manager.
    OpenFolder(PathBuf),
    /// Turn starting at login on or off.
    LaunchAtLogin,
    /// Link the bundled `claude-memory` into `~/.local/bin`.
    InstallCli,
    /// Check for an update now.
    CheckUpdates,
    /// Download, verify and install the update shown.
    InstallUpdate,
    /// Stop the engine and exit.
    Quit,
}

impl Action {
    /// The menu id carrying this action.
    pub fn id(&self) -> String {
        match self {
            Action::OpenDashboard => "open-dashboard".into(),
            Action::TogglePause => "toggle-pause".into(),
            Action::OpenProject(p) => format!("open-project:{}", p.display()),
            Action::OpenFolder(p) => format!("open-folder:{}", p.display()),
            Action::LaunchAtLogin => "launch-at-login".into(),
            Action::InstallCli => "install-cli".into(),
            Action::CheckUpdates => "check-updates".into(),
            Action::InstallUpdate => "install-update".into(),
            Action::Quit => "quit".into(),
        }
    }

    /// The action a menu id names (`None` for items that do nothing).
    pub fn parse(id: &str) -> Option<Action> {
        if let Some(path) = id.strip_prefix("open-project:") {
            return Some(Action::OpenProject(PathBuf::from(path)));
        }
        if let Some(path) = id.strip_prefix("open-folder:") {
            return Some(Action::OpenFolder(PathBuf::from(path)));
        }
        Some(match id {
            "open-dashboard" => Action::OpenDashboard,
            "toggle-pause" => Action::TogglePause,
            "launch-at-login" => Action::LaunchAtLogin,
            "install-cli" => Action::InstallCli,
            "check-updates" => Action::CheckUpdates,
            "install-update" => Action::InstallUpdate,
            "quit" => Action::Quit,
            _ => return None,
        })
    }
}

/// What the menu shows; it is rebuilt only when this changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    /// Engine state, counts and projects.
    pub snapshot: Snapshot,
    /// Whether there is a dashboard to open.
    pub dashboard: bool,
    /// Whether the app starts at login.
    pub autostart: bool,
    /// Whether a `claude-memory` ships beside the app.
    pub cli_bundled: bool,
    /// What the last install did, or what is installed.
    pub cli_note: Option<String>,
    /// Where updates stand.
    pub update: update::Status,
    /// Whether updates are checked at all.
    pub updates_on: bool,
    /// Whether a found update can be installed from here.
    pub can_install_update: bool,
    /// The running version.
    pub version: String,
}

/// The tray's state, managed by Tauri.
#[derive(Debug, Default)]
pub struct TrayState {
    view: std::sync::Mutex<View>,
}

/// Creates the tray icon with its first menu and starts refreshing it.
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    app.manage(TrayState::default());
    let view = tauri::async_runtime::block_on(view(app, None));
    let menu = build_menu(app, &view)?;
    *app.state::<TrayState>().view.lock().unwrap_or_else(|e| e.into_inner()) = view;
    TrayIconBuilder::with_id(TRAY)
        .icon(tauri::include_image!("../icons/32x32.png"))
        .tooltip("claude-memory")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event)
        .build(app)?;
    spawn_refresher(app.clone());
    Ok(())
}

/// Rebuilds the menu if what it shows changed. `cli_note`, when given,
/// replaces the install line.
pub async fn refresh(app: &AppHandle, cli_note: Option<String>) {
    let new = view(app, cli_note).await;
    let state = app.state::<TrayState>();
    {
        let mut current = state.view.lock().unwrap_or_else(|e| e.into_inner());
        if *current == new {
            return;
        }
        *current = new.clone();
    }
    let Some(tray) = app.tray_by_id(TRAY) else { return };
    if let Err(error) = set_menu(app, &tray, &new) {
        tracing::warn!(error = %error, "cannot update the tray menu");
    }
}

fn set_menu(app: &AppHandle, tray: &TrayIcon, view: &View) -> tauri::Result<()> {
    tray.set_menu(Some(build_menu(app, view)?))
}

async fn view(app: &AppHandle, cli_note: Option<String>) -> View {
    let snapshot = app.state::<Host>().snapshot().await;
    let autostart = app.autolaunch().is_enabled().unwrap_or(false);
    let cli = std::env::current_exe().ok().and_then(|exe| cli_install::bundled_cli(&exe));
    let previous = app.state::<TrayState>().view.lock().unwrap_or_else(|e| e.into_inner()).cli_note.clone();
    let cli_note = cli_note.or(previous).or_else(|| {
        let path = std::env::var_os("PATH");
        cli_install::current(cli.as_deref()?, &cli_install::user_bin_dir()?, path.as_deref())
            .map(|o| o.describe())
    });
    let dashboard = app.state::<Host>().url().is_some();
    let updates = app.state::<Updates>();
    View {
        snapshot,
        dashboard,
        autostart,
        cli_bundled: cli.is_some(),
        cli_note,
        update: updates.status(),
        updates_on: updates.enabled(),
        can_install_update: updates.can_install(),
        version: updates.version().to_string(),
    }
}

fn build_menu(app: &AppHandle, view: &View) -> tauri::Result<Menu<Wry>> {
    let item = |action: Action, text: &str, enabled: bool| {
        MenuItem::with_id(app, action.id(), text, enabled, None::<&str>)
    };
    let note = |id: &str, text: &str| MenuItem::with_id(app, id, text, false, None::<&str>);
    let separator = || PredefinedMenuItem::separator(app);

    let status = note("status", &view.snapshot.status)?;
    let open = item(Action::OpenDashboard, "&Open dashboard", view.dashboard)?;
    let pause_text = if view.snapshot.paused == Some(true) { "&Resume memory" } else { "&Pause memory" };
    let pause = item(Action::TogglePause, pause_text, view.snapshot.paused.is_some())?;
    let projects = projects_menu(app, &view.snapshot.projects)?;
    let autostart = CheckMenuItem::with_id(
        app,
        Action::LaunchAtLogin.id(),
        "Launch at &login",
        true,
        view.autostart,
        None::<&str>,
    )?;
    let install_text =
        if view.cli_bundled { "&Install command-line tool…" } else { "Command-line tool not bundled" };
    let install = item(Action::InstallCli, install_text, view.cli_bundled)?;
    let cli_note = view.cli_note.as_deref().map(|text| note("cli-note", text)).transpose()?;
    let update_menu = match &view.update {
        update::Status::Available(found) => Some(update_menu(app, found, view.can_install_update)?),
        _ => None,
    };
    let busy = matches!(view.update, update::Status::Checking | update::Status::Installing(_));
    let check = item(Action::CheckUpdates, "Check for &updates", view.updates_on && !busy)?;
    let version =
        cm_update::Version::parse(&view.version).unwrap_or_else(|_| cm_update::Version::new(0, 0, 0));
    let update_note = view.update.line(&version).map(|text| note("update-note", &text)).transpose()?;
    let quit = item(Action::Quit, "&Quit", true)?;

    let (s1, s2, s3) = (separator()?, separator()?, separator()?);
    let mut items: Vec<&dyn IsMenuItem<Wry>> =
        vec![&status, &s1, &open, &pause, &projects, &s2, &autostart, &install];
    if let Some(cli_note) = &cli_note {
        items.push(cli_note);
    }
    match &update_menu {
        Some(menu) => items.push(menu),
        None => items.push(&check),
    }
    if let Some(update_note) = &update_note {
        items.push(update_note);
    }
    items.extend([&s3 as &dyn IsMenuItem<Wry>, &quit]);
    Menu::with_items(app, &items)
}

/// A found update: its version, what changed (the release notes' first
/// lines) and the item that installs it.
fn update_menu(app: &AppHandle, found: &cm_update::Update, can_install: bool) -> tauri::Result<Submenu<Wry>> {
    let menu = Submenu::with_id(app, "update", format!("&Update to {} available", found.version), true)?;
    for (i, line) in found.notes_lines(12, 60).iter().enumerate() {
        menu.append(&MenuItem::with_id(app, format!("update-notes:{i}"), line, false, None::<&str>)?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    let text = if can_install {
        "&Install and restart"
    } else {
        "Not installed from a package: update it where you built it"
    };
    menu.append(&MenuItem::with_id(app, Action::InstallUpdate.id(), text, can_install, None::<&str>)?)?;
    Ok(menu)
}

fn projects_menu(app: &AppHandle, projects: &[PathBuf]) -> tauri::Result<Submenu<Wry>> {
    let menu = Submenu::with_id(app, "projects", "Projects", true)?;
    if projects.is_empty() {
        menu.append(&MenuItem::with_id(app, "no-projects", "No projects yet", false, None::<&str>)?)?;
    }
    for root in projects {
        let name =
            root.file_name().map_or_else(|| root.display().to_string(), |n| n.to_string_lossy().into());
        let open = Action::OpenProject(root.clone());
        let folder = Action::OpenFolder(root.clone());
        let sub = Submenu::with_id_and_items(
            app,
            format!("project:{}", root.display()),
            name,
            true,
            &[
                &MenuItem::with_id(app, open.id(), "Open in dashboard", true, None::<&str>)?,
                &MenuItem::with_id(app, folder.id(), "Open folder", true, None::<&str>)?,
            ],
        )?;
        menu.append(&sub)?;
    }
    Ok(menu)
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let Some(action) = Action::parse(event.id().as_ref()) else { return };
    tracing::info!(?action, "tray");
    let app = app.clone();
    match action {
        Action::OpenDashboard => window::open(&app, "/"),
        Action::OpenProject(root) => {
            window::open(&app, &format!("/memories?project={}", encode_component(&root.to_string_lossy())))
        }
        Action::OpenFolder(root) => open_folder(&root),
        Action::TogglePause => {
            if let Some(engine) = app.state::<Host>().engine() {
                engine.set_paused(!engine.is_paused());
            }
            tauri::async_runtime::spawn(async move { refresh(&app, None).await });
        }
        Action::LaunchAtLogin => {
            let autolaunch = app.autolaunch();
            let result = if autolaunch.is_enabled().unwrap_or(false) {
                autolaunch.disable()
            } else {
                autolaunch.enable()
            };
            if let Err(error) = result {
                tracing::error!(error = %error, "cannot change launching at login");
            }
            // The check mark has toggled itself: record that, so the refresh
            // rebuilds the menu only if the real state differs (the change failed).
            app.state::<TrayState>().view.lock().unwrap_or_else(|e| e.into_inner()).autostart ^= true;
            tauri::async_runtime::spawn(async move { refresh(&app, None).await });
        }
        Action::InstallCli => {
            let note = install_cli();
            tauri::async_runtime::spawn(async move { refresh(&app, Some(note)).await });
        }
        Action::CheckUpdates => {
            tauri::async_runtime::spawn(async move { update::check(&app).await });
        }
        Action::InstallUpdate => {
            tauri::async_runtime::spawn(async move { update::install(&app).await });
        }
        Action::Quit => {
            tauri::async_runtime::spawn(async move { crate::quit(&app).await });
        }
    }
}

fn install_cli() -> String {
    let exe = std::env::current_exe().ok();
    let Some(cli) = exe.as_deref().and_then(cli_install::bundled_cli) else {
        return cli_install::InstallError::NotBundled.to_string();
    };
    let Some(bin) = cli_install::user_bin_dir() else {
        return cli_install::InstallError::NoHome.to_string();
    };
    match cli_install::install(&cli, &bin, std::env::var_os("PATH").as_deref()) {
        Ok(outcome) => {
            tracing::info!(?outcome, "command-line tool");
            outcome.describe()
        }
        Err(error) => {
            tracing::error!(error = %error, "cannot install the command-line tool");
            format!("Not installed: {error}")
        }
    }
}

/// Opens `dir` in the desktop's file manager.
fn open_folder(dir: &Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener).arg(dir).spawn() {
        // Reap it when it ends, so it leaves no zombie.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(error) => tracing::error!(error = %error, opener, dir = %dir.display(), "cannot open the folder"),
    }
}

/// Refreshes every [`REFRESH`], and shortly after engine activity (events
/// coalesced over half a second).
fn spawn_refresher(app: AppHandle) {
    let mut events = app.state::<Host>().engine().map(cm_engine::Engine::subscribe);
    tauri::async_runtime::spawn(async move {
        loop {
            let activity = tokio::select! {
                _ = tokio::time::sleep(REFRESH) => None,
                event = next_event(&mut events) => Some(event),
            };
            match activity {
                Some(Err(RecvError::Closed)) => events = None,
                Some(_) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    while let Some(Ok(_) | Err(TryRecvError::Lagged(_))) =
                        events.as_mut().map(|rx| rx.try_recv())
                    {}
                }
                None => {}
            }
            refresh(&app, None).await;
        }
    });
}

async fn next_event(events: &mut Option<Receiver<EngineEvent>>) -> Result<EngineEvent, RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_survives_its_menu_id() {
        let all = [
            Action::OpenDashboard,
            Action::TogglePause,
            Action::OpenProject(PathBuf::from("/home/me/my project:1")),
            Action::OpenFolder(PathBuf::from("/home/me/app")),
            Action::LaunchAtLogin,
            Action::InstallCli,
            Action::CheckUpdates,
            Action::InstallUpdate,
            Action::Quit,
        ];
        for action in all {
            assert_eq!(Action::parse(&action.id()), Some(action.clone()), "{}", action.id());
        }
    }

    #[test]
    fn informational_items_do_nothing() {
        for id in [
            "status",
            "projects",
            "no-projects",
            "cli-note",
            "project:/a",
            "update",
            "update-notes:0",
            "update-note",
        ] {
            assert_eq!(Action::parse(id), None, "{id}");
        }
    }
}
