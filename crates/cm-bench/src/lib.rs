//! claude-memory's benchmarks: how fast the engine saves and searches, how
//! well it retrieves, and where its relevance thresholds belong. They drive
//! the engine through its public API and are not part of it; the CLI's
//! `claude-memory bench` commands depend on this crate, nothing else does.
//!
//! This module is `claude-memory bench search`: latency and throughput on
//! synthetic projects. Memories are generated from topical vocabularies and
//! embedded by a feature-hashing embedder (cm-testkit's [`HashEmbedder`]:
//! each word a fixed pseudo-random direction), so vectors have the clustered
//! structure of real text embeddings and the quantised scan's recall is
//! measured on something realistic rather than on uniform noise. Everything
//! goes through the real save and search pipelines.
//!
//! [`locomo`] measures retrieval quality rather than speed, on real conversations;
//! [`gate`] calibrates a model's hook and cluster thresholds; [`inject`]
//! measures what the prompt hook really injects.

mod error;
pub mod gate;
pub mod inject;
pub mod locomo;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use cm_core::{Config, Embedder, MemoryType, NewMemory, SearchMode, SearchRequest, Source};
use cm_engine::{Engine, Project};
use cm_testkit::HashEmbedder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

pub use error::{Error, Result};

/// What to measure.
#[derive(Debug, Clone)]
pub struct SearchBenchOptions {
    /// Project sizes.
    pub sizes: Vec<usize>,
    /// Vector dimension.
    pub dim: usize,
    /// Queries per mode.
    pub queries: usize,
    /// Where to build the projects (a temporary directory when `None`).
    pub dir: Option<PathBuf>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// Figures for one project size.
#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    /// Memories in the project.
    pub memories: usize,
    /// Memories per second through the bulk path (`Engine::record`: redact,
    /// batch-embed, insert; no dedupe), how the project was filled.
    pub ingest_per_second: f64,
    /// Saves per second through the whole save pipeline (redact, dedupe,
    /// embed, insert) into the filled project: whether saves slow down as a
    /// project grows.
    pub saves_per_second: f64,
    /// Database size in MiB.
    pub db_mib: f64,
    /// BM25-only search.
    pub bm25: Latency,
    /// Vector-only search with the default strategy for this size.
    pub vector: Latency,
    /// Hybrid search with the default strategy for this size.
    pub hybrid: Latency,
    /// Vector-only search forcing the exact float scan.
    pub vector_exact: Latency,
    /// Hybrid search forcing the exact float scan.
    pub hybrid_exact: Latency,
    /// Vector-only search forcing the sign-bit scan with exact re-scoring.
    pub vector_quantized: Latency,
    /// Hybrid search forcing the sign-bit scan.
    pub hybrid_quantized: Latency,
    /// Share of the exact top 10 that the quantised scan also returns.
    pub quantized_recall_at_10: f64,
}

/// The whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct SearchBenchReport {
    /// Vector dimension.
    pub dim: usize,
    /// Queries per mode.
    pub queries: usize,
    /// One entry per size.
    pub sizes: Vec<SizeReport>,
}

impl fmt::Display for SearchBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "search benchmark: {}-d vectors, {} queries per mode (ms: p50 / p99)",
            self.dim, self.queries
        )?;
        writeln!(
            f,
            "{:>8} {:>9} {:>9} {:>8} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>7}",
            "memories",
            "ingest/s",
            "saves/s",
            "db MiB",
            "bm25",
            "vector",
            "hybrid",
            "vector exact",
            "hybrid exact",
            "vector bit",
            "hybrid bit",
            "recall"
        )?;
        let l = |x: &Latency| format!("{:.2} / {:.2}", x.p50_ms, x.p99_ms);
        for s in &self.sizes {
            writeln!(
                f,
                "{:>8} {:>9.0} {:>9.0} {:>8.1} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>7.3}",
                s.memories,
                s.ingest_per_second,
                s.saves_per_second,
                s.db_mib,
                l(&s.bm25),
                l(&s.vector),
                l(&s.hybrid),
                l(&s.vector_exact),
                l(&s.hybrid_exact),
                l(&s.vector_quantized),
                l(&s.hybrid_quantized),
                s.quantized_recall_at_10
            )?;
        }
        write!(
            f,
            "(\"bit\": sign-bit KNN over all vectors, best {}×k re-scored exactly)",
            Config::default().search.rescore_factor
        )
    }
}

/// Synthetic notes and queries: pseudo-words drawn from topics, with a
/// skewed general vocabulary, so full-text and vector search have realistic work.
#[derive(Debug)]
pub struct Corpus {
    rng: StdRng,
    general: Vec<String>,
    topics: Vec<Vec<String>>,
}

impl Corpus {
    /// A corpus drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let syllables = [
            "ka", "lo", "mi", "ser", "ta", "ven", "dor", "pli", "qua", "rus", "sto", "ne", "gra", "bel",
            "zu", "fin",
        ];
        let word = |rng: &mut StdRng| -> String {
            let n = rng.random_range(2..=4);
            (0..n).map(|_| syllables[rng.random_range(0..syllables.len())]).collect()
        };
        let general = (0..3000).map(|_| word(&mut rng)).collect();
        let topics = (0..300).map(|_| (0..25).map(|_| word(&mut rng)).collect()).collect();
        Corpus { rng, general, topics }
    }

    /// A note of 12 to 30 words, most from one topic.
    pub fn note(&mut self) -> String {
        let topic = self.rng.random_range(0..self.topics.len());
        let n = self.rng.random_range(12..30);
        let mut words = Vec::with_capacity(n + 1);
        for _ in 0..n {
            if self.rng.random_bool(0.5) {
                words.push(self.topics[topic][self.rng.random_range(0..25)].clone());
            } else {
                // A skewed draw: common words are far more frequent, like real text.
                let r: f64 = self.rng.random();
                let i = ((r * r * r) * self.general.len() as f64) as usize;
                words.push(self.general[i.min(self.general.len() - 1)].clone());
            }
        }
        words.push(format!("n{}", self.rng.random::<u32>()));
        words.join(" ")
    }

    /// A five-word query about one topic.
    pub fn query(&mut self) -> String {
        let topic = self.rng.random_range(0..self.topics.len());
        (0..5).map(|_| self.topics[topic][self.rng.random_range(0..25)].clone()).collect::<Vec<_>>().join(" ")
    }
}

/// The `p` quantile (0..=1) of an ascending slice; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Times `queries` in `mode`, saying on stderr how far it got (every 10 s,
/// and when done) under `label`: an exact scan of a large project takes
/// minutes, and a silent benchmark cannot be told from a hung one.
async fn time_queries(
    engine: &Engine,
    project: &Project,
    queries: &[String],
    mode: SearchMode,
    label: &str,
) -> Result<(Latency, Vec<Vec<i64>>)> {
    let mut times = Vec::with_capacity(queries.len());
    let mut results = Vec::with_capacity(queries.len());
    let started = Instant::now();
    let mut said = Instant::now();
    for (i, q) in queries.iter().enumerate() {
        let mut req = SearchRequest::new(q.clone(), 10);
        req.mode = mode;
        let start = Instant::now();
        let r = engine.search(project, &req).await?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        results.push(r.hits.iter().map(|h| h.memory.id).collect());
        if said.elapsed().as_secs() >= 10 && i + 1 < queries.len() {
            eprintln!(
                "{label}: {}/{} queries ({:.0} s)",
                i + 1,
                queries.len(),
                started.elapsed().as_secs_f64()
            );
            said = Instant::now();
        }
    }
    times.sort_by(f64::total_cmp);
    let latency = Latency { p50_ms: percentile(&times, 0.5), p99_ms: percentile(&times, 0.99) };
    eprintln!(
        "{label}: {} queries, p50 {:.2} ms, p99 {:.2} ms ({:.0} s)",
        queries.len(),
        latency.p50_ms,
        latency.p99_ms,
        started.elapsed().as_secs_f64()
    );
    Ok((latency, results))
}

/// Runs the benchmark.
pub async fn search(opts: &SearchBenchOptions) -> Result<SearchBenchReport> {
    let tmp;
    let base = match &opts.dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("claude-memory-bench-{}", std::process::id()));
            tmp.clone()
        }
    };
    let embedder: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(opts.dim));
    let mut sizes = Vec::new();
    for &size in &opts.sizes {
        let dir = base.join(format!("n{size}-d{}", opts.dim));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|source| Error::Io { context: format!("creating {}", dir.display()), source })?;
        let project = Project::at(&dir)?;
        let engine = Engine::new(Config::default(), Some(embedder.clone()));
        let mut corpus = Corpus::new(42);
        let types = MemoryType::ALL;
        // Filled through the bulk path, in chunks, saying how far it got:
        // one save at a time (dedupe included) took minutes per 10k.
        const CHUNK: usize = 5_000;
        let start = Instant::now();
        let mut filled = 0;
        while filled < size {
            let n = CHUNK.min(size - filled);
            let mut batch = Vec::with_capacity(n);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            for i in filled..filled + n {
                let new = NewMemory::new(&corpus.note(), Source::Import)?.with_type(types[i % 6]);
                batch.push((new, now));
            }
            engine.record(&project, batch).await?;
            filled += n;
            eprintln!(
                "{}-d, {size} memories: ingested {filled} ({:.0} s)",
                opts.dim,
                start.elapsed().as_secs_f64()
            );
        }
        let ingest_per_second = size as f64 / start.elapsed().as_secs_f64();
        // The save path at this size, on a sample (at least 1 save).
        let sample = (size / 50).clamp(1, 200);
        let start = Instant::now();
        for i in 0..sample {
            let new = NewMemory::new(&corpus.note(), Source::Import)?.with_type(types[i % 6]);
            engine.save(&project, new).await?;
        }
        let saves_per_second = sample as f64 / start.elapsed().as_secs_f64();
        eprintln!("{}-d, {size} memories: {sample} saves, {saves_per_second:.0}/s", opts.dim);
        // Searched as a session's start leaves a project: its full-text
        // index merged when saves left it in many segments.
        let start = Instant::now();
        let merged = engine.merge_text_index(&project).await?;
        eprintln!(
            "{}-d, {size} memories: full-text index merged: {merged} ({:.2} s)",
            opts.dim,
            start.elapsed().as_secs_f64()
        );
        let queries: Vec<String> = (0..opts.queries).map(|_| corpus.query()).collect();
        let label = |what: &str| format!("{}-d, {size} memories, {what}", opts.dim);

        let (bm25, _) = time_queries(&engine, &project, &queries, SearchMode::Bm25, &label("bm25")).await?;
        let (vector, _) =
            time_queries(&engine, &project, &queries, SearchMode::Vector, &label("vector")).await?;
        let (hybrid, _) =
            time_queries(&engine, &project, &queries, SearchMode::Hybrid, &label("hybrid")).await?;
        let with_limit = |limit: i64| {
            let mut c = Config::default();
            c.search.exact_scan_limit = limit;
            Engine::new(c, Some(embedder.clone()))
        };
        let exact = with_limit(i64::MAX);
        let (vector_exact, exact_ids) =
            time_queries(&exact, &project, &queries, SearchMode::Vector, &label("vector exact")).await?;
        let (hybrid_exact, _) =
            time_queries(&exact, &project, &queries, SearchMode::Hybrid, &label("hybrid exact")).await?;
        let quantized = with_limit(-1);
        let (vector_quantized, q_ids) =
            time_queries(&quantized, &project, &queries, SearchMode::Vector, &label("vector index")).await?;
        let (hybrid_quantized, _) =
            time_queries(&quantized, &project, &queries, SearchMode::Hybrid, &label("hybrid index")).await?;
        let (mut found, mut total) = (0usize, 0usize);
        for (e, q) in exact_ids.iter().zip(&q_ids) {
            total += e.len();
            found += e.iter().filter(|id| q.contains(id)).count();
        }
        let stats = engine.stats(&project).await?;
        for e in [&engine, &exact, &quantized] {
            e.close().await;
        }
        sizes.push(SizeReport {
            memories: size,
            ingest_per_second,
            saves_per_second,
            db_mib: stats.db_bytes as f64 / (1024.0 * 1024.0),
            bm25,
            vector,
            hybrid,
            vector_exact,
            hybrid_exact,
            vector_quantized,
            hybrid_quantized,
            quantized_recall_at_10: if total == 0 { 1.0 } else { found as f64 / total as f64 },
        });
        if opts.dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(SearchBenchReport { dim: opts.dim, queries: opts.queries, sizes })
}
