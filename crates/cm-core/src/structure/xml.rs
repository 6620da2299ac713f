//! Reading an LLM's answer: a `REJECT` verdict or a `<memory>` element, found
//! by a hand-written, tolerant tag scanner rather than an XML library, because
//! LLM output is routinely malformed (prose around it, code fences, missing
//! closing tags, stray `<` in text, truncation) and must never make a save fail
//! with a panic.

use super::normalize::{normalize_items, normalize_keywords, normalize_summary, normalize_text};
use super::{MAX_ITEM_CHARS, MAX_WHAT_CHARS, STEP_SEP, Structured, WHEN_SEP};
use crate::memory::Domain;

/// What the LLM decided about a note.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmVerdict {
    /// Not worth remembering (a one-off instruction, temporary debugging,
    /// chatter); `reason` is the LLM's explanation, possibly empty.
    Reject {
        /// Why, in the LLM's words.
        reason: String,
    },
    /// The structured memory.
    Memory(Structured),
}

/// Why an LLM's answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The answer was empty or only whitespace.
    #[error("the structurer's answer is empty")]
    Empty,
    /// A `<memory>` element was found but none had a non-empty `<what>`.
    #[error("the structurer's answer has no <what>")]
    MissingWhat,
    /// Neither `REJECT` nor a `<memory>` element.
    #[error("the structurer's answer is neither REJECT nor a <memory> element")]
    Unrecognised,
}

/// Element names the parser knows: a missing closing tag ends at the next of these.
const KNOWN_ELEMENTS: [&str; 9] =
    ["memory", "what", "when", "do", "warn", "summary", "keywords", "type", "domain"];

/// Reads an LLM's answer to [`structuring_prompt`](super::structuring_prompt).
///
/// In order: an answer starting with `REJECT` (upper case) is a rejection; else
/// the first `<memory>` element (anywhere: in prose, in a code fence) with a
/// non-empty `<what>` is the memory, or, without any `<memory>`, a bare
/// `<what>`; else an answer starting with "reject" in any case, or holding
/// `REJECT` as a word, is a rejection. The XML may have unknown, missing or
/// single-quoted attributes, missing closing tags (an element then ends at the
/// next known tag), entities, CDATA, upper-case tags and unknown children.
/// Unknown types and invalid domains become `None`. Never panics.
pub fn parse_llm_output(text: &str) -> Result<LlmVerdict, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let lead = strip_leading_decoration(text);
    if let Some(reason) = word_prefix(lead, "REJECT", true) {
        return Ok(LlmVerdict::Reject { reason: reject_reason(reason) });
    }
    let lower = text.to_ascii_lowercase();
    let found_memory = match find_memory(text, &lower) {
        Ok(memory) => return Ok(LlmVerdict::Memory(memory)),
        Err(found) => found,
    };
    let rejected = ["reject", "rejected"].iter().find_map(|w| word_prefix(lead, w, false));
    if let Some(reason) = rejected.or_else(|| find_word(text, "REJECT")) {
        return Ok(LlmVerdict::Reject { reason: reject_reason(reason) });
    }
    Err(if found_memory { ParseError::MissingWhat } else { ParseError::Unrecognised })
}

/// Skips whitespace, a code fence's opening line, and Markdown emphasis or
/// quoting at the start of an answer.
fn strip_leading_decoration(text: &str) -> &str {
    let mut s = text.trim_start();
    loop {
        let before = s.len();
        if let Some(rest) = s.strip_prefix("```") {
            // Skip a language tag when it is alone on the fence's line.
            let tag_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '+'))
                .unwrap_or(rest.len());
            s = match rest.get(tag_len..) {
                Some(after) if after.starts_with(['\n', '\r']) => after,
                _ => rest,
            };
        }
        s = s.trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, '*' | '_' | '#' | '>' | '"' | '`')
        });
        if s.len() == before {
            return s;
        }
    }
}

/// When `s` starts with `word` as a whole word, what follows it.
pub(super) fn word_prefix<'a>(s: &'a str, word: &str, case_sensitive: bool) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    let matches = if case_sensitive { head == word } else { head.eq_ignore_ascii_case(word) };
    let rest = s.get(word.len()..)?;
    let boundary = !rest.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_');
    (matches && boundary).then_some(rest)
}

/// What follows the first whole-word, case-sensitive occurrence of `word` in `text`.
fn find_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find(word) {
        let at = from + i;
        let before_ok = !text.get(..at)?.chars().next_back().is_some_and(is_word_char);
        let rest = text.get(at + word.len()..)?;
        if before_ok && !rest.chars().next().is_some_and(is_word_char) {
            return Some(rest);
        }
        from = at + word.len();
    }
    None
}

/// The reason following a `REJECT`: the rest of its line, or else the next
/// non-empty line, without separators or Markdown, normalised and capped.
fn reject_reason(rest: &str) -> String {
    let clean = |line: &str| -> String {
        let line = line.trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, ':' | '-' | '–' | '—' | '.' | ',' | '*' | '_' | '`' | '"')
        });
        let line = line.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '_' | '`' | '"'));
        normalize_text(line, MAX_ITEM_CHARS)
    };
    rest.lines().map(clean).find(|l| !l.is_empty()).unwrap_or_default()
}

/// The first `<memory>` element with a non-empty `<what>`, or, when the
/// answer has no `<memory>` at all, a bare `<what>` and its siblings.
/// `Err(true)` when some `<memory>` was found but none had a `<what>`.
fn find_memory(text: &str, lower: &str) -> Result<Structured, bool> {
    let mut found = false;
    let mut from = 0;
    while let Some(open) = next_open_tag(lower, from, "memory") {
        found = true;
        let attrs = text.get(open.name_end..open.end).unwrap_or("");
        let body_end = memory_end(lower, open.end);
        if let Some(memory) = read_body(text, lower, (open.end, body_end), attrs) {
            return Ok(memory);
        }
        from = open.end.max(open.start + 1);
    }
    if !found && let Some(memory) = read_body(text, lower, (0, text.len()), "") {
        return Ok(memory);
    }
    Err(found)
}

/// A tag found in the text: `<name …>` or `</name …>`, byte offsets.
#[derive(Debug, Clone, Copy)]
struct Tag<'a> {
    /// Offset of `<`.
    start: usize,
    /// Offset just past the name.
    name_end: usize,
    /// Offset just past `>` (or the end of the text when it is missing).
    end: usize,
    /// Lower-case name.
    name: &'a str,
    /// `</name>`.
    closing: bool,
    /// `<name/>`.
    self_closing: bool,
}

/// The next tag at or after `from` in the lower-cased text, skipping CDATA sections.
fn next_tag(lower: &str, from: usize) -> Option<Tag<'_>> {
    let mut at = from;
    loop {
        let start = at + lower.get(at..)?.find('<')?;
        let after = lower.get(start..)?;
        if after.starts_with("<![cdata[") {
            at = after.find("]]>").map_or(lower.len(), |i| start + i + 3);
            continue;
        }
        let closing = after.starts_with("</");
        let name_start = start + if closing { 2 } else { 1 };
        let name_len = lower
            .get(name_start..)?
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'))
            .count();
        if name_len == 0 {
            at = start + 1;
            continue;
        }
        let name_end = name_start + name_len;
        let end = tag_end(lower, name_end);
        let self_closing = lower.get(..end)?.trim_end_matches('>').ends_with('/');
        let name = lower.get(name_start..name_end)?;
        return Some(Tag { start, name_end, end, name, closing, self_closing });
    }
}

/// Longest tag looked at, in bytes: a `<name` with no `>` within this ends
/// right after its name, so scanning stays linear on garbage like `<a<a<a…`.
const MAX_TAG_BYTES: usize = 1024;

/// Offset just past the `>` closing a tag whose name ends at `from`, ignoring
/// `>` inside quoted attribute values; just past the name when there is no
/// `>` within [`MAX_TAG_BYTES`], or the end of the text if that comes first.
fn tag_end(lower: &str, from: usize) -> usize {
    let Some(rest) = lower.get(from..) else { return lower.len() };
    let window_end = rest.char_indices().map(|(i, _)| i).find(|&i| i >= MAX_TAG_BYTES).unwrap_or(rest.len());
    let window = rest.get(..window_end).unwrap_or(rest);
    let mut quote = None;
    for (i, c) in window.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return from + i + 1,
            _ => {}
        }
    }
    // An unbalanced quote: fall back to the first `>`.
    match window.find('>') {
        Some(i) => from + i + 1,
        None if window_end == rest.len() => lower.len(),
        None => from,
    }
}

/// The next opening tag named `name` at or after `from`.
fn next_open_tag<'a>(lower: &'a str, from: usize, name: &str) -> Option<Tag<'a>> {
    let mut at = from;
    while let Some(tag) = next_tag(lower, at) {
        if tag.name == name && !tag.closing {
            return Some(tag);
        }
        at = tag.start + 1;
    }
    None
}

/// Where the body of a `<memory>` starting at `from` ends: at its closing
/// tag, at the next `<memory>`, or at the end of the text.
fn memory_end(lower: &str, from: usize) -> usize {
    let mut at = from;
    while let Some(tag) = next_tag(lower, at) {
        if tag.name == "memory" {
            return tag.start;
        }
        at = tag.start + 1;
    }
    lower.len()
}

/// Where the content of element `name`, starting at `from`, ends: at its
/// closing tag, or at the next known tag when the closing tag is missing, or
/// at the end of the text.
fn element_end(lower: &str, from: usize, name: &str) -> usize {
    let mut at = from;
    while let Some(tag) = next_tag(lower, at) {
        if (tag.closing && tag.name == name) || KNOWN_ELEMENTS.contains(&tag.name) {
            return tag.start;
        }
        at = tag.start + 1;
    }
    lower.len()
}

/// The raw content of the first child `name` within `range`, if present.
fn child<'t>(text: &'t str, lower: &str, range: (usize, usize), name: &str) -> Option<&'t str> {
    let (start, end) = range;
    let region = lower.get(..end)?;
    let open = next_open_tag(region, start, name)?;
    if open.self_closing {
        return Some("");
    }
    let content_end = element_end(region, open.end, name).max(open.end);
    text.get(open.end..content_end)
}

/// Reads a memory's children within `range`; `None` without a non-empty `<what>`.
fn read_body(text: &str, lower: &str, range: (usize, usize), attrs: &str) -> Option<Structured> {
    let child_text = |name: &str| child(text, lower, range, name).map(decode).unwrap_or_default();
    let what = normalize_text(&plain(&child_text("what")), MAX_WHAT_CHARS);
    if what.is_empty() {
        return None;
    }
    let attrs = parse_attributes(attrs);
    let attr = |name: &str| {
        attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).or_else(|| {
            child(text, lower, range, name).map(|raw| plain(&decode(raw))).filter(|v| !v.trim().is_empty())
        })
    };
    Some(Structured {
        memory_type: attr("type").and_then(|t| t.parse().ok()),
        domain: attr("domain").and_then(|d| Domain::parse(&d).ok()),
        what,
        when: normalize_items(split_list(&child_text("when"), WHEN_SEP).iter().map(String::as_str)),
        do_steps: normalize_items(split_list(&child_text("do"), STEP_SEP).iter().map(String::as_str)),
        warn: normalize_items(split_list(&child_text("warn"), STEP_SEP).iter().map(String::as_str)),
        summary: normalize_summary(&plain(&child_text("summary"))),
        keywords: normalize_keywords(split_list(&child_text("keywords"), ',').iter().map(String::as_str)),
    })
}

/// Parses `name="value" name='value' name=value` pairs (names lower-cased,
/// values decoded); anything unparseable is skipped.
fn parse_attributes(attrs: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = attrs.trim_end_matches('>').trim_end_matches('/');
    loop {
        rest = rest.trim_start();
        let name_len = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let Some(name) = rest.get(..name_len) else { break };
        if name.is_empty() {
            break;
        }
        let after_name = rest.get(name_len..).unwrap_or("").trim_start();
        let Some(value_part) = after_name.strip_prefix('=') else {
            rest = after_name; // A bare attribute: no value.
            continue;
        };
        let value_part = value_part.trim_start();
        let (value, next) = match value_part.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = value_part.get(1..).unwrap_or("");
                inner.split_once(q).unwrap_or((inner, ""))
            }
            _ => value_part.split_once(char::is_whitespace).unwrap_or((value_part, "")),
        };
        out.push((name.to_ascii_lowercase(), plain(&decode(value))));
        rest = next;
    }
    out
}

/// One decoded character and whether it came from a character reference (an
/// escaped character is never a list separator or line break).
#[derive(Debug, Clone, Copy)]
struct Unit {
    c: char,
    escaped: bool,
}

/// Decodes entities and unwraps CDATA sections.
fn decode(raw: &str) -> Vec<Unit> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        if c == '<' && rest.get(..9).is_some_and(|p| p.eq_ignore_ascii_case("<![CDATA[")) {
            let inner = rest.get(9..).unwrap_or("");
            let (cdata, after) = inner.split_once("]]>").unwrap_or((inner, ""));
            out.extend(cdata.chars().map(|c| Unit { c, escaped: false }));
            rest = after;
            continue;
        }
        if c == '&'
            && let Some((decoded, len)) = entity(rest)
        {
            out.push(Unit { c: decoded, escaped: true });
            rest = rest.get(len..).unwrap_or("");
            continue;
        }
        out.push(Unit { c, escaped: false });
        rest = rest.get(c.len_utf8()..).unwrap_or("");
    }
    out
}

/// The character referenced by the entity `s` starts with, and the entity's
/// length in bytes; `None` when it is not a known or valid entity.
fn entity(s: &str) -> Option<(char, usize)> {
    let body = s.get(1..)?;
    let semi = body.char_indices().take(12).find(|&(_, c)| c == ';')?.0;
    let name = body.get(..semi)?;
    let c = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        char::from_u32(code).filter(|&c| c != '\0')?
    } else {
        match name.to_ascii_lowercase().as_str() {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => ' ',
            _ => return None,
        }
    };
    Some((c, semi + 2))
}

/// The decoded text.
fn plain(units: &[Unit]) -> String {
    units.iter().map(|u| u.c).collect()
}

/// Splits decoded text on unescaped `sep` and on unescaped line breaks.
fn split_list(units: &[Unit], sep: char) -> Vec<String> {
    let mut items = vec![String::new()];
    for unit in units {
        if !unit.escaped && (unit.c == sep || unit.c == '\n' || unit.c == '\r') {
            items.push(String::new());
        } else if let Some(last) = items.last_mut() {
            last.push(unit.c);
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryType;
    use crate::structure::MAX_KEYWORDS;
    use crate::structure::testing::{memory, sample, strings};

    fn reason(text: &str) -> String {
        match parse_llm_output(text) {
            Ok(LlmVerdict::Reject { reason }) => reason,
            other => panic!("expected a rejection from {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_complete_answer() {
        let m = memory(
            "<memory type=\"pattern\" domain=\"Back End\">\n  <what>Use sqlx migrations.</what>\n  \
             <when>schema changes | new tables</when>\n  <do>run sqlx migrate add; edit the file;</do>\n  \
             <warn>never edit a landed migration</warn>\n  <summary>Schema changes go through sqlx migrations</summary>\n  \
             <keywords>SQLx, migrations, schema, sqlx</keywords>\n</memory>",
        );
        assert_eq!(m.memory_type, Some(MemoryType::Pattern));
        assert_eq!(m.domain.as_ref().map(Domain::as_str), Some("backend"));
        assert_eq!(m.what, "Use sqlx migrations.");
        assert_eq!(m.when, strings(&["schema changes", "new tables"]));
        assert_eq!(m.do_steps, strings(&["run sqlx migrate add", "edit the file"]));
        assert_eq!(m.warn, strings(&["never edit a landed migration"]));
        assert_eq!(m.summary.as_deref(), Some("Schema changes go through sqlx migrations"));
        assert_eq!(m.keywords, strings(&["sqlx", "migrations", "schema"]));
    }

    #[test]
    fn recognises_rejections() {
        let cases = [
            ("REJECT", ""),
            ("REJECT: one-off instruction", "one-off instruction"),
            ("  **REJECT** — temporary debugging  ", "temporary debugging"),
            ("```\nREJECT\n```", ""),
            ("```text\nREJECT: chatter\n```", "chatter"),
            (
                "REJECT\n\nThis is a one-off instruction for the current task.",
                "This is a one-off instruction for the current task.",
            ),
            ("Reject: session-only chatter", "session-only chatter"),
            ("rejected - greeting", "greeting"),
            ("This note is only about the current session, so: REJECT", ""),
            ("Verdict: REJECT (temporary debugging)", "(temporary debugging)"),
            ("REJECT: <memory><what>ignored</what></memory>", "<memory><what>ignored</what></memory>"),
        ];
        for (text, expected) in cases {
            assert_eq!(reason(text), expected, "{text:?}");
        }
    }

    #[test]
    fn a_memory_wins_over_a_mention_of_reject() {
        let m = memory(
            "I would not REJECT this one.\n<memory type=\"fact\"><what>The API REJECTs bad tokens.</what></memory>",
        );
        assert_eq!(m.what, "The API REJECTs bad tokens.");
        // "REJECTION" or "rejects" are not the verdict.
        assert_eq!(parse_llm_output("REJECTION is not an answer"), Err(ParseError::Unrecognised));
    }

    #[test]
    fn finds_the_memory_in_prose_and_fences() {
        let prose = "Sure! Here is the structured memory:\n\n<memory type='bug' domain='api'><what>Tokens expire.</what>\
                     <do>refresh them</do></memory>\n\nLet me know if you need more.";
        let fenced = "```xml\n<memory type=\"bug\" domain=\"api\">\n<what>Tokens expire.</what>\n<do>refresh them</do>\n</memory>\n```";
        for text in [prose, fenced] {
            let m = memory(text);
            assert_eq!(m.memory_type, Some(MemoryType::Bug), "{text}");
            assert_eq!(m.domain.as_ref().map(Domain::as_str), Some("api"));
            assert_eq!((m.what.as_str(), m.do_steps.clone()), ("Tokens expire.", strings(&["refresh them"])));
        }
        // A first <memory> without a <what> is skipped for the next one.
        let m = memory("<memory type=\"fact\"></memory> <memory><what>second</what></memory>");
        assert_eq!((m.what.as_str(), m.memory_type), ("second", None));
    }

    #[test]
    fn tolerates_malformed_xml() {
        let m = memory(
            "<memory type=\"pattern\"><what>Run the linter<when>before pushing<do>cargo clippy; cargo fmt",
        );
        assert_eq!(m.what, "Run the linter");
        assert_eq!(m.when, strings(&["before pushing"]));
        assert_eq!(m.do_steps, strings(&["cargo clippy", "cargo fmt"]));

        let m =
            memory("<MEMORY TYPE=Decision Domain=DB><WHAT>We chose SQLite.</What><Warn>no network FS</WARN>");
        assert_eq!(m.memory_type, Some(MemoryType::Decision));
        assert_eq!(m.domain.as_ref().map(Domain::as_str), Some("database"));
        assert_eq!((m.what.as_str(), m.warn.clone()), ("We chose SQLite.", strings(&["no network FS"])));

        let m =
            memory("<memory type=\"note\" domain=\"a;b\" extra><what>  spaced \n\t out  </what></memory>");
        assert_eq!((m.memory_type, m.domain, m.what.as_str()), (None, None, "spaced out"));

        let m = memory(
            "<memory><type>skill</type><domain>testing</domain><what>x</what><note>ignored</note></memory>",
        );
        assert_eq!(m.memory_type, Some(MemoryType::Skill));
        assert_eq!(m.domain.as_ref().map(Domain::as_str), Some("testing"));
        assert_eq!(m.what, "x");

        // Unknown tags inside text stay text; a bare <what> without <memory> is accepted.
        let m = memory("<what>Return Vec<String> from split()</what><do/>");
        assert_eq!(m.what, "Return Vec<String> from split()");
        assert!(m.do_steps.is_empty());
    }

    #[test]
    fn decodes_entities_and_cdata() {
        let m = memory(
            "<memory type=\"pattern\"><what>a &amp;&amp; b &lt;T&gt; &quot;q&quot; &#39;s&#x27; &#8212; &bogus; &#0; &</what>\
             <do><![CDATA[if a < b { x(); }; echo </do> ]]></do><when>a &#124; b | c</when></memory>",
        );
        assert_eq!(m.what, "a && b <T> \"q\" 's' — &bogus; &#0; &");
        assert_eq!(m.do_steps, strings(&["if a < b { x()", "}", "echo </do>"]));
        assert_eq!(m.when, strings(&["a | b", "c"]));
    }

    #[test]
    fn accepts_bulleted_lists_and_caps_lengths() {
        let m = memory("<memory><what>x</what><do>\n- run a\n- run b; then c\n  2. run d\n</do></memory>");
        assert_eq!(m.do_steps, strings(&["run a", "run b", "then c", "run d"]));
        let long = "é".repeat(3000);
        let m = memory(&format!("<memory><what>{long}</what><warn>{long}</warn></memory>"));
        assert_eq!(m.what.chars().count(), MAX_WHAT_CHARS);
        assert_eq!(m.warn.first().map(|w| w.chars().count()), Some(MAX_ITEM_CHARS));
        let many: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
        let m = memory(&format!("<memory><what>x</what><keywords>{}</keywords></memory>", many.join(",")));
        assert_eq!(m.keywords.len(), MAX_KEYWORDS);
    }

    #[test]
    fn rejects_answers_without_a_what() {
        let cases = [
            ("", ParseError::Empty),
            (" \n\t ", ParseError::Empty),
            ("hello there", ParseError::Unrecognised),
            ("<<<>>>&&&;;;", ParseError::Unrecognised),
            ("<what>   </what>", ParseError::Unrecognised),
            ("<memory type=\"bug\"><do>x</do></memory>", ParseError::MissingWhat),
            ("<memory type=\"bug\"><what></what>", ParseError::MissingWhat),
            ("<memory", ParseError::MissingWhat),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_llm_output(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn truncated_answers_never_panic() {
        let answers = [
            sample(Some(MemoryType::Skill)).to_xml(),
            "Ünïcødé → <memory type='bug'><what>été « ok » 🎉</what><do>a; b</do></memory>".to_owned(),
            "REJECT: <![CDATA[ x ]]> &amp;".to_owned(),
        ];
        for answer in &answers {
            for (i, _) in answer.char_indices().chain([(answer.len(), ' ')]) {
                let prefix = answer.get(..i).unwrap_or_default();
                if let Ok(LlmVerdict::Memory(m)) = parse_llm_output(prefix) {
                    assert!(!m.what.is_empty(), "{prefix:?}");
                }
            }
        }
    }

    #[test]
    fn pathological_answers_parse_in_linear_time() {
        // Quadratic scanning would take minutes on these.
        for unit in ["<what ", "<memory '", "<memory><what>x", "&#", "<![CDATA[", "<do>a;", "REJECT"] {
            let text = unit.repeat(200_000 / unit.len());
            let _ = parse_llm_output(&text);
        }
    }
}
