//! `claude-memory bench embed`: what a model costs on this machine.
//!
//! Everything is measured through a real [`EmbedService`] — the path a hook
//! takes, worker hop included — with the cache turned off so every query is
//! a real inference.

use std::fmt;
use std::time::{Duration, Instant};

use cm_core::EmbedKind;
use serde::Serialize;

use crate::model::token_counts;
use crate::service::{EmbedConfig, EmbedService, ModelInfo};
use crate::{Error, Result, process};

/// The query whose latency is measured: about twenty tokens, the length of a
/// typical prompt-derived search.
pub const BENCH_QUERY: &str =
    "How did we configure the connection pool size for the staging database after the timeout incident?";

/// How much to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// Timed query embeddings (after `warmup` untimed ones).
    pub queries: usize,
    /// Untimed queries first, so one-off initialisation is not measured.
    pub warmup: usize,
    /// Documents embedded for the throughput figure.
    pub documents: usize,
    /// Documents per request.
    pub batch_size: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { queries: 200, warmup: 10, documents: 1000, batch_size: 32 }
    }
}

/// The figures, serialisable for `--json` and printable for people.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The model, with its load time and the resident memory after loading.
    pub model: ModelInfo,
    /// Timed queries.
    pub queries: usize,
    /// Words in the query.
    pub query_words: usize,
    /// Tokens the query becomes (special tokens included).
    pub query_tokens: usize,
    /// Median query latency, milliseconds.
    pub query_p50_ms: f64,
    /// 99th percentile query latency, milliseconds.
    pub query_p99_ms: f64,
    /// Mean query latency, milliseconds.
    pub query_mean_ms: f64,
    /// Documents embedded.
    pub documents: usize,
    /// Their mean length in words.
    pub document_mean_words: f64,
    /// Their mean length in tokens (special tokens included, truncated).
    pub document_mean_tokens: f64,
    /// Documents per request.
    pub batch_size: usize,
    /// Wall time for all documents, seconds.
    pub documents_seconds: f64,
    /// Throughput in documents.
    pub documents_per_second: f64,
    /// Throughput in (unpadded) tokens.
    pub tokens_per_second: f64,
    /// Resident memory of the process after the run, once idle (Linux only).
    pub resident_memory_after_bytes: Option<u64>,
}

/// Loads the model of `config` (with its cache turned off) and measures it.
pub async fn bench(config: EmbedConfig, options: &BenchOptions) -> Result<BenchReport> {
    if options.queries == 0 || options.batch_size == 0 {
        return Err(Error::InvalidConfig(
            "bench needs at least one query and a batch size of 1 or more".into(),
        ));
    }
    let config = EmbedConfig { cache_capacity: 0, ..config };
    let documents = sample_documents(options.documents);
    let document_refs: Vec<&str> = documents.iter().map(String::as_str).collect();
    let document_tokens: usize =
        token_counts(&config.model_dir, &config.spec, &document_refs, EmbedKind::Passage)?.iter().sum();
    let query_tokens = token_counts(&config.model_dir, &config.spec, &[BENCH_QUERY], EmbedKind::Query)?[0];
    let service = EmbedService::load_async(config).await?;

    let query = [BENCH_QUERY.to_string()];
    for _ in 0..options.warmup {
        service.embed_texts(&query, EmbedKind::Query).await?;
    }
    let mut latencies = Vec::with_capacity(options.queries);
    for _ in 0..options.queries {
        let started = Instant::now();
        service.embed_texts(&query, EmbedKind::Query).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();

    let total_words: usize = documents.iter().map(|d| d.split_whitespace().count()).sum();
    let started = Instant::now();
    for chunk in documents.chunks(options.batch_size) {
        service.embed_texts(chunk, EmbedKind::Passage).await?;
    }
    let documents_seconds = started.elapsed().as_secs_f64();
    // The worker hands freed memory back once its queue runs dry, just after
    // the last answer: the figure is the idle engine's, as a person sees it.
    tokio::time::sleep(Duration::from_millis(250)).await;

    Ok(BenchReport {
        model: service.info().clone(),
        queries: options.queries,
        query_words: BENCH_QUERY.split_whitespace().count(),
        query_tokens,
        query_p50_ms: ms(percentile(&latencies, 0.50)),
        query_p99_ms: ms(percentile(&latencies, 0.99)),
        query_mean_ms: ms(latencies.iter().sum::<Duration>()) / latencies.len() as f64,
        documents: documents.len(),
        document_mean_words: total_words as f64 / documents.len().max(1) as f64,
        document_mean_tokens: document_tokens as f64 / documents.len().max(1) as f64,
        batch_size: options.batch_size,
        documents_seconds,
        documents_per_second: if documents_seconds > 0.0 {
            documents.len() as f64 / documents_seconds
        } else {
            0.0
        },
        tokens_per_second: if documents_seconds > 0.0 {
            document_tokens as f64 / documents_seconds
        } else {
            0.0
        },
        resident_memory_after_bytes: process::resident_memory_bytes(),
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted, non-empty `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "unknown".into(), |b| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)))
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.model;
        let pooling = match m.pooling {
            crate::Pooling::Cls => "CLS",
            crate::Pooling::Mean => "mean",
        };
        writeln!(
            f,
            "model      {} ({}-d, {pooling} pooling, {} intra-op thread{})",
            m.model_id,
            m.dimension,
            m.intra_threads,
            if m.intra_threads == 1 { "" } else { "s" }
        )?;
        writeln!(
            f,
            "runtime    ONNX Runtime {} ({})",
            m.runtime_version.as_deref().unwrap_or("(version unknown)"),
            m.runtime_path.display()
        )?;
        writeln!(
            f,
            "load       {:.0} ms; resident memory after load {}",
            ms(m.load_time),
            mib(m.resident_memory_bytes)
        )?;
        writeln!(
            f,
            "query      p50 {:.2} ms, p99 {:.2} ms, mean {:.2} ms ({} queries of {} words / {} tokens, cache bypassed)",
            self.query_p50_ms,
            self.query_p99_ms,
            self.query_mean_ms,
            self.queries,
            self.query_words,
            self.query_tokens
        )?;
        writeln!(
            f,
            "documents  {:.1} docs/s, {:.0} tokens/s ({} documents of {:.0} words / {:.0} tokens on average in {:.2} s, \
             {} per request)",
            self.documents_per_second,
            self.tokens_per_second,
            self.documents,
            self.document_mean_words,
            self.document_mean_tokens,
            self.documents_seconds,
            self.batch_size
        )?;
        write!(f, "memory     resident {} after the run", mib(self.resident_memory_after_bytes))
    }
}

/// `count` notes of 30–80 words in the style of a developer's memories,
/// the same every run (a fixed linear congruential generator, no `rand`).
pub fn sample_documents(count: usize) -> Vec<String> {
    const SUBJECTS: &[&str] = &[
        "the migration runner",
        "our staging database",
        "the auth middleware",
        "the CI pipeline",
        "the search index",
        "the billing service",
        "the hook script",
        "the release build",
        "the websocket gateway",
        "the cache layer",
        "the user's Makefile",
        "the sqlite connection pool",
    ];
    const VERBS: &[&str] = &[
        "fails when",
        "needs a restart after",
        "was refactored because",
        "times out whenever",
        "must be run before",
        "silently drops data if",
        "got faster once",
        "should be checked when",
        "breaks on Windows because",
        "logs a warning whenever",
    ];
    const OBJECTS: &[&str] = &[
        "two writers hold the lock at once",
        "the environment variable is missing",
        "a schema change lands without a migration",
        "the token expires during a long request",
        "we bump the dependency to the next major version",
        "the config file uses tabs instead of spaces",
        "the batch size exceeds the queue capacity",
        "someone deploys on a Friday afternoon",
        "the test fixtures are regenerated",
        "the retry loop hits its limit",
        "the disk fills up with old log files",
        "the feature flag is turned off in production",
    ];
    const ADVICE: &[&str] = &[
        "Remember to run the full test suite first.",
        "The fix is to set the busy timeout to five seconds.",
        "The user prefers small commits with clear messages.",
        "Ask before touching the generated files.",
        "Prefer the async client; the blocking one deadlocks.",
        "Document the workaround in the README.",
        "Pin the version until upstream releases a fix.",
        "Use the staging credentials, never the production ones.",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % n
    };
    (0..count)
        .map(|_| {
            let target = 30 + next(51);
            let mut note = String::new();
            while note.split_whitespace().count() < target {
                let sentence = if next(3) == 0 {
                    ADVICE[next(ADVICE.len())].to_string()
                } else {
                    let subject = SUBJECTS[next(SUBJECTS.len())];
                    format!(
                        "{}{} {} {}.",
                        subject[..1].to_uppercase(),
                        &subject[1..],
                        VERBS[next(VERBS.len())],
                        OBJECTS[next(OBJECTS.len())]
                    )
                };
                if !note.is_empty() {
                    note.push(' ');
                }
                note.push_str(&sentence);
            }
            let words: Vec<&str> = note.split_whitespace().take(target.max(30)).collect();
            let mut note = words.join(" ");
            if !note.ends_with('.') {
                note.push('.');
            }
            note
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_30_to_80_words_and_stable() {
        let documents = sample_documents(200);
        assert_eq!(documents, sample_documents(200));
        for doc in &documents {
            let words = doc.split_whitespace().count();
            assert!((30..=80).contains(&words), "{words} words: {doc}");
        }
        let distinct: std::collections::HashSet<_> = documents.iter().collect();
        assert_eq!(distinct.len(), documents.len());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&values, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&values[..1], 0.99), Duration::from_millis(1));
    }
}
