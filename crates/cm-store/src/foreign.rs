//! Reading other memory tools' databases, for moving in: opened read-only,
//! columns found by name (their schemas grew by `ALTER TABLE` over time),
//! nothing written to them.

use std::path::Path;
use std::str::FromStr as _;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Row as _};

use crate::{Error, Result};

/// Another tool's database, opened so that nothing can be written to it.
async fn open_read_only(path: &Path) -> Result<sqlx::SqliteConnection> {
    if !path.is_file() {
        return Err(Error::Open { path: path.to_owned(), detail: "no such file".into() });
    }
    SqliteConnectOptions::from_str("sqlite:")
        .map_err(|e| Error::open(path, e))?
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| Error::open(path, e))
}

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
    let mut conn = open_read_only(path).await?;
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

/// An observation (or a session summary's lesson) of claude-mem, as
/// stored: `facts` and `concepts` are JSON arrays of strings (or NULL, or
/// in very old rows not JSON at all).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaudeMemNote {
    /// Its id in its table (observations and session summaries each have theirs).
    pub id: i64,
    /// claude-mem's type (`bugfix`, `decision`, `discovery`, …; open-ended),
    /// [`CLAUDE_MEM_SUMMARY`] for a session summary.
    pub kind: String,
    pub title: Option<String>,
    pub narrative: Option<String>,
    pub facts: Option<String>,
    pub concepts: Option<String>,
    /// Unix milliseconds.
    pub created_at: Option<i64>,
}

/// The kind of a [`ClaudeMemNote`] that is a session summary's lesson.
pub const CLAUDE_MEM_SUMMARY: &str = "summary";

/// The notes of claude-mem's database at `path` for the project claude-mem
/// calls `name` (the git repository's folder name; a worktree's notes are
/// `name/<worktree>`, or were adopted into `name`).
pub async fn read_claude_mem(path: &Path, name: &str) -> Result<Vec<ClaudeMemNote>> {
    let mut conn = open_read_only(path).await?;
    let columns = |table: &'static str| {
        sqlx::query(AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{table}')")))
    };
    let names = |rows: Vec<sqlx::sqlite::SqliteRow>| -> Vec<String> {
        rows.iter().filter_map(|r| r.try_get::<String, _>("name").ok()).collect()
    };
    let observed =
        names(columns("observations").fetch_all(&mut conn).await.map_err(|e| Error::open(path, e))?);
    if !observed.iter().any(|c| c == "project") {
        return Err(Error::Open {
            path: path.to_owned(),
            detail: "no `observations` table with a `project` column: not a claude-mem database".into(),
        });
    }
    let pick = |have: &[String], column: &str, alias: &str| {
        if have.iter().any(|c| c == column) {
            format!("\"{column}\" AS {alias}")
        } else {
            format!("NULL AS {alias}")
        }
    };
    let adopted =
        if observed.iter().any(|c| c == "merged_into_project") { "OR merged_into_project = ?1" } else { "" };
    // Before titles and narratives (claude-mem < v8) an observation was `text`.
    let narrative = if observed.iter().any(|c| c == "narrative") {
        if observed.iter().any(|c| c == "text") { "COALESCE(narrative, text)" } else { "narrative" }
    } else {
        "text"
    };
    let sql = format!(
        "SELECT id, type AS kind, {}, {narrative} AS narrative, {}, {}, {} FROM observations
         WHERE project = ?1 OR project LIKE ?1 || '/%' {adopted} ORDER BY id",
        pick(&observed, "title", "title"),
        pick(&observed, "facts", "facts"),
        pick(&observed, "concepts", "concepts"),
        pick(&observed, "created_at_epoch", "created_at"),
    );
    let mut rows = sqlx::query(AssertSqlSafe(sql))
        .bind(name)
        .fetch_all(&mut conn)
        .await
        .map_err(|e| Error::open(path, e))?;
    let summarised =
        names(columns("session_summaries").fetch_all(&mut conn).await.map_err(|e| Error::open(path, e))?);
    if summarised.iter().any(|c| c == "learned") {
        let sql = format!(
            "SELECT id, '{CLAUDE_MEM_SUMMARY}' AS kind, {} AS title, learned AS narrative, NULL AS facts,
                    NULL AS concepts, {} FROM session_summaries
             WHERE (project = ?1 OR project LIKE ?1 || '/%') AND learned IS NOT NULL AND trim(learned) != ''
             ORDER BY id",
            if summarised.iter().any(|c| c == "request") { "request" } else { "NULL" },
            pick(&summarised, "created_at_epoch", "created_at"),
        );
        rows.extend(
            sqlx::query(AssertSqlSafe(sql))
                .bind(name)
                .fetch_all(&mut conn)
                .await
                .map_err(|e| Error::open(path, e))?,
        );
    }
    rows.iter()
        .map(|r| {
            Ok(ClaudeMemNote {
                id: r.try_get("id")?,
                kind: r.try_get::<Option<String>, _>("kind")?.unwrap_or_default(),
                title: r.try_get("title")?,
                narrative: r.try_get("narrative")?,
                facts: r.try_get("facts")?,
                concepts: r.try_get("concepts")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}
