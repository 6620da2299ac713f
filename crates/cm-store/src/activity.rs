//! What the hooks did: injections of memories into conversations, and the
//! persistent job queue they fill.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};

use cm_core::{Memory, MemoryType};

use crate::memories::{MEMORY_COLUMNS, memory_from_row};
use crate::{Error, Result, Store, now_ms};

/// How many forks up a session's lineage its inherited injections are
/// looked for (a fork of a fork of …); also stops a cycle.
const MAX_FORK_DEPTH: i64 = 8;

/// Kinds of queued work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Mine a session's transcript for memories.
    Transcript,
    /// Read the summary Claude Code wrote when it compacted a conversation.
    CompactSummary,
}

impl JobKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Transcript => "transcript",
            JobKind::CompactSummary => "compact_summary",
        }
    }

    fn parse(s: &str) -> Option<JobKind> {
        match s {
            "transcript" => Some(JobKind::Transcript),
            "compact_summary" => Some(JobKind::CompactSummary),
            _ => None,
        }
    }
}

/// Work to queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// What to do.
    pub kind: JobKind,
    /// Claude Code's session id.
    pub session_id: String,
    /// The session's transcript (JSONL), when known.
    pub transcript_path: Option<String>,
    /// The hook event that queued it.
    pub trigger: String,
    /// Anything else the worker needs (e.g. a compact summary), as JSON.
    pub payload: serde_json::Value,
}

/// A queued, running or finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// What to do.
    pub kind: JobKind,
    /// Claude Code's session id.
    pub session_id: String,
    /// The session's transcript, when known.
    pub transcript_path: Option<String>,
    /// The hook event that last queued it.
    pub trigger: String,
    /// Extra data.
    pub payload: serde_json::Value,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Not before this time (unix ms).
    pub run_after: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// One memory injected into a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Injection {
    /// Claude Code's session id.
    pub session_id: String,
    /// The hook event.
    pub event: String,
    /// The memory.
    pub memory_id: i64,
    /// Its search score, when it came from a search.
    pub score: Option<f64>,
    /// Unix ms.
    pub created_at: i64,
}

/// One memory a hook injected, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    /// The memory.
    pub memory_id: i64,
    /// Its search score, when it came from a search.
    pub score: Option<f64>,
    /// Its cosine similarity to the query, when known.
    pub similarity: Option<f64>,
    /// Why it passed: `similar`, `shared_words` or `briefing`.
    pub reason: &'static str,
}

/// The latest call of one hook event.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct HookCall {
    /// The hook event.
    pub event: String,
    /// Claude Code's session id, when the payload had one.
    pub session_id: Option<String>,
    /// `injected`, `nothing`, `queued`, or what went wrong.
    pub outcome: String,
    /// Memories injected.
    pub injected: i64,
    /// Unix ms.
    pub at: i64,
}

/// One entry of a project's history.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TimelineEntry {
    /// `injection`, `save`, `inference` or `job`.
    pub kind: String,
    /// Unix ms.
    pub at: i64,
    /// Claude Code's session, when known.
    pub session_id: Option<String>,
    /// The hook event (injection), the source (save), what was inferred
    /// (`followed`, `ignored`, `warned`, `stale`, `fresh`) or the job's kind.
    pub what: String,
    /// An injection's memories (`[{id, score, similarity, reason, type,
    /// content}]`), a saved memory, an inference (`{id, delta, confidence,
    /// reason, type, content}`), or a job's state, error and mined count.
    pub detail: serde_json::Value,
}

/// A memory the SessionStart briefing may show, with how it was used lately.
#[derive(Debug, Clone, PartialEq)]
pub struct BriefingCandidate {
    /// The memory.
    pub memory: Memory,
    /// Times a prompt or tool hook injected it since the cut-off: what recent
    /// sessions found relevant.
    pub recent_uses: i64,
    /// In how many of the last few briefings it was shown.
    pub shown: i64,
}

/// The memories injected into a session and, up its forks, what it
/// inherited (see [`Store::injected_in_session`]). `lineage CROSS JOIN
/// injections` keeps the few sessions of the lineage in the outer loop, so
/// each is looked up through `injections_session`: left to itself, SQLite
/// scanned every injection ever recorded (26 ms of every prompt hook at
/// 74,000 of them).
const INJECTED_IN_SESSION: &str = "WITH RECURSIVE lineage (sid, until, depth) AS (
                 SELECT ?1, NULL, 0
                 UNION ALL
                 SELECT f.parent_id, f.created_at, l.depth + 1
                 FROM session_forks f JOIN lineage l ON f.session_id = l.sid
                 WHERE f.parent_id IS NOT NULL AND l.depth < ?2
                   AND NOT EXISTS (SELECT 1 FROM compactions c WHERE c.session_id = l.sid
                                   AND (l.until IS NULL OR c.created_at <= l.until)))
             SELECT DISTINCT i.memory_id FROM lineage l CROSS JOIN injections i ON i.session_id = l.sid
             WHERE (l.until IS NULL OR i.created_at <= l.until)
               AND i.created_at >= COALESCE(
                   (SELECT MAX(c.created_at) FROM compactions c WHERE c.session_id = l.sid
                    AND (l.until IS NULL OR c.created_at <= l.until)), 0)";

impl Store {
    /// Up to `limit` live memories of `types` for a briefing: first those
    /// recent sessions' prompts and tool calls pulled in (since `since`, Unix
    /// ms), then the most confident, with how often each was shown by the
    /// last `briefings` SessionStart briefings.
    pub async fn briefing_candidates(
        &self,
        types: &[MemoryType],
        since: i64,
        briefings: usize,
        limit: usize,
    ) -> Result<Vec<BriefingCandidate>> {
        let types: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        // The memories used lately, and the most confident of the rest
        // (`memories_briefing` gives those without sorting every live
        // memory): the best `limit` in the order below are among them.
        // Showings are counted for those `limit` only.
        let rows = sqlx::query(AssertSqlSafe(format!(
            "WITH recent_briefings AS (
                 SELECT session_id FROM injections WHERE event = 'SessionStart'
                 GROUP BY session_id ORDER BY MAX(created_at) DESC LIMIT ?3),
             picked (pid) AS (
                 SELECT memory_id FROM injections WHERE created_at >= ?2 AND event != 'SessionStart'
                 UNION
                 SELECT id FROM (SELECT id FROM memories
                     WHERE archived = 0 AND memory_type IN (SELECT value FROM json_each(?1))
                     ORDER BY confidence DESC, updated_at DESC, id DESC LIMIT ?4)),
             best (bid, uses) AS (
                 SELECT id, (SELECT COUNT(*) FROM injections i WHERE i.memory_id = memories.id
                                 AND i.event != 'SessionStart' AND i.created_at >= ?2) AS uses
                 FROM picked CROSS JOIN memories ON memories.id = picked.pid
                 WHERE archived = 0 AND memory_type IN (SELECT value FROM json_each(?1))
                 ORDER BY uses > 0 DESC, confidence DESC, updated_at DESC, id DESC
                 LIMIT ?4)
             SELECT {MEMORY_COLUMNS}, best.uses AS recent_uses,
                 (SELECT COUNT(DISTINCT i.session_id) FROM injections i WHERE i.memory_id = memories.id
                      AND i.event = 'SessionStart'
                      AND i.session_id IN (SELECT session_id FROM recent_briefings)) AS shown
             FROM best CROSS JOIN memories ON memories.id = best.bid
             ORDER BY recent_uses > 0 DESC, confidence DESC, updated_at DESC, id DESC"
        )))
        .bind(serde_json::to_string(&types).map_err(|e| Error::Data(e.to_string()))?)
        .bind(since)
        .bind(briefings as i64)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BriefingCandidate {
                    memory: memory_from_row(row)?,
                    recent_uses: row.try_get("recent_uses")?,
                    shown: row.try_get("shown")?,
                })
            })
            .collect()
    }

    /// Ids of the memories injected into `session_id` since its conversation
    /// was last compacted (what Claude can still see). A fork also sees what
    /// its parent saw until the fork (and so on up its forks), unless the
    /// fork's conversation was compacted since: each session's compactions
    /// before the moment its child forked cut what the child inherits.
    pub async fn injected_in_session(&self, session_id: &str) -> Result<HashSet<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar(INJECTED_IN_SESSION)
            .bind(session_id)
            .bind(MAX_FORK_DEPTH)
            .fetch_all(self.pool())
            .await?;
        Ok(ids.into_iter().collect())
    }

    /// Records that `session_id` was forked from another session now, and
    /// from which when that is known (`parent_id`). Recording it again only
    /// fills in a parent that was unknown.
    pub async fn record_fork(&self, session_id: &str, parent_id: Option<&str>) -> Result<()> {
        sqlx::query(
            "INSERT INTO session_forks (session_id, parent_id, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (session_id) DO UPDATE
                 SET parent_id = COALESCE(session_forks.parent_id, excluded.parent_id)",
        )
        .bind(session_id)
        .bind(parent_id.filter(|p| *p != session_id))
        .bind(now_ms())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// Whether `session_id` is a fork whose parent is not known yet.
    pub async fn fork_without_parent(&self, session_id: &str) -> Result<bool> {
        let pending: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM session_forks WHERE session_id = ?1 AND parent_id IS NULL)",
        )
        .bind(session_id)
        .fetch_one(self.pool())
        .await?;
        Ok(pending)
    }

    /// Records that `session_id`'s conversation was compacted now.
    pub async fn record_compaction(&self, session_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO compactions (session_id, created_at) VALUES (?1, ?2)")
            .bind(session_id)
            .bind(now_ms())
            .execute(&mut *self.writer().await?)
            .await?;
        Ok(())
    }

    /// Records that `memories` were injected into `session_id` by `event`.
    pub async fn record_injections(
        &self,
        session_id: &str,
        event: &str,
        memories: &[Injected],
    ) -> Result<()> {
        if memories.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        for m in memories {
            // A memory deleted since the search is simply not recorded.
            sqlx::query(
                "INSERT INTO injections (session_id, event, memory_id, score, similarity, reason, created_at)
                 SELECT ?1, ?2, id, ?4, ?5, ?6, ?7 FROM memories WHERE id = ?3",
            )
            .bind(session_id)
            .bind(event)
            .bind(m.memory_id)
            .bind(m.score)
            .bind(m.similarity)
            .bind(m.reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the latest call of hook `event` and its outcome (`injected`,
    /// `nothing`, `queued`, or an error's text).
    pub async fn record_hook_call(
        &self,
        event: &str,
        session_id: Option<&str>,
        outcome: &str,
        injected: usize,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO hook_calls (event, session_id, outcome, injected, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (event) DO UPDATE SET session_id = excluded.session_id, outcome = excluded.outcome,
                 injected = excluded.injected, created_at = excluded.created_at",
        )
        .bind(event)
        .bind(session_id)
        .bind(outcome)
        .bind(injected as i64)
        .bind(now_ms())
        .execute(&mut *self.writer().await?)
        .await?;
        Ok(())
    }

    /// The latest call of each hook event, newest first.
    pub async fn hook_calls(&self) -> Result<Vec<HookCall>> {
        let rows = sqlx::query(
            "SELECT event, session_id, outcome, injected, created_at FROM hook_calls ORDER BY created_at DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HookCall {
                    event: r.try_get("event")?,
                    session_id: r.try_get("session_id")?,
                    outcome: r.try_get("outcome")?,
                    injected: r.try_get("injected")?,
                    at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// The project's history, newest first: each hook answer with the
    /// memories it injected (why each passed, its scores, the start of its
    /// text), each memory saved (from any source; archived ones too), each
    /// inference about a memory (stale, fresh, followed, ignored, warned), and
    /// each job with its state, error and the memories it mined. `session`
    /// keeps one Claude Code session's; `before` (Unix ms) pages back.
    pub async fn timeline(
        &self,
        session: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TimelineEntry>> {
        let rows = sqlx::query(
            "SELECT kind, at, session_id, what, detail FROM (
                 SELECT 'injection' AS kind, i.created_at AS at, i.session_id, i.event AS what,
                        json_group_array(json_object(
                            'id', i.memory_id, 'score', i.score, 'similarity', i.similarity,
                            'reason', i.reason, 'type', m.memory_type,
                            'content', substr(m.content, 1, 200))) AS detail
                 FROM injections i JOIN memories m ON m.id = i.memory_id
                 GROUP BY i.session_id, i.event, i.created_at
                 UNION ALL
                 SELECT 'save', created_at, session_id, source,
                        json_object('id', id, 'type', memory_type, 'domain', domain, 'confidence', confidence,
                                    'archived', archived, 'content', substr(content, 1, 200))
                 FROM memories
                 UNION ALL
                 SELECT 'inference', f.created_at, f.session_id, f.kind,
                        json_object('id', f.memory_id, 'delta', f.delta, 'confidence', f.confidence,
                                    'reason', f.reason, 'type', m.memory_type,
                                    'content', substr(m.content, 1, 200))
                 FROM inferences f JOIN memories m ON m.id = f.memory_id
                 UNION ALL
                 SELECT 'job', j.updated_at, j.session_id, j.kind,
                        json_object('id', j.id, 'state', j.state, 'trigger', j.trigger, 'attempts', j.attempts,
                                    'error', j.last_error,
                                    'mined', (SELECT COUNT(*) FROM memories m WHERE m.session_id = j.session_id
                                              AND m.source = 'transcript'))
                 FROM jobs j)
             WHERE (?1 IS NULL OR session_id = ?1) AND (?2 IS NULL OR at < ?2)
             ORDER BY at DESC, kind LIMIT ?3",
        )
        .bind(session)
        .bind(before)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(TimelineEntry {
                    kind: r.try_get("kind")?,
                    at: r.try_get("at")?,
                    session_id: r.try_get("session_id")?,
                    what: r.try_get("what")?,
                    detail: serde_json::from_str(&detail).map_err(|e| Error::Data(e.to_string()))?,
                })
            })
            .collect()
    }

    /// The most recent injections, newest first (optionally of one memory).
    pub async fn injections(&self, memory_id: Option<i64>, limit: usize) -> Result<Vec<Injection>> {
        let rows = sqlx::query(
            "SELECT session_id, event, memory_id, score, created_at FROM injections
             WHERE (?1 IS NULL OR memory_id = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(memory_id)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Injection {
                    session_id: r.try_get("session_id")?,
                    event: r.try_get("event")?,
                    memory_id: r.try_get("memory_id")?,
                    score: r.try_get("score")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Injections per day (UTC, `YYYY-MM-DD`) over the last `days` days.
    pub async fn injections_per_day(&self, days: u32) -> Result<Vec<(String, i64)>> {
        let since = now_ms() - i64::from(days) * 86_400_000;
        let rows = sqlx::query(
            "SELECT date(created_at / 1000, 'unixepoch') AS day, COUNT(*) AS injections FROM injections
             WHERE created_at >= ?1 GROUP BY day ORDER BY day",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("day")?, r.try_get("injections")?))).collect()
    }

    /// Queues `job`. A session's queued transcript job is updated in place
    /// (newer trigger and transcript path) instead of being queued twice.
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<i64> {
        let now = now_ms();
        let payload = job.payload.to_string();
        let id: i64 = if job.kind == JobKind::Transcript {
            sqlx::query_scalar(
                "INSERT INTO jobs (kind, session_id, transcript_path, trigger, payload, run_after, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)
                 ON CONFLICT (session_id) WHERE state = 'queued' AND kind = 'transcript'
                 DO UPDATE SET transcript_path = COALESCE(excluded.transcript_path, transcript_path),
                               trigger = excluded.trigger, updated_at = excluded.updated_at
                 RETURNING id",
            )
        } else {
            sqlx::query_scalar(
                "INSERT INTO jobs (kind, session_id, transcript_path, trigger, payload, run_after, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6) RETURNING id",
            )
        }
        .bind(job.kind.as_str())
        .bind(&job.session_id)
        .bind(&job.transcript_path)
        .bind(&job.trigger)
        .bind(payload)
        .bind(now)
        .fetch_one(&mut *self.writer().await?)
        .await?;
        Ok(id)
    }

    /// Jobs, newest first, optionally in one state.
    pub async fn jobs(&self, state: Option<&str>, limit: usize) -> Result<Vec<Job>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE (?1 IS NULL OR state = ?1) ORDER BY id DESC LIMIT ?2"
        )))
        .bind(state)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Takes the next job that is due at `now` (unix ms): the oldest queued
    /// one whose `run_after` has passed, or one left `running` since before
    /// `stale_before` by a worker that died. It becomes `running` with one
    /// more attempt. `None` when nothing is due.
    pub async fn claim_job(&self, now: i64, stale_before: i64) -> Result<Option<Job>> {
        // Most calls find nothing: look before taking the write lock.
        let due: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE (state = 'queued' AND run_after <= ?1)
                                               OR (state = 'running' AND updated_at < ?2))",
        )
        .bind(now)
        .bind(stale_before)
        .fetch_one(self.pool())
        .await?;
        if !due {
            return Ok(None);
        }
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?1
             WHERE id = (SELECT id FROM jobs
                         WHERE (state = 'queued' AND run_after <= ?1)
                            OR (state = 'running' AND updated_at < ?2)
                         ORDER BY run_after, id LIMIT 1)
             RETURNING {JOB_COLUMNS}"
        )))
        .bind(now)
        .bind(stale_before)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Marks job `id` done.
    pub async fn finish_job(&self, id: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        finish_job_in(&mut tx, id, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that an attempt at job `id` failed for `reason` at `now`.
    /// With fewer than `max_attempts` attempts it is queued again to run
    /// `backoff_ms` later; otherwise it is failed for good. A transcript job
    /// whose session has meanwhile been queued again is folded into that
    /// newer job (which inherits the attempts and the delay, since a unique
    /// index allows one queued transcript job per session), and this one
    /// ends failed, naming it.
    pub async fn fail_job(
        &self,
        id: i64,
        reason: &str,
        now: i64,
        backoff_ms: i64,
        max_attempts: i64,
    ) -> Result<JobRetry> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT kind, session_id, attempts FROM jobs WHERE id = ?1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Err(crate::Error::Data(format!("no job {id}")));
        };
        let kind: String = row.try_get("kind")?;
        let session_id: String = row.try_get("session_id")?;
        let attempts: i64 = row.try_get("attempts")?;
        let set_state = |state: &'static str, last_error: String, run_after: Option<i64>| {
            sqlx::query(
                "UPDATE jobs SET state = ?2, last_error = ?3, run_after = COALESCE(?4, run_after),
                     updated_at = ?5 WHERE id = ?1",
            )
            .bind(id)
            .bind(state)
            .bind(last_error)
            .bind(run_after)
            .bind(now)
        };
        if attempts >= max_attempts {
            set_state("failed", reason.to_owned(), None).execute(&mut *tx).await?;
            tx.commit().await?;
            return Ok(JobRetry::Failed);
        }
        let run_after = now + backoff_ms.max(0);
        let newer: Option<i64> = if kind == JobKind::Transcript.as_str() {
            sqlx::query_scalar(
                "SELECT id FROM jobs WHERE session_id = ?1 AND state = 'queued' AND kind = 'transcript' AND id != ?2",
            )
            .bind(&session_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        } else {
            None
        };
        if let Some(newer) = newer {
            sqlx::query(
                "UPDATE jobs SET attempts = MAX(attempts, ?2), run_after = MAX(run_after, ?3),
                     last_error = ?4, updated_at = ?5 WHERE id = ?1",
            )
            .bind(newer)
            .bind(attempts)
            .bind(run_after)
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            set_state("failed", format!("{reason} (retried as job {newer})"), None).execute(&mut *tx).await?;
            tx.commit().await?;
            return Ok(JobRetry::Folded { into: newer, run_after });
        }
        set_state("queued", reason.to_owned(), Some(run_after)).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(JobRetry::Retry { run_after })
    }
}

/// What became of a failed attempt (see [`Store::fail_job`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRetry {
    /// Queued again, not before `run_after` (unix ms).
    Retry {
        /// Unix ms.
        run_after: i64,
    },
    /// Folded into the session's newer queued job `into`, delayed to `run_after`.
    Folded {
        /// The job that carries on.
        into: i64,
        /// Unix ms.
        run_after: i64,
    },
    /// Failed for good: no attempts left.
    Failed,
}

/// Columns selected for a [`Job`]: the ones [`job_from_row`] reads, by name.
const JOB_COLUMNS: &str = "id, kind, session_id, transcript_path, trigger, payload, state, attempts, \
     last_error, run_after, created_at, updated_at";

fn job_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Job> {
    let kind: String = r.try_get("kind")?;
    let payload: String = r.try_get("payload")?;
    Ok(Job {
        id: r.try_get("id")?,
        kind: JobKind::parse(&kind)
            .ok_or_else(|| crate::Error::Data(format!("unknown job kind {kind:?}")))?,
        session_id: r.try_get("session_id")?,
        transcript_path: r.try_get("transcript_path")?,
        trigger: r.try_get("trigger")?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        run_after: r.try_get("run_after")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Marks job `id` done inside a write transaction.
pub(crate) async fn finish_job_in(conn: &mut sqlx::SqliteConnection, id: i64, now: i64) -> Result<()> {
    // A done job keeps no conversation text (a compact summary's payload).
    sqlx::query("UPDATE jobs SET state = 'done', payload = '{}', updated_at = ?2 WHERE id = ?1")
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A cluster of similar memories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cluster {
    /// Id.
    pub id: i64,
    /// What its members are about.
    pub theme: String,
    /// Domain of its members.
    pub domain: String,
    /// Members.
    pub member_count: i64,
    /// Mean confidence of its members.
    pub avg_confidence: f64,
    /// `growing`, `mature` or `merged`.
    pub status: String,
    /// The consolidated memory, once merged.
    pub merged_memory_id: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl Store {
    /// Every cluster, largest first.
    pub async fn clusters(&self) -> Result<Vec<Cluster>> {
        let rows = sqlx::query(
            "SELECT id, theme, domain, member_count, avg_confidence, status, merged_memory_id, created_at, updated_at
             FROM clusters ORDER BY member_count DESC, id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Cluster {
                    id: r.try_get("id")?,
                    theme: r.try_get("theme")?,
                    domain: r.try_get("domain")?,
                    member_count: r.try_get("member_count")?,
                    avg_confidence: r.try_get("avg_confidence")?,
                    status: r.try_get("status")?,
                    merged_memory_id: r.try_get("merged_memory_id")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of the session lookup every prompt hook makes: each session
    /// of the lineage is found through the index, never by a scan of the
    /// whole injection history.
    #[tokio::test]
    async fn a_sessions_injections_are_found_through_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("memory.db")).await.unwrap();
        let explained = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {INJECTED_IN_SESSION}")));
        let plan = crate::query_plan(&store, explained.bind("session").bind(MAX_FORK_DEPTH)).await;
        assert!(
            plan.iter().any(|step| step.starts_with("SEARCH i USING INDEX injections_session")),
            "{plan:#?}"
        );
        assert!(!plan.iter().any(|step| step.starts_with("SCAN i")), "{plan:#?}");
    }
}
