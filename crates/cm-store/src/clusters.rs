//! Clusters of similar memories: joined on save, matured by size and
//! confidence, merged into one consolidated memory, and unmerged exactly.

use cm_core::NewMemory;
use sqlx::Row;

use crate::memories::insert_row;
use crate::vectors::{Space, blob_vector, insert_vector, sync_metadata, vector_blob};
use crate::{Error, Result, Store, now_ms};

/// When a cluster is mature (ready to merge).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Maturity {
    /// Least members.
    pub members: i64,
    /// Least average confidence of its members.
    pub avg_confidence: f64,
}

/// A memory's cluster after [`Store::assign_cluster`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    /// The cluster.
    pub cluster_id: i64,
    /// Whether the memory started it.
    pub created: bool,
    /// Cosine similarity to the centroid it joined (1 for a new cluster).
    pub similarity: f64,
    /// Whether the cluster is now mature.
    pub mature: bool,
}

/// A member of a cluster, as merging needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Memory id.
    pub id: i64,
    /// Its text.
    pub content: String,
    /// Its structure (XML), if any.
    pub structured: Option<String>,
    /// Its confidence.
    pub confidence: f64,
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na.sqrt() * nb.sqrt()) }
}

impl Store {
    /// Puts memory `id` (with `vector` in `space`) into the nearest live
    /// cluster of its domain whose centroid it is at least `threshold`
    /// similar to, or starts one. The centroid stays the true mean of its
    /// members' vectors; the status becomes `mature` once `maturity` holds.
    /// Deterministic: ties go to the oldest cluster.
    pub async fn assign_cluster(
        &self,
        id: i64,
        space: &Space,
        vector: &[f32],
        threshold: f64,
        maturity: Maturity,
    ) -> Result<Assignment> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT domain, content, cluster_id FROM memories WHERE id = ?1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound(id))?;
        let (domain, content): (String, String) = (row.try_get("domain")?, row.try_get("content")?);
        if let Some(existing) = row.try_get::<Option<i64>, _>("cluster_id")? {
            tx.commit().await?;
            return Ok(Assignment { cluster_id: existing, created: false, similarity: 1.0, mature: false });
        }
        let clusters = sqlx::query(
            "SELECT id, centroid, member_count FROM clusters
             WHERE domain = ?1 AND embedding_model = ?2 AND status != 'merged' AND centroid IS NOT NULL
             ORDER BY id",
        )
        .bind(&domain)
        .bind(&space.model_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut best: Option<(i64, f64, Vec<f32>, i64)> = None;
        for c in &clusters {
            let centroid = blob_vector(&c.try_get::<Vec<u8>, _>("centroid")?);
            let sim = cosine(vector, &centroid);
            if sim >= threshold && best.as_ref().is_none_or(|b| sim > b.1) {
                best = Some((c.try_get("id")?, sim, centroid, c.try_get("member_count")?));
            }
        }
        let now = now_ms();
        let (cluster_id, created, similarity) = match best {
            Some((cid, sim, centroid, n)) => {
                // The running mean: (c·n + v) / (n + 1).
                let n = n.max(0) as f32;
                let mean: Vec<f32> =
                    centroid.iter().zip(vector).map(|(c, v)| (c * n + v) / (n + 1.0)).collect();
                sqlx::query("UPDATE clusters SET centroid = ?2, updated_at = ?3 WHERE id = ?1")
                    .bind(cid)
                    .bind(vector_blob(&mean))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                (cid, false, sim)
            }
            None => {
                let theme: String = content.split_whitespace().take(8).collect::<Vec<_>>().join(" ");
                let cid: i64 = sqlx::query_scalar(
                    "INSERT INTO clusters (theme, domain, centroid, embedding_model, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
                )
                .bind(theme)
                .bind(&domain)
                .bind(vector_blob(vector))
                .bind(&space.model_id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                (cid, true, 1.0)
            }
        };
        sqlx::query("UPDATE memories SET cluster_id = ?2 WHERE id = ?1")
            .bind(id)
            .bind(cluster_id)
            .execute(&mut *tx)
            .await?;
        let mature = refresh_cluster(&mut tx, cluster_id, maturity).await?;
        tx.commit().await?;
        Ok(Assignment { cluster_id, created, similarity, mature })
    }

    /// Live memories with a vector in `space` that belong to no cluster
    /// (consolidated memories excepted), oldest first, with their vectors.
    pub async fn unclustered(&self, space: &Space, limit: usize) -> Result<Vec<(i64, Vec<f32>)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            // In id order (NOT INDEXED), stopping at `limit`: an index on
            // `archived` would have the whole table read and sorted.
            "SELECT m.id, f.embedding FROM memories m NOT INDEXED JOIN {}_full f ON f.memory_id = m.id
             WHERE m.archived = 0 AND m.cluster_id IS NULL AND m.source != 'merge'
             ORDER BY m.id LIMIT ?1",
            space.table
        )))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, blob_vector(&r.try_get::<Vec<u8>, _>("embedding")?))))
            .collect()
    }

    /// Every live memory's vector in `space` with its cluster, oldest first
    /// (for the dashboard's map), at most `limit`.
    pub async fn live_vectors(
        &self,
        space: &Space,
        limit: usize,
    ) -> Result<Vec<(i64, Option<i64>, Vec<f32>)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            // In id order, stopping at `limit` (see `unclustered`).
            "SELECT m.id, m.cluster_id, f.embedding FROM memories m NOT INDEXED JOIN {}_full f ON f.memory_id = m.id
             WHERE m.archived = 0 ORDER BY m.id LIMIT ?1",
            space.table
        )))
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let vector = blob_vector(&r.try_get::<Vec<u8>, _>("embedding")?);
                Ok((r.try_get("id")?, r.try_get("cluster_id")?, vector))
            })
            .collect()
    }

    /// The live members of a cluster, oldest first.
    pub async fn cluster_members(&self, cluster_id: i64) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT id, content, structured, confidence FROM memories
             WHERE cluster_id = ?1 AND archived = 0 ORDER BY created_at, id",
        )
        .bind(cluster_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    id: r.try_get("id")?,
                    content: r.try_get("content")?,
                    structured: r.try_get("structured")?,
                    confidence: r.try_get("confidence")?,
                })
            })
            .collect()
    }

    /// Merges cluster `cluster_id` in one transaction: writes `merged` (the
    /// consolidated memory, with its vector when given), archives every live
    /// member with `merged_into` pointing at it, and marks the cluster
    /// merged. Returns the new memory's id.
    pub async fn merge_cluster(
        &self,
        cluster_id: i64,
        merged: &NewMemory,
        vector: Option<(&Space, &[f32])>,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM clusters WHERE id = ?1")
            .bind(cluster_id)
            .fetch_optional(&mut *tx)
            .await?;
        match status.as_deref() {
            None => return Err(Error::Data(format!("no cluster {cluster_id}"))),
            Some("merged") => return Err(Error::Data(format!("cluster {cluster_id} is already merged"))),
            Some(_) => {}
        }
        let now = now_ms();
        let id = insert_row(&mut tx, merged, None, now, now).await?;
        if let Some((space, v)) = vector {
            insert_vector(&mut tx, space, id, v).await?;
        }
        let members: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM memories WHERE cluster_id = ?1 AND archived = 0 AND id != ?2")
                .bind(cluster_id)
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        // Sources keep every field but these two (and no new updated_at), so
        // unmerging gives them back exactly as they were.
        for m in &members {
            sqlx::query("UPDATE memories SET archived = 1, merged_into = ?2 WHERE id = ?1")
                .bind(m)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sync_metadata(&mut tx, *m).await?;
        }
        sqlx::query(
            "UPDATE clusters SET status = 'merged', merged_memory_id = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .bind(cluster_id)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Undoes [`Store::merge_cluster`]: restores the sources exactly,
    /// deletes the consolidated memory and reopens the cluster. Returns the
    /// restored ids.
    pub async fn unmerge_cluster(&self, cluster_id: i64, maturity: Maturity) -> Result<Vec<i64>> {
        let mut tx = self.begin_write().await?;
        let merged: Option<Option<i64>> =
            sqlx::query_scalar("SELECT merged_memory_id FROM clusters WHERE id = ?1 AND status = 'merged'")
                .bind(cluster_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(Some(merged)) = merged else {
            return Err(Error::Data(format!("cluster {cluster_id} is not merged")));
        };
        let sources: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM memories WHERE merged_into = ?1 ORDER BY id")
                .bind(merged)
                .fetch_all(&mut *tx)
                .await?;
        for m in &sources {
            sqlx::query("UPDATE memories SET archived = 0, merged_into = NULL WHERE id = ?1")
                .bind(m)
                .execute(&mut *tx)
                .await?;
            sync_metadata(&mut tx, *m).await?;
        }
        crate::vectors::delete_vectors(&mut tx, merged).await?;
        sqlx::query("DELETE FROM memories WHERE id = ?1").bind(merged).execute(&mut *tx).await?;
        sqlx::query(
            "UPDATE clusters SET status = 'growing', merged_memory_id = NULL, updated_at = ?2 WHERE id = ?1",
        )
        .bind(cluster_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        refresh_cluster(&mut tx, cluster_id, maturity).await?;
        tx.commit().await?;
        Ok(sources)
    }
}

/// Recounts a live cluster's members and average confidence and sets its
/// status; returns whether it is mature.
async fn refresh_cluster(
    conn: &mut sqlx::SqliteConnection,
    cluster_id: i64,
    maturity: Maturity,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS members, AVG(confidence) AS avg_confidence FROM memories
         WHERE cluster_id = ?1 AND archived = 0",
    )
    .bind(cluster_id)
    .fetch_one(&mut *conn)
    .await?;
    let n: i64 = row.try_get("members")?;
    let avg = row.try_get::<Option<f64>, _>("avg_confidence")?.unwrap_or(0.0);
    let mature = n >= maturity.members && avg >= maturity.avg_confidence;
    sqlx::query(
        "UPDATE clusters SET member_count = ?2, avg_confidence = ?3,
                status = CASE WHEN status = 'merged' THEN 'merged' WHEN ?4 THEN 'mature' ELSE 'growing' END
         WHERE id = ?1",
    )
    .bind(cluster_id)
    .bind(n)
    .bind(avg)
    .bind(mature)
    .execute(&mut *conn)
    .await?;
    Ok(mature)
}
