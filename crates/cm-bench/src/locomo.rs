//! `claude-memory bench locomo`: retrieval quality on LoCoMo conversations.
//!
//! LoCoMo (Maharana et al., ACL 2024) records long conversations between two
//! people over dozens of sessions, with questions whose evidence is a set of
//! turns. The task measured here: each conversation is one project with its
//! own database; each turn is one memory, `"<speaker>: <text>"` plus
//! `" [image: <caption>]"` when the speaker shared a picture, dated by its
//! session; each question of categories 1–4 is a query, and a result is
//! relevant when its turn is in the question's evidence. Recall at 1, 5 and
//! 10, Hit@5 and MRR (first relevant result within the top 10) are reported
//! overall and by category, for hybrid, vector-only and BM25-only search.
//!
//! Ingestion and search go through the engine's own pipelines, with three
//! deliberate departures, each because the figures would otherwise measure
//! something other than retrieval:
//!
//! - Turns are written with [`Engine::record`], not `save`. A conversation
//!   repeats itself ("Thanks!", "Sounds great!"), and the save pipeline would
//!   fold a repeat into the earlier memory — even at
//!   `save.dedupe_threshold = 1.0`, because an identical content hash always
//!   dedupes — leaving the later turn's id unretrievable. `record` still
//!   redacts secrets, and keeps each turn's session date as its creation time.
//! - Age decay is off (`search.decay_weight = 0`). The conversations date
//!   from 2022–2024: against today's clock every memory is old and decay is
//!   a near-constant factor, and evaluated as of each conversation's last
//!   session it would favour later sessions, whereas LoCoMo's questions ask
//!   about any point of the history with no preference for recent events.
//!   Either way it would measure the clock, not the ranking.
//! - Searches do not count as accesses (`touch = false`), so one query cannot
//!   influence the next.
//!
//! Ranking uses the configured search settings (defaults, then
//! `config.toml`, then `CLAUDE_MEMORY_*` variables), so fusions can be
//! compared with e.g. `CLAUDE_MEMORY_FUSION=rrf`. The default weights were
//! chosen with this benchmark on conversations 26, 30 and 41, keeping 42
//! and 43 as a held-out check; only global settings were tuned, never
//! anything per question.
//!
//! The published data has a few malformed evidence ids: `"D8:6; D9:17"` (two
//! ids in one string) is split, `"D:11:26"` is read as `D11:26`, and ids that
//! name no turn of the conversation (`"D"`, a turn number past the end of
//! its session) are ignored and counted in the report. A question left with
//! no evidence is skipped and counted too.
//!
//! LoCoMo is licensed CC BY-NC 4.0: it is read from a directory given at run
//! time and never shipped with claude-memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use cm_core::{
    Config, Embedder, Fusion, MemoryType, NewMemory, Provenance, SearchConfig, SearchMode, SearchRequest,
    Source,
};
use cm_engine::{Engine, Project};
use serde::Serialize;
use serde_json::Value;
use time::PrimitiveDateTime;
use time::macros::format_description;

use crate::{Error, Result, percentile};

/// LoCoMo's question categories that have answers, with their names.
pub const CATEGORIES: [(u8, &str); 4] =
    [(1, "multi-hop"), (2, "temporal"), (3, "open-domain"), (4, "single-hop")];

/// Results asked of each search: the deepest cut-off measured.
pub const TOP_K: usize = 10;

/// One turn of a conversation, as the memory it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Its id in the data set, in canonical form (`D3:7`).
    pub dia_id: String,
    /// The memory's text.
    pub content: String,
    /// Its session's date, unix milliseconds (the sessions carry no time zone; read as UTC).
    pub created_at: i64,
    /// Session number.
    pub session: u32,
    /// 1-based position within the session.
    pub position: i64,
}

/// One question with an answer in the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The question, used verbatim as the query.
    pub text: String,
    /// 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop.
    pub category: u8,
    /// Canonical ids of the turns that answer it; never empty, each naming a turn.
    pub evidence: Vec<String>,
}

/// A conversation ready to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Its name (the file name without `.json`).
    pub id: String,
    /// Every turn, in order.
    pub turns: Vec<Turn>,
    /// The questions of categories 1–4 that have usable evidence.
    pub questions: Vec<Question>,
    /// Evidence ids that name no turn, ignored.
    pub ignored_evidence: usize,
    /// Questions of categories 1–4 skipped because none of their evidence names a turn.
    pub skipped_questions: usize,
}

impl Conversation {
    /// Reads one conversation in LoCoMo's JSON shape; `id` names it in errors and reports.
    pub fn parse(id: &str, json: &str) -> Result<Conversation> {
        let bad = |message: String| Error::Data { file: id.to_owned(), message };
        let doc: Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let obj = doc.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
        // `session_<n>` holds the turns; `session_<n>_date_time` and the
        // annotations (`_summary`, `_observation`) share the prefix but do not
        // parse as a number.
        let mut sessions: Vec<(u32, &Vec<Value>)> = obj
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("session_")?.parse().ok()?, v.as_array()?)))
            .collect();
        sessions.sort_by_key(|(n, _)| *n);
        let mut turns = Vec::new();
        for (n, list) in sessions {
            let key = format!("session_{n}_date_time");
            let when =
                obj.get(&key).and_then(Value::as_str).ok_or_else(|| bad(format!("{key} is missing")))?;
            let created_at =
                parse_session_time(when).ok_or_else(|| bad(format!("{key}: cannot read {when:?}")))?;
            for (i, turn) in list.iter().enumerate() {
                let field = |name: &str| turn.get(name).and_then(Value::as_str);
                let (Some(speaker), Some(text), Some(dia_id)) =
                    (field("speaker"), field("text"), field("dia_id"))
                else {
                    return Err(bad(format!("session_{n} turn {} needs speaker, text and dia_id", i + 1)));
                };
                let dia_id = canonical_dia_id(dia_id)
                    .ok_or_else(|| bad(format!("turn id {dia_id:?} is not like D3:7")))?;
                let mut content = format!("{speaker}: {text}");
                if let Some(caption) = field("blip_caption").map(str::trim).filter(|c| !c.is_empty()) {
                    content.push_str(&format!(" [image: {caption}]"));
                }
                turns.push(Turn { dia_id, content, created_at, session: n, position: i as i64 + 1 });
            }
        }
        if turns.is_empty() {
            return Err(bad("no sessions with turns".into()));
        }

        let known: HashSet<&str> = turns.iter().map(|t| t.dia_id.as_str()).collect();
        let qa = obj.get("qa").and_then(Value::as_array).ok_or_else(|| bad("qa is missing".into()))?;
        let (mut questions, mut ignored_evidence, mut skipped_questions) = (Vec::new(), 0, 0);
        for (i, q) in qa.iter().enumerate() {
            let category = q.get("category").and_then(Value::as_u64);
            let text = q.get("question").and_then(Value::as_str);
            let (Some(category), Some(text)) = (category, text) else {
                return Err(bad(format!("question {} needs question and category", i + 1)));
            };
            // Category 5 is adversarial: its questions have no answer to find.
            if !(1..=4).contains(&category) {
                continue;
            }
            let mut evidence: Vec<String> = Vec::new();
            let raw =
                q.get("evidence").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
            for part in raw.flat_map(|e| e.split(';')).map(str::trim).filter(|p| !p.is_empty()) {
                match canonical_dia_id(part) {
                    Some(id) if known.contains(id.as_str()) => {
                        if !evidence.contains(&id) {
                            evidence.push(id);
                        }
                    }
                    _ => ignored_evidence += 1,
                }
            }
            if evidence.is_empty() {
                skipped_questions += 1;
                continue;
            }
            questions.push(Question { text: text.to_owned(), category: category as u8, evidence });
        }
        Ok(Conversation { id: id.to_owned(), turns, questions, ignored_evidence, skipped_questions })
    }
}

/// Reads every `*.json` conversation in `dir`, in file-name order.
pub fn load_dir(dir: &Path) -> Result<Vec<Conversation>> {
    let io = |source| Error::Io { context: format!("reading {}", dir.display()), source };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(io)?;
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    if files.is_empty() {
        return Err(Error::Data {
            file: dir.display().to_string(),
            message: "no conversation files (*.json) here".into(),
        });
    }
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|source| Error::Io { context: format!("reading {}", path.display()), source })?;
            let id = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            Conversation::parse(&id, &text)
        })
        .collect()
}

/// `D3:7` from `D3:7`, ` D3:7 `, or the data's one `D:3:7`.
fn canonical_dia_id(raw: &str) -> Option<String> {
    let rest = raw.trim().strip_prefix('D')?;
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let (session, turn) = rest.split_once(':')?;
    let session: u32 = session.trim().parse().ok()?;
    let turn: u32 = turn.trim().parse().ok()?;
    Some(format!("D{session}:{turn}"))
}

/// Unix milliseconds of a session date like `1:47 pm on 18 May, 2023`.
fn parse_session_time(text: &str) -> Option<i64> {
    let format = format_description!(
        "[hour repr:12 padding:none]:[minute] [period case:lower case_sensitive:false] on \
         [day padding:none] [month repr:long case_sensitive:false], [year]"
    );
    let t = PrimitiveDateTime::parse(text.trim(), format).ok()?;
    i64::try_from(t.assume_utc().unix_timestamp_nanos() / 1_000_000).ok()
}

/// One question's scores against a ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Share of the evidence in the top 1.
    pub r_at_1: f64,
    /// Share of the evidence in the top 5.
    pub r_at_5: f64,
    /// Share of the evidence in the top 10.
    pub r_at_10: f64,
    /// 1 when any evidence is in the top 5.
    pub hit_at_5: f64,
    /// 1 / rank of the first relevant result within the top 10, else 0.
    pub reciprocal_rank: f64,
}

impl Score {
    /// Scores `ranked` (turn ids, best first) against `evidence`.
    pub fn of(ranked: &[&str], evidence: &[String]) -> Score {
        let recall = |k: usize| {
            let found = evidence.iter().filter(|e| ranked.iter().take(k).any(|r| r == e)).count();
            found as f64 / evidence.len().max(1) as f64
        };
        let first = ranked.iter().take(TOP_K).position(|r| evidence.iter().any(|e| e == r));
        Score {
            r_at_1: recall(1),
            r_at_5: recall(5),
            r_at_10: recall(10),
            hit_at_5: if first.is_some_and(|p| p < 5) { 1.0 } else { 0.0 },
            reciprocal_rank: first.map_or(0.0, |p| 1.0 / (p + 1) as f64),
        }
    }
}

/// Scores averaged over questions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Mean recall at 1.
    #[serde(rename = "r@1")]
    pub r_at_1: f64,
    /// Mean recall at 5.
    #[serde(rename = "r@5")]
    pub r_at_5: f64,
    /// Mean recall at 10.
    #[serde(rename = "r@10")]
    pub r_at_10: f64,
    /// Share of questions with a relevant result in the top 5.
    #[serde(rename = "hit@5")]
    pub hit_at_5: f64,
    /// Mean reciprocal rank (cut at 10).
    pub mrr: f64,
    /// Questions averaged.
    pub questions: usize,
}

impl Metrics {
    /// The mean of `scores` (all zero when there are none).
    pub fn mean<'a>(scores: impl IntoIterator<Item = &'a Score>) -> Metrics {
        let mut m = Metrics::default();
        for s in scores {
            m.r_at_1 += s.r_at_1;
            m.r_at_5 += s.r_at_5;
            m.r_at_10 += s.r_at_10;
            m.hit_at_5 += s.hit_at_5;
            m.mrr += s.reciprocal_rank;
            m.questions += 1;
        }
        let n = m.questions.max(1) as f64;
        for v in [&mut m.r_at_1, &mut m.r_at_5, &mut m.r_at_10, &mut m.hit_at_5, &mut m.mrr] {
            *v /= n;
        }
        m
    }
}

/// Figures for one search mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeReport {
    /// Over every question.
    #[serde(flatten)]
    pub overall: Metrics,
    /// By category number (`"1"` … `"4"`).
    pub by_category: BTreeMap<String, Metrics>,
    /// Median search latency, query embedding included.
    pub query_ms_p50: f64,
}

/// One value per search mode; the vector modes are absent without an embedder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerMode<T> {
    /// BM25 and vectors fused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hybrid: Option<T>,
    /// Vectors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<T>,
    /// BM25 only.
    pub bm25: T,
}

/// Per-conversation summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationReport {
    /// Conversation name.
    pub id: String,
    /// Turns ingested.
    pub turns: usize,
    /// Questions asked.
    pub questions: usize,
    /// Overall figures by mode.
    pub modes: PerMode<Metrics>,
}

/// The whole benchmark.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocomoReport {
    /// The embedding model; `None` when only BM25 ran.
    pub model: Option<String>,
    /// Figures by mode.
    pub modes: PerMode<ModeReport>,
    /// Time to write every conversation (open, redact, embed, insert).
    pub ingest_seconds: f64,
    /// Median hybrid search latency (BM25's without a model).
    pub query_ms_p50: f64,
    /// Turns ingested.
    pub turns: usize,
    /// Questions asked.
    pub questions: usize,
    /// Questions of categories 1–4 skipped for lack of usable evidence.
    pub skipped_questions: usize,
    /// Evidence ids naming no turn, ignored.
    pub ignored_evidence: usize,
    /// Turns in which secret redaction changed something.
    pub redacted_turns: usize,
    /// The ranking settings searched with.
    pub search: SearchConfig,
    /// Per conversation.
    pub conversations: Vec<ConversationReport>,
}

/// The settings the benchmark searches with: `config`'s, without age decay
/// (see the module documentation).
pub fn bench_config(mut config: Config) -> Config {
    config.search.decay_weight = 0.0;
    config
}

/// Conversations written into their own projects in a temporary directory
/// (removed on drop).
#[derive(Debug)]
pub struct Ingested {
    dir: tempfile::TempDir,
    /// Per conversation, in order: its project and the turn id of each memory.
    projects: Vec<(Project, HashMap<i64, String>)>,
    /// Time taken to write them.
    pub seconds: f64,
    /// Turns that secret redaction changed.
    pub redacted_turns: usize,
}

impl Ingested {
    /// Where the projects are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The project of the `i`-th conversation.
    pub fn project(&self, i: usize) -> Option<&Project> {
        self.projects.get(i).map(|(p, _)| p)
    }

    /// The project of the `i`-th conversation and the turn id of each memory.
    pub fn conversation(&self, i: usize) -> Option<(&Project, &HashMap<i64, String>)> {
        self.projects.get(i).map(|(p, ids)| (p, ids))
    }
}

/// Writes each conversation into its own new project through `engine`.
pub async fn ingest(engine: &Engine, conversations: &[Conversation]) -> Result<Ingested> {
    let dir = tempfile::Builder::new()
        .prefix("claude-memory-locomo-")
        .tempdir()
        .map_err(|source| Error::Io { context: "creating a temporary directory".into(), source })?;
    let start = Instant::now();
    let mut projects = Vec::with_capacity(conversations.len());
    let mut redacted_turns = 0;
    for (i, c) in conversations.iter().enumerate() {
        let root = dir.path().join(format!("conversation-{i}"));
        std::fs::create_dir(&root)
            .map_err(|source| Error::Io { context: format!("creating {}", root.display()), source })?;
        let project = Project::at(&root)?;
        let mut memories = Vec::with_capacity(c.turns.len());
        for t in &c.turns {
            let mut new = NewMemory::new(&t.content, Source::Import)?.with_type(MemoryType::Context);
            new.provenance = Provenance {
                session_id: Some(format!("session_{}", t.session)),
                transcript_start: Some(t.position),
                transcript_end: Some(t.position),
            };
            memories.push((new, t.created_at));
        }
        let outcomes = engine.record(&project, memories).await?;
        if engine.embedder().is_some() && outcomes.iter().any(|o| !o.embedded) {
            return Err(Error::Data {
                file: c.id.clone(),
                message: "embedding the turns failed (see the warnings above)".into(),
            });
        }
        redacted_turns += outcomes.iter().filter(|o| !o.redacted.is_empty()).count();
        let ids =
            outcomes.iter().zip(&c.turns).filter_map(|(o, t)| Some((o.id?, t.dia_id.clone()))).collect();
        projects.push((project, ids));
        eprintln!(
            "locomo: ingested conversation {}/{} ({} turns, {:.0} s)",
            i + 1,
            conversations.len(),
            c.turns.len(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Ingested { dir, projects, seconds: start.elapsed().as_secs_f64(), redacted_turns })
}

/// Asks every question of every conversation in `mode`; returns the
/// report over all of them and the overall figures of each conversation.
pub async fn evaluate(
    engine: &Engine,
    ingested: &Ingested,
    conversations: &[Conversation],
    mode: SearchMode,
) -> Result<(ModeReport, Vec<Metrics>)> {
    let mut all: Vec<(u8, Score)> = Vec::new();
    let mut per_conversation = Vec::with_capacity(conversations.len());
    let mut times = Vec::new();
    let start = Instant::now();
    for (c, (project, dia_ids)) in conversations.iter().zip(&ingested.projects) {
        let mut scores = Vec::with_capacity(c.questions.len());
        for q in &c.questions {
            let mut req = SearchRequest::new(q.text.clone(), TOP_K);
            req.mode = mode;
            req.touch = false;
            let start = Instant::now();
            let results = engine.search(project, &req).await?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            if results.mode != mode {
                // A hybrid search whose query could not be embedded ran as BM25:
                // its figures would be mislabelled.
                return Err(Error::Data {
                    file: c.id.clone(),
                    message: format!("a {mode:?} search ran as {:?} (query embedding failed?)", results.mode),
                });
            }
            let ranked: Vec<&str> =
                results.hits.iter().filter_map(|h| dia_ids.get(&h.memory.id).map(String::as_str)).collect();
            let score = Score::of(&ranked, &q.evidence);
            scores.push(score);
            all.push((q.category, score));
        }
        per_conversation.push(Metrics::mean(&scores));
        eprintln!(
            "locomo: {mode:?}, conversation {}/{} asked ({:.0} s)",
            per_conversation.len(),
            conversations.len(),
            start.elapsed().as_secs_f64()
        );
    }
    times.sort_by(f64::total_cmp);
    let by_category = CATEGORIES
        .iter()
        .map(|(n, _)| (n.to_string(), Metrics::mean(all.iter().filter(|(c, _)| c == n).map(|(_, s)| s))))
        .collect();
    let report = ModeReport {
        overall: Metrics::mean(all.iter().map(|(_, s)| s)),
        by_category,
        query_ms_p50: percentile(&times, 0.5),
    };
    Ok((report, per_conversation))
}

/// Runs the benchmark: ingests `conversations` with `embedder`, then asks
/// every question in each mode (hybrid and vector only with an embedder),
/// ranking with `config`'s search settings minus age decay.
pub async fn run(
    conversations: &[Conversation],
    config: Config,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<LocomoReport> {
    let config = bench_config(config);
    let model = embedder.as_ref().map(|e| e.model_id().to_owned());
    let engine = Engine::new(config.clone(), embedder);
    let ingested = ingest(&engine, conversations).await?;
    // Hybrid runs first, so its latency includes embedding each query; the
    // vector-only pass may then reuse the embedder's cached query vectors.
    let run_mode = async |mode| evaluate(&engine, &ingested, conversations, mode).await;
    let (hybrid, vector) = if model.is_some() {
        (Some(run_mode(SearchMode::Hybrid).await?), Some(run_mode(SearchMode::Vector).await?))
    } else {
        (None, None)
    };
    let bm25 = run_mode(SearchMode::Bm25).await?;
    engine.close().await;

    let conversation_reports = conversations
        .iter()
        .enumerate()
        .map(|(i, c)| ConversationReport {
            id: c.id.clone(),
            turns: c.turns.len(),
            questions: c.questions.len(),
            modes: PerMode {
                hybrid: hybrid.as_ref().map(|(_, per)| per[i]),
                vector: vector.as_ref().map(|(_, per)| per[i]),
                bm25: bm25.1[i],
            },
        })
        .collect();
    let query_ms_p50 = hybrid.as_ref().map_or(bm25.0.query_ms_p50, |(r, _)| r.query_ms_p50);
    Ok(LocomoReport {
        model,
        modes: PerMode { hybrid: hybrid.map(|(r, _)| r), vector: vector.map(|(r, _)| r), bm25: bm25.0 },
        ingest_seconds: ingested.seconds,
        query_ms_p50,
        turns: conversations.iter().map(|c| c.turns.len()).sum(),
        questions: conversations.iter().map(|c| c.questions.len()).sum(),
        skipped_questions: conversations.iter().map(|c| c.skipped_questions).sum(),
        ignored_evidence: conversations.iter().map(|c| c.ignored_evidence).sum(),
        redacted_turns: ingested.redacted_turns,
        search: config.search,
        conversations: conversation_reports,
    })
}

impl fmt::Display for LocomoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "LoCoMo retrieval: {} conversations, {} turns, {} questions (categories 1-4); model: {}",
            self.conversations.len(),
            self.turns,
            self.questions,
            self.model.as_deref().unwrap_or("none (BM25 only)")
        )?;
        let s = &self.search;
        let fusion = match s.fusion {
            Fusion::Weighted => format!(
                "weighted {}·similarity + {}·min(|bm25|/{}, 1)",
                s.vector_weight, s.bm25_weight, s.bm25_scale
            ),
            Fusion::Rrf => format!("RRF k={}", s.rrf_k),
        };
        writeln!(f, "hybrid fusion: {fusion}; {} candidates per retriever; no age decay", s.candidates)?;
        writeln!(
            f,
            "\n{:<7} {:<14} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}",
            "mode", "questions", "n", "R@1", "R@5", "R@10", "Hit@5", "MRR", "p50 ms"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, mode: &str, label: &str, m: &Metrics, ms: Option<f64>| {
            writeln!(
                f,
                "{:<7} {:<14} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>8}",
                mode,
                label,
                m.questions,
                m.r_at_1,
                m.r_at_5,
                m.r_at_10,
                m.hit_at_5,
                m.mrr,
                ms.map_or_else(String::new, |ms| format!("{ms:.2}"))
            )
        };
        let modes = [("hybrid", self.modes.hybrid.as_ref()), ("vector", self.modes.vector.as_ref())]
            .into_iter()
            .chain([("bm25", Some(&self.modes.bm25))]);
        for (name, report) in modes {
            let Some(r) = report else { continue };
            row(f, name, "all", &r.overall, Some(r.query_ms_p50))?;
            for (n, label) in CATEGORIES {
                if let Some(m) = r.by_category.get(&n.to_string()) {
                    row(f, "", &format!("{n} {label}"), m, None)?;
                }
            }
        }
        writeln!(f, "\nper conversation (R@5 / MRR):")?;
        writeln!(
            f,
            "{:<14} {:>6} {:>9} {:>13} {:>13} {:>13}",
            "conversation", "turns", "questions", "hybrid", "vector", "bm25"
        )?;
        let pair = |m: Option<&Metrics>| {
            m.map_or_else(|| "-".to_owned(), |m| format!("{:.3} / {:.3}", m.r_at_5, m.mrr))
        };
        for c in &self.conversations {
            writeln!(
                f,
                "{:<14} {:>6} {:>9} {:>13} {:>13} {:>13}",
                c.id,
                c.turns,
                c.questions,
                pair(c.modes.hybrid.as_ref()),
                pair(c.modes.vector.as_ref()),
                pair(Some(&c.modes.bm25))
            )?;
        }
        writeln!(
            f,
            "\ningest: {:.1} s ({:.0} turns/s); hybrid query p50: {:.2} ms",
            self.ingest_seconds,
            self.turns as f64 / self.ingest_seconds.max(f64::EPSILON),
            self.query_ms_p50
        )?;
        write!(
            f,
            "skipped {} questions without usable evidence; ignored {} evidence ids naming no turn; \
             {} turns redacted",
            self.skipped_questions, self.ignored_evidence, self.redacted_turns
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_dates_parse_as_utc() {
        // 2023-05-18T13:47:00Z
        assert_eq!(parse_session_time("1:47 pm on 18 May, 2023"), Some(1_684_417_620_000));
        assert_eq!(parse_session_time("12:19 am on 4 January, 2024"), Some(1_704_327_540_000));
        assert_eq!(parse_session_time("yesterday"), None);
    }

    #[test]
    fn malformed_evidence_ids_are_repaired_or_rejected() {
        assert_eq!(canonical_dia_id(" D3:7"), Some("D3:7".into()));
        assert_eq!(canonical_dia_id("D:11:26"), Some("D11:26".into()));
        assert_eq!(canonical_dia_id("D"), None);
        assert_eq!(canonical_dia_id("3:7"), None);
    }

    #[test]
    fn scores_are_recall_hit_and_reciprocal_rank() {
        let evidence = vec!["D1:2".to_owned(), "D1:9".to_owned()];
        let ranked = ["D1:1", "D1:2", "D1:3", "D1:4", "D1:5", "D1:6", "D1:9"];
        let s = Score::of(&ranked, &evidence);
        assert_eq!((s.r_at_1, s.r_at_5, s.r_at_10, s.hit_at_5, s.reciprocal_rank), (0.0, 0.5, 1.0, 1.0, 0.5));
        let none = Score::of(&["D1:1"], &evidence);
        assert_eq!((none.r_at_10, none.reciprocal_rank), (0.0, 0.0));
    }
}
