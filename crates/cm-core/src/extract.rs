//! Prompts and parsers for the two other things an LLM does for the memory:
//! extracting memories from a condensed conversation, and writing one
//! consolidated memory from a cluster of similar ones.
//!
//! Both answers use the `<memory>` format of [`crate::structure`], so the
//! same tolerant parser reads them; an unusable answer is an error and the
//! engine falls back to its offline counterpart (the transcript heuristics,
//! the deterministic union of a cluster).

use std::fmt::Write as _;

use crate::memory::MemoryType;
use crate::structure::{LlmVerdict, ParseError, Structured, format_rules, parse_llm_output};

/// Most memories asked for from one stretch of conversation.
pub const MAX_EXTRACTED: usize = 3;

/// Types worth extracting from a conversation: lasting knowledge, not the
/// session's own context.
pub const EXTRACTED_TYPES: [MemoryType; 4] =
    [MemoryType::Bug, MemoryType::Decision, MemoryType::Pattern, MemoryType::Preference];

/// The system and user messages asking for at most `max` memories worth
/// keeping from `conversation` (a condensed transcript or a compact summary),
/// or `NONE`.
pub fn extraction_prompt(conversation: &str, max: usize) -> (String, String) {
    let mut system = format!(
        "You read a condensed conversation between a developer and a coding assistant and pick out \
         what is worth remembering in later sessions of the same project: at most {max} memories, \
         each one of: a bug that was found with its root cause and fix; a decision that was taken \
         with its reason; a reusable pattern or workflow; a preference or rule the developer stated.\n\n\
         Leave out one-off instructions, temporary debugging that was never resolved, status \
         updates, chatter, anything the assistant only guessed, and secrets. Most conversations \
         hold nothing worth keeping: then answer exactly NONE.\n\n\
         Otherwise answer with only one XML element per memory, without any other text:\n"
    );
    format_rules(&mut system, &EXTRACTED_TYPES, "text");
    let user = format!("Conversation:\n<conversation>\n{}\n</conversation>", conversation.trim());
    (system, user)
}

/// Reads an answer to [`extraction_prompt`]: `NONE` (or nothing but
/// rejections) is an empty list; otherwise every `<memory>` element with a
/// `<what>`, at most `max`, duplicates dropped. An answer that is neither is
/// an error. Never panics.
pub fn parse_extraction(text: &str, max: usize) -> Result<Vec<Structured>, ParseError> {
    let trimmed = text.trim().trim_matches('`').trim();
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    let lower = text.to_ascii_lowercase();
    let starts: Vec<usize> = lower.match_indices("<memory").map(|(i, _)| i).collect();
    if starts.is_empty() {
        let first =
            trimmed.split_whitespace().next().unwrap_or("").trim_matches(|c: char| !c.is_alphabetic());
        if first.eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        return match parse_llm_output(text) {
            Ok(LlmVerdict::Reject { .. }) => Ok(Vec::new()),
            Ok(LlmVerdict::Memory(m)) => Ok(vec![m]),
            Err(e) => Err(e),
        };
    }
    let mut out: Vec<Structured> = Vec::new();
    let mut missing_what = false;
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        match parse_llm_output(&text[start..end]) {
            Ok(LlmVerdict::Memory(m)) => {
                if out.len() < max && !out.iter().any(|o| o.what.eq_ignore_ascii_case(&m.what)) {
                    out.push(m);
                }
            }
            Ok(LlmVerdict::Reject { .. }) => {}
            Err(_) => missing_what = true,
        }
    }
    if out.is_empty() && missing_what {
        return Err(ParseError::MissingWhat);
    }
    Ok(out)
}

/// The system and user messages asking for one consolidated `skill` memory
/// that keeps everything the `members` (structured memories of one cluster)
/// know, without repeating it.
pub fn merge_prompt(members: &[Structured]) -> (String, String) {
    let mut system = String::from(
        "You consolidate several related memories of a developer's project into one reusable memory \
         of type skill. Keep every distinct fact, situation, step and pitfall they hold; say each \
         once; where they disagree, keep the more specific or more recent one and say so in warn. \
         Answer with only this XML, without any other text:\n",
    );
    format_rules(&mut system, &[MemoryType::Skill], "text");
    let mut user = String::from("Memories:\n");
    for (i, m) in members.iter().enumerate() {
        let _ = writeln!(user, "<source n=\"{}\">\n{}\n</source>", i + 1, m.to_xml());
    }
    (system, user)
}

/// Reads an answer to [`merge_prompt`]: the consolidated memory, typed
/// `skill` whatever the answer said.
pub fn parse_merge(text: &str) -> Result<Structured, ParseError> {
    match parse_llm_output(text)? {
        LlmVerdict::Memory(mut m) => {
            m.memory_type = Some(MemoryType::Skill);
            Ok(m)
        }
        LlmVerdict::Reject { .. } => Err(ParseError::Unrecognised),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_in_its_variants_is_no_memory() {
        for answer in ["NONE", "none.", "`NONE`", "None — nothing worth keeping", "REJECT: chatter"] {
            assert_eq!(parse_extraction(answer, 3).unwrap(), Vec::new(), "{answer}");
        }
    }

    #[test]
    fn several_memories_are_read_capped_and_deduplicated() {
        let answer = "Here they are:\n\
            <memory type=\"bug\" domain=\"testing\"><what>pytest hangs on the db fixture</what><do>use --timeout</do></memory>\n\
            <memory type=\"decision\"><what>We use sqlx, not diesel</what><warn>no ORM</warn></memory>\n\
            <memory type=\"bug\"><what>pytest hangs on the db fixture</what></memory>\n\
            <memory type=\"preference\"><what>Tabs, never spaces</what></memory>\n\
            <memory type=\"pattern\"><what>a fourth one</what></memory>";
        let got = parse_extraction(answer, 3).unwrap();
        let whats: Vec<&str> = got.iter().map(|m| m.what.as_str()).collect();
        assert_eq!(
            whats,
            ["pytest hangs on the db fixture", "We use sqlx, not diesel", "Tabs, never spaces"]
        );
        assert_eq!(got[0].memory_type, Some(MemoryType::Bug));
        assert_eq!(got[0].do_steps, ["use --timeout"]);
    }

    #[test]
    fn nonsense_is_an_error_not_an_empty_list() {
        assert!(parse_extraction("I think the user likes Rust", 3).is_err());
        assert!(parse_extraction("   ", 3).is_err());
        assert!(parse_extraction("<memory type=\"bug\"><when>x</when></memory>", 3).is_err());
    }

    #[test]
    fn prompts_carry_their_inputs_and_rules() {
        let (system, user) = extraction_prompt("user: always run cargo fmt", 2);
        assert!(system.contains("at most 2 memories") && system.contains("NONE"));
        assert!(system.contains("- preference:") && !system.contains("- context:"));
        assert!(user.contains("always run cargo fmt"));
        let a = Structured { what: "Use X".into(), ..Structured::default() };
        let b =
            Structured { what: "Avoid Y".into(), warn: vec!["Y breaks Z".into()], ..Structured::default() };
        let (system, user) = merge_prompt(&[a, b]);
        assert!(system.contains("- skill:"));
        assert!(user.contains("Use X") && user.contains("Y breaks Z") && user.contains("<source n=\"2\">"));
    }

    #[test]
    fn a_merge_is_always_a_skill() {
        let m = parse_merge("<memory type=\"bug\"><what>Combined</what></memory>").unwrap();
        assert_eq!(m.memory_type, Some(MemoryType::Skill));
        assert!(parse_merge("REJECT").is_err());
    }

    proptest::proptest! {
        #[test]
        fn extraction_parser_never_panics(s in "\\PC{0,400}") {
            let _ = parse_extraction(&s, 3);
        }
    }
}
