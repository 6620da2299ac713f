//! Who may talk to the service: the token, the Host and Origin checks, the
//! loopback-only listener, body limits and malformed bodies, and that a
//! refused request never writes anything.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Client, Env, Request, enc, start, test_config};
use serde_json::json;

/// A project with one memory, and an existing directory that is no project yet.
async fn setup() -> (Env, PathBuf, PathBuf) {
    let env = start(test_config(), false).await;
    let p = env.project(&env.root().join("p"));
    env.client.save(&p, "Deployments of the billing service go through the zebra pipeline").await;
    let n = env.root().join("fresh");
    std::fs::create_dir_all(&n).unwrap();
    (env, p, n)
}

/// Requests that would each write something if they got through: a memory in
/// `p`, a new project in `n`, an injection or a job in `p`.
fn writes(client: &Client, p: &Path, n: &Path) -> Vec<(&'static str, Request)> {
    let save = json!({ "content": "An attacker's note about the zebra pipeline", "type": "fact" });
    let mcp_save = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "memory_save", "arguments": { "content": "An attacker's note about billing" } }
    });
    let n_header = n.to_string_lossy().into_owned();
    vec![
        ("GET /api/status", client.request("GET", "/api/status")),
        (
            "POST /api/memories (p)",
            client.request("POST", &format!("/api/memories?project={}", enc(p))).json(&save),
        ),
        (
            "POST /api/memories (n)",
            client.request("POST", &format!("/api/memories?project={}", enc(n))).json(&save),
        ),
        (
            "POST /mcp (memory_save in n)",
            client
                .request("POST", "/mcp")
                .json(&mcp_save)
                .header("Accept", "application/json, text/event-stream")
                .header("MCP-Protocol-Version", "2025-06-18")
                .header("X-Claude-Memory-Project", &n_header),
        ),
        (
            "POST /hooks/UserPromptSubmit",
            client.request("POST", "/hooks/UserPromptSubmit").json(&json!({
                "session_id": "attack", "cwd": p, "prompt": "how do deployments of the billing service work"
            })),
        ),
        (
            "POST /hooks/Stop",
            client.request("POST", "/hooks/Stop").json(&json!({
                "session_id": "attack", "cwd": p, "transcript_path": "/tmp/attack.jsonl"
            })),
        ),
        ("GET /api/events", client.request("GET", "/api/events")),
        ("GET /api/doctor", client.request("GET", "/api/doctor")),
        ("GET /api/timeline", client.request("GET", &format!("/api/timeline?project={}", enc(p)))),
    ]
}

/// Asserts that nothing was written: `p` still has its one memory, no
/// injection and no job; `n` is still no project.
async fn assert_nothing_written(env: &Env, p: &Path, n: &Path) {
    let memories = env.memories(p).await;
    assert_eq!(memories.len(), 1, "{memories:?}");
    let v = env.client.get(&format!("/api/injections?project={}", enc(p))).await.expect(200).json();
    assert_eq!(v["injections"], json!([]), "{v}");
    assert_eq!(env.client.jobs(p).await, Vec::<serde_json::Value>::new());
    assert!(!n.join(".claude-memory").exists(), "a refused request created a project");
    let registered = env.engine.registry().unwrap().projects();
    assert!(!registered.iter().any(|r| r == n), "{registered:?}");
}

#[track_caller]
fn assert_no_cors(what: &str, r: &common::Response) {
    for (name, value) in &r.headers {
        assert!(!name.starts_with("access-control-"), "{what}: answered with {name}: {value}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_but_healthz_needs_the_token() {
    let (env, p, n) = setup().await;
    let anonymous = env.anonymous();

    let r = anonymous.get("/healthz").await.expect(200);
    assert_eq!(r.json()["status"], "ok");

    let wrong_scheme = Client { token: None, ..env.client.clone() };
    let token = env.client.token.clone().unwrap();
    for (who, client) in [("no token", anonymous), ("a wrong token", env.impostor())] {
        for (what, req) in writes(&client, &p, &n) {
            let r = req.send().await;
            assert_eq!(r.status, 401, "{what} with {who}: {}", r.text());
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
            assert!(r.json()["error"].as_str().unwrap().contains("token"), "{what}: {}", r.text());
            assert_no_cors(what, &r);
        }
    }
    // The right token, but not as a bearer token.
    for (what, req) in writes(&wrong_scheme, &p, &n) {
        for auth in
            [format!("Basic {token}"), token.clone(), format!("Bearer {token}x"), "Bearer ".to_owned()]
        {
            let r = req.clone().header("Authorization", &auth).send().await;
            assert_eq!(r.status, 401, "{what} with Authorization {auth:?}: {}", r.text());
        }
    }
    let r = wrong_scheme.get(&format!("/api/status?token={token}")).await;
    assert_eq!(r.status, 401, "a token in the query string is not a credential");
    assert_nothing_written(&env, &p, &n).await;

    // The same requests with the token get through (the test can tell),
    // whatever the case of the scheme's name (RFC 9110).
    let r = env.client.get("/api/status").await.expect(200);
    assert_eq!(r.json()["port"], env.server.addr().port());
    for scheme in ["bearer", "BEARER"] {
        let auth = format!("{scheme} {token}");
        wrong_scheme.request("GET", "/api/status").header("Authorization", &auth).send().await.expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_hosts_and_origins_are_refused_even_with_the_token() {
    let (env, p, n) = setup().await;
    let port = env.server.addr().port();

    let hosts = [
        "evil.com".to_owned(),
        format!("evil.com:{port}"),
        "localhost.evil.com".to_owned(),
        format!("localhost.evil.com:{port}"),
        "127.0.0.1.nip.io".to_owned(),
        format!("127.0.0.1.nip.io:{port}"),
        format!("192.0.2.1:{port}"),
        format!("0.0.0.0:{port}"),
    ];
    for host in &hosts {
        for (what, req) in writes(&env.client, &p, &n) {
            let r = req.header("Host", host).send().await;
            assert_eq!(r.status, 403, "{what} with Host {host}: {}", r.text());
            assert!(r.json()["error"].is_string(), "{what}");
            assert_no_cors(what, &r);
        }
        // Even the health check: a rebinding page learns nothing.
        let r = env.anonymous().request("GET", "/healthz").header("Host", host).send().await;
        assert_eq!(r.status, 403, "/healthz with Host {host}");
    }

    let origins = [
        "https://evil.com".to_owned(),
        "http://evil.com".to_owned(),
        "null".to_owned(),
        format!("http://127.0.0.1:{}", port.wrapping_add(1).max(1)),
        format!("https://127.0.0.1:{port}"),
        format!("http://localhost:{port}.evil.com"),
        format!("http://127.0.0.1.nip.io:{port}"),
    ];
    for origin in &origins {
        for (what, req) in writes(&env.client, &p, &n) {
            let r = req.header("Origin", origin).send().await;
            assert_eq!(r.status, 403, "{what} with Origin {origin}: {}", r.text());
            assert_no_cors(what, &r);
        }
        // A CORS preflight from a foreign page is refused too, and never answered with CORS headers.
        let r = env
            .anonymous()
            .request("OPTIONS", "/api/memories")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization, content-type")
            .send()
            .await;
        assert_eq!(r.status, 403, "preflight from {origin}");
        assert_no_cors("preflight", &r);
    }
    assert_nothing_written(&env, &p, &n).await;

    // Loopback names, and the dashboard's own origin, are let through.
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "localhost".to_owned()] {
        let r = env.client.request("GET", "/api/status").header("Host", &host).send().await;
        assert_eq!(r.status, 200, "Host {host}: {}", r.text());
        assert_no_cors("loopback host", &r);
    }
    for origin in
        [format!("http://127.0.0.1:{port}"), format!("http://localhost:{port}"), "tauri://localhost".into()]
    {
        let r = env.client.request("GET", "/api/status").header("Origin", &origin).send().await;
        assert_eq!(r.status, 200, "Origin {origin}: {}", r.text());
        assert_no_cors("own origin", &r);
        let r = env
            .client
            .request("GET", &format!("/api/memories?project={}", enc(&p)))
            .header("Origin", &origin);
        let r = r.send().await.expect(200);
        assert_eq!(r.json()["memories"].as_array().unwrap().len(), 1);
        assert_no_cors("own origin", &r);
        // The dashboard's origin still needs the token.
        let r = env.anonymous().request("GET", "/api/status").header("Origin", &origin).send().await;
        assert_eq!(r.status, 401, "Origin {origin} without a token");
    }
}

/// The machine's address on its default route, if it has one that is not loopback.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    // Connecting a UDP socket sends nothing; it only picks the route's source address.
    for target in ["192.0.2.1:9", "10.255.255.254:9", "8.8.8.8:9"] {
        let Ok(socket) = std::net::UdpSocket::bind("0.0.0.0:0") else { continue };
        if socket.connect(target).is_err() {
            continue;
        }
        if let Ok(local) = socket.local_addr()
            && !local.ip().is_loopback()
            && !local.ip().is_unspecified()
        {
            return Some(local.ip());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_is_bound_to_loopback_only() {
    let env = start(test_config(), false).await;
    let addr = env.server.addr();
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_eq!(env.server.url(), format!("http://127.0.0.1:{}", addr.port()));
    let info = cm_server::EngineInfo::read(&env.home).expect("engine.json is written");
    assert_eq!(info.port, addr.port());
    assert_eq!(info.pid, std::process::id());

    match non_loopback_address() {
        Some(ip) => {
            let target = std::net::SocketAddr::new(ip, addr.port());
            let attempt =
                tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(target)).await;
            assert!(
                !matches!(attempt, Ok(Ok(_))),
                "the service answered on {target}, a non-loopback address"
            );
        }
        None => eprintln!("no non-loopback address on this machine; only the bound address was checked"),
    }
    // Loopback itself works.
    tokio::net::TcpStream::connect(addr).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_and_write_nothing() {
    let (env, p, n) = setup().await;

    // A JSON body just over 1 MiB to the API, for an existing project and a new one.
    let big = "zebra ".repeat((cm_server::API_BODY_LIMIT / 6) + 10);
    let body = json!({ "content": big, "type": "fact" });
    for project in [&p, &n] {
        let r = env.client.post(&format!("/api/memories?project={}", enc(project)), &body).await;
        assert_eq!(r.status, 413, "{}", r.text());
        assert_no_cors("413", &r);
    }
    // The same over MCP.
    let call = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "memory_save", "arguments": { "content": big } }
    });
    let n_header = n.to_string_lossy().into_owned();
    let r = env.client.mcp("/mcp", &[("X-Claude-Memory-Project", n_header.as_str())], &call).await;
    assert_eq!(r.status, 413, "a 1 MiB MCP request: {}", r.text());

    // Hooks take more (a Write of a big file), but not more than 8 MiB.
    let pad = "x".repeat(cm_server::HOOK_BODY_LIMIT + 1024);
    let payload =
        json!({ "session_id": "huge", "cwd": p, "transcript_path": "/tmp/huge.jsonl", "padding": pad });
    let r = env.client.hook("Stop", &payload).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_nothing_written(&env, &p, &n).await;

    // Under the hook limit, a body far over the API's is fine.
    let pad = "x".repeat(2 * cm_server::API_BODY_LIMIT);
    let payload =
        json!({ "session_id": "big", "cwd": p, "transcript_path": "/tmp/big.jsonl", "padding": pad });
    env.client.hook("Stop", &payload).await.expect(204);
    let jobs = env.client.jobs(&p).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["session_id"], "big");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_400_with_a_message_and_write_nothing() {
    let (env, p, n) = setup().await;
    let bodies: [&[u8]; 6] = [
        b"{\"content\": \"unterminated",
        b"not json at all",
        b"[1, 2, 3]",
        b"{\"content\": 5}",
        b"{\"content\": \"a fine sentence about zebras\", \"colour\": \"red\"}",
        b"",
    ];
    for project in [&p, &n] {
        for body in bodies {
            let r = env
                .client
                .request("POST", &format!("/api/memories?project={}", enc(project)))
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await;
            let shown = String::from_utf8_lossy(body);
            assert_eq!(r.status, 400, "body {shown:?}: {}", r.text());
            assert_eq!(r.header("content-type"), Some("application/json"), "body {shown:?}");
            let message = r.json()["error"].as_str().map(str::to_owned);
            assert!(message.is_some_and(|m| !m.is_empty()), "body {shown:?}: {}", r.text());
        }
    }
    // A bad project parameter is a 400 too.
    for query in ["", "?project=relative/dir", "?project=/does/not/exist/anywhere"] {
        let r = env.client.post(&format!("/api/memories{query}"), &json!({ "content": "x y z" })).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert!(r.json()["error"].is_string());
    }
    // Hooks: malformed payloads are refused without queueing anything.
    for body in [&b"{not json"[..], b"[1]", b"{\"session_id\": 5, \"cwd\": \"/\"}"] {
        let r = env.client.request("POST", "/hooks/Stop").body(body).send().await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.json()["error"].is_string());
    }
    let r = env.client.hook("Notification", &json!({ "cwd": p })).await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_nothing_written(&env, &p, &n).await;
}

#[tokio::test]
async fn a_secret_in_tags_sent_through_mcp_update_is_never_stored() {
    let (env, p, _) = setup().await;
    let secret = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    let id = env.memories(&p).await[0].id;
    let path = format!("/mcp?project={}", enc(&p));
    let answer = env
        .client
        .mcp_call(&path, &[], "memory_update", json!({ "id": id, "tags": [secret, "billing"] }))
        .await;
    assert_ne!(answer["result"]["isError"], true, "{answer}");
    let m = env.memories(&p).await.into_iter().find(|m| m.id == id).unwrap();
    assert!(m.tags.contains(&"billing".to_owned()), "{:?}", m.tags);
    env.engine.close().await;
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(p.join(cm_engine::DATA_DIR)).unwrap() {
        let file = entry.unwrap().path();
        if file.file_name().unwrap().to_string_lossy().starts_with("memory.db") {
            bytes.extend(std::fs::read(file).unwrap());
        }
    }
    let raw = String::from_utf8_lossy(&bytes).to_lowercase();
    assert!(!raw.contains("abcdefghijklmnopqrstuvwxyz0123456789"), "the token reached the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let env = common::start(common::test_config(), false).await;
    let mut stream = tokio::net::TcpStream::connect(env.server.addr()).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    // A header line every second, never the blank line that ends them
    // (the attack held 8 such connections open past 100 s).
    let started = std::time::Instant::now();
    let mut closed = false;
    while started.elapsed() < std::time::Duration::from_secs(20) {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(std::time::Duration::from_millis(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            // hyper answers 408 before closing.
            Ok(Ok(n)) if String::from_utf8_lossy(&buf[..n]).contains("408") => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "the connection was still open after {:?}", started.elapsed());
    // A normal request right after is served.
    env.client.get("/api/status").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_headers_are_refused() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let env = common::start(common::test_config(), false).await;
    let token = cm_server::Token::load(&env.home).unwrap().unwrap();
    let mut stream = tokio::net::TcpStream::connect(env.server.addr()).await.unwrap();
    let request = format!(
        "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token.expose()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("more than one Host header"), "{answer}");
}

/// Every Origin a request carries is checked: a foreign one after the
/// dashboard's own is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_after_an_allowed_one_is_refused() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let env = common::start(common::test_config(), false).await;
    let token = cm_server::Token::load(&env.home).unwrap().unwrap();
    let port = env.server.addr().port();
    let mut stream = tokio::net::TcpStream::connect(env.server.addr()).await.unwrap();
    let request = format!(
        "GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1:{port}\r\nOrigin: https://evil.example\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token.expose()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
}
