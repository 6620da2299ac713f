//! The offline transcript miner: conservative heuristics, no LLM, that turn
//! condensed conversation turns into a few memories.
//!
//! It looks for four things and ignores everything else:
//!
//! - the user asking to remember something ("remember that …", "note that
//!   …", "keep in mind …") → a preference when it states a rule, else a fact;
//! - rules the user states ("always …", "never …", "this repo always …")
//!   → a preference;
//! - decisions with their reason ("we decided …", "let's go with … because
//!   …") → a decision;
//! - a failed tool call followed, within a few turns, by the assistant
//!   describing the fix → a bug, "X failed with Y; fix: Z".
//!
//! Turns are grouped into windows that never span a compaction boundary and
//! never mix a subagent's (sidechain) turns with the main conversation; each
//! window yields at most [`MAX_PER_WINDOW`] memories. Only the person's own
//! words count as user rules: harness notes, compact summaries and a
//! subagent's instructions (written by Claude) are never read as such.

use cm_core::{MemoryType, NewMemory, Provenance, Source};

use crate::transcript::{Role, Turn, collapse, cut};

/// Most turns in one window.
pub const WINDOW_TURNS: usize = 40;
/// Most memories drawn from one window.
pub const MAX_PER_WINDOW: usize = 5;
/// How many turns after a failed tool call the fix may be described in.
const FIX_WITHIN: usize = 6;
/// Longest sentence taken as a memory.
const MAX_SENTENCE: usize = 600;

/// Memories mined from `turns` (one read of a transcript) of `session_id`.
pub fn mine_turns(turns: &[Turn], session_id: &str) -> Vec<NewMemory> {
    let mut out: Vec<NewMemory> = Vec::new();
    for window in windows(turns) {
        let found = mine_window(&window, session_id);
        for m in found.into_iter().take(MAX_PER_WINDOW) {
            if !out.iter().any(|o| o.content.eq_ignore_ascii_case(&m.content)) {
                out.push(m);
            }
        }
    }
    out
}

/// Memories mined from the summary Claude Code wrote when it compacted
/// `session_id`'s conversation: stated rules, decisions and fixed bugs.
pub fn mine_summary(summary: &str, session_id: &str) -> Vec<NewMemory> {
    let provenance = Provenance { session_id: Some(session_id.to_owned()), ..Provenance::default() };
    let mut out: Vec<NewMemory> = Vec::new();
    for sentence in sentences(summary) {
        // Summaries report the user's words in the third person.
        let reported = strip_prefixes(
            &sentence,
            &[
                "the user ",
                "user ",
                "explicitly ",
                "said ",
                "stated ",
                "noted ",
                "asked to ",
                "asked ",
                "wants to ",
                "wants ",
                "that ",
            ],
        );
        let found = user_rule(reported)
            .or_else(|| decision(&sentence).map(|d| (MemoryType::Decision, d, 0.6)))
            .or_else(|| summary_bug(&sentence).map(|b| (MemoryType::Bug, b, 0.6)));
        if let Some((ty, content, confidence)) = found
            && let Some(m) = memory(&content, ty, confidence, provenance.clone())
            && !out.iter().any(|o| o.content.eq_ignore_ascii_case(&m.content))
        {
            out.push(m);
        }
        if out.len() >= MAX_PER_WINDOW {
            break;
        }
    }
    out
}

/// Failed tool calls of the main conversation near the end of `turns`
/// whose fix has not been described yet: the miner carries them into the
/// next read of the transcript, where the fix may follow.
pub fn unresolved_failures(turns: &[Turn]) -> Vec<Turn> {
    let main: Vec<&Turn> = turns.iter().filter(|t| !t.sidechain).collect();
    let mut out = Vec::new();
    for (i, turn) in main.iter().enumerate() {
        let failed = turn.role == Role::ToolResult && turn.errors.iter().any(|e| !is_refusal(e));
        let after = &main[i + 1..];
        if failed
            && after.len() < FIX_WITHIN
            && !after.iter().any(|t| t.role == Role::Assistant && fix_sentence(&t.text).is_some())
        {
            out.push((*turn).clone());
        }
    }
    out
}

/// Splits turns into windows: main conversation and sidechains apart, a new
/// window at every compaction boundary and every [`WINDOW_TURNS`] turns.
pub fn windows(turns: &[Turn]) -> Vec<Vec<&Turn>> {
    let mut out = Vec::new();
    for sidechain in [false, true] {
        let mut current: Vec<&Turn> = Vec::new();
        for t in turns.iter().filter(|t| t.sidechain == sidechain) {
            if current.len() >= WINDOW_TURNS || current.last().is_some_and(|l| l.segment != t.segment) {
                out.push(std::mem::take(&mut current));
            }
            current.push(t);
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

fn mine_window(window: &[&Turn], session_id: &str) -> Vec<NewMemory> {
    let provenance = |start: u64, end: u64| Provenance {
        session_id: Some(session_id.to_owned()),
        transcript_start: Some(start as i64),
        transcript_end: Some(end as i64),
    };
    let mut out = Vec::new();
    let mut fixed_until = 0usize;
    for (i, turn) in window.iter().enumerate() {
        let spoken_by_user = turn.role == Role::User && !turn.meta && !turn.sidechain;
        if spoken_by_user || turn.role == Role::Assistant {
            for sentence in sentences(&turn.text) {
                let found = if spoken_by_user { user_rule(&sentence) } else { None }.or_else(|| {
                    decision(&sentence)
                        .map(|d| (MemoryType::Decision, d, if spoken_by_user { 0.7 } else { 0.6 }))
                });
                if let Some((ty, content, confidence)) = found
                    && let Some(m) =
                        memory(&content, ty, confidence, provenance(turn.line_start, turn.line_end))
                {
                    out.push(m);
                }
            }
        }
        if turn.role == Role::ToolResult && i >= fixed_until {
            let Some(error) = turn.errors.iter().find(|e| !is_refusal(e)) else { continue };
            let fix = window.iter().enumerate().skip(i + 1).take(FIX_WITHIN).find_map(|(j, t)| {
                (t.role == Role::Assistant).then(|| fix_sentence(&t.text)).flatten().map(|f| (j, f))
            });
            if let Some((j, fix)) = fix {
                fixed_until = j + 1;
                let call = match turn.tool_calls.first() {
                    Some((name, what)) if !what.is_empty() => format!("{name} `{what}`"),
                    Some((name, _)) => name.clone(),
                    None => "A tool call".to_owned(),
                };
                let content = format!("{call} failed with: {}\nFix: {fix}", telling_error(error));
                if let Some(m) =
                    memory(&content, MemoryType::Bug, 0.6, provenance(turn.line_start, window[j].line_end))
                {
                    out.push(m);
                }
            }
        }
    }
    out
}

fn memory(content: &str, ty: MemoryType, confidence: f64, provenance: Provenance) -> Option<NewMemory> {
    let mut m =
        NewMemory::new(content, Source::Transcript).ok()?.with_type(ty).with_confidence(confidence).ok()?;
    m.provenance = provenance;
    Some(m)
}

/// Sentences of `text`: its lines (list markers dropped), split after `.`,
/// `!` or `?` followed by a space.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches(['-', '*', '•', '>']).trim();
        let line = strip_numbering(line);
        let mut start = 0;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        for (k, (idx, c)) in chars.iter().enumerate() {
            let next_is_space = chars.get(k + 1).is_some_and(|(_, n)| n.is_whitespace());
            if matches!(c, '.' | '!' | '?') && next_is_space {
                let s = line[start..idx + c.len_utf8()].trim();
                if !s.is_empty() {
                    out.push(s.to_owned());
                }
                start = idx + c.len_utf8();
            }
        }
        let s = line[start..].trim();
        if !s.is_empty() {
            out.push(s.to_owned());
        }
    }
    out
}

fn strip_numbering(line: &str) -> &str {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits < 3 {
        let rest = &line[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return r.trim_start();
        }
    }
    line
}

/// Drops any of `prefixes` (whole words, case-insensitive, repeatedly) from
/// the start, with the spaces, commas and colons after them.
fn strip_prefixes<'a>(mut s: &'a str, prefixes: &[&str]) -> &'a str {
    loop {
        let Some(p) = prefixes.iter().map(|p| p.trim_end()).find(|p| {
            starts_with_ci(s, p) && !s[p.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        }) else {
            return s;
        };
        s = s[p.len()..].trim_start_matches([' ', ',', ':']);
    }
}

/// Whether `s` starts with the ASCII `prefix`, ignoring ASCII case.
fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

fn capitalise(s: &str) -> String {
    let s = s.trim().trim_start_matches([',', ':', ';', '-']).trim();
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Words that make a statement a rule about how to work.
fn states_rule(lower: &str) -> bool {
    let padded = format!(" {} ", lower.replace([',', ';', ':', '.', '!'], " "));
    [
        " always ",
        " never ",
        " don't ",
        " dont ",
        " do not ",
        " must ",
        " mustn't ",
        " should ",
        " shouldn't ",
        " prefer ",
        " avoid ",
        " only ",
    ]
    .iter()
    .any(|w| padded.contains(w))
}

/// A rule or note the user asks to keep: `(type, content, confidence)`.
fn user_rule(sentence: &str) -> Option<(MemoryType, String, f64)> {
    let s = sentence.trim();
    if s.ends_with('?') || s.len() > MAX_SENTENCE {
        return None;
    }
    let s = strip_prefixes(s, &["please ", "pls ", "also ", "and ", "ok ", "okay ", "btw ", "by the way "]);
    let lower = s.to_lowercase();
    const REMEMBER: &[&str] = &[
        "remember that ",
        "remember: ",
        "remember, ",
        "remember to ",
        "remember ",
        "note that ",
        "note: ",
        "keep in mind that ",
        "keep in mind ",
        "for future reference ",
        "don't forget that ",
        "don't forget to ",
        "do not forget that ",
        "do not forget to ",
        "make a note that ",
    ];
    // At the start, or after ", " / "and " ("fix it, and note that …").
    let at = REMEMBER.iter().find(|p| starts_with_ci(s, p)).map(|p| (0, *p)).or_else(|| {
        let lower = s.to_ascii_lowercase();
        REMEMBER.iter().filter(|p| p.ends_with("that ")).find_map(|p| {
            [", ", "and ", "; "]
                .iter()
                .find_map(|sep| lower.find(&format!("{sep}{p}")).map(|i| (i + sep.len(), *p)))
        })
    });
    if let Some((start, p)) = at {
        let body = s[start + p.len()..].trim();
        let body_lower = body.to_lowercase();
        const NOT_A_NOTE: &[&str] =
            &["when ", "what ", "how ", "why ", "where ", "who ", "if ", "whether ", "me ", "it "];
        if word_count(body) < 3 || NOT_A_NOTE.iter().any(|n| body_lower.starts_with(n)) {
            return None;
        }
        let rule = p.ends_with("to ") || states_rule(&body_lower);
        let ty = if rule { MemoryType::Preference } else { MemoryType::Fact };
        return Some((ty, capitalise(body), 0.8));
    }
    // "Always …" / "never …", possibly after a softener.
    let core = strip_prefixes(
        s,
        &[
            "you should ",
            "you must ",
            "we should ",
            "we must ",
            "make sure to ",
            "make sure you ",
            "in this repo ",
            "in this repository ",
            "in this project ",
            "in this codebase ",
            "here ",
        ],
    );
    let core_lower = core.to_lowercase();
    const EXCLUDED: &[&str] =
        &["never mind", "nevermind", "never seen", "never heard", "never thought", "never worked"];
    if EXCLUDED.iter().any(|e| core_lower.contains(e)) || word_count(core) < 3 {
        return None;
    }
    if ["always ", "never ", "don't ever ", "do not ever "].iter().any(|p| core_lower.starts_with(p)) {
        return Some((MemoryType::Preference, capitalise(s), 0.7));
    }
    // "This repository always uses pnpm", "we never commit to main".
    const SUBJECTS: &[&str] =
        &["this repo", "this project", "this codebase", "the codebase", "the repo", "we always", "we never"];
    let padded = format!(" {lower} ");
    if SUBJECTS.iter().any(|subj| lower.contains(subj))
        && (padded.contains(" always ") || padded.contains(" never "))
        && word_count(s) >= 4
    {
        return Some((MemoryType::Preference, capitalise(s), 0.7));
    }
    None
}

/// A decision stated with its reason.
fn decision(sentence: &str) -> Option<String> {
    let s = sentence.trim();
    if s.ends_with('?') || s.len() > MAX_SENTENCE || word_count(s) < 6 {
        return None;
    }
    let lower = s.to_lowercase();
    const CUES: &[&str] = &[
        "we decided",
        "we've decided",
        "we have decided",
        "i decided",
        "decided to ",
        "decision:",
        "let's go with",
        "let us go with",
        "we'll go with",
        "we will go with",
        "going with ",
        "we chose",
        "we've chosen",
        "we picked",
        "let's use ",
        "we'll use ",
    ];
    const REASONS: &[&str] =
        &[" because ", " since ", " so that ", " to avoid ", " in order to ", " given that ", " as it "];
    const HEDGES: &[&str] = &["if we decided", "haven't decided", "not decided", "undecided", "should we"];
    let padded = format!(" {lower} ");
    (CUES.iter().any(|c| lower.contains(c))
        && REASONS.iter().any(|r| padded.contains(r))
        && !HEDGES.iter().any(|h| lower.contains(h)))
    .then(|| capitalise(s))
}

/// The sentence of an assistant turn that says how a failure was fixed.
/// What a failed call's output says went wrong: its first line naming an
/// error (a compiler's `error TS2322: …` under npm's `npm ERR! code 2`
/// lines, the `Error: …` under a stack), else its opening, cut.
fn telling_error(output: &str) -> String {
    let named = output.lines().map(|l| l.trim().trim_start_matches("npm ERR!").trim()).find(|l| {
        let lower = l.to_lowercase();
        ["error", "exception", "panicked", "fatal"].iter().any(|w| {
            lower.match_indices(w).any(|(at, _)| {
                let before = lower[..at].chars().next_back();
                let after = lower[at + w.len()..].chars().next();
                // `error:`, `error TS2322`, and `KeyError:` (a class named for it).
                let word =
                    !before.is_some_and(char::is_alphanumeric) && matches!(after, Some(' ' | '[') | None);
                word || after == Some(':')
            })
        }) && l.split_whitespace().count() >= 3
    });
    cut(named.unwrap_or(output), 300)
}

fn fix_sentence(text: &str) -> Option<String> {
    const CUES: &[&str] = &[
        "fixed",
        "the fix ",
        "the fix:",
        "resolved",
        "was caused by",
        "the problem was",
        "the issue was",
        "root cause",
        "now passes",
        "now pass",
        "now works",
        "works now",
        "now succeeds",
    ];
    const HEDGES: &[&str] = &["not fixed", "isn't fixed", "still fail", "hasn't been fixed", "not resolved"];
    sentences(text)
        .into_iter()
        .filter(|s| !s.ends_with('?') && word_count(s) >= 4)
        .find(|s| {
            let lower = s.to_lowercase();
            CUES.iter().any(|c| lower.contains(c)) && !HEDGES.iter().any(|h| lower.contains(h))
        })
        // "Fixed: the target was wrong" reads "Fix: the target was wrong".
        .map(|s| {
            let lower = s.to_lowercase();
            let bare = ["fixed:", "fix:"]
                .iter()
                .find_map(|cue| lower.starts_with(cue).then(|| s[cue.len()..].trim()));
            cut(&collapse(bare.unwrap_or(&s)), MAX_SENTENCE)
        })
}

/// A compact summary's line about a bug and its fix.
fn summary_bug(sentence: &str) -> Option<String> {
    let lower = sentence.to_lowercase();
    let fix = ["fixed by", "fix:", "resolved by", "fixed it by"].iter().any(|c| lower.contains(c));
    let failure =
        ["error", "failed", "fails", "failing", "missing", "bug", "crash"].iter().any(|c| lower.contains(c));
    (fix && failure && word_count(sentence) >= 5 && sentence.len() <= MAX_SENTENCE)
        .then(|| capitalise(sentence))
}

/// A tool error that is the user refusing a call, not a failure.
fn is_refusal(error: &str) -> bool {
    let lower = error.to_lowercase();
    ["doesn't want to proceed", "was rejected", "request interrupted", "user denied", "permission to use"]
        .iter()
        .any(|r| lower.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_on_terminators_and_lines() {
        assert_eq!(
            sentences("One. Two! Three?\n- four\n2. five"),
            ["One.", "Two!", "Three?", "four", "five"]
        );
        assert_eq!(sentences("v1.2 is out"), ["v1.2 is out"]);
    }

    #[test]
    fn user_rules() {
        let r = |s: &str| user_rule(s).map(|(t, c, _)| (t, c));
        assert_eq!(
            r("Please remember that the API runs on port 8080."),
            Some((MemoryType::Fact, "The API runs on port 8080.".into()))
        );
        assert_eq!(
            r("remember to run migrations before the tests"),
            Some((MemoryType::Preference, "Run migrations before the tests".into()))
        );
        assert_eq!(
            r("Never push directly to main."),
            Some((MemoryType::Preference, "Never push directly to main.".into()))
        );
        assert_eq!(
            r("This repo always uses tabs."),
            Some((MemoryType::Preference, "This repo always uses tabs.".into()))
        );
        for chatter in [
            "Do you remember what we did?",
            "remember when it broke",
            "never mind",
            "Never mind, it works now.",
            "I never liked that library.",
            "ok thanks",
            "always?",
        ] {
            assert_eq!(r(chatter), None, "{chatter}");
        }
    }

    #[test]
    fn decisions_need_a_reason() {
        assert!(decision("We decided to keep SQLite because it needs no server.").is_some());
        assert!(decision("Let's go with axum since the rest of the stack is tokio.").is_some());
        assert!(decision("We decided to keep SQLite.").is_none());
        assert!(decision("Should we go with axum because it is fast?").is_none());
    }

    #[test]
    fn fixes_are_found_and_hedges_are_not() {
        assert!(fix_sentence("Done. Fixed it by adding the missing import.").is_some());
        assert!(fix_sentence("The test still fails; it is not fixed yet.").is_none());
        assert!(fix_sentence("Let me look at the file.").is_none());
        assert_eq!(
            fix_sentence("Fixed: the tsconfig target was ES5.").as_deref(),
            Some("the tsconfig target was ES5.")
        );
    }

    #[test]
    fn a_failure_is_told_by_its_line_naming_the_error() {
        let npm = "npm ERR! code 2\nnpm ERR! path /home/ann/code/shop\nnpm ERR! command failed\n\
                   npm ERR! command sh -c tsc\nnpm ERR! src/index.ts(3,7): error TS2322: Type 'string' is not assignable\n\
                   npm ERR! A complete log of this run can be found in: /home/ann/.npm/_logs/x.log";
        assert_eq!(telling_error(npm), "src/index.ts(3,7): error TS2322: Type 'string' is not assignable");
        let python = "Traceback (most recent call last):\n  File \"app.py\", line 3\nKeyError: 'DATABASE_URL' is not set";
        assert_eq!(telling_error(python), "KeyError: 'DATABASE_URL' is not set");
        // Nothing names an error: the output's opening, as it was.
        let plain = "Exit code 1\ncat: config/settings.toml: No such file or directory";
        assert_eq!(telling_error(plain), plain);
        assert!(telling_error(&"x".repeat(1_000)).chars().count() <= 301);
    }
}
