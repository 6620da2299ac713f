//! `claude-memory bench hook`: the hook round trip as Claude Code pays for
//! it — spawn `claude-memory hook UserPromptSubmit`, relay to the engine,
//! embed the prompt, search, render, record the injection, print — in a
//! project of N memories, one caller at a time and then many at once.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cm_bench::{Corpus, percentile};
use cm_core::{NewMemory, Source};
use cm_engine::{Engine, Project, Registry};
use serde::Serialize;

use crate::cli::BenchHookArgs;
use crate::{output, paths};

#[derive(Debug, Serialize)]
struct Latencies {
    runs: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Runs that printed context.
    injected: usize,
    /// Runs that exited non-zero or overran the hook's budget.
    errors: usize,
}

/// The work a hook leaves for after its answer, timed on the same project:
/// it never delays Claude Code, but it shares the database with the hooks.
#[derive(Debug, Serialize)]
struct AfterHook {
    runs: usize,
    /// Memories in the project the file checks run on, each naming two files.
    memories_naming_files: usize,
    /// The first SessionStart check, which flags the missing ones.
    first_check_ms: f64,
    /// Memories the first check flagged stale.
    first_flagged: usize,
    /// SessionStart's check of the files memories name, once flagged.
    session_start_check: Timing,
    /// A Bash `rm` checked for memories naming the removed file.
    rm_check: Timing,
    /// Inferred feedback after a tool call, in a session that was injected into.
    feedback: Timing,
}

/// Where a sequential round trip goes, each part timed on its own (p50
/// each, so the parts add up only roughly).
#[derive(Debug, Serialize)]
struct Breakdown {
    runs: usize,
    /// The hook process alone: spawned with hooks off, exited.
    process_ms: f64,
    /// `Engine::hook` called in this process: gate, query embedding, search,
    /// rendering, the injections recorded.
    engine_hook_ms: f64,
    /// The query's embedding (a new prompt each time: no cache hit).
    embed_ms: f64,
    /// The store's hybrid search given the query (a hybrid search minus its embedding).
    store_search_ms: f64,
    /// What is left of the round trip: the HTTP relay, the discovery file and token, the config.
    rest_ms: f64,
}

#[derive(Debug, Serialize)]
struct Timing {
    p50_ms: f64,
    max_ms: f64,
}

/// Times `runs` calls of `f`.
async fn timed<F, Fut>(runs: usize, mut f: F) -> Result<Timing>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(Timing { p50_ms: percentile(&ms, 0.50), max_ms: ms.last().copied().unwrap_or(0.0) })
}

/// A project of `n` memories each naming two files of the project (one in
/// fifty missing), recorded without vectors (the file checks read none):
/// the synthetic notes of the main project name no files, and a check
/// that finds nothing to `stat` would measure nothing.
async fn paths_project(base: &Path, n: usize) -> Result<(Engine, Project, PathBuf)> {
    let root = base.join("paths-project");
    std::fs::create_dir_all(root.join("tests"))?;
    let project = Project::at(&root)?;
    project.ensure_data_dir()?;
    let engine = Engine::new(cm_core::Config::default(), None);
    let have = engine.stats(&project).await.map(|s| s.total.max(0) as usize).unwrap_or(0);
    let now = now_ms();
    let mut batch = Vec::new();
    for i in have..n {
        let dir = root.join(format!("src/mod{}", i % 50));
        std::fs::create_dir_all(&dir)?;
        if i % 50 != 7 {
            std::fs::write(dir.join(format!("file{i}.rs")), "")?;
        }
        std::fs::write(root.join(format!("tests/t{i}.rs")), "")?;
        let text = format!(
            "The handler for topic {i} lives in src/mod{}/file{i}.rs and is tested by tests/t{i}.rs.",
            i % 50
        );
        batch.push((NewMemory::new(&text, Source::Import)?, now - i as i64 * 60_000));
        if batch.len() == 1000 {
            engine.record(&project, std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        engine.record(&project, batch).await?;
    }
    Ok((engine, project, root))
}

/// Times what hooks do after answering (see [`AfterHook`]), with the
/// sessions of the sequential runs already recorded.
async fn after_hook(
    engine: &Engine,
    project: &Project,
    root: &Path,
    base: &Path,
    n: usize,
) -> Result<AfterHook> {
    use cm_engine::hooks::{HookEvent, HookInput};
    const RUNS: usize = 20;
    let input = |command: &str| -> Result<HookInput> {
        let payload = serde_json::json!({
            "session_id": format!("bench-{}-{}-0", std::process::id(), run_nonce()),
            "cwd": root, "tool_name": "Bash", "tool_input": { "command": command },
        });
        HookInput::parse(payload.to_string().as_bytes()).map_err(anyhow::Error::msg)
    };
    let (rm, run) = (input("rm src/bench-gone.rs")?, input("cargo test --workspace")?);
    let (paths_engine, paths, paths_root) = paths_project(base, n).await?;
    let started = Instant::now();
    let first = paths_engine.check_stale(&paths).await?;
    let first_check_ms = started.elapsed().as_secs_f64() * 1000.0;
    let first_flagged = first.flagged.len();
    let session_start_check =
        timed(RUNS, || async { Ok(paths_engine.check_stale(&paths).await.map(drop)?) }).await?;
    let mut rm = rm;
    rm.cwd = Some(paths_root);
    let rm_check =
        timed(RUNS, || async { Ok(paths_engine.stale_after_tool(&paths, &rm).await.map(drop)?) }).await?;
    let feedback = timed(RUNS, || async {
        Ok(engine.infer_feedback(project, HookEvent::PostToolUse, &run, now_ms()).await.map(drop)?)
    })
    .await?;
    Ok(AfterHook {
        runs: RUNS,
        memories_naming_files: n,
        first_check_ms,
        first_flagged,
        session_start_check,
        rm_check,
        feedback,
    })
}

#[derive(Debug, Serialize)]
struct Report {
    memories: usize,
    model: String,
    ingest_seconds: f64,
    sequential: Latencies,
    concurrency: usize,
    seconds: u64,
    concurrent: Latencies,
    throughput_per_s: f64,
    breakdown: Breakdown,
    after_hook: AfterHook,
    /// The engine's resident memory (this process serves the hooks), MiB:
    /// idle once the server is up, then idle after every hook run.
    resident_mib_idle: Option<f64>,
    resident_mib_after_runs: Option<f64>,
}

/// This process's resident memory in MiB, read once the embedding worker
/// has gone idle (it hands freed memory back when its queue runs dry).
async fn idle_resident_mib() -> Option<f64> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    cm_embed::resident_memory_bytes().map(|b| b as f64 / (1024.0 * 1024.0))
}

pub async fn run(args: &BenchHookArgs, json: bool) -> Result<()> {
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let base = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    let home = base.join("home");
    let root = base.join("project");
    std::fs::create_dir_all(&home)?;
    std::fs::create_dir_all(&root)?;
    let project = Project::at(&root)?;
    project.ensure_data_dir()?;

    let config = paths::load_config()?;
    let cfg = paths::embed_config(&config, args.model.as_deref(), args.model_dir.as_deref())?;
    let embedder = cm_embed::EmbedService::load_async(cfg).await.context("loading the embedding model")?;
    let model = cm_core::Embedder::model_id(&embedder).to_owned();
    // The hook processes read the per-user directory: point it at the model too.
    let bench_config = cm_core::Config {
        embedding: cm_core::config::EmbeddingConfig {
            model: Some(model.clone()),
            ..config.embedding.clone()
        },
        ..cm_core::Config::default()
    };
    let engine = Engine::with_registry(
        bench_config,
        Some(Arc::new(embedder)),
        Registry::new(cm_server::launch::registry_file(&home)),
    );

    let started = Instant::now();
    let mut corpus = Corpus::new(42);
    let now = now_ms();
    // A kept project is reused as far as it goes.
    let mut done = engine.stats(&project).await?.total.max(0) as usize;
    while done < args.memories {
        let n = (args.memories - done).min(1000);
        let batch = (0..n)
            .map(|i| {
                Ok((NewMemory::new(&corpus.note(), Source::Import)?, now - ((done + i) as i64) * 60_000))
            })
            .collect::<cm_core::Result<Vec<_>>>()?;
        engine.record(&project, batch).await?;
        done += n;
        eprintln!("ingested {done}/{} memories ({:.0} s)", args.memories, started.elapsed().as_secs_f64());
    }
    let ingest_seconds = started.elapsed().as_secs_f64();

    let handle = engine.clone();
    let server = cm_server::Server::start(
        engine,
        cm_server::ServeOptions { home: home.clone(), port: 0, watch: false, ui_dir: None },
    )
    .await?;
    let resident_mib_idle = idle_resident_mib().await;
    let exe = std::env::current_exe()?;
    let budget = Duration::from_millis(config.hooks.prompt_budget_ms);
    let queries: Vec<String> = (0..1000).map(|_| corpus.query()).collect();
    let (home2, root2, exe2, queries2) = (home.clone(), root.clone(), exe.clone(), queries.clone());
    let runs = args.runs;
    let sequential = tokio::task::spawn_blocking(move || {
        let samples: Vec<Sample> = (0..runs)
            .map(|i| hook_once(&exe2, &home2, &root2, &queries2[i % queries2.len()], i, budget))
            .collect();
        summarise(samples)
    })
    .await?;
    let breakdown = breakdown(&handle, &project, &root, &exe, &queries, sequential.p50_ms).await?;
    let after = after_hook(&handle, &project, &root, &base, args.memories).await?;

    let (concurrency, seconds) = (args.concurrency, args.seconds);
    let all = Arc::new(Mutex::new(Vec::new()));
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (exe, home, root, queries, all) =
                (exe.clone(), home.clone(), root.clone(), queries.clone(), all.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                let mut mine = Vec::new();
                while Instant::now() < until {
                    let n = w * 1_000_000 + i;
                    mine.push(hook_once(&exe, &home, &root, &queries[n % queries.len()], n, budget));
                    i += 1;
                }
                all.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let samples = std::mem::take(&mut *all.lock().unwrap_or_else(|e| e.into_inner()));
    let total = samples.len();
    let concurrent = summarise(samples);
    let resident_mib_after_runs = idle_resident_mib().await;
    server.shutdown().await?;

    let report = Report {
        memories: args.memories,
        model,
        ingest_seconds,
        sequential,
        concurrency,
        seconds,
        throughput_per_s: total as f64 / seconds as f64,
        concurrent,
        breakdown,
        after_hook: after,
        resident_mib_idle,
        resident_mib_after_runs,
    };
    output::print(json, &report, |r| {
        format!(
            "hook round trip (spawn → engine → embed → search → print), {} memories, model {}\n\
             one at a time: {} runs  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  injected {}  errors {}\n\
             {} callers for {} s: {} runs ({:.0}/s)  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  injected {}  errors {}\n\
             one at a time, p50 of each part ({} runs each): hook process {:.2} ms  engine hook {:.2} ms \
             (query embedding {:.2} ms, store search {:.2} ms, the rest gate, rendering, recording)  \
             relay, discovery and config {:.2} ms\n\
             after the answer, {} memories naming 2 files each: first session-start check {:.0} ms ({} flagged); \
             then ({} runs each, p50 / max) session-start check {:.1} / {:.1} ms  rm check {:.1} / {:.1} ms  \
             inferred feedback {:.1} / {:.1} ms\n\
             engine resident memory: {} idle at start, {} idle after {} hook runs",
            r.memories,
            r.model,
            r.sequential.runs,
            r.sequential.p50_ms,
            r.sequential.p99_ms,
            r.sequential.max_ms,
            r.sequential.injected,
            r.sequential.errors,
            r.concurrency,
            r.seconds,
            r.concurrent.runs,
            r.throughput_per_s,
            r.concurrent.p50_ms,
            r.concurrent.p99_ms,
            r.concurrent.max_ms,
            r.concurrent.injected,
            r.concurrent.errors,
            r.breakdown.runs,
            r.breakdown.process_ms,
            r.breakdown.engine_hook_ms,
            r.breakdown.embed_ms,
            r.breakdown.store_search_ms,
            r.breakdown.rest_ms,
            r.after_hook.memories_naming_files,
            r.after_hook.first_check_ms,
            r.after_hook.first_flagged,
            r.after_hook.runs,
            r.after_hook.session_start_check.p50_ms,
            r.after_hook.session_start_check.max_ms,
            r.after_hook.rm_check.p50_ms,
            r.after_hook.rm_check.max_ms,
            r.after_hook.feedback.p50_ms,
            r.after_hook.feedback.max_ms,
            mib(r.resident_mib_idle),
            mib(r.resident_mib_after_runs),
            r.sequential.runs + r.concurrent.runs,
        )
    })
}

/// Times the parts of a round trip one at a time (see [`Breakdown`]), each
/// with prompts of its own so no cache answers.
async fn breakdown(
    engine: &Engine,
    project: &Project,
    root: &Path,
    exe: &Path,
    queries: &[String],
    round_trip_ms: f64,
) -> Result<Breakdown> {
    use cm_engine::hooks::{HookEvent, HookInput};
    const RUNS: usize = 200;
    let embedder = engine.embedder().context("bench hook needs the embedding model")?;
    let prompt = |i: usize| format!("{} (part {i})", queries[i % queries.len()]);
    let exe2 = exe.to_owned();
    let process = tokio::task::spawn_blocking(move || -> Result<Vec<f64>> {
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let status = Command::new(&exe2)
                    .args(["hook", "UserPromptSubmit"])
                    .env(cm_core::HOOKS_OFF_VAR, "off")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()?;
                anyhow::ensure!(status.success(), "the hook process failed: {status}");
                Ok(started.elapsed().as_secs_f64() * 1000.0)
            })
            .collect()
    })
    .await??;
    let mut i = 0;
    let hook = timed(RUNS, || {
        i += 1;
        let payload = serde_json::json!({
            "session_id": format!("bench-part-{}-{}-{i}", std::process::id(), run_nonce()),
            "cwd": root, "hook_event_name": "UserPromptSubmit", "prompt": prompt(i),
        });
        async move {
            let input = HookInput::parse(payload.to_string().as_bytes()).map_err(anyhow::Error::msg)?;
            engine.hook(HookEvent::UserPromptSubmit, &input).await?;
            Ok(())
        }
    })
    .await?;
    let mut j = 0;
    let embed = timed(RUNS, || {
        j += 1;
        let texts = vec![prompt(RUNS + j)];
        let embedder = embedder.clone();
        async move {
            embedder.embed(&texts, cm_core::EmbedKind::Query).await?;
            Ok(())
        }
    })
    .await?;
    let mut k = 0;
    let search = timed(RUNS, || {
        k += 1;
        let mut req = cm_core::SearchRequest::new(prompt(2 * RUNS + k), 5);
        req.touch = false;
        async move {
            engine.search(project, &req).await?;
            Ok(())
        }
    })
    .await?;
    let process_ms = median(process);
    Ok(Breakdown {
        runs: RUNS,
        process_ms,
        engine_hook_ms: hook.p50_ms,
        embed_ms: embed.p50_ms,
        store_search_ms: (search.p50_ms - embed.p50_ms).max(0.0),
        rest_ms: (round_trip_ms - process_ms - hook.p50_ms).max(0.0),
    })
}

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    percentile(&ms, 0.5)
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "unknown".to_owned(), |v| format!("{v:.1} MiB"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A number distinguishing this benchmark run from earlier ones.
fn run_nonce() -> i64 {
    static NONCE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(now_ms)
}

struct Sample {
    ms: f64,
    injected: bool,
    error: bool,
}

/// One hook run, timed from spawn to exit.
fn hook_once(exe: &Path, home: &Path, root: &PathBuf, prompt: &str, n: usize, budget: Duration) -> Sample {
    let payload = serde_json::json!({
        // Unique per benchmark run too: a kept project remembers what each
        // session was shown, and would rightly show it nothing again.
        "session_id": format!("bench-{}-{}-{n}", std::process::id(), run_nonce()),
        "transcript_path": "/dev/null",
        "cwd": root,
        "hook_event_name": "UserPromptSubmit",
        "prompt": prompt,
    })
    .to_string();
    let started = Instant::now();
    let child = Command::new(exe)
        .args(["hook", "UserPromptSubmit"])
        .env("CLAUDE_MEMORY_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return Sample { ms: 0.0, injected: false, error: true } };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(payload.as_bytes());
    }
    let mut out = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_end(&mut out);
    }
    let status = child.wait();
    let elapsed = started.elapsed();
    Sample {
        ms: elapsed.as_secs_f64() * 1000.0,
        injected: !out.is_empty(),
        error: !status.is_ok_and(|s| s.success()) || elapsed > budget,
    }
}

fn summarise(samples: Vec<Sample>) -> Latencies {
    let mut ms: Vec<f64> = samples.iter().map(|s| s.ms).collect();
    ms.sort_by(f64::total_cmp);
    Latencies {
        runs: samples.len(),
        p50_ms: percentile(&ms, 0.5),
        p99_ms: percentile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
        injected: samples.iter().filter(|s| s.injected).count(),
        errors: samples.iter().filter(|s| s.error).count(),
    }
}
