//! `setup` and `uninstall` on real files in temporary directories, starting
//! from the kind of configuration people actually have.

use std::path::{Path, PathBuf};

use cm_claude_code::{
    ClaudeUserFiles, FileAction, Part, Program, Scope, SetupOptions, SetupReport, setup, uninstall,
};
use serde_json::Value;

/// A personal settings file as Claude Code and its user leave it: permission
/// rules, environment, a status line, other hooks (one on PreToolUse with
/// matchers of its own), an approved server; 2-space JSON.
const SETTINGS_LOCAL: &str = r#"{
  "permissions": {
    "allow": [
      "Bash(npm run test:*)",
      "Bash(git log:*)",
      "WebFetch(domain:docs.rs)"
    ],
    "deny": [
      "Read(./.env)"
    ],
    "defaultMode": "acceptEdits"
  },
  "env": {
    "RUST_LOG": "debug",
    "DATABASE_URL": "postgres://localhost/dev"
  },
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          {
            "type": "command",
            "command": "$CLAUDE_PROJECT_DIR/.claude/hooks/check-bash.sh",
            "timeout": 5
          }
        ]
      },
      {
        "matcher": "Edit|Write",
        "hooks": [
          {
            "type": "command",
            "command": "npx prettier --write \"$(jq -r .tool_input.file_path)\""
          }
        ]
      }
    ],
    "UserPromptSubmit": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "~/.claude/hooks/log-prompt.sh"
          }
        ]
      }
    ],
    "Notification": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "notify-send 'Claude Code' 'needs you'"
          }
        ]
      }
    ]
  },
  "statusLine": {
    "type": "command",
    "command": "~/.claude/statusline.sh",
    "padding": 0
  },
  "enabledMcpjsonServers": [
    "github"
  ],
  "model": "sonnet",
  "includeCoAuthoredBy": false
}
"#;

/// A team's `.mcp.json` with two servers, written by `claude mcp add`
/// (which leaves no final newline).
const MCP_JSON: &str = r#"{
  "mcpServers": {
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": {
        "Authorization": "Bearer ${GITHUB_TOKEN}"
      }
    },
    "postgres": {
      "type": "stdio",
      "command": "npx",
      "args": [
        "-y",
        "@modelcontextprotocol/server-postgres",
        "postgresql://localhost/dev"
      ],
      "env": {}
    }
  }
}"#;

/// What setup writes into a project that had no Claude Code configuration.
const FRESH_SETTINGS_LOCAL: &str = r#"{
  "hooks": {
    "SessionStart": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook SessionStart",
            "timeout": 2
          }
        ]
      }
    ],
    "UserPromptSubmit": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook UserPromptSubmit",
            "timeout": 2
          }
        ]
      }
    ],
    "PreToolUse": [
      {
        "matcher": "Edit|Write|MultiEdit|Bash",
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook PreToolUse",
            "timeout": 1
          }
        ]
      }
    ],
    "PostToolUse": [
      {
        "matcher": "Edit|Write|MultiEdit|Bash",
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook PostToolUse",
            "timeout": 1
          }
        ]
      }
    ],
    "PostToolUseFailure": [
      {
        "matcher": "Edit|Write|MultiEdit|Bash",
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook PostToolUseFailure",
            "timeout": 1
          }
        ]
      }
    ],
    "PreCompact": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook PreCompact",
            "timeout": 2
          }
        ]
      }
    ],
    "PostCompact": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook PostCompact",
            "timeout": 2
          }
        ]
      }
    ],
    "Stop": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook Stop",
            "timeout": 2
          }
        ]
      }
    ],
    "SubagentStop": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook SubagentStop",
            "timeout": 2
          }
        ]
      }
    ],
    "SessionEnd": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook SessionEnd",
            "timeout": 2,
            "async": true
          }
        ]
      }
    ]
  },
  "enabledMcpjsonServers": [
    "claude-memory"
  ]
}
"#;

const FRESH_MCP_JSON: &str = r#"{
  "mcpServers": {
    "claude-memory": {
      "type": "stdio",
      "command": "claude-memory",
      "args": [
        "mcp"
      ],
      "alwaysLoad": true
    }
  }
}
"#;

struct Dir {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap().join("project");
        std::fs::create_dir_all(&root).unwrap();
        Dir { _tmp: tmp, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn user_files(&self) -> ClaudeUserFiles {
        ClaudeUserFiles::resolve(None, Some(self.root.parent().unwrap().join("home"))).unwrap()
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    fn options(&self, scope: Scope) -> SetupOptions {
        SetupOptions {
            project: Some(self.root.clone()),
            scope,
            // The user's files of this test, never the real ones.
            user_files: Some(self.user_files()),
            dry_run: false,
            program: Program::bare(),
        }
    }

    /// Every file under the project (relative path and contents), to show
    /// that something changed nothing.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    out.push((path.strip_prefix(base).unwrap().to_owned(), Vec::new()));
                    walk(&path, base, out);
                } else {
                    out.push((path.strip_prefix(base).unwrap().to_owned(), std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.root.parent().unwrap(), self.root.parent().unwrap(), &mut out);
        out.sort();
        out
    }
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn file<'a>(report: &'a SetupReport, path: &Path) -> &'a cm_claude_code::FileReport {
    report
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{} not in {report:#?}", path.display()))
}

#[test]
fn fresh_project_gets_data_dir_hooks_and_server_then_a_second_run_changes_nothing() {
    let dir = Dir::new();
    let report = setup(&dir.options(Scope::Local)).unwrap();
    assert!(report.changed());
    let data = report.data_dir.as_ref().unwrap();
    assert_eq!((data.path.clone(), data.action), (dir.path(".claude-memory"), FileAction::Created));
    assert!(dir.read(".claude-memory/.gitignore").contains("\n*\n"));

    assert_eq!(dir.read(".claude/settings.local.json"), FRESH_SETTINGS_LOCAL);
    assert_eq!(dir.read(".mcp.json"), FRESH_MCP_JSON);
    let settings = file(&report, &dir.path(".claude/settings.local.json"));
    assert_eq!(settings.action, FileAction::Created);
    assert_eq!(settings.parts, [Part::Hooks, Part::McpApproval]);
    assert_eq!(settings.backup, None);
    assert!(settings.diff.starts_with("--- /dev/null\n"), "{}", settings.diff);
    assert_eq!(file(&report, &dir.path(".mcp.json")).action, FileAction::Created);

    let before = dir.snapshot();
    let again = setup(&dir.options(Scope::Local)).unwrap();
    assert!(!again.changed(), "{again:#?}");
    assert!(
        again
            .files
            .iter()
            .all(|f| f.action == FileAction::Unchanged && f.diff.is_empty() && f.backup.is_none())
    );
    assert_eq!(again.data_dir.unwrap().action, FileAction::Unchanged);
    assert_eq!(dir.snapshot(), before, "a second setup writes nothing, not even a backup");
}

#[test]
fn realistic_files_keep_everything_else_and_uninstall_restores_them_byte_for_byte() {
    let dir = Dir::new();
    dir.write(".claude/settings.local.json", SETTINGS_LOCAL);
    dir.write(".mcp.json", MCP_JSON);

    let report = setup(&dir.options(Scope::Local)).unwrap();
    let settings_path = dir.path(".claude/settings.local.json");
    let settings_report = file(&report, &settings_path);
    assert_eq!(settings_report.action, FileAction::Updated);
    let backup = settings_report.backup.clone().unwrap();
    // In the project's (git-ignored) data folder, not in the work tree.
    assert_eq!(backup, dir.path(".claude-memory/backups/settings.local.json.claude-memory.bak"));
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), SETTINGS_LOCAL);
    assert_eq!(
        std::fs::read_to_string(file(&report, &dir.path(".mcp.json")).backup.clone().unwrap()).unwrap(),
        MCP_JSON
    );

    let text = dir.read(".claude/settings.local.json");
    let after = parsed(&text);
    let before = parsed(SETTINGS_LOCAL);
    for key in ["permissions", "env", "statusLine", "model", "includeCoAuthoredBy"] {
        assert_eq!(after[key], before[key], "{key} kept");
    }
    // Key order is kept, and new keys come last.
    let keys: Vec<&str> = after.as_object().unwrap().keys().map(String::as_str).collect();
    let pos = |k: &str| text.find(&format!("\n  \"{k}\"")).unwrap_or_else(|| panic!("{k} missing"));
    let mut order: Vec<&str> = keys.clone();
    order.sort_by_key(|k| pos(k));
    assert_eq!(
        order,
        [
            "permissions",
            "env",
            "hooks",
            "statusLine",
            "enabledMcpjsonServers",
            "model",
            "includeCoAuthoredBy"
        ]
    );
    // Other hooks stay first on their events, with their own matchers; ours follow.
    let pre = after["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre.len(), 3);
    assert_eq!(pre[0], before["hooks"]["PreToolUse"][0]);
    assert_eq!(pre[1], before["hooks"]["PreToolUse"][1]);
    assert_eq!(pre[2]["matcher"], "Edit|Write|MultiEdit|Bash");
    assert_eq!(pre[2]["hooks"][0]["command"], "claude-memory hook PreToolUse");
    assert_eq!(pre[2]["hooks"][0]["timeout"], 1);
    let prompt = after["hooks"]["UserPromptSubmit"].as_array().unwrap();
    assert_eq!(prompt[0], before["hooks"]["UserPromptSubmit"][0]);
    assert_eq!(prompt[1]["hooks"][0]["command"], "claude-memory hook UserPromptSubmit");
    assert_eq!(after["hooks"]["Notification"], before["hooks"]["Notification"]);
    assert_eq!(after["enabledMcpjsonServers"], serde_json::json!(["github", "claude-memory"]));
    // The hooks object keeps its events in place and appends ours.
    let events: Vec<&String> = after["hooks"].as_object().unwrap().keys().collect();
    assert_eq!(events.len(), 11);

    let mcp_text = dir.read(".mcp.json");
    assert!(!mcp_text.ends_with('\n'), "no final newline before, none after");
    let mcp = parsed(&mcp_text);
    assert_eq!(mcp["mcpServers"]["github"], parsed(MCP_JSON)["mcpServers"]["github"]);
    assert_eq!(mcp["mcpServers"]["postgres"], parsed(MCP_JSON)["mcpServers"]["postgres"]);
    assert_eq!(
        mcp["mcpServers"]["claude-memory"],
        serde_json::json!({"type": "stdio", "command": "claude-memory", "args": ["mcp"], "alwaysLoad": true})
    );
    assert!(mcp_text.find("\"github\"").unwrap() < mcp_text.find("\"claude-memory\"").unwrap());

    assert!(!setup(&dir.options(Scope::Local)).unwrap().changed(), "idempotent on existing files too");

    let removed = uninstall(&dir.options(Scope::Local)).unwrap();
    assert!(removed.files.iter().all(|f| f.action == FileAction::Updated), "{removed:#?}");
    assert_eq!(dir.read(".claude/settings.local.json"), SETTINGS_LOCAL);
    assert_eq!(dir.read(".mcp.json"), MCP_JSON);
    assert!(dir.path(".claude-memory").is_dir(), "uninstall keeps the memories");
    assert_eq!(removed.data_dir.unwrap().action, FileAction::Unchanged);
    assert!(
        !uninstall(&dir.options(Scope::Local)).unwrap().changed(),
        "a second uninstall has nothing to do"
    );
}

#[test]
fn other_formatting_is_kept_where_it_can_be_and_the_meaning_always() {
    let dir = Dir::new();
    // Four-space indentation, compact lists, no final newline.
    let settings = "{\n    \"permissions\": {\"allow\": [\"Bash(ls:*)\", \"Read(*)\"]},\n    \"hooks\": {\"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"say done\"}]}]}\n}";
    dir.write(".claude/settings.local.json", settings);
    setup(&dir.options(Scope::Local)).unwrap();
    let text = dir.read(".claude/settings.local.json");
    assert!(text.starts_with("{\n    \"permissions\": {\n        \"allow\": [\n"), "{text}");
    assert!(!text.ends_with('\n'));
    uninstall(&dir.options(Scope::Local)).unwrap();
    assert_eq!(parsed(&dir.read(".claude/settings.local.json")), parsed(settings));
}

#[test]
fn fresh_setup_then_uninstall_removes_the_files_it_created() {
    let dir = Dir::new();
    setup(&dir.options(Scope::Local)).unwrap();
    let report = uninstall(&dir.options(Scope::Local)).unwrap();
    assert!(report.files.iter().all(|f| f.action == FileAction::Removed), "{report:#?}");
    assert!(!dir.path(".claude/settings.local.json").exists());
    assert!(!dir.path(".mcp.json").exists());
    assert!(dir.path(".claude-memory/.gitignore").exists());
    assert!(file(&report, &dir.path(".mcp.json")).diff.contains("+++ /dev/null\n"));
}

#[test]
fn outdated_own_entries_are_updated_in_place() {
    let dir = Dir::new();
    dir.write(
        ".claude/settings.local.json",
        r#"{
  "hooks": {
    "UserPromptSubmit": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook UserPromptSubmit",
            "timeout": 30
          }
        ]
      }
    ],
    "PreToolUse": [
      {
        "matcher": "Edit|Write",
        "hooks": [
          {
            "type": "command",
            "command": "claude-memory hook PreToolUse --old-flag",
            "timeout": 5
          }
        ]
      },
      {
        "matcher": "Bash",
        "hooks": [
          {
            "type": "command",
            "command": "check-bash.sh"
          }
        ]
      }
    ]
  }
}
"#,
    );
    dir.write(
        ".mcp.json",
        r#"{"mcpServers": {"claude-memory": {"command": "claude-memory", "args": ["serve", "--stdio"], "env": {"CLAUDE_MEMORY_LOG": "debug"}}}}"#,
    );
    let report = setup(&dir.options(Scope::Local)).unwrap();
    assert_eq!(file(&report, &dir.path(".claude/settings.local.json")).action, FileAction::Updated);
    let after = parsed(&dir.read(".claude/settings.local.json"));
    let prompt = after["hooks"]["UserPromptSubmit"].as_array().unwrap();
    assert_eq!(prompt.len(), 1, "updated, not duplicated");
    assert_eq!(prompt[0]["hooks"][0]["timeout"], 2);
    let pre = after["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre.len(), 2, "our group keeps its place: {pre:#?}");
    assert_eq!(pre[0]["matcher"], "Edit|Write|MultiEdit|Bash");
    assert_eq!(
        pre[0]["hooks"],
        serde_json::json!([{"type": "command", "command": "claude-memory hook PreToolUse", "timeout": 1}])
    );
    assert_eq!(pre[1]["hooks"][0]["command"], "check-bash.sh");

    let server = &parsed(&dir.read(".mcp.json"))["mcpServers"]["claude-memory"];
    assert_eq!(
        *server,
        serde_json::json!({"command": "claude-memory", "args": ["mcp"], "env": {"CLAUDE_MEMORY_LOG": "debug"}, "type": "stdio", "alwaysLoad": true})
    );
    assert!(!setup(&dir.options(Scope::Local)).unwrap().changed());
}

#[test]
fn invalid_or_unexpected_files_are_refused_and_nothing_changes() {
    let cases = [
        ("{ \"permissions\": { \"allow\": [\"Bash(ls:*)\"], }", "not valid JSON"),
        ("{\"hooks\": [{\"matcher\": \"Bash\"}]}", "\"hooks\" is an array"),
        ("{\"hooks\": {\"Stop\": {\"hooks\": []}}}", "\"hooks.Stop\" is an object"),
        ("{\"hooks\": {\"Stop\": [{\"hooks\": \"say done\"}]}}", "\"hooks.Stop[0].hooks\" is a string"),
        ("{\"enabledMcpjsonServers\": \"github\"}", "\"enabledMcpjsonServers\" is a string"),
        ("[]", "top level is an array"),
    ];
    for (text, why) in cases {
        let dir = Dir::new();
        dir.write(".claude/settings.local.json", text);
        dir.write(".mcp.json", MCP_JSON);
        let before = dir.snapshot();
        for run in [setup, uninstall] {
            let err = run(&dir.options(Scope::Local)).unwrap_err().to_string();
            assert!(err.contains(&dir.path(".claude/settings.local.json").display().to_string()), "{err}");
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains("nothing was changed"), "{err}");
            assert_eq!(dir.snapshot(), before, "{text}: nothing written, not even the data folder");
        }
    }
    let dir = Dir::new();
    dir.write(".mcp.json", "{\"mcpServers\": {\"claude-memory\": \"claude-memory mcp\"}}");
    let err = setup(&dir.options(Scope::Local)).unwrap_err().to_string();
    assert!(err.contains(".mcp.json") && err.contains("\"mcpServers.claude-memory\" is a string"), "{err}");
    assert!(!dir.path(".claude").exists() && !dir.path(".claude-memory").exists());
}

#[test]
fn dry_run_shows_the_diff_and_changes_nothing() {
    let dir = Dir::new();
    dir.write(".claude/settings.local.json", SETTINGS_LOCAL);
    let before = dir.snapshot();
    let report = setup(&SetupOptions { dry_run: true, ..dir.options(Scope::Local) }).unwrap();
    assert_eq!(dir.snapshot(), before);
    assert!(report.dry_run && report.changed());
    assert_eq!(report.data_dir.as_ref().unwrap().action, FileAction::Created, "would be created");
    let settings = file(&report, &dir.path(".claude/settings.local.json"));
    assert_eq!((settings.action, settings.backup.clone()), (FileAction::Updated, None));
    let path = dir.path(".claude/settings.local.json").display().to_string();
    assert!(settings.diff.starts_with(&format!("--- {path}\n+++ {path}\n@@ -")), "{}", settings.diff);
    assert!(settings.diff.contains("\n+            \"command\": \"claude-memory hook UserPromptSubmit\",\n"));
    assert!(
        settings.diff.contains("\n-    \"github\"\n+    \"github\",\n+    \"claude-memory\"\n"),
        "{}",
        settings.diff
    );
    let mcp = file(&report, &dir.path(".mcp.json"));
    assert_eq!(mcp.action, FileAction::Created);
    assert!(mcp.diff.starts_with("--- /dev/null\n"));

    setup(&dir.options(Scope::Local)).unwrap();
    let after = dir.snapshot();
    let report = uninstall(&SetupOptions { dry_run: true, ..dir.options(Scope::Local) }).unwrap();
    assert_eq!(dir.snapshot(), after);
    assert!(
        file(&report, &dir.path(".claude/settings.local.json"))
            .diff
            .contains("\n-            \"command\": \"claude-memory hook Stop\",\n")
    );
    assert_eq!(file(&report, &dir.path(".mcp.json")).action, FileAction::Removed);
}

#[test]
fn shared_scope_puts_hooks_in_the_team_file_and_the_approval_in_the_personal_one() {
    let dir = Dir::new();
    dir.write(
        ".claude/settings.json",
        "{\n  \"permissions\": {\n    \"allow\": [\n      \"Bash(cargo test:*)\"\n    ]\n  }\n}\n",
    );
    setup(&dir.options(Scope::Shared)).unwrap();
    let shared = parsed(&dir.read(".claude/settings.json"));
    assert_eq!(shared["hooks"]["Stop"][0]["hooks"][0]["command"], "claude-memory hook Stop");
    assert!(
        shared.get("enabledMcpjsonServers").is_none(),
        "each teammate approves the server for themselves"
    );
    assert_eq!(
        parsed(&dir.read(".claude/settings.local.json")),
        serde_json::json!({"enabledMcpjsonServers": ["claude-memory"]})
    );
    uninstall(&dir.options(Scope::Shared)).unwrap();
    assert_eq!(
        dir.read(".claude/settings.json"),
        "{\n  \"permissions\": {\n    \"allow\": [\n      \"Bash(cargo test:*)\"\n    ]\n  }\n}\n"
    );
    assert!(!dir.path(".claude/settings.local.json").exists() && !dir.path(".mcp.json").exists());
}

#[cfg(unix)]
#[test]
fn user_scope_writes_only_the_users_files_keeping_their_permissions() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = Dir::new();
    let home = dir.root.parent().unwrap().join("home");
    let claude_json = "{\n  \"numStartups\": 42,\n  \"theme\": \"dark\",\n  \"mcpServers\": {\n    \"context7\": {\n      \"type\": \"stdio\",\n      \"command\": \"npx\",\n      \"args\": [\n        \"-y\",\n        \"@upstash/context7-mcp\"\n      ],\n      \"env\": {}\n    }\n  },\n  \"projects\": {\n    \"/home/u/work\": {\n      \"allowedTools\": [],\n      \"mcpServers\": {},\n      \"hasTrustDialogAccepted\": true\n    }\n  },\n  \"oauthAccount\": {\n    \"emailAddress\": \"u@example.com\"\n  }\n}";
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join(".claude.json"), claude_json).unwrap();
    std::fs::set_permissions(home.join(".claude.json"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let files = ClaudeUserFiles::resolve(None, Some(home.clone())).unwrap();
    let options = SetupOptions {
        project: None,
        scope: Scope::User,
        user_files: Some(files),
        dry_run: false,
        program: Program::bare(),
    };

    let before = dir.snapshot();
    let report = setup(&options).unwrap();
    assert!(report.data_dir.is_none() && report.project.is_none());
    let settings = parsed(&std::fs::read_to_string(home.join(".claude/settings.json")).unwrap());
    assert_eq!(settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"], "claude-memory hook PreToolUse");
    assert!(settings.get("enabledMcpjsonServers").is_none(), "a user-scope server needs no approval");
    let global = std::fs::read_to_string(home.join(".claude.json")).unwrap();
    let global_json = parsed(&global);
    assert_eq!(global_json["mcpServers"]["claude-memory"]["args"], serde_json::json!(["mcp"]));
    assert_eq!(global_json["mcpServers"]["context7"], parsed(claude_json)["mcpServers"]["context7"]);
    assert_eq!(global_json["projects"], parsed(claude_json)["projects"]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home.join(".claude.json")), 0o600, "the account file stays private");
    assert_eq!(mode(&home.join(".claude.json.claude-memory.bak")), 0o600, "and so does its backup");

    // Only the home changed: the project directory is untouched.
    let project_files = |snap: Vec<(PathBuf, Vec<u8>)>| -> Vec<_> {
        snap.into_iter().filter(|(p, _)| p.starts_with("project")).collect()
    };
    assert_eq!(project_files(dir.snapshot()), project_files(before));

    assert!(!setup(&options).unwrap().changed());
    uninstall(&options).unwrap();
    assert_eq!(std::fs::read_to_string(home.join(".claude.json")).unwrap(), claude_json);
    assert!(!home.join(".claude/settings.json").exists(), "created by setup, now empty: removed");

    // A new global configuration file is created owner-only, like Claude Code's.
    std::fs::remove_file(home.join(".claude.json")).unwrap();
    setup(&options).unwrap();
    assert_eq!(mode(&home.join(".claude.json")), 0o600);
}

#[cfg(unix)]
#[test]
fn a_symlinked_settings_file_stays_a_link_and_its_target_is_edited() {
    let dir = Dir::new();
    let dotfiles = dir.root.parent().unwrap().join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::write(dotfiles.join("settings.local.json"), SETTINGS_LOCAL).unwrap();
    std::fs::create_dir_all(dir.path(".claude")).unwrap();
    std::os::unix::fs::symlink(dotfiles.join("settings.local.json"), dir.path(".claude/settings.local.json"))
        .unwrap();
    setup(&dir.options(Scope::Local)).unwrap();
    assert!(dir.path(".claude/settings.local.json").is_symlink());
    let target = std::fs::read_to_string(dotfiles.join("settings.local.json")).unwrap();
    assert!(target.contains("claude-memory hook Stop"));
    uninstall(&dir.options(Scope::Local)).unwrap();
    assert_eq!(std::fs::read_to_string(dotfiles.join("settings.local.json")).unwrap(), SETTINGS_LOCAL);

    // Emptied by uninstall, a link is kept (and its target emptied) rather than deleted.
    std::fs::write(dotfiles.join("settings.local.json"), "{}\n").unwrap();
    setup(&dir.options(Scope::Local)).unwrap();
    let report = uninstall(&dir.options(Scope::Local)).unwrap();
    assert_eq!(file(&report, &dir.path(".claude/settings.local.json")).action, FileAction::Updated);
    assert!(dir.path(".claude/settings.local.json").is_symlink());
    assert_eq!(std::fs::read_to_string(dotfiles.join("settings.local.json")).unwrap(), "{}\n");
}

#[test]
fn notes_say_when_the_users_settings_block_claude_memory() {
    let dir = Dir::new();
    dir.write(
        ".claude/settings.local.json",
        "{\n  \"disableAllHooks\": true,\n  \"disabledMcpjsonServers\": [\n    \"claude-memory\"\n  ]\n}\n",
    );
    let report = setup(&dir.options(Scope::Local)).unwrap();
    assert_eq!(report.notes.len(), 2, "{:?}", report.notes);
    assert!(report.notes[0].contains("disableAllHooks"));
    assert!(report.notes[1].contains("disabledMcpjsonServers"));
}

#[test]
fn local_and_shared_scopes_need_a_project() {
    let err = setup(&SetupOptions {
        project: None,
        scope: Scope::Local,
        user_files: None,
        dry_run: true,
        program: Program::bare(),
    });
    assert!(err.unwrap_err().to_string().contains("needs its directory"));
}

#[test]
fn a_binary_not_on_the_path_is_written_by_its_absolute_path_and_recognised_later() {
    let dir = Dir::new();
    let bin = dir.root.parent().unwrap().join("my tools/claude-memory");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::write(&bin, "").unwrap();
    // Nothing on this PATH is claude-memory.
    let program = Program::resolve_with(&bin, std::ffi::OsStr::new("/usr/bin:/bin"));
    assert_eq!(program, Program::at(&bin));
    let report = setup(&SetupOptions { program: program.clone(), ..dir.options(Scope::Local) }).unwrap();
    // Not installed (no `bin` folder): the install is the fix; installed, its folder on the PATH.
    assert!(
        report.notes.iter().any(|n| n.contains("not on your PATH") && n.ends_with(" install` installs it")),
        "{:?}",
        report.notes
    );
    let installed = dir.root.parent().unwrap().join("home/.local/bin/claude-memory");
    let other = Dir::new();
    let options = SetupOptions { program: Program::at(&installed), ..other.options(Scope::Local) };
    let note = format!("to run it by name, add {} to your PATH", installed.parent().unwrap().display());
    assert!(setup(&options).unwrap().notes.iter().any(|n| n.ends_with(&note)), "{note}");
    let settings = parsed(&dir.read(".claude/settings.local.json"));
    let command = settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"].as_str().unwrap();
    assert_eq!(command, format!("'{}' hook UserPromptSubmit", bin.display()));
    let mcp = parsed(&dir.read(".mcp.json"));
    assert_eq!(mcp["mcpServers"]["claude-memory"]["command"], bin.display().to_string());

    // Once it is on the PATH, setup replaces the path by the name, in place.
    let on_path = Program::resolve_with(&bin, bin.parent().unwrap().as_os_str());
    assert_eq!(on_path, Program::bare());
    setup(&SetupOptions { program: on_path, ..dir.options(Scope::Local) }).unwrap();
    let settings = parsed(&dir.read(".claude/settings.local.json"));
    let groups = settings["hooks"]["UserPromptSubmit"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{settings}");
    assert_eq!(groups[0]["hooks"].as_array().unwrap().len(), 1, "{settings}");
    assert_eq!(groups[0]["hooks"][0]["command"], "claude-memory hook UserPromptSubmit");

    // And uninstall finds entries written either way.
    setup(&SetupOptions { program, ..dir.options(Scope::Local) }).unwrap();
    uninstall(&dir.options(Scope::Local)).unwrap();
    assert!(
        !dir.path(".claude/settings.local.json").exists()
            || !dir.read(".claude/settings.local.json").contains("hook")
    );
}

/// A personal setup's files name this machine's path: kept out of git in
/// the clone's own exclusions (never the team's `.gitignore`), which an
/// uninstall takes back; a shared setup's files are the team's to commit.
#[test]
fn a_personal_setup_keeps_its_files_out_of_git_and_uninstall_takes_that_back() {
    let dir = Dir::new();
    dir.write(".git/info/exclude", "# git's own comment\n*.swp\n");
    let report = setup(&dir.options(Scope::Local)).unwrap();
    let exclude = dir.read(".git/info/exclude");
    assert!(exclude.starts_with("# git's own comment\n*.swp\n"), "{exclude}");
    assert!(exclude.contains("\n/.claude/settings.local.json\n/.mcp.json\n"), "{exclude}");
    assert!(report.notes.iter().any(|n| n.contains("kept out of git")), "{:?}", report.notes);
    setup(&dir.options(Scope::Local)).unwrap();
    assert_eq!(dir.read(".git/info/exclude"), exclude, "a second setup adds nothing");

    uninstall(&dir.options(Scope::Local)).unwrap();
    assert_eq!(dir.read(".git/info/exclude"), "# git's own comment\n*.swp\n");
    for leftover in [".mcp.json.claude-memory.bak", ".claude/settings.local.json.claude-memory.bak"] {
        assert!(!dir.path(leftover).exists(), "{leftover} left in the work tree");
    }

    setup(&dir.options(Scope::Shared)).unwrap();
    let exclude = dir.read(".git/info/exclude");
    assert!(exclude.contains("/.claude/settings.local.json") && !exclude.contains("/.mcp.json"), "{exclude}");
}

#[test]
fn with_the_plugin_enabled_setup_adds_no_second_copy_and_removes_an_earlier_one() {
    let dir = Dir::new();
    // An earlier setup wrote our hooks and server.
    setup(&dir.options(Scope::Local)).unwrap();
    assert!(dir.read(".claude/settings.local.json").contains("claude-memory hook"));
    // Then the user installed the plugin (Claude Code's `plugin install` writes this).
    let files = dir.user_files();
    std::fs::create_dir_all(files.settings.parent().unwrap()).unwrap();
    std::fs::write(&files.settings, r#"{"enabledPlugins": {"project-memory@project-memory": true}}"#)
        .unwrap();
    assert!(cm_claude_code::plugin_enabled(&files, Some(&dir.root)));

    let report = setup(&dir.options(Scope::Local)).unwrap();
    assert!(report.notes.iter().any(|n| n.contains("project-memory plugin")), "{:?}", report.notes);
    let settings = std::fs::read_to_string(dir.path(".claude/settings.local.json")).unwrap_or_default();
    assert!(!settings.contains("claude-memory hook"), "{settings}");
    let mcp = std::fs::read_to_string(dir.path(".mcp.json")).unwrap_or_default();
    assert!(!mcp.contains("claude-memory"), "{mcp}");
    assert!(dir.path(".claude-memory").is_dir(), "the data folder stays");

    // Disabled in the project: setup writes its own again.
    dir.write(
        ".claude/settings.local.json",
        r#"{"enabledPlugins": {"project-memory@project-memory": false}}"#,
    );
    assert!(!cm_claude_code::plugin_enabled(&files, Some(&dir.root)));
    setup(&dir.options(Scope::Local)).unwrap();
    assert!(dir.read(".claude/settings.local.json").contains("claude-memory hook"));
}

#[test]
fn the_plugin_registers_exactly_the_hooks_setup_does() {
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugin/project-memory");
    let hooks: Value =
        serde_json::from_str(&std::fs::read_to_string(plugin.join("hooks/hooks.json")).unwrap()).unwrap();
    let events = hooks["hooks"].as_object().unwrap();
    assert_eq!(events.len(), cm_claude_code::HOOKS.len());
    for spec in cm_claude_code::HOOKS {
        let group = &events[spec.event][0];
        assert_eq!(group["matcher"].as_str(), spec.matcher, "{}", spec.event);
        let hook = &group["hooks"][0];
        assert_eq!(hook["timeout"], spec.timeout_secs, "{}", spec.event);
        assert_eq!(
            hook.get("async").and_then(Value::as_bool).unwrap_or(false),
            spec.is_async,
            "{}",
            spec.event
        );
        assert_eq!(
            hook["command"],
            // The installed program straight from the shell Claude Code runs
            // the command in, the plugin's wrapper (which also looks outside
            // the PATH) only when that fails, without the shell's "not
            // found" in the transcript (the hook itself never writes there).
            format!(
                "claude-memory hook {0} 2>/dev/null || \"${{CLAUDE_PLUGIN_ROOT}}/bin/claude-memory-hook\" {0}",
                spec.event
            ),
            "{}",
            spec.event
        );
    }
    let mcp: Value =
        serde_json::from_str(&std::fs::read_to_string(plugin.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(mcp["mcpServers"]["claude-memory"]["alwaysLoad"], true);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(plugin.join(".claude-plugin/plugin.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["name"], cm_claude_code::PLUGIN_NAME);
}
