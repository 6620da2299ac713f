//! Project statistics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, Row};

use crate::{Result, Store};

/// Counts describing one project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stats {
    /// Live (not archived) memories.
    pub total: i64,
    /// Archived memories (including merged sources).
    pub archived: i64,
    /// Live memories by type.
    pub by_type: BTreeMap<String, i64>,
    /// Live memories by domain.
    pub by_domain: BTreeMap<String, i64>,
    /// Live memories by source.
    pub by_source: BTreeMap<String, i64>,
    /// Clusters by status.
    pub clusters: BTreeMap<String, i64>,
    /// Average confidence of live memories.
    pub avg_confidence: f64,
    /// Vectors stored per embedding model.
    pub vectors: BTreeMap<String, i64>,
    /// Size of the database file and its WAL, in bytes.
    pub db_bytes: u64,
    /// Tokens the LLM used for this project.
    #[serde(default)]
    pub llm: crate::LlmUsage,
}

impl Store {
    /// Totals by type, domain and source; clusters by status; vectors by model; file size.
    pub async fn stats(&self) -> Result<Stats> {
        let pool = self.pool();
        let totals = sqlx::query(
            "SELECT COALESCE(SUM(archived = 0), 0) AS total, COALESCE(SUM(archived = 1), 0) AS archived,
                    AVG(CASE WHEN archived = 0 THEN confidence END) AS avg_confidence FROM memories",
        )
        .fetch_one(pool)
        .await?;
        let group = |col: &str| {
            format!(
                "SELECT {col} AS key, COUNT(*) AS n FROM memories WHERE archived = 0 GROUP BY {col} ORDER BY {col}"
            )
        };
        let by_type = counts(pool, group("memory_type")).await?;
        let by_domain = counts(pool, group("domain")).await?;
        let by_source = counts(pool, group("source")).await?;
        let clusters =
            counts(pool, "SELECT status AS key, COUNT(*) AS n FROM clusters GROUP BY status").await?;
        let vectors = counts(pool, "SELECT model_id AS key, vector_count AS n FROM embedding_spaces").await?;
        let file_len = |suffix: &str| {
            let mut p = self.path().as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(p).map_or(0, |m| m.len())
        };
        Ok(Stats {
            total: totals.try_get("total")?,
            archived: totals.try_get("archived")?,
            by_type,
            by_domain,
            by_source,
            clusters,
            avg_confidence: totals.try_get::<Option<f64>, _>("avg_confidence")?.unwrap_or(0.0),
            vectors,
            db_bytes: file_len("") + file_len("-wal"),
            llm: self.llm_usage().await?,
        })
    }
}

/// The `key` and `n` columns of `sql`'s rows, as a map.
async fn counts(pool: &SqlitePool, sql: impl Into<String>) -> Result<BTreeMap<String, i64>> {
    let rows = sqlx::query(AssertSqlSafe(sql.into())).fetch_all(pool).await?;
    rows.iter().map(|r| Ok((r.try_get("key")?, r.try_get("n")?))).collect()
}
