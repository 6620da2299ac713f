//! The embedder the engine uses: one model on a worker thread, shared by
//! every project.
//!
//! Inference is CPU-bound and takes milliseconds to seconds, so it must not
//! run on the async runtime's threads. A dedicated OS thread owns the
//! [`Model`] (an ONNX session is not meant to be shared across threads
//! anyway); callers send requests over a bounded channel and await the answer
//! on a oneshot channel. Each time the worker wakes it takes every request
//! already waiting, up to [`EmbedConfig::max_batch`] texts, and runs them as
//! one batch — when several hooks fire at once they share one inference
//! instead of queueing one by one. A full queue is refused at once
//! ([`Error::QueueFull`]) rather than growing without bound.

use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use std::{fmt, thread};

use cm_core::{EmbedFuture, EmbedKind, Embedder};
use lru::LruCache;
use serde::{Serialize, Serializer};
use tokio::sync::oneshot;

use crate::model::{Model, ModelOptions};
use crate::spec::{ModelSpec, Pooling};
use crate::{Error, Result, process, runtime};

/// How to start an [`EmbedService`].
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    /// Directory holding `tokenizer.json` and the ONNX file.
    pub model_dir: PathBuf,
    /// The model in it.
    pub spec: ModelSpec,
    /// The ONNX Runtime library, if configured; otherwise it is searched for
    /// (see [`find_onnxruntime`](crate::find_onnxruntime)).
    pub onnxruntime: Option<PathBuf>,
    /// Threads and batch limits of the model itself.
    pub model: ModelOptions,
    /// Most texts the worker gathers from waiting requests into one batch
    /// (a single larger request is still served whole).
    pub max_batch: usize,
    /// Most requests waiting for the worker; beyond that, requests fail fast.
    pub queue_capacity: usize,
    /// Entries in the cache of recent vectors, keyed by kind and text; 0 turns it off.
    pub cache_capacity: usize,
}

impl EmbedConfig {
    /// The defaults for `spec` in `model_dir`.
    pub fn new(model_dir: impl Into<PathBuf>, spec: ModelSpec) -> EmbedConfig {
        EmbedConfig {
            model_dir: model_dir.into(),
            spec,
            onnxruntime: None,
            model: ModelOptions::default(),
            max_batch: 32,
            queue_capacity: 256,
            cache_capacity: 256,
        }
    }
}

/// What was loaded, and what loading cost.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// The model's id, variant included; recorded with every vector.
    pub model_id: String,
    /// Length of its vectors.
    pub dimension: usize,
    /// Its pooling.
    pub pooling: Pooling,
    /// Its token limit.
    pub max_tokens: usize,
    /// The ONNX file.
    pub onnx_path: PathBuf,
    /// The model inputs fed.
    pub inputs: Vec<String>,
    /// The ONNX Runtime library.
    pub runtime_path: PathBuf,
    /// Its version, when known.
    pub runtime_version: Option<String>,
    /// Threads used inside one inference.
    pub intra_threads: usize,
    /// Wall time to load the runtime (if this was the first model), the tokenizer and the model.
    #[serde(rename = "load_ms", serialize_with = "millis")]
    pub load_time: Duration,
    /// Resident memory of the whole process once the model was loaded (Linux only).
    pub resident_memory_bytes: Option<u64>,
}

/// Counters since the service started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ServiceStats {
    /// Calls to embed (with at least one text).
    pub requests: u64,
    /// Texts asked for.
    pub texts: u64,
    /// Texts answered from the cache.
    pub cache_hits: u64,
    /// Batches the worker ran; fewer than requests when requests were batched together.
    pub batches: u64,
    /// Texts the worker embedded.
    pub texts_embedded: u64,
    /// Requests refused because the queue was full.
    pub rejected: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    texts: AtomicU64,
    cache_hits: AtomicU64,
    batches: AtomicU64,
    texts_embedded: AtomicU64,
    rejected: AtomicU64,
}

fn bump(counter: &AtomicU64, by: usize) {
    counter.fetch_add(by as u64, Ordering::Relaxed);
}

/// One request to the worker.
struct Job {
    items: Vec<(EmbedKind, String)>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>>>,
}

type Cache = LruCache<(EmbedKind, String), Vec<f32>>;

/// The shared embedder: cheap to clone, one model and one worker thread
/// behind every clone. The worker stops when the last clone is dropped.
#[derive(Clone)]
pub struct EmbedService {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: SyncSender<Job>,
    info: ModelInfo,
    queue_capacity: usize,
    cache: Option<Mutex<Cache>>,
    counters: Arc<Counters>,
}

impl fmt::Debug for EmbedService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbedService")
            .field("model_id", &self.inner.info.model_id)
            .field("dimension", &self.inner.info.dimension)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl EmbedService {
    /// Loads the runtime and the model on a new worker thread and waits for
    /// it: blocks for the load time (typically well under a second). From
    /// async code use [`EmbedService::load_async`].
    #[tracing::instrument(skip_all, err, fields(model = %config.spec.id))]
    pub fn load(config: EmbedConfig) -> Result<EmbedService> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (jobs, counters, cache, queue_capacity) = start(
            config,
            Box::new(move |loaded| {
                // The caller may have gone; nothing to do then.
                let _ = tx.send(loaded);
            }),
        )?;
        let info = rx.recv().map_err(|_| Error::WorkerStopped { reason: Some("while loading".into()) })??;
        Ok(EmbedService { inner: Arc::new(Inner { jobs, info, queue_capacity, cache, counters }) })
    }

    /// Like [`EmbedService::load`], but awaits the worker without blocking the runtime.
    #[tracing::instrument(skip_all, err, fields(model = %config.spec.id))]
    pub async fn load_async(config: EmbedConfig) -> Result<EmbedService> {
        let (tx, rx) = oneshot::channel();
        let (jobs, counters, cache, queue_capacity) = start(
            config,
            Box::new(move |loaded| {
                let _ = tx.send(loaded);
            }),
        )?;
        let info = rx.await.map_err(|_| Error::WorkerStopped { reason: Some("while loading".into()) })??;
        Ok(EmbedService { inner: Arc::new(Inner { jobs, info, queue_capacity, cache, counters }) })
    }

    /// What was loaded.
    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    /// Counters since start.
    pub fn stats(&self) -> ServiceStats {
        let c = &self.inner.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ServiceStats {
            requests: get(&c.requests),
            texts: get(&c.texts),
            cache_hits: get(&c.cache_hits),
            batches: get(&c.batches),
            texts_embedded: get(&c.texts_embedded),
            rejected: get(&c.rejected),
        }
    }

    /// Embeds `texts` of `kind`: one L2-normalised vector per text, in order.
    /// Texts seen recently come from the cache; the rest go to the worker as
    /// one request.
    pub async fn embed_texts(&self, texts: &[String], kind: EmbedKind) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inner = &self.inner;
        bump(&inner.counters.requests, 1);
        bump(&inner.counters.texts, texts.len());

        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        if let Some(cache) = &inner.cache {
            let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
            for (slot, text) in vectors.iter_mut().zip(texts) {
                // The key is cloned for the lookup; a few hundred bytes are
                // nothing next to an inference.
                *slot = cache.get(&(kind, text.clone())).cloned();
            }
        }
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| vectors[i].is_none()).collect();
        bump(&inner.counters.cache_hits, texts.len() - missing.len());

        if !missing.is_empty() {
            let items = missing.iter().map(|&i| (kind, texts[i].clone())).collect();
            let computed = self.submit(items).await?;
            if computed.len() != missing.len() {
                return Err(Error::WorkerStopped { reason: Some("answer of the wrong length".into()) });
            }
            let mut cache = inner.cache.as_ref().map(|c| c.lock().unwrap_or_else(PoisonError::into_inner));
            for (&i, vector) in missing.iter().zip(computed) {
                if let Some(cache) = cache.as_mut() {
                    cache.put((kind, texts[i].clone()), vector.clone());
                }
                vectors[i] = Some(vector);
            }
        }
        Ok(vectors.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Queues `items` for the worker and awaits the vectors.
    async fn submit(&self, items: Vec<(EmbedKind, String)>) -> Result<Vec<Vec<f32>>> {
        let (reply, answer) = oneshot::channel();
        match self.inner.jobs.try_send(Job { items, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                bump(&self.inner.counters.rejected, 1);
                return Err(Error::QueueFull { capacity: self.inner.queue_capacity });
            }
            Err(TrySendError::Disconnected(_)) => return Err(Error::WorkerStopped { reason: None }),
        }
        answer.await.map_err(|_| Error::WorkerStopped { reason: None })?
    }
}

impl Embedder for EmbedService {
    fn model_id(&self) -> &str {
        &self.inner.info.model_id
    }

    fn dimension(&self) -> usize {
        self.inner.info.dimension
    }

    fn calibration(&self) -> Option<cm_core::Calibration> {
        crate::catalogue::entry(&self.inner.info.model_id).and_then(|e| e.calibration)
    }

    fn embed<'a>(&'a self, texts: &'a [String], kind: EmbedKind) -> EmbedFuture<'a> {
        Box::pin(async move { self.embed_texts(texts, kind).await.map_err(Into::into) })
    }
}

type LoadReport = Box<dyn FnOnce(Result<ModelInfo>) + Send>;

/// Validates `config` and spawns the worker, which loads the model, reports
/// through `report`, then serves jobs until every sender is gone.
#[allow(clippy::type_complexity)]
fn start(
    config: EmbedConfig,
    report: LoadReport,
) -> Result<(SyncSender<Job>, Arc<Counters>, Option<Mutex<Cache>>, usize)> {
    if config.max_batch == 0 || config.queue_capacity == 0 {
        return Err(Error::InvalidConfig("max_batch and queue_capacity must be at least 1".into()));
    }
    let (jobs, queue) = std::sync::mpsc::sync_channel(config.queue_capacity);
    let counters = Arc::new(Counters::default());
    let cache = NonZeroUsize::new(config.cache_capacity).map(|n| Mutex::new(LruCache::new(n)));
    let queue_capacity = config.queue_capacity;
    let worker_counters = Arc::clone(&counters);
    thread::Builder::new()
        .name("cm-embed-worker".into())
        .spawn(move || {
            let max_batch = config.max_batch;
            match load_model(config) {
                Ok((model, info)) => {
                    report(Ok(info));
                    serve(model, &queue, max_batch, &worker_counters);
                }
                Err(e) => report(Err(e)),
            }
        })
        .map_err(|e| Error::WorkerStopped {
            reason: Some(format!("could not start the worker thread: {e}")),
        })?;
    Ok((jobs, counters, cache, queue_capacity))
}

fn load_model(config: EmbedConfig) -> Result<(Model, ModelInfo)> {
    let started = Instant::now();
    let runtime = runtime::init_onnxruntime(config.onnxruntime.as_deref())?;
    let model = Model::load(runtime, &config.model_dir, config.spec, config.model)?;
    let load_time = started.elapsed();
    process::release_free_memory();
    let spec = model.spec();
    let info = ModelInfo {
        model_id: spec.id.to_string(),
        dimension: spec.dimension,
        pooling: spec.pooling,
        max_tokens: spec.max_tokens,
        onnx_path: model.onnx_path().to_path_buf(),
        inputs: model.input_names(),
        runtime_path: runtime.path().to_path_buf(),
        runtime_version: runtime.version().map(str::to_string),
        intra_threads: model.options().intra_threads,
        load_time,
        resident_memory_bytes: process::resident_memory_bytes(),
    };
    tracing::info!(
        model = %info.model_id,
        load_ms = load_time.as_millis(),
        rss_mib = info.resident_memory_bytes.map(|b| b / (1024 * 1024)),
        "embedding model ready"
    );
    Ok((model, info))
}

/// Texts embedded before an idle worker hands freed memory back.
const RELEASE_AFTER_TEXTS: usize = 8;

/// The worker's loop: wait for a job, take every other job already waiting
/// (up to `max_batch` texts), run them as one batch, answer each.
fn serve(mut model: Model, queue: &Receiver<Job>, max_batch: usize, counters: &Counters) {
    // Texts embedded since free memory was last handed back: done when the
    // queue runs dry, never between a caller and its answer.
    let mut unreleased = 0;
    loop {
        let first = match queue.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if unreleased >= RELEASE_AFTER_TEXTS {
                    process::release_free_memory();
                    unreleased = 0;
                }
                match queue.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            }
        };
        let mut texts = first.items.len();
        let mut batch = vec![first];
        while texts < max_batch {
            match queue.try_recv() {
                Ok(job) => {
                    texts += job.items.len();
                    batch.push(job);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        // A caller that gave up (its future was dropped) needs no answer.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let items: Vec<(EmbedKind, &str)> = batch
            .iter()
            .flat_map(|job| job.items.iter().map(|(kind, text)| (*kind, text.as_str())))
            .collect();
        bump(&counters.batches, 1);
        bump(&counters.texts_embedded, items.len());
        unreleased += items.len();

        // A panic in the tokenizer or the runtime bindings must not take the
        // worker down with it: the callers get an error and the next batch
        // is served as usual.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| model.embed_mixed(&items))).unwrap_or_else(
            |panic| {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(%reason, "embedding panicked");
                Err(Error::WorkerStopped { reason: Some(format!("embedding panicked: {reason}")) })
            },
        );
        match result {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for job in batch {
                    let answer: Vec<Vec<f32>> = vectors.by_ref().take(job.items.len()).collect();
                    let _ = job.reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, texts = items.len(), "embedding batch failed");
                for job in batch {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
    tracing::debug!("embedding worker stopped: every handle was dropped");
}

fn millis<S: Serializer>(duration: &Duration, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}
