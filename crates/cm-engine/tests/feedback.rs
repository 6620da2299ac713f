//! Implicit feedback through the real engine: a memory injected into a
//! conversation whose advice the next tool calls follow gains confidence,
//! one injected again and again and never used loses a little, one that
//! warned of a failure that then happened gains, and none of it runs away.

use std::time::Duration;

use cm_core::{Config, MemoryType, NewMemory, Source};
use cm_engine::feedback::{CAP, FLOOR, FOLLOWED, IGNORED, WARNED};
use cm_engine::hooks::{HookEvent, HookInput};
use cm_engine::{Engine, MemoryPatch, Project};
use serde_json::{Value, json};

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    project: Project,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("web/src")).unwrap();
        let project = Project::at(&root).unwrap();
        project.ensure_data_dir().unwrap();
        Fixture { engine: Engine::new(Config::default(), None), project, _dir: dir }
    }

    async fn save(&self, text: &str, t: MemoryType) -> i64 {
        let new = NewMemory::new(text, Source::Cli).unwrap().with_type(t);
        self.engine.save(&self.project, new).await.unwrap().id.unwrap()
    }

    async fn confidence(&self, id: i64) -> f64 {
        self.engine.get(&self.project, id).await.unwrap().confidence
    }

    /// Runs hook `event` in `session`; waits until its records are written
    /// and its background work is done, so the next hook sees them.
    async fn hook(&self, session: &str, event: HookEvent, mut payload: Value) -> Option<Value> {
        payload["session_id"] = json!(session);
        payload["cwd"] = json!(self.project.root());
        let input = HookInput::parse(payload.to_string().as_bytes()).unwrap();
        let answer = self.engine.hook(event, &input).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        answer
    }

    /// Asks `prompt` in `session` and checks memory `id` was injected.
    async fn inject(&self, session: &str, prompt: &str, id: i64) {
        let answer = self.hook(session, HookEvent::UserPromptSubmit, json!({"prompt": prompt})).await;
        let text = answer.as_ref().and_then(|a| a["hookSpecificOutput"]["additionalContext"].as_str());
        assert!(
            text.is_some_and(|t| t.contains(&format!("[memory #{id} "))),
            "memory {id} was not injected for {prompt:?}: {text:?}"
        );
    }

    async fn bash(&self, session: &str, command: &str) {
        let call = json!({"tool_name": "Bash", "tool_input": {"command": command}});
        self.hook(session, HookEvent::PostToolUse, call).await;
    }

    async fn reasons(&self, id: i64) -> Vec<(String, String)> {
        let timeline = self.engine.timeline(&self.project, None, None, 200).await.unwrap();
        timeline
            .iter()
            .filter(|e| e.kind == "inference" && e.detail["id"] == id)
            .map(|e| (e.what.clone(), e.detail["reason"].as_str().unwrap_or_default().to_owned()))
            .collect()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn followed_advice_gains_once_per_session() {
    let f = Fixture::new();
    let cmd = f
        .save("Run `pnpm test --filter web` before pushing changes to the web app.", MemoryType::Skill)
        .await;
    let file =
        f.save("Routes of the web app are declared in web/src/routes.ts only.", MemoryType::Fact).await;
    let start = f.confidence(cmd).await;

    f.inject("s1", "how should I check changes to the web app before pushing", cmd).await;
    f.bash("s1", "cd web && pnpm test --filter web -- --run").await;
    assert!(close(f.confidence(cmd).await, start + FOLLOWED), "{}", f.confidence(cmd).await);
    assert_eq!(
        f.reasons(cmd).await,
        vec![("followed".to_owned(), "ran `pnpm test --filter web` after it was injected".to_owned())]
    );
    // Again in the same session: no more.
    f.bash("s1", "pnpm test --filter web").await;
    assert!(close(f.confidence(cmd).await, start + FOLLOWED));

    // The file it names is edited.
    f.inject("s1", "where are the routes of the web app declared", file).await;
    let edit = json!({"tool_name": "Edit", "tool_input": {"file_path": f.project.root().join("web/src/routes.ts"),
        "old_string": "a", "new_string": "b"}});
    f.hook("s1", HookEvent::PostToolUse, edit).await;
    assert!(close(f.confidence(file).await, start + FOLLOWED));

    // The final answer recommends its command, in another session.
    f.inject("s2", "how should I check changes to the web app before pushing", cmd).await;
    let stop = json!({"last_assistant_message": "Done. Run `pnpm test --filter web` before you push."});
    f.hook("s2", HookEvent::Stop, stop).await;
    assert!(close(f.confidence(cmd).await, start + 2.0 * FOLLOWED));
}

#[tokio::test]
async fn what_a_call_brought_with_it_or_a_different_command_is_not_followed() {
    let f = Fixture::new();
    let id = f
        .save("Run `pnpm test --filter web` before pushing changes to the web app.", MemoryType::Skill)
        .await;
    let avoid =
        f.save("Never run npm install in the web app; it rewrites the lockfile.", MemoryType::Bug).await;
    let start = f.confidence(id).await;

    // Injected by the PreToolUse of the very call that then runs it: the
    // call was chosen before Claude saw the memory.
    let call = json!({"tool_name": "Bash", "tool_input": {"command": "pnpm test --filter web"}});
    let pre = f.hook("s1", HookEvent::PreToolUse, call.clone()).await;
    assert!(pre.is_some(), "the PreToolUse hook injects the memory");
    f.hook("s1", HookEvent::PostToolUse, call).await;
    assert!(close(f.confidence(id).await, start));

    // Told, then running something else, or the command it says to avoid.
    f.inject("s2", "how should I check changes to the web app before pushing", id).await;
    f.inject("s2", "may I run npm install in the web app", avoid).await;
    f.bash("s2", "pnpm lint").await;
    f.bash("s2", "npm install").await;
    assert!(close(f.confidence(id).await, start));
    assert!(close(f.confidence(avoid).await, start));
    assert!(f.reasons(id).await.is_empty() && f.reasons(avoid).await.is_empty());
}

#[tokio::test]
async fn a_memory_injected_again_and_again_and_never_used_loses_a_little() {
    let f = Fixture::new();
    let id = f
        .save("Run `pnpm test --filter web` before pushing changes to the web app.", MemoryType::Skill)
        .await;
    let start = f.confidence(id).await;
    for (n, session) in ["s1", "s2", "s3"].into_iter().enumerate() {
        f.inject(session, "how should I check changes to the web app before pushing", id).await;
        f.bash(session, "git push").await;
        f.hook(session, HookEvent::SessionEnd, json!({"reason": "other"})).await;
        let want = if n < 2 { start } else { start + IGNORED };
        assert!(close(f.confidence(id).await, want), "after session {session}: {}", f.confidence(id).await);
    }
    assert_eq!(
        f.reasons(id).await,
        vec![(
            "ignored".to_owned(),
            "injected into 3 conversations; the command or file it names was never used".to_owned()
        )]
    );
    // Once used, never ignored again.
    f.inject("s4", "how should I check changes to the web app before pushing", id).await;
    f.bash("s4", "pnpm test --filter web").await;
    f.hook("s4", HookEvent::SessionEnd, json!({"reason": "other"})).await;
    f.inject("s5", "how should I check changes to the web app before pushing", id).await;
    f.hook("s5", HookEvent::SessionEnd, json!({"reason": "other"})).await;
    assert!(close(f.confidence(id).await, start + IGNORED + FOLLOWED));
}

#[tokio::test]
async fn a_memory_only_briefed_at_session_start_is_never_counted_as_ignored() {
    let f = Fixture::new();
    let id = f
        .save("Run `pnpm test --filter web` before pushing changes to the web app.", MemoryType::Skill)
        .await;
    let start = f.confidence(id).await;
    for session in ["b1", "b2", "b3", "b4"] {
        let answer = f.hook(session, HookEvent::SessionStart, json!({"source": "startup"})).await;
        let briefing = answer.as_ref().and_then(|a| a["hookSpecificOutput"]["additionalContext"].as_str());
        assert!(briefing.is_some_and(|b| b.contains("pnpm test")), "{session}: not briefed: {briefing:?}");
        f.bash(session, "git push").await;
        f.hook(session, HookEvent::SessionEnd, json!({"reason": "other"})).await;
    }
    assert!(close(f.confidence(id).await, start), "{}", f.confidence(id).await);
    assert_eq!(f.reasons(id).await, vec![]);
    // Briefed sessions do not count toward the prompts it was chosen for either.
    for session in ["p1", "p2"] {
        f.inject(session, "how should I check changes to the web app before pushing", id).await;
        f.hook(session, HookEvent::SessionEnd, json!({"reason": "other"})).await;
    }
    assert!(close(f.confidence(id).await, start), "{}", f.confidence(id).await);
    f.inject("p3", "how should I check changes to the web app before pushing", id).await;
    f.hook("p3", HookEvent::SessionEnd, json!({"reason": "other"})).await;
    assert!(close(f.confidence(id).await, start + IGNORED), "{}", f.confidence(id).await);
}

#[tokio::test]
async fn a_warning_injected_right_before_the_failure_it_warned_about_gains() {
    let f = Fixture::new();
    let warning = f
        .save(
            "cargo build fails without protoc installed; install protoc before cargo build.",
            MemoryType::Bug,
        )
        .await;
    let unrelated =
        f.save("The docs site is built with cargo doc and published by CI.", MemoryType::Fact).await;
    let start = f.confidence(warning).await;

    f.inject("s1", "why would cargo build fail on a fresh machine", warning).await;
    let failure = json!({"tool_name": "Bash", "tool_input": {"command": "cargo build --workspace"},
        "error": "error: failed to run custom build command: Could not find `protoc` installation"});
    f.hook("s1", HookEvent::PostToolUseFailure, failure.clone()).await;
    assert!(close(f.confidence(warning).await, start + WARNED), "{}", f.confidence(warning).await);
    let reasons = f.reasons(warning).await;
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].0, "warned");
    assert!(
        reasons[0].1.starts_with("warned before `cargo build --workspace` failed: error:"),
        "{reasons:?}"
    );
    // Not a warning: nothing, even when it was injected too.
    f.inject("s2", "how is the docs site built with cargo", unrelated).await;
    f.hook("s2", HookEvent::PostToolUseFailure, failure).await;
    assert!(close(f.confidence(unrelated).await, start));
}

#[tokio::test]
async fn inferred_confidence_is_bounded() {
    let f = Fixture::new();
    let id = f
        .save("Run `pnpm test --filter web` before pushing changes to the web app.", MemoryType::Skill)
        .await;
    let patch = |c: f64| MemoryPatch { confidence: Some(c), ..MemoryPatch::default() };
    f.engine.update(&f.project, id, patch(CAP - 0.01)).await.unwrap();
    for session in ["s1", "s2", "s3"] {
        f.inject(session, "how should I check changes to the web app before pushing", id).await;
        f.bash(session, "pnpm test --filter web").await;
        assert!(close(f.confidence(id).await, CAP), "{session}: {}", f.confidence(id).await);
    }
    // A person's validation above the cap is not pulled down by inference.
    f.engine.validate(&f.project, id, true).await.unwrap();
    let validated = f.confidence(id).await;
    assert!(validated > CAP);
    f.inject("s4", "how should I check changes to the web app before pushing", id).await;
    f.bash("s4", "pnpm test --filter web").await;
    assert!(close(f.confidence(id).await, validated));

    // And never below the floor when ignored.
    let low =
        f.save("Run `make dist` to package the desktop app for release builds.", MemoryType::Skill).await;
    f.engine.update(&f.project, low, patch(FLOOR + 0.01)).await.unwrap();
    for session in ["t1", "t2", "t3", "t4", "t5"] {
        f.inject(session, "how do I package the desktop app for release builds", low).await;
        f.hook(session, HookEvent::SessionEnd, json!({"reason": "other"})).await;
    }
    assert!(close(f.confidence(low).await, FLOOR), "{}", f.confidence(low).await);
}
