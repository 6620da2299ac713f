//! Mining with an LLM: a batch of transcript turns is condensed into plain
//! text under a size cap (user and assistant words, tool calls summarised,
//! errors kept, outputs left out), redacted, and the LLM is asked for at most
//! [`MAX_EXTRACTED`] bug / decision / pattern / preference memories or
//! `NONE`. A stretch the LLM cannot handle is mined by the offline
//! heuristics instead, so a batch is never lost to it.

use std::fmt::Write as _;
use std::time::Duration;

use cm_core::extract::{MAX_EXTRACTED, extraction_prompt, parse_extraction};
use cm_core::redact::redact;
use cm_core::structure::Structured;
use cm_core::{LlmPurpose, NewMemory, Provenance, Source};

use crate::transcript::{Role, Turn, cut};
use crate::{Engine, Project, miner};

/// Longest condensed stretch sent in one call, in characters (~6k tokens).
pub const CONDENSED_CAP: usize = 24_000;
/// Confidence of a memory the LLM extracted.
const EXTRACTED_CONFIDENCE: f64 = 0.65;

/// A stretch of conversation condensed for the LLM.
#[derive(Debug, Clone, PartialEq)]
pub struct Condensed {
    /// The text sent (before redaction).
    pub text: String,
    /// First transcript line it covers.
    pub line_start: u64,
    /// Last transcript line it covers.
    pub line_end: u64,
    /// Indexes of its turns in the input.
    pub turns: std::ops::Range<usize>,
}

/// Condenses the main conversation of `turns` (subagents' own turns and
/// harness notes left out) into stretches of at most `cap` characters; a
/// compaction boundary is marked in the text. A single turn longer than the
/// cap is cut.
pub fn condense(turns: &[Turn], cap: usize) -> Vec<Condensed> {
    let mut out: Vec<Condensed> = Vec::new();
    let mut current: Option<Condensed> = None;
    let mut segment = turns.first().map_or(0, |t| t.segment);
    for (i, turn) in turns.iter().enumerate() {
        if turn.sidechain || turn.meta {
            continue;
        }
        let mut piece = String::new();
        if turn.segment != segment {
            segment = turn.segment;
            piece.push_str("[the conversation was compacted here]\n");
        }
        render(turn, &mut piece);
        if piece.trim().is_empty() {
            continue;
        }
        let piece = cut(&piece, cap);
        if let Some(c) = current.as_mut().filter(|c| c.text.len() + piece.len() <= cap) {
            c.text.push_str(&piece);
            c.line_end = turn.line_end;
            c.turns.end = i + 1;
        } else {
            out.extend(current.take());
            current = Some(Condensed {
                text: piece,
                line_start: turn.line_start,
                line_end: turn.line_end,
                turns: i..i + 1,
            });
        }
    }
    out.extend(current);
    out
}

fn render(turn: &Turn, out: &mut String) {
    let text = turn.text.trim();
    match turn.role {
        Role::User if !text.is_empty() => {
            let _ = writeln!(out, "User: {text}");
        }
        Role::Assistant => {
            if !text.is_empty() {
                let _ = writeln!(out, "Assistant: {text}");
            }
            for (name, what) in &turn.tool_calls {
                let _ = writeln!(out, "  (tool {name}: {what})");
            }
        }
        Role::ToolResult => {
            for error in &turn.errors {
                let call = turn.tool_calls.first().map_or("a tool", |(name, _)| name.as_str());
                let _ = writeln!(out, "  ({call} failed: {error})");
            }
        }
        Role::Summary if !text.is_empty() => {
            let _ = writeln!(out, "Summary of the conversation so far: {text}");
        }
        Role::User | Role::Summary => {}
    }
}

/// A memory from an extracted structure, with its provenance.
fn to_memory(s: Structured, session_id: &str, lines: Option<(u64, u64)>) -> Option<NewMemory> {
    let mut m = NewMemory::new(&s.embed_text(), Source::Transcript)
        .ok()?
        .with_confidence(EXTRACTED_CONFIDENCE)
        .ok()?;
    crate::structuring::apply(&mut m, s, false, false);
    m.provenance = Provenance {
        session_id: Some(session_id.to_owned()),
        transcript_start: lines.map(|l| l.0 as i64),
        transcript_end: lines.map(|l| l.1 as i64),
    };
    Some(m)
}

impl Engine {
    /// Whether transcripts are mined by the LLM (one is set up and
    /// `[structure] transcript` is on).
    pub(crate) fn extracts_with_llm(&self) -> bool {
        self.config().structure.transcript && self.llm().is_some()
    }

    /// Memories from `turns` of `session_id`: the LLM's, stretch by stretch;
    /// the offline miner's for a stretch the LLM failed on, and for all of
    /// them without an LLM.
    pub(crate) async fn extract_memories(
        &self,
        project: &Project,
        turns: &[Turn],
        session_id: &str,
    ) -> Vec<NewMemory> {
        if !self.extracts_with_llm() {
            return miner::mine_turns(turns, session_id);
        }
        let mut out = Vec::new();
        for stretch in condense(turns, CONDENSED_CAP) {
            let lines = Some((stretch.line_start, stretch.line_end));
            match self.extract_text(project, &stretch.text, session_id, lines).await {
                Some(memories) => out.extend(memories),
                None => out.extend(miner::mine_turns(&turns[stretch.turns.clone()], session_id)),
            }
        }
        out
    }

    /// Memories from a compact summary: the LLM's, or the offline miner's.
    pub(crate) async fn extract_from_summary(
        &self,
        project: &Project,
        summary: &str,
        session_id: &str,
    ) -> Vec<NewMemory> {
        if self.extracts_with_llm()
            && let Some(memories) =
                self.extract_text(project, &cut(summary, CONDENSED_CAP), session_id, None).await
        {
            return memories;
        }
        miner::mine_summary(summary, session_id)
    }

    /// Asks the LLM for the memories in `text`; `None` when it failed or
    /// answered something unusable. Already structured: saving them does
    /// not ask the LLM again.
    async fn extract_text(
        &self,
        project: &Project,
        text: &str,
        session_id: &str,
        lines: Option<(u64, u64)>,
    ) -> Option<Vec<NewMemory>> {
        let redacted = redact(text).text;
        let timeout = Duration::from_millis(self.config().structure.timeout_ms.saturating_mul(2));
        let prompt = extraction_prompt(&redacted, MAX_EXTRACTED);
        let answer = self.ask_llm(project, LlmPurpose::Extract, prompt, timeout).await?;
        match parse_extraction(&answer, MAX_EXTRACTED) {
            Ok(found) => Some(found.into_iter().filter_map(|s| to_memory(s, session_id, lines)).collect()),
            Err(e) => {
                tracing::warn!(error = %e, "unusable extraction from the LLM; mining offline");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(line: u64, role: Role, text: &str) -> Turn {
        Turn {
            line_start: line,
            line_end: line,
            role,
            text: text.to_owned(),
            tool_calls: Vec::new(),
            errors: Vec::new(),
            sidechain: false,
            meta: false,
            segment: 0,
            message_id: None,
        }
    }

    #[test]
    fn condensing_keeps_words_calls_and_errors_and_leaves_out_the_rest() {
        let mut call = turn(2, Role::Assistant, "Let me run the tests.");
        call.tool_calls.push(("Bash".into(), "cargo test".into()));
        let mut failed = turn(3, Role::ToolResult, "");
        failed.tool_calls.push(("Bash".into(), "cargo test".into()));
        failed.errors.push("error[E0432]: unresolved import".into());
        let mut note = turn(4, Role::User, "<system-reminder>harness</system-reminder>");
        note.meta = true;
        let mut sub = turn(5, Role::Assistant, "subagent thinking");
        sub.sidechain = true;
        let mut after = turn(6, Role::User, "always run clippy too");
        after.segment = 1;
        let turns = vec![turn(1, Role::User, "fix the build"), call, failed, note, sub, after];
        let out = condense(&turns, 10_000);
        assert_eq!(out.len(), 1);
        let c = &out[0];
        assert_eq!((c.line_start, c.line_end, c.turns.clone()), (1, 6, 0..6));
        assert_eq!(
            c.text,
            "User: fix the build\nAssistant: Let me run the tests.\n  (tool Bash: cargo test)\n  \
             (Bash failed: error[E0432]: unresolved import)\n[the conversation was compacted here]\n\
             User: always run clippy too\n"
        );
    }

    #[test]
    fn long_conversations_are_split_under_the_cap() {
        let turns: Vec<Turn> = (1..=50).map(|i| turn(i, Role::User, &"word ".repeat(40))).collect();
        let out = condense(&turns, 1_000);
        assert!(out.len() > 5);
        assert!(out.iter().all(|c| c.text.len() <= 1_000));
        assert_eq!(out.first().unwrap().line_start, 1);
        assert_eq!(out.last().unwrap().line_end, 50);
        assert!(
            out.windows(2)
                .all(|w| w[0].turns.end == w[1].turns.start && w[0].line_end + 1 == w[1].line_start)
        );
        let huge = condense(&[turn(1, Role::User, &"x".repeat(5_000))], 1_000);
        assert!(huge[0].text.len() <= 1_000);
    }
}
