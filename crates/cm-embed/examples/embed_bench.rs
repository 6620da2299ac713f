//! Runs [`cm_embed::bench`] on the test model (or another one) and prints the report.
//!
//! ```text
//! bash scripts/setup-test-deps.sh && source ~/.cache/claude-memory-test-deps/env.sh
//! cargo run -p cm-embed --release --example embed_bench -- [--int8] [--json] [--threads N]
//!     [--queries N] [--documents N] [--batch N] [--model-dir DIR] [--ort LIBRARY]
//! ```
//!
//! The model directory defaults to `CLAUDE_MEMORY_TEST_MODEL_DIR`, else the
//! set-up script's default; the runtime is searched for as usual unless
//! `--ort` names it.
#![allow(clippy::print_stdout, reason = "an example program: the report is its output")]

use std::path::PathBuf;
use std::process::ExitCode;

use cm_embed::{BenchOptions, EmbedConfig, ModelSpec};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter("cm_embed=info,ort=warn").init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("embed_bench: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let mut options = BenchOptions::default();
    let mut int8 = false;
    let mut json = false;
    let mut threads = None;
    let mut model_dir = None;
    let mut ort = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |text: String| text.parse::<usize>().map_err(|e| format!("{text}: {e}"));
        match arg.as_str() {
            "--int8" => int8 = true,
            "--json" => json = true,
            "--threads" => threads = Some(number(value("--threads")?)?),
            "--queries" => options.queries = number(value("--queries")?)?,
            "--documents" => options.documents = number(value("--documents")?)?,
            "--batch" => options.batch_size = number(value("--batch")?)?,
            "--model-dir" => model_dir = Some(PathBuf::from(value("--model-dir")?)),
            "--ort" => ort = Some(PathBuf::from(value("--ort")?)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let model_dir = model_dir
        .or_else(|| std::env::var_os("CLAUDE_MEMORY_TEST_MODEL_DIR").map(PathBuf::from))
        .unwrap_or_else(|| cm_embed::runtime::test_deps_dir().join("models").join("all-minilm-l6-v2"));
    let id = if int8 { "all-minilm-l6-v2-int8" } else { "all-minilm-l6-v2" };
    let mut config = EmbedConfig::new(model_dir, ModelSpec::builtin(id).ok_or("unknown model")?);
    config.onnxruntime = ort;
    if let Some(threads) = threads {
        config.model.intra_threads = threads;
    }

    let report = cm_embed::bench(config, &options).await.map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        println!("{report}");
    }
    Ok(())
}
