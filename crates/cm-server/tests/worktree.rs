//! A linked git worktree (made by the real `git`) has no `.claude-memory/` of
//! its own (the folder is git-ignored); its hooks use the main repository's
//! memory, unless `projects.worktrees_use_main` is off.

mod common;

use std::path::Path;
use std::process::Command;

use common::{start, start_in, test_config};
use serde_json::json;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(["-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_in_a_worktree_use_the_main_repository_memory_unless_disabled() {
    let env = start(test_config(), false).await;
    let main = env.root().join("repo");
    std::fs::create_dir_all(&main).unwrap();
    git(&main, &["init", "-q"]);
    std::fs::write(main.join("README.md"), "hello\n").unwrap();
    git(&main, &["add", "README.md"]);
    git(&main, &["commit", "-q", "-m", "first"]);
    git(&main, &["worktree", "add", "-q", "../wt", "-b", "feature"]);
    let wt = env.root().join("wt");
    assert!(wt.join(".git").is_file(), "git made a linked worktree");
    let main = env.project(&main);
    env.client.save(&main, "Deployments of the payments service use the zebra pipeline").await;
    let cwd = wt.join("src/payments");
    std::fs::create_dir_all(&cwd).unwrap();

    let payload = json!({
        "session_id": "w1", "cwd": cwd, "prompt": "how do deployments of the payments service work?"
    });
    let r = env.client.hook("UserPromptSubmit", &payload).await.expect(200);
    let v = r.json();
    let text = v["hookSpecificOutput"]["additionalContext"].as_str().unwrap();
    assert!(text.contains("zebra pipeline"), "{v}");
    assert!(!wt.join(".claude-memory").exists(), "the hook created a project in the worktree");
    // Recorded in the main repository's database.
    // Records are written just after the answer: wait for it (up to 10 s).
    let mut injections = serde_json::Value::Null;
    for _ in 0..200 {
        injections = env
            .client
            .get(&format!("/api/injections?project={}", common::enc(&main)))
            .await
            .expect(200)
            .json();
        if injections["injections"][0]["session_id"] == "w1" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(injections["injections"][0]["session_id"], "w1", "{injections}");

    // The same engine state, with worktrees kept apart.
    let (tmp, home) = (env.tmp, env.home);
    env.server.shutdown().await.unwrap();
    let mut config = test_config();
    config.projects.worktrees_use_main = false;
    let env = start_in(tmp, home, config, false).await;
    let payload = json!({
        "session_id": "w2", "cwd": cwd, "prompt": "how do deployments of the payments service work?"
    });
    let r = env.client.hook("UserPromptSubmit", &payload).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(!wt.join(".claude-memory").exists());
    // The main repository itself still gets its memory.
    let payload = json!({
        "session_id": "w2", "cwd": main, "prompt": "how do deployments of the payments service work?"
    });
    env.client.hook("UserPromptSubmit", &payload).await.expect(200);
}
