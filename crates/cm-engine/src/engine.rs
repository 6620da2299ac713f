//! The engine handle.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cm_core::memory::unit_interval;
use cm_core::{
    Config, EmbedKind, Embedder, Memory, NewMemory, SaveAction, SaveOutcome, SearchMode, SearchRequest,
    SearchResults,
};
use cm_store::{
    Candidates, ImportReport, ListFilter, MemoryPatch, MinedCommit, MinedMemory, Space, Stats, Store,
    TranscriptProgress,
};
use tokio::sync::OnceCell;

use crate::export::{ExportFormat, ImportFormat, parse_jsonl, render};
use crate::project::Project;
use crate::redaction::Redact;
use crate::{Error, Result};

/// Most segments a project's full-text index keeps before a session's start
/// merges it (searches look each term up in every segment; about 25 µs a
/// segment for a five-word query). From one segment it takes some 50 saves
/// to pass this again.
const TEXT_INDEX_SEGMENTS: i64 = 8;

/// Pages written by one step of that merge (4 KiB each): one write
/// transaction of a few milliseconds.
const TEXT_MERGE_PAGES: i64 = 256;

/// A cheap-to-clone handle on everything the engine holds.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    /// Swapped when the user activates another model (see [`Engine::set_embedder`]).
    embedder: std::sync::RwLock<Option<Arc<dyn Embedder>>>,
    /// Each project's store, opened once. The map's lock is held only to
    /// find a project's cell, never while a database opens: a project whose
    /// database is slow or locked delays only its own callers.
    stores: std::sync::Mutex<HashMap<Project, Arc<OnceCell<Store>>>>,
    /// Accesses gathered by searches, written in batches (see [`Engine::search`]).
    accesses: crate::access::AccessLog,
    /// Where opened projects are recorded, if anywhere.
    registry: Option<crate::Registry>,
    /// What the engine does, for whoever listens.
    events: tokio::sync::broadcast::Sender<crate::EngineEvent>,
    /// While set, hooks inject nothing and saves are refused.
    paused: std::sync::atomic::AtomicBool,
    /// The LLM, if one is set up: it structures saves, extracts memories
    /// from transcripts and writes merged memories (see `llm.rs`).
    llm: std::sync::RwLock<Option<Arc<dyn cm_core::Llm>>>,
    /// Memories injected per (project, session) by this engine, known before
    /// their records reach the database (see `hooks.rs`).
    pub(crate) recent_injections: crate::hooks::RecentInjections,
}

impl Engine {
    /// An engine with `config`, embedding with `embedder` when given (without
    /// one, memories are saved without vectors and search is BM25-only).
    pub fn new(config: Config, embedder: Option<Arc<dyn Embedder>>) -> Engine {
        Engine::build(config, embedder, None)
    }

    fn build(
        config: Config,
        embedder: Option<Arc<dyn Embedder>>,
        registry: Option<crate::Registry>,
    ) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                config,
                embedder: std::sync::RwLock::new(embedder),
                stores: std::sync::Mutex::new(HashMap::new()),
                accesses: crate::access::AccessLog::default(),
                registry,
                events: tokio::sync::broadcast::channel(1024).0,
                paused: std::sync::atomic::AtomicBool::new(false),
                llm: std::sync::RwLock::new(None),
                recent_injections: crate::hooks::RecentInjections::default(),
            }),
        }
    }

    /// Like [`Engine::new`], recording every project it opens in `registry`.
    pub fn with_registry(
        config: Config,
        embedder: Option<Arc<dyn Embedder>>,
        registry: crate::Registry,
    ) -> Engine {
        Engine::build(config, embedder, Some(registry))
    }

    /// The registry of known projects, if this engine keeps one.
    pub fn registry(&self) -> Option<&crate::Registry> {
        self.inner.registry.as_ref()
    }

    /// Subscribes to engine events (saves, injections, jobs, progress).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<crate::EngineEvent> {
        self.inner.events.subscribe()
    }

    /// Publishes an event to every subscriber (none is fine).
    pub fn emit(&self, event: crate::EngineEvent) {
        let _ = self.inner.events.send(event);
    }

    /// Pauses or resumes memory: while paused, hooks inject nothing and
    /// saves are refused.
    pub fn set_paused(&self, paused: bool) {
        self.inner.paused.store(paused, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether memory is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets (or removes) the LLM, e.g. when the user changes the provider
    /// in the dashboard. `None`: offline mode (offline structuring,
    /// transcript heuristics, deterministic merges).
    pub fn set_llm(&self, llm: Option<Arc<dyn cm_core::Llm>>) {
        *self.inner.llm.write().unwrap_or_else(|e| e.into_inner()) = llm;
    }

    /// The LLM in use, if any.
    pub fn llm(&self) -> Option<Arc<dyn cm_core::Llm>> {
        self.inner.llm.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The thresholds in force: `config.toml`'s where set, else the active
    /// model's calibrated ones, else [`cm_core::Calibration::UNMEASURED`].
    pub fn calibration(&self) -> cm_core::Calibration {
        let model = self.embedder().and_then(|e| e.calibration()).unwrap_or(cm_core::Calibration::UNMEASURED);
        let config = self.config();
        cm_core::Calibration {
            relevance: config.hooks.min_similarity.unwrap_or(model.relevance),
            cluster: config.clusters.join_similarity.unwrap_or(model.cluster),
        }
    }

    pub(crate) fn recent_injections(&self) -> &crate::hooks::RecentInjections {
        &self.inner.recent_injections
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The embedder, if any.
    pub fn embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.inner.embedder.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the embedder (the user activated another model). Searches
    /// use the new model's vectors at once; memories it has not embedded
    /// yet are found by full text until [`Engine::reembed`] gives them one.
    pub fn set_embedder(&self, embedder: Option<Arc<dyn Embedder>>) {
        *self.inner.embedder.write().unwrap_or_else(|e| e.into_inner()) = embedder;
    }

    /// The store of an existing project (a folder holding `.claude-memory/`),
    /// opened on first use. Reads never create a project: for any other
    /// folder this is [`Error::NotAProject`].
    pub async fn store(&self, project: &Project) -> Result<Store> {
        self.open_store(project, false).await
    }

    /// The store of `project`, creating its data folder and database when
    /// needed: only explicit writes (a save, an import, recorded or mined
    /// memories) and setup make a project.
    pub async fn store_or_create(&self, project: &Project) -> Result<Store> {
        self.open_store(project, true).await
    }

    async fn open_store(&self, project: &Project, create: bool) -> Result<Store> {
        let mut known = self.lock_stores().get(project).cloned();
        if let Some(store) = known.as_ref().and_then(|cell| cell.get()) {
            if store.is_current() {
                return Ok(store.clone());
            }
            // Its database was deleted (or replaced) under the engine: what
            // is written to the open file now would be lost. Forget it; a
            // write makes the project anew, a read finds no project.
            tracing::warn!(project = %project.root().display(), "the project's database was deleted or replaced; reopening");
            let stale = store.clone();
            if let Some(cell) = known.take() {
                let mut stores = self.lock_stores();
                // Unless another call already replaced it.
                if stores.get(project).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                    stores.remove(project);
                }
            }
            tokio::spawn(async move { stale.close().await });
        }
        if !create && !project.data_dir().is_dir() {
            return Err(Error::NotAProject(project.root().to_owned()));
        }
        let cell = match known {
            Some(cell) => cell,
            None => self.lock_stores().entry(project.clone()).or_default().clone(),
        };
        // A project whose database cannot be opened leaves its cell empty,
        // so it is retried next time and never affects other projects.
        let store = cell
            .get_or_try_init(|| async {
                project.ensure_data_dir()?;
                let store = Store::open(&project.db_path()).await?;
                if let Some(registry) = &self.inner.registry
                    && let Err(e) = registry.add(project.root())
                {
                    tracing::warn!(error = %e, "could not record the project in the registry");
                }
                Ok::<_, Error>(store)
            })
            .await?;
        Ok(store.clone())
    }

    /// The store of `project` if it is a project: a read of any other
    /// folder finds nothing there, and creates nothing.
    async fn existing_store(&self, project: &Project) -> Result<Option<Store>> {
        match self.store(project).await {
            Ok(store) => Ok(Some(store)),
            Err(Error::NotAProject(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn lock_stores(&self) -> std::sync::MutexGuard<'_, HashMap<Project, Arc<OnceCell<Store>>>> {
        self.inner.stores.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes every open database (checkpointing their WAL files).
    pub async fn close(&self) {
        self.inner.accesses.flush().await;
        let stores = std::mem::take(&mut *self.lock_stores());
        for store in stores.values().filter_map(|cell| cell.get()) {
            store.close().await;
        }
    }

    /// The active model's vectors for `texts`, with that model's space in
    /// `store` (created if new). `Ok(None)`: no model is active. An error is
    /// the model's; write paths store their memories without a vector then
    /// ([`Engine::embed_or_skip`]), which [`Engine::reembed`] fills in later.
    pub(crate) async fn embed_batch(
        &self,
        store: &Store,
        texts: &[String],
        kind: EmbedKind,
    ) -> Result<Option<(Space, Vec<Vec<f32>>)>> {
        let Some(embedder) = self.embedder() else { return Ok(None) };
        let vectors = embed_with(embedder.as_ref(), texts, kind).await?;
        let space = store.ensure_space(embedder.model_id(), embedder.dimension()).await?;
        Ok(Some((space, vectors)))
    }

    /// [`Engine::embed_batch`] for a write path: a model that fails is
    /// logged and the memories are stored without vectors (found by full
    /// text until [`Engine::reembed`] gives them one); a save never fails
    /// because of its embedding.
    pub(crate) async fn embed_or_skip(
        &self,
        store: &Store,
        texts: &[String],
    ) -> Result<Option<(Space, Vec<Vec<f32>>)>> {
        match self.embed_batch(store, texts, EmbedKind::Passage).await {
            Err(Error::Embed(e)) => {
                tracing::warn!(error = %e, "embedding failed; storing without a vector");
                Ok(None)
            }
            other => other,
        }
    }

    /// One passage for a write path (see [`Engine::embed_or_skip`]).
    pub(crate) async fn embed_passage(
        &self,
        store: &Store,
        text: String,
    ) -> Result<Option<(Space, Vec<f32>)>> {
        Ok(self.embed_or_skip(store, &[text]).await?.and_then(|(space, mut v)| Some((space, v.pop()?))))
    }

    /// Saves a memory: redact secrets → dedupe → embed → insert row, FTS
    /// entry and vector in one transaction.
    #[tracing::instrument(skip_all, fields(project = %project.root().display()))]
    pub async fn save(&self, project: &Project, new: NewMemory) -> Result<SaveOutcome> {
        if self.is_paused() {
            return Err(Error::Paused);
        }
        let outcome = self.save_unobserved(project, new).await?;
        self.emit(crate::EngineEvent::Saved {
            project: project.root().to_owned(),
            id: outcome.id,
            action: outcome.action.as_str().to_owned(),
        });
        Ok(outcome)
    }

    async fn save_unobserved(&self, project: &Project, mut new: NewMemory) -> Result<SaveOutcome> {
        // Secrets go before anything else sees the note, the LLM included.
        let mut redacted = new.redact();
        // A note that was nothing but a secret says nothing once redacted.
        if cm_core::redact::only_secrets(&new.content) {
            let reason = Some("nothing is left of it once its secrets are redacted".to_owned());
            return Ok(SaveOutcome {
                id: None,
                action: SaveAction::Rejected,
                redacted,
                reason,
                embedded: false,
            });
        }
        // An explicit save makes the project (its LLM usage is counted there too).
        let store = self.store_or_create(project).await?;
        if let crate::structuring::Decision::Reject(reason) = self.structure_note(project, &mut new).await {
            return Ok(SaveOutcome {
                id: None,
                action: SaveAction::Rejected,
                redacted,
                reason: Some(reason),
                embedded: false,
            });
        }
        // And again over what the structurer wrote.
        redacted.extend(new.redact());
        redacted.sort();
        redacted.dedup();
        // Redaction may have emptied a note that was only a secret.
        NewMemory::new(&new.content, new.source)?;
        let cfg = &self.inner.config.save;
        if let Some(id) =
            store.find_duplicate(&new.content, cfg.dedupe_threshold, cfg.dedupe_candidates).await?
        {
            store.reinforce(id).await?;
            return Ok(SaveOutcome {
                id: Some(id),
                action: SaveAction::Updated,
                redacted,
                reason: Some(format!("near-duplicate of memory {id}")),
                embedded: store.get(id).await?.embedding_model.is_some(),
            });
        }
        let embedded = self.embed_passage(&store, embed_text(&new.content, new.summary.as_deref())).await?;
        let vector = embedded.as_ref().map(|(s, v)| (s, v.as_slice()));
        let (id, created) = store.insert(&new, vector, cfg.dedupe_threshold, cfg.dedupe_candidates).await?;
        // Consolidated memories are not clustered again.
        if created
            && new.source != cm_core::Source::Merge
            && let Some((space, v)) = vector
        {
            self.cluster_saved(project, id, space, v).await;
        }
        if created && new.source != cm_core::Source::Merge {
            self.supersede_older(&store, id, vector).await;
        }
        let reason = if !created {
            Some(format!("near-duplicate of memory {id}"))
        } else if new.tags.iter().any(|t| t == cm_core::text::QUARANTINE_TAG) {
            Some(QUARANTINED.to_owned())
        } else {
            None
        };
        Ok(SaveOutcome {
            id: Some(id),
            action: if created { SaveAction::Created } else { SaveAction::Updated },
            redacted,
            reason,
            embedded: created && vector.is_some(),
        })
    }

    /// Saves memories mined from a transcript like [`Engine::save`] (redacted,
    /// structured, validated, deduplicated, embedded) and, in the same transaction,
    /// advances the session's mining position from `progress.1` to
    /// `progress.0` and/or finishes job `finish_job` (see
    /// [`Store::save_mined`]). A memory that redaction empties or
    /// validation rejects is dropped, not an error. Returns
    /// [`MinedCommit::Stale`] when another worker mined these lines first.
    pub async fn save_mined(
        &self,
        project: &Project,
        memories: Vec<NewMemory>,
        progress: Option<(&TranscriptProgress, i64)>,
        finish_job: Option<i64>,
    ) -> Result<MinedCommit> {
        if self.is_paused() {
            return Err(Error::Paused);
        }
        let store = self.store_or_create(project).await?;
        let cfg = &self.inner.config.save;
        let mut ready = Vec::with_capacity(memories.len());
        for mut new in memories {
            new.redact();
            // Structured like any save (`[structure] transcript`); a note the
            // LLM rejects is dropped, its lines still count as analysed.
            if let crate::structuring::Decision::Reject(reason) = self.structure_note(project, &mut new).await
            {
                tracing::debug!(%reason, "a mined memory was rejected");
                continue;
            }
            new.redact();
            if NewMemory::new(&new.content, new.source).is_err() {
                continue;
            }
            // A near-duplicate is reinforced in the transaction: no vector needed.
            let vector = if store
                .find_duplicate(&new.content, cfg.dedupe_threshold, cfg.dedupe_candidates)
                .await?
                .is_some()
            {
                None
            } else {
                self.embed_passage(&store, embed_text(&new.content, new.summary.as_deref())).await?
            };
            ready.push(MinedMemory { memory: new, vector });
        }
        let commit = store
            .save_mined(&ready, cfg.dedupe_threshold, cfg.dedupe_candidates, progress, finish_job)
            .await?;
        if let MinedCommit::Saved(saved) = &commit {
            // Mined memories overtake older ones like saved ones. Their
            // vectors went into the transaction; the candidates come from
            // full text, which the shared-words rule needs anyway.
            for (id, _) in saved.iter().filter(|(_, created)| *created) {
                self.supersede_older(&store, *id, None).await;
            }
            for (id, created) in saved {
                self.emit(crate::EngineEvent::Saved {
                    project: project.root().to_owned(),
                    id: Some(*id),
                    action: if *created { SaveAction::Created } else { SaveAction::Updated }
                        .as_str()
                        .to_owned(),
                });
            }
        }
        Ok(commit)
    }

    /// Projects whose store is open in this engine.
    pub(crate) async fn open_projects(&self) -> Vec<Project> {
        self.lock_stores().iter().filter(|(_, cell)| cell.initialized()).map(|(p, _)| p.clone()).collect()
    }

    /// Records memories as they were made, for bulk ingestion of an existing
    /// record (a conversation, a transcript): each is redacted like any save
    /// and dated by its own `created_at` (unix milliseconds), the texts are
    /// embedded in batches, and nothing is deduplicated — every item stays
    /// addressable, even one whose text repeats an earlier item's. Each
    /// batch is written in one transaction. Outcomes are in input order.
    #[tracing::instrument(skip_all, fields(project = %project.root().display(), n = memories.len()))]
    pub async fn record(
        &self,
        project: &Project,
        mut memories: Vec<(NewMemory, i64)>,
    ) -> Result<Vec<SaveOutcome>> {
        /// Memories per transaction: large enough to amortise a model run,
        /// small enough that one transaction stays short.
        const BATCH: usize = 64;
        let mut redactions = Vec::with_capacity(memories.len());
        for (new, _) in &mut memories {
            redactions.push(new.redact());
            NewMemory::new(&new.content, new.source)?;
        }
        let store = self.store_or_create(project).await?;
        let mut outcomes = Vec::with_capacity(memories.len());
        for (chunk, redacted) in memories.chunks(BATCH).zip(redactions.chunks(BATCH)) {
            let texts: Vec<String> =
                chunk.iter().map(|(m, _)| embed_text(&m.content, m.summary.as_deref())).collect();
            let vectors = self.embed_or_skip(&store, &texts).await?;
            let vector_ref = vectors.as_ref().map(|(s, v)| (s, v.as_slice()));
            let ids = store.insert_record(chunk, vector_ref).await?;
            for (id, redacted) in ids.into_iter().zip(redacted) {
                outcomes.push(SaveOutcome {
                    id: Some(id),
                    action: SaveAction::Created,
                    redacted: redacted.clone(),
                    reason: None,
                    embedded: vectors.is_some(),
                });
            }
        }
        Ok(outcomes)
    }

    /// Searches a project. Without an embedder, or when embedding the query
    /// fails, the search is BM25-only and [`SearchResults::mode`] says so.
    #[tracing::instrument(skip_all, fields(project = %project.root().display()))]
    pub async fn search(&self, project: &Project, req: &SearchRequest) -> Result<SearchResults> {
        req.min_confidence.map(|c| unit_interval("min_confidence", c)).transpose()?;
        let Some(store) = self.existing_store(project).await? else {
            let mode = if req.mode == SearchMode::Bm25 || self.embedder().is_none() {
                SearchMode::Bm25
            } else {
                req.mode
            };
            return Ok(SearchResults { hits: Vec::new(), mode });
        };
        let started = std::time::Instant::now();
        let config = &self.inner.config.search;
        // The query is embedded on the model's thread and its nearest
        // neighbours found while SQLite finds the full-text candidates on
        // another connection: neither leg waits for the other. Once the
        // query is embedded, the full-text leg also works out its
        // candidates' similarities, beside the nearest-neighbour scan.
        let (embedded_tx, embedded_rx) = tokio::sync::oneshot::channel();
        let vector_leg = async {
            let query = match req.mode {
                SearchMode::Bm25 => None,
                _ => self.query_vector(&store, &req.query).await?,
            };
            let _ = embedded_tx.send(query.clone());
            let hits = match &query {
                Some((space, v)) => Some(store.vector_candidates(req, (space, v), config).await?),
                None => None,
            };
            Ok::<_, crate::Error>((query, hits))
        };
        let text_leg = async {
            let hits = store.text_candidates(req, config).await?;
            let similarities = match (req.mode, embedded_rx.await) {
                (SearchMode::Hybrid, Ok(Some((space, v)))) => {
                    let ids: Vec<i64> = hits.iter().map(|&(id, _)| id).collect();
                    Some(store.similarities(&space, &v, &ids).await?)
                }
                _ => None,
            };
            Ok::<_, crate::Error>((hits, similarities))
        };
        let (vector_leg, text_leg) = tokio::join!(vector_leg, text_leg);
        let ((query, vector_hits), (text_hits, text_similarities)) = (vector_leg?, text_leg?);
        let embedded = started.elapsed();
        let query_ref = query.as_ref().map(|(s, v)| (s, v.as_slice()));
        // Recording an access is a write transaction (milliseconds on a large
        // project, and a checkpoint now and then); the caller is waiting for
        // results, not for that. Accesses are gathered and written in one
        // transaction a moment later; `close` and `flush_accesses` write them now.
        let deferred = SearchRequest { touch: false, ..req.clone() };
        let found = Candidates { text: Some(text_hits), vector: vector_hits, text_similarities };
        let results = store.search_with_candidates(&deferred, query_ref, config, found).await?;
        tracing::debug!(
            embed_us = embedded.as_micros() as u64,
            store_us = (started.elapsed() - embedded).as_micros() as u64,
            hits = results.hits.len(),
            "search"
        );
        if req.touch {
            let ids: Vec<i64> = results.hits.iter().map(|h| h.memory.id).collect();
            self.inner.accesses.record(project, &store, &ids);
        }
        Ok(results)
    }

    /// Loads `project`'s in-memory vector index for the current model when
    /// its searches use one (see [`cm_store::Store::warm_index`]); returns how
    /// many vectors it holds (0 without a model, vectors or index).
    pub async fn warm_index(&self, project: &Project) -> Result<usize> {
        let Some(embedder) = self.embedder() else { return Ok(0) };
        let Some(store) = self.existing_store(project).await? else { return Ok(0) };
        let Some(space) = store.space(embedder.model_id()).await? else { return Ok(0) };
        Ok(store.warm_index(&space, &self.inner.config.search).await?)
    }

    /// Merges `project`'s full-text index into one segment when saves have
    /// left it in more than eight (see [`cm_store::Store::merge_text_index`]);
    /// returns whether it merged.
    pub async fn merge_text_index(&self, project: &Project) -> Result<bool> {
        let Some(store) = self.existing_store(project).await? else { return Ok(false) };
        Ok(store.merge_text_index(TEXT_INDEX_SEGMENTS, TEXT_MERGE_PAGES).await?)
    }

    /// Writes every access gathered by earlier searches.
    pub async fn flush_accesses(&self) {
        self.inner.accesses.flush().await;
    }

    /// The query's vector and the space it is searched in. The space is
    /// looked up, and its vector index brought up to date with the
    /// database, while the query is embedded: what saves and edits changed
    /// since the last search is read then, and the scan's own check of the
    /// change log after it finds nothing new unless a write came meanwhile.
    async fn query_vector(&self, store: &Store, text: &str) -> Result<Option<(Space, Vec<f32>)>> {
        let Some(embedder) = &self.embedder() else {
            return Ok(None);
        };
        let space = async {
            let space = store.space(embedder.model_id()).await?;
            if let Some(space) = &space {
                store.warm_index(space, &self.inner.config.search).await?;
            }
            Ok::<_, crate::Error>(space)
        };
        let texts = [text.to_owned()];
        let (space, vector) = tokio::join!(space, embed_with(embedder.as_ref(), &texts, EmbedKind::Query));
        // A project with no vectors from this model cannot use them yet.
        let Some(space) = space? else {
            return Ok(None);
        };
        match vector {
            Ok(mut v) => Ok(v.pop().map(|v| (space, v))),
            // A query the model cannot embed is still searched by full text.
            Err(Error::Embed(e)) => {
                tracing::warn!(error = %e, "embedding the query failed; searching by full text only");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One memory.
    pub async fn get(&self, project: &Project, id: i64) -> Result<Memory> {
        Ok(self.store(project).await?.get(id).await?)
    }

    /// Memories by filter, newest first.
    pub async fn list(
        &self,
        project: &Project,
        filter: &ListFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Memory>> {
        filter.min_confidence.map(|c| unit_interval("min_confidence", c)).transpose()?;
        match self.existing_store(project).await? {
            Some(store) => Ok(store.list(filter, limit, offset).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Feedback on a memory's usefulness.
    pub async fn validate(&self, project: &Project, id: i64, helpful: bool) -> Result<Memory> {
        Ok(self.store(project).await?.validate(id, helpful).await?)
    }

    /// Edits a memory; every field is redacted, and a memory whose content
    /// or summary changed is embedded again. New content given without its
    /// structure and summary is structured as a save would be (its type and
    /// domain stay as they are or as the edit sets them).
    pub async fn update(&self, project: &Project, id: i64, mut patch: MemoryPatch) -> Result<Memory> {
        patch.redact();
        let store = self.store(project).await?;
        let current = store.get(id).await?;
        // What the patch gives as it already is changes nothing: an edit
        // that changes nothing writes nothing (not even `updated_at`), and
        // unchanged text is not structured and embedded again.
        patch.content = patch.content.filter(|c| *c != current.content);
        patch.memory_type = patch.memory_type.filter(|t| *t != current.memory_type);
        patch.domain = patch.domain.filter(|d| *d != current.domain);
        patch.tags = patch.tags.filter(|t| *t != current.tags);
        patch.confidence = patch.confidence.filter(|c| *c != current.confidence);
        // Text edited into an instruction to the model waits for review,
        // like one saved so; edited into a plain note, it is reviewed (the
        // dashboard's quarantine banner asks for exactly that edit).
        if let Some(content) = &patch.content {
            let quarantine = cm_core::text::QUARANTINE_TAG;
            let instruction = cm_core::text::instruction_like(content).is_some();
            let mut tags = patch.tags.clone().unwrap_or_else(|| current.tags.clone());
            let tagged = tags.iter().any(|t| t == quarantine);
            if instruction && !tagged {
                tags.push(quarantine.to_owned());
                patch.tags = Some(tags);
            } else if !instruction && tagged && patch.tags.is_none() {
                tags.retain(|t| t != quarantine);
                patch.tags = Some(tags);
            }
        }
        if patch == MemoryPatch::default() {
            return Ok(current);
        }
        if let Some(content) = &patch.content
            && patch.structured.is_none()
            && patch.summary.is_none()
        {
            let mut new = NewMemory::new(content, current.source)?
                .with_type(patch.memory_type.unwrap_or(current.memory_type))
                .with_domain(patch.domain.clone().unwrap_or(current.domain));
            // An edit is asked for: a structurer's rejection does not undo it.
            let _ = self.structure_note(project, &mut new).await;
            patch.structured = new.structured;
            patch.summary = new.summary;
            patch.keywords = Some(new.keywords);
            // What the structurer wrote is stored too.
            patch.redact();
        }
        let memory = store.update(id, &patch).await?;
        if (patch.content.is_some() || patch.summary.is_some())
            && let Some((space, v)) =
                self.embed_passage(&store, embed_text(&memory.content, memory.summary.as_deref())).await?
        {
            store.set_vector(id, &space, &v).await?;
            return Ok(store.get(id).await?);
        }
        Ok(memory)
    }

    /// Archives (hides from search, keeps) or restores a memory.
    pub async fn set_archived(&self, project: &Project, id: i64, archived: bool) -> Result<Memory> {
        Ok(self.store(project).await?.set_archived(id, archived).await?)
    }

    /// Deletes a memory for good.
    pub async fn purge(&self, project: &Project, id: i64) -> Result<()> {
        Ok(self.store(project).await?.purge(id).await?)
    }

    /// Project statistics.
    pub async fn stats(&self, project: &Project) -> Result<Stats> {
        match self.existing_store(project).await? {
            Some(store) => Ok(store.stats().await?),
            None => Ok(Stats::default()),
        }
    }

    /// Every memory of the project, rendered in `format`.
    pub async fn export(&self, project: &Project, format: ExportFormat) -> Result<String> {
        let memories = self.store(project).await?.all().await?;
        Ok(render(&memories, format))
    }

    /// Imports a JSONL export. The whole file is parsed first: a bad line
    /// imports nothing. Contents are redacted like any save, and the new
    /// memories are embedded.
    pub async fn import_jsonl(&self, project: &Project, text: &str) -> Result<ImportReport> {
        self.import_jsonl_with_progress(project, text, |_, _| {}).await
    }

    /// [`Engine::import_jsonl`], reporting `(done, total)` lines after each
    /// batch. Each batch is its own transaction, so a large import holds the
    /// write lock for one batch at a time and saves, hooks and other imports
    /// interleave with it; an interrupted import is resumed by running it
    /// again (memories already present are skipped).
    pub async fn import_jsonl_with_progress(
        &self,
        project: &Project,
        text: &str,
        progress: impl FnMut(usize, usize),
    ) -> Result<ImportReport> {
        self.import(project, text, ImportFormat::Export, progress).await
    }

    /// Imports `text` in `format` (see [`ImportFormat`]), in batches as
    /// [`Engine::import_jsonl_with_progress`] does. Every memory crosses the
    /// same redaction boundary as a save; one already present (the same
    /// content) is skipped, so importing twice adds nothing.
    pub async fn import(
        &self,
        project: &Project,
        text: &str,
        format: ImportFormat,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<ImportReport> {
        let (memories, failed) = match format {
            ImportFormat::Export => (parse_jsonl(text)?, Vec::new()),
            ImportFormat::Jsonl => crate::export::parse_lenient_jsonl(text, cm_store::now_ms()),
        };
        self.write_imported(project, memories, failed, &mut progress).await
    }

    /// Imports the memories of claude-persistent-memory's `memory.db` (the
    /// original tool) at `path`, read-only: each with its type, domain,
    /// structure, keywords, confidence, counts and times; a memory already
    /// here (the same content) is skipped, so importing twice adds nothing.
    /// Its vectors are not read (another model's space): the active model
    /// embeds the memories anew.
    pub async fn import_original(&self, project: &Project, path: &std::path::Path) -> Result<ImportReport> {
        let rows = cm_store::read_original(path).await?;
        let (memories, failed) = crate::export::converted(
            rows.iter().map(|row| (row.id as usize, crate::export::original_memory(row))),
        );
        self.write_imported(project, memories, failed, &mut |_, _| {}).await
    }

    /// Imports claude-mem's observations and session lessons for this
    /// project from its database at `path`, read-only. claude-mem names a
    /// project by its git repository's folder, so that is what is looked
    /// for; importing twice adds nothing.
    pub async fn import_claude_mem(&self, project: &Project, path: &std::path::Path) -> Result<ImportReport> {
        let name = project.root().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let notes = cm_store::read_claude_mem(path, &name).await?;
        let (memories, failed) = crate::export::converted(notes.iter().map(|note| {
            let what = if note.kind == cm_store::CLAUDE_MEM_SUMMARY { "summary" } else { "observation" };
            let memory =
                crate::export::claude_mem_memory(note).map_err(|e| format!("{what} {}: {e}", note.id));
            (note.id as usize, memory)
        }));
        self.write_imported(project, memories, failed, &mut |_, _| {}).await
    }

    /// Makes the live memories tagged `origin` the memories of `statements`
    /// (each a line of a file Claude Code loads, such as `CLAUDE.md` or its
    /// auto memory): new statements are imported (tagged `origin`), those
    /// already there are skipped, and memories whose statement is gone are
    /// archived, so importing again follows the files' edits.
    pub async fn sync_statements(
        &self,
        project: &Project,
        origin: &str,
        statements: &[String],
    ) -> Result<ImportReport> {
        let store = self.store_or_create(project).await?;
        // Archived ones too: a statement that comes back is restored.
        let filter =
            ListFilter { tag: Some(origin.to_owned()), archived: Some(false), ..ListFilter::default() };
        let mut present = Vec::new();
        loop {
            let page = store.list(&filter, 500, present.len()).await?;
            let last = page.len() < 500;
            present.extend(page);
            if last {
                break;
            }
        }
        let now = cm_store::now_ms();
        let mut fresh = Vec::new();
        let mut restored = Vec::new();
        let mut failed = Vec::new();
        let mut kept = std::collections::HashSet::new();
        for (i, statement) in statements.iter().enumerate() {
            match crate::export::statement_memory(statement, origin, now) {
                Ok(mut m) => {
                    // Compared as stored: redacted (a statement holding a
                    // secret is stored without it).
                    m.redact();
                    m.content_hash = cm_core::text::content_hash(&m.content);
                    kept.insert(m.content_hash.clone());
                    match present.iter().find(|p| p.content_hash == m.content_hash) {
                        Some(p) if p.archived => restored.push(p.id),
                        Some(_) => {}
                        None => fresh.push(m),
                    }
                }
                Err(reason) => failed.push(cm_store::ImportFailure { line: i + 1, reason }),
            }
        }
        let mut archived = 0;
        for m in present.iter().filter(|m| !m.archived && !kept.contains(&m.content_hash)) {
            store.set_archived(m.id, true).await?;
            archived += 1;
        }
        for id in &restored {
            store.set_archived(*id, false).await?;
        }
        let refused = failed.len();
        let mut report = self.write_imported(project, fresh, failed, &mut |_, _| {}).await?;
        report.imported.extend(restored);
        report.skipped = statements.len() - report.imported.len() - refused;
        report.archived = archived;
        Ok(report)
    }

    /// Writes imported memories in batches (each its own transaction), after
    /// the redaction boundary, and embeds them; the report also lists the
    /// rows `failed` before (nothing of them is written).
    async fn write_imported(
        &self,
        project: &Project,
        mut memories: Vec<cm_core::Memory>,
        failed: Vec<cm_store::ImportFailure>,
        progress: &mut impl FnMut(usize, usize),
    ) -> Result<ImportReport> {
        /// Memories per transaction: a batch takes tens of milliseconds.
        const BATCH: usize = 500;
        for m in &mut memories {
            m.redact();
        }
        let store = self.store_or_create(project).await?;
        let mut report = ImportReport { failed, ..ImportReport::default() };
        let mut done = 0;
        for batch in memories.chunks(BATCH) {
            let part = store.import(batch).await?;
            self.embed_missing(&store, &part.imported).await?;
            report.imported.extend(part.imported);
            report.skipped += part.skipped;
            report.renumbered += part.renumbered;
            report.placed.extend(part.placed);
            done += batch.len();
            progress(done, memories.len());
        }
        // A superseded memory stays superseded: its link follows both ends
        // to their ids here (the newer one may come later in the file).
        let here: HashMap<i64, i64> = report.placed.iter().copied().collect();
        let new: HashSet<i64> = report.imported.iter().copied().collect();
        let links: Vec<(i64, i64)> = memories
            .iter()
            .filter_map(|m| Some((*here.get(&m.id)?, *here.get(&m.superseded_by?)?)))
            .filter(|(id, _)| new.contains(id))
            .collect();
        store.link_superseded(&links).await?;
        Ok(report)
    }

    /// Gives every memory of `project` a vector from the active model,
    /// reporting `(done, total)` after each batch. Each batch commits on its
    /// own, so an interrupted run loses nothing and the next run resumes
    /// where it stopped; vectors of other models are kept.
    pub async fn reembed(&self, project: &Project, mut progress: impl FnMut(u64, u64)) -> Result<u64> {
        const BATCH: usize = 32;
        let Some(embedder) = self.embedder() else {
            return Err(Error::Project("no embedding model is active".into()));
        };
        let store = self.store(project).await?;
        let space = store.ensure_space(embedder.model_id(), embedder.dimension()).await?;
        let total = store.count_missing_vectors(&space.model_id).await?;
        let mut done = 0u64;
        progress(done, total);
        let mut after = 0;
        loop {
            let batch = store.missing_vectors(&space, after, BATCH).await?;
            let Some(last) = batch.last() else { return Ok(done) };
            after = last.id;
            let texts: Vec<String> =
                batch.iter().map(|m| embed_text(&m.content, m.summary.as_deref())).collect();
            // Unlike a save, re-embedding is asked for: a failing model is an
            // error. The model this run started with fills its own space, even
            // if another is activated meanwhile.
            let vectors = embed_with(embedder.as_ref(), &texts, EmbedKind::Passage).await?;
            let pairs: Vec<(i64, &[f32])> =
                batch.iter().zip(&vectors).map(|(m, v)| (m.id, v.as_slice())).collect();
            store.set_vectors(&space, &pairs).await?;
            done += batch.len() as u64;
            progress(done.min(total), total);
        }
    }

    /// How many memories of `project` have no vector from the active model
    /// (what [`Engine::reembed`] would embed); 0 without a model.
    pub async fn missing_vectors(&self, project: &Project) -> Result<u64> {
        let Some(embedder) = self.embedder() else { return Ok(0) };
        Ok(self.store(project).await?.count_missing_vectors(embedder.model_id()).await?)
    }

    /// Embeds the given memories (used after an import).
    async fn embed_missing(&self, store: &Store, ids: &[i64]) -> Result<()> {
        if ids.is_empty() || self.embedder().is_none() {
            return Ok(());
        }
        let memories = store.texts(ids).await?;
        let texts: Vec<String> =
            memories.iter().map(|m| embed_text(&m.content, m.summary.as_deref())).collect();
        if let Some((space, vectors)) = self.embed_or_skip(store, &texts).await? {
            let pairs: Vec<(i64, &[f32])> =
                memories.iter().zip(&vectors).map(|(m, v)| (m.id, v.as_slice())).collect();
            store.set_vectors(&space, &pairs).await?;
        }
        Ok(())
    }
}

/// The one embedding loop: `texts` embedded as `kind` by `embedder`, in
/// batches, each checked to give one vector per text.
async fn embed_with(embedder: &dyn Embedder, texts: &[String], kind: EmbedKind) -> Result<Vec<Vec<f32>>> {
    /// Texts per model call: large enough to amortise a run, small enough
    /// that a caller's transaction stays short.
    const BATCH: usize = 32;
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(BATCH) {
        let got = embedder.embed(chunk, kind).await?;
        if got.len() != chunk.len() {
            return Err(Error::Embed(cm_core::EmbedError(format!(
                "asked for {} vectors, got {}",
                chunk.len(),
                got.len()
            ))));
        }
        vectors.extend(got);
    }
    Ok(vectors)
}

/// The one rule for what gets embedded for a memory, whichever path writes
/// it: its content, plus its summary when one was written and the content
/// does not already hold it.
pub(crate) fn embed_text(content: &str, summary: Option<&str>) -> String {
    match summary {
        Some(s) if !s.is_empty() && !content.contains(s) => format!("{content}\n{s}"),
        _ => content.to_owned(),
    }
}

/// What a save says of a memory it quarantined.
const QUARANTINED: &str = "quarantined for a person's review, since it reads like an instruction to the \
    model; it is not given back to Claude until then";
