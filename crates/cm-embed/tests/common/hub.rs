//! A local stand-in for the Hugging Face Hub, speaking the part of its
//! protocol that downloads use, over real HTTP on 127.0.0.1.
//!
//! `GET|HEAD /{owner}/{name}/resolve/{revision}/{path}`:
//! - an unknown revision or file is a 404 with `x-error-code`, as on the Hub;
//! - a small ("git") file is answered directly: `etag` (a git blob id),
//!   `x-repo-commit`, `content-length`, `accept-ranges`, and `206` with
//!   `content-range` for a `Range` request;
//! - a large ("LFS") file is a `302` to `/cdn/{sha256}` carrying
//!   `x-repo-commit`, `x-linked-etag` (the SHA-256) and `x-linked-size`, as
//!   the Hub redirects to its CDN; the CDN serves the bytes with range support.
//!
//! `POST /api/models/{owner}/{name}/paths-info/{revision}` answers with each
//! listed file's size (and, for LFS files, `lfs.oid`, the SHA-256), in the
//! Hub's JSON shape.
//!
//! Faults can be injected per file: drop the connection after some bytes,
//! stall after some bytes, or flip a byte. Every request is logged with its
//! `Range` header, so tests can see a download resume.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cm_testkit::http::{Request, read_request};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Something to do wrong while serving a file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection after this many body bytes, for the next `times` GETs.
    Drop { after: usize, times: usize },
    /// Send this many body bytes, then hang.
    Stall { after: usize },
    /// Flip the byte at this offset of the file, in every response.
    Corrupt { at: usize },
}

/// One request the hub saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
}

#[derive(Debug)]
struct Served {
    bytes: Arc<Vec<u8>>,
    sha256: String,
    lfs: bool,
}

#[derive(Debug, Default)]
struct State {
    repo: String,
    revision: String,
    files: HashMap<String, Served>,
    faults: Mutex<HashMap<String, Fault>>,
    seen: Mutex<Vec<Seen>>,
}

/// A running fake hub. It stops when the test's runtime does.
#[derive(Debug, Clone)]
pub struct FakeHub {
    pub endpoint: String,
    state: Arc<State>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl FakeHub {
    /// Serves `files` (path in the repository, content, whether it is an LFS file)
    /// as `repo` at `revision`.
    pub async fn start(repo: &str, revision: &str, files: Vec<(&str, Arc<Vec<u8>>, bool)>) -> FakeHub {
        let files = files
            .into_iter()
            .map(|(path, bytes, lfs)| {
                let sha256 = sha256_hex(&bytes);
                (path.to_string(), Served { bytes, sha256, lfs })
            })
            .collect();
        let state =
            Arc::new(State { repo: repo.into(), revision: revision.into(), files, ..State::default() });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let served = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { return };
                let state = served.clone();
                tokio::spawn(async move {
                    let _ = handle(socket, &state).await;
                });
            }
        });
        FakeHub { endpoint, state }
    }

    pub fn inject(&self, path: &str, fault: Fault) {
        self.state.faults.lock().unwrap().insert(path.to_string(), fault);
    }

    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// GET requests whose path contains `part`.
    pub fn gets(&self, part: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.method == "GET" && s.path.contains(part)).collect()
    }
}

async fn handle(mut socket: TcpStream, state: &State) -> std::io::Result<()> {
    let Some(request) = read_request(&mut socket).await? else { return Ok(()) };
    let range = request.header("range").map(str::to_owned);
    let host = request.header("host").unwrap_or_default().to_owned();
    let Request { method, target: path, body, .. } = request;
    state.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        range: range.clone(),
    });
    let head_only = method == "HEAD";

    if let Some(sha) = path.strip_prefix("/cdn/") {
        let Some((name, file)) = state.files.iter().find(|(_, f)| f.sha256 == sha) else {
            return respond(&mut socket, "404 Not Found", &[], b"", head_only).await;
        };
        let etag = format!("\"{}\"", &file.sha256[..32]);
        return serve_bytes(&mut socket, state, name, file, range.as_deref(), &[("etag", etag)], head_only)
            .await;
    }

    let api = format!("/api/models/{}/paths-info/", state.repo);
    if let Some(revision) = path.strip_prefix(&api) {
        if revision != state.revision {
            let headers = [("x-error-code", "RevisionNotFound".to_string())];
            return respond(&mut socket, "404 Not Found", &headers, b"Invalid rev id", false).await;
        }
        let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let listed: Vec<serde_json::Value> = asked["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str())
            .filter_map(|p| state.files.get(p).map(|f| (p, f)))
            .map(|(p, f)| {
                let mut item = serde_json::json!({
                    "type": "file",
                    "oid": &f.sha256[..40],
                    "size": f.bytes.len(),
                    "path": p,
                });
                if f.lfs {
                    item["lfs"] =
                        serde_json::json!({"oid": f.sha256, "size": f.bytes.len(), "pointerSize": 134});
                }
                item
            })
            .collect();
        let json = serde_json::to_vec(&listed).unwrap();
        let headers = [("content-type", "application/json".to_string())];
        return respond(&mut socket, "200 OK", &headers, &json, false).await;
    }

    let prefix = format!("/{}/resolve/", state.repo);
    let Some(rest) = path.strip_prefix(&prefix) else {
        let headers = [("x-error-code", "RepoNotFound".to_string())];
        return respond(&mut socket, "404 Not Found", &headers, b"Repository not found", head_only).await;
    };
    let (revision, file_path) = rest.split_once('/').unwrap_or((rest, ""));
    if revision != state.revision {
        let headers = [("x-error-code", "RevisionNotFound".to_string())];
        return respond(&mut socket, "404 Not Found", &headers, b"Invalid rev id", head_only).await;
    }
    let Some(file) = state.files.get(file_path) else {
        let headers = [("x-error-code", "EntryNotFound".to_string())];
        return respond(&mut socket, "404 Not Found", &headers, b"Entry not found", head_only).await;
    };
    let commit = ("x-repo-commit", state.revision.clone());
    if file.lfs {
        let location = format!("http://{host}/cdn/{}", file.sha256);
        let headers = [
            commit,
            ("x-linked-etag", format!("\"{}\"", file.sha256)),
            ("x-linked-size", file.bytes.len().to_string()),
            ("location", location),
        ];
        return respond(&mut socket, "302 Found", &headers, b"", head_only).await;
    }
    // A git file's ETag is its blob id, 40 hex digits, not a SHA-256.
    let etag = format!("\"{}\"", &file.sha256[..40]);
    serve_bytes(&mut socket, state, file_path, file, range.as_deref(), &[commit, ("etag", etag)], head_only)
        .await
}

async fn serve_bytes(
    socket: &mut TcpStream,
    state: &State,
    name: &str,
    file: &Served,
    range: Option<&str>,
    extra: &[(&str, String)],
    head_only: bool,
) -> std::io::Result<()> {
    let total = file.bytes.len();
    let (start, end) = match range.and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.split_once('-')) {
        Some((a, b)) => {
            let a: usize = a.parse().unwrap_or(0);
            let b: usize =
                if b.is_empty() { total - 1 } else { b.parse::<usize>().unwrap_or(total - 1).min(total - 1) };
            if a >= total {
                let headers = [("content-range", format!("bytes */{total}"))];
                return respond(socket, "416 Range Not Satisfiable", &headers, b"", head_only).await;
            }
            (a, b + 1)
        }
        None => (0, total),
    };
    let partial = range.is_some();
    let mut headers: Vec<(&str, String)> = extra.to_vec();
    headers.push(("accept-ranges", "bytes".into()));
    headers.push(("content-length", (end - start).to_string()));
    if partial {
        headers.push(("content-range", format!("bytes {start}-{}/{total}", end - 1)));
    }
    let status = if partial { "206 Partial Content" } else { "200 OK" };
    write_head(socket, status, &headers).await?;
    if head_only {
        return Ok(());
    }

    let fault = {
        let mut faults = state.faults.lock().unwrap();
        let fault = faults.get(name).copied();
        if let Some(Fault::Drop { after, times }) = fault {
            if times <= 1 {
                faults.remove(name);
            } else {
                faults.insert(name.to_string(), Fault::Drop { after, times: times - 1 });
            }
        }
        fault
    };
    let mut body = file.bytes[start..end].to_vec();
    if let Some(Fault::Corrupt { at }) = fault
        && (start..end).contains(&at)
    {
        body[at - start] ^= 0x01;
    }
    match fault {
        Some(Fault::Drop { after, .. }) => {
            socket.write_all(&body[..after.min(body.len())]).await?;
            socket.flush().await?;
            // Dropping the socket closes it mid-body: the client sees a broken transfer.
            return Ok(());
        }
        Some(Fault::Stall { after }) => {
            socket.write_all(&body[..after.min(body.len())]).await?;
            socket.flush().await?;
            tokio::time::sleep(Duration::from_secs(300)).await;
            return Ok(());
        }
        _ => {}
    }
    for chunk in body.chunks(64 * 1024) {
        socket.write_all(chunk).await?;
    }
    socket.flush().await
}

async fn write_head(socket: &mut TcpStream, status: &str, headers: &[(&str, String)]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await
}

async fn respond(
    socket: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut all: Vec<(&str, String)> = headers.to_vec();
    all.push(("content-length", body.len().to_string()));
    write_head(socket, status, &all).await?;
    if !head_only {
        socket.write_all(body).await?;
    }
    socket.flush().await
}
