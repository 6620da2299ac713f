//! Implicit feedback: what the next tool calls and answers say about the
//! memories a conversation was given, since Claude rarely calls
//! `memory_validate`.
//!
//! The engine records every injection per conversation; after a hook
//! answered (see `Engine::after_hook`) the memories injected into that
//! conversation in the last [`WINDOW_MS`] before the hook are compared with
//! what happened, through the files and commands each names
//! ([`cm_core::artifacts`]):
//!
//! - **followed** (+[`FOLLOWED`]): a Bash call runs a command the memory
//!   recommends, an Edit/Write/MultiEdit edits a file it names, or the
//!   turn's final answer recommends its command. Memories injected only by
//!   `PreToolUse` do not count: that context arrives once Claude has chosen
//!   the call, so the call cannot be following it.
//! - **warned** (+[`WARNED`]): a tool call fails (`PostToolUseFailure`) and
//!   a memory injected before it — `PreToolUse` included, it came before
//!   the call ran — is a warning (a bug, or "never", "fails", "avoid", …)
//!   about the same thing: it names the command or file, or shares
//!   [`WARNED_SHARED_WORDS`] meaningful words with the command and error.
//! - **ignored** ([`IGNORED`]): at `SessionEnd`, a memory naming a command
//!   or file to use, injected for what was asked into at least
//!   [`IGNORED_AFTER`] conversations, and never found followed nor warned
//!   anywhere. A session's opening briefing does not count: it brings the
//!   project's best memories whatever the session is about.
//!
//! Bounded three ways: each kind at most once per memory and conversation
//! (a unique index), so one session moves a memory by at most
//! `FOLLOWED + WARNED` up or `IGNORED` down; inferred changes keep
//! confidence within [`FLOOR`]..=[`CAP`] (only a person's validation
//! reaches the extremes); and nothing is inferred from a memory that names
//! neither a file nor a command, except a warning matched by its words.
//! Every inference is recorded with its reason (`inferences`, shown on the
//! timeline).

use std::collections::HashSet;

use cm_core::MemoryType;
use cm_core::artifacts::{commands, files, is_warning, names_path, runs};
use cm_store::{Inference, InjectedMemory, Store};

use crate::hooks::{HookEvent, HookInput, meaningful_words, truncate};
use crate::redaction::Redact;
use crate::{Engine, Project, Result};

/// Confidence gained when a memory's advice is followed.
pub const FOLLOWED: f64 = 0.05;
/// Confidence gained when a memory warned of a failure that then happened.
pub const WARNED: f64 = 0.05;
/// Confidence lost by a memory injected again and again and never used.
pub const IGNORED: f64 = -0.02;
/// Inferred changes never take confidence below this.
pub const FLOOR: f64 = 0.4;
/// Inferred changes never take confidence above this.
pub const CAP: f64 = 0.85;
/// How far back an injection counts as advice for the next calls.
pub const WINDOW_MS: i64 = 30 * 60_000;
/// Conversations a memory must have been injected into before it counts
/// as ignored.
pub const IGNORED_AFTER: i64 = 3;
/// Meaningful words a warning must share with a failed call and its error
/// when it names neither its command nor its file.
pub const WARNED_SHARED_WORDS: usize = 3;

/// One confidence change the engine inferred.
#[derive(Debug, Clone, PartialEq)]
pub struct Inferred {
    /// The memory.
    pub memory_id: i64,
    /// `followed`, `warned` or `ignored`.
    pub kind: &'static str,
    /// Why.
    pub reason: String,
    /// Confidence before.
    pub before: f64,
    /// Confidence after.
    pub after: f64,
}

/// The edit tools' file, when the call edits one.
fn edited_file(input: &HookInput) -> Option<&str> {
    let tool = input.tool_name.as_deref()?;
    if !matches!(tool, "Edit" | "Write" | "MultiEdit" | "NotebookEdit") {
        return None;
    }
    ["file_path", "notebook_path"].iter().find_map(|k| input.tool_input.get(*k)?.as_str())
}

/// The Bash call's command line.
fn bash_command(input: &HookInput) -> Option<&str> {
    (input.tool_name.as_deref() == Some("Bash")).then(|| input.tool_input.get("command")?.as_str()).flatten()
}

/// Whether a file path a tool touched is the file a memory names.
fn same_file(named: &str, touched: &str) -> bool {
    names_path(named, touched.trim_start_matches("./"))
}

/// Injected by something other than `PreToolUse`: context Claude had
/// before choosing its next call.
fn before_choosing(inj: &InjectedMemory) -> bool {
    inj.events.iter().any(|e| e != HookEvent::PreToolUse.as_str())
}

/// Why the call follows the memory's advice, if it does.
fn followed(inj: &InjectedMemory, input: &HookInput, event: HookEvent) -> Option<String> {
    if !before_choosing(inj) {
        return None;
    }
    let content = &inj.memory.content;
    match event {
        HookEvent::PostToolUse => {
            if let Some(run) = bash_command(input) {
                let cmd = commands(content).into_iter().find(|c| !c.avoid && runs(run, &c.text))?;
                return Some(format!("ran `{}` after it was injected", truncate(&cmd.text, 120)));
            }
            let file = edited_file(input)?;
            let named = files(content).into_iter().find(|f| !f.avoid && same_file(&f.text, file))?;
            Some(format!("edited {} after it was injected", truncate(&named.text, 200)))
        }
        HookEvent::Stop => {
            let answer = input.last_assistant_message.as_deref()?;
            let cmd = commands(content).into_iter().find(|c| !c.avoid && answer.contains(&c.text))?;
            Some(format!("the answer recommends `{}`", truncate(&cmd.text, 120)))
        }
        _ => None,
    }
}

/// Why the failed call is one the memory warned of, if it is.
fn warned(inj: &InjectedMemory, input: &HookInput) -> Option<String> {
    let m = &inj.memory;
    if !(m.memory_type == MemoryType::Bug || is_warning(&m.content)) {
        return None;
    }
    let run = bash_command(input);
    let file = input
        .tool_input
        .get("file_path")
        .or_else(|| input.tool_input.get("notebook_path"))
        .and_then(|f| f.as_str());
    let what = run.or(file).unwrap_or_default();
    let error = truncate(input.error.as_deref().unwrap_or_default(), 500);
    let named = match (run, file) {
        (Some(run), _) => commands(&m.content).into_iter().any(|c| runs(run, &c.text)),
        (None, Some(file)) => files(&m.content).iter().any(|f| same_file(&f.text, file)),
        _ => false,
    };
    let shared = || {
        let call: HashSet<String> = meaningful_words(&format!("{what} {error}"));
        meaningful_words(&m.content).intersection(&call).count() >= WARNED_SHARED_WORDS
    };
    if !(named || shared()) {
        return None;
    }
    let error = truncate(error.lines().next().unwrap_or_default(), 120);
    Some(format!("warned before `{}` failed: {error}", truncate(what, 120)))
}

/// Whether the memory names a command or file to use: something whose use
/// a tool call would show.
fn observable(content: &str) -> bool {
    commands(content).iter().any(|c| !c.avoid) || files(content).iter().any(|f| !f.avoid)
}

impl Engine {
    /// Infers feedback from hook `event` of `input`'s conversation, for the
    /// memories injected into it before `before_ms` (unix ms, when the hook
    /// started: what this hook itself injects is not advice it followed).
    pub async fn infer_feedback(
        &self,
        project: &Project,
        event: HookEvent,
        input: &HookInput,
        before_ms: i64,
    ) -> Result<Vec<Inferred>> {
        if !matches!(
            event,
            HookEvent::PostToolUse | HookEvent::PostToolUseFailure | HookEvent::Stop | HookEvent::SessionEnd
        ) {
            return Ok(Vec::new());
        }
        let Some(conversation) = input.conversation() else { return Ok(Vec::new()) };
        let store = self.store(project).await?;
        let since = if event == HookEvent::SessionEnd { 0 } else { before_ms - WINDOW_MS };
        let injected = store.injected_between(&conversation, since, before_ms).await?;
        let mut out = Vec::new();
        for inj in &injected {
            let found = match event {
                HookEvent::PostToolUse | HookEvent::Stop => {
                    followed(inj, input, event).map(|r| ("followed", FOLLOWED, r))
                }
                HookEvent::PostToolUseFailure => warned(inj, input).map(|r| ("warned", WARNED, r)),
                HookEvent::SessionEnd => self.ignored(&store, inj).await?.map(|r| ("ignored", IGNORED, r)),
                _ => None,
            };
            let Some((kind, delta, reason)) = found else { continue };
            let mut inference = Inference {
                memory_id: inj.memory.id,
                session_id: Some(conversation.clone()),
                kind: kind.to_owned(),
                reason,
            };
            inference.redact();
            if let Some((before, after)) = store.infer_confidence(&inference, delta, FLOOR, CAP).await? {
                tracing::info!(memory = inj.memory.id, kind, before, after, reason = %inference.reason, "inferred feedback");
                out.push(Inferred {
                    memory_id: inj.memory.id,
                    kind,
                    reason: inference.reason,
                    before,
                    after,
                });
            }
        }
        Ok(out)
    }

    /// Why `inj` counts as ignored at the end of its conversation, if it does.
    async fn ignored(&self, store: &Store, inj: &InjectedMemory) -> Result<Option<String>> {
        // A briefing's memories are the project's best, not chosen for this
        // conversation: not using them says nothing against them.
        let asked = inj.events.iter().any(|e| e != HookEvent::SessionStart.as_str());
        if !asked || !observable(&inj.memory.content) {
            return Ok(None);
        }
        let history = store.use_history(inj.memory.id).await?;
        Ok((history.sessions >= IGNORED_AFTER && history.used == 0).then(|| {
            format!(
                "injected into {} conversations; the command or file it names was never used",
                history.sessions
            )
        }))
    }
}
