//! Clustering on save, merging a mature cluster and unmerging it exactly.

use std::sync::Arc;

use cm_core::{Config, Domain, MemoryType, NewMemory, Source};
use cm_engine::{Engine, Project};
use cm_testkit::HashEmbedder;

fn setup() -> (Engine, Project, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let project = Project::at(dir.path()).unwrap();
    let mut config = Config::default();
    // Structuring would rewrite nothing here, but keep the notes as written.
    config.structure.cli = false;
    let engine = Engine::new(config, Some(Arc::new(HashEmbedder::new(64))));
    (engine, project, dir)
}

async fn save(engine: &Engine, project: &Project, text: &str, domain: &str) -> i64 {
    let new = NewMemory::new(text, Source::Cli)
        .unwrap()
        .with_domain(Domain::parse(domain).unwrap())
        .with_type(MemoryType::Pattern)
        .with_confidence(0.8)
        .unwrap();
    engine.save(project, new).await.unwrap().id.unwrap()
}

const MIGRATIONS: [&str; 5] = [
    "sqlx migrations run before the server starts in every environment",
    "run sqlx migrations before the server starts on staging",
    "sqlx migrations must run before the server starts in production",
    "before the server starts, sqlx migrations run automatically",
    "sqlx migrations run before the server starts, even in tests",
];

#[tokio::test]
async fn similar_memories_cluster_by_domain_and_mature() {
    let (engine, project, _dir) = setup();
    let mut ids = Vec::new();
    for text in MIGRATIONS {
        ids.push(save(&engine, &project, text, "database").await);
    }
    let other =
        save(&engine, &project, "the pricing page renders purple buttons with rounded corners", "frontend")
            .await;
    // The same words in another domain never join the database cluster.
    let twin =
        save(&engine, &project, "sqlx migrations run before the server starts on the CI runners", "devops")
            .await;

    let store = engine.store(&project).await.unwrap();
    let cluster_of = |id: i64| {
        let store = store.clone();
        async move { store.get(id).await.unwrap().cluster_id.unwrap() }
    };
    let c = cluster_of(ids[0]).await;
    for id in &ids {
        assert_eq!(cluster_of(*id).await, c, "memory {id} joined the migrations cluster");
    }
    assert_ne!(cluster_of(other).await, c);
    assert_ne!(cluster_of(twin).await, c);
    let clusters = store.clusters().await.unwrap();
    let migrations = clusters.iter().find(|x| x.id == c).unwrap();
    assert_eq!((migrations.member_count, migrations.status.as_str()), (5, "mature"));
}

#[tokio::test]
async fn merge_then_unmerge_round_trips_with_nothing_lost() {
    let (engine, project, _dir) = setup();
    let mut ids = Vec::new();
    for text in MIGRATIONS {
        ids.push(save(&engine, &project, text, "database").await);
    }
    let store = engine.store(&project).await.unwrap();
    let cluster = store.get(ids[0]).await.unwrap().cluster_id.unwrap();
    let before: Vec<_> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(store.get(*id).await.unwrap());
        }
        v
    };

    let merged = engine.merge_cluster(&project, cluster).await.unwrap();
    let m = store.get(merged).await.unwrap();
    assert_eq!((m.memory_type, m.source, m.confidence), (MemoryType::Skill, Source::Merge, 0.9));
    for text in MIGRATIONS {
        assert!(m.content.contains(text), "the union keeps {text:?}: {}", m.content);
    }
    for id in &ids {
        let source = store.get(*id).await.unwrap();
        assert!(source.archived && source.merged_into == Some(merged), "source {id} archived and linked");
    }
    let hits =
        engine.search(&project, &cm_core::SearchRequest::new("sqlx migrations server", 10)).await.unwrap();
    assert_eq!(
        hits.hits.iter().map(|h| h.memory.id).collect::<Vec<_>>(),
        vec![merged],
        "only the skill is live"
    );
    assert!(engine.merge_cluster(&project, cluster).await.is_err(), "a merged cluster cannot merge again");

    let restored = engine.unmerge_cluster(&project, cluster).await.unwrap();
    assert_eq!(restored, ids);
    for (id, was) in ids.iter().zip(&before) {
        assert_eq!(&store.get(*id).await.unwrap(), was, "memory {id} is exactly as before the merge");
    }
    assert!(store.get(merged).await.is_err(), "the consolidated memory is gone");
    let status = store.clusters().await.unwrap().into_iter().find(|x| x.id == cluster).unwrap().status;
    assert_eq!(status, "mature");
}

/// A hashing embedder that reports a calibration, as a catalogue model does.
#[derive(Debug)]
struct Calibrated(HashEmbedder, cm_core::Calibration);

impl cm_core::Embedder for Calibrated {
    fn model_id(&self) -> &str {
        self.0.model_id()
    }
    fn dimension(&self) -> usize {
        self.0.dimension()
    }
    fn embed<'a>(&'a self, texts: &'a [String], kind: cm_core::EmbedKind) -> cm_core::EmbedFuture<'a> {
        self.0.embed(texts, kind)
    }
    fn calibration(&self) -> Option<cm_core::Calibration> {
        Some(self.1)
    }
}

#[tokio::test]
async fn the_models_calibration_decides_clustering_unless_config_sets_it() {
    let calibration = cm_core::Calibration { relevance: 0.2, cluster: 0.999 };
    let run = async |join_similarity: Option<f64>| {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::at(dir.path()).unwrap();
        let mut config = Config::default();
        config.structure.cli = false;
        config.clusters.join_similarity = join_similarity;
        let embedder = Calibrated(HashEmbedder::new(64), calibration);
        let engine = Engine::new(config, Some(Arc::new(embedder)));
        assert_eq!(engine.calibration().relevance, 0.2);
        let a = save(&engine, &project, MIGRATIONS[0], "database").await;
        let b = save(&engine, &project, MIGRATIONS[1], "database").await;
        let store = engine.store(&project).await.unwrap();
        let same = store.get(a).await.unwrap().cluster_id == store.get(b).await.unwrap().cluster_id;
        (engine.calibration().cluster, same)
    };
    // The model's 0.999: two different sentences stay apart.
    assert_eq!(run(None).await, (0.999, false));
    // config.toml's value wins over the model's.
    assert_eq!(run(Some(0.3)).await, (0.3, true));
    // A model without a calibration gets the former fixed values.
    let engine = Engine::new(Config::default(), Some(Arc::new(HashEmbedder::new(8))));
    assert_eq!(engine.calibration(), cm_core::Calibration::UNMEASURED);
}
