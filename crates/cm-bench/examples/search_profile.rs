//! Times searches on a project `bench search --dir DIR` kept, with the same
//! queries the benchmark asked, to find where time goes (run it with
//! `CLAUDE_MEMORY_LOG=cm_store=trace` to see each stage).
//! `cargo run --release -p cm-bench --example search_profile -- DIR SIZE DIM MODE [QUERIES [EXACT_SCAN_LIMIT [RESCORE]]]`
use std::sync::Arc;
use std::time::Instant;

use cm_bench::{Corpus, SearchBenchOptions, percentile};
use cm_core::{Config, SearchMode, SearchRequest};
use cm_engine::{Engine, Project};
use cm_testkit::HashEmbedder;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLAUDE_MEMORY_LOG").unwrap_or_default();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let size: usize = args[2].parse().unwrap();
    let dim: usize = args[3].parse().unwrap();
    let mode = match args[4].as_str() {
        "bm25" => SearchMode::Bm25,
        "vector" => SearchMode::Vector,
        _ => SearchMode::Hybrid,
    };
    let queries: usize = args.get(5).map_or(50, |q| q.parse().unwrap());
    let project_dir = dir.join(format!("n{size}-d{dim}"));
    if !project_dir.exists() {
        let options = SearchBenchOptions { sizes: vec![size], dim, queries: 1, dir: Some(dir.clone()) };
        cm_bench::search(&options).await.unwrap();
    }
    let mut config = Config::default();
    if let Some(l) = args.get(6) {
        config.search.exact_scan_limit = l.parse().unwrap();
    }
    if let Some(r) = args.get(7) {
        config.search.rescore_factor = r.parse().unwrap();
    }
    // The benchmark's queries: its corpus after the notes it filled and saved.
    let mut corpus = Corpus::new(42);
    for _ in 0..size + (size / 50).clamp(1, 200) {
        corpus.note();
    }
    let queries: Vec<String> = (0..queries).map(|_| corpus.query()).collect();
    let engine = Engine::new(config, Some(Arc::new(HashEmbedder::new(dim))));
    let project = Project::at(&project_dir).unwrap();
    let mut times = Vec::new();
    for q in &queries {
        let mut req = SearchRequest::new(q.clone(), 10);
        req.mode = mode;
        let t = Instant::now();
        engine.search(&project, &req).await.unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        eprintln!("{ms:8.2} ms  {q}");
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    eprintln!("p50 {:.2} ms  p99 {:.2} ms", percentile(&times, 0.5), percentile(&times, 0.99));
}
