//! Rendering results for people, or as JSON.

use std::io::Write as _;

use anyhow::{Context, Result};
use cm_core::{Memory, SaveAction, SaveOutcome, SearchMode, SearchResults};
use cm_engine::{Project, Stats};
use serde::Serialize;

/// Prints `value` as JSON, or as `human(value)` text with its stored text
/// made [`inert`].
pub fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) -> Result<()> {
    let text = if json { serde_json::to_string_pretty(value)? } else { inert(&human(value)) };
    write_stdout(&text)?;
    if !text.ends_with('\n') {
        write_stdout("\n")?;
    }
    Ok(())
}

/// Text for a terminal or a Markdown file: control characters other than
/// newline and tab (escape sequences that clear the screen or set the
/// title) and bidi overrides, which memories can hold, are dropped.
pub fn inert(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
            (!c.is_control() || c == '\n' || c == '\t') && !bidi
        })
        .collect()
}

/// The first line of a (possibly long) message.
pub fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth reporting.
pub fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

pub fn save(o: &SaveOutcome) -> String {
    let mut s = match (o.action, o.id) {
        (SaveAction::Created, Some(id)) => match &o.reason {
            Some(reason) => format!("saved memory {id}, {reason}"),
            None => format!("saved memory {id}"),
        },
        (SaveAction::Updated, Some(id)) => format!("memory {id} already said this; reinforced it"),
        _ => format!("not saved: {}", o.reason.as_deref().unwrap_or("rejected")),
    };
    if !o.redacted.is_empty() {
        s.push_str(&format!(" (redacted: {})", o.redacted.join(", ")));
    }
    s
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// A memory's text on one line of a list. A quarantined memory's is
/// withheld (these lines reach Claude too, through the plugin's status
/// command or its own shell calls); `show` prints it for its review.
fn listed_text(m: &Memory) -> String {
    if m.quarantined() {
        format!(
            "(quarantined: it reads like an instruction to the model; `claude-memory show {}` to review it)",
            m.id
        )
    } else {
        one_line(&m.content, 80)
    }
}

/// Search results for a search `asked` in that mode; a search that fell
/// back to full text says so.
pub fn search(r: &SearchResults, asked: SearchMode) -> String {
    let mut s = String::new();
    if asked != SearchMode::Bm25 && r.mode == SearchMode::Bm25 {
        s.push_str("(full-text only: no embedding model is active)\n");
    }
    if r.hits.is_empty() {
        s.push_str("no memories found");
        return s;
    }
    for h in &r.hits {
        let vec = h.vector_similarity.map_or("   -".to_owned(), |v| format!("{v:.2}"));
        let bm25 = h.bm25.map_or("    -".to_owned(), |b| format!("{b:.2}"));
        s.push_str(&format!(
            "#{:<5} {:.3}  vec {vec}  bm25 {bm25}  [{}/{}] {}\n",
            h.memory.id,
            h.score,
            h.memory.memory_type,
            h.memory.domain,
            listed_text(&h.memory)
        ));
    }
    s
}

pub fn memory_table(list: &[Memory]) -> String {
    if list.is_empty() {
        return "no memories".to_owned();
    }
    list.iter()
        .map(|m| {
            format!(
                "#{:<5} {:.2}  [{}/{}]{}{} {}",
                m.id,
                m.confidence,
                m.memory_type,
                m.domain,
                if m.archived { " (archived)" } else { "" },
                superseded(m),
                listed_text(m)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A unix-milliseconds time as RFC 3339 (UTC).
pub(crate) fn time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// `" (superseded by #N)"` for a memory a newer one overtook,
/// `" (stale: PATH REASON)"` for one naming a file that went away, else nothing.
fn superseded(m: &Memory) -> String {
    let by = m.superseded_by.map(|by| format!(" (superseded by #{by})")).unwrap_or_default();
    let stale = m.stale.as_ref().map(|s| format!(" (stale: {} {})", s.path, s.reason)).unwrap_or_default();
    format!("{by}{stale}")
}

pub fn memory_detail(m: &Memory) -> String {
    let mut s = format!(
        "memory {}{}{}\ntype: {}   domain: {}   confidence: {:.2}   source: {}\n",
        m.id,
        if m.archived { " (archived)" } else { "" },
        superseded(m),
        m.memory_type,
        m.domain,
        m.confidence,
        m.source
    );
    s.push_str(&format!(
        "created: {}   updated: {}   accessed: {} times{}\n",
        time(m.created_at),
        time(m.updated_at),
        m.access_count,
        m.last_accessed_at.map(|t| format!(", last {}", time(t))).unwrap_or_default()
    ));
    if !m.tags.is_empty() {
        s.push_str(&format!("tags: {}\n", m.tags.join(", ")));
    }
    if let Some(model) = &m.embedding_model {
        s.push_str(&format!("vector: {model}\n"));
    }
    if let Some(session) = &m.provenance.session_id {
        s.push_str(&format!("session: {session}\n"));
    }
    s.push('\n');
    s.push_str(&m.content);
    if let Some(x) = &m.structured {
        s.push_str("\n\n");
        s.push_str(x);
    }
    s
}

pub fn stats(project: &Project, s: &Stats) -> String {
    let join = |m: &std::collections::BTreeMap<String, i64>| {
        if m.is_empty() {
            "-".to_owned()
        } else {
            m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        }
    };
    format!(
        "project: {}\nmemories: {} ({} archived), average confidence {:.2}\nby type: {}\nby domain: {}\n\
         by source: {}\nclusters: {}\nvectors: {}\ndatabase: {:.1} KiB",
        project.root().display(),
        s.total,
        s.archived,
        s.avg_confidence,
        join(&s.by_type),
        join(&s.by_domain),
        join(&s.by_source),
        join(&s.clusters),
        join(&s.vectors),
        s.db_bytes as f64 / 1024.0
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_escape_sequences_never_reach_the_terminal() {
        let text = super::inert("a\x1b[2Jb\x1b]0;title\x07c\r\n\td\u{202E}e\u{0085}");
        assert_eq!(text, "a[2Jb]0;titlec\n\tde");
    }
}
