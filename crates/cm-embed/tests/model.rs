//! The model against the independent reference, and the tokeniser settings
//! around it (padding, truncation, prefixes).

mod common;

use cm_core::EmbedKind;
use cm_embed::{Model, ModelOptions, ModelSpec, init_onnxruntime};
use common::{cosine, fixture, model_dir, norm, ort_library};

fn load(id: &str) -> Model {
    let runtime = init_onnxruntime(Some(&ort_library())).unwrap();
    Model::load(runtime, &model_dir(), ModelSpec::builtin(id).unwrap(), ModelOptions::default()).unwrap()
}

fn check_against_reference(id: &str, threshold: f64) {
    let fixture = fixture();
    let mut model = load(id);
    let texts: Vec<&str> = fixture.sentences.iter().map(String::as_str).collect();
    let vectors = model.embed(&texts, EmbedKind::Passage).unwrap();
    assert_eq!(vectors.len(), texts.len());
    for ((text, got), want) in texts.iter().zip(&vectors).zip(&fixture.embeddings) {
        assert_eq!(got.len(), 384);
        assert!((norm(got) - 1.0).abs() < 1e-5, "{id}: not unit length for {text:?}");
        let similarity = cosine(got, want);
        assert!(similarity >= threshold, "{id}: cosine {similarity:.6} < {threshold} for {text:?}");
    }
}

#[test]
fn float32_model_matches_the_reference() {
    check_against_reference("all-minilm-l6-v2", 0.9999);
}

#[test]
fn int8_model_matches_the_reference() {
    check_against_reference("all-minilm-l6-v2-int8", 0.99);
}

#[test]
fn related_sentences_score_above_unrelated_ones() {
    let fixture = fixture();
    let mut model = load("all-minilm-l6-v2");
    let texts: Vec<&str> = fixture.sentences.iter().map(String::as_str).collect();
    let v = model.embed(&texts, EmbedKind::Passage).unwrap();
    // 0/1: running migrations at start-up; 2/3: sqlite lock errors; 4: a cat.
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[4]) + 0.2);
    assert!(cosine(&v[2], &v[3]) > cosine(&v[2], &v[4]) + 0.2);
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[3]));
    assert!(cosine(&v[2], &v[3]) > cosine(&v[2], &v[1]));
}

#[test]
fn padding_does_not_change_a_vector() {
    // Alone, a short text is not padded; next to a long one it is padded to
    // the long one's length. The attention mask must make that invisible.
    let mut model = load("all-minilm-l6-v2");
    let short = "memory";
    let long = "Concurrent writes to the sqlite database fail with a busy lock error when two \
                processes open the same file and neither sets a busy timeout.";
    let alone = model.embed(&[short], EmbedKind::Query).unwrap().remove(0);
    let batched = model.embed(&[long, short], EmbedKind::Query).unwrap();
    assert!(cosine(&alone, &batched[1]) > 0.99999);
}

#[test]
fn long_texts_are_truncated_at_the_token_limit() {
    // 2,000 words is several times the 512 positions the model has: without
    // truncation the run would fail.
    let mut model = load("all-minilm-l6-v2");
    let long = "the quick brown fox jumps over the lazy dog ".repeat(250);
    assert!(model.token_count(&long).unwrap() <= 256);
    let vectors = model.embed(&[long.as_str(), "short"], EmbedKind::Passage).unwrap();
    assert!((norm(&vectors[0]) - 1.0).abs() < 1e-5);
}

#[test]
fn small_token_budget_splits_runs_without_changing_results() {
    let runtime = init_onnxruntime(Some(&ort_library())).unwrap();
    let spec = ModelSpec::all_minilm_l6_v2();
    let tiny = ModelOptions { max_batch_tokens: 16, ..ModelOptions::default() };
    let mut split = Model::load(runtime, &model_dir(), spec, tiny).unwrap();
    let mut whole = load("all-minilm-l6-v2");
    let fixture = fixture();
    let texts: Vec<&str> = fixture.sentences.iter().map(String::as_str).collect();
    let a = split.embed(&texts, EmbedKind::Passage).unwrap();
    let b = whole.embed(&texts, EmbedKind::Passage).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!(cosine(x, y) > 0.99999);
    }
}

#[test]
fn prefixes_are_applied_per_kind() {
    // MiniLM has no prefixes; give it e5-style ones to see them applied.
    let runtime = init_onnxruntime(Some(&ort_library())).unwrap();
    let spec = ModelSpec {
        id: "minilm-with-prefixes".into(),
        query_prefix: "query: ".into(),
        passage_prefix: "passage: ".into(),
        ..ModelSpec::all_minilm_l6_v2()
    };
    let mut prefixed = Model::load(runtime, &model_dir(), spec, ModelOptions::default()).unwrap();
    let mut plain = load("all-minilm-l6-v2");
    let text = "tabs in Makefiles";
    let query = prefixed.embed(&[text], EmbedKind::Query).unwrap().remove(0);
    let passage = prefixed.embed(&[text], EmbedKind::Passage).unwrap().remove(0);
    let expected_query = plain.embed(&["query: tabs in Makefiles"], EmbedKind::Query).unwrap().remove(0);
    let expected_passage = plain.embed(&["passage: tabs in Makefiles"], EmbedKind::Query).unwrap().remove(0);
    assert!(cosine(&query, &expected_query) > 0.99999);
    assert!(cosine(&passage, &expected_passage) > 0.99999);
    assert!(cosine(&query, &passage) < 0.9999);

    let mixed = prefixed.embed_mixed(&[(EmbedKind::Query, text), (EmbedKind::Passage, text)]).unwrap();
    assert!(cosine(&mixed[0], &query) > 0.99999);
    assert!(cosine(&mixed[1], &passage) > 0.99999);
}

#[test]
fn model_reports_what_it_feeds() {
    let model = load("all-minilm-l6-v2");
    let mut inputs = model.input_names();
    inputs.sort();
    assert_eq!(inputs, ["attention_mask", "input_ids", "token_type_ids"]);
    assert_eq!(model.spec().id, "all-minilm-l6-v2");
}

#[test]
fn wrong_dimension_in_the_spec_is_refused() {
    let runtime = init_onnxruntime(Some(&ort_library())).unwrap();
    let spec = ModelSpec { dimension: 768, ..ModelSpec::all_minilm_l6_v2() };
    let err = Model::load(runtime, &model_dir(), spec, ModelOptions::default()).unwrap_err();
    assert!(matches!(err, cm_embed::Error::UnsupportedModel { .. }), "{err}");
    assert!(err.to_string().contains("768"), "{err}");
}
