//! Starting and stopping the service.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use cm_engine::Engine;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::discovery::{EngineInfo, EngineLock, Token};
use crate::{AppState, Error, Result};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The per-user state directory (token, discovery file, registry, models).
    pub home: PathBuf,
    /// Port on 127.0.0.1; 0 picks a free one (tests).
    pub port: u16,
    /// Watch the configured roots for projects.
    pub watch: bool,
    /// The dashboard's built files (`ui/dist`), served at `/` without a
    /// token; `None` serves no dashboard.
    pub ui_dir: Option<PathBuf>,
}

/// A running service.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    engine: Engine,
    home: PathBuf,
    cancel: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    watcher: Option<crate::watcher::ProjectWatcher>,
    jobs: cm_engine::JobWorker,
    team: crate::team::TeamSyncer,
    _lock: EngineLock,
}

/// How often the background worker looks for queued jobs (transcripts and
/// compact summaries to mine). Hooks only enqueue; this does the work.
const JOB_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Ends a server-sent-events body when the service stops. The dashboard's
/// event stream never ends by itself, and a graceful stop waits for every
/// response to finish: without this, stopping with a dashboard open (Ctrl-C,
/// the tray's Quit) would hang.
async fn end_streams_on_shutdown(
    axum::extract::State(cancel): axum::extract::State<CancellationToken>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use futures_util::StreamExt as _;
    let response = next.run(request).await;
    let is_stream = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !is_stream {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().take_until(cancel.cancelled_owned());
    axum::response::Response::from_parts(parts, axum::body::Body::from_stream(body))
}

/// Longest wait for a request's headers: a client trickling them a byte at
/// a time (slowloris) would otherwise hold a connection open forever.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Accepts and serves HTTP/1 connections until `cancel`, then lets the open
/// ones finish (streams end on shutdown, see [`end_streams_on_shutdown`]).
/// What `axum::serve` does, plus a header-read timeout.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause, go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        let connection =
            graceful.watch(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

impl Server {
    /// Takes the engine lock, binds 127.0.0.1, writes the discovery file and
    /// starts serving. Fails with a clear message if another engine runs or
    /// the port is taken.
    pub async fn start(engine: Engine, options: ServeOptions) -> Result<Server> {
        let lock = EngineLock::acquire(&options.home)?;
        let token = Token::load_or_create(&options.home)?;
        let listener =
            tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    Error::Service(format!(
                        "port {} on 127.0.0.1 is already in use by another program; choose another with \
                     `--port N` or `port` under [service] in config.toml",
                        options.port
                    ))
                } else {
                    Error::Service(format!("cannot listen on 127.0.0.1:{}: {e}", options.port))
                }
            })?;
        let addr = listener.local_addr().map_err(|e| Error::Service(e.to_string()))?;
        let state =
            AppState::new(engine.clone(), token, addr.port(), options.home.clone(), options.ui_dir.clone());
        let cancel = CancellationToken::new();
        let app = crate::router(state)
            .layer(axum::middleware::from_fn_with_state(cancel.clone(), end_streams_on_shutdown));
        let task = tokio::spawn({
            let cancel = cancel.clone();
            async move { serve_connections(listener, app, cancel).await }
        });
        let info = EngineInfo {
            port: addr.port(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            url: format!("http://127.0.0.1:{}", addr.port()),
        };
        info.write(&options.home)?;
        let watcher = if options.watch {
            match crate::watcher::ProjectWatcher::start(engine.clone()) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "project discovery is off");
                    None
                }
            }
        } else {
            None
        };
        let jobs = engine.spawn_job_worker(JOB_INTERVAL);
        let team = crate::team::TeamSyncer::spawn(
            engine.clone(),
            options.home.clone(),
            std::time::Duration::from_secs(engine.config().service.team_sync_secs),
        );
        tracing::info!(url = %info.url, "claude-memory engine listening");
        Ok(Server { addr, engine, home: options.home, cancel, task, watcher, jobs, team, _lock: lock })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The engine it serves (for a host that also shows it, like the tray app).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Stops accepting, finishes requests in flight, stops the job worker
    /// (a job cut short keeps what it committed), closes every database
    /// and removes the discovery file.
    pub async fn shutdown(self) -> Result<()> {
        self.cancel.cancel();
        drop(self.watcher);
        let served = self.task.await;
        self.jobs.stop().await;
        self.team.stop().await;
        self.engine.close().await;
        EngineInfo::remove(&self.home);
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Service(format!("the server failed: {e}"))),
            Err(e) => Err(Error::Service(format!("the server task failed: {e}"))),
        }
    }
}
