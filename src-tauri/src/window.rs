//! The one dashboard window (label `main`), made on demand. It shows the
//! page the engine itself serves, so the app and a browser against
//! `claude-memory serve` show the same thing; it gets no IPC (no
//! capability names its remote URL). Closing it destroys it, webview and
//! all: WebKit's processes hold hundreds of MiB that a tray app has no use
//! for while no window is open; the next open makes a new one.

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder, WindowEvent};

use crate::engine::{self, Host};

/// The window's label.
pub const MAIN: &str = "main";

/// Shows the dashboard at `route` (`/`, `/setup`, `/memories?project=…`),
/// creating the window if needed. Errors are logged: there is no one else
/// to tell.
pub fn open(app: &AppHandle, route: &str) {
    if let Err(error) = try_open(app, route) {
        tracing::error!(error = %error, route, "cannot open the dashboard");
    }
}

fn try_open(app: &AppHandle, route: &str) -> anyhow::Result<()> {
    let host = app.state::<Host>();
    let base = host.url().ok_or_else(|| anyhow::anyhow!("no engine is running"))?;
    if let Some(window) = app.get_webview_window(MAIN) {
        // The page already holds the token (sessionStorage): a plain route
        // is enough, and keeps the token out of the address bar.
        let same_origin = window.url().is_ok_and(|u| u.as_str().starts_with(base));
        let url = if same_origin { format!("{base}/#{route}") } else { full_url(base, route)? };
        window.navigate(url.parse()?)?;
        show(&window);
        return Ok(());
    }
    let url = full_url(base, route)?;
    let window = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::External(url.parse()?))
        .title("claude-memory")
        .inner_size(1200.0, 800.0)
        .min_inner_size(640.0, 480.0)
        .build()?;
    show(&window);
    tracing::info!(route, "dashboard window opened");
    Ok(())
}

/// Brings the window forward, if there is one (a second launch does this).
pub fn focus(app: &AppHandle) -> bool {
    match app.get_webview_window(MAIN) {
        Some(window) => {
            show(&window);
            true
        }
        None => false,
    }
}

/// Closing the window lets it go, with its webview; the app lives on in
/// the tray (`main` keeps it from exiting when no window is left).
pub fn on_event(window: &tauri::Window, event: &WindowEvent) {
    if let WindowEvent::Destroyed = event
        && window.label() == MAIN
    {
        tracing::info!("dashboard window closed; its webview is released");
    }
}

fn full_url(base: &str, route: &str) -> anyhow::Result<String> {
    let token = engine::token().ok_or_else(|| anyhow::anyhow!("the engine's token is missing"))?;
    Ok(engine::dashboard_url(base, token.expose(), route))
}

fn show(window: &WebviewWindow) {
    let shown = window.show().and_then(|()| window.unminimize()).and_then(|()| window.set_focus());
    if let Err(error) = shown {
        tracing::warn!(error = %error, "cannot bring the window forward");
    }
}
