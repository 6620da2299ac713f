//! What the engine inferred about memories without being told: stale flags
//! (a file a memory names went away, or came back) and implicit feedback
//! (advice followed, ignored, or a warning that came true), each recorded
//! with its reason in `inferences` for the timeline.

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};

use cm_core::Memory;

use crate::memories::{MEMORY_COLUMNS, memory_from_row};
use crate::vectors::sync_metadata;
use crate::{Error, Result, Store, now_ms};

/// One inference to record (its text already redacted by the caller).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inference {
    /// The memory it is about.
    pub memory_id: i64,
    /// The conversation it was drawn from, when any.
    pub session_id: Option<String>,
    /// `followed`, `ignored`, `warned`, `stale` or `fresh`.
    pub kind: String,
    /// Why, in a sentence.
    pub reason: String,
}

/// A live memory's text and stale state, for checking the files it names.
#[derive(Debug, Clone, PartialEq)]
pub struct PathMention {
    /// The memory.
    pub id: i64,
    /// Its text.
    pub content: String,
    /// The path that made it stale, when it is.
    pub stale_path: Option<String>,
    /// Paths a person confirmed do not make it stale.
    pub confirmed: Vec<String>,
}

/// A memory injected into a conversation, with the first time and the
/// events that injected it.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedMemory {
    /// The memory.
    pub memory: Memory,
    /// Hook events that injected it (`SessionStart`, `PreToolUse`, …).
    pub events: Vec<String>,
    /// First injection, unix ms.
    pub first_at: i64,
}

/// How a memory fared across conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UseHistory {
    /// Distinct conversations it was injected into for what was asked
    /// (a session's opening briefing does not count: it brings the same
    /// memories to every session, whatever the session is about).
    pub sessions: i64,
    /// Times it was found followed or its warning came true.
    pub used: i64,
}

/// A page of [`Store::path_mentions`]: by id, not through an index on
/// `archived`, which had every page read and sort the whole table.
const PATH_MENTIONS: &str = "SELECT id, content, stale_path, stale_confirmed FROM memories NOT INDEXED
     WHERE id < ?1 AND archived = 0 AND (instr(content, '.') > 0 OR instr(content, '/') > 0)
     ORDER BY id DESC LIMIT ?2";

impl Store {
    /// Live memories whose text may name a file (it has a `.` or a `/`),
    /// newest first, at most `limit` of those older than `before` (an id;
    /// `None` for the newest): a project's mentions are read a page at a
    /// time, never all at once (a million memories' texts would be hundreds
    /// of MiB held for one check).
    pub async fn path_mentions(&self, before: Option<i64>, limit: usize) -> Result<Vec<PathMention>> {
        let rows = sqlx::query(PATH_MENTIONS)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit as i64)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let confirmed: String = r.try_get("stale_confirmed")?;
                Ok(PathMention {
                    id: r.try_get("id")?,
                    content: r.try_get("content")?,
                    stale_path: r.try_get("stale_path")?,
                    confirmed: serde_json::from_str(&confirmed).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Flags memory `id` stale because `path` went away (`reason`), unless it
    /// is stale already or a person confirmed `path` does not matter to it.
    /// Records the inference. Returns whether it was flagged.
    pub async fn flag_stale(&self, id: i64, path: &str, reason: &str, session: Option<&str>) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE memories SET stale_path = ?2, stale_reason = ?3, stale_at = ?4
             WHERE id = ?1 AND stale_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM json_each(memories.stale_confirmed) WHERE value = ?2)",
        )
        .bind(id)
        .bind(path)
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            insert_inference(&mut tx, id, session, "stale", None, None, &format!("{path}: {reason}"), now)
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Memories flagged stale, with the path that made them so.
    pub async fn stale_paths(&self) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT id, stale_path FROM memories WHERE stale_at IS NOT NULL AND stale_path IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("stale_path")?))).collect()
    }

    /// Clears the stale flag of memory `id`, recording `reason`. With
    /// `confirmed`, a person said the memory holds without the file: the path
    /// is remembered so it does not flag the memory again. Returns the memory;
    /// a memory that was not stale is returned unchanged.
    pub async fn clear_stale(
        &self,
        id: i64,
        reason: &str,
        confirmed: bool,
        session: Option<&str>,
    ) -> Result<Memory> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let path: Option<Option<String>> =
            sqlx::query_scalar("SELECT stale_path FROM memories WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(path) = path else { return Err(Error::NotFound(id)) };
        if let Some(path) = path {
            sqlx::query(
                "UPDATE memories SET stale_path = NULL, stale_reason = NULL, stale_at = NULL,
                     stale_confirmed = CASE WHEN ?2 THEN (
                         SELECT json_group_array(value) FROM (
                             SELECT value FROM json_each(memories.stale_confirmed) WHERE value != ?3
                             UNION ALL SELECT ?3))
                         ELSE stale_confirmed END
                 WHERE id = ?1",
            )
            .bind(id)
            .bind(confirmed)
            .bind(&path)
            .execute(&mut *tx)
            .await?;
            insert_inference(&mut tx, id, session, "fresh", None, None, &format!("{path}: {reason}"), now)
                .await?;
        }
        tx.commit().await?;
        self.get(id).await
    }

    /// Records an inference about memory `id` that moves its confidence by
    /// `delta`, kept within `[floor, cap]`: a rise never takes it above `cap`
    /// (nor lowers one already above), a fall never below `floor`. At most
    /// once per memory, conversation and kind: a repeat changes nothing and
    /// returns `None`. Otherwise returns the confidence before and after.
    pub async fn infer_confidence(
        &self,
        inference: &Inference,
        delta: f64,
        floor: f64,
        cap: f64,
    ) -> Result<Option<(f64, f64)>> {
        if !delta.is_finite() {
            return Err(Error::Data("an inferred confidence change must be a number".into()));
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let before: Option<f64> = sqlx::query_scalar("SELECT confidence FROM memories WHERE id = ?1")
            .bind(inference.memory_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(before) = before else { return Err(Error::NotFound(inference.memory_id)) };
        let after = if delta >= 0.0 {
            (before + delta).min(cap.max(before))
        } else {
            (before + delta).max(floor.min(before))
        };
        let inserted = sqlx::query(
            "INSERT INTO inferences (memory_id, session_id, kind, delta, confidence, reason, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (memory_id, session_id, kind) WHERE kind IN ('followed', 'ignored', 'warned')
             DO NOTHING",
        )
        .bind(inference.memory_id)
        .bind(&inference.session_id)
        .bind(&inference.kind)
        .bind(after - before)
        .bind(after)
        .bind(&inference.reason)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(None);
        }
        sqlx::query("UPDATE memories SET confidence = ?2 WHERE id = ?1")
            .bind(inference.memory_id)
            .bind(after)
            .execute(&mut *tx)
            .await?;
        sync_metadata(&mut tx, inference.memory_id).await?;
        tx.commit().await?;
        Ok(Some((before, after)))
    }

    /// Memories injected into conversation `session` between `since` and
    /// `before` (unix ms), live ones only, oldest first.
    pub async fn injected_between(
        &self,
        session: &str,
        since: i64,
        before: i64,
    ) -> Result<Vec<InjectedMemory>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MEMORY_COLUMNS}, i.events, i.first_at FROM (
                 SELECT memory_id, json_group_array(DISTINCT event) AS events, MIN(created_at) AS first_at
                 FROM injections WHERE session_id = ?1 AND created_at >= ?2 AND created_at < ?3
                 GROUP BY memory_id) AS i
             JOIN memories ON memories.id = i.memory_id
             WHERE memories.archived = 0
             ORDER BY i.first_at, memories.id"
        )))
        .bind(session)
        .bind(since)
        .bind(before)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let events: String = r.try_get("events")?;
                Ok(InjectedMemory {
                    memory: memory_from_row(r)?,
                    events: serde_json::from_str(&events).map_err(|e| Error::Data(e.to_string()))?,
                    first_at: r.try_get("first_at")?,
                })
            })
            .collect()
    }

    /// In how many conversations memory `id` was injected for what was asked
    /// (briefings left out), and how often it was found used (followed, or
    /// its warning came true).
    pub async fn use_history(&self, id: i64) -> Result<UseHistory> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(DISTINCT session_id) FROM injections
                     WHERE memory_id = ?1 AND event <> 'SessionStart') AS sessions,
                    (SELECT COUNT(*) FROM inferences WHERE memory_id = ?1
                         AND kind IN ('followed', 'warned')) AS used",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        Ok(UseHistory { sessions: row.try_get("sessions")?, used: row.try_get("used")? })
    }

    /// The inferences about memory `id`, newest first.
    pub async fn inferences(&self, id: i64, limit: usize) -> Result<Vec<(Inference, Option<f64>, i64)>> {
        let rows = sqlx::query(
            "SELECT memory_id, session_id, kind, reason, delta, created_at FROM inferences
             WHERE memory_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
        )
        .bind(id)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    Inference {
                        memory_id: r.try_get("memory_id")?,
                        session_id: r.try_get("session_id")?,
                        kind: r.try_get("kind")?,
                        reason: r.try_get("reason")?,
                    },
                    r.try_get("delta")?,
                    r.try_get("created_at")?,
                ))
            })
            .collect()
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert_inference(
    conn: &mut sqlx::SqliteConnection,
    id: i64,
    session: Option<&str>,
    kind: &str,
    delta: Option<f64>,
    confidence: Option<f64>,
    reason: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO inferences (memory_id, session_id, kind, delta, confidence, reason, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(id)
    .bind(session)
    .bind(kind)
    .bind(delta)
    .bind(confidence)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page is a range of ids read backwards from `before`, stopping at
    /// `limit`: no table scan, no sort.
    #[tokio::test]
    async fn a_page_of_path_mentions_reads_only_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("memory.db")).await.unwrap();
        let explained = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {PATH_MENTIONS}")));
        let plan = crate::query_plan(&store, explained.bind(100_i64).bind(10_i64)).await;
        assert_eq!(plan, ["SEARCH memories USING INTEGER PRIMARY KEY (rowid<?)"]);
    }
}
