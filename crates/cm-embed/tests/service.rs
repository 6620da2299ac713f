//! The service the engine uses: batching, the cache, errors, the trait.

mod common;

use std::sync::Arc;

use cm_core::{EmbedKind, Embedder};
use cm_embed::{EmbedConfig, EmbedService, Error, ModelSpec};
use common::{config, cosine, fixture};

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("note {i}: the build on branch feature-{i} needs {} retries", i % 7)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_matches_the_reference_and_reports_itself() {
    let service = EmbedService::load_async(config(false)).await.unwrap();
    assert_eq!(service.model_id(), "all-minilm-l6-v2");
    assert_eq!(service.dimension(), 384);
    let info = service.info();
    assert!(info.load_time.as_nanos() > 0);
    if cfg!(target_os = "linux") {
        assert!(info.resident_memory_bytes.unwrap() > 50 * 1024 * 1024, "{info:?}");
    }
    assert!(info.runtime_version.as_deref().is_some_and(|v| v.starts_with("1.")), "{info:?}");
    let json = serde_json::to_value(info).unwrap();
    assert!(json["load_ms"].as_f64().unwrap() > 0.0);

    let fixture = fixture();
    let embedder: Arc<dyn Embedder> = Arc::new(service);
    let vectors = embedder.embed(&fixture.sentences, EmbedKind::Passage).await.unwrap();
    for (got, want) in vectors.iter().zip(&fixture.embeddings) {
        assert!(cosine(got, want) >= 0.9999);
    }
    assert!(embedder.embed(&[], EmbedKind::Query).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn int8_variant_has_its_own_id() {
    let service = EmbedService::load_async(config(true)).await.unwrap();
    assert_eq!(service.model_id(), "all-minilm-l6-v2-int8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_batched_and_agree_with_single_ones() {
    let config = EmbedConfig { cache_capacity: 0, ..config(false) };
    let service = EmbedService::load_async(config).await.unwrap();
    let texts = texts(64);

    let mut one_by_one = Vec::new();
    for text in &texts {
        one_by_one.push(service.embed_texts(std::slice::from_ref(text), EmbedKind::Query).await.unwrap());
    }
    let before = service.stats();
    assert_eq!(before.batches, 64);

    let mut tasks = tokio::task::JoinSet::new();
    for (i, text) in texts.iter().enumerate() {
        let service = service.clone();
        let text = text.clone();
        tasks.spawn(async move { (i, service.embed_texts(&[text], EmbedKind::Query).await.unwrap()) });
    }
    let mut answered = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, vectors) = joined.unwrap();
        assert_eq!(vectors.len(), 1);
        let similarity = cosine(&vectors[0], &one_by_one[i][0]);
        assert!(similarity > 0.99999, "text {i}: cosine {similarity}");
        answered += 1;
    }
    assert_eq!(answered, 64);

    let after = service.stats();
    let batches = after.batches - before.batches;
    assert_eq!(after.requests - before.requests, 64);
    assert_eq!(after.texts_embedded - before.texts_embedded, 64);
    eprintln!("64 concurrent requests ran as {batches} batches");
    assert!(batches < 64, "64 concurrent requests ran as {batches} batches: no batching happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hit_returns_the_identical_vector() {
    let service = EmbedService::load_async(config(false)).await.unwrap();
    let query = vec!["what did we decide about tabs in Makefiles?".to_string()];
    let first = service.embed_texts(&query, EmbedKind::Query).await.unwrap();
    let stats = service.stats();
    let second = service.embed_texts(&query, EmbedKind::Query).await.unwrap();
    assert_eq!(first, second);
    let after = service.stats();
    assert_eq!(after.cache_hits, stats.cache_hits + 1);
    assert_eq!(after.batches, stats.batches, "a cache hit must not reach the worker");

    // The kind is part of the key: the same text as a passage is a miss.
    service.embed_texts(&query, EmbedKind::Passage).await.unwrap();
    assert_eq!(service.stats().batches, stats.batches + 1);

    // A request mixing cached and new texts keeps its order.
    let mixed = vec!["a brand new note".to_string(), query[0].clone()];
    let vectors = service.embed_texts(&mixed, EmbedKind::Query).await.unwrap();
    assert_eq!(vectors[1], first[0]);
    assert!(cosine(&vectors[0], &first[0]) < 0.99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_fails_fast() {
    let config = EmbedConfig { queue_capacity: 1, max_batch: 1, cache_capacity: 0, ..config(false) };
    let service = EmbedService::load_async(config).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for text in texts(40) {
        let service = service.clone();
        tasks.spawn(async move { service.embed_texts(&[text], EmbedKind::Passage).await });
    }
    let (mut ok, mut full) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(vectors) => {
                assert_eq!(vectors[0].len(), 384);
                ok += 1;
            }
            Err(Error::QueueFull { capacity: 1 }) => full += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert!(ok >= 1 && full >= 1, "ok {ok}, queue full {full}");
    assert_eq!(service.stats().rejected, full);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_model_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model");
    let mut config = config(false);
    config.model_dir = missing.clone();
    let err = EmbedService::load_async(config).await.unwrap_err();
    assert!(matches!(&err, Error::ModelNotFound { path } if *path == missing), "{err}");
    assert!(err.to_string().contains("no-such-model"), "{err}");

    // A directory without the ONNX file names the file.
    std::fs::create_dir(&missing).unwrap();
    std::fs::copy(common::model_dir().join("tokenizer.json"), missing.join("tokenizer.json")).unwrap();
    let mut config = common::config(false);
    config.model_dir = missing.clone();
    config.spec = ModelSpec::all_minilm_l6_v2();
    let err = EmbedService::load(config).unwrap_err();
    assert!(matches!(&err, Error::ModelNotFound { path } if *path == missing.join("model.onnx")), "{err}");
}

#[test]
fn blocking_load_works_outside_a_runtime() {
    let service = EmbedService::load(config(false)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let vectors = runtime.block_on(service.embed_texts(&texts(3), EmbedKind::Passage)).unwrap();
    assert_eq!(vectors.len(), 3);
    // Dropping the last handle stops the worker; nothing should hang here.
    drop(service);
}
