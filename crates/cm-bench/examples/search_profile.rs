//! Times each search stage on a kept synthetic project, to find where time goes.
//! `cargo run --release -p cm-bench --example search_profile -- DIR SIZE MODE TOUCH`
use std::sync::Arc;
use std::time::Instant;

use cm_bench::SearchBenchOptions;
use cm_core::{Config, SearchMode, SearchRequest};
use cm_engine::{Engine, Project};
use cm_testkit::HashEmbedder;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let size: usize = args[2].parse().unwrap();
    let mode = match args[3].as_str() {
        "bm25" => SearchMode::Bm25,
        "vector" => SearchMode::Vector,
        _ => SearchMode::Hybrid,
    };
    let touch = args[4] == "touch";
    let project_dir = dir.join(format!("n{size}-d1024"));
    if !project_dir.exists() {
        cm_bench::search(&SearchBenchOptions {
            sizes: vec![size],
            dim: 1024,
            queries: 1,
            dir: Some(dir.clone()),
        })
        .await
        .unwrap();
    }
    let mut config = Config::default();
    if let Some(l) = args.get(5) {
        config.search.exact_scan_limit = l.parse().unwrap();
    }
    if let Some(r) = args.get(6) {
        config.search.rescore_factor = r.parse().unwrap();
    }
    let engine = Engine::new(config, Some(Arc::new(HashEmbedder::new(1024))));
    let project = Project::at(&project_dir).unwrap();
    let words = ["kalo", "miser", "taven", "dorpli", "quarus", "stone", "grabel", "zufin"];
    let mut times = Vec::new();
    for i in 0..300 {
        let q = format!("{} {} {}", words[i % 8], words[(i + 3) % 8], words[(i + 5) % 8]);
        let mut req = SearchRequest::new(q, 10);
        req.mode = mode;
        req.touch = touch;
        let t = Instant::now();
        engine.search(&project, &req).await.unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    eprintln!("p50 {:.2} ms  p99 {:.2} ms", times[150], times[296]);
}
