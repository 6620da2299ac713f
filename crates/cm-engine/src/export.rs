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
    let mut memories = Vec::new();
    let mut failed = Vec::new();
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match lenient_memory(l, now_ms) {
            Ok(m) => memories.push(m),
            Err(reason) => failed.push(ImportFailure { line: i + 1, reason }),
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
        structured: None,
        summary: None,
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
