//! One service, many projects: every hook, MCP call and API request touches
//! only the project it names (by its `cwd`, header or parameter), never another.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, enc, start, test_config};
use serde_json::{Value, json};

const ZEBRA: &str = "Deployments of the payments service use the zebra pipeline";
const WALRUS: &str = "Deployments of the payments service use the walrus pipeline";
const PROMPT: &str = "how do deployments of the payments service work?";

/// Projects A (a zebra memory) and B (a walrus one) under one service.
async fn two_projects() -> (Env, PathBuf, PathBuf) {
    let env = start(test_config(), false).await;
    let a = env.project(&env.root().join("work/a"));
    let b = env.project(&env.root().join("work/b"));
    env.client.save(&a, ZEBRA).await;
    env.client.save(&b, WALRUS).await;
    (env, a, b)
}

fn subdir(root: &Path) -> PathBuf {
    let dir = root.join("src/deep/dir");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The injected text of a hook answer, checking its shape: context only,
/// never a permission decision, a block or anything else.
#[track_caller]
fn context(answer: &common::Response, event: &str) -> String {
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    assert!(!text.contains("permissionDecision"), "{text}");
    let v = answer.json();
    let object = v.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), ["hookSpecificOutput"], "{v}");
    let output = v["hookSpecificOutput"].as_object().unwrap();
    let mut keys: Vec<&String> = output.keys().collect();
    keys.sort();
    assert_eq!(keys, ["additionalContext", "hookEventName"], "{v}");
    assert_eq!(output["hookEventName"], event);
    output["additionalContext"].as_str().unwrap().to_owned()
}

fn prompt(session: &str, cwd: &Path) -> Value {
    json!({ "session_id": session, "cwd": cwd, "hook_event_name": "UserPromptSubmit", "prompt": PROMPT })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_hooks_inject_only_the_memories_of_their_cwd_project() {
    let (env, a, b) = two_projects().await;

    let text =
        context(&env.client.hook("UserPromptSubmit", &prompt("s1", &subdir(&a))).await, "UserPromptSubmit");
    assert!(text.contains("zebra"), "{text}");
    assert!(!text.contains("walrus"), "B's memory reached A's session: {text}");

    let text =
        context(&env.client.hook("UserPromptSubmit", &prompt("s1", &subdir(&b))).await, "UserPromptSubmit");
    assert!(text.contains("walrus"), "{text}");
    assert!(!text.contains("zebra"), "A's memory reached B's session: {text}");

    // Once per session…
    let r = env.client.hook("UserPromptSubmit", &prompt("s1", &a)).await;
    assert_eq!(r.status, 204, "injected twice in one session: {}", r.text());
    assert!(r.body.is_empty());
    // …but again in a new one.
    let text = context(&env.client.hook("UserPromptSubmit", &prompt("s2", &a)).await, "UserPromptSubmit");
    assert!(text.contains("zebra") && !text.contains("walrus"), "{text}");

    // The injections are recorded in each project's own database.
    let injections = |p: PathBuf| {
        let client = env.client.clone();
        async move {
            let v = client.get(&format!("/api/injections?project={}", enc(&p))).await.expect(200).json();
            let mut sessions: Vec<String> = v["injections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["session_id"].as_str().unwrap().to_owned())
                .collect();
            sessions.sort();
            sessions
        }
    };
    // Records are written just after the answer: wait for them (up to 10 s).
    let settled = |p: PathBuf, want: Vec<&'static str>| {
        let injections = &injections;
        async move {
            let mut got = Vec::new();
            for _ in 0..200 {
                got = injections(p.clone()).await;
                if got == want {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            got
        }
    };
    assert_eq!(settled(a.clone(), vec!["s1", "s2"]).await, ["s1", "s2"]);
    assert_eq!(settled(b.clone(), vec!["s1"]).await, ["s1"]);

    // A directory of no project: nothing, and no project is created.
    let outside = env.root().join("elsewhere/x");
    std::fs::create_dir_all(&outside).unwrap();
    let r = env.client.hook("UserPromptSubmit", &prompt("s3", &outside)).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    for dir in [&outside, &env.root().join("elsewhere"), &env.root().join("work")] {
        assert!(!dir.join(".claude-memory").exists(), "a hook created a project in {}", dir.display());
    }
    // A relative or missing cwd: nothing either.
    for cwd in [json!("work/a"), json!(null), json!("/no/such/dir/anywhere")] {
        let payload = json!({ "session_id": "s4", "cwd": cwd, "prompt": PROMPT });
        let r = env.client.hook("UserPromptSubmit", &payload).await;
        assert_eq!(r.status, 204, "cwd {cwd}: {}", r.text());
    }
    // Trivial prompts and slash commands are not searched.
    for p in ["ok", "/compact keep the payments deployments plan"] {
        let payload = json!({ "session_id": "s5", "cwd": a, "prompt": p });
        assert_eq!(env.client.hook("UserPromptSubmit", &payload).await.status, 204, "{p}");
    }
    assert_eq!(env.memories(&a).await.len(), 1);
    assert_eq!(env.memories(&b).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_hooks_add_context_and_never_decide_permissions() {
    let (env, a, b) = two_projects().await;
    env.client.save(&a, "Run the test suite with cargo nextest run, never with plain cargo test").await;

    let bash = |session: &str, cwd: &Path| {
        json!({
            "session_id": session, "cwd": cwd, "hook_event_name": "PreToolUse",
            "tool_name": "Bash", "tool_input": { "command": "cargo nextest run --workspace" },
            "permission_mode": "default"
        })
    };
    let text = context(&env.client.hook("PreToolUse", &bash("t1", &subdir(&a))).await, "PreToolUse");
    assert!(text.contains("nextest"), "{text}");
    assert!(!text.contains("walrus"), "{text}");

    // B has no such memory: nothing, and never A's.
    let r = env.client.hook("PreToolUse", &bash("t1", &b)).await;
    assert_eq!(r.status, 204, "{}", r.text());

    // PostToolUse reads the response too, and answers the same way.
    let mut post = bash("t2", &a);
    post["hook_event_name"] = json!("PostToolUse");
    post["tool_response"] = json!({ "stdout": "error: no such command: nextest", "stderr": "" });
    let text = context(&env.client.hook("PostToolUse", &post).await, "PostToolUse");
    assert!(text.contains("nextest"), "{text}");

    // A tool outside the configured list is not searched.
    let read = json!({
        "session_id": "t3", "cwd": a, "tool_name": "Read",
        "tool_input": { "file_path": a.join("cargo/nextest/run.rs") }
    });
    let r = env.client.hook("PreToolUse", &read).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    // Nor is a call without anything to search for.
    let empty = json!({ "session_id": "t3", "cwd": a, "tool_name": "Bash", "tool_input": {} });
    assert_eq!(env.client.hook("PreToolUse", &empty).await.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_events_queue_one_job_per_session_in_their_project() {
    let (env, a, b) = two_projects().await;
    let cwd = subdir(&a);

    for (event, extra) in [
        ("Stop", json!({ "stop_hook_active": false })),
        ("Stop", json!({ "stop_hook_active": false })),
        ("SessionEnd", json!({ "reason": "prompt_input_exit" })),
    ] {
        let mut payload = json!({ "session_id": "t1", "cwd": cwd, "transcript_path": "/x/t1.jsonl" });
        payload.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let r = env.client.hook(event, &payload).await;
        assert_eq!(r.status, 204, "{event}: {}", r.text());
        assert!(r.body.is_empty());
    }
    let payload =
        json!({ "session_id": "t2", "cwd": cwd, "transcript_path": "/x/t2.jsonl", "trigger": "auto" });
    env.client.hook("PreCompact", &payload).await.expect(204);
    let payload = json!({
        "session_id": "t3", "cwd": a, "transcript_path": "/x/t3.jsonl", "trigger": "manual",
        "compact_summary": "We moved the payments deployments to the zebra pipeline."
    });
    env.client.hook("PostCompact", &payload).await.expect(204);
    // No session: nothing to attach a job to.
    env.client.hook("Stop", &json!({ "cwd": a, "transcript_path": "/x/none.jsonl" })).await.expect(204);
    // No project: nothing at all.
    let outside = env.root().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    let payload = json!({ "session_id": "t4", "cwd": outside, "transcript_path": "/x/t4.jsonl" });
    env.client.hook("Stop", &payload).await.expect(204);
    assert!(!outside.join(".claude-memory").exists());

    let jobs = env.client.jobs(&a).await;
    let of = |session: &str| -> Vec<&Value> { jobs.iter().filter(|j| j["session_id"] == session).collect() };
    let t1 = of("t1");
    assert_eq!(t1.len(), 1, "Stop, Stop and SessionEnd of one session are one job: {jobs:?}");
    assert_eq!(t1[0]["kind"], "transcript");
    assert_eq!(t1[0]["state"], "queued");
    assert_eq!(t1[0]["transcript_path"], "/x/t1.jsonl");
    assert_eq!(t1[0]["trigger"], "SessionEnd");
    let t2 = of("t2");
    assert_eq!(t2.len(), 1, "{jobs:?}");
    assert_eq!((&t2[0]["kind"], &t2[0]["transcript_path"]), (&json!("transcript"), &json!("/x/t2.jsonl")));
    let mut t3: Vec<(String, String)> = of("t3")
        .iter()
        .map(|j| (j["kind"].as_str().unwrap().to_owned(), j["transcript_path"].as_str().unwrap().to_owned()))
        .collect();
    t3.sort();
    assert_eq!(
        t3,
        [
            ("compact_summary".to_owned(), "/x/t3.jsonl".to_owned()),
            ("transcript".into(), "/x/t3.jsonl".into())
        ],
        "{jobs:?}"
    );
    let summary = of("t3").into_iter().find(|j| j["kind"] == "compact_summary").unwrap();
    assert!(summary["payload"]["summary"].as_str().unwrap().contains("zebra pipeline"), "{summary}");
    assert_eq!(jobs.len(), 4, "{jobs:?}");
    assert_eq!(env.client.jobs(&b).await, Vec::<Value>::new(), "A's sessions queued jobs in B");
}

/// The structured content of a successful tool call.
#[track_caller]
fn tool_ok(message: &Value) -> &Value {
    let result = &message["result"];
    assert_eq!(result["isError"], json!(false), "{message}");
    &result["structuredContent"]
}

/// The text of a failed tool call.
#[track_caller]
fn tool_err(message: &Value) -> String {
    assert!(message.get("error").is_none(), "a JSON-RPC error instead of a tool error: {message}");
    let result = &message["result"];
    assert_eq!(result["isError"], json!(true), "{message}");
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

fn contents(structured: &Value, key: &str) -> Vec<String> {
    structured[key].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_answer_for_the_named_project_only() {
    let (env, a, b) = two_projects().await;
    let (a_s, b_s) = (a.to_string_lossy().into_owned(), b.to_string_lossy().into_owned());
    let header = |p: &str| [("X-Claude-Memory-Project", p.to_owned())];
    let search = json!({ "query": "payments service deployments pipeline", "full": true });

    let init = env.client.mcp_initialize(&[("X-Claude-Memory-Project", &a_s)]).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "claude-memory", "{init}");
    assert!(init["result"]["capabilities"]["tools"].is_object(), "{init}");

    for (project, want) in [(&a_s, ZEBRA), (&b_s, WALRUS)] {
        let h = header(project);
        let extra = [(h[0].0, h[0].1.as_str())];
        let m = env.client.mcp_call("/mcp", &extra, "memory_search", search.clone()).await;
        assert_eq!(contents(tool_ok(&m), "results"), [want], "project {project}");
        let m = env.client.mcp_call("/mcp", &extra, "memory_list", json!({})).await;
        assert_eq!(contents(tool_ok(&m), "memories"), [want], "project {project}");
        // Ids are per project: #1 is each one's own memory.
        let m = env.client.mcp_call("/mcp", &extra, "memory_get", json!({ "id": 1 })).await;
        assert_eq!(tool_ok(&m)["memory"]["content"], want);
    }
    // The project as a query parameter.
    let m =
        env.client.mcp_call(&format!("/mcp?project={}", enc(&b)), &[], "memory_search", search.clone()).await;
    assert_eq!(contents(tool_ok(&m), "results"), [WALRUS]);

    // A save lands in the named project only.
    let m = env
        .client
        .mcp_call(
            "/mcp",
            &[("X-Claude-Memory-Project", &b_s)],
            "memory_save",
            json!({ "content": "The walrus pipeline needs a manual approval step", "type": "decision" }),
        )
        .await;
    assert_eq!(tool_ok(&m)["action"], "created", "{m}");
    assert_eq!(env.memories(&a).await.len(), 1);
    assert_eq!(env.memories(&b).await.len(), 2);
    let m = env
        .client
        .mcp_call("/mcp", &[("X-Claude-Memory-Project", &a_s)], "memory_search", search.clone())
        .await;
    assert_eq!(contents(tool_ok(&m), "results"), [ZEBRA]);

    // Bad project names are clean tool errors, and create nothing.
    let missing = env.root().join("no/such/project");
    for (raw, expect) in
        [("work/a", "absolute"), ("./work/a", "absolute"), (missing.to_str().unwrap(), "no/such/project")]
    {
        let m = env
            .client
            .mcp_call("/mcp", &[("X-Claude-Memory-Project", raw)], "memory_search", search.clone())
            .await;
        let text = tool_err(&m);
        assert!(text.contains(expect), "project {raw:?}: {text}");
    }
    let text = tool_err(&env.client.mcp_call("/mcp", &[], "memory_search", search.clone()).await);
    assert!(text.contains("no project"), "{text}");
    assert!(!env.root().join("no").exists());
    assert!(!env.root().join("work/.claude-memory").exists());

    // The API takes the same parameter, with the same isolation.
    for (p, want) in [(&a, ZEBRA), (&b, WALRUS)] {
        let v = env.client.get(&format!("/api/memories?project={}&q=payments+deployments", enc(p))).await;
        let v = v.expect(200).json();
        let found: Vec<&str> =
            v["hits"].as_array().unwrap().iter().map(|h| h["content"].as_str().unwrap()).collect();
        assert_eq!(found, [want], "{v}");
    }
}

#[tokio::test]
async fn reads_of_a_folder_that_is_not_a_project_create_nothing() {
    let env = start(test_config(), false).await;
    let plain = env.root().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    for path in [
        format!("/api/memories?project={}", enc(&plain)),
        format!("/api/memories?project={}&q=anything", enc(&plain)),
    ] {
        // Nothing to find there.
        let r = env.client.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    for path in
        [format!("/api/memories/1?project={}", enc(&plain)), format!("/api/stats?project={}", enc(&plain))]
    {
        let r = env.client.get(&path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(r.json()["error"].as_str().unwrap().contains("not a claude-memory project"), "{}", r.text());
    }
    let path = format!("/mcp?project={}", enc(&plain));
    for (tool, args) in
        [("memory_search", json!({ "query": "x" })), ("memory_stats", json!({})), ("memory_list", json!({}))]
    {
        let answer = env.client.mcp_call(&path, &[], tool, args).await;
        assert_ne!(answer["result"]["isError"], true, "{tool}: {answer}");
    }
    assert!(!plain.join(cm_engine::DATA_DIR).exists(), "a read created the project");
    assert!(!env.client.projects().await.contains(&plain), "a read registered the folder");
    // An explicit save does make it a project.
    env.client.save(&plain, "The first memory of this folder").await;
    assert!(plain.join(cm_engine::DATA_DIR).is_dir());
}
