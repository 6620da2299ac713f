//! Loading ONNX Runtime from a wrong path. This is its own test binary (its
//! own process) because a process loads the runtime only once: here the
//! failures come first, then the real library.

mod common;

use std::path::Path;

use cm_embed::{EmbedConfig, EmbedService, Error, ModelSpec, init_onnxruntime};

#[test]
fn wrong_runtime_paths_are_clear_errors_and_a_good_one_still_loads() {
    // A path that does not exist.
    let missing = Path::new("/nonexistent/claude-memory/libonnxruntime.so.1.32.0");
    let err = init_onnxruntime(Some(missing)).unwrap_err();
    assert!(matches!(err, Error::RuntimeMissing { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&missing.display().to_string()), "{message}");
    assert!(message.contains("ORT_DYLIB_PATH") && message.contains("1.31"), "{message}");

    // A file that exists but is not a shared library.
    let not_a_library = common::model_dir().join("tokenizer.json");
    let err = init_onnxruntime(Some(&not_a_library)).unwrap_err();
    assert!(matches!(err, Error::RuntimeLoad { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");

    // The same through the service: an error, not a panic.
    let mut config = EmbedConfig::new(common::model_dir(), ModelSpec::all_minilm_l6_v2());
    config.onnxruntime = Some(not_a_library);
    let err = EmbedService::load(config).unwrap_err();
    assert!(matches!(err, Error::RuntimeLoad { .. }), "{err}");

    // After those failures the right library still loads.
    let runtime = init_onnxruntime(Some(&common::ort_library())).unwrap();
    assert_eq!(runtime.path(), common::ort_library());
    assert!(runtime.version().is_some_and(|v| v.starts_with("1.")));
    // And once loaded, it stays: asking again (for any path) returns it.
    let again = init_onnxruntime(Some(missing)).unwrap();
    assert!(std::ptr::eq(runtime, again));
}
