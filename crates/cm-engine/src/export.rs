//! Export to JSONL (lossless) and Markdown (for people); JSONL import parsing.

use std::fmt::Write as _;

use cm_core::{Memory, MemoryType};
use serde::{Deserialize, Serialize};

use cm_store::ImportFailure;

use crate::{Error, Result};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON object per line, every field kept.
    Jsonl,
    /// A readable document grouped by type.
    Markdown,
}

pub(crate) fn render(memories: &[Memory], format: ExportFormat) -> String {
    match format {
        ExportFormat::Jsonl => {
            let mut out = String::new();
            for m in memories {
                // Serialising a plain struct of strings and numbers cannot fail.
                out.push_str(&serde_json::to_string(m).unwrap_or_default());
                out.push('\n');
            }
            out
        }
        ExportFormat::Markdown => markdown(memories),
    }
}

fn markdown(memories: &[Memory]) -> String {
    let mut out = String::from("# Project memory\n");
    for t in MemoryType::ALL {
        let of_type: Vec<&Memory> = memories.iter().filter(|m| m.memory_type == t && !m.archived).collect();
        if of_type.is_empty() {
            continue;
        }
        let _ = write!(out, "\n## {}\n", capitalise(t.as_str()));
        for m in of_type {
            let _ = write!(out, "\n### #{} · {} · confidence {:.2}\n\n", m.id, m.domain, m.confidence);
            let _ = writeln!(out, "{}", m.content.trim());
            if !m.tags.is_empty() {
                let _ = writeln!(out, "\nTags: {}", m.tags.join(", "));
            }
        }
    }
    let archived = memories.iter().filter(|m| m.archived).count();
    if archived > 0 {
        let _ = write!(out, "\n_{archived} archived memories are not shown._\n");
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub(crate) fn parse_jsonl(text: &str) -> Result<Vec<Memory>> {
    // Editors on Windows start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let fail = |message: String| Error::Import { line: i + 1, message };
            let m: Memory = serde_json::from_str(l).map_err(|e| fail(e.to_string()))?;
            if m.access_count < 0 || m.evidence_count < 0 {
                return Err(fail("access_count and evidence_count cannot be negative".into()));
            }
            if !(0.0..=1.0).contains(&m.confidence) {
                return Err(fail(format!("confidence {} is not between 0 and 1", m.confidence)));
            }
            Ok(m)
        })
        .collect()
}

/// What `claude-memory import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    /// This tool's own lossless export: every field, ids kept where free;
    /// a bad line imports nothing.
    Export,
    /// Any JSONL with a `content` per line and any of `type`, `domain`,
    /// `tags`, `confidence` and `created_at`; a bad line is reported and
    /// skipped, the others imported.
    Jsonl,
}

/// One line of a lenient JSONL file: only `content` is needed.
#[derive(Deserialize)]
struct LenientLine {
    content: String,
    #[serde(default, rename = "type", alias = "memory_type")]
    memory_type: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default, alias = "timestamp")]
    created_at: Option<serde_json::Value>,
}

/// Parses lenient JSONL into memories to import, and the lines refused.
pub(crate) fn parse_lenient_jsonl(text: &str, now_ms: i64) -> (Vec<Memory>, Vec<ImportFailure>) {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    converted(
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, lenient_memory(l, now_ms))),
    )
}

/// The memories of rows converted one by one, and the rows refused: each
/// row is its line (or id) and what it became.
pub(crate) fn converted(
    rows: impl Iterator<Item = (usize, std::result::Result<Memory, String>)>,
) -> (Vec<Memory>, Vec<ImportFailure>) {
    let mut memories = Vec::new();
    let mut failed = Vec::new();
    for (line, row) in rows {
        match row {
            Ok(m) => memories.push(m),
            Err(reason) => failed.push(ImportFailure { line, reason }),
        }
    }
    (memories, failed)
}

/// A statement of a file Claude Code loads, as a memory tagged `origin`.
pub(crate) fn statement_memory(
    statement: &str,
    origin: &str,
    now_ms: i64,
) -> std::result::Result<Memory, String> {
    let new = cm_core::NewMemory::new(statement, cm_core::Source::Import)
        .and_then(|n| n.with_tags(&[origin]))
        .map_err(|e| e.to_string())?;
    let confidence = new.confidence;
    Ok(imported(new, confidence, now_ms))
}

fn lenient_memory(line: &str, now_ms: i64) -> std::result::Result<Memory, String> {
    let l: LenientLine = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let mut new = cm_core::NewMemory::new(&l.content, cm_core::Source::Import).map_err(|e| e.to_string())?;
    if let Some(t) = l.memory_type.as_deref().filter(|t| !t.trim().is_empty()) {
        new = new.with_type(t.parse().map_err(|e: cm_core::Error| e.to_string())?);
    }
    if let Some(d) = l.domain.as_deref().filter(|d| !d.trim().is_empty()) {
        new = new.with_domain(cm_core::Domain::parse(d).map_err(|e| e.to_string())?);
    }
    new = new.with_tags(&l.tags).map_err(|e| e.to_string())?;
    let confidence = match l.confidence {
        Some(c) if (0.0..=1.0).contains(&c) => c,
        Some(c) => return Err(format!("confidence {c} is not between 0 and 1")),
        None => new.confidence,
    };
    let created_at = match l.created_at {
        None | Some(serde_json::Value::Null) => now_ms,
        Some(v) => timestamp_ms(&v)?,
    };
    Ok(imported(new, confidence, created_at))
}

/// A new memory as an import writes it: no id yet (one is given), seen once.
fn imported(new: cm_core::NewMemory, confidence: f64, created_at: i64) -> Memory {
    Memory {
        id: 0,
        content_hash: cm_core::text::content_hash(&new.content),
        content: new.content,
        structured: new.structured,
        summary: new.summary,
        memory_type: new.memory_type,
        domain: new.domain,
        tags: new.tags,
        keywords: new.keywords,
        confidence,
        evidence_count: 1,
        access_count: 0,
        last_accessed_at: None,
        created_at,
        updated_at: created_at,
        source: new.source,
        provenance: new.provenance,
        embedding_model: None,
        archived: false,
        merged_into: None,
        superseded_by: None,
        team_author: None,
        shared: false,
        stale: None,
        cluster_id: None,
    }
}

/// A time as Unix milliseconds, from Unix seconds or milliseconds or an
/// RFC 3339 string (what other tools write).
fn timestamp_ms(v: &serde_json::Value) -> std::result::Result<i64, String> {
    /// Before this many, a number is taken as seconds (it is 2001-09-09 in ms).
    const SECONDS_BELOW: i64 = 1_000_000_000_000;
    match v {
        serde_json::Value::Number(n) => {
            let n = n.as_f64().filter(|n| n.is_finite() && *n >= 0.0).ok_or("created_at is not a time")?;
            let n = n as i64;
            Ok(if n < SECONDS_BELOW { n * 1000 } else { n })
        }
        serde_json::Value::String(s) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("created_at {s:?}: {e}"))?;
            Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
        }
        _ => Err("created_at is not a time".into()),
    }
}

/// A memory of claude-persistent-memory (the original tool) as this tool
/// stores it: its structured XML re-read by the tolerant parser, its
/// keywords split, its times converted; a value this tool refuses (an
/// unknown type, an invalid domain) falls back to the default and is not a
/// reason to lose the memory. Only empty content is refused.
pub(crate) fn original_memory(row: &cm_store::OriginalMemory) -> std::result::Result<Memory, String> {
    let mut new =
        cm_core::NewMemory::new(&row.content, cm_core::Source::Import).map_err(|e| e.to_string())?;
    if let Some(t) = row.memory_type.as_deref().and_then(|t| t.parse().ok()) {
        new = new.with_type(t);
    }
    if let Some(d) = row.domain.as_deref().and_then(|d| cm_core::Domain::parse(d).ok()) {
        new = new.with_domain(d);
    }
    let split = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    if let Ok(with) = new.clone().with_tags(&split(&row.tags)) {
        new = with;
    }
    if let Ok(with) = new.clone().with_keywords(&split(&row.keywords)) {
        new = with;
    }
    if let Some(xml) = row.structured_content.as_deref().filter(|x| !x.trim().is_empty())
        && let Ok(cm_core::structure::LlmVerdict::Memory(s)) = cm_core::structure::parse_llm_output(xml)
    {
        new.structured = Some(s.to_xml());
    }
    new.summary = row.summary.clone().filter(|s| !s.trim().is_empty());
    let created_at = row.created_at.as_deref().and_then(sqlite_time_ms).unwrap_or(0);
    let confidence = row.confidence.filter(|c| c.is_finite()).map_or(new.confidence, |c| c.clamp(0.0, 1.0));
    let mut m = imported(new, confidence, created_at);
    // Its ids, where they are free here: what the user knew them by.
    m.id = row.id;
    m.updated_at = row.updated_at.as_deref().and_then(sqlite_time_ms).unwrap_or(created_at);
    m.last_accessed_at = row.last_accessed_at.as_deref().and_then(sqlite_time_ms);
    m.evidence_count = row.evidence_count.unwrap_or(1).max(0);
    m.access_count = row.access_count.unwrap_or(0).max(0);
    Ok(m)
}

/// SQLite's `CURRENT_TIMESTAMP` text (`YYYY-MM-DD HH:MM:SS`, UTC) as Unix ms.
fn sqlite_time_ms(text: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(text.trim(), &format).ok()?.assume_utc();
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A JSON array of strings, leniently: anything else is no strings.
fn string_list(json: Option<&str>) -> Vec<String> {
    json.and_then(|j| serde_json::from_str::<Vec<serde_json::Value>>(j).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned))
        .collect()
}

/// A claude-mem observation (or a session summary's lesson) as a memory:
/// its title and narrative (or its facts) as the text, its type mapped to
/// the nearest of ours, its concepts as tags.
pub(crate) fn claude_mem_memory(note: &cm_store::ClaudeMemNote) -> std::result::Result<Memory, String> {
    let title = note.title.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let facts = string_list(note.facts.as_deref());
    let body = note
        .narrative
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(|| (!facts.is_empty()).then(|| facts.join("; ")));
    let content = match (title, body) {
        (Some(t), Some(b)) => format!("{t}: {b}"),
        (Some(t), None) => t.to_owned(),
        (None, Some(b)) => b,
        (None, None) => return Err("no title, narrative or facts".into()),
    };
    let mut new = cm_core::NewMemory::new(
        crate::hooks::truncate(&content, cm_core::memory::MAX_CONTENT_BYTES),
        cm_core::Source::Import,
    )
    .map_err(|e| e.to_string())?;
    new = new.with_type(match note.kind.as_str() {
        "bugfix" => MemoryType::Bug,
        "decision" => MemoryType::Decision,
        "discovery" | "security_alert" | "security_note" => MemoryType::Fact,
        _ => MemoryType::Context,
    });
    let concepts: Vec<String> = string_list(note.concepts.as_deref());
    if let Ok(with) = new.clone().with_tags(&concepts) {
        new = with;
    }
    let confidence = new.confidence;
    Ok(imported(new, confidence, note.created_at.unwrap_or(0)))
}
