//! Measures a graph index (HNSW, from the `hnsw_rs` crate) on the vectors of
//! `bench search`'s synthetic project, to set beside the in-memory sign-bit
//! index the store keeps (docs/benchmarks.md, "A graph index, measured").
//!
//! The notes and queries are the benchmark's own (same corpus, same seed,
//! same hashing embedder), so the recall and latency here compare with the
//! `bit` column of `claude-memory bench search --sizes SIZE --dim DIM`.
//! Reported: the build's time and resident memory, then for each `ef` the
//! query p50 / p99 and recall@10 against the exact top 10, unfiltered and
//! with a filter that keeps one memory in twenty (as a type or domain filter
//! does), which the store applies before its limit.
//!
//! `cargo run --release -p cm-bench --example graph_index -- SIZE DIM [QUERIES [M [EF_CONSTRUCTION]]]`
//! (everything on stderr, like `search_profile`)
use std::collections::HashSet;
use std::time::Instant;

use cm_bench::{Corpus, percentile};
use cm_core::{EmbedKind, Embedder};
use cm_testkit::HashEmbedder;
use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnsw::Hnsw;

/// Cosine distance of unit vectors, with eight accumulators so the compiler
/// vectorises it (the crate's own dot product is scalar unless a feature
/// brings in a SIMD crate).
#[derive(Clone, Copy, Default)]
struct Cosine;

impl Distance<f32> for Cosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            sums[i] += x[i] * y[i];
        }
    }
    let tail: f32 =
        a.chunks_exact(8).remainder().iter().zip(b.chunks_exact(8).remainder()).map(|(x, y)| x * y).sum();
    sums.iter().sum::<f32>() + tail
}

/// The exact top `k` of `query` among `vectors` passing `keep`.
fn exact_top(vectors: &[Vec<f32>], query: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> HashSet<usize> {
    let mut scored: Vec<(f32, usize)> =
        vectors.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(i, v)| (dot(v, query), i)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}

fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn embed(embedder: &HashEmbedder, texts: Vec<String>, kind: EmbedKind) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(5_000) {
        out.extend(embedder.embed(chunk, kind).await.expect("the hashing embedder cannot fail"));
    }
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: usize| args.get(i).map_or(default, |a| a.parse().expect("a number"));
    let (size, dim, queries, m, ef_construction) =
        (arg(1, 100_000), arg(2, 1024), arg(3, 100), arg(4, 16), arg(5, 200));

    // The benchmark's corpus: its `size` notes filled in bulk, the saves
    // after them (not in the index here), then the queries.
    let mut corpus = Corpus::new(42);
    let notes: Vec<String> = (0..size).map(|_| corpus.note()).collect();
    for _ in 0..(size / 50).clamp(1, 200) {
        corpus.note();
    }
    let query_texts: Vec<String> = (0..queries).map(|_| corpus.query()).collect();
    let embedder = HashEmbedder::new(dim);
    let vectors = embed(&embedder, notes, EmbedKind::Passage).await;
    let query_vectors = embed(&embedder, query_texts, EmbedKind::Query).await;
    // One memory in twenty passes the filter.
    let filtered = |i: usize| i % 20 == 7;
    let exact: Vec<HashSet<usize>> =
        query_vectors.iter().map(|q| exact_top(&vectors, q, 10, |_| true)).collect();
    let exact_filtered: Vec<HashSet<usize>> =
        query_vectors.iter().map(|q| exact_top(&vectors, q, 10, filtered)).collect();

    let before = resident_mib();
    let started = Instant::now();
    let layers = 16;
    let hnsw = Hnsw::<f32, Cosine>::new(m, size, layers, ef_construction, Cosine);
    let items: Vec<(&Vec<f32>, usize)> = vectors.iter().enumerate().map(|(i, v)| (v, i)).collect();
    for chunk in items.chunks(10_000) {
        hnsw.parallel_insert(chunk);
        eprintln!(
            "inserted {} of {size} ({:.0} s)",
            chunk[chunk.len() - 1].1 + 1,
            started.elapsed().as_secs_f64()
        );
    }
    let build = started.elapsed().as_secs_f64();
    // The index holds its own copy of every vector, as it would in the engine.
    let index_mib = resident_mib() - before;
    eprintln!(
        "{size} x {dim}-d, M {m}, ef_construction {ef_construction}: built in {build:.1} s \
         ({:.0} vectors/s, {} threads), resident +{index_mib:.0} MiB",
        size as f64 / build,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );

    let keep = filtered;
    for ef in [16, 32, 64, 128, 256] {
        for (label, wanted) in [("all", &exact), ("1 in 20", &exact_filtered)] {
            let mut times = Vec::with_capacity(queries);
            let mut found = 0;
            for (q, want) in query_vectors.iter().zip(wanted) {
                let t = Instant::now();
                let hits = if label == "all" {
                    hnsw.search(q, 10, ef)
                } else {
                    hnsw.search_filter(q, 10, ef, Some(&|id: &usize| keep(*id)))
                };
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                found += hits.iter().filter(|h| want.contains(&h.d_id)).count();
            }
            times.sort_by(f64::total_cmp);
            let total: usize = wanted.iter().map(HashSet::len).sum();
            eprintln!(
                "ef {ef:>3}, {label:<7}: p50 {:.3} ms, p99 {:.3} ms, recall@10 {:.3}",
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                found as f64 / total.max(1) as f64
            );
        }
    }
}
