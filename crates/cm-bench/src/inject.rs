//! `claude-memory bench inject`: what the UserPromptSubmit hook really
//! injects, and whether it should have.
//!
//! Where `bench gate` replays one search per prompt against a sweep of
//! cosine thresholds, this benchmark sends each prompt through the engine's
//! own hook, [`Engine::hook`] with [`HookEvent::UserPromptSubmit`] and a
//! payload like Claude Code's: the relevance gate, the token budget, the
//! per-session dedupe and the rendering all run as they do for Claude Code,
//! and the memories counted are the ones named in the answer's
//! `additionalContext`. Per prompt it records the memories injected, how many
//! of them are relevant and the tokens injected (the approximation the
//! budget is enforced with); over all prompts, precision (relevant injected
//! out of injected, off-topic prompts included), recall (relevant injected
//! out of relevant), tokens per prompt, and the largest injection against
//! the budget, so a budget overrun shows in the report.
//!
//! Each prompt comes in its own session, so the dedupe of a session cannot
//! hide a memory from the next prompt; the dedupe is then checked apart:
//! every prompt of the coding project is sent twice in one session, and any
//! memory injected twice is counted.
//!
//! Data: the built-in coding project (`coding_project.json`, shared with
//! `bench gate`) at every threshold of a sweep, and, when given, LoCoMo
//! conversations (each question a prompt, its evidence turns the relevant
//! memories) at the threshold in force. LoCoMo's questions are short and
//! often have one evidence turn among hundreds, so its precision is bounded
//! far below the coding project's; it shows the gate on a large,
//! single-subject project.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use cm_core::text::approx_tokens;
use cm_core::{Config, Embedder, SearchRequest};
use cm_engine::hooks::{HookEvent, HookInput, prompt_query};
use cm_engine::{Engine, Project};
use serde::Serialize;

use crate::gate::{fixture, save_fixture, tempdir};
use crate::locomo::{self, Conversation};
use crate::{Error, Result};

/// What one prompt got.
#[derive(Debug, Clone, Serialize)]
pub struct PromptOutcome {
    /// The prompt (coding project only).
    pub prompt: String,
    /// Memories injected.
    pub injected: usize,
    /// Of those, relevant.
    pub relevant_injected: usize,
    /// Relevant memories in the project.
    pub relevant: usize,
    /// Approximate tokens of the injected context (0 when nothing was injected).
    pub tokens: usize,
}

/// The hook over a set of prompts with one setting.
#[derive(Debug, Clone, Serialize)]
pub struct InjectPoint {
    /// The cosine threshold of the gate.
    pub threshold: f64,
    /// Prompts sent.
    pub prompts: usize,
    /// Memories injected per on-topic prompt.
    pub injected_per_prompt: f64,
    /// Relevant injected out of injected, off-topic prompts included.
    pub precision: f64,
    /// Relevant injected out of relevant.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Share of off-topic prompts that got anything.
    pub off_topic_injected: f64,
    /// Mean tokens injected per prompt (prompts that got nothing count 0).
    pub tokens_per_prompt: f64,
    /// The largest injection, in tokens.
    pub max_tokens: usize,
    /// Prompts whose injection exceeded the budget (must be 0).
    pub over_budget: usize,
}

impl InjectPoint {
    fn of(threshold: f64, outcomes: &[PromptOutcome], budget: usize) -> InjectPoint {
        let on_topic: Vec<&PromptOutcome> = outcomes.iter().filter(|o| o.relevant > 0).collect();
        let off_topic: Vec<&PromptOutcome> = outcomes.iter().filter(|o| o.relevant == 0).collect();
        let sum = |f: fn(&PromptOutcome) -> usize| outcomes.iter().map(f).sum::<usize>();
        let (injected, hits, relevant) =
            (sum(|o| o.injected), sum(|o| o.relevant_injected), sum(|o| o.relevant));
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (precision, recall) = (ratio(hits, injected), ratio(hits, relevant));
        InjectPoint {
            threshold,
            prompts: outcomes.len(),
            injected_per_prompt: ratio(on_topic.iter().map(|o| o.injected).sum(), on_topic.len()),
            precision,
            recall,
            f1: if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) },
            off_topic_injected: ratio(off_topic.iter().filter(|o| o.injected > 0).count(), off_topic.len()),
            tokens_per_prompt: ratio(sum(|o| o.tokens), outcomes.len()),
            max_tokens: outcomes.iter().map(|o| o.tokens).max().unwrap_or(0),
            over_budget: outcomes.iter().filter(|o| o.tokens > budget).count(),
        }
    }
}

/// The whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct InjectReport {
    /// The model measured.
    pub model: String,
    /// The gate's cosine threshold in force (configured, else the model's calibration).
    pub threshold: f64,
    /// Memories injected at most per prompt (`hooks.prompt_limit`).
    pub limit: usize,
    /// Token budget per injection (`hooks.max_tokens`).
    pub budget: usize,
    /// Memories and prompts (on-topic, off-topic) of the coding project.
    pub coding_size: (usize, usize, usize),
    /// The coding project at each threshold of the sweep.
    pub coding: Vec<InjectPoint>,
    /// Its prompts at the threshold in force.
    pub coding_prompts: Vec<PromptOutcome>,
    /// Memories injected more than once when every coding prompt is sent
    /// twice in one session (must be 0).
    pub session_repeats: usize,
    /// Memories injected in that session's second pass (new ones only).
    pub second_pass_injected: usize,
    /// What any gate could reach on the coding project: the share of
    /// relevant memories among the search's first `limit` hits (the recall
    /// of a gate that passes everything), and the share of on-topic prompts
    /// whose first hit is relevant.
    pub ceiling: Ceiling,
    /// LoCoMo at the threshold in force, when its conversations were given.
    pub locomo: Option<InjectPoint>,
}

/// The search's own ranking, before any gate.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ceiling {
    /// Relevant memories among the first `limit` hits, out of all relevant.
    pub recall_at_limit: f64,
    /// On-topic prompts whose first hit is relevant.
    pub first_hit_relevant: f64,
}

/// Searches each on-topic prompt as the hook does, with no gate.
async fn ceiling(
    engine: &Engine,
    project: &Project,
    prompts: &[(String, HashSet<i64>)],
    limit: usize,
) -> Result<Ceiling> {
    let (mut found, mut relevant, mut first, mut on_topic) = (0, 0, 0, 0);
    for (text, rel) in prompts.iter().filter(|(_, r)| !r.is_empty()) {
        let query = prompt_query(text, 1).unwrap_or_else(|| text.clone());
        let mut req = SearchRequest::new(query, limit * 4);
        req.touch = false;
        let hits = engine.search(project, &req).await?.hits;
        found += hits.iter().take(limit).filter(|h| rel.contains(&h.memory.id)).count();
        first += usize::from(hits.first().is_some_and(|h| rel.contains(&h.memory.id)));
        relevant += rel.len();
        on_topic += 1;
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(Ceiling { recall_at_limit: ratio(found, relevant), first_hit_relevant: ratio(first, on_topic) })
}

/// The sweep: 0.20 to 0.60 by 0.05.
fn sweep() -> Vec<f64> {
    (4..=12).map(|i| f64::from(i) * 0.05).collect()
}

/// The memory ids in a hook answer, in order.
pub fn injected_ids(answer: &serde_json::Value) -> Vec<i64> {
    let text = answer["hookSpecificOutput"]["additionalContext"].as_str().unwrap_or_default();
    text.split("\n- [memory #")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

/// Sends `prompt` through the UserPromptSubmit hook in `session`; answers
/// the ids injected and the tokens of the injected context.
async fn ask(engine: &Engine, project: &Project, session: &str, prompt: &str) -> Result<(Vec<i64>, usize)> {
    let input = HookInput {
        session_id: Some(session.to_owned()),
        cwd: Some(project.root().to_owned()),
        prompt: Some(prompt.to_owned()),
        ..HookInput::default()
    };
    let answer = engine.hook(HookEvent::UserPromptSubmit, &input).await?;
    Ok(match answer {
        Some(a) => {
            let tokens = a["hookSpecificOutput"]["additionalContext"].as_str().map_or(0, approx_tokens);
            (injected_ids(&a), tokens)
        }
        None => (Vec::new(), 0),
    })
}

/// Sends every prompt, each in a session of its own named after `tag`.
async fn run_prompts(
    engine: &Engine,
    project: &Project,
    tag: &str,
    prompts: &[(String, HashSet<i64>)],
    keep_text: bool,
) -> Result<Vec<PromptOutcome>> {
    let mut out = Vec::with_capacity(prompts.len());
    for (i, (text, relevant)) in prompts.iter().enumerate() {
        let (ids, tokens) = ask(engine, project, &format!("bench-{tag}-{i}"), text).await?;
        out.push(PromptOutcome {
            prompt: if keep_text { text.clone() } else { String::new() },
            injected: ids.len(),
            relevant_injected: ids.iter().filter(|id| relevant.contains(id)).count(),
            relevant: relevant.len(),
            tokens,
        });
    }
    Ok(out)
}

/// Runs the benchmark with `embedder`, on the coding project and, when
/// given, `conversations`, with `config`'s hook settings.
pub async fn run(
    config: Config,
    embedder: Arc<dyn Embedder>,
    conversations: &[Conversation],
) -> Result<InjectReport> {
    // Hooks never decay-rank differently from search; the LoCoMo turns are
    // years old, so age decay is off as in `bench locomo`.
    let config = locomo::bench_config(config);
    let (limit, budget) = (config.hooks.prompt_limit, config.hooks.max_tokens);
    let model = embedder.model_id().to_owned();
    let with_threshold = |t: Option<f64>| {
        let mut c = config.clone();
        if t.is_some() {
            c.hooks.min_similarity = t;
        }
        Engine::new(c, Some(embedder.clone()))
    };
    let engine = with_threshold(None);
    let threshold = engine.calibration().relevance;

    let fixture = fixture()?;
    let dir = tempdir()?;
    let project = Project::at(dir.path())?;
    let ids = save_fixture(&engine, &project, &fixture).await?;
    let mut prompts = Vec::with_capacity(fixture.prompts.len());
    for p in &fixture.prompts {
        let relevant: HashSet<i64> =
            p.relevant.iter().filter_map(|k| ids.get(k).map(|(id, _)| *id)).collect();
        if relevant.len() != p.relevant.len() {
            return Err(Error::Data {
                file: "coding_project.json".into(),
                message: format!("a prompt names an unknown memory: {:?}", p.relevant),
            });
        }
        prompts.push((p.text.clone(), relevant));
    }
    let coding_prompts = run_prompts(&engine, &project, "chosen", &prompts, true).await?;

    // The per-session dedupe: every prompt twice in one session.
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut second_pass_injected = 0;
    for pass in 0..2 {
        for (text, _) in &prompts {
            let (got, _) = ask(&engine, &project, "bench-one-session", text).await?;
            if pass == 1 {
                second_pass_injected += got.len();
            }
            for id in got {
                *seen.entry(id).or_default() += 1;
            }
        }
    }
    let session_repeats = seen.values().filter(|n| **n > 1).count();
    let ceiling = ceiling(&engine, &project, &prompts, limit).await?;
    engine.close().await;

    // The threshold in force heads the table, measured on its own run.
    let mut coding = vec![InjectPoint::of(threshold, &coding_prompts, budget)];
    for t in sweep() {
        let engine = with_threshold(Some(t));
        let outcomes = run_prompts(&engine, &project, &format!("{t:.2}"), &prompts, false).await?;
        engine.close().await;
        coding.push(InjectPoint::of(t, &outcomes, budget));
    }

    let locomo = if conversations.is_empty() {
        None
    } else {
        let engine = with_threshold(None);
        let ingested = locomo::ingest(&engine, conversations).await?;
        let mut outcomes = Vec::new();
        for (i, c) in conversations.iter().enumerate() {
            let (project, turns) = ingested.conversation(i).expect("one project per conversation");
            let by_turn: HashMap<&str, i64> = turns.iter().map(|(id, t)| (t.as_str(), *id)).collect();
            let prompts: Vec<(String, HashSet<i64>)> = c
                .questions
                .iter()
                .map(|q| {
                    (
                        q.text.clone(),
                        q.evidence.iter().filter_map(|e| by_turn.get(e.as_str()).copied()).collect(),
                    )
                })
                .collect();
            outcomes.extend(run_prompts(&engine, project, &c.id, &prompts, false).await?);
        }
        engine.close().await;
        Some(InjectPoint::of(threshold, &outcomes, budget))
    };

    let on_topic = fixture.prompts.iter().filter(|p| !p.relevant.is_empty()).count();
    Ok(InjectReport {
        model,
        threshold,
        limit,
        budget,
        coding_size: (fixture.memories.len(), on_topic, fixture.prompts.len() - on_topic),
        coding,
        coding_prompts,
        session_repeats,
        second_pass_injected,
        ceiling,
        locomo,
    })
}

impl fmt::Display for InjectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (memories, on_topic, off_topic) = self.coding_size;
        writeln!(
            f,
            "Hook injection (UserPromptSubmit) for {}: at most {} memories and {} tokens per prompt",
            self.model, self.limit, self.budget
        )?;
        writeln!(
            f,
            "\nCoding project: {memories} memories, {on_topic} prompts with relevant memories, {off_topic} off-topic"
        )?;
        writeln!(
            f,
            "  cosine  injected  precision  recall     F1  off-topic  tokens/prompt  max tokens  over budget"
        )?;
        for (i, p) in self.coding.iter().enumerate() {
            writeln!(
                f,
                "  {:>6.2}  {:>8.2}  {:>9.3}  {:>6.3}  {:>5.3}  {:>9.2}  {:>13.1}  {:>10}  {:>11}{}",
                p.threshold,
                p.injected_per_prompt,
                p.precision,
                p.recall,
                p.f1,
                p.off_topic_injected,
                p.tokens_per_prompt,
                p.max_tokens,
                p.over_budget,
                if i == 0 { "   (in force)" } else { "" }
            )?;
        }
        writeln!(
            f,
            "\nPer prompt at {:.2} (injected / relevant injected / relevant, tokens):",
            self.threshold
        )?;
        for o in &self.coding_prompts {
            let mut text: String = o.prompt.chars().take(60).collect();
            if text.len() < o.prompt.len() {
                text.push('…');
            }
            writeln!(
                f,
                "  {:>2} / {:>2} / {:>2}  {:>4}  {}",
                o.injected, o.relevant_injected, o.relevant, o.tokens, text
            )?;
        }
        writeln!(
            f,
            "\nOne session, every prompt twice: {} memories injected twice (must be 0); {} new in the second pass",
            self.session_repeats, self.second_pass_injected
        )?;
        writeln!(
            f,
            "Search before any gate: {:.3} of relevant memories in the first {} hits; first hit relevant for {:.3} of prompts",
            self.ceiling.recall_at_limit, self.limit, self.ceiling.first_hit_relevant
        )?;
        if let Some(p) = &self.locomo {
            writeln!(
                f,
                "\nLoCoMo at {:.2}: {} questions; {:.2} injected per question, precision {:.3}, recall {:.3}, \
                 F1 {:.3}; {:.1} tokens per prompt, max {} ({} over budget)",
                p.threshold,
                p.prompts,
                p.injected_per_prompt,
                p.precision,
                p.recall,
                p.f1,
                p.tokens_per_prompt,
                p.max_tokens,
                p.over_budget
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_ids_are_read_from_the_answer() {
        let answer = serde_json::json!({"hookSpecificOutput": {"hookEventName": "UserPromptSubmit",
            "additionalContext": "Heading.\n- [memory #12 · decision · general · confidence 0.70] a\n- [memory #3 · bug · db · confidence 0.50] b (memory #9)"}});
        assert_eq!(injected_ids(&answer), vec![12, 3]);
        assert!(injected_ids(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn points_count_precision_recall_and_the_budget() {
        let o = |injected, relevant_injected, relevant, tokens| PromptOutcome {
            prompt: String::new(),
            injected,
            relevant_injected,
            relevant,
            tokens,
        };
        let p = InjectPoint::of(0.3, &[o(3, 2, 4, 500), o(1, 0, 0, 700), o(0, 0, 0, 0)], 600);
        assert!((p.precision - 0.5).abs() < 1e-9, "{p:?}");
        assert!((p.recall - 0.5).abs() < 1e-9, "{p:?}");
        assert!((p.off_topic_injected - 0.5).abs() < 1e-9, "{p:?}");
        assert_eq!((p.max_tokens, p.over_budget, p.injected_per_prompt), (700, 1, 3.0));
        assert!((p.tokens_per_prompt - 400.0).abs() < 1e-9);
    }
}
