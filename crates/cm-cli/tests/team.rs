//! `claude-memory team …`, `share` and `unshare` as two teammates would run
//! them: the real binary, separate homes, a real PostgreSQL with pgvector.

use cm_testkit::cli::Sandbox;
use cm_testkit::postgres::PgServer;

const BIN: &str = env!("CARGO_BIN_EXE_claude-memory");

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path);
        }
    }
    found
}

#[test]
fn two_teammates_share_a_memory_through_the_cli() {
    let pg = PgServer::shared();
    let db = pg.create_database("cli");
    let role = format!("{db}_team");
    let password = format!("pw-{role}-x9");
    pg.psql("postgres", &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'")).unwrap();

    let alice = Sandbox::new(BIN);
    // The admin runs it anywhere, not only in a project.
    let out = alice.run_in(&alice.root, &["team", "migrate", &pg.admin_url(&db)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    pg.psql("postgres", &format!("GRANT claude_memory_teams TO {role}")).unwrap();

    // Bad input: one clear line, nothing linked.
    let err = alice.fails(&["team", "link", "mysql://a@b/c", "--name", "shop"]);
    assert!(err.contains("postgres://"), "{err}");
    alice.ok(&["save", "A memory before any team"]);
    let err = alice.fails(&["share", "1"]);
    assert!(err.contains("not linked"), "{err}");

    let status =
        alice.json(&["team", "link", &pg.url(&role, &password, &db), "--name", "shop", "--author", "alice"]);
    assert_eq!(status["team"]["link"]["team_key"], "shop");
    assert!(status["password_stored_in"].is_string(), "{status}");
    assert!(!status["team"]["link"]["url"].as_str().unwrap().contains(&password));
    // The password is nowhere in the project, and at most in the owner-only
    // fallback file (no keychain on this machine).
    assert!(files_containing(&alice.project, &password).is_empty());
    let holders = files_containing(&alice.root, &password);
    assert!(holders.len() <= 1, "{holders:?}");
    for file in &holders {
        use std::os::unix::fs::PermissionsExt;
        assert!(file.file_name().unwrap().to_string_lossy().starts_with("team-"), "{file:?}");
        assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let id = alice.json(&[
        "save",
        "Release builds are signed by the release workflow with minisign",
        "--type",
        "decision",
    ])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    alice.ok(&["share", &id]);
    let report = alice.json(&["team", "sync"]);
    assert_eq!(report["published"], 1, "{report}");

    let bob = Sandbox::new(BIN);
    let out = bob.run_with_input(
        &[
            "team",
            "link",
            &format!("postgres://{role}@127.0.0.1:{}/{db}", pg.port()),
            "--name",
            "shop",
            "--author",
            "bob",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = bob.json(&["team", "sync"]);
    assert_eq!(report["inserted"], 1, "{report}");
    let hits = bob.json(&["search", "how are release builds signed"]);
    let hit = &hits.as_array().unwrap()[0];
    assert!(hit["content"].as_str().unwrap().contains("minisign"), "{hit}");
    assert_eq!(hit["team_author"], "alice", "{hit}");
    let status = bob.ok(&["team", "status"]);
    assert!(status.contains("pulled from teammates 1"), "{status}");

    // Alice withdraws it; bob's copy goes at his next sync.
    alice.ok(&["unshare", &id]);
    alice.ok(&["team", "sync"]);
    assert_eq!(bob.json(&["team", "sync"])["deleted"], 1);
    assert!(bob.json(&["list"]).as_array().unwrap().is_empty());
    assert_eq!(alice.json(&["list"]).as_array().unwrap().len(), 2, "alice keeps her memories");

    // `doctor` reports the link from the project's records, and a failed sync with its fix.
    let team = team_check(&alice);
    assert_eq!(team["outcome"], "ok", "{team}");
    assert!(team["detail"].as_str().unwrap().contains("last sync just now"), "{team}");
    pg.psql("postgres", &format!("ALTER ROLE {role} PASSWORD 'rotated-{password}'")).unwrap();
    let err = alice.fails(&["team", "sync"]);
    assert!(err.contains("password"), "{err}");
    let team = team_check(&alice);
    assert_eq!(team["outcome"], "warn", "{team}");
    assert!(team["detail"].as_str().unwrap().contains("the last sync with postgres://"), "{team}");
    assert!(!team["detail"].as_str().unwrap().contains(&password), "{team}");
    assert!(team["fix"].as_str().unwrap().starts_with("claude-memory team sync"), "{team}");
    assert!(team_check(&bob)["outcome"] == "ok", "bob's own record is untouched");
}

/// The `…: team` check of `doctor --json` in the sandbox's project.
fn team_check(who: &Sandbox) -> serde_json::Value {
    let out = who.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let checks = report["checks"].as_array().unwrap();
    checks.iter().find(|c| c["name"].as_str().unwrap().ends_with(": team")).cloned().unwrap_or_else(|| {
        panic!("no team check: {report}");
    })
}
