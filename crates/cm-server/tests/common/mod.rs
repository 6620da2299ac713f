//! What the service's integration tests share: starting a service in-process
//! on a free port, and a small HTTP/1.1 client over a raw TCP stream (raw so
//! that a test can send any `Host`, `Origin` or body it likes).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cm_core::Config;
use cm_engine::{Engine, ListFilter, Project, Registry};
use cm_server::{ServeOptions, Server, Token};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any single request may take before the test fails.
const REQUEST_DEADLINE: Duration = Duration::from_secs(60);

/// The settings every test starts from: generous hook budgets, so a loaded
/// machine never turns an answer into "over budget, nothing".
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.hooks.prompt_budget_ms = 30_000;
    config.hooks.tool_budget_ms = 30_000;
    config
}

/// A running service and everything around it.
#[derive(Debug)]
pub struct Env {
    /// Holds every file of the test.
    pub tmp: tempfile::TempDir,
    /// `CLAUDE_MEMORY_HOME`.
    pub home: PathBuf,
    /// The service.
    pub server: Server,
    /// The engine the service hosts (a clone of the same handle).
    pub engine: Engine,
    /// A client with the right token.
    pub client: Client,
}

/// An engine with `config` and a registry in `home`, without an embedder.
pub fn engine(config: Config, home: &Path) -> Engine {
    Engine::with_registry(config, None, Registry::new(home.join("projects.json")))
}

/// Starts a service with `config` in a fresh temporary directory.
pub async fn start(config: Config, watch: bool) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().canonicalize().unwrap().join("home");
    start_in(tmp, home, config, watch).await
}

/// Starts a service with `config`, keeping its state in `home`.
pub async fn start_in(tmp: tempfile::TempDir, home: PathBuf, config: Config, watch: bool) -> Env {
    let engine = engine(config, &home);
    let server =
        Server::start(engine.clone(), ServeOptions { home: home.clone(), port: 0, watch, ui_dir: None })
            .await
            .expect("the service starts");
    let token = Token::load(&home).unwrap().expect("the service created a token");
    let client = Client { addr: server.addr(), token: Some(token.expose().to_owned()) };
    Env { tmp, home, server, engine, client }
}

impl Env {
    /// The root of the temporary directory (canonical).
    pub fn root(&self) -> PathBuf {
        self.tmp.path().canonicalize().unwrap()
    }

    /// A client without any token.
    pub fn anonymous(&self) -> Client {
        Client { addr: self.client.addr, token: None }
    }

    /// A client with a wrong token.
    pub fn impostor(&self) -> Client {
        Client { addr: self.client.addr, token: Some("0".repeat(64)) }
    }

    /// Creates the project `dir` (with its `.claude-memory/`) and returns its canonical path.
    pub fn project(&self, dir: &Path) -> PathBuf {
        new_project(dir)
    }

    /// The live memories of `root`, as the engine lists them.
    pub async fn memories(&self, root: &Path) -> Vec<cm_core::Memory> {
        let project = Project::at(root).unwrap();
        self.engine.list(&project, &ListFilter::default(), 1000, 0).await.unwrap()
    }
}

/// Creates `dir` with its `.claude-memory/` and returns its canonical path.
pub fn new_project(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let project = Project::at(dir).unwrap();
    project.ensure_data_dir().unwrap();
    project.root().to_owned()
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text()))
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Response {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text());
        self
    }
}

/// A request under construction.
#[derive(Debug, Clone)]
pub struct Request {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// Adds (or, for `Host`, replaces) a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        if name.eq_ignore_ascii_case("host") {
            self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
        }
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes every header called `name`.
    pub fn without(mut self, name: &str) -> Request {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Sets a JSON body.
    pub fn json(self, value: &Value) -> Request {
        self.body(serde_json::to_vec(value).unwrap()).header("Content-Type", "application/json")
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    fn head(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// Sends the request and reads the whole answer (`Connection: close`).
    ///
    /// The body is written concurrently with reading, so an answer the server
    /// gives before reading all of a large body (413) is still seen.
    pub async fn send(self) -> Response {
        let request = self.header("Connection", "close");
        tokio::time::timeout(REQUEST_DEADLINE, request.exchange())
            .await
            .unwrap_or_else(|_| panic!("no answer within {REQUEST_DEADLINE:?}"))
    }

    async fn exchange(self) -> Response {
        let stream = TcpStream::connect(self.addr).await.expect("connect to the service");
        let (mut read, mut write) = stream.into_split();
        let head = self.head();
        let body = self.body;
        let writer = tokio::spawn(async move {
            // The server may answer and close before reading everything: ignore write errors.
            if write.write_all(&head).await.is_ok() && !body.is_empty() {
                let _ = write.write_all(&body).await;
            }
            let _ = write.flush().await;
            // Keep the write half open until the reader is done (dropping it sends FIN).
            write
        });
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                // A reset after the answer arrived (the server did not read our whole body).
                Err(_) if find_head_end(&raw).is_some() => break,
                Err(e) => panic!("reading the answer: {e}"),
            }
        }
        writer.abort();
        parse_response(&raw)
    }
}

/// Index just past the `\r\n\r\n` ending the head, if it arrived.
pub fn find_head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a status line and headers.
pub fn parse_head(head: &[u8]) -> (u16, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

fn parse_response(raw: &[u8]) -> Response {
    let end =
        find_head_end(raw).unwrap_or_else(|| panic!("incomplete answer: {:?}", String::from_utf8_lossy(raw)));
    let (status, headers) = parse_head(&raw[..end]);
    let mut response = Response { status, headers, body: Vec::new() };
    let rest = &raw[end..];
    response.body = if response.header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        dechunk(rest)
    } else if let Some(len) = response.header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        rest[..len.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    response
}

/// Decodes a chunked body (as much of it as is complete).
pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim().to_owned();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else { break };
        let start = line_end + 2;
        if size == 0 || data.len() < start + size {
            break;
        }
        out.extend_from_slice(&data[start..start + size]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// A client of one service.
#[derive(Debug, Clone)]
pub struct Client {
    /// Where the service listens.
    pub addr: SocketAddr,
    /// The bearer token sent, if any.
    pub token: Option<String>,
}

impl Client {
    /// A request with a loopback `Host` and the client's token.
    pub fn request(&self, method: &str, path: &str) -> Request {
        let mut headers = vec![("Host".to_owned(), format!("127.0.0.1:{}", self.addr.port()))];
        if let Some(token) = &self.token {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        Request {
            addr: self.addr,
            method: method.to_owned(),
            path: path.to_owned(),
            headers,
            body: Vec::new(),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.request("GET", path).send().await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.request("POST", path).json(body).send().await
    }

    /// Saves a memory into `project` through the API; returns its id.
    pub async fn save(&self, project: &Path, content: &str) -> i64 {
        let r = self
            .post(
                &format!("/api/memories?project={}", enc(project)),
                &json!({ "content": content, "type": "fact" }),
            )
            .await
            .expect(201);
        let v = r.json();
        assert_eq!(v["action"], "created", "{v}");
        v["id"].as_i64().unwrap()
    }

    /// Posts a hook payload; returns the answer.
    pub async fn hook(&self, event: &str, payload: &Value) -> Response {
        self.post(&format!("/hooks/{event}"), payload).await
    }

    /// The jobs of `project`.
    pub async fn jobs(&self, project: &Path) -> Vec<Value> {
        let v = self.get(&format!("/api/jobs?project={}", enc(project))).await.expect(200).json();
        v["jobs"].as_array().unwrap().clone()
    }

    /// The registered projects' paths.
    pub async fn projects(&self) -> Vec<PathBuf> {
        let v = self.get("/api/projects").await.expect(200).json();
        v["projects"].as_array().unwrap().iter().map(|p| PathBuf::from(p["path"].as_str().unwrap())).collect()
    }

    /// An MCP JSON-RPC request to `path` (`/mcp` or `/mcp?project=…`), with
    /// the headers Claude Code sends, plus `extra`.
    pub async fn mcp(&self, path: &str, extra: &[(&str, &str)], message: &Value) -> Response {
        let mut req = self
            .request("POST", path)
            .json(message)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-06-18");
        for (name, value) in extra {
            req = req.header(name, value);
        }
        req.send().await
    }

    /// `initialize`, as an MCP client opens.
    pub async fn mcp_initialize(&self, extra: &[(&str, &str)]) -> Value {
        let init = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": { "name": "cm-server-tests", "version": "0" }
            }
        });
        let r = self.mcp("/mcp", extra, &init).await.expect(200);
        mcp_message(&r)
    }

    /// `tools/call` of `tool` with `arguments`; returns the JSON-RPC message.
    pub async fn mcp_call(&self, path: &str, extra: &[(&str, &str)], tool: &str, arguments: Value) -> Value {
        let call = json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": { "name": tool, "arguments": arguments }
        });
        let r = self.mcp(path, extra, &call).await.expect(200);
        mcp_message(&r)
    }
}

/// The JSON-RPC message of an MCP answer (JSON, or the first SSE `data:` line).
pub fn mcp_message(r: &Response) -> Value {
    if r.header("content-type").is_some_and(|c| c.starts_with("text/event-stream")) {
        let text = r.text();
        let data = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .find(|d| d.starts_with('{'))
            .unwrap_or_else(|| panic!("no message in the event stream: {text}"));
        serde_json::from_str(data).unwrap()
    } else {
        r.json()
    }
}

/// Percent-encodes a path for a query parameter.
pub fn enc(path: &Path) -> String {
    let mut out = String::new();
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Polls `check` every 50 ms for up to `limit`; true as soon as it holds.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
