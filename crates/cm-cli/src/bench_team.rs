//! `claude-memory bench team`: the team database at scale — publishing,
//! pulling and pgvector search over N team memories of one project.
//!
//! It writes into a fresh team project (`bench-<time>`) of the database it
//! is given, through the same `cm_team::TeamDb` calls a sync makes, with
//! random unit vectors of the team column's 384 dimensions. Progress goes
//! to stderr.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use cm_team::{TeamDb, TeamMemory, TeamUrl, VECTOR_DIM};
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::output;

/// `bench team` options.
#[derive(Debug, Args)]
pub struct BenchTeamArgs {
    /// A team database (its schema installed: `team migrate`); the password
    /// in the URL or CLAUDE_MEMORY_TEAM_PASSWORD.
    #[arg(long)]
    pub url: String,
    /// Team memories to publish (each size adds to the previous one).
    #[arg(long, value_delimiter = ',', default_value = "10000")]
    pub sizes: Vec<usize>,
    /// Vector searches per size.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Concurrent publishers (connections).
    #[arg(long, default_value_t = 4)]
    pub publishers: usize,
}

/// One size's figures.
#[derive(Debug, Serialize)]
pub struct TeamBenchRow {
    memories: usize,
    publish_per_s: f64,
    pull_per_s: f64,
    search_p50_ms: f64,
    search_p99_ms: f64,
    vectors: bool,
}

fn unit(rng: &mut impl Rng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..VECTOR_DIM).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn memory(i: usize, rng: &mut impl Rng) -> TeamMemory {
    let content = format!("bench team memory {i}: service {} listens on port {}", i % 997, 1000 + i % 50_000);
    TeamMemory {
        gid: format!("{:032x}", rng.random::<u128>()),
        content_hash: format!("bench-{i}-{:x}", rng.random::<u64>()),
        content,
        structured: None,
        summary: None,
        memory_type: "fact".to_owned(),
        domain: "general".to_owned(),
        tags: vec![],
        keywords: vec![],
        confidence: 0.7,
        author: format!("author-{}", i % 7),
        origin: "bench".to_owned(),
        created_at: i as i64,
        updated_at: i as i64,
        archived: false,
        deleted: false,
        embedding: Some(("bench-random".to_owned(), unit(rng))),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the benchmark and prints its table.
pub async fn run(args: &BenchTeamArgs, json: bool) -> Result<()> {
    let mut url = TeamUrl::parse(&args.url)?;
    if url.password.is_none() {
        url.password = std::env::var(cm_llm::TEAM_ENV_VAR).ok().filter(|p| !p.is_empty());
    }
    if args.publishers == 0 {
        bail!("--publishers must be at least 1");
    }
    let db = TeamDb::connect(&url).await.context("cannot open the team database")?;
    let key =
        format!("bench-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis());
    let project = db.project(&key).await?;
    // Global ids are unique across the database: a run never repeats another's.
    let seed: u64 = rand::random();
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    let mut rows = Vec::new();
    let mut have = 0usize;
    for &size in &sizes {
        let started = Instant::now();
        let add = size.saturating_sub(have);
        let per = add.div_ceil(args.publishers);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for p in 0..args.publishers {
            let db = TeamDb::connect(&url).await?;
            let done = done.clone();
            let (from, to) = (have + p * per, (have + (p + 1) * per).min(size));
            tasks.push(tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ from as u64);
                // As a sync publishes: batches of 200 versions per transaction.
                let ids: Vec<usize> = (from..to).collect();
                for chunk in ids.chunks(200) {
                    let batch: Vec<(TeamMemory, i64)> =
                        chunk.iter().map(|&i| (memory(i, &mut rng), 0)).collect();
                    db.publish_batch(project, &batch).await?;
                    let before = done.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
                    if (before + chunk.len()) / 10_000 > before / 10_000 {
                        eprintln!("[bench team] published {} of {add}", before + chunk.len());
                    }
                }
                db.close().await;
                Ok::<_, cm_team::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let publish_s = started.elapsed().as_secs_f64();
        have = size;
        eprintln!("[bench team] {size} published in {publish_s:.1} s; pulling…");

        let started = Instant::now();
        let (mut cursor, mut pulled) = (0, 0usize);
        loop {
            let batch = db.pull(project, cursor, "bench-reader", 1000).await?;
            let Some(last) = batch.last() else { break };
            cursor = last.change_seq;
            pulled += batch.len();
        }
        let pull_s = started.elapsed().as_secs_f64();
        eprintln!("[bench team] {pulled} pulled in {pull_s:.1} s; searching…");

        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut times = Vec::with_capacity(args.queries);
        for _ in 0..args.queries {
            let q = unit(&mut rng);
            let t = Instant::now();
            db.search(project, &q, 10).await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        rows.push(TeamBenchRow {
            memories: size,
            publish_per_s: add as f64 / publish_s.max(f64::EPSILON),
            pull_per_s: pulled as f64 / pull_s.max(f64::EPSILON),
            search_p50_ms: percentile(&times, 0.5),
            search_p99_ms: percentile(&times, 0.99),
            vectors: db.has_vectors(),
        });
    }
    db.close().await;
    output::print(json, &rows, |rows| {
        let mut text = format!("team project {key} (left in the database)\n");
        text.push_str("memories  publish/s  pull/s    search p50  p99 (ms)  pgvector\n");
        for r in rows {
            text.push_str(&format!(
                "{:<9} {:<10.0} {:<9.0} {:<11.2} {:<9.2} {}\n",
                r.memories, r.publish_per_s, r.pull_per_s, r.search_p50_ms, r.search_p99_ms, r.vectors
            ));
        }
        text
    })
}
