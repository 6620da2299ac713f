//! The dashboard's files: served without a token from the UI directory,
//! with the right content types, never from outside it, and still behind
//! the Host and Origin checks.

mod common;

use cm_server::{ServeOptions, Server};
use common::{Client, engine, test_config};

/// A service whose UI directory holds `index.html`, `assets/app.js` and
/// `assets/style.css`, with a secret file beside (outside) that directory.
async fn start_with_ui() -> (tempfile::TempDir, Server, Client) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let ui = root.join("ui");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(ui.join("index.html"), "<!doctype html><title>claude-memory</title>").unwrap();
    std::fs::write(ui.join("assets/app.js"), "console.log('hi')").unwrap();
    std::fs::write(ui.join("assets/style.css"), "body{}").unwrap();
    std::fs::write(root.join("secret.txt"), "do not serve me").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("secret.txt"), ui.join("link.txt")).unwrap();
    let home = root.join("home");
    let server = Server::start(
        engine(test_config(), &home),
        ServeOptions { home: home.clone(), port: 0, watch: false, ui_dir: Some(ui) },
    )
    .await
    .expect("the service starts");
    let client = Client { addr: server.addr(), token: None };
    (tmp, server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_served_without_a_token_with_their_content_types() {
    let (_tmp, server, client) = start_with_ui().await;

    let index = client.get("/").await.expect(200);
    assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(index.text().contains("<title>claude-memory</title>"));
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert!(index.header("content-security-policy").is_some_and(|c| c.contains("default-src 'self'")));
    assert_eq!(client.get("/index.html").await.expect(200).text(), index.text());

    let js = client.get("/assets/app.js").await.expect(200);
    assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(js.text(), "console.log('hi')");
    let css = client.get("/assets/style.css").await.expect(200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    let head = client.request("HEAD", "/assets/app.js").send().await.expect(200);
    assert!(head.body.is_empty());

    // A missing file is a 404; the API still needs its token and is not a file.
    client.get("/nope.js").await.expect(404);
    client.get("/api/status").await.expect(401);
    let r = client.get("/api/nothing-here").await;
    assert!(r.status == 401 || r.status == 404, "{}", r.status);
    assert!(r.json()["error"].is_string());
    client.get("/healthz").await.expect(200);
    client.request("POST", "/index.html").send().await.expect(405);

    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_outside_the_ui_directory_is_served() {
    let (_tmp, server, client) = start_with_ui().await;

    for path in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/%2E%2E/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/assets/..%5c..%5csecret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/link.txt",
        "/assets",
        "/C:/Windows/win.ini",
    ] {
        let r = client.get(path).await;
        assert!(r.status == 404 || r.status == 400, "{path}: {}", r.status);
        assert!(!r.text().contains("do not serve me"), "{path} leaked the file outside");
        assert!(!r.text().contains("root:"), "{path} leaked /etc/passwd");
    }

    // The Host and Origin checks still apply to the files.
    client.request("GET", "/").header("Host", "evil.example:80").send().await.expect(403);
    client.request("GET", "/").header("Origin", "https://evil.example").send().await.expect(403);
    let own = format!("http://127.0.0.1:{}", server.addr().port());
    client.request("GET", "/assets/app.js").header("Origin", &own).send().await.expect(200);

    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ui_directory_unknown_paths_are_404() {
    let env = common::start(test_config(), false).await;
    let r = env.anonymous().get("/").await.expect(404);
    assert!(r.json()["error"].is_string());
    env.server.shutdown().await.unwrap();
}
