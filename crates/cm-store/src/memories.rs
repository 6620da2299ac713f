//! Reading and writing memory rows.

use std::collections::HashSet;

use cm_core::memory::{MAX_CONFIDENCE, MIN_CONFIDENCE, clamp_confidence, normalize_labels};
use cm_core::text::{content_hash, dedupe_query, jaccard, word_set};
use cm_core::{Domain, Memory, MemoryType, NewMemory, Provenance, Source, Stale};
use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;
use sqlx::{Row, SqliteConnection};

use crate::vectors::{Space, delete_vectors, insert_vector, sync_metadata};
use crate::{Error, Result, Store, now_ms};

/// Columns selected for a [`Memory`]: the ones [`memory_from_row`] reads, by name.
pub(crate) const MEMORY_COLUMNS: &str = "id, content, structured, summary, memory_type, domain, tags, \
     keywords, confidence, evidence_count, access_count, last_accessed_at, created_at, updated_at, \
     source, session_id, transcript_start, transcript_end, content_hash, embedding_model, archived, \
     merged_into, cluster_id, superseded_by, team_author, shared, stale_path, stale_reason, stale_at";

pub(crate) fn memory_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Memory> {
    let parse_labels = |col: &str| -> Result<Vec<String>> {
        let raw: String = row.try_get(col)?;
        serde_json::from_str(&raw).map_err(|e| Error::Data(format!("{col}: {e}")))
    };
    let memory_type: String = row.try_get("memory_type")?;
    let domain: String = row.try_get("domain")?;
    let source: String = row.try_get("source")?;
    Ok(Memory {
        id: row.try_get("id")?,
        content: row.try_get("content")?,
        structured: row.try_get("structured")?,
        summary: row.try_get("summary")?,
        memory_type: memory_type.parse().map_err(|e: cm_core::Error| Error::Data(e.to_string()))?,
        domain: Domain::parse(&domain).map_err(|e| Error::Data(e.to_string()))?,
        tags: parse_labels("tags")?,
        keywords: parse_labels("keywords")?,
        confidence: row.try_get("confidence")?,
        evidence_count: row.try_get("evidence_count")?,
        access_count: row.try_get("access_count")?,
        last_accessed_at: row.try_get("last_accessed_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        source: source.parse().map_err(|e: cm_core::Error| Error::Data(e.to_string()))?,
        provenance: Provenance {
            session_id: row.try_get("session_id")?,
            transcript_start: row.try_get("transcript_start")?,
            transcript_end: row.try_get("transcript_end")?,
        },
        content_hash: row.try_get("content_hash")?,
        embedding_model: row.try_get("embedding_model")?,
        archived: row.try_get::<i64, _>("archived")? != 0,
        merged_into: row.try_get("merged_into")?,
        cluster_id: row.try_get("cluster_id")?,
        superseded_by: row.try_get("superseded_by")?,
        team_author: row.try_get("team_author")?,
        shared: row.try_get::<i64, _>("shared")? != 0,
        stale: stale_from_row(row)?,
    })
}

/// A memory's stale flag: set when its path and time are.
fn stale_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Option<Stale>> {
    let path: Option<String> = row.try_get("stale_path")?;
    let at: Option<i64> = row.try_get("stale_at")?;
    let reason: Option<String> = row.try_get("stale_reason")?;
    Ok(match (path, at) {
        (Some(path), Some(at)) => Some(Stale { path, reason: reason.unwrap_or_default(), at }),
        _ => None,
    })
}

/// Filters for [`Store::list`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListFilter {
    /// Only this type.
    pub memory_type: Option<MemoryType>,
    /// Only this domain.
    pub domain: Option<Domain>,
    /// Only this source.
    pub source: Option<Source>,
    /// Only memories at least this confident.
    pub min_confidence: Option<f64>,
    /// `None`: live memories only; `Some(true)`: archived only; `Some(false)`: both.
    pub archived: Option<bool>,
    /// Only memories with this tag (e.g. `quarantined`, for review).
    pub tag: Option<String>,
    /// Only memories flagged stale (a file they name went away).
    #[serde(default)]
    pub stale: bool,
}

/// A memory without a vector from some model: what embedding it needs.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Unembedded {
    /// Row id.
    pub id: i64,
    /// The note.
    pub content: String,
    /// Its summary, embedded with it.
    pub summary: Option<String>,
}

/// Fields of a memory that an edit may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryPatch {
    /// New content (already redacted by the caller).
    pub content: Option<String>,
    /// New structured XML.
    pub structured: Option<String>,
    /// New summary.
    pub summary: Option<String>,
    /// New type.
    pub memory_type: Option<MemoryType>,
    /// New domain.
    pub domain: Option<Domain>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New keywords.
    pub keywords: Option<Vec<String>>,
    /// New confidence (clamped).
    pub confidence: Option<f64>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Memories written, with their ids in this project.
    pub imported: Vec<i64>,
    /// Memories skipped because one with the same content hash exists.
    pub skipped: usize,
    /// Imported memories whose original id was taken here and so got a new one.
    pub renumbered: usize,
    /// Memories archived because what they came from is gone (a statement
    /// removed from `CLAUDE.md`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub archived: usize,
    /// Lines refused, each with why (lenient formats; nothing of them is written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<ImportFailure>,
    /// Each memory of the file that has an id there: that id and its id
    /// here, whether imported or already present (to carry links between
    /// memories over).
    #[serde(skip)]
    pub placed: Vec<(i64, i64)>,
}

/// A line an import could not take, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFailure {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong with it.
    pub reason: String,
}

impl Store {
    /// One memory, archived or not.
    pub async fn get(&self, id: i64) -> Result<Memory> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {MEMORY_COLUMNS} FROM memories WHERE id = ?1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(Error::NotFound(id))?;
        memory_from_row(&row)
    }

    /// Memories by `filter`, newest first.
    pub async fn list(&self, filter: &ListFilter, limit: usize, offset: usize) -> Result<Vec<Memory>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MEMORY_COLUMNS} FROM memories
             WHERE (?1 IS NULL OR memory_type = ?1)
               AND (?2 IS NULL OR domain = ?2)
               AND (?3 IS NULL OR source = ?3)
               AND (?4 IS NULL OR confidence >= ?4)
               AND (?5 IS NULL OR archived = ?5)
               AND (?8 IS NULL OR EXISTS (SELECT 1 FROM json_each(memories.tags) WHERE value = ?8))
               AND (?9 = 0 OR stale_at IS NOT NULL)
             ORDER BY created_at DESC, id DESC
             LIMIT ?6 OFFSET ?7"
        )))
        .bind(filter.memory_type.map(MemoryType::as_str))
        .bind(filter.domain.as_ref().map(Domain::as_str))
        .bind(filter.source.map(Source::as_str))
        .bind(filter.min_confidence)
        .bind(match filter.archived {
            None => Some(0i64),
            Some(true) => Some(1),
            Some(false) => None,
        })
        // Past i64::MAX a page is empty, not the first one again.
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        // Tags are stored normalised (lower case): a filter is spelt the same way.
        .bind(
            filter
                .tag
                .as_deref()
                .map(|t| normalize_labels("tag", &[t]).ok().and_then(|mut l| l.pop()).unwrap_or_default()),
        )
        .bind(filter.stale)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(memory_from_row).collect()
    }

    /// The most confident live memories of `types`, most used first among equals.
    pub async fn most_confident(&self, types: &[MemoryType], limit: usize) -> Result<Vec<Memory>> {
        let types: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MEMORY_COLUMNS} FROM memories
             WHERE archived = 0 AND memory_type IN (SELECT value FROM json_each(?1))
             ORDER BY confidence DESC, access_count DESC, updated_at DESC, id DESC
             LIMIT ?2"
        )))
        .bind(serde_json::to_string(&types).map_err(|e| Error::Data(e.to_string()))?)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(memory_from_row).collect()
    }

    /// Every memory (archived included) in id order, for export.
    pub async fn all(&self) -> Result<Vec<Memory>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {MEMORY_COLUMNS} FROM memories ORDER BY id")))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(memory_from_row).collect()
    }

    /// The live memory whose word set is at least `threshold`-similar (Jaccard)
    /// to `content`, if any. Candidates come from full-text search over the
    /// whole project, whatever their age.
    pub async fn find_duplicate(
        &self,
        content: &str,
        threshold: f64,
        candidates: usize,
    ) -> Result<Option<i64>> {
        let mut conn = self.pool().acquire().await?;
        find_duplicate(&mut conn, content, threshold, candidates).await
    }

    /// Reinforces memory `id` because a near-duplicate was saved again:
    /// access count +1, confidence +0.05 (at most 0.9).
    pub async fn reinforce(&self, id: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        reinforce(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Inserts a new memory, with its vector when given, in one transaction.
    ///
    /// The duplicate check is repeated under the write lock, so two processes
    /// saving the same note at once create it once: the second reinforces it.
    /// Returns the id and whether it was created (`false`: reinforced).
    pub async fn insert(
        &self,
        new: &NewMemory,
        vector: Option<(&Space, &[f32])>,
        dedupe_threshold: f64,
        dedupe_candidates: usize,
    ) -> Result<(i64, bool)> {
        let mut tx = self.begin_write().await?;
        if let Some(id) = find_duplicate(&mut tx, &new.content, dedupe_threshold, dedupe_candidates).await? {
            reinforce(&mut tx, id).await?;
            tx.commit().await?;
            return Ok((id, false));
        }
        let now = now_ms();
        let id = insert_row(&mut tx, new, None, now, now).await?;
        if let Some((space, v)) = vector {
            insert_vector(&mut tx, space, id, v).await?;
        }
        tx.commit().await?;
        Ok((id, true))
    }

    /// Writes a record of memories as they are, in one transaction: each
    /// dated `created_at` (unix milliseconds) instead of now, and with no
    /// duplicate check, so every item stays its own memory even when its text
    /// repeats an earlier one (a conversation says "Thanks!" many times).
    /// `vectors`, when given, holds one vector per memory in `space`.
    /// Returns the new ids in order.
    pub async fn insert_record(
        &self,
        memories: &[(NewMemory, i64)],
        vectors: Option<(&Space, &[Vec<f32>])>,
    ) -> Result<Vec<i64>> {
        if let Some((_, v)) = vectors
            && v.len() != memories.len()
        {
            return Err(Error::Data(format!("{} vectors for {} memories", v.len(), memories.len())));
        }
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::with_capacity(memories.len());
        for (i, (new, created_at)) in memories.iter().enumerate() {
            let id = insert_row(&mut tx, new, None, *created_at, *created_at).await?;
            if let Some((space, v)) = vectors {
                insert_vector(&mut tx, space, id, &v[i]).await?;
            }
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Stores (or replaces) the vector of memory `id` in `space`.
    pub async fn set_vector(&self, id: i64, space: &Space, vector: &[f32]) -> Result<()> {
        match self.set_vectors(space, &[(id, vector)]).await? {
            0 => Err(Error::NotFound(id)),
            _ => Ok(()),
        }
    }

    /// Stores (or replaces) the vectors of many memories in `space`, in one
    /// transaction: an import or a model switch writes a batch at a time,
    /// not a transaction per memory. A memory deleted since its text was
    /// read is passed over (it needs no vector); returns how many were
    /// written. A vector of the wrong dimension writes none of them.
    pub async fn set_vectors(&self, space: &Space, vectors: &[(i64, &[f32])]) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        let mut written = 0;
        for &(id, vector) in vectors {
            match ensure_exists(&mut tx, id).await {
                Err(Error::NotFound(_)) => continue,
                other => other?,
            }
            insert_vector(&mut tx, space, id, vector).await?;
            written += 1;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Records feedback: +0.1 when helpful, −0.05 when not, clamped to
    /// [0.3, 0.9]; evidence count +1.
    pub async fn validate(&self, id: i64, helpful: bool) -> Result<Memory> {
        let delta = if helpful { 0.1 } else { -0.05 };
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE memories SET confidence = MIN(?2, MAX(?3, confidence + ?4)),
                 evidence_count = evidence_count + 1, updated_at = ?5
             WHERE id = ?1",
        )
        .bind(id)
        .bind(MAX_CONFIDENCE)
        .bind(MIN_CONFIDENCE)
        .bind(delta)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound(id));
        }
        sync_metadata(&mut tx, id).await?;
        tx.commit().await?;
        self.get(id).await
    }

    /// Applies an edit. Content changes recompute the content hash; the caller
    /// re-embeds (the old vector is removed so search never uses a stale one).
    ///
    /// New content takes the structure, summary and keywords given with it,
    /// or none: those of the old text would describe what it no longer says
    /// and keep it found by words it no longer holds.
    pub async fn update(&self, id: i64, patch: &MemoryPatch) -> Result<Memory> {
        let tags = patch.tags.as_deref().map(|t| normalize_labels("tags", t)).transpose()?;
        let keywords = patch.keywords.as_deref().map(|k| normalize_labels("keywords", k)).transpose()?;
        let confidence = patch.confidence.map(clamp_confidence).transpose()?;
        if let Some(c) = &patch.content {
            cm_core::NewMemory::new(c, Source::Cli)?;
        }
        let mut tx = self.begin_write().await?;
        ensure_exists(&mut tx, id).await?;
        let content = patch.content.as_deref().map(str::trim);
        sqlx::query(
            "UPDATE memories SET
                 content = COALESCE(?2, content),
                 content_hash = COALESCE(?3, content_hash),
                 structured = CASE WHEN ?2 IS NULL THEN COALESCE(?4, structured) ELSE ?4 END,
                 summary = CASE WHEN ?2 IS NULL THEN COALESCE(?5, summary) ELSE ?5 END,
                 memory_type = COALESCE(?6, memory_type),
                 domain = COALESCE(?7, domain),
                 tags = COALESCE(?8, tags),
                 confidence = COALESCE(?9, confidence),
                 updated_at = ?10,
                 keywords = CASE WHEN ?2 IS NULL THEN COALESCE(?11, keywords) ELSE COALESCE(?11, '[]') END
             WHERE id = ?1",
        )
        .bind(id)
        .bind(content)
        .bind(content.map(content_hash))
        .bind(patch.structured.as_deref())
        .bind(patch.summary.as_deref())
        .bind(patch.memory_type.map(MemoryType::as_str))
        .bind(patch.domain.as_ref().map(Domain::as_str))
        .bind(tags.map(|t| serde_json::Value::from(t).to_string()))
        .bind(confidence)
        .bind(now_ms())
        .bind(keywords.map(|k| serde_json::Value::from(k).to_string()))
        .execute(&mut *tx)
        .await?;
        if content.is_some() {
            delete_vectors(&mut tx, id).await?;
            sqlx::query("UPDATE memories SET embedding_model = NULL WHERE id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        } else {
            sync_metadata(&mut tx, id).await?;
        }
        tx.commit().await?;
        self.get(id).await
    }

    /// Archives (`true`) or restores (`false`) a memory. Archived memories are
    /// kept, listed on request, and left out of search.
    /// A memory already in that state is left as it is: no new
    /// `updated_at`, nothing queued for the team.
    pub async fn set_archived(&self, id: i64, archived: bool) -> Result<Memory> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE memories SET archived = ?2, updated_at = ?3 WHERE id = ?1 AND archived <> ?2",
        )
        .bind(id)
        .bind(archived as i64)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            ensure_exists(&mut tx, id).await?;
        } else {
            sync_metadata(&mut tx, id).await?;
            tx.commit().await?;
        }
        self.get(id).await
    }

    /// Links imported memories to the memories that superseded them, `(id,
    /// by)` each, in one transaction, leaving their times as imported; a
    /// pair naming a memory that is gone is passed over.
    pub async fn link_superseded(&self, links: &[(i64, i64)]) -> Result<()> {
        if links.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for &(id, by) in links.iter().filter(|(id, by)| id != by) {
            sqlx::query(
                "UPDATE memories SET superseded_by = ?2 WHERE id = ?1 AND EXISTS (SELECT 1 FROM memories WHERE id = ?2)",
            )
            .bind(id)
            .bind(by)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks memory `id` as superseded by the newer memory `by` (`Some`), or
    /// live again (`None`, the undo). A memory cannot supersede itself, and
    /// `by` must exist.
    pub async fn set_superseded(&self, id: i64, by: Option<i64>) -> Result<Memory> {
        if by == Some(id) {
            return Err(Error::Data(format!("memory {id} cannot supersede itself")));
        }
        let mut tx = self.begin_write().await?;
        if let Some(by) = by {
            ensure_exists(&mut tx, by).await?;
        }
        // A memory already so is left untouched (no new `updated_at`).
        let n = sqlx::query(
            "UPDATE memories SET superseded_by = ?2, updated_at = ?3 WHERE id = ?1 AND superseded_by IS NOT ?2",
        )
        .bind(id)
        .bind(by)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            ensure_exists(&mut tx, id).await?;
        }
        tx.commit().await?;
        self.get(id).await
    }

    /// Deletes a memory and its vectors for good.
    pub async fn purge(&self, id: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        ensure_exists(&mut tx, id).await?;
        delete_vectors(&mut tx, id).await?;
        sqlx::query("DELETE FROM memories WHERE id = ?1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Imports exported memories. A memory whose content hash already exists
    /// is skipped, so importing the same file twice changes nothing. Ids,
    /// times and provenance are kept when the id is free here.
    pub async fn import(&self, memories: &[Memory]) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let mut tx = self.begin_write().await?;
        for m in memories {
            let hash = content_hash(&m.content);
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM memories WHERE content_hash = ?1 LIMIT 1")
                    .bind(&hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(here) = exists {
                report.skipped += 1;
                if m.id > 0 {
                    report.placed.push((m.id, here));
                }
                continue;
            }
            let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM memories WHERE id = ?1")
                .bind(m.id)
                .fetch_optional(&mut *tx)
                .await?;
            let keep_id = if taken.is_none() && m.id > 0 { Some(m.id) } else { None };
            // Only a memory that had an id can have been renumbered.
            if keep_id.is_none() && m.id > 0 {
                report.renumbered += 1;
            }
            let mut new = NewMemory::new(&m.content, m.source)?
                .with_type(m.memory_type)
                .with_domain(m.domain.clone())
                .with_tags(&m.tags)?
                .with_keywords(&m.keywords)?;
            // Imported confidence is kept as it was, clamped only to [0, 1].
            new.confidence = if m.confidence.is_nan() { 0.7 } else { m.confidence.clamp(0.0, 1.0) };
            new.structured = m.structured.clone();
            new.summary = m.summary.clone();
            new.provenance = m.provenance.clone();
            let id = insert_row(&mut tx, &new, keep_id, m.created_at, m.updated_at).await?;
            sqlx::query(
                "UPDATE memories SET evidence_count = ?2, access_count = ?3, last_accessed_at = ?4,
                     archived = ?5 WHERE id = ?1",
            )
            .bind(id)
            .bind(m.evidence_count)
            .bind(m.access_count)
            .bind(m.last_accessed_at)
            .bind(m.archived as i64)
            .execute(&mut *tx)
            .await?;
            report.imported.push(id);
            if m.id > 0 {
                report.placed.push((m.id, id));
            }
        }
        tx.commit().await?;
        Ok(report)
    }

    /// The text to embed of each of `ids` that exists, in the order given.
    pub async fn texts(&self, ids: &[i64]) -> Result<Vec<Unembedded>> {
        let rows = sqlx::query_as(
            "SELECT m.id, m.content, m.summary FROM json_each(?1) AS j
             CROSS JOIN memories m ON m.id = j.value ORDER BY j.key",
        )
        .bind(serde_json::Value::from(ids.to_vec()).to_string())
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// How many memories (archived included) have no vector from model
    /// `model_id`: all of them while it has no space here.
    pub async fn count_missing_vectors(&self, model_id: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM memories WHERE embedding_model IS NOT ?1")
            .bind(model_id)
            .fetch_one(self.pool())
            .await?;
        Ok(n as u64)
    }

    /// Memories (archived ones too: a search may include them) with no vector
    /// in `space` and an id above `after`, oldest first (for (re-)embedding:
    /// each batch starts after the last, so a run reads the table once
    /// rather than stepping over what it already embedded every time).
    pub async fn missing_vectors(&self, space: &Space, after: i64, limit: usize) -> Result<Vec<Unembedded>> {
        let rows: Vec<Unembedded> = sqlx::query_as(
            "SELECT id, content, summary FROM memories WHERE id > ?3 AND embedding_model IS NOT ?1
             ORDER BY id LIMIT ?2",
        )
        .bind(&space.model_id)
        .bind(limit as i64)
        .bind(after)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Marks memories as returned by a search: access count +1, last accessed now.
    pub async fn touch(&self, ids: &[i64]) -> Result<()> {
        let now = now_ms();
        let accesses: Vec<Access> = ids.iter().map(|&id| Access { id, count: 1, last_ms: now }).collect();
        self.record_accesses(&accesses).await
    }

    /// Adds gathered accesses in one transaction: `count` to each access
    /// count, and the later of the stored and given last-access times.
    pub async fn record_accesses(&self, accesses: &[Access]) -> Result<()> {
        if accesses.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for a in accesses {
            sqlx::query(
                "UPDATE memories SET access_count = access_count + ?2,
                     last_accessed_at = MAX(COALESCE(last_accessed_at, 0), ?3)
                 WHERE id = ?1",
            )
            .bind(a.id)
            .bind(i64::from(a.count))
            .bind(a.last_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Accesses of one memory gathered since the last write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Memory id.
    pub id: i64,
    /// Times it was returned.
    pub count: u32,
    /// When it was last returned, unix milliseconds.
    pub last_ms: i64,
}

async fn ensure_exists(conn: &mut SqliteConnection, id: i64) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM memories WHERE id = ?1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or(Error::NotFound(id))
}

pub(crate) async fn find_duplicate(
    conn: &mut SqliteConnection,
    content: &str,
    threshold: f64,
    candidates: usize,
) -> Result<Option<i64>> {
    // The exact (normalised) text is the common case and needs no scoring.
    let exact: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM memories WHERE content_hash = ?1 AND archived = 0 ORDER BY id LIMIT 1",
    )
    .bind(content_hash(content))
    .fetch_optional(&mut *conn)
    .await?;
    if exact.is_some() {
        return Ok(exact);
    }
    let Some(query) = dedupe_query(content, threshold) else {
        return Ok(None);
    };
    // CROSS JOIN pins the full-text match as the outer loop; a plain JOIN lets
    // the planner scan `memories` and re-run the MATCH once per row. No
    // ranking: the grouped AND query matches few rows, all of them checked.
    let rows = sqlx::query(
        "SELECT m.id, m.content FROM memories_fts f CROSS JOIN memories m ON m.id = f.rowid
         WHERE memories_fts MATCH ?1 AND m.archived = 0
         LIMIT ?2",
    )
    .bind(query)
    .bind(candidates as i64)
    .fetch_all(&mut *conn)
    .await?;
    let words: HashSet<String> = word_set(content);
    for row in &rows {
        let candidate: String = row.try_get("content")?;
        if jaccard(&words, &word_set(&candidate)) >= threshold {
            return Ok(Some(row.try_get("id")?));
        }
    }
    Ok(None)
}

pub(crate) async fn reinforce(conn: &mut SqliteConnection, id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE memories SET access_count = access_count + 1,
             confidence = MIN(?2, confidence + 0.05), last_accessed_at = ?3, updated_at = ?3
         WHERE id = ?1",
    )
    .bind(id)
    .bind(MAX_CONFIDENCE)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    sync_metadata(conn, id).await
}

pub(crate) async fn insert_row(
    conn: &mut SqliteConnection,
    new: &NewMemory,
    id: Option<i64>,
    created_at: i64,
    updated_at: i64,
) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO memories (id, content, structured, summary, memory_type, domain, tags, keywords,
             confidence, created_at, updated_at, source, session_id, transcript_start, transcript_end,
             content_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         RETURNING id",
    )
    .bind(id)
    .bind(&new.content)
    .bind(new.structured.as_deref())
    .bind(new.summary.as_deref())
    .bind(new.memory_type.as_str())
    .bind(new.domain.as_str())
    .bind(serde_json::Value::from(new.tags.clone()).to_string())
    .bind(serde_json::Value::from(new.keywords.clone()).to_string())
    .bind(new.confidence)
    .bind(created_at)
    .bind(updated_at)
    .bind(new.source.as_str())
    .bind(new.provenance.session_id.as_deref())
    .bind(new.provenance.transcript_start)
    .bind(new.provenance.transcript_end)
    .bind(content_hash(&new.content))
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
