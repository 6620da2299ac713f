//! Team memory through the running service: linking from the dashboard's
//! API, sharing, the background sync that brings a teammate's memory, and a
//! team database that goes away (hooks unaffected, the team shown offline).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cm_engine::team::LinkRequest;
use cm_engine::{Engine, Project};
use cm_team::TeamUrl;
use cm_testkit::postgres::PgServer;
use common::enc;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_links_shares_syncs_in_the_background_and_survives_the_team_going_away() {
    let pg = PgServer::start_private().unwrap();
    let db = pg.create_database("svc");
    let role = format!("{db}_team");
    let password = format!("pw-{role}");
    pg.psql("postgres", &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'")).unwrap();
    cm_team::migrate(&TeamUrl::parse(&pg.admin_url(&db)).unwrap()).await.unwrap();
    pg.psql("postgres", &format!("GRANT claude_memory_teams TO {role}")).unwrap();
    let url = pg.url(&role, &password, &db);

    let mut config = common::test_config();
    config.service.team_sync_secs = 5;
    let env = common::start(config, false).await;
    let root = env.project(&env.root().join("shop"));
    let q = format!("project={}", enc(&root));
    let id = env.client.save(&root, "Invoices are rendered by the pdf-worker service").await;

    // Not linked yet: sharing is refused with a clear error, nothing changes.
    let r = env.client.post(&format!("/api/memories/{id}/share?{q}"), &json!({})).await.expect(409);
    assert!(r.json()["error"].as_str().unwrap().contains("not linked"));
    assert!(env.client.get(&format!("/api/team?{q}")).await.expect(200).json()["team"].is_null());
    // A bad URL is a 400 with one line, and links nothing.
    env.client
        .post(&format!("/api/team/link?{q}"), &json!({ "url": "mysql://x@y/z", "name": "shop" }))
        .await
        .expect(400);

    let linked = env
        .client
        .post(&format!("/api/team/link?{q}"), &json!({ "url": url, "name": "shop", "author": "alice" }))
        .await
        .expect(200)
        .json();
    assert_eq!(linked["team"]["link"]["team_key"], "shop");
    assert!(!linked.to_string().contains(&password), "the password is never answered back");
    let shared =
        env.client.post(&format!("/api/memories/{id}/share?{q}"), &json!({})).await.expect(200).json();
    assert_eq!(shared["memory"]["shared"], true);

    // A teammate (another engine, another home) publishes a memory.
    let mate_dir = tempfile::tempdir().unwrap();
    let mate_root = mate_dir.path().join("shop");
    std::fs::create_dir_all(&mate_root).unwrap();
    let mate_project = Project::at(&mate_root).unwrap();
    mate_project.ensure_data_dir().unwrap();
    let mate = Engine::new(
        cm_core::Config::default(),
        Some(Arc::new(cm_testkit::HashEmbedder::new(64)) as Arc<dyn cm_core::Embedder>),
    );
    let team_url = TeamUrl::parse(&url).unwrap();
    mate.team_link(
        &mate_project,
        LinkRequest {
            url: team_url.clone(),
            team_key: "shop".to_owned(),
            author: "bob".to_owned(),
            origin: "bob@desk".to_owned(),
            share_types: vec![],
            share_min_confidence: 0.8,
        },
    )
    .await
    .unwrap();
    let theirs = mate
        .save(
            &mate_project,
            cm_core::NewMemory::new(
                "Refunds are approved in the back office, never by support",
                cm_core::Source::Cli,
            )
            .unwrap(),
        )
        .await
        .unwrap()
        .id
        .unwrap();
    mate.share(&mate_project, theirs, true).await.unwrap();
    mate.team_sync(&mate_project, team_url.password.as_deref()).await.unwrap();

    // Within one interval (5 s) the service has synced both ways, by itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mine = env.memories(&root).await;
        if mine.iter().any(|m| m.team_author.as_deref() == Some("bob")) {
            break;
        }
        assert!(Instant::now() < deadline, "bob's memory never arrived: {mine:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = env.client.get(&format!("/api/team?{q}")).await.expect(200).json();
    assert_eq!(status["offline"], false, "{status}");
    assert_eq!(status["team"]["counts"]["pending"], 0, "{status}");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM cm_team_memories").unwrap(), "2");

    // The team database goes away: hooks still answer from the local copy,
    // and the dashboard is told the team is offline.
    pg.stop();
    let synced = env.client.post(&format!("/api/team/sync?{q}"), &json!({})).await.expect(200).json();
    assert_eq!(synced["offline"], true, "{synced}");
    let started = Instant::now();
    let answer = env
        .client
        .hook(
            "UserPromptSubmit",
            &json!({ "session_id": "s1", "cwd": root, "prompt": "who approves refunds in the back office?" }),
        )
        .await
        .expect(200)
        .json();
    let context = answer["hookSpecificOutput"]["additionalContext"].as_str().unwrap_or_default().to_owned();
    assert!(context.contains("back office") && context.contains("from teammate bob"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the hook waited on the team: {:?}",
        started.elapsed()
    );

    // Unlink: the project's memories stay.
    env.client.request("DELETE", &format!("/api/team?{q}")).send().await.expect(200);
    assert!(env.client.get(&format!("/api/team?{q}")).await.expect(200).json()["team"].is_null());
    assert_eq!(env.memories(&root).await.len(), 2);
    env.server.shutdown().await.unwrap();
}
