//! `claude-memory setup` and `uninstall`, run as a user would, with HOME and
//! CLAUDE_MEMORY_HOME in a temporary directory so the real ones are never touched.

use std::path::Path;

use cm_testkit::cli::Sandbox;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_claude-memory");

/// The user has claude-memory on the PATH (`claude-memory install`): setup
/// writes the bare command then.
fn sandbox() -> Sandbox {
    let mut env = Sandbox::new(BIN);
    env.path = Some(format!("{}:/usr/bin:/bin", Path::new(BIN).parent().unwrap().display()));
    env
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn setup_and_uninstall_in_a_project_and_for_the_user() {
    let env = sandbox();
    let settings = env.project.join(".claude/settings.local.json");
    let mcp = env.project.join(".mcp.json");

    // A dry run prints the diffs and writes nothing.
    let dry = env.ok(&["setup", "--dry-run"]);
    assert!(
        dry.contains("+++ ") && dry.contains("+            \"command\": \"claude-memory hook PreToolUse\","),
        "{dry}"
    );
    assert!(dry.contains("nothing was changed"), "{dry}");
    assert!(!settings.exists() && !mcp.exists() && !env.project.join(".claude-memory").exists());
    let setup_done = env.cm_home.join(".setup-done");
    assert!(!setup_done.exists(), "a dry run does not finish the first run");

    let report: Value = serde_json::from_str(&env.ok(&["setup", "--json"])).unwrap();
    // Connected from the command line: the dashboard stops asking to finish setup.
    assert!(setup_done.is_file());
    assert_eq!(report["operation"], "setup");
    assert_eq!(report["scope"], "local");
    assert_eq!(report["data_dir"]["action"], "created");
    let actions: Vec<&Value> = report["files"].as_array().unwrap().iter().map(|f| &f["action"]).collect();
    assert_eq!(actions, ["created", "created"]);
    assert_eq!(read(&settings)["hooks"]["UserPromptSubmit"][0]["hooks"][0]["timeout"], 2);
    assert_eq!(
        read(&mcp)["mcpServers"]["claude-memory"],
        serde_json::json!({"type": "stdio", "command": "claude-memory", "args": ["mcp"], "alwaysLoad": true})
    );
    assert!(env.ok(&["setup"]).contains("already set up"));

    // A broken file is named, and nothing is touched.
    std::fs::write(&mcp, "{\"mcpServers\": {").unwrap();
    let out = env.run(&["uninstall"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(".mcp.json: not valid JSON") && err.contains("nothing was changed"), "{err}");
    assert!(settings.exists());
    std::fs::remove_file(&mcp).unwrap();

    let removed = env.ok(&["uninstall"]);
    assert!(removed.contains("removed") && removed.contains(".claude-memory/"), "{removed}");
    assert!(!settings.exists());
    assert!(env.project.join(".claude-memory/.gitignore").exists(), "the memories stay");

    // --user writes the user's files only: ~/.claude/settings.json and ~/.claude.json.
    let user: Value = serde_json::from_str(&env.ok(&["setup", "--user", "--json"])).unwrap();
    let paths: Vec<&str> =
        user["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    let home_settings = env.home.join(".claude/settings.json");
    let home_config = env.home.join(".claude.json");
    assert_eq!(paths, [home_settings.to_str().unwrap(), home_config.to_str().unwrap()]);
    assert_eq!(
        read(&home_settings)["hooks"]["SessionEnd"][0]["hooks"][0]["command"],
        "claude-memory hook SessionEnd"
    );
    assert_eq!(read(&home_config)["mcpServers"]["claude-memory"]["command"], "claude-memory");
    assert!(!settings.exists() && !mcp.exists(), "the project is left alone");
    assert!(env.ok(&["uninstall", "--user"]).contains("removed"));
    assert!(!home_settings.exists());

    // CLAUDE_CONFIG_DIR moves the user's files, as it does for Claude Code.
    let config_dir = env.home.join("claude-config");
    let out = env.command(&["setup", "--user"]).env("CLAUDE_CONFIG_DIR", &config_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(config_dir.join("settings.json").exists() && config_dir.join(".claude.json").exists());
    assert!(!home_settings.exists());
}

/// `setup` run from the home folder (no project around it) would make the
/// home folder a project holding the memory of every folder below it.
#[test]
fn setup_refuses_the_home_folder_and_writes_nothing() {
    let env = sandbox();
    let out = env.run_in(&env.home, &["setup"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds every project below it") && err.contains("setup --user"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for made in [".claude-memory", ".mcp.json", ".claude/settings.local.json"] {
        assert!(!env.home.join(made).exists(), "{made} was written");
    }
}
