//! The engine handle.

use std::collections::HashMap;
use std::sync::Arc;

use cm_core::redact::redact;
use cm_core::{
    Config, EmbedKind, Embedder, Memory, NewMemory, SaveAction, SaveOutcome, SearchMode, SearchRequest,
    SearchResults,
};
use cm_store::{
    ImportReport, ListFilter, MemoryPatch, MinedCommit, MinedMemory, Space, Stats, Store, TranscriptProgress,
};
use tokio::sync::Mutex;

use crate::export::{ExportFormat, parse_jsonl, render};
use crate::project::Project;
use crate::{Error, Result};

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
    stores: Mutex<HashMap<Project, Store>>,
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
                stores: Mutex::new(HashMap::new()),
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

    /// The open store of `project`, opening (and creating) it on first use.
    /// A project whose database cannot be opened is not cached, so it is
    /// retried next time and never affects other projects.
    pub async fn store(&self, project: &Project) -> Result<Store> {
        let mut stores = self.inner.stores.lock().await;
        if let Some(store) = stores.get(project) {
            return Ok(store.clone());
        }
        project.ensure_data_dir()?;
        let store = Store::open(&project.db_path()).await?;
        if let Some(registry) = &self.inner.registry
            && let Err(e) = registry.add(project.root())
        {
            tracing::warn!(error = %e, "could not record the project in the registry");
        }
        stores.insert(project.clone(), store.clone());
        Ok(store)
    }

    /// Closes every open database (checkpointing their WAL files).
    pub async fn close(&self) {
        self.inner.accesses.flush().await;
        let stores = std::mem::take(&mut *self.inner.stores.lock().await);
        for store in stores.values() {
            store.close().await;
        }
    }

    /// Embeds one text, or explains why not. `None` means no embedder is configured.
    pub(crate) async fn embed_one(
        &self,
        text: &str,
        kind: EmbedKind,
    ) -> Option<(Arc<dyn Embedder>, Vec<f32>)> {
        let embedder = self.embedder()?;
        let texts = [text.to_owned()];
        match embedder.embed(&texts, kind).await {
            Ok(mut v) if v.len() == 1 => {
                let vector = v.pop()?;
                Some((embedder, vector))
            }
            Ok(v) => {
                tracing::warn!(got = v.len(), "embedder returned the wrong number of vectors");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "embedding failed; continuing without a vector");
                None
            }
        }
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
        let mut redacted = redact_memory(&mut new);
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
        redacted.extend(redact_memory(&mut new));
        redacted.sort();
        redacted.dedup();
        // Redaction may have emptied a note that was only a secret.
        NewMemory::new(&new.content, new.source)?;
        let store = self.store(project).await?;
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
        let embedded = self.embed_one(&embed_text(&new), EmbedKind::Passage).await;
        let space = match &embedded {
            Some((e, v)) => Some(store.ensure_space(e.model_id(), v.len()).await?),
            None => None,
        };
        let vector = space.as_ref().zip(embedded.as_ref()).map(|(s, (_, v))| (s, v.as_slice()));
        let (id, created) = store.insert(&new, vector, cfg.dedupe_threshold, cfg.dedupe_candidates).await?;
        // Consolidated memories are not clustered again.
        if created
            && new.source != cm_core::Source::Merge
            && let Some((space, v)) = vector
        {
            self.cluster_saved(project, id, space, v).await;
        }
        Ok(SaveOutcome {
            id: Some(id),
            action: if created { SaveAction::Created } else { SaveAction::Updated },
            redacted,
            reason: (!created).then(|| format!("near-duplicate of memory {id}")),
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
        let store = self.store(project).await?;
        let cfg = &self.inner.config.save;
        let mut ready = Vec::with_capacity(memories.len());
        for mut new in memories {
            redact_memory(&mut new);
            // Structured like any save (`[structure] transcript`); a note the
            // LLM rejects is dropped, its lines still count as analysed.
            if let crate::structuring::Decision::Reject(reason) = self.structure_note(project, &mut new).await
            {
                tracing::debug!(%reason, "a mined memory was rejected");
                continue;
            }
            redact_memory(&mut new);
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
                match self.embed_one(&embed_text(&new), EmbedKind::Passage).await {
                    Some((e, v)) => Some((store.ensure_space(e.model_id(), v.len()).await?, v)),
                    None => None,
                }
            };
            ready.push(MinedMemory { memory: new, vector });
        }
        let commit = store
            .save_mined(&ready, cfg.dedupe_threshold, cfg.dedupe_candidates, progress, finish_job)
            .await?;
        if let MinedCommit::Saved(saved) = &commit {
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
        self.inner.stores.lock().await.keys().cloned().collect()
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
        /// Texts per embedding call: large enough to amortise a model run,
        /// small enough that one transaction stays short.
        const BATCH: usize = 64;
        let store = self.store(project).await?;
        let mut outcomes = Vec::with_capacity(memories.len());
        let mut redactions = Vec::with_capacity(memories.len());
        for (new, _) in &mut memories {
            redactions.push(redact_memory(new));
            NewMemory::new(&new.content, new.source)?;
        }
        for (chunk, redacted) in memories.chunks(BATCH).zip(redactions.chunks(BATCH)) {
            let vectors = match &self.embedder() {
                Some(embedder) => {
                    let texts: Vec<String> = chunk.iter().map(|(m, _)| embed_text(m)).collect();
                    match embedder.embed(&texts, EmbedKind::Passage).await {
                        Ok(v) if v.len() == texts.len() && !v.is_empty() => {
                            let space = store.ensure_space(embedder.model_id(), v[0].len()).await?;
                            Some((space, v))
                        }
                        Ok(v) => {
                            tracing::warn!(got = v.len(), want = texts.len(), "wrong number of vectors");
                            None
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "embedding failed; recording without vectors");
                            None
                        }
                    }
                }
                None => None,
            };
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
        let store = self.store(project).await?;
        let started = std::time::Instant::now();
        let config = &self.inner.config.search;
        // The query is embedded on the model's thread while SQLite finds the
        // full-text candidates on its own: neither waits for the other.
        let embed = async {
            match req.mode {
                SearchMode::Bm25 => Ok(None),
                _ => self.query_vector(&store, &req.query).await,
            }
        };
        let (query, text_hits) = tokio::join!(embed, store.text_candidates(req, config));
        let (query, text_hits) = (query?, text_hits?);
        let embedded = started.elapsed();
        let query_ref = query.as_ref().map(|(s, v)| (s, v.as_slice()));
        // Recording an access is a write transaction (milliseconds on a large
        // project, and a checkpoint now and then); the caller is waiting for
        // results, not for that. Accesses are gathered and written in one
        // transaction a moment later; `close` and `flush_accesses` write them now.
        let deferred = SearchRequest { touch: false, ..req.clone() };
        let results = store.search_with_text(&deferred, query_ref, config, Some(text_hits)).await?;
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

    /// Writes every access gathered by earlier searches.
    pub async fn flush_accesses(&self) {
        self.inner.accesses.flush().await;
    }

    async fn query_vector(&self, store: &Store, text: &str) -> Result<Option<(Space, Vec<f32>)>> {
        let Some(embedder) = &self.embedder() else {
            return Ok(None);
        };
        // A project with no vectors from this model cannot use them yet.
        let Some(space) = store.space(embedder.model_id()).await? else {
            return Ok(None);
        };
        Ok(self.embed_one(text, EmbedKind::Query).await.map(|(_, v)| (space, v)))
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
        Ok(self.store(project).await?.list(filter, limit, offset).await?)
    }

    /// Feedback on a memory's usefulness.
    pub async fn validate(&self, project: &Project, id: i64, helpful: bool) -> Result<Memory> {
        Ok(self.store(project).await?.validate(id, helpful).await?)
    }

    /// Edits a memory; new content is redacted and re-embedded.
    pub async fn update(&self, project: &Project, id: i64, mut patch: MemoryPatch) -> Result<Memory> {
        if let Some(content) = &patch.content {
            patch.content = Some(redact(content).text);
        }
        for field in [&mut patch.structured, &mut patch.summary].into_iter().flatten() {
            *field = redact(field).text;
        }
        let store = self.store(project).await?;
        let memory = store.update(id, &patch).await?;
        if patch.content.is_some()
            && let Some((embedder, v)) = self.embed_one(&memory.content, EmbedKind::Passage).await
        {
            let space = store.ensure_space(embedder.model_id(), v.len()).await?;
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
        Ok(self.store(project).await?.stats().await?)
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
        let mut memories = parse_jsonl(text)?;
        for m in &mut memories {
            m.content = redact(&m.content).text;
            for field in [&mut m.structured, &mut m.summary].into_iter().flatten() {
                *field = redact(field).text;
            }
        }
        let store = self.store(project).await?;
        let report = store.import(&memories).await?;
        self.embed_missing(&store, &report.imported).await?;
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
        let total = store.count_missing_vectors(&space).await?;
        let mut done = 0u64;
        progress(done, total);
        loop {
            let batch = store.missing_vectors(&space, BATCH).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let texts: Vec<String> = batch.iter().map(|(_, content)| content.clone()).collect();
            let vectors = embedder.embed(&texts, EmbedKind::Passage).await?;
            if vectors.len() != batch.len() {
                return Err(Error::Embed(cm_core::EmbedError(format!(
                    "asked for {} vectors, got {}",
                    batch.len(),
                    vectors.len()
                ))));
            }
            for ((id, _), vector) in batch.iter().zip(&vectors) {
                store.set_vector(*id, &space, vector).await?;
            }
            done += batch.len() as u64;
            progress(done.min(total), total);
        }
    }

    /// How many memories of `project` have no vector from the active model
    /// (what [`Engine::reembed`] would embed); 0 without a model.
    pub async fn missing_vectors(&self, project: &Project) -> Result<u64> {
        let Some(embedder) = self.embedder() else { return Ok(0) };
        let store = self.store(project).await?;
        match store.space(embedder.model_id()).await? {
            Some(space) => Ok(store.count_missing_vectors(&space).await?),
            None => Ok(store.stats().await.map(|s| (s.total + s.archived) as u64)?),
        }
    }

    /// Embeds the given memories (used after an import).
    async fn embed_missing(&self, store: &Store, ids: &[i64]) -> Result<()> {
        let Some(embedder) = self.embedder() else {
            return Ok(());
        };
        if ids.is_empty() {
            return Ok(());
        }
        let space = store.ensure_space(embedder.model_id(), embedder.dimension()).await?;
        for chunk in ids.chunks(32) {
            let mut texts = Vec::with_capacity(chunk.len());
            for id in chunk {
                texts.push(store.get(*id).await?.content);
            }
            let vectors = match embedder.embed(&texts, EmbedKind::Passage).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "embedding imported memories failed; they stay BM25-only");
                    return Ok(());
                }
            };
            for (id, v) in chunk.iter().zip(vectors) {
                store.set_vector(*id, &space, &v).await?;
            }
        }
        Ok(())
    }
}

/// Redacts every free-text field of a save; returns the kinds found.
fn redact_memory(new: &mut NewMemory) -> Vec<String> {
    let mut kinds = Vec::new();
    let r = redact(&new.content);
    kinds.extend(r.kinds.iter().map(|k| (*k).to_owned()));
    new.content = r.text;
    for field in [&mut new.structured, &mut new.summary].into_iter().flatten() {
        let r = redact(field);
        kinds.extend(r.kinds.iter().map(|k| (*k).to_owned()));
        *field = r.text;
    }
    new.tags = new.tags.iter().map(|t| redact(t).text).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// What gets embedded for a memory: its content, plus its summary when the
/// structurer wrote one.
fn embed_text(new: &NewMemory) -> String {
    match &new.summary {
        Some(s) if !s.is_empty() && !new.content.contains(s.as_str()) => format!("{}\n{}", new.content, s),
        _ => new.content.clone(),
    }
}
