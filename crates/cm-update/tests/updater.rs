//! The updater against a real HTTP server on 127.0.0.1 serving a release
//! signed with a key pair made here, in the files `tauri signer` writes:
//! a good release is found and its package downloaded and verified; a
//! tampered or unsigned manifest, a tampered package, another key's
//! signature and a stopped server are each refused without a trace on disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cm_testkit::http::read_request;
use cm_update::{Config, Error, Updater, Version};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const PLATFORM: &str = "linux-x86_64-deb";

/// A release key pair, encoded as Tauri's signer encodes it.
struct Key(minisign::KeyPair);

impl Key {
    fn new() -> Key {
        Key(minisign::KeyPair::generate_unencrypted_keypair().unwrap())
    }

    /// What `tauri signer generate` prints as the public key.
    fn public(&self) -> String {
        STANDARD.encode(self.0.pk.to_box().unwrap().to_string())
    }

    /// What `tauri signer sign` writes to `<file>.sig`.
    fn sign(&self, data: &[u8]) -> String {
        let sig = minisign::sign(Some(&self.0.pk), &self.0.sk, data, Some("file:test"), None).unwrap();
        STANDARD.encode(sig.to_string())
    }
}

/// A static file server: path → body; anything else is 404.
#[derive(Clone, Default)]
struct Server {
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Server {
    async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let files = self.files.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let files = files.clone();
                tokio::spawn(async move {
                    let Ok(Some(request)) = read_request(&mut stream).await else { return };
                    let body = files.lock().unwrap().get(request.path()).cloned();
                    let (status, body) = match body {
                        Some(body) => ("200 OK", body),
                        None => ("404 Not Found", b"not found".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        url
    }

    fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.files.lock().unwrap().insert(path.to_owned(), body.into());
    }

    fn remove(&self, path: &str) {
        self.files.lock().unwrap().remove(path);
    }
}

/// A published release: a package and the signed manifest that names it.
struct Release {
    server: Server,
    url: String,
    key: Key,
    package: Vec<u8>,
}

impl Release {
    async fn publish(version: &str) -> Release {
        let server = Server::default();
        let url = server.start().await;
        let key = Key::new();
        // Bytes that are not all alike, over several read chunks.
        let package: Vec<u8> = (0..700_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let release = Release { server, url, key, package };
        release.server.put("/v/claude-memory_0.2.0_amd64.deb", release.package.clone());
        let manifest = release.manifest(version, &release.key.sign(&release.package));
        release.put_signed_manifest(&manifest, &release.key);
        release
    }

    fn manifest(&self, version: &str, package_signature: &str) -> Vec<u8> {
        serde_json::to_vec_pretty(&serde_json::json!({
            "version": version,
            "notes": "## What's new\n- Updates are signed\n- Faster search",
            "pub_date": "2026-12-04T00:00:00Z",
            "platforms": {
                PLATFORM: {"url": format!("{}/v/claude-memory_0.2.0_amd64.deb", self.url), "signature": package_signature},
                "windows-x86_64-msi": {"url": format!("{}/v/a.msi", self.url), "signature": package_signature},
            }
        }))
        .unwrap()
    }

    fn put_signed_manifest(&self, manifest: &[u8], key: &Key) {
        self.server.put("/latest.json", manifest.to_vec());
        self.server.put("/latest.json.sig", key.sign(manifest));
    }

    fn updater(&self, current: &str) -> Updater {
        Updater::new(Config {
            endpoint: format!("{}/latest.json", self.url),
            pubkey: self.key.public(),
            current: Version::parse(current).unwrap(),
            platform: PLATFORM.into(),
        })
        .unwrap()
    }
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_signed_newer_release_is_found_downloaded_and_verified() {
    let release = Release::publish("0.2.0").await;
    let update = release.updater("0.1.0").check().await.unwrap().expect("an update");
    assert_eq!(update.version, Version::new(0, 2, 0));
    assert_eq!(update.notes_lines(5, 60), ["What's new", "- Updates are signed", "- Faster search"]);
    assert!(update.url.ends_with("/v/claude-memory_0.2.0_amd64.deb"));

    let dir = tempfile::tempdir().unwrap();
    let path = release.updater("0.1.0").download(&update, dir.path()).await.unwrap();
    assert_eq!(path, dir.path().join("claude-memory_0.2.0_amd64.deb"));
    assert_eq!(std::fs::read(&path).unwrap(), release.package);
    assert_eq!(files_in(dir.path()), ["claude-memory_0.2.0_amd64.deb"]);

    // The running version, or a newer one, sees no update in the same manifest.
    assert_eq!(release.updater("0.2.0").check().await.unwrap(), None);
    assert_eq!(release.updater("0.3.0").check().await.unwrap(), None);
}

#[tokio::test]
async fn a_tampered_manifest_is_refused() {
    let release = Release::publish("0.2.0").await;
    let signed = release.manifest("0.2.0", &release.key.sign(&release.package));
    // Same signature, one changed byte: a newer version promised.
    let tampered = String::from_utf8(signed.clone()).unwrap().replace("0.2.0\"", "9.2.0\"");
    assert_ne!(tampered.as_bytes(), signed);
    release.server.put("/latest.json", tampered);
    let error = release.updater("0.1.0").check().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "refused: the update manifest is not signed by the release key (the signature does not match)"
    );
    assert!(!error.is_offline());
}

#[tokio::test]
async fn an_unsigned_manifest_is_refused() {
    let release = Release::publish("0.2.0").await;
    release.server.remove("/latest.json.sig");
    let error = release.updater("0.1.0").check().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "refused: the update manifest is not signed by the release key (it has no signature)"
    );
    // An empty or garbled signature file is no better.
    for garbage in ["", "not base64!", &STANDARD.encode("untrusted comment: x\nnonsense\n")] {
        release.server.put("/latest.json.sig", garbage);
        let error = release.updater("0.1.0").check().await.unwrap_err();
        assert!(
            matches!(error, Error::BadSignature { what: "the update manifest", .. }),
            "{garbage:?}: {error}"
        );
    }
}

#[tokio::test]
async fn a_manifest_signed_by_another_key_is_refused() {
    let release = Release::publish("0.2.0").await;
    let stranger = Key::new();
    let manifest = release.manifest("0.2.0", &stranger.sign(&release.package));
    release.put_signed_manifest(&manifest, &stranger);
    let error = release.updater("0.1.0").check().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "refused: the update manifest is not signed by the release key (it was signed by another key)"
    );
}

#[tokio::test]
async fn a_tampered_package_is_refused_and_removed() {
    let release = Release::publish("0.2.0").await;
    let update = release.updater("0.1.0").check().await.unwrap().unwrap();
    let mut tampered = release.package.clone();
    tampered[350_000] ^= 1;
    release.server.put("/v/claude-memory_0.2.0_amd64.deb", tampered);
    let dir = tempfile::tempdir().unwrap();
    let error = release.updater("0.1.0").download(&update, dir.path()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "refused: the update package is not signed by the release key (the signature does not match)"
    );
    assert_eq!(files_in(dir.path()), Vec::<String>::new(), "nothing of a refused package stays");
}

#[tokio::test]
async fn a_package_signed_by_another_key_is_refused() {
    // The manifest is the release's, but it carries a stranger's package
    // signature (a release pipeline signing with the wrong key).
    let release = Release::publish("0.2.0").await;
    let manifest = release.manifest("0.2.0", &Key::new().sign(&release.package));
    release.put_signed_manifest(&manifest, &release.key);
    let update = release.updater("0.1.0").check().await.unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let error = release.updater("0.1.0").download(&update, dir.path()).await.unwrap_err();
    assert!(error.to_string().contains("(it was signed by another key)"), "{error}");
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_stopped_server_is_offline() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let key = Key::new();
    let updater = Updater::new(Config {
        endpoint: format!("http://127.0.0.1:{port}/latest.json"),
        pubkey: key.public(),
        current: Version::new(0, 1, 0),
        platform: PLATFORM.into(),
    })
    .unwrap();
    let error = updater.check().await.unwrap_err();
    assert!(error.is_offline(), "{error}");
    assert!(error.to_string().starts_with("the update server cannot be reached: "), "{error}");
}

#[tokio::test]
async fn a_missing_manifest_is_a_server_error_not_offline() {
    let release = Release::publish("0.2.0").await;
    release.server.remove("/latest.json");
    let error = release.updater("0.1.0").check().await.unwrap_err();
    assert!(matches!(error, Error::Status { status: 404, .. }), "{error}");
}

#[test]
fn a_bad_key_or_endpoint_is_refused_at_start() {
    let config = |pubkey: &str, endpoint: &str| Config {
        endpoint: endpoint.into(),
        pubkey: pubkey.into(),
        current: Version::new(0, 1, 0),
        platform: PLATFORM.into(),
    };
    let good = Key::new().public();
    let error = Updater::new(config("", "https://h/latest.json")).unwrap_err();
    assert_eq!(error.to_string(), "the update public key is not valid: none is configured");
    assert!(matches!(Updater::new(config("bm90IGEga2V5", "https://h/latest.json")), Err(Error::BadKey(_))));
    assert!(matches!(Updater::new(config(&good, "not a url")), Err(Error::BadEndpoint(_))));
    // The bare minisign key line is accepted as well as Tauri's encoding.
    let key = Key::new();
    let bare = key.0.pk.to_base64();
    assert!(Updater::new(config(&bare, "https://h/latest.json")).is_ok());
}

/// The release workflow's manifest (installers/update-manifest.sh over the
/// platform-named, signed packages) is what the app reads: every platform
/// finds its own package and verifies it.
#[tokio::test]
async fn the_release_workflows_manifest_gives_each_platform_its_package() {
    let key = Key::new();
    let dist = tempfile::tempdir().unwrap();
    let packages = [
        ("linux-x86_64-claude-memory_0.2.0_amd64.deb", "linux-x86_64-deb"),
        ("linux-x86_64-claude-memory-0.2.0-1.x86_64.rpm", "linux-x86_64-rpm"),
        ("macos-arm64-claude-memory_0.2.0_aarch64.dmg", "darwin-aarch64-dmg"),
        ("windows-x86_64-claude-memory_0.2.0_x64_en-US.msi", "windows-x86_64-msi"),
        ("windows-x86_64-claude-memory_0.2.0_x64-setup.exe", "windows-x86_64-nsis"),
    ];
    let server = Server::default();
    let url = server.start().await;
    for (name, _) in packages.iter().chain([&("macos-arm64-claude-memory.app.zip", "")]) {
        let body = format!("the package {name}").repeat(1000);
        std::fs::write(dist.path().join(name), &body).unwrap();
        std::fs::write(dist.path().join(format!("{name}.sig")), key.sign(body.as_bytes())).unwrap();
        server.put(&format!("/download/v0.2.0/{name}"), body);
    }
    std::fs::write(dist.path().join("SHA256SUMS"), "sums\n").unwrap();
    let notes = dist.path().join("notes.md");
    std::fs::write(&notes, "## What's Changed\n* Signed updates\n").unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../installers/update-manifest.sh");
    let run = |dir: &std::path::Path| {
        std::process::Command::new("bash")
            .arg(script)
            .args(["v0.2.0", &format!("{url}/download/v0.2.0/")])
            .arg(dir)
            .arg(&notes)
            .output()
            .unwrap()
    };
    let out = run(dist.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = out.stdout;
    server.put("/latest.json", manifest.clone());
    server.put("/latest.json.sig", key.sign(&manifest));

    let downloads = tempfile::tempdir().unwrap();
    for (name, platform) in packages {
        let updater = Updater::new(Config {
            endpoint: format!("{url}/latest.json"),
            pubkey: key.public(),
            current: Version::new(0, 1, 0),
            platform: platform.into(),
        })
        .unwrap();
        let update = updater.check().await.unwrap().expect(platform);
        assert_eq!(update.version, Version::new(0, 2, 0));
        assert_eq!(update.notes, "## What's Changed\n* Signed updates\n");
        let path = updater.download(&update, downloads.path()).await.unwrap();
        assert_eq!(path.file_name().unwrap().to_str(), Some(name), "{platform}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("the package {name}").repeat(1000));
    }
    let intel_mac = Updater::new(Config {
        endpoint: format!("{url}/latest.json"),
        pubkey: key.public(),
        current: Version::new(0, 1, 0),
        platform: "darwin-x86_64-dmg".into(),
    })
    .unwrap();
    assert!(matches!(intel_mac.check().await, Err(Error::BadManifest(_))));

    // A package without its signature stops the release.
    std::fs::remove_file(dist.path().join("linux-x86_64-claude-memory-0.2.0-1.x86_64.rpm.sig")).unwrap();
    let out = run(dist.path());
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: linux-x86_64-claude-memory-0.2.0-1.x86_64.rpm is not signed (no linux-x86_64-claude-memory-0.2.0-1.x86_64.rpm.sig)\n"
    );
}
