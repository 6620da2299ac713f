//! Normalisation shared by every way a [`Structured`](super::Structured) is
//! made, so the parser, the offline structurer and `to_xml` agree on what a
//! field may hold and a parsed memory compares equal to the one rendered.

use super::{MAX_ITEM_CHARS, MAX_ITEMS, MAX_KEYWORD_CHARS, MAX_KEYWORDS, MAX_SUMMARY_CHARS};

/// Collapses whitespace runs to one space, drops control characters, trims,
/// and caps the result at `max` characters.
pub(super) fn normalize_text(s: &str, max: usize) -> String {
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
pub(super) fn normalize_item(s: &str) -> String {
    let mut item = normalize_text(s, usize::MAX);
    while let Some(rest) = strip_marker(&item) {
        item = rest.trim_start().to_owned();
    }
    cap_chars(&item, MAX_ITEM_CHARS)
}

/// Normalises a list: items normalised, empties dropped, at most [`MAX_ITEMS`].
pub(super) fn normalize_items<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    items.into_iter().map(normalize_item).filter(|i| !i.is_empty()).take(MAX_ITEMS).collect()
}

/// Normalises a summary; `None` when nothing is left.
pub(super) fn normalize_summary(s: &str) -> Option<String> {
    Some(normalize_text(s, MAX_SUMMARY_CHARS)).filter(|s| !s.is_empty())
}

/// Normalises keywords: lower case, trimmed, de-duplicated, at most [`MAX_KEYWORDS`].
pub(super) fn normalize_keywords<'a>(raw: impl IntoIterator<Item = &'a str>) -> Vec<String> {
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
