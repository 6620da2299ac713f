//! Downloads through `hf-hub` from a local server speaking the Hugging Face
//! Hub's resolve protocol (see `common/hub.rs`), serving the test model's
//! files under a catalogue entry whose hashes are computed here.

mod common;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use cm_core::EmbedKind;
use cm_embed::{
    CancellationToken, CatalogueEntry, DownloadEvent, DownloadOptions, EmbedService, Error, FileCheck,
    InstallSource, ModelFile, ModelSpec, ModelState, ModelStore,
};
use common::hub::{FakeHub, Fault, sha256_hex};
use common::{cosine, model_dir, norm, ort_library};
use tokio::sync::mpsc;

const REPO: &str = "test-org/minilm-int8";
const REVISION: &str = "89abcdef0123456789abcdef0123456789abcdef";
const ONNX: &str = "onnx/model_quantized.onnx";

struct Served {
    hub: FakeHub,
    entry: CatalogueEntry,
    onnx_len: u64,
}

/// Serves the test model's int8 ONNX file (as an LFS file behind a CDN
/// redirect) and its tokenizer (as a git file), and a catalogue entry for
/// them. `pin_sizes` says whether the entry knows the exact sizes (if not,
/// they come from the Hub's answers).
async fn serve(pin_sizes: bool) -> Served {
    let dir = model_dir();
    let onnx = Arc::new(std::fs::read(dir.join("model_int8.onnx")).unwrap());
    let tokenizer = Arc::new(std::fs::read(dir.join("tokenizer.json")).unwrap());
    let file = |repo_path: &'static str, name: &'static str, bytes: &[u8]| ModelFile {
        repo_path: Cow::Borrowed(repo_path),
        name: Cow::Borrowed(name),
        size: pin_sizes.then_some(bytes.len() as u64),
        sha256: Some(sha256_hex(bytes).into()),
        approx_bytes: bytes.len() as u64,
    };
    let entry = CatalogueEntry {
        spec: ModelSpec {
            id: "test-minilm-int8".into(),
            ..ModelSpec::builtin("all-minilm-l6-v2-int8").unwrap()
        },
        display_name: "test MiniLM (int8)".into(),
        repo: REPO.into(),
        revision: REVISION.into(),
        files: vec![
            file(ONNX, "model_int8.onnx", &onnx),
            file("tokenizer.json", "tokenizer.json", &tokenizer),
        ]
        .into(),
        languages: "English".into(),
        licence: "Apache-2.0".into(),
        calibration: None,
    };
    let onnx_len = onnx.len() as u64;
    let hub =
        FakeHub::start(REPO, REVISION, vec![(ONNX, onnx, true), ("tokenizer.json", tokenizer, false)]).await;
    Served { hub, entry, onnx_len }
}

fn options(hub: &FakeHub) -> DownloadOptions {
    DownloadOptions {
        endpoint: Some(hub.endpoint.clone()),
        progress_interval: Duration::ZERO,
        ..DownloadOptions::default()
    }
}

fn drain(rx: &mut mpsc::UnboundedReceiver<DownloadEvent>) -> Vec<DownloadEvent> {
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    events
}

/// Names in the store directory other than lock files.
fn leftovers(store: &ModelStore) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(store.root())
        .map(|read| read.map(|d| d.unwrap().file_name().into_string().unwrap()).collect())
        .unwrap_or_default();
    names.retain(|n| !n.starts_with(".lock-"));
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_reports_progress_verifies_and_installs_a_loadable_model() {
    let served = serve(false).await;
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::with_catalogue(home.path().join("models"), vec![served.entry.clone()]);
    let (tx, mut rx) = mpsc::unbounded_channel();

    let installed = store
        .download("test-minilm-int8", &options(&served.hub), &tx, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(installed.state, ModelState::Verified);
    let manifest = installed.manifest.unwrap();
    assert_eq!(
        manifest.source,
        InstallSource::Download {
            endpoint: served.hub.endpoint.clone(),
            repo: REPO.into(),
            revision: REVISION.into()
        }
    );
    assert!(manifest.files.iter().all(|f| f.check == FileCheck::Pinned));

    let events = drain(&mut rx);
    let total = served.onnx_len + std::fs::metadata(model_dir().join("tokenizer.json")).unwrap().len();
    let DownloadEvent::Started { total_bytes, resumed_bytes, files, .. } = &events[0] else {
        panic!("first event: {:?}", events[0])
    };
    assert_eq!((*total_bytes, *resumed_bytes, *files), (Some(total), 0, 2), "sizes learnt from the Hub");
    let progress: Vec<(u64, Option<u64>)> = events
        .iter()
        .filter_map(|e| match e {
            DownloadEvent::Progress { bytes, total_bytes, .. } => Some((*bytes, *total_bytes)),
            _ => None,
        })
        .collect();
    assert!(progress.len() > 2, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0].0 <= w[1].0), "bytes only grow");
    assert_eq!(*progress.last().unwrap(), (total, Some(total)), "the last event is the total");
    let verified = events.iter().filter(|e| matches!(e, DownloadEvent::FileVerified { .. })).count();
    assert_eq!(verified, 2);
    assert!(matches!(events.last().unwrap(), DownloadEvent::Installed { .. }));
    assert_eq!(leftovers(&store), ["test-minilm-int8"]);

    // The CDN redirect was followed for the LFS file, and nothing was fetched twice.
    assert_eq!(served.hub.gets("/cdn/").len(), 1);

    let mut config = store.embed_config("test-minilm-int8").unwrap();
    config.onnxruntime = Some(ort_library());
    let service = EmbedService::load_async(config).await.unwrap();
    let texts =
        ["the build failed on a missing lockfile", "the CI build broke: lockfile missing", "I like tea"]
            .map(String::from);
    let v = service.embed_texts(&texts, EmbedKind::Passage).await.unwrap();
    assert_eq!(v[0].len(), 384);
    assert!((norm(&v[0]) - 1.0).abs() < 1e-4);
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_resumed_with_a_range_request() {
    let served = serve(true).await;
    served.hub.inject(ONNX, Fault::Drop { after: 5_000_000, times: 1 });
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::with_catalogue(home.path(), vec![served.entry.clone()]);
    let (tx, mut rx) = mpsc::unbounded_channel();

    let installed = store
        .download("test-minilm-int8", &options(&served.hub), &tx, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(installed.state, ModelState::Verified);

    let events = drain(&mut rx);
    let resumed = events.iter().find_map(|e| match e {
        DownloadEvent::Resuming { offset, .. } => Some(*offset),
        _ => None,
    });
    let offset = resumed.expect("a Resuming event");
    assert!((5_000_000 - 1024 * 1024..=5_000_000).contains(&offset), "resumed at {offset}");
    let gets = served.hub.gets("/cdn/");
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, None);
    assert_eq!(gets[1].range.as_deref(), Some(format!("bytes={offset}-{}", served.onnx_len - 1).as_str()));
    let bytes: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            DownloadEvent::Progress { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .collect();
    assert!(bytes.windows(2).all(|w| w[0] <= w[1]), "a resume does not count bytes twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_download_resumes_on_the_next_call() {
    let served = serve(false).await;
    served.hub.inject(ONNX, Fault::Drop { after: 3_000_000, times: 1 });
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::with_catalogue(home.path(), vec![served.entry.clone()]);
    let no_retries = DownloadOptions { max_retries: 0, ..options(&served.hub) };

    let err =
        store.download("test-minilm-int8", &no_retries, &(), &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, Error::Download { .. }), "{err}");
    assert!(err.to_string().contains(&served.hub.endpoint), "the error names the endpoint: {err}");
    assert!(!store.is_installed("test-minilm-int8"));
    let partial = leftovers(&store);
    assert_eq!(partial.len(), 1);
    assert!(partial[0].starts_with(".partial-test-minilm-int8-"), "{partial:?}");
    let part = store.root().join(&partial[0]).join("model_int8.onnx.part");
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept <= 3_000_000, "{kept}");

    let (tx, mut rx) = mpsc::unbounded_channel();
    store.download("test-minilm-int8", &no_retries, &tx, &CancellationToken::new()).await.unwrap();
    let DownloadEvent::Started { resumed_bytes, .. } = drain(&mut rx)[0] else { panic!() };
    assert_eq!(resumed_bytes, kept);
    let gets = served.hub.gets("/cdn/");
    assert_eq!(
        gets.last().unwrap().range.as_deref(),
        Some(format!("bytes={kept}-{}", served.onnx_len - 1).as_str())
    );
    assert_eq!(store.verify("test-minilm-int8").unwrap().state, ModelState::Verified);
    assert_eq!(leftovers(&store), ["test-minilm-int8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_leaves_nothing_installed() {
    let served = serve(true).await;
    served.hub.inject(ONNX, Fault::Stall { after: 2_000_000 });
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::with_catalogue(home.path(), vec![served.entry.clone()]);
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::unbounded_channel();

    let task = {
        let (store, cancel, options) = (store.clone(), cancel.clone(), options(&served.hub));
        tokio::spawn(async move { store.download("test-minilm-int8", &options, &tx, &cancel).await })
    };
    // Wait until bytes are flowing (and then stop flowing), then cancel.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("progress") {
            Some(DownloadEvent::Progress { file_bytes, .. }) if file_bytes >= 2_000_000 => break,
            Some(_) => continue,
            None => panic!("the download ended before it was cancelled"),
        }
    }
    cancel.cancel();
    let result =
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("cancel is prompt").unwrap();
    assert!(matches!(result, Err(Error::Cancelled { .. })), "{result:?}");
    assert!(!store.is_installed("test-minilm-int8"));
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_byte_fails_verification_and_installs_nothing() {
    let served = serve(true).await;
    served.hub.inject(ONNX, Fault::Corrupt { at: 1_234_567 });
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::with_catalogue(home.path(), vec![served.entry.clone()]);

    let err = store
        .download("test-minilm-int8", &options(&served.hub), &(), &CancellationToken::new())
        .await
        .unwrap_err();
    match &err {
        Error::Integrity { what, file, expected, actual, .. } => {
            assert_eq!((*what, file.as_str()), ("sha256", "model_int8.onnx"));
            assert_ne!(expected, actual);
        }
        other => panic!("expected a sha256 error, got {other}"),
    }
    assert!(!store.is_installed("test-minilm-int8"));
    assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));

    // Once the server sends the right bytes, the same call succeeds.
    served.hub.clear_faults();
    store.download("test-minilm-int8", &options(&served.hub), &(), &CancellationToken::new()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_revision_or_file_is_a_clear_error() {
    let served = serve(true).await;
    let home = tempfile::tempdir().unwrap();
    let mut entry = served.entry.clone();
    entry.revision = "ffffffffffffffffffffffffffffffffffffffff".into();
    let store = ModelStore::with_catalogue(home.path(), vec![entry]);
    let err = store
        .download("test-minilm-int8", &options(&served.hub), &(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Download { .. }), "{err}");
    assert!(!store.is_installed("test-minilm-int8"));

    let err =
        store.download("nope", &options(&served.hub), &(), &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, Error::UnknownModel { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_hub_is_said_at_once_with_the_offline_way() {
    let served = serve(true).await;
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::with_catalogue(home.path(), vec![served.entry.clone()]);
    // A port nothing listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let options = DownloadOptions { endpoint: Some(endpoint.clone()), ..options(&served.hub) };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let err = store.download("test-minilm-int8", &options, &tx, &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&endpoint) && message.contains("--from"), "{message}");
    assert!(message.to_lowercase().contains("refused"), "the innermost cause: {message}");
    // Nothing was retried file by file.
    let resumed = drain(&mut rx).iter().filter(|e| matches!(e, DownloadEvent::Resuming { .. })).count();
    assert_eq!(resumed, 0);
    assert!(!store.is_installed("test-minilm-int8"));
}

#[test]
fn the_endpoint_is_configurable() {
    let explicit =
        DownloadOptions { endpoint: Some("http://127.0.0.1:9".into()), ..DownloadOptions::default() };
    assert_eq!(explicit.resolved_endpoint(), "http://127.0.0.1:9");
    // Without one, HF_ENDPOINT decides, and then huggingface.co.
    let fallback = DownloadOptions::default().resolved_endpoint();
    match std::env::var("HF_ENDPOINT") {
        Ok(env) if !env.is_empty() => assert_eq!(fallback, env),
        _ => assert_eq!(fallback, cm_embed::download::DEFAULT_ENDPOINT),
    }
}
