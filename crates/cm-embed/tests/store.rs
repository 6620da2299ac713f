//! The model store on real files: installing the test model from a
//! directory and from archives, recognising it, verifying, removing, and
//! loading what was installed.

mod common;

use std::borrow::Cow;
use std::fs;
use std::io::Write;

use cm_core::{EmbedKind, Embedder};
use cm_embed::store::{LOCAL_BUILD_NOTE, MANIFEST_FILE};
use cm_embed::{
    CatalogueEntry, EmbedService, Error, FileCheck, InstallOptions, InstallSource, ModelFile, ModelSpec,
    ModelState, ModelStore,
};
use common::hub::sha256_hex;
use common::{cosine, fixture, model_dir, ort_library};

/// A catalogue entry for the test model's float32 files, pinned to their
/// real hashes, so it can be recognised and fully verified.
fn pinned_entry() -> CatalogueEntry {
    let dir = model_dir();
    let pin = |repo_path: &'static str, name: &'static str| {
        let bytes = fs::read(dir.join(name)).unwrap();
        ModelFile {
            repo_path: Cow::Borrowed(repo_path),
            name: Cow::Borrowed(name),
            size: Some(bytes.len() as u64),
            sha256: Some(sha256_hex(&bytes).into()),
            approx_bytes: bytes.len() as u64,
        }
    };
    CatalogueEntry {
        spec: ModelSpec { id: "test-minilm".into(), ..ModelSpec::all_minilm_l6_v2() },
        display_name: "test MiniLM".into(),
        repo: "test-org/minilm".into(),
        revision: "0123456789abcdef0123456789abcdef01234567".into(),
        files: vec![pin("onnx/model.onnx", "model.onnx"), pin("tokenizer.json", "tokenizer.json")].into(),
        languages: "English".into(),
        licence: "Apache-2.0".into(),
        calibration: None,
    }
}

fn named(id: &str) -> InstallOptions {
    InstallOptions { model: Some(id.into()), replace: false }
}

#[test]
fn local_build_installs_only_when_named_and_says_so() {
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::new(home.path().join("models"));

    // The test model's ONNX file was exported locally, so it matches no
    // Hugging Face hash: without a name it cannot be recognised, and the
    // error says what was found.
    let err = store.install_from(&model_dir(), &InstallOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::Unrecognised { .. }), "{err}");
    assert!(message.contains("model.onnx (") && message.contains("model_int8.onnx ("), "{message}");
    assert!(message.contains("--model"), "{message}");
    assert!(!store.is_installed("all-minilm-l6-v2"));

    let installed = store.install_from(&model_dir(), &named("all-minilm-l6-v2")).unwrap();
    assert_eq!(installed.id, "all-minilm-l6-v2");
    assert!(matches!(installed.state, ModelState::LocalBuild { .. }), "{:?}", installed.state);
    let manifest = installed.manifest.unwrap();
    assert_eq!(manifest.verification, LOCAL_BUILD_NOTE);
    assert!(matches!(manifest.source, InstallSource::Local { .. }));
    let onnx = manifest.files.iter().find(|f| f.name == "model.onnx").unwrap();
    assert_eq!(onnx.check, FileCheck::LocalBuild);
    assert_eq!(onnx.sha256, sha256_hex(&fs::read(model_dir().join("model.onnx")).unwrap()));
    // Exactly the catalogue's files, plus the manifest.
    let mut names: Vec<String> = fs::read_dir(store.path("all-minilm-l6-v2"))
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [MANIFEST_FILE, "model.onnx", "tokenizer.json"]);
    assert!(store.is_installed("all-minilm-l6-v2"));

    // Installing again is refused unless replacing is asked for.
    let again = store.install_from(&model_dir(), &named("all-minilm-l6-v2")).unwrap_err();
    assert!(matches!(again, Error::AlreadyInstalled { .. }), "{again}");
    let replace = InstallOptions { replace: true, ..named("all-minilm-l6-v2") };
    store.install_from(&model_dir(), &replace).unwrap();

    let unknown = store.install_from(&model_dir(), &named("no-such-model")).unwrap_err();
    assert!(unknown.to_string().contains("bge-m3"), "the error lists the known ids: {unknown}");
}

#[test]
fn recognised_by_hash_and_fully_verified() {
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::with_catalogue(home.path(), vec![pinned_entry()]);
    let installed = store.install_from(&model_dir(), &InstallOptions::default()).unwrap();
    assert_eq!(installed.id, "test-minilm");
    assert_eq!(installed.state, ModelState::Verified);
    assert!(installed.size_on_disk > 90_000_000);
    assert_eq!(installed.entry.unwrap().display_name, "test MiniLM");

    let report = store.verify("test-minilm").unwrap();
    assert_eq!(report.state, ModelState::Verified);
    assert!(report.files.iter().all(|f| f.check == FileCheck::Pinned));

    // One flipped byte is caught by `verify`; a truncated file even by `list`.
    let onnx = store.path("test-minilm").join("model.onnx");
    let mut bytes = fs::read(&onnx).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&onnx, &bytes).unwrap();
    assert!(matches!(store.verify("test-minilm").unwrap().state, ModelState::Damaged { .. }));
    fs::write(&onnx, &bytes[..500]).unwrap();
    let listed = store.list().unwrap();
    assert!(matches!(listed[0].state, ModelState::Damaged { .. }), "{:?}", listed[0].state);
}

#[test]
fn a_mismatch_without_a_name_is_refused() {
    // The ONNX file matches, the tokenizer does not: recognised, but not installed.
    let mut entry = pinned_entry();
    entry.files.to_mut()[1].sha256 = Some("0".repeat(64).into());
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::with_catalogue(home.path(), vec![entry]);
    let err = store.install_from(&model_dir(), &InstallOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Integrity { what: "sha256", .. }), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert!(
        fs::read_dir(home.path()).unwrap().all(|d| !d
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".partial"))
    );
}

#[test]
fn installs_from_tar_gz_and_zip() {
    let work = tempfile::tempdir().unwrap();
    let files = ["model.onnx", "tokenizer.json"];

    // A .tar.gz with everything inside one folder, as `tar czf x.tgz dir/` makes it.
    let tgz = work.path().join("minilm.tar.gz");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        fs::File::create(&tgz).unwrap(),
        flate2::Compression::fast(),
    ));
    for name in files {
        tar.append_path_with_name(model_dir().join(name), format!("all-minilm-l6-v2/{name}")).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();

    // A flat .zip.
    let zip_path = work.path().join("minilm.zip");
    let mut zip = zip::ZipWriter::new(fs::File::create(&zip_path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for name in files {
        zip.start_file(name, options).unwrap();
        zip.write_all(&fs::read(model_dir().join(name)).unwrap()).unwrap();
    }
    zip.finish().unwrap();

    for archive in [&tgz, &zip_path] {
        let home = tempfile::tempdir().unwrap();
        let store = ModelStore::with_catalogue(home.path(), vec![pinned_entry()]);
        let installed = store.install_from(archive, &InstallOptions::default()).unwrap();
        assert_eq!(installed.state, ModelState::Verified, "{}", archive.display());
        // Nothing unpacked is left behind.
        let leftovers: Vec<_> = fs::read_dir(home.path())
            .unwrap()
            .map(|d| d.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with(".lock-"))
            .collect();
        assert_eq!(leftovers, ["test-minilm"], "{}", archive.display());
    }
}

#[test]
fn archives_cannot_write_outside_the_store() {
    let work = tempfile::tempdir().unwrap();
    let evil = work.path().join("evil.zip");
    let mut zip = zip::ZipWriter::new(fs::File::create(&evil).unwrap());
    zip.start_file("../escaped.txt", zip::write::SimpleFileOptions::default()).unwrap();
    zip.write_all(b"gotcha").unwrap();
    zip.finish().unwrap();

    let store = ModelStore::new(work.path().join("store").join("models"));
    let err = store.install_from(&evil, &named("all-minilm-l6-v2")).unwrap_err();
    assert!(matches!(err, Error::Archive { .. }), "{err}");
    assert!(!work.path().join("store").join("escaped.txt").exists());

    let not_archive = work.path().join("model.rar");
    fs::write(&not_archive, b"x").unwrap();
    let err = store.install_from(&not_archive, &named("all-minilm-l6-v2")).unwrap_err();
    assert!(err.to_string().contains(".tar.gz"), "{err}");
}

#[test]
fn remove_and_half_installed_directories() {
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::with_catalogue(home.path(), vec![pinned_entry()]);
    // A staging directory left by a crash is not a model.
    let stale = home.path().join(".partial-test-minilm-deadbeef");
    fs::create_dir_all(&stale).unwrap();
    fs::copy(model_dir().join("tokenizer.json"), stale.join("tokenizer.json")).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(!store.is_installed("test-minilm"));
    assert!(matches!(store.embed_config("test-minilm"), Err(Error::NotInstalled { .. })));

    store.install_from(&model_dir(), &InstallOptions::default()).unwrap();
    assert!(store.is_installed("test-minilm"));
    store.remove("test-minilm").unwrap();
    assert!(!store.is_installed("test-minilm"));
    assert!(!store.path("test-minilm").exists());
    assert!(!stale.exists(), "removing a model also clears what its failed installs left");
    assert!(matches!(store.remove("test-minilm"), Err(Error::NotInstalled { .. })));
    assert!(store.list().unwrap().is_empty());

    // A directory put there by hand is listed, but as unmanaged.
    fs::create_dir_all(home.path().join("hand-made")).unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, ModelState::Unmanaged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_model_loads_and_embeds() {
    let home = tempfile::tempdir().unwrap();
    let store = ModelStore::new(home.path().join("models"));
    store.install_from(&model_dir(), &named("all-minilm-l6-v2")).unwrap();

    let mut config = store.embed_config("all-minilm-l6-v2").unwrap();
    assert_eq!(config.model_dir, store.path("all-minilm-l6-v2"));
    config.onnxruntime = Some(ort_library());
    let service = EmbedService::load_async(config).await.unwrap();
    assert_eq!(service.model_id(), "all-minilm-l6-v2");

    let fixture = fixture();
    let vectors = service.embed_texts(&fixture.sentences, EmbedKind::Passage).await.unwrap();
    for (got, want) in vectors.iter().zip(&fixture.embeddings) {
        assert!(cosine(got, want) >= 0.9999);
    }
}
