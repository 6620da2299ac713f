//! Several processes on one project: SIGKILL mid-burst and concurrent writers.
//!
//! The writer is this test binary re-executed with `CM_TEST_WRITER` set: the
//! `writer_child` test then saves memories in a loop and prints `ACK <id>`
//! after each save returns, exactly what a caller would have been told.

// The writer speaks to its parent on stdout.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use cm_core::{Config, NewMemory, Source};
use cm_engine::{Engine, Project};
use cm_store::Store;

const WRITER_ENV: &str = "CM_TEST_WRITER";

fn spawn_writer(project: &Path, tag: &str, count: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["writer_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, format!("{}|{tag}|{count}", project.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Not a test on its own: the body of the writer process.
#[tokio::test]
async fn writer_child() {
    let Ok(spec) = std::env::var(WRITER_ENV) else { return };
    let mut parts = spec.splitn(3, '|');
    let (dir, tag, count) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let count: usize = count.parse().unwrap();
    // libtest has printed "test writer_child ... " without a newline; end it
    // so every acknowledgement starts its own line.
    println!();
    let engine = Engine::new(Config::default(), None);
    let project = Project::at(Path::new(dir)).unwrap();
    for i in 0..count {
        let text = format!("burst {tag} note {i}: the service {tag}{i} listens on port {}", 1000 + i);
        match engine.save(&project, NewMemory::new(&text, Source::Cli).unwrap()).await {
            Ok(out) => println!("ACK {}", out.id.unwrap()),
            Err(e) => {
                println!("ERR {e}");
                std::process::exit(3);
            }
        }
    }
}

async fn open_and_check(db: &Path) -> Store {
    let store = Store::open(db).await.unwrap_or_else(|e| panic!("database unreadable after kill: {e}"));
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    store
}

#[tokio::test]
async fn sigkill_mid_burst_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::at(dir.path()).unwrap();
    let mut acked: Vec<i64> = Vec::new();
    for round in 0..20 {
        let mut child = spawn_writer(dir.path(), &format!("r{round}"), 100_000);
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // Kill after a varying number of acknowledged saves, mid-burst.
        let kill_after = 5 + (round * 7) % 40;
        let mut seen = 0;
        while seen < kill_after {
            let line = lines.next().expect("writer ended early").unwrap();
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.push(id.parse().unwrap());
                seen += 1;
            }
            assert!(!line.starts_with("ERR"), "{line}");
        }
        child.kill().unwrap(); // SIGKILL on Unix
        // Whatever was acknowledged before the kill landed also counts.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.push(id.parse().unwrap());
            }
        }
        child.wait().unwrap();
        let store = open_and_check(&project.db_path()).await;
        for id in &acked {
            store
                .get(*id)
                .await
                .unwrap_or_else(|e| panic!("acknowledged memory {id} lost in round {round}: {e}"));
        }
        store.close().await;
    }
    assert!(acked.len() >= 20 * 5);
}

#[tokio::test]
async fn two_processes_writing_one_project_never_see_a_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::at(dir.path()).unwrap();
    let per_writer = 150;
    let children: Vec<Child> =
        ["left", "right"].iter().map(|t| spawn_writer(dir.path(), t, per_writer)).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "writer failed:\n{stdout}\n{stderr}");
        assert!(!stdout.contains("locked") && !stderr.contains("locked"), "{stdout}\n{stderr}");
        assert_eq!(stdout.lines().filter(|l| l.starts_with("ACK ")).count(), per_writer);
    }
    let store = open_and_check(&project.db_path()).await;
    assert_eq!(store.stats().await.unwrap().total, 2 * per_writer as i64);
}
