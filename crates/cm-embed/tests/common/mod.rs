//! What the embedding tests share: where the test model and runtime are, the
//! reference fixture, and vector arithmetic.
//!
//! The tests need ONNX Runtime and the all-MiniLM-L6-v2 test model that
//! `scripts/setup-test-deps.sh` installs. They are found through
//! `ORT_DYLIB_PATH` and `CLAUDE_MEMORY_TEST_MODEL_DIR` (which the script's
//! `env.sh` exports), else in the script's default directory. If they are
//! not there the tests fail, saying how to install them: a test that skips
//! itself when its dependencies are missing would pass on a machine that
//! tests nothing.

#![allow(dead_code)] // Each test binary uses a different part of this module.

pub mod hub;

use std::path::PathBuf;

use cm_embed::{EmbedConfig, ModelSpec};

const SETUP: &str =
    "run `bash scripts/setup-test-deps.sh` (then `source ~/.cache/claude-memory-test-deps/env.sh`)";

/// The ONNX Runtime library the tests load.
pub fn ort_library() -> PathBuf {
    let explicit = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()).map(PathBuf::from);
    let place = explicit.unwrap_or_else(|| cm_embed::runtime::test_deps_dir().join("lib"));
    match cm_embed::find_onnxruntime(Some(&place)) {
        Ok(path) => path,
        Err(e) => panic!("the embedding tests need ONNX Runtime: {e}\n=> {SETUP}"),
    }
}

/// The directory of the all-MiniLM-L6-v2 test model.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("CLAUDE_MEMORY_TEST_MODEL_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cm_embed::runtime::test_deps_dir().join("models").join("all-minilm-l6-v2"));
    for file in ["tokenizer.json", "model.onnx", "model_int8.onnx"] {
        assert!(
            dir.join(file).is_file(),
            "the embedding tests need {}\n=> {SETUP}",
            dir.join(file).display()
        );
    }
    dir
}

/// A service configuration for the test model, float32 or int8.
pub fn config(int8: bool) -> EmbedConfig {
    let id = if int8 { "all-minilm-l6-v2-int8" } else { "all-minilm-l6-v2" };
    let mut config = EmbedConfig::new(model_dir(), ModelSpec::builtin(id).unwrap());
    config.onnxruntime = Some(ort_library());
    config
}

/// `tests/fixtures/minilm_reference.json`: sentences and their reference
/// embeddings from an independent numpy implementation.
#[derive(Debug, serde::Deserialize)]
pub struct Fixture {
    pub sentences: Vec<String>,
    pub embeddings: Vec<Vec<f32>>,
}

pub fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/minilm_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

pub fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt()
}
