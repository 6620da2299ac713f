//! Structuring without an LLM: deterministic, cue-based rules, used when no
//! LLM is configured or it failed, so a save never depends on one.

use std::collections::HashMap;

use super::normalize::{
    normalize_item, normalize_items, normalize_keywords, normalize_summary, normalize_text,
};
use super::xml::word_prefix;
use super::{MAX_WHAT_CHARS, SUMMARY_WORDS, Structured};
use crate::memory::MemoryType;
use crate::text;

/// Verbs that make a sentence an instruction (a `do` step) when they open it.
const IMPERATIVE_VERBS: &[&str] = &[
    "add",
    "apply",
    "build",
    "bump",
    "call",
    "change",
    "check",
    "clear",
    "commit",
    "configure",
    "copy",
    "create",
    "define",
    "delete",
    "deploy",
    "disable",
    "edit",
    "enable",
    "ensure",
    "execute",
    "export",
    "generate",
    "import",
    "install",
    "invoke",
    "keep",
    "load",
    "make",
    "mark",
    "merge",
    "migrate",
    "move",
    "open",
    "pass",
    "pin",
    "pull",
    "push",
    "put",
    "rebase",
    "rebuild",
    "register",
    "remove",
    "rename",
    "replace",
    "reset",
    "restart",
    "run",
    "set",
    "start",
    "stop",
    "update",
    "use",
    "verify",
    "wrap",
    "write",
];
/// Words skipped before looking for the imperative verb.
const LEADING_ADVERBS: &[&str] =
    &["please", "always", "first", "then", "also", "just", "now", "next", "finally"];
/// Phrases that make a sentence a warning.
const WARN_CUES: &[&str] = &[
    "never",
    "don't",
    "dont",
    "do not",
    "avoid",
    "careful",
    "beware",
    "must not",
    "mustn't",
    "warning",
    "caution",
    "should not",
    "shouldn't",
    "dangerous",
];
/// Conjunctions opening a `when` clause at the start of a sentence.
const LEADING_WHEN: &[&str] = &["when", "whenever", "if", "before", "after", "once", "unless"];
/// Conjunctions opening a `when` clause at the end of a sentence ("if" is
/// left out: "check if it exists" is no situation).
const TRAILING_WHEN: &[&str] = &["when", "whenever", "before", "after"];

/// Type cues, tried in this order; the first that matches decides.
const TYPE_CUES: &[(MemoryType, &[&str])] = &[
    (
        MemoryType::Decision,
        &["decided", "decide", "decision", "we chose", "chose", "instead of", "went with", "opted"],
    ),
    (
        MemoryType::Preference,
        &["prefer", "prefers", "preferred", "always use", "i like", "don't like", "i'd rather"],
    ),
    (
        MemoryType::Bug,
        &[
            "bug",
            "bugs",
            "error",
            "errors",
            "fix",
            "fixed",
            "fixes",
            "crash",
            "crashes",
            "crashed",
            "fails",
            "failed",
            "failing",
            "failure",
            "panic",
            "panics",
            "broken",
            "regression",
            "exception",
        ],
    ),
    (MemoryType::Pattern, &["how to", "pattern", "whenever", "convention", "every time", "each time"]),
    (
        MemoryType::Context,
        &[
            "currently",
            "right now",
            "today",
            "this session",
            "working on",
            "for now",
            "at the moment",
            "this week",
        ],
    ),
    (
        MemoryType::Fact,
        &[
            "is",
            "are",
            "uses",
            "lives",
            "stores",
            "runs",
            "requires",
            "depends",
            "contains",
            "has",
            "located",
            "defined",
            "configured",
            "lives in",
            "means",
        ],
    ),
];

/// Structures a note without an LLM, deterministically.
///
/// - **type**: `hint_type`, else the first matching cue of `TYPE_CUES`
///   (decision, preference, bug, pattern, context, fact), where a note made
///   of "when …, `<instruction>`" sentences is a pattern and specifics (code in
///   backticks, paths, `::`, numbers) make a fact; otherwise context;
/// - **what**: the first sentence, and the second when the first is short;
/// - **when**: "when/if/before/after …," clauses opening a sentence and
///   "… when/before/after …" clauses closing one;
/// - **warn**: sentences (or main clauses) with never, don't, avoid, careful…;
/// - **do**: other sentences (or main clauses) opening with an imperative verb,
///   and "To X, do Y" sentences;
/// - **summary**: the first sentence, cut to [`SUMMARY_WORDS`] words;
/// - **keywords**: the most frequent non-stopwords (ties by first appearance).
///
/// Fields the type does not carry are cleared; the domain is left to the caller.
pub fn offline_structure(content: &str, hint_type: Option<MemoryType>) -> Structured {
    let sentences = sentences(content);
    let mut when = Vec::new();
    let mut do_steps = Vec::new();
    let mut warn = Vec::new();
    let mut instructed_situations = false;
    for sentence in &sentences {
        let (situation, main) = split_situation(sentence);
        if let Some(situation) = situation {
            when.push(situation.to_owned());
        }
        // A mined bug's "Fix: …" line is what to do about it.
        let fix = word_prefix(main, "fix:", false).map(str::trim).filter(|f| !f.is_empty());
        if let Some(fix) = fix {
            do_steps.push(fix.to_owned());
        } else if is_warning(main) {
            warn.push(main.to_owned());
        } else if is_imperative(main) {
            instructed_situations |= situation.is_some();
            do_steps.push(main.to_owned());
        } else if starts_with_word(main, "to") && main.contains(',') {
            do_steps.push(main.to_owned());
        }
    }
    let memory_type = hint_type.unwrap_or_else(|| guess_type(content, instructed_situations));
    let mut structured = Structured {
        memory_type: Some(memory_type),
        domain: None,
        what: normalize_text(&gist(&sentences), MAX_WHAT_CHARS),
        when: normalize_items(when.iter().map(String::as_str)),
        do_steps: normalize_items(do_steps.iter().map(String::as_str)),
        warn: normalize_items(warn.iter().map(String::as_str)),
        summary: sentences.first().and_then(|s| normalize_summary(&first_words(s, SUMMARY_WORDS))),
        keywords: keywords(content),
    };
    structured.retain_type_fields();
    structured
}

/// Splits text into sentences at `.`, `!` or `?` followed by whitespace, and
/// at line breaks; list markers are stripped and empties dropped.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let ends = match c {
            '\n' | '\r' => true,
            '.' | '!' | '?' => chars.peek().is_none_or(|n| n.is_whitespace()),
            _ => false,
        };
        if c != '\n' && c != '\r' {
            current.push(c);
        }
        if ends {
            push_sentence(&mut out, &current);
            current.clear();
        }
    }
    push_sentence(&mut out, &current);
    out
}

/// Adds a sentence, normalised and without list markers, unless empty.
fn push_sentence(out: &mut Vec<String>, raw: &str) {
    let sentence = normalize_item(raw);
    if !sentence.is_empty() {
        out.push(sentence);
    }
}

/// The gist: the first sentence, and the second too when the first is short.
fn gist(sentences: &[String]) -> String {
    match sentences {
        [first, second, ..] if first.chars().count() < 80 => format!("{first} {second}"),
        [first, ..] => first.clone(),
        [] => String::new(),
    }
}

/// Splits "When X, Y" into `(Some("When X"), "Y")` and "Y when X" into
/// `(Some("when X"), "Y")`; other sentences into `(None, sentence)`.
/// Trailing sentence punctuation is dropped from both parts.
fn split_situation(sentence: &str) -> (Option<&str>, &str) {
    let trimmed = sentence.trim_end_matches(['.', '!', '?']).trim();
    if LEADING_WHEN.iter().any(|w| starts_with_word(trimmed, w)) {
        if let Some((clause, main)) = trimmed.split_once(',')
            && !main.trim().is_empty()
        {
            return (Some(clause.trim()), main.trim());
        }
        return (Some(trimmed), "");
    }
    let lower = trimmed.to_ascii_lowercase();
    for conj in TRAILING_WHEN {
        if let Some(i) = lower.find(&format!(" {conj} "))
            && let (Some(main), Some(clause)) = (trimmed.get(..i), trimmed.get(i + 1..))
        {
            return (Some(clause.trim()), main.trim().trim_end_matches(',').trim());
        }
    }
    (None, trimmed)
}

/// Whether `s` starts with `word` (ASCII case-insensitive) followed by a non-letter.
fn starts_with_word(s: &str, word: &str) -> bool {
    word_prefix(s, word, false).is_some()
}

/// The words of `s` padded with spaces (" a b c "), for phrase matching.
fn word_line(s: &str) -> String {
    let words: Vec<String> = text::words(s).collect();
    format!(" {} ", words.join(" "))
}

/// Whether `line` (from [`word_line`]) contains `phrase` as whole words.
fn has_phrase(line: &str, phrase: &str) -> bool {
    line.contains(&word_line(phrase))
}

/// Whether a sentence warns.
fn is_warning(sentence: &str) -> bool {
    let line = word_line(sentence);
    WARN_CUES.iter().any(|cue| has_phrase(&line, cue))
}

/// Whether a sentence opens with an imperative verb (after "please", "always"…).
fn is_imperative(sentence: &str) -> bool {
    let mut words = text::words(sentence).skip_while(|w| LEADING_ADVERBS.contains(&w.as_str()));
    words.next().is_some_and(|w| IMPERATIVE_VERBS.contains(&w.as_str()))
}

/// The type suggested by the cues in `content` (see [`offline_structure`]).
fn guess_type(content: &str, instructed_situations: bool) -> MemoryType {
    let line = word_line(content);
    let specific = content.contains(['`', '/'])
        || content.contains("::")
        || content.contains(|c: char| c.is_ascii_digit());
    for &(t, cues) in TYPE_CUES {
        let structural = match t {
            MemoryType::Pattern => instructed_situations,
            MemoryType::Fact => specific,
            _ => false,
        };
        if structural || cues.iter().any(|cue| has_phrase(&line, cue)) {
            return t;
        }
    }
    MemoryType::Context
}

/// The first `n` words of `s`, with "…" when some were cut.
fn first_words(s: &str, n: usize) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.len() <= n {
        return words.join(" ");
    }
    let cut = words.iter().take(n).copied().collect::<Vec<_>>().join(" ");
    format!("{}…", cut.trim_end_matches([',', ';', ':']))
}

/// The most frequent words of at least three characters that are neither
/// stopwords nor numbers, ties broken by first appearance.
fn keywords(content: &str) -> Vec<String> {
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    let candidates = text::words(content).filter(|w| {
        w.chars().count() >= 3 && !text::is_stopword(w) && !w.chars().all(|c| c.is_ascii_digit())
    });
    for (position, word) in candidates.enumerate() {
        counts.entry(word).or_insert((0, position)).0 += 1;
    }
    let mut ranked: Vec<(String, (usize, usize))> = counts.into_iter().collect();
    ranked.sort_by(|(_, (ca, pa)), (_, (cb, pb))| cb.cmp(ca).then(pa.cmp(pb)));
    normalize_keywords(ranked.iter().map(|(w, _)| w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::MAX_KEYWORDS;
    use crate::structure::testing::strings;

    #[test]
    fn offline_structure_picks_the_type_from_cues() {
        let cases = [
            ("We decided to use SQLite instead of Postgres.", MemoryType::Decision),
            ("I prefer tabs over spaces.", MemoryType::Preference),
            ("The build fails on macOS because of a missing linker flag.", MemoryType::Bug),
            ("How to add a migration: run sqlx migrate add.", MemoryType::Pattern),
            ("When the schema changes, run cargo sqlx prepare.", MemoryType::Pattern),
            ("Currently refactoring the hook module.", MemoryType::Context),
            ("The service listens on port 23811.", MemoryType::Fact),
            ("Settings live in `config.toml`.", MemoryType::Fact),
            ("Sounds good to me.", MemoryType::Context),
        ];
        for (content, expected) in cases {
            assert_eq!(offline_structure(content, None).memory_type, Some(expected), "{content}");
        }
        let hinted = offline_structure("We decided on SQLite.", Some(MemoryType::Fact));
        assert_eq!(hinted.memory_type, Some(MemoryType::Fact));
    }

    #[test]
    fn a_mined_bugs_fix_line_is_what_to_do() {
        let bug = "Bash `npm run build` failed with: src/index.ts(3,7): error TS2322: bad type\n\
                   Fix: the tsconfig target was ES5, set it to ES2022.";
        let s = offline_structure(bug, Some(MemoryType::Bug));
        assert_eq!(s.do_steps.len(), 1, "{s:?}");
        assert!(s.do_steps[0].contains("set it to ES2022") && !s.do_steps[0].starts_with("Fix"), "{s:?}");
    }

    #[test]
    fn offline_structure_splits_a_pattern() {
        let content = "Database migrations are managed with sqlx. When the schema changes, run `cargo sqlx prepare`.\n\
                       - Never edit a migration that has landed.\n\
                       Restart the service after migrating. To reset the database, delete memory.db.";
        let s = offline_structure(content, Some(MemoryType::Pattern));
        assert_eq!(
            s.what,
            "Database migrations are managed with sqlx. When the schema changes, run `cargo sqlx prepare`."
        );
        assert_eq!(s.when, strings(&["When the schema changes", "after migrating"]));
        assert_eq!(
            s.do_steps,
            strings(&[
                "run `cargo sqlx prepare`",
                "Restart the service",
                "To reset the database, delete memory.db"
            ])
        );
        assert_eq!(s.warn, strings(&["Never edit a migration that has landed"]));
        assert_eq!(s.summary.as_deref(), Some("Database migrations are managed with sqlx."));
        assert_eq!(s.keywords.first().map(String::as_str), Some("database"));
        assert!(s.keywords.len() <= MAX_KEYWORDS);
        assert_eq!(offline_structure(content, Some(MemoryType::Pattern)), s, "deterministic");
    }

    #[test]
    fn offline_structure_keeps_only_the_fields_of_its_type() {
        let content = "The API uses bearer tokens. Never log them. Run the tests before pushing.";
        assert_eq!(offline_structure(content, None).memory_type, Some(MemoryType::Pattern));
        let s = offline_structure(content, Some(MemoryType::Fact));
        assert_eq!(s.memory_type, Some(MemoryType::Fact));
        assert_eq!(s.what, "The API uses bearer tokens. Never log them.");
        assert!(s.when.is_empty() && s.do_steps.is_empty() && s.warn.is_empty());
        let long = "word ".repeat(40);
        let s = offline_structure(&long, Some(MemoryType::Context));
        assert_eq!(s.summary.as_deref(), Some(format!("{}…", "word ".repeat(15).trim_end()).as_str()));
        assert_eq!(s.keywords, strings(&["word"]));
        let empty = offline_structure("   ", None);
        assert!(empty.what.is_empty() && empty.summary.is_none());
    }
}
