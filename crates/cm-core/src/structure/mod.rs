//! Memory structuring: a free-text note turned into `<what>/<when>/<do>/<warn>`.
//!
//! A structured memory states the knowledge itself (`what`), the situations
//! where it applies (`when`), the steps to take (`do`) and the pitfalls to
//! avoid (`warn`). Which of these a memory carries depends on its type (see
//! [`Structured::to_xml`]). Three pure pieces live here; the engine wires them
//! to an LLM or not:
//!
//! - [`structuring_prompt`] builds the system and user messages asking an LLM
//!   to structure a note, or to answer `REJECT` when it is not worth keeping;
//! - [`parse_llm_output`] reads whatever the LLM answered, tolerating prose,
//!   code fences, sloppy XML and truncation, and never panics;
//! - [`offline_structure`] is a deterministic, cue-based structurer for when no
//!   LLM is configured or it failed.
//!
//! Every value leaving this module is normalised the same way: whitespace runs
//! collapsed to one space, control characters dropped, list bullets stripped,
//! empties dropped and lengths capped (see the `MAX_*` constants), so
//! `parse_llm_output(&s.to_xml())` gives back `s` for a normalised `s`.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::memory::{Domain, MemoryType};
use crate::text;

/// Longest `what`, in characters.
pub const MAX_WHAT_CHARS: usize = 2000;
/// Longest item of `when`, `do` or `warn`, and longest REJECT reason, in characters.
pub const MAX_ITEM_CHARS: usize = 500;
/// Most items kept in one of `when`, `do` or `warn`.
pub const MAX_ITEMS: usize = 20;
/// Longest summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 200;
/// Words kept in a summary made by [`offline_structure`].
pub const SUMMARY_WORDS: usize = 15;
/// Most keywords kept.
pub const MAX_KEYWORDS: usize = 8;
/// Longest keyword, in characters (the limit of [`crate::memory::normalize_labels`]).
pub const MAX_KEYWORD_CHARS: usize = 64;

/// A memory split into its parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Structured {
    /// The type the structurer chose, when it chose a valid one.
    #[serde(rename = "type")]
    pub memory_type: Option<MemoryType>,
    /// The domain the structurer chose, when it was a valid domain name.
    pub domain: Option<Domain>,
    /// The knowledge itself, in one or two sentences.
    pub what: String,
    /// Situations where it applies.
    pub when: Vec<String>,
    /// Steps to take.
    #[serde(rename = "do")]
    pub do_steps: Vec<String>,
    /// Pitfalls to avoid.
    pub warn: Vec<String>,
    /// A one-line summary.
    pub summary: Option<String>,
    /// Search keywords (lower case).
    pub keywords: Vec<String>,
}

/// Which of `when`, `do` and `warn` a memory of some type carries (`what`
/// always). One table serves the XML, the embedding text and the prompt.
#[derive(Debug, Clone, Copy)]
struct Fields {
    when: bool,
    do_steps: bool,
    warn: bool,
}

/// The fields of each type, as in the original: fact → what; pattern → what,
/// when, do, warn; decision and preference → what, warn; bug → what, do;
/// context → what, when; skill (and an unknown type) → everything.
fn fields_of(memory_type: Option<MemoryType>) -> Fields {
    let (when, do_steps, warn) = match memory_type {
        Some(MemoryType::Fact) => (false, false, false),
        Some(MemoryType::Decision | MemoryType::Preference) => (false, false, true),
        Some(MemoryType::Bug) => (false, true, false),
        Some(MemoryType::Context) => (true, false, false),
        Some(MemoryType::Pattern | MemoryType::Skill) | None => (true, true, true),
    };
    Fields { when, do_steps, warn }
}

/// Separator of the items of `<when>`.
const WHEN_SEP: char = '|';
/// Separator of the items of `<do>` and `<warn>`.
const STEP_SEP: char = ';';

impl Structured {
    /// Renders the stored XML: `<memory type="…" domain="…"><what>…</what>
    /// <when>a | b</when><do>x; y</do><warn>…</warn></memory>` on one line.
    ///
    /// Only the fields of the memory's type are written (see `fields_of`),
    /// empty elements and absent attributes are left out, and text is escaped,
    /// including any list separator inside an item (as a character reference),
    /// so the XML parses back into the same items. Summary and keywords are
    /// stored in their own columns and are not part of it.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<memory");
        if let Some(t) = self.memory_type {
            let _ = write!(out, " type=\"{}\"", escape(t.as_str(), None));
        }
        if let Some(d) = &self.domain {
            let _ = write!(out, " domain=\"{}\"", escape(d.as_str(), None));
        }
        out.push('>');
        let fields = fields_of(self.memory_type);
        push_element(&mut out, "what", &escape(&normalize_text(&self.what, MAX_WHAT_CHARS), None));
        if fields.when {
            push_list(&mut out, "when", &self.when, WHEN_SEP);
        }
        if fields.do_steps {
            push_list(&mut out, "do", &self.do_steps, STEP_SEP);
        }
        if fields.warn {
            push_list(&mut out, "warn", &self.warn, STEP_SEP);
        }
        out.push_str("</memory>");
        out
    }

    /// Plain text for embedding and full-text search: `what`, then one line
    /// each for `When:`, `Do:` and `Warn:` when the type carries them and they
    /// are not empty.
    pub fn embed_text(&self) -> String {
        let fields = fields_of(self.memory_type);
        let mut out = self.what.trim().to_owned();
        let lists = [
            (fields.when, "When", &self.when, " | "),
            (fields.do_steps, "Do", &self.do_steps, "; "),
            (fields.warn, "Warn", &self.warn, "; "),
        ];
        for (wanted, label, items, sep) in lists {
            if wanted && !items.is_empty() {
                if !out.is_empty() {
                    out.push('\n');
                }
                let _ = write!(out, "{label}: {}", items.join(sep));
            }
        }
        out
    }

    /// This memory as [`parse_llm_output`] would return it: text normalised,
    /// empty items dropped, keywords lower-cased and de-duplicated.
    #[cfg(test)]
    fn normalized(&self) -> Structured {
        Structured {
            memory_type: self.memory_type,
            domain: self.domain.clone(),
            what: normalize_text(&self.what, MAX_WHAT_CHARS),
            when: normalize_items(self.when.iter().map(String::as_str)),
            do_steps: normalize_items(self.do_steps.iter().map(String::as_str)),
            warn: normalize_items(self.warn.iter().map(String::as_str)),
            summary: normalize_summary(self.summary.as_deref().unwrap_or("")),
            keywords: normalize_keywords(self.keywords.iter().map(String::as_str)),
        }
    }

    /// Clears `when`, `do` and `warn` where the memory's type does not carry them.
    fn retain_type_fields(&mut self) {
        let fields = fields_of(self.memory_type);
        if !fields.when {
            self.when.clear();
        }
        if !fields.do_steps {
            self.do_steps.clear();
        }
        if !fields.warn {
            self.warn.clear();
        }
    }
}

/// Appends `<name>content</name>` unless `content` is empty.
fn push_element(out: &mut String, name: &str, content: &str) {
    if !content.is_empty() {
        let _ = write!(out, "<{name}>{content}</{name}>");
    }
}

/// Appends a list element, items normalised, escaped and joined by `sep`.
fn push_list(out: &mut String, name: &str, items: &[String], sep: char) {
    let escaped: Vec<String> =
        normalize_items(items.iter().map(String::as_str)).iter().map(|i| escape(i, Some(sep))).collect();
    let joiner = if sep == WHEN_SEP { " | " } else { "; " };
    push_element(out, name, &escaped.join(joiner));
}

/// Escapes XML's special characters, and `sep` (a list separator) as a
/// character reference so it is not read back as one.
fn escape(s: &str, sep: Option<char>) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if Some(c) == sep => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

/// Collapses whitespace runs to one space, drops control characters, trims,
/// and caps the result at `max` characters.
fn normalize_text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        let word: String = word.chars().filter(|c| !c.is_control()).collect();
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    cap_chars(&out, max)
}

/// The first `max` characters of `s` (never splitting a character), trimmed at the end.
fn cap_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => s.get(..end).unwrap_or(s).trim_end().to_owned(),
        None => s.to_owned(),
    }
}

/// Strips a leading list marker (`- `, `* `, `• `, `1. `, `1) `), if any.
fn strip_marker(s: &str) -> Option<&str> {
    for bullet in ["- ", "* ", "• ", "+ "] {
        if let Some(rest) = s.strip_prefix(bullet) {
            return Some(rest);
        }
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let rest = s.get(digits..)?;
        return rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") "));
    }
    None
}

/// Normalises one list item: text normalised, every leading marker stripped, capped.
fn normalize_item(s: &str) -> String {
    let mut item = normalize_text(s, usize::MAX);
    while let Some(rest) = strip_marker(&item) {
        item = rest.trim_start().to_owned();
    }
    cap_chars(&item, MAX_ITEM_CHARS)
}

/// Normalises a list: items normalised, empties dropped, at most [`MAX_ITEMS`].
fn normalize_items<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    items.into_iter().map(normalize_item).filter(|i| !i.is_empty()).take(MAX_ITEMS).collect()
}

/// Normalises a summary; `None` when nothing is left.
fn normalize_summary(s: &str) -> Option<String> {
    Some(normalize_text(s, MAX_SUMMARY_CHARS)).filter(|s| !s.is_empty())
}

/// Normalises keywords: lower case, trimmed, de-duplicated, at most [`MAX_KEYWORDS`].
fn normalize_keywords<'a>(raw: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for keyword in raw {
        let keyword = normalize_item(&keyword.to_lowercase());
        let keyword = cap_chars(&keyword, MAX_KEYWORD_CHARS);
        if !keyword.is_empty() && !out.contains(&keyword) {
            out.push(keyword);
        }
        if out.len() == MAX_KEYWORDS {
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Parsing an LLM's answer
// ---------------------------------------------------------------------------

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

/// Reads an LLM's answer to [`structuring_prompt`].
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
fn word_prefix<'a>(s: &'a str, word: &str, case_sensitive: bool) -> Option<&'a str> {
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

// ---------------------------------------------------------------------------
// The prompt
// ---------------------------------------------------------------------------

/// What each type means, for the prompt.
fn describe(memory_type: MemoryType) -> &'static str {
    match memory_type {
        MemoryType::Fact => "a stable fact about the codebase or project",
        MemoryType::Decision => "an architectural or technical decision and its rationale",
        MemoryType::Bug => "a bug, its root cause and its fix",
        MemoryType::Pattern => "a recurring code pattern or workflow: when it applies and how to do it",
        MemoryType::Context => "background about the project or its people worth knowing next session",
        MemoryType::Preference => "a workflow or style preference of the user",
        MemoryType::Skill => "a consolidated, reusable procedure",
    }
}

/// The elements a type carries, as `what, when, do, warn`.
fn field_names(memory_type: MemoryType) -> String {
    let fields = fields_of(Some(memory_type));
    let mut names = vec!["what"];
    names.extend(
        [(fields.when, "when"), (fields.do_steps, "do"), (fields.warn, "warn")]
            .iter()
            .filter_map(|&(wanted, name)| wanted.then_some(name)),
    );
    names.join(", ")
}

/// Appends the `<memory>` element's template, what each of `types` carries,
/// and the rules for its fields; `source` names what the LLM reads ("note",
/// "text"). Shared by every prompt whose answer [`parse_llm_output`] reads.
pub(crate) fn format_rules(out: &mut String, types: &[MemoryType], source: &str) {
    out.push_str(
        "<memory type=\"TYPE\" domain=\"DOMAIN\">\n  <what>…</what>\n  <when>situation | situation</when>\n  \
         <do>step; step</do>\n  <warn>pitfall; pitfall</warn>\n  <summary>…</summary>\n  \
         <keywords>keyword, keyword, keyword</keywords>\n</memory>\n\nTYPE is one of:\n",
    );
    for &t in types {
        let _ = writeln!(out, "- {t}: {}; elements: {}", describe(t), field_names(t));
    }
    let _ = write!(
        out,
        "\nDOMAIN is one of {}, or another short lower-case word when none fits.\n\n\
         Write only the elements of the chosen type (plus summary and keywords):\n\
         - what: the knowledge itself in 1–2 self-contained sentences (name the files, commands and versions involved);\n\
         - when: the situations where it applies, separated by |;\n\
         - do: concrete steps, separated by ;;\n\
         - warn: pitfalls and what not to do, separated by ;;\n\
         - summary: at most 15 words;\n\
         - keywords: 3 to 8 search keywords, comma separated.\n\
         Escape & < > in text as &amp; &lt; &gt;. Use only what the {source} says; never invent details.",
        Domain::DEFAULTS.join(", ")
    );
}

/// The system and user messages asking an LLM to structure `content`.
///
/// The system message holds the rules: answer `REJECT` (optionally with a
/// reason) for one-off instructions, temporary debugging and session-only
/// chatter; otherwise only a `<memory>` element with the fields of its type,
/// a `<summary>` of at most 15 words and 3–8 `<keywords>`. Hints, when given,
/// are passed in the user message as the caller's best guess.
pub fn structuring_prompt(
    content: &str,
    hint_type: Option<MemoryType>,
    hint_domain: Option<&Domain>,
) -> (String, String) {
    let mut system = String::from(
        "You structure notes for a developer's long-term project memory, which is searched and \
         shown to a coding assistant in later sessions.\n\n\
         First decide whether the note is worth remembering beyond this session. Answer exactly \
         `REJECT`, optionally followed by `: ` and a short reason, when it is:\n\
         - a one-off instruction for the task at hand (\"rename this variable\", \"run the tests now\");\n\
         - temporary debugging (a failure still being chased, print statements, guesses not yet confirmed);\n\
         - session-only chatter (greetings, thanks, status updates, plans for the next few minutes).\n\n\
         Otherwise answer with only this XML, without any other text:\n",
    );
    format_rules(&mut system, &MemoryType::ALL, "note");
    let mut user = String::new();
    if let Some(t) = hint_type {
        let _ = writeln!(user, "Suggested type: {t} (keep it unless the note clearly is another type)");
    }
    if let Some(d) = hint_domain {
        let _ = writeln!(user, "Suggested domain: {d}");
    }
    let _ = write!(user, "Note:\n<note>\n{}\n</note>", content.trim());
    (system, user)
}

// ---------------------------------------------------------------------------
// Offline structuring
// ---------------------------------------------------------------------------

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
        if is_warning(main) {
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

    fn memory(text: &str) -> Structured {
        match parse_llm_output(text) {
            Ok(LlmVerdict::Memory(m)) => m,
            other => panic!("expected a memory from {text:?}, got {other:?}"),
        }
    }

    fn reason(text: &str) -> String {
        match parse_llm_output(text) {
            Ok(LlmVerdict::Reject { reason }) => reason,
            other => panic!("expected a rejection from {text:?}, got {other:?}"),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn sample(memory_type: Option<MemoryType>) -> Structured {
        Structured {
            memory_type,
            domain: Some(Domain::parse("database").expect("a default domain")),
            what: "Migrations live in `crates/cm-store/migrations` & are \"timestamped\" <never> edited."
                .into(),
            when: strings(&["adding a column | or a table", "changing an index"]),
            do_steps: strings(&["run `sqlx migrate add <name>`; then edit it", "run cargo test"]),
            warn: strings(&["never edit a landed migration", "don't use 'IF NOT EXISTS' blindly"]),
            summary: None,
            keywords: Vec::new(),
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
    fn renders_the_fields_of_each_type() {
        let xml = sample(Some(MemoryType::Pattern)).to_xml();
        assert_eq!(
            xml,
            "<memory type=\"pattern\" domain=\"database\"><what>Migrations live in `crates/cm-store/migrations` \
             &amp; are &quot;timestamped&quot; &lt;never&gt; edited.</what><when>adding a column &#124; or a table \
             | changing an index</when><do>run `sqlx migrate add &lt;name&gt;`&#59; then edit it; run cargo test</do>\
             <warn>never edit a landed migration; don&#39;t use &#39;IF NOT EXISTS&#39; blindly</warn></memory>"
        );
        let expected = [
            (MemoryType::Fact, [false, false, false]),
            (MemoryType::Pattern, [true, true, true]),
            (MemoryType::Decision, [false, false, true]),
            (MemoryType::Preference, [false, false, true]),
            (MemoryType::Bug, [false, true, false]),
            (MemoryType::Context, [true, false, false]),
            (MemoryType::Skill, [true, true, true]),
        ];
        for (t, [when, do_steps, warn]) in expected {
            let xml = sample(Some(t)).to_xml();
            assert!(xml.contains("<what>"), "{xml}");
            assert_eq!(xml.contains("<when>"), when, "{xml}");
            assert_eq!(xml.contains("<do>"), do_steps, "{xml}");
            assert_eq!(xml.contains("<warn>"), warn, "{xml}");
        }
        let bare = Structured { what: "x".into(), ..Structured::default() };
        assert_eq!(bare.to_xml(), "<memory><what>x</what></memory>");
    }

    #[test]
    fn xml_round_trips_for_every_type() {
        let types = MemoryType::ALL.into_iter().map(Some).chain([None]);
        for t in types {
            let mut original = sample(t);
            original.summary = Some("ignored".into());
            original.keywords = strings(&["ignored"]);
            let parsed = memory(&original.to_xml());
            let mut expected = original.normalized();
            expected.retain_type_fields();
            expected.summary = None;
            expected.keywords.clear();
            assert_eq!(parsed, expected, "{t:?}");
            assert_eq!(parsed.to_xml(), original.to_xml());
        }
    }

    #[test]
    fn embed_text_lists_the_fields_of_the_type() {
        let text = sample(Some(MemoryType::Bug)).embed_text();
        assert_eq!(
            text,
            "Migrations live in `crates/cm-store/migrations` & are \"timestamped\" <never> edited.\n\
             Do: run `sqlx migrate add <name>`; then edit it; run cargo test"
        );
        let text = sample(Some(MemoryType::Skill)).embed_text();
        assert!(text.contains("\nWhen: adding a column | or a table | changing an index\nDo: "), "{text}");
        assert!(
            text.ends_with("\nWarn: never edit a landed migration; don't use 'IF NOT EXISTS' blindly"),
            "{text}"
        );
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
    fn prompt_states_the_rules_types_and_domains() {
        let domain = Domain::parse("api").expect("a default domain");
        let (system, user) = structuring_prompt(
            "  Use `cargo nextest` for tests.  ",
            Some(MemoryType::Preference),
            Some(&domain),
        );
        for needle in [
            "REJECT",
            "one-off instruction",
            "temporary debugging",
            "session-only chatter",
            "<summary>",
            "<keywords>",
            "3 to 8",
            "at most 15 words",
            "separated by |",
            "separated by ;",
        ] {
            assert!(system.contains(needle), "missing {needle:?}");
        }
        for t in MemoryType::ALL {
            assert!(system.contains(&format!("- {t}: ")), "missing type {t}");
        }
        assert!(system.contains("- fact: a stable fact about the codebase or project; elements: what\n"));
        assert!(system.contains("elements: what, when, do, warn\n"));
        assert!(system.contains(&Domain::DEFAULTS.join(", ")));
        assert!(user.contains("Suggested type: preference"));
        assert!(user.contains("Suggested domain: api"));
        assert!(user.ends_with("<note>\nUse `cargo nextest` for tests.\n</note>"));
        let (_, bare) = structuring_prompt("x", None, None);
        assert_eq!(bare, "Note:\n<note>\nx\n</note>");
    }

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

    #[test]
    fn pathological_answers_parse_in_linear_time() {
        // Quadratic scanning would take minutes on these.
        for unit in ["<what ", "<memory '", "<memory><what>x", "&#", "<![CDATA[", "<do>a;", "REJECT"] {
            let text = unit.repeat(200_000 / unit.len());
            let _ = parse_llm_output(&text);
        }
    }
}

/// Property tests: the parser never panics, and what it accepts always has a `what`.
#[cfg(test)]
mod fuzz {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    use super::*;

    /// Parses `text`; fails the case if an accepted memory has an empty `what`.
    fn check(text: &str) -> Result<(), TestCaseError> {
        if let Ok(LlmVerdict::Memory(m)) = parse_llm_output(text) {
            prop_assert!(!m.what.is_empty(), "empty what from {:?}", text);
        }
        Ok(())
    }

    /// Pieces of the XML dialect, so random strings often look almost right.
    fn fragment() -> impl Strategy<Value = String> {
        let pieces: Vec<&'static str> = vec![
            "<memory",
            "</memory>",
            " type=\"",
            " domain='",
            "bug",
            "pattern",
            "\"",
            "'",
            ">",
            "<",
            "/",
            "/>",
            "<what>",
            "</what>",
            "<when>",
            "</when>",
            "<do>",
            "</do>",
            "<warn>",
            "</warn>",
            "<summary>",
            "<keywords>",
            "<![CDATA[",
            "]]>",
            "&amp;",
            "&#",
            "&#x",
            "1F600",
            ";",
            "|",
            ",",
            "\n- ",
            "\n",
            "```xml\n",
            "```",
            "REJECT",
            "reject",
            ": ",
            "é",
            "🎉",
            "\u{0}",
            "\u{200b}",
            " ",
        ];
        prop_oneof![
            3 => proptest::sample::select(pieces).prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
            1 => "[a-zA-Z0-9 ]{0,6}",
        ]
    }

    /// Arbitrary Unicode strings, and concatenations of fragments.
    fn answer() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            prop::collection::vec(fragment(), 0..48).prop_map(|parts| parts.concat()),
        ]
    }

    /// Text with the characters that need escaping or separate list items.
    fn field_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                4 => "[a-z]{1,6}",
                1 => proptest::sample::select(vec![" ", "&", "<", ">", "\"", "'", ";", "|", ",", "\n", "- ", "é", "&amp;", "]]>"])
                    .prop_map(str::to_owned),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    fn structured() -> impl Strategy<Value = Structured> {
        let memory_type = proptest::option::of(proptest::sample::select(MemoryType::ALL.to_vec()));
        let domain = proptest::option::of(
            proptest::sample::select(Domain::DEFAULTS.to_vec())
                .prop_filter_map("a domain", |d| Domain::parse(d).ok()),
        );
        let list = || prop::collection::vec(field_text(), 0..4);
        (memory_type, domain, field_text(), list(), list(), list()).prop_map(
            |(memory_type, domain, what, when, do_steps, warn)| Structured {
                memory_type,
                domain,
                what,
                when,
                do_steps,
                warn,
                summary: None,
                keywords: Vec::new(),
            },
        )
    }

    /// A change to valid XML: cut it, or insert a troublesome piece.
    #[derive(Debug, Clone)]
    enum Mutation {
        Truncate(usize),
        Insert(usize, &'static str),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            any::<usize>().prop_map(Mutation::Truncate),
            (
                any::<usize>(),
                proptest::sample::select(vec!["<", "&", "\"", "'", "</", "<what>", "&#", "<![CDATA["])
            )
                .prop_map(|(at, piece)| Mutation::Insert(at, piece)),
        ]
    }

    /// Applies a mutation at a character boundary chosen by its index.
    fn mutate(xml: &str, mutation: &Mutation) -> String {
        let boundaries: Vec<usize> = xml.char_indices().map(|(i, _)| i).chain([xml.len()]).collect();
        let pick = |n: usize| boundaries.get(n % boundaries.len()).copied().unwrap_or(0);
        match *mutation {
            Mutation::Truncate(n) => xml.get(..pick(n)).unwrap_or_default().to_owned(),
            Mutation::Insert(n, piece) => {
                let at = pick(n);
                let (head, tail) = xml.split_at(at);
                format!("{head}{piece}{tail}")
            }
        }
    }

    /// Runs `test` on `cases` values of `strategy` and reports how many ran and how long it took.
    fn run<S: Strategy>(
        name: &str,
        cases: u32,
        strategy: S,
        test: impl Fn(S::Value) -> Result<(), TestCaseError>,
    ) {
        let executions = AtomicUsize::new(0);
        let started = Instant::now();
        let mut runner = TestRunner::new(Config::with_cases(cases));
        let result = runner.run(&strategy, |value| {
            executions.fetch_add(1, Ordering::Relaxed);
            test(value)
        });
        eprintln!(
            "fuzz {name}: {} executions in {:.2?}",
            executions.load(Ordering::Relaxed),
            started.elapsed()
        );
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
    }

    #[test]
    fn arbitrary_answers_never_panic() {
        run("arbitrary strings", 20_000, answer(), |text| check(&text));
    }

    #[test]
    fn mutated_xml_never_panics() {
        let strategy = (structured(), prop::collection::vec(mutation(), 1..4));
        run("mutated xml", 5_000, strategy, |(memory, mutations)| {
            let mut xml = memory.to_xml();
            for m in &mutations {
                xml = mutate(&xml, m);
                check(&xml)?;
            }
            Ok(())
        });
    }

    #[test]
    fn xml_round_trips_and_every_truncation_parses() {
        run("round trip + all truncations", 300, structured(), |memory| {
            let xml = memory.to_xml();
            let mut expected = memory.normalized();
            expected.retain_type_fields();
            match parse_llm_output(&xml) {
                Ok(LlmVerdict::Memory(parsed)) => prop_assert_eq!(parsed, expected),
                Ok(other) => prop_assert!(false, "{:?} from {:?}", other, xml),
                Err(e) => prop_assert!(expected.what.is_empty(), "{} from {:?}", e, xml),
            }
            for (i, _) in xml.char_indices() {
                check(xml.get(..i).unwrap_or_default())?;
            }
            Ok(())
        });
    }
}
