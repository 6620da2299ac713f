//! The LoCoMo benchmark's code path on a tiny synthetic conversation in
//! LoCoMo's JSON shape (the real data set is never part of the repository).

use std::sync::Arc;

use cm_bench::locomo::{self, Conversation, Metrics};
use cm_core::{Config, Embedder};
use cm_engine::{Engine, ListFilter};
use cm_testkit::HashEmbedder;

/// Two sessions, a repeated turn, an image caption, and questions whose
/// BM25 rankings can be worked out by hand (see `bm25_figures_are_the_hand_computed_ones`).
const CONVERSATION: &str = r#"{
  "speaker_a": "Alice",
  "speaker_b": "Bob",
  "session_1_date_time": "10:05 am on 1 March, 2023",
  "session_1": [
    {"speaker": "Alice", "dia_id": "D1:1", "text": "I adopted a greyhound named Comet last week."},
    {"speaker": "Bob", "dia_id": "D1:2", "text": "Thanks!"},
    {"speaker": "Alice", "dia_id": "D1:3", "text": "My sister lives in Lisbon and teaches violin."},
    {"speaker": "Bob", "dia_id": "D1:4", "text": "Thanks!"}
  ],
  "session_1_summary": "not a memory",
  "session_2_date_time": "3:30 pm on 2 April, 2023",
  "session_2": [
    {"speaker": "Bob", "dia_id": "D2:1", "text": "Here is my pottery.",
     "blip_caption": "a blue ceramic bowl on a table", "img_url": ["http://example.invalid/x.jpg"]},
    {"speaker": "Alice", "dia_id": "D2:2", "text": "Comet loves running on the beach."}
  ],
  "session_3_date_time": "9:00 am on 5 May, 2023",
  "qa": [
    {"question": "What kind of dog did Alice adopt?", "answer": "a greyhound",
     "evidence": ["D1:1"], "category": 4},
    {"question": "Where does the sister who teaches violin live, and what is the greyhound called?",
     "answer": "Lisbon; Comet", "evidence": ["D1:3; D1:1"], "category": 1},
    {"question": "What did Bob make from clay?", "answer": "a bowl",
     "evidence": ["D2:1", "D9:9"], "category": 3},
    {"question": "Who said thanks?", "answer": "Bob", "evidence": ["D1:4"], "category": 2},
    {"question": "What is the capital of Peru?", "answer": "Lima", "evidence": ["D2:2"], "category": 4},
    {"question": "What is Bob's favourite film?", "adversarial_answer": "Alien",
     "evidence": ["D1:2"], "category": 5},
    {"question": "Broken evidence", "answer": 2023, "evidence": ["D"], "category": 4}
  ]
}"#;

fn conversation() -> Conversation {
    Conversation::parse("synthetic", CONVERSATION).unwrap()
}

fn close(m: &Metrics, want: [f64; 5], questions: usize) {
    let got = [m.r_at_1, m.r_at_5, m.r_at_10, m.hit_at_5, m.mrr];
    assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-9), "got {got:?}, want {want:?}");
    assert_eq!(m.questions, questions);
}

#[test]
fn the_conversation_is_read_as_documented() {
    let c = conversation();
    assert_eq!(c.turns.len(), 6);
    assert_eq!(c.turns[4].content, "Bob: Here is my pottery. [image: a blue ceramic bowl on a table]");
    // Category 5 is left out; the question whose only evidence is "D" is skipped.
    assert_eq!(c.questions.len(), 5);
    assert_eq!(c.skipped_questions, 1);
    // "D9:9" names no turn and "D" nothing at all.
    assert_eq!(c.ignored_evidence, 2);
    assert_eq!(c.questions[1].evidence, ["D1:3", "D1:1"]);
}

#[tokio::test]
async fn every_turn_is_kept_with_its_session_date() {
    let conversations = [conversation()];
    let engine = Engine::new(locomo::bench_config(Config::default()), None);
    let ingested = locomo::ingest(&engine, &conversations).await.unwrap();
    let project = ingested.project(0).unwrap();
    let mut memories = engine.list(project, &ListFilter::default(), 100, 0).await.unwrap();
    memories.sort_by_key(|m| m.id);
    // The repeated "Bob: Thanks!" was not folded into its first occurrence.
    assert_eq!(memories.len(), 6);
    assert_eq!(memories[1].content, memories[3].content);
    // 2023-03-01T10:05Z and 2023-04-02T15:30Z.
    assert_eq!(memories[0].created_at, 1_677_665_100_000);
    assert_eq!(memories[5].created_at, 1_680_449_400_000);
    assert_eq!(memories[5].provenance.session_id.as_deref(), Some("session_2"));
    assert_eq!(memories[5].provenance.transcript_start, Some(2));
    engine.close().await;
}

/// Rankings by BM25 (ties go to the newer memory, then the higher id):
///
/// 1. "kind dog alice adopt": D1:1 alone matches "adopt" → rank 1. R@1 1, MRR 1.
/// 2. "sister teaches violin live greyhound called": D1:3 (four words), then D1:1
///    (one) → R@1 ½, R@5 1, MRR 1.
/// 3. "bob make clay": only "bob" matches; the two short "Bob: Thanks!" turns
///    outrank the pottery turn → D2:1 third: R@1 0, R@5 1, MRR ⅓.
/// 4. "said thanks": the two "Thanks!" turns tie; D1:4 has the higher id → rank 1.
///    Had the repeat been deduplicated, D1:4 would not exist and this would score 0.
/// 5. "capital peru": nothing matches → 0 everywhere.
#[tokio::test]
async fn bm25_figures_are_the_hand_computed_ones() {
    let report = locomo::run(&[conversation()], Config::default(), None).await.unwrap();
    assert!(report.modes.hybrid.is_none() && report.modes.vector.is_none());
    let bm25 = &report.modes.bm25;
    close(&bm25.overall, [0.5, 0.8, 0.8, 0.8, (1.0 + 1.0 + 1.0 / 3.0 + 1.0) / 5.0], 5);
    close(&bm25.by_category["1"], [0.5, 1.0, 1.0, 1.0, 1.0], 1);
    close(&bm25.by_category["2"], [1.0, 1.0, 1.0, 1.0, 1.0], 1);
    close(&bm25.by_category["3"], [0.0, 1.0, 1.0, 1.0, 1.0 / 3.0], 1);
    close(&bm25.by_category["4"], [0.5, 0.5, 0.5, 0.5, 0.5], 2);
    assert_eq!(
        (report.turns, report.questions, report.skipped_questions, report.ignored_evidence),
        (6, 5, 1, 2)
    );
    assert_eq!(report.search.decay_weight, 0.0, "the benchmark ranks without age decay");
}

#[tokio::test]
async fn with_an_embedder_every_mode_is_reported_as_one_json_object() {
    let embedder: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(64));
    let report = locomo::run(&[conversation()], Config::default(), Some(embedder)).await.unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["model"], "bench-hash");
    for mode in ["hybrid", "vector", "bm25"] {
        let m = &json["modes"][mode];
        for key in ["r@1", "r@5", "r@10", "hit@5", "mrr"] {
            let v = m[key].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{mode} {key}: {m}");
        }
        for category in ["1", "2", "3", "4"] {
            assert!(m["by_category"][category]["r@5"].is_number(), "{mode} {category}: {m}");
        }
    }
    assert!(json["ingest_seconds"].as_f64().unwrap() > 0.0);
    assert!(json["query_ms_p50"].as_f64().unwrap() > 0.0);
    // BM25 figures do not depend on the embedder.
    let mrr = json["modes"]["bm25"]["mrr"].as_f64().unwrap();
    assert!((mrr - (1.0 + 1.0 + 1.0 / 3.0 + 1.0) / 5.0).abs() < 1e-9, "{mrr}");
}
