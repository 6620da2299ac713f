//! The one dashboard window, in a process of its own.
//!
//! The window shows the page the engine itself serves, so the app and a
//! browser against `claude-memory serve` show the same thing; it gets no IPC
//! (no capability names its remote URL). It runs in a second process of this
//! same executable (`--dashboard-window`), made when the window is opened and
//! ended when it is closed: a web view loads WebKit's libraries and heap into
//! its process and keeps a network process for as long as its web context
//! lives, hundreds of MiB that a tray app has no use for while no window is
//! open, and that only the end of a process gives back (docs/benchmarks.md,
//! "The tray app").
//!
//! The two processes talk over the window process's stdin, one URL a line:
//! the first line is the page to load, with the token in its fragment (a
//! pipe, never the command line, which every local user can read); each
//! later line is a page to show, or an empty line to bring the window
//! forward. End of input, the tray app quitting or dying, closes the window.

use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::Mutex;

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder};

use crate::engine::{self, Host};

/// The flag that makes a process of this executable the dashboard window.
pub const WINDOW_PROCESS: &str = "--dashboard-window";

/// The window's label (in the window process).
const MAIN: &str = "main";

/// The tray app's end of the window process, if one runs. Managed by Tauri.
#[derive(Debug, Default)]
pub struct Dashboard(Mutex<Option<WindowProcess>>);

#[derive(Debug)]
struct WindowProcess {
    pid: u32,
    input: ChildStdin,
}

/// Shows the dashboard at `route` (`/`, `/setup`, `/memories?project=…`),
/// starting the window process if none runs. Errors are logged: there is no
/// one else to tell.
pub fn open(app: &AppHandle, route: &str) {
    if let Err(error) = try_open(app, route) {
        tracing::error!(error = %error, route, "cannot open the dashboard");
    }
}

fn try_open(app: &AppHandle, route: &str) -> anyhow::Result<()> {
    let base = app.state::<Host>().url().ok_or_else(|| anyhow::anyhow!("no engine is running"))?.to_string();
    let dashboard = app.state::<Dashboard>();
    let mut running = dashboard.0.lock().unwrap_or_else(|e| e.into_inner());
    // The page already holds the token (sessionStorage): a plain route is
    // enough, and keeps the token out of the address bar.
    if let Some(process) = running.as_mut()
        && send(&mut process.input, &format!("{base}/#{route}"))
    {
        return Ok(());
    }
    let token = engine::token().ok_or_else(|| anyhow::anyhow!("the engine's token is missing"))?;
    let mut child = spawn()?;
    let mut input = child.stdin.take().ok_or_else(|| anyhow::anyhow!("the window process has no input"))?;
    if !send(&mut input, &engine::dashboard_url(&base, token.expose(), route)) {
        let _ = child.kill();
        let _ = child.wait();
        anyhow::bail!("the window process ended at once");
    }
    let pid = child.id();
    *running = Some(WindowProcess { pid, input });
    drop(running);
    reap(app.clone(), child);
    tracing::info!(route, pid, "dashboard window opened");
    Ok(())
}

/// Brings the window forward, if there is one (a second launch does this).
pub fn focus(app: &AppHandle) -> bool {
    let dashboard = app.state::<Dashboard>();
    let mut running = dashboard.0.lock().unwrap_or_else(|e| e.into_inner());
    running.as_mut().is_some_and(|process| send(&mut process.input, ""))
}

/// This executable again, as the window process. After a package update
/// replaced the file on disk, Linux still runs the one in memory through
/// `/proc/self/exe` (not always: there the process is named `exe`).
fn spawn() -> anyhow::Result<Child> {
    let mut exe = std::env::current_exe()?;
    if cfg!(target_os = "linux") && !exe.is_file() {
        exe = "/proc/self/exe".into();
    }
    let child = Command::new(exe)
        .arg(WINDOW_PROCESS)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(child)
}

/// Writes one line; false if the window process is gone.
fn send(input: &mut ChildStdin, line: &str) -> bool {
    writeln!(input, "{line}").and_then(|()| input.flush()).is_ok()
}

/// Waits for the window process to end (its window closed), then forgets it.
fn reap(app: AppHandle, mut child: Child) {
    let pid = child.id();
    std::thread::spawn(move || {
        let status = child.wait();
        let dashboard = app.state::<Dashboard>();
        let mut running = dashboard.0.lock().unwrap_or_else(|e| e.into_inner());
        if running.as_ref().is_some_and(|process| process.pid == pid) {
            *running = None;
        }
        match status {
            Ok(status) if status.success() => {
                tracing::info!(pid, "dashboard window closed; its process ended");
            }
            Ok(status) => tracing::warn!(pid, %status, "the dashboard window's process failed"),
            Err(error) => {
                tracing::warn!(pid, error = %error, "cannot wait for the dashboard window's process")
            }
        }
    });
}

/// The window process: reads the first page from stdin, shows it, and
/// follows later lines until the window is closed or its input ends.
pub fn run_process(context: tauri::Context) -> ExitCode {
    let mut first = String::new();
    if std::io::stdin().lock().read_line(&mut first).is_err() || first.trim().is_empty() {
        eprintln!(
            "error: {WINDOW_PROCESS} is started by the claude-memory app, which sends it the page to show"
        );
        return ExitCode::FAILURE;
    }
    let url = match first.trim().parse() {
        Ok(url) => url,
        Err(error) => {
            eprintln!("error: the page to show is not a URL: {error}");
            return ExitCode::FAILURE;
        }
    };
    let app = tauri::Builder::default()
        .setup(move |app| {
            let window = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::External(url))
                .title("claude-memory")
                .inner_size(1200.0, 800.0)
                .min_inner_size(640.0, 480.0)
                .build()?;
            show(&window);
            follow_input(app.handle().clone());
            Ok(())
        })
        .build(context);
    match app {
        // Closing the window, the only one, ends the event loop.
        Ok(app) => ExitCode::from(u8::try_from(app.run_return(|_, _| {})).unwrap_or(1)),
        Err(error) => {
            tracing::error!(error = %error, "the dashboard window could not start");
            ExitCode::FAILURE
        }
    }
}

/// Acts on the tray app's later lines; at the end of input, exits.
fn follow_input(app: AppHandle) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let Some(window) = app.get_webview_window(MAIN) else { break };
            let line = line.trim();
            if !line.is_empty() {
                match line.parse() {
                    Ok(url) => {
                        if let Err(error) = window.navigate(url) {
                            tracing::warn!(error = %error, "cannot show the page");
                        }
                    }
                    Err(error) => tracing::warn!(error = %error, "the page to show is not a URL"),
                }
            }
            show(&window);
        }
        app.exit(0);
    });
}

fn show(window: &WebviewWindow) {
    let shown = window.show().and_then(|()| window.unminimize()).and_then(|()| window.set_focus());
    if let Err(error) = shown {
        tracing::warn!(error = %error, "cannot bring the window forward");
    }
}
