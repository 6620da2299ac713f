//! `claude-memory uninstall --all [--purge]`, run as a user would in a
//! temporary HOME: Claude Code's wiring comes out of the user's files and
//! every project set up, the memories stay unless --purge.

use std::path::{Path, PathBuf};

use cm_testkit::cli::Sandbox;

const BIN: &str = env!("CARGO_BIN_EXE_claude-memory");

/// The user has claude-memory on the PATH, and has set up two projects (the
/// sandbox's, for themselves; `other`, for the team) and their user settings.
fn set_up() -> (Sandbox, PathBuf) {
    let mut env = Sandbox::new(BIN);
    env.path = Some(format!("{}:/usr/bin:/bin", Path::new(BIN).parent().unwrap().display()));
    // Where a `service install` unit would be: inside the sandbox too.
    env.vars.push(("XDG_CONFIG_HOME".into(), env.home.join(".config").display().to_string()));
    let other = env.root.join("other");
    std::fs::create_dir_all(other.join(".git")).unwrap();
    env.ok(&["setup"]);
    env.ok(&["setup", "--shared", other.to_str().unwrap()]);
    env.ok(&["setup", "--user"]);
    (env, other)
}

/// Every Claude Code file setup writes, for the user and both projects.
fn wiring(env: &Sandbox, other: &Path) -> Vec<PathBuf> {
    vec![
        env.project.join(".claude/settings.local.json"),
        env.project.join(".mcp.json"),
        other.join(".claude/settings.json"),
        other.join(".mcp.json"),
        env.home.join(".claude/settings.json"),
        env.home.join(".claude.json"),
    ]
}

/// Whether `path` still names claude-memory (hooks, MCP server or its approval).
fn mentions_us(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.contains("claude-memory"))
}

fn snapshot(paths: &[PathBuf]) -> Vec<Option<String>> {
    paths.iter().map(|p| std::fs::read_to_string(p).ok()).collect()
}

#[test]
fn uninstall_all_removes_the_wiring_everywhere_and_keeps_the_memories() {
    let (env, other) = set_up();
    let files = wiring(&env, &other);
    for f in &files {
        assert!(mentions_us(f), "setup wrote {}", f.display());
    }
    env.ok(&["save", "Deploys go through the staging cluster first"]);

    // A dry run says what it would remove and changes nothing.
    let before = snapshot(&files);
    let dry = env.json(&["uninstall", "--all", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(snapshot(&files), before);

    // From another directory: the projects come from the registry.
    let out = env.run_in(&env.root, &["uninstall", "--all"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for f in &files {
        assert!(!mentions_us(f), "{} still names claude-memory:\n{text}", f.display());
    }
    assert!(text.contains(&format!("kept      {}/.claude-memory/", env.project.display())), "{text}");
    assert!(env.project.join(".claude-memory/memory.db").is_file());
    assert!(other.join(".claude-memory").is_dir());
    assert!(env.ok(&["search", "staging cluster"]).contains("staging cluster"));

    // Nothing left: says so.
    let again = env.ok(&["uninstall", "--all"]);
    assert!(again.contains("not set up in Claude Code anywhere: nothing to remove"), "{again}");
    assert!(!again.contains("starts at login"), "{again}");
}

#[cfg(target_os = "linux")]
#[test]
fn uninstall_all_mentions_a_service_still_starting_the_engine() {
    let (env, _) = set_up();
    let unit = env.home.join(".config/systemd/user/claude-memory.service");
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    std::fs::write(&unit, "[Service]\n").unwrap();
    let out = env.ok(&["uninstall", "--all"]);
    assert!(out.contains("note: the engine still starts at login"), "{out}");
    assert!(out.contains("`claude-memory service uninstall`"), "{out}");
    assert!(unit.exists(), "uninstall --all leaves the service to `service uninstall`");
}

/// The plugin is Claude Code's to remove: an uninstall that leaves it
/// enabled says so, once, with the command, instead of "nothing to remove".
#[test]
fn uninstall_names_the_plugin_it_leaves_running() {
    let (env, _) = set_up();
    let settings = env.home.join(".claude/settings.json");
    let mut user: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    user["enabledPlugins"] = serde_json::json!({"project-memory@project-memory": true});
    std::fs::write(&settings, user.to_string()).unwrap();
    let note = "note: the project-memory@project-memory plugin is still enabled";
    let command = "`claude plugin uninstall project-memory@project-memory`";

    let one = env.ok(&["uninstall"]);
    assert!(one.contains(note) && one.contains(command), "{one}");
    let all = env.ok(&["uninstall", "--all"]);
    assert_eq!(all.matches(note).count(), 1, "{all}");
    assert!(all.contains(command), "{all}");
    let again = env.ok(&["uninstall", "--all"]);
    assert_eq!(again.matches(note).count(), 1, "{again}");
    assert!(
        std::fs::read_to_string(&settings).unwrap().contains("project-memory@project-memory"),
        "left to Claude Code"
    );
}

#[test]
fn one_unreadable_file_fails_uninstall_all_before_anything_changes() {
    let (env, other) = set_up();
    std::fs::write(other.join(".mcp.json"), "{ not json").unwrap();
    let files = wiring(&env, &other);
    let before = snapshot(&files);
    let err = env.fails(&["uninstall", "--all"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nothing was changed anywhere"), "{err}");
    assert!(err.contains(".mcp.json"), "{err}");
    assert_eq!(snapshot(&files), before);
}

#[test]
fn uninstall_all_purge_deletes_the_data_folders() {
    let (env, other) = set_up();
    let usage = env.run(&["uninstall", "--purge"]);
    assert_eq!(usage.status.code(), Some(2), "--purge needs --all");

    let dry = env.ok(&["uninstall", "--all", "--purge", "--dry-run"]);
    assert!(dry.contains(&format!("would delete {}/.claude-memory/", other.display())), "{dry}");
    assert!(other.join(".claude-memory").is_dir());

    let out = env.ok(&["uninstall", "--all", "--purge"]);
    assert!(out.contains(&format!("deleted   {}/.claude-memory/", other.display())), "{out}");
    assert!(!env.project.join(".claude-memory").exists());
    assert!(!other.join(".claude-memory").exists());
    for f in wiring(&env, &other) {
        assert!(!mentions_us(&f), "{}", f.display());
    }
    let registry = std::fs::read_to_string(env.cm_home.join("projects.json")).unwrap();
    assert!(!registry.contains("other"), "{registry}");
}
