//! claude-memory's tray app: a thin shell that hosts the same engine as
//! `claude-memory serve` in-process (`cm_server::launch`), sits in the tray,
//! and shows the dashboard the engine serves in a webview window.
//!
//! - `engine.rs`: starting the engine, or finding the one already running;
//! - `tray.rs`: the tray icon, its menu and what each item does;
//! - `window.rs`: the one dashboard window, in a process of its own made on
//!   demand (this executable with `--dashboard-window`);
//! - `cli_install.rs`: putting the bundled `claude-memory` on the PATH;
//! - `update.rs`: checking for, showing and installing signed updates.
//!
//! Flags: `--hidden` starts in the tray only (launch at login passes it).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod cli_install;
mod engine;
mod tray;
mod update;
mod window;

use std::path::PathBuf;
use std::process::ExitCode;

use tauri::{AppHandle, Manager, RunEvent};

use crate::engine::Host;

/// The flag that starts the app in the tray only.
const HIDDEN: &str = "--hidden";

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(window::WINDOW_PROCESS) {
        init_logging();
        return window::run_process(context());
    }
    // Before anything else: from here on a session ending is never lost,
    // however early it comes (it is acted on once the app is set up).
    let stop = StopSignals::listen();
    let hidden = std::env::args().skip(1).any(|a| a == HIDDEN);
    init_logging();
    let app = tauri::Builder::default()
        // First, so a second launch hands over before touching anything.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| second_launch(app, &argv)))
        .plugin(tauri_plugin_autostart::Builder::new().arg(HIDDEN).build())
        .setup(move |app| {
            setup(app.handle(), hidden, stop)?;
            Ok(())
        })
        .build(context());
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error = %error, "the app could not start");
            eprintln!("error: claude-memory could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = app.run_return(|_app, event| {
        // The tray keeps the app alive when no window is open; only Quit
        // (an explicit exit code) ends it.
        if let RunEvent::ExitRequested { code: None, api, .. } = event {
            api.prevent_exit();
        }
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The app's configuration and assets, compiled in (one copy for both
/// kinds of process).
fn context() -> tauri::Context {
    tauri::generate_context!()
}

/// Starts the engine, the tray and, unless hidden, the window: the setup
/// wizard on first run, else the dashboard.
fn setup(app: &AppHandle, hidden: bool, stop: StopSignals) -> tauri::Result<()> {
    let host = tauri::async_runtime::block_on(engine::start(ui_dir(app)));
    app.manage(host);
    // Right after the engine, so a signal that came while it started stops it.
    spawn_signal_handler(app.clone(), stop);
    app.manage(window::Dashboard::default());
    update::init(app);
    tray::create(app)?;
    if !hidden {
        let first_run = cm_server::launch::home().is_ok_and(|home| engine::first_run(&home));
        window::open(app, if first_run { "/setup" } else { "/" });
    }
    Ok(())
}

/// Another launch of the app (from a menu, or the CLI) brings this one's
/// window forward; a `--hidden` one (login) changes nothing.
fn second_launch(app: &AppHandle, argv: &[String]) {
    tracing::info!("a second launch handed over to this instance");
    if argv.iter().any(|a| a == HIDDEN) {
        return;
    }
    if !window::focus(app) {
        window::open(app, "/");
    }
}

/// Stops the engine cleanly, then exits with 0.
pub async fn quit(app: &AppHandle) {
    tracing::info!("quitting");
    app.state::<Host>().shutdown().await;
    app.exit(0);
}

/// SIGTERM (a session ending) and SIGINT (Ctrl-C), listened for from the
/// start of `main`: a signal that arrives while the engine starts waits in
/// them instead of killing the app with `engine.json` left behind.
struct StopSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            // Signal streams belong to the runtime that polls them: Tauri's.
            let streams = tauri::async_runtime::block_on(async {
                Some((signal(SignalKind::terminate()).ok()?, signal(SignalKind::interrupt()).ok()?))
            });
            StopSignals { streams }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }
}

/// A session ending (SIGTERM) or Ctrl-C quits like the menu does, so the
/// engine's files are left tidy.
fn spawn_signal_handler(app: AppHandle, stop: StopSignals) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        {
            let Some((mut term, mut interrupt)) = stop.streams else { return };
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let StopSignals {} = stop;
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
        }
        quit(&app).await;
    });
}

/// The dashboard's files: where `serve` finds them, else the copy bundled
/// as the app's resource `ui/`.
fn ui_dir(app: &AppHandle) -> Option<PathBuf> {
    cm_server::launch::ui_dir().or_else(|| {
        let dir = app.path().resource_dir().ok()?.join("ui");
        dir.join("index.html").is_file().then_some(dir)
    })
}

/// Logs go to stderr and, like `serve`'s, to `<home>/logs/engine.log`,
/// filtered by `CLAUDE_MEMORY_LOG` (default `info`).
fn init_logging() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("CLAUDE_MEMORY_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cm_server::launch::LOG_FILTER))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let file = cm_server::launch::home().ok().and_then(|home| {
        let path = cm_server::launch::engine_log(&home);
        std::fs::create_dir_all(path.parent()?).ok()?;
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        // Logs name projects and queries: the owner's alone, as `serve`'s are.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).ok()?;
        Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .with_filter(filter()),
        )
    });
    let _ = tracing_subscriber::registry().with(stderr).with(file).try_init();
}
