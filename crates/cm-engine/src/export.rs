//! Export to JSONL (lossless) and Markdown (for people); JSONL import parsing.

use std::fmt::Write as _;

use cm_core::{Memory, MemoryType};
use serde::{Deserialize, Serialize};

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
