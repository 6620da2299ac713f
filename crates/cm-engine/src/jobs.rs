//! The background job worker: mines the transcripts and compact summaries
//! that hooks queued (hooks only ever enqueue; the work happens here).
//!
//! A transcript is read from the session's saved position; every batch of
//! lines is mined and its memories saved in the same transaction that moves
//! the position past those lines, so across crashes and restarts no line is
//! lost and none is analysed twice. A failed attempt is retried with
//! exponential backoff; after [`MAX_ATTEMPTS`] the job fails for good with
//! its reason.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use cm_store::{Job, JobKind, JobRetry, MinedCommit, TranscriptProgress, now_ms};
use serde::Serialize;

use crate::transcript::Turn;
use crate::transcript::parse;
use crate::{Engine, EngineEvent, Error, Project, Result, miner};

/// Attempts before a job fails for good.
pub const MAX_ATTEMPTS: i64 = 5;
/// Delay before the first retry; each further retry waits twice as long.
pub const BACKOFF_BASE_MS: i64 = 30_000;
/// Longest delay between retries.
pub const BACKOFF_MAX_MS: i64 = 3_600_000;
/// A job `running` for longer than this was left by a worker that died; it
/// is taken again.
pub const STALE_AFTER_MS: i64 = 15 * 60_000;
/// Most jobs one [`Engine::run_jobs_once`] runs, so one busy project cannot
/// keep the worker from the others.
const JOBS_PER_RUN: usize = 32;
/// Lines mined and committed together.
const LINES_PER_BATCH: u64 = 1_000;
/// Bytes read at a time; doubled while a single line is longer.
const READ_CHUNK: usize = 4 << 20;
/// Longest line read whole; a longer one (a huge pasted image, say) is
/// skipped as invalid.
const MAX_LINE: usize = 64 << 20;

/// What one run of the job worker did in a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobsReport {
    /// Jobs taken.
    pub claimed: usize,
    /// Jobs finished.
    pub done: usize,
    /// Jobs that failed and will be retried.
    pub retried: usize,
    /// Jobs that failed for good.
    pub failed: usize,
    /// Memories created.
    pub created: usize,
    /// Existing memories reinforced by a mined near-duplicate.
    pub reinforced: usize,
}

/// What mining one transcript (or summary) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MineReport {
    /// Lines read.
    pub lines: u64,
    /// Lines that were not JSON objects.
    pub invalid_lines: u64,
    /// Batches committed.
    pub batches: usize,
    /// Memories created.
    pub created: usize,
    /// Existing memories reinforced.
    pub reinforced: usize,
    /// The session's position afterwards (lines, bytes).
    pub position: (i64, i64),
}

impl MineReport {
    fn count(&mut self, commit: &MinedCommit) {
        if let MinedCommit::Saved(saved) = commit {
            self.created += saved.iter().filter(|(_, c)| *c).count();
            self.reinforced += saved.iter().filter(|(_, c)| !*c).count();
        }
    }
}

/// The delay before retry number `attempts` (1 after the first failure).
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = (attempts - 1).clamp(0, 20) as u32;
    BACKOFF_BASE_MS.saturating_mul(1 << exp).min(BACKOFF_MAX_MS)
}

/// A running background job worker; [`JobWorker::stop`] ends it.
#[derive(Debug)]
pub struct JobWorker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl JobWorker {
    /// Stops the worker and waits for it. A job cut short keeps everything it
    /// committed; the rest is done by a later run.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Engine {
    /// Runs the jobs of `project` that are due now. See [`Engine::run_jobs_at`].
    pub async fn run_jobs_once(&self, project: &Project) -> Result<JobsReport> {
        self.run_jobs_at(project, now_ms()).await
    }

    /// Runs the jobs of `project` due at `now` (unix ms): each is claimed
    /// (`running`, one more attempt), done, and finished, or on failure
    /// queued again after an exponential backoff, or failed for good after
    /// [`MAX_ATTEMPTS`]. Emits [`EngineEvent::Job`] at every step. While
    /// memory is paused nothing runs.
    pub async fn run_jobs_at(&self, project: &Project, now: i64) -> Result<JobsReport> {
        let mut report = JobsReport::default();
        if self.is_paused() {
            return Ok(report);
        }
        let store = self.store(project).await?;
        while report.claimed < JOBS_PER_RUN {
            let Some(job) = store.claim_job(now, now - STALE_AFTER_MS).await? else { break };
            report.claimed += 1;
            self.emit_job(project, &job, "running", None);
            match self.run_job(project, &job).await {
                Ok(mined) => {
                    report.done += 1;
                    report.created += mined.created;
                    report.reinforced += mined.reinforced;
                    let note = format!("{} created, {} reinforced", mined.created, mined.reinforced);
                    self.emit_job(project, &job, "done", Some(note));
                }
                Err(e) => {
                    let reason = e.to_string();
                    tracing::warn!(job = job.id, attempts = job.attempts, error = %reason, "job failed");
                    // Trying again cannot bring back a transcript that is not there
                    // (`claude mcp list` ends a session that never wrote one).
                    let max_attempts = if e.is_missing_file() { job.attempts } else { MAX_ATTEMPTS };
                    match store.fail_job(job.id, &reason, now, backoff_ms(job.attempts), max_attempts).await?
                    {
                        JobRetry::Failed => {
                            report.failed += 1;
                            self.emit_job(project, &job, "failed", Some(reason));
                        }
                        JobRetry::Retry { .. } | JobRetry::Folded { .. } => {
                            report.retried += 1;
                            self.emit_job(project, &job, "queued", Some(reason));
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    fn emit_job(&self, project: &Project, job: &Job, state: &str, reason: Option<String>) {
        self.emit(EngineEvent::Job {
            project: project.root().to_owned(),
            job_id: job.id,
            kind: job.kind.as_str().to_owned(),
            state: state.to_owned(),
            reason,
        });
    }

    async fn run_job(&self, project: &Project, job: &Job) -> Result<MineReport> {
        match job.kind {
            JobKind::Transcript => {
                let path = job
                    .transcript_path
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| Error::Project("the job names no transcript".into()))?;
                let report = self.mine_transcript(project, &job.session_id, Path::new(path), None).await?;
                self.store(project).await?.finish_job(job.id).await?;
                if job.trigger == "SessionEnd" {
                    // A clustering failure is logged, never a reason to mine again.
                    match self.cluster_pass(project).await {
                        Ok(pass) => {
                            tracing::info!(clustered = pass.clustered, merged = ?pass.merged, "session end")
                        }
                        Err(e) => tracing::warn!(error = %e, "clustering at session end failed"),
                    }
                }
                Ok(report)
            }
            JobKind::CompactSummary => {
                let summary = job.payload.get("summary").and_then(serde_json::Value::as_str).unwrap_or("");
                let memories = self.extract_from_summary(project, summary, &job.session_id).await;
                let mut report = MineReport::default();
                // Saved and finished in one transaction: a crash never mines it twice.
                let commit = self.save_mined(project, memories, None, Some(job.id)).await?;
                report.count(&commit);
                Ok(report)
            }
        }
    }

    /// Mines the transcript `path` of `session_id` from its saved position to
    /// the last complete line, in batches each committed with the position
    /// they reach; `max_batches` stops earlier. A transcript that is shorter
    /// than the saved position was replaced: it is read from the start
    /// (deduplication absorbs what was already saved).
    pub async fn mine_transcript(
        &self,
        project: &Project,
        session_id: &str,
        path: &Path,
        max_batches: Option<usize>,
    ) -> Result<MineReport> {
        let store = self.store(project).await?;
        let path_text = path.to_string_lossy().into_owned();
        let mut report = MineReport::default();
        let mut stale = 0;
        loop {
            if max_batches.is_some_and(|max| report.batches >= max) {
                break;
            }
            let saved = store.transcript_progress(session_id).await?;
            let (mut lines_done, mut bytes_done) = match &saved {
                Some(p) if p.transcript_path == path_text => (p.lines_done, p.bytes_done),
                _ => (0, 0),
            };
            let len = std::fs::metadata(path)
                .map_err(|source| Error::Io {
                    context: format!("reading transcript {}", path.display()),
                    source,
                })?
                .len();
            if len < bytes_done as u64 {
                tracing::warn!(path = %path.display(), "the transcript shrank; reading it again from the start");
                (lines_done, bytes_done) = (0, 0);
            }
            let from = saved.as_ref().map_or(0, |p| p.bytes_done);
            let (parsed, skipped_long) = read_batch(path, bytes_done as u64, lines_done as u64 + 1)?;
            if parsed.lines_read == 0 && skipped_long == 0 {
                report.position = (lines_done, bytes_done);
                break;
            }
            // Failures left without a fix by the last read come first, so a
            // fix written since still pairs with its error.
            let carried: Vec<Turn> = match &saved {
                Some(p) if p.transcript_path == path_text && lines_done > 0 => {
                    p.pending.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default()
                }
                _ => Vec::new(),
            };
            let mut turns = carried;
            for t in &mut turns {
                t.segment = parsed.turns.first().map_or(0, |f| f.segment);
            }
            turns.extend(parsed.turns);
            let memories = if skipped_long > 0 {
                Vec::new()
            } else {
                self.extract_memories(project, &turns, session_id).await
            };
            let pending = miner::unresolved_failures(&turns);
            let pending = (!pending.is_empty()).then(|| serde_json::to_string(&pending).unwrap_or_default());
            let (lines, bytes) = if skipped_long > 0 {
                (lines_done + 1, bytes_done + skipped_long as i64)
            } else {
                (lines_done + parsed.lines_read as i64, bytes_done + parsed.bytes_read as i64)
            };
            let progress = TranscriptProgress {
                session_id: session_id.to_owned(),
                transcript_path: path_text.clone(),
                lines_done: lines,
                bytes_done: bytes,
                updated_at: 0,
                pending,
            };
            match self.save_mined(project, memories, Some((&progress, from)), None).await? {
                MinedCommit::Stale => {
                    stale += 1;
                    if stale > 3 {
                        return Err(Error::Project(format!(
                            "session {session_id}'s transcript keeps being mined elsewhere"
                        )));
                    }
                }
                commit => {
                    report.count(&commit);
                    report.batches += 1;
                    report.lines += if skipped_long > 0 { 1 } else { parsed.lines_read };
                    report.invalid_lines += parsed.invalid_lines + u64::from(skipped_long > 0);
                    report.position = (lines, bytes);
                }
            }
        }
        Ok(report)
    }

    /// Starts a background loop that runs every known project's due jobs
    /// (the registry's projects and those open in this engine) every
    /// `interval`, the first time at once.
    pub fn spawn_job_worker(&self, interval: Duration) -> JobWorker {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let engine = self.clone();
        let task = tokio::spawn(async move {
            loop {
                for project in engine.known_projects().await {
                    if *stopped.borrow() {
                        return;
                    }
                    tokio::select! {
                        result = engine.run_jobs_once(&project) => {
                            if let Err(e) = result {
                                tracing::warn!(project = %project.root().display(), error = %e, "running jobs failed");
                            }
                        }
                        _ = stopped.changed() => return,
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        JobWorker { stop, task }
    }

    /// Every project this engine knows of that exists (has its data
    /// folder): the registry's and those open here, sorted. Never creates one.
    pub async fn known_projects(&self) -> Vec<Project> {
        let mut projects = self.open_projects().await;
        if let Some(registry) = self.registry() {
            for root in registry.projects() {
                if root.join(crate::DATA_DIR).is_dir()
                    && let Ok(p) = Project::at(&root)
                    && !projects.contains(&p)
                {
                    projects.push(p);
                }
            }
        }
        projects.retain(|p| p.data_dir().is_dir());
        projects.sort();
        projects
    }
}

/// Reads and parses the next batch of complete lines from `offset`. When a
/// single line is longer than [`MAX_LINE`], returns how many bytes to skip
/// past it instead (second value, non-zero).
fn read_batch(path: &Path, offset: u64, first_line: u64) -> Result<(crate::transcript::Parsed, usize)> {
    let io = |source| Error::Io { context: format!("reading transcript {}", path.display()), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut chunk = READ_CHUNK;
    loop {
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut buf = Vec::new();
        (&mut file).take(chunk as u64).read_to_end(&mut buf).map_err(io)?;
        let parsed = parse(&buf, first_line, Some(LINES_PER_BATCH));
        if parsed.lines_read > 0 || buf.len() < chunk {
            return Ok((parsed, 0));
        }
        if chunk >= MAX_LINE {
            // One line longer than we ever read whole: find its end.
            let mut skipped = buf.len();
            let mut rest = Vec::new();
            loop {
                rest.clear();
                (&mut file).take(READ_CHUNK as u64).read_to_end(&mut rest).map_err(io)?;
                match rest.iter().position(|&b| b == b'\n') {
                    Some(nl) => return Ok((crate::transcript::Parsed::default(), skipped + nl + 1)),
                    // Still being written: wait for its end.
                    None if rest.len() < READ_CHUNK => return Ok((crate::transcript::Parsed::default(), 0)),
                    None => skipped += rest.len(),
                }
            }
        }
        chunk = (chunk * 2).min(MAX_LINE);
    }
}
