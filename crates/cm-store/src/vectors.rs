//! Embedding spaces: one sqlite-vec `vec0` table per model.
//!
//! Each `vec0` table holds the full-precision vector (cosine distance), a
//! sign-bit quantised copy for a fast coarse scan on large projects, and the
//! metadata columns that search filters on, so filters apply inside the KNN
//! query rather than after its limit.
//!
//! A plain companion table `<table>_full` keeps a second copy of each float
//! vector keyed by memory id. vec0 stores vectors in multi-megabyte chunk
//! blobs, so fetching one vector by id walks a long overflow-page chain
//! (~0.4 ms); the companion makes the point lookups that re-scoring and
//! hybrid fusion need a B-tree probe. It doubles float storage, which is the
//! price of exact re-scoring at interactive latency.

use sqlx::AssertSqlSafe;
use sqlx::{Row, SqliteConnection};

use crate::{Error, Result, Store, now_ms};

/// An embedding model's table in this project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    /// Row id in `embedding_spaces`.
    pub id: i64,
    /// The model's stable id.
    pub model_id: String,
    /// Vector length.
    pub dimension: usize,
    /// Name of the `vec0` table.
    pub table: String,
    /// Vectors stored.
    pub vector_count: i64,
}

/// Serialises a vector the way sqlite-vec reads `float[N]`: little-endian f32.
pub(crate) fn vector_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// Reads a little-endian f32 blob.
pub(crate) fn blob_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn space_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Space> {
    Ok(Space {
        id: row.try_get("id")?,
        model_id: row.try_get("model_id")?,
        dimension: row.try_get::<i64, _>("dimension")? as usize,
        table: row.try_get("table_name")?,
        vector_count: row.try_get("vector_count")?,
    })
}

impl Store {
    /// The space of `model_id`, if this project has one.
    pub async fn space(&self, model_id: &str) -> Result<Option<Space>> {
        let row = sqlx::query("SELECT * FROM embedding_spaces WHERE model_id = ?1")
            .bind(model_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(space_from_row).transpose()
    }

    /// Every space in this project.
    pub async fn spaces(&self) -> Result<Vec<Space>> {
        let rows = sqlx::query("SELECT * FROM embedding_spaces ORDER BY id").fetch_all(self.pool()).await?;
        rows.iter().map(space_from_row).collect()
    }

    /// The space of `model_id`, created with `dimension` if missing. A model
    /// already recorded with another dimension is an error, never a resize.
    pub async fn ensure_space(&self, model_id: &str, dimension: usize) -> Result<Space> {
        if let Some(space) = self.space(model_id).await? {
            return check_dimension(space, dimension);
        }
        // bit[N] columns need whole bytes, hence the multiple of 8.
        if dimension == 0 || dimension > 8192 || !dimension.is_multiple_of(8) {
            return Err(Error::Data(format!("unsupported embedding dimension {dimension}")));
        }
        let mut tx = self.begin_write().await?;
        // Another process may have created it between our read and the lock.
        let existing = sqlx::query("SELECT * FROM embedding_spaces WHERE model_id = ?1")
            .bind(model_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            tx.rollback().await?;
            return check_dimension(space_from_row(&row)?, dimension);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO embedding_spaces (model_id, dimension, table_name, created_at)
             VALUES (?1, ?2, 'pending-' || ?1, ?3) RETURNING id",
        )
        .bind(model_id)
        .bind(dimension as i64)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let table = format!("vec_{id}");
        sqlx::query("UPDATE embedding_spaces SET table_name = ?1 WHERE id = ?2")
            .bind(&table)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // The dimension is an integer we validated and the table name is
        // derived from a row id, so formatting them into DDL is safe.
        sqlx::query(AssertSqlSafe(format!(
            "CREATE VIRTUAL TABLE {table} USING vec0 (
                memory_id INTEGER PRIMARY KEY,
                embedding float[{dimension}] distance_metric=cosine,
                embedding_coarse bit[{dimension}],
                archived integer,
                memory_type text,
                domain text,
                confidence float
            )"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE {table}_full (memory_id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)"
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Space { id, model_id: model_id.to_owned(), dimension, table, vector_count: 0 })
    }
}

fn check_dimension(space: Space, dimension: usize) -> Result<Space> {
    if space.dimension != dimension {
        return Err(Error::Dimension { model: space.model_id, expected: space.dimension, actual: dimension });
    }
    Ok(space)
}

/// Writes `vector` for memory `id` into `space`, with the memory's current metadata.
pub(crate) async fn insert_vector(
    conn: &mut SqliteConnection,
    space: &Space,
    id: i64,
    vector: &[f32],
) -> Result<()> {
    if vector.len() != space.dimension {
        return Err(Error::Dimension {
            model: space.model_id.clone(),
            expected: space.dimension,
            actual: vector.len(),
        });
    }
    let blob = vector_blob(vector);
    let replaced = sqlx::query(AssertSqlSafe(format!("DELETE FROM {} WHERE memory_id = ?1", space.table)))
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {} (memory_id, embedding, embedding_coarse, archived, memory_type, domain, confidence)
         SELECT id, ?2, vec_quantize_binary(?2), archived, memory_type, domain, confidence
         FROM memories WHERE id = ?1",
        space.table
    )))
    .bind(id)
    .bind(&blob)
    .execute(&mut *conn)
    .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT OR REPLACE INTO {}_full (memory_id, embedding) VALUES (?1, ?2)",
        space.table
    )))
    .bind(id)
    .bind(&blob)
    .execute(&mut *conn)
    .await?;
    log_change(conn, id).await?;
    sqlx::query("UPDATE embedding_spaces SET vector_count = vector_count + ?1 WHERE id = ?2")
        .bind(1 - replaced as i64)
        .bind(space.id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE memories SET embedding_model = ?1 WHERE id = ?2")
        .bind(&space.model_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Copies a memory's filterable columns into every space, after an update.
pub(crate) async fn sync_metadata(conn: &mut SqliteConnection, id: i64) -> Result<()> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name FROM embedding_spaces").fetch_all(&mut *conn).await?;
    if tables.is_empty() {
        return Ok(());
    }
    let row = sqlx::query("SELECT archived, memory_type, domain, confidence FROM memories WHERE id = ?1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let archived: i64 = row.try_get("archived")?;
    let memory_type: String = row.try_get("memory_type")?;
    let domain: String = row.try_get("domain")?;
    let confidence: f64 = row.try_get("confidence")?;
    for table in tables {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET archived = ?2, memory_type = ?3, domain = ?4, confidence = ?5
             WHERE memory_id = ?1"
        )))
        .bind(id)
        .bind(archived)
        .bind(&memory_type)
        .bind(&domain)
        .bind(confidence)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Tells every process's vector index (`index.rs`) that memory `id`'s
/// vector changed, in the transaction that changes it.
async fn log_change(conn: &mut SqliteConnection, id: i64) -> Result<()> {
    sqlx::query("INSERT INTO vector_changes (memory_id) VALUES (?1)").bind(id).execute(&mut *conn).await?;
    Ok(())
}

/// Removes a memory's vectors from every space.
pub(crate) async fn delete_vectors(conn: &mut SqliteConnection, id: i64) -> Result<()> {
    log_change(conn, id).await?;
    let spaces = sqlx::query("SELECT id, table_name FROM embedding_spaces").fetch_all(&mut *conn).await?;
    for space in &spaces {
        let space_id: i64 = space.try_get("id")?;
        let table: String = space.try_get("table_name")?;
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}_full WHERE memory_id = ?1")))
            .bind(id)
            .execute(&mut *conn)
            .await?;
        let n = sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE memory_id = ?1")))
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        sqlx::query("UPDATE embedding_spaces SET vector_count = vector_count - ?1 WHERE id = ?2")
            .bind(n as i64)
            .bind(space_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
