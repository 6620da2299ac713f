//! Project discovery with the real filesystem watcher: projects appear and
//! disappear as their `.claude-memory/` does, the start-up scan catches what
//! happened while the engine was down, and skipped trees are never looked at.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cm_engine::Registry;
use common::{Client, eventually, start_in, test_config};

/// How long a filesystem change may take to reach the registry.
const NOTICE: Duration = Duration::from_secs(10);

async fn wait_for(client: &Client, what: &str, check: impl Fn(&[PathBuf]) -> bool) -> Vec<PathBuf> {
    let ok = eventually(NOTICE, || async { check(&client.projects().await) }).await;
    let now = client.projects().await;
    assert!(ok, "{what}: registered projects are {now:?}");
    now
}

fn mkdata(dir: &Path) {
    std::fs::create_dir_all(dir.join(".claude-memory")).unwrap();
}

fn under_node_modules(projects: &[PathBuf]) -> Vec<&PathBuf> {
    projects.iter().filter(|p| p.components().any(|c| c.as_os_str() == "node_modules")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_are_discovered_at_start_and_while_running() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let home = base.join("home");
    let roots = base.join("roots");
    std::fs::create_dir_all(&roots).unwrap();

    // While the engine was down: a project was made, two registered ones were
    // deleted (its data folder; the whole folder), noise appeared in skipped
    // trees, and a project outside the roots stayed as it was.
    mkdata(&roots.join("pre/sub"));
    mkdata(&roots.join("gone1"));
    mkdata(&roots.join("gone2"));
    mkdata(&roots.join("node_modules/x"));
    mkdata(&roots.join("pre/node_modules/y"));
    mkdata(&roots.join("pre/target"));
    let outside = base.join("outside");
    mkdata(&outside);
    let registry = Registry::new(home.join("projects.json"));
    for p in [roots.join("gone1"), roots.join("gone2"), outside.clone()] {
        registry.add(&p).unwrap();
    }
    std::fs::remove_dir(roots.join("gone1/.claude-memory")).unwrap();
    std::fs::remove_dir_all(roots.join("gone2")).unwrap();

    let mut config = test_config();
    config.projects.roots = vec![roots.clone()];
    let env = start_in(tmp, home, config, true).await;

    // The start-up scan is done when the service is up.
    let mut now = env.client.projects().await;
    now.sort();
    assert_eq!(now, [outside.clone(), roots.join("pre/sub")], "after the start-up scan");

    // Created while running, with a skipped tree made first: once the real
    // project shows up, the watcher has seen the noise too (one ordered queue).
    mkdata(&roots.join("node_modules/z"));
    mkdata(&roots.join("a/node_modules/w"));
    mkdata(&roots.join("pre/node_modules/v"));
    let ab = roots.join("a/b");
    mkdata(&ab);
    let now = wait_for(&env.client, "a/b/.claude-memory was created", |p| p.contains(&ab)).await;
    assert_eq!(under_node_modules(&now), Vec::<&PathBuf>::new());

    // Inside a directory that was already watched.
    let c = roots.join("pre/c");
    mkdata(&c);
    wait_for(&env.client, "pre/c/.claude-memory was created", |p| p.contains(&c)).await;

    // A whole tree moved in from elsewhere.
    let staging = base.join("staging/moved");
    mkdata(&staging.join("proj"));
    std::fs::rename(&staging, roots.join("moved")).unwrap();
    let moved = roots.join("moved/proj");
    wait_for(&env.client, "a tree with a project was moved in", |p| p.contains(&moved)).await;

    // Removed data folder: forgotten.
    std::fs::remove_dir_all(ab.join(".claude-memory")).unwrap();
    wait_for(&env.client, "a/b/.claude-memory was removed", |p| !p.contains(&ab)).await;
    // Removed project folder: forgotten.
    std::fs::remove_dir_all(&c).unwrap();
    wait_for(&env.client, "pre/c was removed", |p| !p.contains(&c)).await;

    // And back again.
    mkdata(&ab);
    let now = wait_for(&env.client, "a/b/.claude-memory came back", |p| p.contains(&ab)).await;
    assert_eq!(under_node_modules(&now), Vec::<&PathBuf>::new());
    assert!(now.contains(&outside), "a project outside the roots is never forgotten: {now:?}");
    assert!(!now.contains(&roots.join("pre/target")), "{now:?}");

    // A renamed project folder is found under its new name and forgotten under its old one.
    let renamed = roots.join("renamed");
    std::fs::rename(roots.join("a"), &renamed).unwrap();
    let new_ab = renamed.join("b");
    let now = wait_for(&env.client, "a was renamed", |p| p.contains(&new_ab) && !p.contains(&ab)).await;
    assert_eq!(under_node_modules(&now), Vec::<&PathBuf>::new());

    // With everything settled the watcher is idle: its own scans (which open
    // directories) must not wake it up again, forever.
    #[cfg(target_os = "linux")]
    {
        let before = watcher_cpu_ticks();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let used = watcher_cpu_ticks() - before;
        assert!(used < 20, "the idle watcher used {used} ticks of CPU in a second");
    }

    env.server.shutdown().await.unwrap();
}

/// CPU time (clock ticks) used so far by the watcher's threads: ours and notify's.
#[cfg(target_os = "linux")]
fn watcher_cpu_ticks() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = &stat[open + 1..close];
        if !(name.starts_with("claude-memory-w") || name.starts_with("notify-rs")) {
            continue;
        }
        // After the name: state, ppid, …; utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    total
}
