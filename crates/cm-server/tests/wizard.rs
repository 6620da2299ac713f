//! What the dashboard's setup wizard and LLM settings do through `/api`:
//! add a folder, preview and apply Claude Code's configuration, mark setup
//! done, and set an LLM provider whose key is stored but never given back.

mod common;

use common::{enc, start, test_config};
use serde_json::json;

#[tokio::test]
async fn the_wizard_adds_a_folder_previews_and_applies_setup() {
    let env = start(test_config(), false).await;
    let c = &env.client;
    assert_eq!(c.get("/api/status").await.expect(200).json()["setup_done"], false);

    let dir = env.root().join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    // Bad folders are refused and nothing is created.
    for bad in ["relative/dir", "/definitely/not/here"] {
        let r = c.post("/api/projects", &json!({ "path": bad })).await.expect(400);
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .contains(bad.trim_start_matches('/').split('/').next().unwrap())
        );
    }
    // The root folder would hold every project below it.
    let r = c.post("/api/projects", &json!({ "path": "/" })).await.expect(400);
    assert!(r.json()["error"].as_str().unwrap().contains("choose the project's own folder"), "{}", r.text());
    assert!(!c.get("/api/projects").await.expect(200).text().contains("\"path\":\"/\""));
    let added = c.post("/api/projects", &json!({ "path": dir })).await.expect(200).json();
    assert_eq!(added["project"]["present"], false, "nothing is written before setup is applied");
    assert!(!dir.join(".claude-memory").exists());
    let listed = c.get("/api/projects").await.expect(200).json();
    assert!(listed["projects"].as_array().unwrap().iter().any(|p| p["path"] == json!(dir)));

    // The preview shows the diffs and writes nothing.
    let preview = c.post("/api/setup", &json!({ "project": dir, "scope": "local", "dry_run": true })).await;
    let preview = preview.expect(200).json();
    assert_eq!(preview["dry_run"], true);
    let files = preview["files"].as_array().unwrap();
    assert!(files.iter().any(|f| f["diff"].as_str().unwrap().contains("claude-memory hook")), "{preview}");
    assert!(!dir.join(".claude/settings.local.json").exists(), "a dry run writes nothing");
    assert_eq!(preview["data_dir"]["action"], "created", "the review shows the data folder");
    assert!(!dir.join(".claude-memory").exists());

    c.post("/api/setup", &json!({ "project": dir, "scope": "team" })).await.expect(400);
    let applied = c.post("/api/setup", &json!({ "project": dir, "scope": "local" })).await.expect(200).json();
    assert_eq!(applied["dry_run"], false);
    let settings = std::fs::read_to_string(dir.join(".claude/settings.local.json")).unwrap();
    assert!(settings.contains("UserPromptSubmit") && settings.contains("claude-memory hook"), "{settings}");
    assert!(dir.join(".claude-memory").is_dir());

    c.post("/api/setup/done", &json!({})).await.expect(200);
    assert_eq!(c.get("/api/status").await.expect(200).json()["setup_done"], true);
}

#[tokio::test]
async fn llm_settings_are_saved_the_key_is_never_returned_and_bad_settings_change_nothing() {
    let env = start(test_config(), false).await;
    let c = &env.client;
    let v = c.get("/api/llm").await.expect(200).json();
    assert_eq!(
        (v["config"]["provider"]["kind"].as_str(), v["key"]["present"].as_bool()),
        (Some("none"), Some(false))
    );
    assert!(v["active"].is_null());

    const KEY: &str = "sk-wizard-secret-0123456789abcdef";
    let config =
        json!({ "provider": { "kind": "openai", "model": "gpt-test", "base_url": "http://127.0.0.1:9" } });
    let saved = c
        .request("PUT", "/api/llm")
        .json(&json!({ "config": config, "api_key": KEY }))
        .send()
        .await
        .expect(200);
    assert!(!saved.text().contains(KEY), "the key never comes back");
    let v = saved.json();
    assert_eq!(v["key"]["present"], true);
    assert_eq!(v["active"], "OpenAI model `gpt-test`", "in use at once");
    let toml = std::fs::read_to_string(env.home.join("llm.toml")).unwrap();
    assert!(toml.contains("gpt-test") && !toml.contains(KEY), "{toml}");
    assert!(!c.get("/api/llm").await.expect(200).text().contains(KEY));
    assert_eq!(env.engine.llm().map(|l| l.name().to_owned()).as_deref(), Some("OpenAI model `gpt-test`"));

    // Invalid settings: 400, nothing changed.
    let bad = json!({ "config": { "provider": { "kind": "azure", "endpoint": "", "deployment": "d" } } });
    let r = c.request("PUT", "/api/llm").json(&bad).send().await.expect(400);
    assert!(r.json()["error"].as_str().unwrap().contains("endpoint"));
    assert_eq!(std::fs::read_to_string(env.home.join("llm.toml")).unwrap(), toml);
    let unknown = json!({ "config": { "provider": { "kind": "openai", "model": "m" } }, "key": "x" });
    c.request("PUT", "/api/llm").json(&unknown).send().await.expect(400);

    // The connection test reports an unreachable server in words, without the key.
    let t = c.post("/api/llm/test", &json!({ "config": config })).await.expect(200);
    assert!(!t.text().contains(KEY));
    let t = t.json();
    assert_eq!(t["ok"], false);
    assert!(!t["message"].as_str().unwrap().is_empty());

    // Another server without a key of its own: the stored key is not sent
    // there, and a save there drops it.
    let compatible =
        json!({ "provider": { "kind": "compatible", "base_url": "http://127.0.0.1:7", "model": "m" } });
    let t = c.post("/api/llm/test", &json!({ "config": compatible })).await.expect(200);
    assert!(!t.text().contains(KEY));
    let v =
        c.request("PUT", "/api/llm").json(&json!({ "config": compatible })).send().await.expect(200).json();
    assert_eq!(v["key"]["present"], false, "{v}");
    let v = c
        .request("PUT", "/api/llm")
        .json(&json!({ "config": config, "api_key": KEY }))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(v["key"]["present"], true, "{v}");

    // Clearing the key of a provider that needs one is refused; with "none" it works.
    let clear = json!({ "config": config, "clear_key": true });
    c.request("PUT", "/api/llm").json(&clear).send().await.expect(400);
    let off = json!({ "config": { "provider": { "kind": "none" } }, "clear_key": true });
    let v = c.request("PUT", "/api/llm").json(&off).send().await.expect(200).json();
    assert_eq!((v["key"]["present"].as_bool(), v["active"].is_null()), (Some(false), true));
    assert!(env.engine.llm().is_none());
    assert!(!env.home.join(cm_llm::KEY_FILE).exists());
    assert_eq!(v["today_tokens"], 0);
    assert_eq!(
        (v["config"]["daily_tokens"].as_u64(), v["config"]["project_daily_tokens"].as_u64()),
        (Some(2_000_000), Some(500_000))
    );

    // Claude Code needs no key; a `claude` that is not there is refused with its name.
    let missing =
        json!({ "config": { "provider": { "kind": "claude-code", "command": "/nonexistent/claude" } } });
    let r = c.request("PUT", "/api/llm").json(&missing).send().await.expect(400);
    assert!(r.json()["error"].as_str().unwrap().contains("/nonexistent/claude"));
    // Whoever holds the token may not make the engine run any program.
    let sh = json!({ "config": { "provider": { "kind": "claude-code", "command": "/bin/sh" } } });
    let r = c.request("PUT", "/api/llm").json(&sh).send().await.expect(400);
    assert!(r.json()["error"].as_str().unwrap().contains("must be named `claude`"));
    c.post("/api/llm/test", &sh).await.expect(400);
    let claude = env.home.join("bin").join("claude");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    std::fs::write(&claude, "#!/bin/sh\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let limits = json!({ "config": { "provider": { "kind": "claude-code", "command": claude, "model": "haiku" },
                                     "daily_tokens": 1000, "project_daily_tokens": 0 } });
    let v = c.request("PUT", "/api/llm").json(&limits).send().await.expect(200).json();
    assert_eq!(v["active"], "Claude Code (`claude -p`, model `haiku`)");
    assert_eq!(
        (v["config"]["daily_tokens"].as_u64(), v["key"]["present"].as_bool()),
        (Some(1000), Some(false))
    );
}

#[tokio::test]
async fn the_map_and_activation_answer_without_a_model() {
    let env = start(test_config(), false).await;
    let p = env.project(&env.root().join("p"));
    env.client.save(&p, "the deploy script lives in ops/deploy.sh").await;
    let v = env.client.get(&format!("/api/clusters/map?project={}", enc(&p))).await.expect(200).json();
    assert_eq!(v, json!({ "model": null, "points": [] }));
    let r = env.client.post("/api/models/all-minilm-l6-v2/activate", &json!({})).await.expect(400);
    assert!(r.json()["error"].as_str().unwrap().contains("all-minilm-l6-v2"));
    let v = env.client.post("/api/models/all-minilm-l6-v2/cancel", &json!({})).await.expect(200).json();
    assert_eq!(v["cancelled"], false);
}
