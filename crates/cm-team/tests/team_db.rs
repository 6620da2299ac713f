//! The team database against a real PostgreSQL with pgvector: the schema,
//! row-level security between teams, idempotent publishing, last-writer-wins
//! edits with history, tombstones, summed feedback and ordered pulls.

use cm_team::{Published, TeamDb, TeamMemory, TeamUrl};
use cm_testkit::postgres::PgServer;

/// A fresh database with the schema and two team roles, `<db>_a` and `<db>_b`.
fn database(pg: &PgServer) -> (String, String, String) {
    let db = pg.create_database("team");
    let (a, b) = (format!("{db}_a"), format!("{db}_b"));
    for role in [&a, &b] {
        pg.psql("postgres", &format!("CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'")).unwrap();
    }
    (db, a, b)
}

async fn migrated(pg: &PgServer, db: &str, roles: &[&str]) {
    cm_team::migrate(&TeamUrl::parse(&pg.admin_url(db)).unwrap()).await.unwrap();
    for role in roles {
        pg.psql("postgres", &format!("GRANT claude_memory_teams TO {role}")).unwrap();
    }
}

async fn connect(pg: &PgServer, db: &str, role: &str) -> TeamDb {
    TeamDb::connect(&TeamUrl::parse(&pg.url(role, &format!("pw-{role}"), db)).unwrap()).await.unwrap()
}

fn memory(gid: &str, content: &str, updated_at: i64) -> TeamMemory {
    TeamMemory {
        gid: gid.to_owned(),
        content: content.to_owned(),
        structured: None,
        summary: None,
        memory_type: "decision".to_owned(),
        domain: "database".to_owned(),
        tags: vec!["db".to_owned()],
        keywords: vec![],
        confidence: 0.8,
        content_hash: format!("hash-{content}"),
        author: "alice".to_owned(),
        origin: "alice@laptop".to_owned(),
        created_at: 1_000,
        updated_at,
        archived: false,
        deleted: false,
        embedding: Some(("all-MiniLM-L6-v2".to_owned(), vec![0.05; 384])),
    }
}

#[tokio::test]
async fn a_connection_refuses_a_database_without_the_schema() {
    let pg = PgServer::shared();
    let (db, a, _) = database(pg);
    let err =
        TeamDb::connect(&TeamUrl::parse(&pg.url(&a, &format!("pw-{a}"), &db)).unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("team migrate"), "{err}");
}

#[tokio::test]
async fn a_wrong_password_and_a_stopped_server_are_clear_errors() {
    let pg = PgServer::shared();
    let (db, a, _) = database(pg);
    migrated(pg, &db, &[&a]).await;
    let err = TeamDb::connect(&TeamUrl::parse(&pg.url(&a, "wrong", &db)).unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
    let err = TeamDb::connect(&TeamUrl::parse("postgres://a:b@127.0.0.1:1/db").unwrap()).await.unwrap_err();
    assert!(matches!(err, cm_team::Error::Offline(_)), "{err:?}");
}

#[tokio::test]
async fn row_level_security_keeps_each_team_to_its_own_rows() {
    let pg = PgServer::shared();
    let (db, a, b) = database(pg);
    migrated(pg, &db, &[&a, &b]).await;
    let team_a = connect(pg, &db, &a).await;
    let project = team_a.project("github.com/acme/shop").await.unwrap();
    team_a.publish(project, &memory("0123456789abcdef0001", "we use Postgres", 2_000), 1).await.unwrap();

    // The same project key is a different project for team b, and team b
    // sees none of team a's rows, in any table, through SQL.
    let team_b = connect(pg, &db, &b).await;
    let b_project = team_b.project("github.com/acme/shop").await.unwrap();
    assert_ne!(b_project, project);
    assert!(team_b.pull(project, 0, "bob", 100).await.unwrap().is_empty());
    let url_b = pg.url(&b, &format!("pw-{b}"), &db);
    for table in ["cm_team_projects", "cm_team_memories", "cm_team_feedback"] {
        let out = std::process::Command::new(
            std::path::Path::new(&std::env::var("CLAUDE_MEMORY_TEST_PG_BIN").unwrap()).join("psql"),
        )
        .args(["-X", "-t", "-A", "-d", &url_b, "-c"])
        .arg(format!("SELECT count(*) FROM {table} WHERE team <> current_user"))
        .output()
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "0",
            "{table}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Writing a row into team a's project or as team a is refused.
    let mut forged = memory("0123456789abcdef0002", "forged", 3_000);
    forged.author = "mallory".to_owned();
    let err = team_b.publish(project, &forged, 0).await.unwrap_err();
    assert!(
        err.to_string().contains("row-level security") || err.to_string().contains("foreign key"),
        "{err}"
    );
    let admin = pg.psql(&db, "SELECT count(*) FROM cm_team_memories").unwrap();
    assert_eq!(admin, "1");
}

#[tokio::test]
async fn publishing_is_idempotent_and_edits_are_last_writer_wins_with_history() {
    let pg = PgServer::shared();
    let (db, a, _) = database(pg);
    migrated(pg, &db, &[&a]).await;
    let team = connect(pg, &db, &a).await;
    assert!(team.has_vectors());
    let project = team.project("shop").await.unwrap();
    let first = memory("0123456789abcdef0003", "we use MySQL", 2_000);
    assert_eq!(team.publish(project, &first, 0).await.unwrap(), Published::Inserted);
    assert_eq!(team.publish(project, &first, 0).await.unwrap(), Published::Unchanged);

    // The same text under another gid is adopted, not copied.
    let copy = memory("0123456789abcdef0004", "we use MySQL", 2_500);
    assert_eq!(team.publish(project, &copy, 0).await.unwrap(), Published::Adopted(first.gid.clone()));

    // A later edit wins; an older one arriving afterwards loses; both versions are kept.
    let mut newer = memory(&first.gid, "we moved to Postgres", 4_000);
    newer.author = "bob".to_owned();
    let older = memory(&first.gid, "we use MySQL 8", 3_000);
    assert_eq!(team.publish(project, &newer, 0).await.unwrap(), Published::Updated);
    assert_eq!(team.publish(project, &older, 0).await.unwrap(), Published::Lost);
    let pulled = team.pull(project, 0, "carol", 100).await.unwrap();
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0].memory.content, "we moved to Postgres");
    assert_eq!(pulled[0].memory.author, "bob");
    let history = pg.psql(&db, "SELECT content FROM cm_team_history ORDER BY updated_at").unwrap();
    assert_eq!(history, "we use MySQL\nwe use MySQL 8");

    // An archive and a tombstone are changes like any other, pulled in order.
    let cursor = pulled[0].change_seq;
    let mut archived = newer.clone();
    archived.archived = true;
    archived.updated_at = 5_000;
    assert_eq!(team.publish(project, &archived, 0).await.unwrap(), Published::Updated);
    let mut tombstone = archived.clone();
    tombstone.deleted = true;
    tombstone.content = "(deleted)".to_owned();
    tombstone.updated_at = 6_000;
    team.publish(project, &tombstone, 0).await.unwrap();
    let after = team.pull(project, cursor, "carol", 100).await.unwrap();
    assert_eq!(after.len(), 1, "one row, its latest change");
    assert!(after[0].memory.deleted);
    assert!(after[0].change_seq > cursor);
    assert!(team.pull(project, after[0].change_seq, "carol", 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn feedback_adds_up_across_authors_and_a_retry_counts_once() {
    let pg = PgServer::shared();
    let (db, a, _) = database(pg);
    migrated(pg, &db, &[&a]).await;
    let team = connect(pg, &db, &a).await;
    let project = team.project("shop").await.unwrap();
    let m = memory("0123456789abcdef0005", "run migrations with sqlx", 2_000);
    team.publish(project, &m, 2).await.unwrap();
    team.publish(project, &m, 2).await.unwrap();
    let mut bob = m.clone();
    bob.author = "bob".to_owned();
    let before = team.pull(project, 0, "carol", 10).await.unwrap()[0].change_seq;
    assert_eq!(team.publish(project, &bob, 3).await.unwrap(), Published::Unchanged);
    let pulled = team.pull(project, 0, "carol", 10).await.unwrap();
    assert_eq!(pulled[0].others_validations, 5, "2 from alice + 3 from bob, each counted once");
    assert!(pulled[0].change_seq > before, "new feedback is a change to pull");
    assert_eq!(team.pull(project, 0, "alice", 10).await.unwrap()[0].others_validations, 3);
}

#[tokio::test]
async fn vector_search_finds_the_nearest_live_memory() {
    let pg = PgServer::shared();
    let (db, a, _) = database(pg);
    migrated(pg, &db, &[&a]).await;
    let team = connect(pg, &db, &a).await;
    let project = team.project("shop").await.unwrap();
    for i in 0..20 {
        let mut m = memory(&format!("0123456789abcdef1{i:03}"), &format!("memory {i}"), 2_000);
        let mut v = vec![0.0f32; 384];
        v[i] = 1.0;
        m.embedding = Some(("all-MiniLM-L6-v2".to_owned(), v));
        team.publish(project, &m, 0).await.unwrap();
    }
    let mut q = vec![0.0f32; 384];
    q[7] = 1.0;
    let hits = team.search(project, &q, 3).await.unwrap();
    assert_eq!(hits[0].0, "0123456789abcdef1007");
    assert!(hits[0].1 < 1e-6);
}
