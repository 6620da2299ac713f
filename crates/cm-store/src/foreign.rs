//! Reading other memory tools' databases, for moving in: opened read-only,
//! columns found by name (their schemas grew by `ALTER TABLE` over time),
//! nothing written to them.

use std::path::Path;
use std::str::FromStr as _;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Row as _};

use crate::{Error, Result};

/// A row of the `memories` table of claude-persistent-memory (the Node.js
/// tool this one re-creates), as stored: times are SQLite's
/// `YYYY-MM-DD HH:MM:SS` in UTC, keywords comma-joined, the structured form
/// its `<memory><what>…</what>…</memory>` XML.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginalMemory {
    pub id: i64,
    pub content: String,
    pub structured_content: Option<String>,
    pub summary: Option<String>,
    pub memory_type: Option<String>,
    pub tags: Option<String>,
    pub keywords: Option<String>,
    pub domain: Option<String>,
    pub confidence: Option<f64>,
    pub evidence_count: Option<i64>,
    pub access_count: Option<i64>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub last_accessed_at: Option<String>,
}

/// The columns read, besides `id` and `content` (which must exist).
const OPTIONAL: [&str; 12] = [
    "structured_content",
    "summary",
    "type",
    "tags",
    "keywords",
    "domain",
    "confidence",
    "evidence_count",
    "access_count",
    "created_at",
    "updated_at",
    "last_accessed_at",
];

/// Every memory of the claude-persistent-memory database at `path`, in id
/// order. Its vector table needs no extension here: it is never touched.
pub async fn read_original(path: &Path) -> Result<Vec<OriginalMemory>> {
    if !path.is_file() {
        return Err(Error::Open { path: path.to_owned(), detail: "no such file".into() });
    }
    let mut conn = SqliteConnectOptions::from_str("sqlite:")
        .map_err(|e| Error::open(path, e))?
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| Error::open(path, e))?;
    let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('memories')")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| Error::open(path, e))?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<std::result::Result<_, _>>()?;
    if !columns.iter().any(|c| c == "content") {
        return Err(Error::Open {
            path: path.to_owned(),
            detail: "no `memories` table with a `content` column: not a claude-persistent-memory database"
                .into(),
        });
    }
    // Quoted names (`type` is a keyword); a column an older version lacks reads as NULL.
    let select: Vec<String> = OPTIONAL
        .iter()
        .map(|c| {
            if columns.iter().any(|have| have == c) { format!("\"{c}\"") } else { format!("NULL AS \"{c}\"") }
        })
        .collect();
    let sql = format!("SELECT id, content, {} FROM memories ORDER BY id", select.join(", "));
    let rows =
        sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut conn).await.map_err(|e| Error::open(path, e))?;
    rows.iter()
        .map(|r| {
            Ok(OriginalMemory {
                id: r.try_get("id")?,
                content: r.try_get::<Option<String>, _>("content")?.unwrap_or_default(),
                structured_content: r.try_get("structured_content")?,
                summary: r.try_get("summary")?,
                memory_type: r.try_get("type")?,
                tags: r.try_get("tags")?,
                keywords: r.try_get("keywords")?,
                domain: r.try_get("domain")?,
                confidence: r.try_get("confidence")?,
                evidence_count: r.try_get("evidence_count")?,
                access_count: r.try_get("access_count")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                last_accessed_at: r.try_get("last_accessed_at")?,
            })
        })
        .collect()
}
