//! How far each Claude Code session's transcript has been mined, and the
//! transaction that saves mined memories together with that position.

use cm_core::NewMemory;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::memories::{find_duplicate, insert_row, reinforce};
use crate::vectors::{Space, insert_vector};
use crate::{Result, Store, now_ms};

/// A session's mining position: every line before it has been analysed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptProgress {
    /// Claude Code's session id.
    pub session_id: String,
    /// The transcript file.
    pub transcript_path: String,
    /// Complete lines read (the next one is `lines_done + 1`).
    pub lines_done: i64,
    /// Bytes read: where the next line starts.
    pub bytes_done: i64,
    /// Unix ms of the last advance.
    pub updated_at: i64,
    /// What the miner carries to the next read (JSON), if anything.
    pub pending: Option<String>,
}

/// A mined memory ready to write: redacted, validated, and with its vector
/// when one could be computed.
#[derive(Debug, Clone)]
pub struct MinedMemory {
    /// The memory.
    pub memory: NewMemory,
    /// Its vector in `Space`.
    pub vector: Option<(Space, Vec<f32>)>,
}

/// What [`Store::save_mined`] committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MinedCommit {
    /// Saved: per memory, its id and whether it was created (`false`:
    /// a near-duplicate was reinforced instead).
    Saved(Vec<(i64, bool)>),
    /// Nothing was written: the session's position was no longer the one the
    /// lines were read from (another worker got there first).
    Stale,
}

/// A `transcript_progress` row, its columns read by name.
fn progress_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<TranscriptProgress> {
    Ok(TranscriptProgress {
        session_id: r.try_get("session_id")?,
        transcript_path: r.try_get("transcript_path")?,
        lines_done: r.try_get("lines_done")?,
        bytes_done: r.try_get("bytes_done")?,
        updated_at: r.try_get("updated_at")?,
        pending: r.try_get("pending")?,
    })
}

impl Store {
    /// The mining position of `session_id`, if it was ever mined.
    pub async fn transcript_progress(&self, session_id: &str) -> Result<Option<TranscriptProgress>> {
        let row = sqlx::query(
            "SELECT session_id, transcript_path, lines_done, bytes_done, updated_at, pending
             FROM transcript_progress WHERE session_id = ?1",
        )
        .bind(session_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(progress_from_row).transpose()
    }

    /// Every session's mining position, most recently advanced first.
    pub async fn transcript_progresses(&self, limit: usize) -> Result<Vec<TranscriptProgress>> {
        let rows = sqlx::query(
            "SELECT session_id, transcript_path, lines_done, bytes_done, updated_at, pending
             FROM transcript_progress ORDER BY updated_at DESC, session_id LIMIT ?1",
        )
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(progress_from_row).collect()
    }

    /// Saves `memories` mined from a transcript and, in the same transaction,
    /// moves the session's position from `from_bytes` to `progress` and/or
    /// marks job `finish_job` done. Either everything lands or nothing does,
    /// so a crash can never lose lines (position moved, memories not saved)
    /// or analyse them twice (memories saved, position not moved).
    ///
    /// Each memory is deduplicated under the write lock like
    /// [`Store::insert`]: a near-duplicate reinforces the existing memory.
    /// When the stored position is no longer `from_bytes` (another worker
    /// mined these lines meanwhile), nothing is written and
    /// [`MinedCommit::Stale`] is returned.
    pub async fn save_mined(
        &self,
        memories: &[MinedMemory],
        dedupe_threshold: f64,
        dedupe_candidates: usize,
        progress: Option<(&TranscriptProgress, i64)>,
        finish_job: Option<i64>,
    ) -> Result<MinedCommit> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        if let Some((progress, from_bytes)) = progress {
            let current: Option<i64> =
                sqlx::query_scalar("SELECT bytes_done FROM transcript_progress WHERE session_id = ?1")
                    .bind(&progress.session_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if current.unwrap_or(0) != from_bytes {
                tx.rollback().await?;
                return Ok(MinedCommit::Stale);
            }
        }
        let mut saved = Vec::with_capacity(memories.len());
        for m in memories {
            if let Some(id) =
                find_duplicate(&mut tx, &m.memory.content, dedupe_threshold, dedupe_candidates).await?
            {
                reinforce(&mut tx, id).await?;
                saved.push((id, false));
                continue;
            }
            let id = insert_row(&mut tx, &m.memory, None, now, now).await?;
            if let Some((space, v)) = &m.vector {
                insert_vector(&mut tx, space, id, v).await?;
            }
            saved.push((id, true));
        }
        if let Some((progress, _)) = progress {
            sqlx::query(
                "INSERT INTO transcript_progress
                     (session_id, transcript_path, lines_done, bytes_done, updated_at, pending)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (session_id) DO UPDATE SET transcript_path = excluded.transcript_path,
                     lines_done = excluded.lines_done, bytes_done = excluded.bytes_done,
                     updated_at = excluded.updated_at, pending = excluded.pending",
            )
            .bind(&progress.session_id)
            .bind(&progress.transcript_path)
            .bind(progress.lines_done)
            .bind(progress.bytes_done)
            .bind(now)
            .bind(&progress.pending)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(id) = finish_job {
            crate::activity::finish_job_in(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(MinedCommit::Saved(saved))
    }
}
