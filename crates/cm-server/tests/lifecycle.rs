//! Starting and stopping: one engine per home, a taken port is a clear
//! error, the discovery file comes and goes, and the live event stream.

mod common;

use std::time::Duration;

use cm_server::{EngineInfo, ServeOptions, Server, Token};
use common::{engine, find_head_end, parse_head, start, test_config};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_per_home_and_a_taken_port_is_a_clear_error() {
    let env = start(test_config(), false).await;
    let token = Token::load(&env.home).unwrap().unwrap();

    // A second engine on the same home refuses, whatever the port.
    let err = Server::start(
        engine(test_config(), &env.home),
        ServeOptions { home: env.home.clone(), port: 0, watch: false, ui_dir: None },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already running"), "{err}");
    assert!(err.to_string().contains(&env.server.url()), "it says which engine: {err}");
    // …and leaves the running one untouched.
    env.client.get("/api/status").await.expect(200);
    assert_eq!(EngineInfo::read(&env.home).unwrap().port, env.server.addr().port());

    // Another home, but the port is taken.
    let other = env.root().join("other-home");
    let taken = env.server.addr().port();
    let err = Server::start(
        engine(test_config(), &other),
        ServeOptions { home: other.clone(), port: taken, watch: false, ui_dir: None },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
    assert!(err.to_string().contains(&taken.to_string()), "{err}");
    assert!(EngineInfo::read(&other).is_none(), "a failed start wrote a discovery file");
    // A port taken by another program, not by an engine.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let err = Server::start(
        engine(test_config(), &other),
        ServeOptions { home: other.clone(), port, watch: false, ui_dir: None },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
    drop(squatter);

    // A clean stop removes the discovery file and frees the home; the token stays.
    let (tmp, home) = (env.tmp, env.home);
    env.server.shutdown().await.unwrap();
    assert!(EngineInfo::read(&home).is_none(), "engine.json outlived the engine");
    let env = common::start_in(tmp, home, test_config(), false).await;
    assert_eq!(Token::load(&env.home).unwrap().unwrap().expose(), token.expose());
    env.client.get("/api/status").await.expect(200);
    env.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_reports_saves() {
    let env = start(test_config(), false).await;
    let p = env.project(&env.root().join("p"));

    let mut stream = tokio::net::TcpStream::connect(env.server.addr()).await.unwrap();
    let token = env.client.token.clone().unwrap();
    let port = env.server.addr().port();
    let head = format!(
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();

    let mut raw = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let deadline = Duration::from_secs(30);
    // The answer's head: once it is here, the stream is subscribed.
    let end = tokio::time::timeout(deadline, async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream closed before answering");
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = find_head_end(&raw) {
                return end;
            }
        }
    })
    .await
    .expect("the event stream answers");
    let (status, headers) = parse_head(&raw[..end]);
    assert_eq!(status, 200);
    let content_type = headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.as_str());
    assert_eq!(content_type, Some("text/event-stream"));
    assert!(!headers.iter().any(|(n, _)| n.starts_with("access-control-")), "{headers:?}");

    let id = env.client.save(&p, "The zebra pipeline deploys the payments service").await;

    let body = tokio::time::timeout(deadline, async {
        loop {
            let text = String::from_utf8_lossy(&common::dechunk(&raw[end..])).into_owned();
            if text.contains("event: saved")
                && text.split("\n\n").any(|e| e.contains(&format!("\"id\":{id}")))
            {
                return text;
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream closed; it had: {text}");
            raw.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `event: saved` within {deadline:?}: {:?}", String::from_utf8_lossy(&raw)));
    let event = body.split("\n\n").find(|e| e.contains("event: saved")).unwrap();
    let data = event.lines().find_map(|l| l.strip_prefix("data:")).unwrap().trim();
    let data: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["type"], "saved");
    assert_eq!(data["action"], "created");
    assert_eq!(data["id"], json!(id));
    assert_eq!(data["project"], json!(p));

    // Without the token there is no stream.
    let r = env.anonymous().get("/api/events").await;
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_with_a_dashboard_open_does_not_wait_for_its_event_stream() {
    let env = start(test_config(), false).await;
    let mut stream = tokio::net::TcpStream::connect(env.server.addr()).await.unwrap();
    let token = env.client.token.clone().unwrap();
    let port = env.server.addr().port();
    let head = format!(
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 4096];
    while find_head_end(&raw).is_none() {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the stream closed before answering");
        raw.extend_from_slice(&buf[..n]);
    }

    let home = env.home.clone();
    tokio::time::timeout(Duration::from_secs(10), env.server.shutdown())
        .await
        .expect("shutdown waited for the event stream")
        .unwrap();
    assert!(EngineInfo::read(&home).is_none(), "engine.json outlived the engine");
    // The stream ended too.
    let rest = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await;
    assert!(rest.is_ok(), "the event stream is still open");
}
