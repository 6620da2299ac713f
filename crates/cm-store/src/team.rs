//! Team memory, the local half: the project's link to a team database, the
//! outbox of changes the team has not seen, and memories pulled from it.
//!
//! The outbox is filled by triggers (migration `…_team.sql`), so every path
//! that changes a shared memory queues it; the engine publishes the
//! memory's *current* state, so ten edits between two syncs are one publish.
//! Applying a pulled version writes it in one transaction and takes back
//! the outbox entry its own write queued: what came from the team is not
//! sent back.

use std::collections::HashMap;

use cm_core::{Memory, MemoryType, NewMemory};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::memories::{MEMORY_COLUMNS, insert_row, memory_from_row};
use crate::vectors::{Space, delete_vectors, insert_vector, sync_metadata};
use crate::{Error, Result, Store, now_ms};

/// A project's link to its team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TeamLink {
    /// The team database, without its password.
    pub url: String,
    /// The team project's key: a normalised git origin URL or a name.
    pub team_key: String,
    /// Who this person is to the team.
    pub author: String,
    /// This machine.
    pub origin: String,
    /// Memory types shared without being marked (empty: only marked ones).
    pub share_types: Vec<MemoryType>,
    /// The confidence from which the rule shares.
    pub share_min_confidence: f64,
    /// The team's change number pulled up to.
    pub pull_cursor: i64,
    /// The last sync that finished, unix milliseconds.
    pub last_sync_at: Option<i64>,
    /// Why the last sync failed, if it did.
    pub last_error: Option<String>,
    /// When the project was linked.
    pub linked_at: i64,
}

/// A change waiting for the team: the memory as it is now, or `None` when
/// it was deleted.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The global id.
    pub gid: String,
    /// When it was queued (a publish removes it only if unchanged since).
    pub queued_at: i64,
    /// The memory, if it still exists (its `shared` and `team_author` say
    /// whether the team should still have it).
    pub memory: Option<Memory>,
}

/// A version pulled from the team, ready to apply.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The global id.
    pub gid: String,
    /// Its content and labels (already redacted by the caller).
    pub memory: NewMemory,
    /// Who wrote it.
    pub author: String,
    /// Created, unix milliseconds.
    pub created_at: i64,
    /// This version, unix milliseconds.
    pub updated_at: i64,
    /// Archived.
    pub archived: bool,
    /// A tombstone.
    pub deleted: bool,
    /// Validations by teammates other than this person.
    pub others_validations: i64,
}

/// What applying a pulled version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A teammate's memory is new here.
    Inserted(i64),
    /// A memory here took the team's newer version.
    Updated(i64),
    /// A teammate's memory was deleted from the team, and here.
    Deleted(i64),
    /// Nothing to do (already current, or the local version is newer).
    Unchanged,
}

/// How a memory stands with the team, for labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TeamMark {
    /// Shared by this person.
    pub shared: bool,
    /// Pulled from this teammate.
    pub author: Option<String>,
    /// Validations by the rest of the team.
    pub team_evidence: i64,
}

/// Counts for `team status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TeamCounts {
    /// Memories this person shares.
    pub shared: i64,
    /// Memories pulled from teammates.
    pub pulled: i64,
    /// Changes waiting to be published.
    pub pending: i64,
}

impl Store {
    /// The project's team link, if it has one.
    pub async fn team_link(&self) -> Result<Option<TeamLink>> {
        let row = sqlx::query(
            "SELECT url, team_key, author, origin, share_types, share_min_confidence, pull_cursor,
                    last_sync_at, last_error, linked_at FROM team_link WHERE id = 1",
        )
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let types: Vec<String> = serde_json::from_str(&row.try_get::<String, _>("share_types")?)
            .map_err(|e| Error::Data(format!("share_types: {e}")))?;
        Ok(Some(TeamLink {
            url: row.try_get("url")?,
            team_key: row.try_get("team_key")?,
            author: row.try_get("author")?,
            origin: row.try_get("origin")?,
            share_types: types
                .iter()
                .map(|t| t.parse().map_err(|e: cm_core::Error| Error::Data(e.to_string())))
                .collect::<Result<_>>()?,
            share_min_confidence: row.try_get("share_min_confidence")?,
            pull_cursor: row.try_get("pull_cursor")?,
            last_sync_at: row.try_get("last_sync_at")?,
            last_error: row.try_get("last_error")?,
            linked_at: row.try_get("linked_at")?,
        }))
    }

    /// Links the project to a team (replacing a link to another team or
    /// project key, whose pull position then starts over).
    pub async fn set_team_link(&self, link: &TeamLink) -> Result<()> {
        let types: Vec<&str> = link.share_types.iter().map(|t| t.as_str()).collect();
        let mut tx = self.begin_write().await?;
        let same: Option<i64> =
            sqlx::query_scalar("SELECT pull_cursor FROM team_link WHERE url = ?1 AND team_key = ?2")
                .bind(&link.url)
                .bind(&link.team_key)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT OR REPLACE INTO team_link
                 (id, url, team_key, author, origin, share_types, share_min_confidence, pull_cursor, linked_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&link.url)
        .bind(&link.team_key)
        .bind(&link.author)
        .bind(&link.origin)
        .bind(serde_json::to_string(&types).unwrap_or_else(|_| "[]".to_owned()))
        .bind(link.share_min_confidence.clamp(0.0, 1.0))
        .bind(same.unwrap_or(0))
        .bind(link.linked_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the link and the pending changes; shared marks and pulled
    /// memories stay (they are this project's memories now).
    pub async fn remove_team_link(&self) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query("DELETE FROM team_link").execute(&mut *tx).await?.rows_affected() > 0;
        sqlx::query("DELETE FROM team_outbox").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Records a sync's end: the new pull position (if any) and its error.
    pub async fn record_team_sync(&self, cursor: Option<i64>, error: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE team_link SET pull_cursor = COALESCE(?1, pull_cursor), last_error = ?2,
                 last_sync_at = CASE WHEN ?2 IS NULL THEN ?3 ELSE last_sync_at END",
        )
        .bind(cursor)
        .bind(error)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks memory `id` shared, giving it `gid` unless it has one.
    pub async fn set_shared(&self, id: i64, shared: bool, gid: &str) -> Result<Memory> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE memories SET shared = ?2, gid = COALESCE(gid, ?3) WHERE id = ?1")
            .bind(id)
            .bind(i64::from(shared))
            .bind(gid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(Error::NotFound(id));
        }
        tx.commit().await?;
        self.get(id).await
    }

    /// Live memories the sharing rule selects that are not shared yet and
    /// did not come from the team, oldest first.
    pub async fn share_candidates(
        &self,
        types: &[MemoryType],
        min_confidence: f64,
        limit: usize,
    ) -> Result<Vec<Memory>> {
        if types.is_empty() {
            return Ok(Vec::new());
        }
        let types: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMORY_COLUMNS} FROM memories
             WHERE shared = 0 AND team_author IS NULL AND archived = 0 AND confidence >= ?1
               AND memory_type IN (SELECT value FROM json_each(?2))
             ORDER BY id LIMIT ?3"
        )))
        .bind(min_confidence)
        .bind(serde_json::to_string(&types).unwrap_or_else(|_| "[]".to_owned()))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(memory_from_row).collect()
    }

    /// The oldest `limit` changes waiting for the team, with their
    /// memories, in one query.
    pub async fn team_outbox(&self, limit: usize) -> Result<Vec<Outgoing>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT o.gid AS outbox_gid, o.queued_at AS outbox_queued_at, {MEMORY_COLUMNS}
             FROM team_outbox o LEFT JOIN memories m ON m.gid = o.gid
             ORDER BY o.queued_at LIMIT ?1"
        )))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let id: Option<i64> = row.try_get("id")?;
                Ok(Outgoing {
                    gid: row.try_get("outbox_gid")?,
                    queued_at: row.try_get("outbox_queued_at")?,
                    memory: id.map(|_| memory_from_row(row)).transpose()?,
                })
            })
            .collect()
    }

    /// A change reached the team: drops it from the outbox unless it was
    /// queued again meanwhile, and, when the team already held the same text
    /// under `adopted`, takes that id (unless another memory here has it).
    pub async fn team_published(
        &self,
        gid: &str,
        queued_at: i64,
        synced_at: i64,
        adopted: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM team_outbox WHERE gid = ?1 AND queued_at = ?2")
            .bind(gid)
            .bind(queued_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE memories SET team_synced_at = ?2 WHERE gid = ?1")
            .bind(gid)
            .bind(synced_at)
            .execute(&mut *tx)
            .await?;
        if let Some(other) = adopted.filter(|o| *o != gid) {
            let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM memories WHERE gid = ?1")
                .bind(other)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_none() {
                sqlx::query("UPDATE memories SET gid = ?2 WHERE gid = ?1")
                    .bind(gid)
                    .bind(other)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM team_outbox WHERE gid = ?1").bind(other).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A publish failed: counts the attempt and keeps the reason.
    pub async fn team_publish_failed(&self, gid: &str, error: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE team_outbox SET attempts = attempts + 1, last_error = ?2 WHERE gid = ?1")
            .bind(gid)
            .bind(error)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies one pulled version in one transaction, with its vector when
    /// the text is new here.
    pub async fn apply_team(&self, incoming: &Incoming, vector: Option<(&Space, &[f32])>) -> Result<Applied> {
        let mut tx = self.begin_write().await?;
        let local =
            sqlx::query("SELECT id, updated_at, team_author, content_hash FROM memories WHERE gid = ?1")
                .bind(&incoming.gid)
                .fetch_optional(&mut *tx)
                .await?;
        let hash = cm_core::text::content_hash(&incoming.memory.content);
        let applied = match local {
            Some(row) => {
                let (id, updated_at): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
                let author: Option<String> = row.try_get(2)?;
                if updated_at > incoming.updated_at {
                    Applied::Unchanged
                } else if incoming.deleted {
                    if author.is_some() {
                        delete_vectors(&mut tx, id).await?;
                        sqlx::query("DELETE FROM memories WHERE id = ?1").bind(id).execute(&mut *tx).await?;
                        Applied::Deleted(id)
                    } else {
                        // This person's memory left the team; it stays theirs.
                        sqlx::query("UPDATE memories SET shared = 0, team_synced_at = ?2 WHERE id = ?1")
                            .bind(id)
                            .bind(incoming.updated_at)
                            .execute(&mut *tx)
                            .await?;
                        Applied::Updated(id)
                    }
                } else {
                    let m = &incoming.memory;
                    let changed = sqlx::query(
                        "UPDATE memories SET content = ?2, structured = ?3, summary = ?4, memory_type = ?5,
                             domain = ?6, tags = ?7, keywords = ?8, confidence = ?9, content_hash = ?10,
                             archived = ?11, updated_at = ?12, team_synced_at = ?12, team_evidence = ?13
                         WHERE id = ?1 AND (content_hash <> ?10 OR archived <> ?11 OR updated_at <> ?12
                             OR team_evidence <> ?13 OR memory_type <> ?5 OR domain <> ?6)",
                    )
                    .bind(id)
                    .bind(&m.content)
                    .bind(m.structured.as_deref())
                    .bind(m.summary.as_deref())
                    .bind(m.memory_type.as_str())
                    .bind(m.domain.as_str())
                    .bind(serde_json::Value::from(m.tags.clone()).to_string())
                    .bind(serde_json::Value::from(m.keywords.clone()).to_string())
                    .bind(m.confidence)
                    .bind(&hash)
                    .bind(i64::from(incoming.archived))
                    .bind(incoming.updated_at)
                    .bind(incoming.others_validations)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0;
                    let text_changed: bool = row.try_get::<String, _>(3)? != hash;
                    if text_changed && let Some((space, v)) = vector {
                        insert_vector(&mut tx, space, id, v).await?;
                    }
                    if changed {
                        // A teammate's archive or new type reaches the vector
                        // tables' filter columns too, in every space.
                        sync_metadata(&mut tx, id).await?;
                        Applied::Updated(id)
                    } else {
                        Applied::Unchanged
                    }
                }
            }
            None if incoming.deleted => Applied::Unchanged,
            None => {
                let same: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM memories WHERE content_hash = ?1 AND gid IS NULL LIMIT 1",
                )
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await?;
                match same {
                    // This person already holds the text: the two are one memory.
                    Some(id) => {
                        sqlx::query(
                            "UPDATE memories SET gid = ?2, team_synced_at = updated_at WHERE id = ?1",
                        )
                        .bind(id)
                        .bind(&incoming.gid)
                        .execute(&mut *tx)
                        .await?;
                        Applied::Updated(id)
                    }
                    None => {
                        let id = insert_row(
                            &mut tx,
                            &incoming.memory,
                            None,
                            incoming.created_at,
                            incoming.updated_at,
                        )
                        .await?;
                        sqlx::query(
                            "UPDATE memories SET gid = ?2, team_author = ?3, team_evidence = ?4, archived = ?5,
                                 team_synced_at = ?6
                             WHERE id = ?1",
                        )
                        .bind(id)
                        .bind(&incoming.gid)
                        .bind(&incoming.author)
                        .bind(incoming.others_validations)
                        .bind(i64::from(incoming.archived))
                        .bind(incoming.updated_at)
                        .execute(&mut *tx)
                        .await?;
                        if let Some((space, v)) = vector {
                            insert_vector(&mut tx, space, id, v).await?;
                        }
                        Applied::Inserted(id)
                    }
                }
            }
        };
        // The team's own version is not news to the team.
        sqlx::query("DELETE FROM team_outbox WHERE gid = ?1").bind(&incoming.gid).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(applied)
    }

    /// The team marks of `ids` that have one (shared, or pulled).
    pub async fn team_marks(&self, ids: &[i64]) -> Result<HashMap<i64, TeamMark>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT id, shared, team_author, team_evidence FROM memories
             WHERE id IN (SELECT value FROM json_each(?1)) AND (shared = 1 OR team_author IS NOT NULL)",
        )
        .bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned()))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    TeamMark {
                        shared: r.try_get::<i64, _>(1)? != 0,
                        author: r.try_get(2)?,
                        team_evidence: r.try_get(3)?,
                    },
                ))
            })
            .collect()
    }

    /// Shared, pulled and pending counts.
    pub async fn team_counts(&self) -> Result<TeamCounts> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM memories WHERE shared = 1),
                    (SELECT count(*) FROM memories WHERE team_author IS NOT NULL),
                    (SELECT count(*) FROM team_outbox)",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(TeamCounts { shared: row.try_get(0)?, pulled: row.try_get(1)?, pending: row.try_get(2)? })
    }
}
