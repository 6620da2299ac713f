//! `claude-memory hook <Event>`: what Claude Code runs for each hook.
//!
//! Reads the payload from stdin (size-capped), relays it to the running
//! engine with a hard deadline inside Claude Code's budget, and prints the
//! engine's answer only if it is exactly what Claude Code expects for the
//! event. On any failure, timeout or odd answer it prints nothing and exits
//! 0: a memory tool must never block or break the conversation. It never
//! starts an engine (that would cost far more than the budget) and never
//! writes to stderr.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use cm_engine::hooks::HookEvent;
use serde_json::Value;

/// Largest payload read from stdin (a PostToolUse of a big Write carries the
/// whole file). Past it the hook gives up, quietly.
const MAX_PAYLOAD: u64 = cm_server::HOOK_BODY_LIMIT as u64;

/// Time kept back from the budget for what `started` cannot see: the
/// process being started and its binary loaded before `main`, and the exit.
/// With 25 ms a frozen engine still let the whole process overshoot the
/// budget by up to 33 ms on a busy two-core machine (the fault suite's
/// frozen-engine case).
const EXIT_MARGIN: Duration = Duration::from_millis(75);

/// Runs the hook; always "succeeds".
pub fn run(event: &str) {
    let started = Instant::now();
    if std::env::var_os(cm_core::HOOKS_OFF_VAR).is_some_and(|v| v == "off") {
        // A run of Claude Code that serves as claude-memory's own LLM.
        return;
    }
    let Ok(event) = event.parse::<HookEvent>() else { return };
    let config = crate::paths::load_config().unwrap_or_default();
    let budget = Duration::from_millis(event.budget_ms(&config.hooks));
    // Keep a little back for exiting, so the whole process fits the budget.
    let deadline = started + budget.saturating_sub(EXIT_MARGIN);
    if let Some(answer) = ask(event, deadline) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(answer.as_bytes()).and_then(|()| out.flush());
    }
}

/// The line to print, if the engine answered well and in time.
fn ask(event: HookEvent, deadline: Instant) -> Option<String> {
    let mut payload = Vec::with_capacity(8 * 1024);
    std::io::stdin().lock().take(MAX_PAYLOAD + 1).read_to_end(&mut payload).ok()?;
    if payload.len() as u64 > MAX_PAYLOAD {
        return None;
    }
    let home = crate::paths::home().ok()?;
    let info = cm_server::EngineInfo::read(&home)?;
    let token = cm_server::Token::load(&home).ok()??;
    let auth = format!("Bearer {}", token.expose());
    let path = format!("/hooks/{}", event.as_str());
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let response = crate::client::request(info.port, "POST", &path, &headers, &payload, deadline).ok()?;
    if response.status != 200 {
        return None;
    }
    let answer: Value = serde_json::from_slice(&response.body).ok()?;
    well_formed(event, &answer).then(|| answer.to_string())
}

/// Whether `answer` is what Claude Code expects from this hook: an object
/// with `hookSpecificOutput` naming this event and adding a string of
/// context, and at most a one-line `systemMessage` for the person (when
/// `hooks.show_status` asks for it). Anything else (a permission decision,
/// a block, garbage) is dropped.
fn well_formed(event: HookEvent, answer: &Value) -> bool {
    let Some(obj) = answer.as_object() else { return false };
    let Some(specific) = obj.get("hookSpecificOutput").and_then(Value::as_object) else { return false };
    let status = match obj.get("systemMessage") {
        None => 0,
        Some(Value::String(s)) if !s.contains('\n') && s.len() <= 200 => 1,
        Some(_) => return false,
    };
    obj.len() == 1 + status
        && event.injects()
        && specific.len() == 2
        && specific.get("hookEventName").and_then(Value::as_str) == Some(event.as_str())
        && specific.get("additionalContext").and_then(Value::as_str).is_some_and(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_additional_context_for_this_event_passes() {
        let ok =
            json!({"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": "x"}});
        assert!(well_formed(HookEvent::UserPromptSubmit, &ok));
        assert!(!well_formed(HookEvent::PreToolUse, &ok));
        let decision = json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "additionalContext": "x",
            "permissionDecision": "allow"}});
        assert!(!well_formed(HookEvent::PreToolUse, &decision));
        assert!(!well_formed(HookEvent::UserPromptSubmit, &json!({"decision": "block"})));
        assert!(!well_formed(
            HookEvent::Stop,
            &json!({"hookSpecificOutput": {"hookEventName": "Stop", "additionalContext": "x"}})
        ));
        assert!(!well_formed(HookEvent::UserPromptSubmit, &json!("garbage")));
    }

    #[test]
    fn a_one_line_status_for_the_person_may_come_with_the_context() {
        let context = json!({"hookEventName": "UserPromptSubmit", "additionalContext": "x"});
        let status =
            json!({"hookSpecificOutput": context, "systemMessage": "claude-memory: 2 memories added"});
        assert!(well_formed(HookEvent::UserPromptSubmit, &status));
        for bad in [json!(3), json!("two\nlines"), json!("x".repeat(201))] {
            let answer = json!({"hookSpecificOutput": context, "systemMessage": bad});
            assert!(!well_formed(HookEvent::UserPromptSubmit, &answer), "{answer}");
        }
        let more = json!({"hookSpecificOutput": context, "systemMessage": "ok", "continue": false});
        assert!(!well_formed(HookEvent::UserPromptSubmit, &more));
    }
}
