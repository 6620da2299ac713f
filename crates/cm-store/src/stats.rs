//! Project statistics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::AssertSqlSafe;

use crate::{Result, Store};

/// Counts describing one project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
        let (total, archived, avg): (i64, i64, Option<f64>) = sqlx::query_as(
            "SELECT COALESCE(SUM(archived = 0), 0), COALESCE(SUM(archived = 1), 0),
                    AVG(CASE WHEN archived = 0 THEN confidence END) FROM memories",
        )
        .fetch_one(pool)
        .await?;
        let group = |col: &str| {
            format!("SELECT {col}, COUNT(*) FROM memories WHERE archived = 0 GROUP BY {col} ORDER BY {col}")
        };
        let by_type: Vec<(String, i64)> =
            sqlx::query_as(AssertSqlSafe(group("memory_type"))).fetch_all(pool).await?;
        let by_domain: Vec<(String, i64)> =
            sqlx::query_as(AssertSqlSafe(group("domain"))).fetch_all(pool).await?;
        let by_source: Vec<(String, i64)> =
            sqlx::query_as(AssertSqlSafe(group("source"))).fetch_all(pool).await?;
        let clusters: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM clusters GROUP BY status").fetch_all(pool).await?;
        let vectors: Vec<(String, i64)> =
            sqlx::query_as("SELECT model_id, vector_count FROM embedding_spaces").fetch_all(pool).await?;
        let file_len = |suffix: &str| {
            let mut p = self.path().as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(p).map_or(0, |m| m.len())
        };
        Ok(Stats {
            total,
            archived,
            by_type: by_type.into_iter().collect(),
            by_domain: by_domain.into_iter().collect(),
            by_source: by_source.into_iter().collect(),
            clusters: clusters.into_iter().collect(),
            avg_confidence: avg.unwrap_or(0.0),
            vectors: vectors.into_iter().collect(),
            db_bytes: file_len("") + file_len("-wal"),
            llm: self.llm_usage().await?,
        })
    }
}
