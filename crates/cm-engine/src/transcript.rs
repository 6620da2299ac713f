//! Claude Code transcripts: a tolerant reader of the JSONL files Claude Code
//! writes to `$HOME/.claude/projects/<dir>/<session>.jsonl`, condensing them
//! into conversation [`Turn`]s.
//!
//! Each line is one JSON object with a `type`. Only `user` and `assistant`
//! lines (and `summary` titles) carry conversation; Claude Code also writes
//! attachments, queue operations, API request blobs, cost states and more,
//! which are skipped, as is any type or field this reader does not know. A
//! `system` line with `subtype: "compact_boundary"` starts a new *segment*:
//! what follows is a compacted conversation, and nothing drawn from a
//! transcript ever combines turns from both sides of a boundary.
//!
//! Reading is incremental: [`parse`] starts at a byte offset and consumes
//! complete lines only. A last line without its newline is being written (or
//! was cut short); it is not consumed, and the returned position stays before
//! it, so the next read picks it up whole.
//!
//! Facts about the format (Claude Code 2.1.x, see the recorded fixtures in
//! `tests/fixtures/transcripts/`): one API message may be split over several
//! `assistant` lines that share `message.id` (a text line, then a `tool_use`
//! line); tool results come back as `user` lines holding `tool_result`
//! blocks (`is_error` set on failure); the harness writes `user` lines of its
//! own (`isMeta`, `<command-name>` wrappers, `<task-notification>`s); the
//! summary after a compaction is a `user` line with `isCompactSummary`; a
//! subagent's lines carry `isSidechain: true` (newer versions write them to
//! `<session>/subagents/agent-<id>.jsonl`).

use std::collections::HashMap;

use serde_json::{Map, Value};

/// How much of a transcript's end [`fork_parent`] reads.
pub const FORK_TAIL: u64 = 2 * 1024 * 1024;

/// The session `session_id` was forked from, as its transcript tells:
/// `claude --resume <parent> --fork-session` copies the parent's lines into
/// the fork's transcript, each `assistant` line keeping the session its
/// request was made in as `requestSessionId` (lines the fork writes itself
/// have none). The last such line names the direct parent (earlier ones may
/// name the parent's own parent). Claude Code 2.1.332 writes the fork's
/// transcript with its first message, after `SessionStart` and
/// `UserPromptSubmit`: until then this is `None` (and
/// [`fork_parent_by_time`] may find the parent). Only the last
/// [`FORK_TAIL`] bytes are read.
pub fn fork_parent(path: &std::path::Path, session_id: &str) -> Option<String> {
    let text = read_tail(path, FORK_TAIL)?;
    text.lines().rev().filter(|l| l.contains("\"requestSessionId\"")).find_map(|line| {
        let value: Value = serde_json::from_str(line).ok()?;
        let parent = value.get("requestSessionId")?.as_str()?;
        let id_like = !parent.is_empty()
            && parent.len() <= 128
            && parent.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        (id_like && parent != session_id).then(|| parent.to_owned())
    })
}

/// Most transcripts [`fork_parent_by_time`] reads the end of.
pub const FORK_CANDIDATES: usize = 16;
/// How much of a candidate's end [`fork_parent_by_time`] reads.
pub const ANSWER_TAIL: u64 = 256 * 1024;
/// How far a candidate's last answer may be from the one the fork names.
pub const FORK_SLACK_MS: i64 = 2_500;

/// The session a fork was made from, found before the fork's transcript
/// exists. SessionStart `fork` says how long ago the resumed transcript's
/// last assistant answer was (`seconds_since_last_response`, whole
/// seconds), so `last_response_ms` is now minus that. The parent is the one
/// transcript in `dir` (the fork's own folder, shared by every session of
/// the project) whose last assistant line is that old, give or take
/// [`FORK_SLACK_MS`]; when none or several are, `None` (the fork's own
/// transcript settles it later, see [`fork_parent`]). Only transcripts
/// changed since then are read, the [`FORK_CANDIDATES`] last changed
/// closest to that moment, each only its last [`ANSWER_TAIL`] bytes: this
/// runs on SessionStart's budget.
pub fn fork_parent_by_time(dir: &std::path::Path, session_id: &str, last_response_ms: i64) -> Option<String> {
    let since = last_response_ms - FORK_SLACK_MS;
    let mut candidates: Vec<(i64, std::path::PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            if path.extension().is_none_or(|x| x != "jsonl") || stem == session_id {
                return None;
            }
            let changed = e.metadata().ok()?.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
            let changed = changed.as_millis() as i64;
            (changed >= since).then_some((changed - last_response_ms, path))
        })
        .collect();
    candidates.sort_by_key(|(distance, _)| distance.abs());
    let mut found = None;
    for (_, path) in candidates.into_iter().take(FORK_CANDIDATES) {
        let Some(answered) = last_answer_ms(&path) else { continue };
        if (answered - last_response_ms).abs() <= FORK_SLACK_MS {
            if found.is_some() {
                return None;
            }
            found = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
        }
    }
    found
}

/// When the transcript's last assistant line was written (Unix ms).
fn last_answer_ms(path: &std::path::Path) -> Option<i64> {
    let text = read_tail(path, ANSWER_TAIL)?;
    text.lines().rev().filter(|l| l.contains("\"assistant\"")).find_map(|line| {
        let value: Value = serde_json::from_str(line).ok()?;
        if value.get("type")?.as_str()? != "assistant" || value.get("isSidechain") == Some(&Value::Bool(true))
        {
            return None;
        }
        let at = value.get("timestamp")?.as_str()?;
        let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
        Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
    })
}

/// The last `max` bytes of a file, as text.
fn read_tail(path: &std::path::Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut tail = Vec::new();
    file.take(max).read_to_end(&mut tail).ok()?;
    Some(String::from_utf8_lossy(&tail).into_owned())
}

/// Who speaks in a [`Turn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// A person (or, when [`Turn::meta`], the harness speaking as the user).
    User,
    /// Claude.
    Assistant,
    /// Results of tool calls, sent back as a user message.
    ToolResult,
    /// A summary: the one Claude wrote when the conversation was compacted,
    /// or a session title.
    Summary,
}

/// One condensed conversation turn, spanning one or more transcript lines.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Turn {
    /// First line (1-based, counted from the start of the file).
    pub line_start: u64,
    /// Last line (inclusive).
    pub line_end: u64,
    /// Who speaks.
    pub role: Role,
    /// The condensed text: huge tool outputs and harness reminders are left
    /// out, long texts are cut.
    pub text: String,
    /// Tool calls made in this turn, as (tool name, what it acts on). For a
    /// [`Role::ToolResult`] turn: the calls these results answer, when the
    /// call was read in the same pass.
    pub tool_calls: Vec<(String, String)>,
    /// Failed tool results, condensed.
    pub errors: Vec<String>,
    /// A subagent's line (`isSidechain`).
    pub sidechain: bool,
    /// Not typed by a person: harness notes (`isMeta`), slash-command
    /// wrappers, task notifications.
    pub meta: bool,
    /// Compaction segment, counted from the start of this read: every
    /// `compact_boundary` line starts the next one.
    pub segment: u32,
    /// The API message id of an assistant turn (split lines share it).
    pub message_id: Option<String>,
}

/// The result of reading a transcript from some position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The turns, in file order.
    pub turns: Vec<Turn>,
    /// Complete lines consumed.
    pub lines_read: u64,
    /// Bytes consumed: the next read starts this far after the start position.
    pub bytes_read: u64,
    /// Complete lines that were not a JSON object (skipped).
    pub invalid_lines: u64,
    /// Compaction boundaries seen.
    pub boundaries: u32,
    /// Whether an incomplete last line was left for later.
    pub pending_tail: bool,
}

/// Longest text kept for one turn.
pub const MAX_TURN_TEXT: usize = 4_000;
/// Longest tool output kept in a turn's text; longer ones are omitted.
pub const MAX_TOOL_OUTPUT: usize = 500;
/// Longest condensed error.
pub const MAX_ERROR: usize = 400;
/// Longest description of a tool call.
pub const MAX_CALL_SUMMARY: usize = 160;

/// Reads the complete lines of `data` (a transcript from some offset on),
/// numbering the first one `first_line`, and stops after `max_lines` lines
/// (`None`: all). See the module documentation.
pub fn parse(data: &[u8], first_line: u64, max_lines: Option<u64>) -> Parsed {
    let mut out = Parsed::default();
    let mut calls: HashMap<String, (String, String)> = HashMap::new();
    let mut pos = 0usize;
    let mut segment = 0u32;
    while max_lines.is_none_or(|max| out.lines_read < max) {
        let Some(nl) = data[pos..].iter().position(|&b| b == b'\n') else {
            out.pending_tail = pos < data.len();
            break;
        };
        let raw = &data[pos..pos + nl];
        pos += nl + 1;
        out.lines_read += 1;
        out.bytes_read = pos as u64;
        let line_no = first_line + out.lines_read - 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(raw) else {
            out.invalid_lines += 1;
            continue;
        };
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "system" if obj.get("subtype").and_then(Value::as_str) == Some("compact_boundary") => {
                segment += 1;
                out.boundaries += 1;
            }
            "user" | "assistant" => {
                if let Some(turn) = read_message(&obj, kind, line_no, segment, &mut calls) {
                    push_turn(&mut out.turns, turn);
                }
            }
            "summary" => {
                if let Some(text) =
                    obj.get("summary").and_then(Value::as_str).filter(|s| !s.trim().is_empty())
                {
                    out.turns.push(Turn {
                        line_start: line_no,
                        line_end: line_no,
                        role: Role::Summary,
                        text: cut(text.trim(), MAX_TURN_TEXT),
                        tool_calls: Vec::new(),
                        errors: Vec::new(),
                        sidechain: false,
                        meta: true,
                        segment,
                        message_id: None,
                    });
                }
            }
            _ => {}
        }
    }
    out.turns.retain(|t| !t.text.is_empty() || !t.tool_calls.is_empty() || !t.errors.is_empty());
    out
}

/// Adds `turn`, joining it to an earlier assistant turn of the same API
/// message (Claude Code writes one line per content block).
fn push_turn(turns: &mut Vec<Turn>, turn: Turn) {
    if turn.role == Role::Assistant
        && let Some(id) = &turn.message_id
    {
        // Tool results of the message's first calls may sit between its
        // lines; never look past the start of another exchange.
        for prev in turns.iter_mut().rev().take(8) {
            if prev.segment != turn.segment || (prev.role == Role::User && prev.sidechain == turn.sidechain) {
                break;
            }
            if prev.role == Role::Assistant
                && prev.sidechain == turn.sidechain
                && prev.message_id.as_ref() == Some(id)
            {
                prev.line_end = turn.line_end;
                if !turn.text.is_empty() {
                    let joined = if prev.text.is_empty() {
                        turn.text
                    } else {
                        format!("{}\n{}", prev.text, turn.text)
                    };
                    prev.text = cut(&joined, MAX_TURN_TEXT);
                }
                prev.tool_calls.extend(turn.tool_calls);
                return;
            }
        }
    }
    turns.push(turn);
}

/// One `user` or `assistant` line as a turn.
fn read_message(
    obj: &Map<String, Value>,
    kind: &str,
    line_no: u64,
    segment: u32,
    calls: &mut HashMap<String, (String, String)>,
) -> Option<Turn> {
    let message = obj.get("message")?;
    let role = message.get("role").and_then(Value::as_str).unwrap_or(kind);
    let sidechain = obj.get("isSidechain").and_then(Value::as_bool).unwrap_or(false);
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut turn = Turn {
        line_start: line_no,
        line_end: line_no,
        role: if role == "assistant" { Role::Assistant } else { Role::User },
        text: String::new(),
        tool_calls: Vec::new(),
        errors: Vec::new(),
        sidechain,
        meta: flag("isMeta"),
        segment,
        message_id: None,
    };
    let mut texts: Vec<String> = Vec::new();
    match message.get("content") {
        Some(Value::String(s)) => texts.push(s.clone()),
        Some(Value::Array(blocks)) => {
            for block in blocks {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = block.get("text").and_then(Value::as_str) {
                            texts.push(t.to_owned());
                        }
                    }
                    Some("tool_use") => {
                        let name = block.get("name").and_then(Value::as_str).unwrap_or("tool").to_owned();
                        let summary = call_summary(block.get("input").unwrap_or(&Value::Null));
                        if let Some(id) = block.get("id").and_then(Value::as_str) {
                            calls.insert(id.to_owned(), (name.clone(), summary.clone()));
                        }
                        turn.tool_calls.push((name, summary));
                    }
                    Some("tool_result") => {
                        turn.role = Role::ToolResult;
                        let call =
                            block.get("tool_use_id").and_then(Value::as_str).and_then(|id| calls.get(id));
                        // A call made before this read (or never logged) is still a
                        // call: the result stays a turn either way, so reading a
                        // transcript in pieces gives the turns reading it whole does.
                        turn.tool_calls
                            .push(call.cloned().unwrap_or_else(|| ("tool".to_owned(), String::new())));
                        let output = result_text(block.get("content").unwrap_or(&Value::Null));
                        let output = cm_core::text::strip_private(&output).into_owned();
                        let output = output.trim();
                        if block.get("is_error").and_then(Value::as_bool).unwrap_or(false) {
                            let error = cut(&collapse(output), MAX_ERROR);
                            texts.push(format!("[error] {error}"));
                            turn.errors.push(error);
                        } else if output.len() > MAX_TOOL_OUTPUT {
                            texts.push(format!("[tool output: {} bytes omitted]", output.len()));
                        } else if !output.is_empty() {
                            texts.push(output.to_owned());
                        }
                    }
                    Some("image") => texts.push("[image]".to_owned()),
                    // thinking, redacted_thinking, server tools, future blocks.
                    _ => {}
                }
            }
        }
        _ => return None,
    }
    if turn.role == Role::Assistant {
        turn.message_id = message.get("id").and_then(Value::as_str).map(str::to_owned);
    }
    // A `<private>` region never becomes a memory (nor, so, a team's).
    let text = strip_reminders(&cm_core::text::strip_private(&texts.join("\n")));
    let text = text.trim();
    if turn.role == Role::User {
        if flag("isCompactSummary") {
            turn.role = Role::Summary;
            turn.meta = true;
        } else if is_harness_text(text) {
            turn.meta = true;
        }
    }
    turn.text = cut(text, MAX_TURN_TEXT);
    Some(turn)
}

/// Text the harness writes in the user's name.
fn is_harness_text(text: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "<command-name>",
        "<command-message>",
        "<command-args>",
        "<local-command-",
        "<task-notification>",
        "<bash-input>",
        "<bash-stdout>",
        "<bash-stderr>",
        "<user-prompt-submit-hook>",
        "Caveat: The messages below were generated",
        "[Request interrupted by user",
    ];
    PREFIXES.iter().any(|p| text.starts_with(p))
}

/// `text` without `<system-reminder>…</system-reminder>` blocks (context the
/// harness attaches, not something anyone said).
fn strip_reminders(text: &str) -> String {
    const OPEN: &str = "<system-reminder>";
    const CLOSE: &str = "</system-reminder>";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        match rest[start..].find(CLOSE) {
            Some(end) => rest = &rest[start + end + CLOSE.len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A tool result's content (a string, or text blocks) as text.
fn result_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b.get("text").and_then(Value::as_str).map(str::to_owned),
                Some("image") => Some("[image]".to_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// What a tool call acts on, in a few words: its command, file, pattern…
pub fn call_summary(input: &Value) -> String {
    const KEYS: &[&str] = &[
        "command",
        "file_path",
        "notebook_path",
        "path",
        "pattern",
        "url",
        "query",
        "description",
        "prompt",
    ];
    let found =
        KEYS.iter().find_map(|k| input.get(*k).and_then(Value::as_str).filter(|v| !v.trim().is_empty()));
    match found {
        Some(v) => cut(&collapse(v), MAX_CALL_SUMMARY),
        None => String::new(),
    }
}

/// Runs of whitespace (newlines included) as one space.
pub(crate) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `max` bytes on a character boundary, with an
/// ellipsis when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_are_stripped_and_cuts_respect_characters() {
        assert_eq!(strip_reminders("a<system-reminder>x</system-reminder>b"), "ab");
        assert_eq!(strip_reminders("a<system-reminder>never closed"), "a");
        let s = "é".repeat(10);
        let c = cut(&s, 8);
        assert!(c.len() <= 8 && c.ends_with('…'), "{c}");
    }

    #[test]
    fn private_regions_of_prompts_answers_and_tool_results_are_never_read() {
        let lines = [
            serde_json::json!({"type": "user", "message": {"role": "user",
                "content": "deploy with <private>token hunter2</private> via make release"}}),
            serde_json::json!({"type": "assistant", "message": {"role": "assistant", "id": "m1", "content": [
                {"type": "text", "text": "Noted. <PRIVATE>the office safe code is 4711</PRIVATE>"},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "cat notes"}}]}}),
            serde_json::json!({"type": "user", "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "notes: <private>salary bands</private> ok", "is_error": true}]}}),
        ];
        let data: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let parsed = parse(data.as_bytes(), 1, None);
        let all = format!("{:?}", parsed.turns);
        for secret in ["hunter2", "4711", "salary"] {
            assert!(!all.contains(secret), "{secret} was read: {all}");
        }
        assert!(all.contains("make release") && all.contains("[private]"), "{all}");
    }

    #[test]
    fn call_summaries_name_what_a_tool_touches() {
        assert_eq!(call_summary(&serde_json::json!({"command": "cargo  test\n -p x"})), "cargo test -p x");
        assert_eq!(call_summary(&serde_json::json!({"file_path": "/a/b.rs", "old_string": "x"})), "/a/b.rs");
        assert_eq!(call_summary(&serde_json::json!({"other": 1})), "");
    }
}
