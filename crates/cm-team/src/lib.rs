//! The team database: memories a project's teammates share, on PostgreSQL.
//!
//! This is the only crate that imports PostgreSQL's driver (sqlx's
//! `postgres` feature). It knows nothing of local stores or the engine: it
//! publishes one memory version at a time, idempotently, and hands back the
//! changes after a point, in the order they were made. The engine
//! (`cm_engine::team`) decides what to publish and applies what it pulls.
//!
//! The schema (`migrations/`) is the admin's to install
//! ([`migrate`], `claude-memory team migrate`); a teammate's connection only
//! checks that it is current. Rows carry their team, the PostgreSQL role that
//! wrote them, and row-level security keeps every role to its own.
//!
//! - **Identity**: a memory's `gid`, made by the machine that first shared it,
//!   is its name everywhere. Publishing the same version twice changes
//!   nothing; publishing text the project already holds under another gid
//!   answers [`Published::Adopted`] with that gid instead of a copy.
//! - **Edits**: the version with the later `updated_at` wins (ties: the
//!   greater origin); the other one goes to `cm_team_history`.
//! - **Deletions and archives**: tombstones and flags, pulled like edits.
//! - **Feedback**: each author's validation count is theirs to set; the
//!   team's is the sum ([`Pulled::others_validations`]).
//! - **Order**: each change takes the next `change_seq` under a per-team
//!   advisory lock, so a pull that asks for the changes after N never misses
//!   one committed later with a smaller number.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};

/// The team schema's migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The dimension of the team table's vector column (all-MiniLM-L6-v2's).
pub const VECTOR_DIM: usize = 384;

/// What went wrong with the team database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL cannot be a PostgreSQL connection.
    #[error("invalid team database URL: {0}")]
    Url(String),
    /// The server could not be reached (or refused the connection).
    #[error("team database offline: {0}")]
    Offline(String),
    /// The schema is missing or older than this claude-memory.
    #[error("{0}")]
    Schema(String),
    /// A query failed.
    #[error("team database: {0}")]
    Db(String),
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

fn db_error(e: sqlx::Error) -> Error {
    let offline = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| server_went_away(&code)),
        _ => false,
    };
    if offline { Error::Offline(e.to_string()) } else { Error::Db(e.to_string()) }
}

/// Whether a SQLSTATE says the server, not the statement, failed: a
/// connection exception (class 08) or an operator intervention such as a
/// shutdown or a terminated backend (57P01–57P05). Retrying the same
/// statement on the same server now would fail the same way.
fn server_went_away(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || sqlstate.starts_with("57P")
}

/// A team database URL split into the part that may be stored and shown
/// and the password, which may not.
#[derive(Clone, PartialEq, Eq)]
pub struct TeamUrl {
    /// `postgres://role@host:port/db?params`, no password.
    pub url: String,
    /// The password the URL carried, percent-decoded.
    pub password: Option<String>,
}

impl fmt::Debug for TeamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeamUrl")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl TeamUrl {
    /// Parses and checks `url` (`postgres://` or `postgresql://`).
    pub fn parse(url: &str) -> Result<TeamUrl> {
        let url = url.trim();
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| Error::Url("it must start with postgres:// or postgresql://".to_owned()))?;
        PgConnectOptions::from_str(url).map_err(|e| Error::Url(e.to_string()))?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (user, password, host) = match authority.rfind('@') {
            Some(at) => {
                let (info, host) = (&authority[..at], &authority[at + 1..]);
                match info.split_once(':') {
                    Some((user, pw)) => (Some(user), Some(percent_decode(pw)?), host),
                    None => (Some(info), None, host),
                }
            }
            None => (None, None, authority),
        };
        if host.is_empty() {
            return Err(Error::Url("it names no host".to_owned()));
        }
        let url = match user {
            Some(u) if !u.is_empty() => format!("postgres://{u}@{host}{tail}"),
            _ => return Err(Error::Url("it names no role (postgres://ROLE@host/db)".to_owned())),
        };
        Ok(TeamUrl { url, password: password.filter(|p| !p.is_empty()) })
    }

    /// The server and role without parameters: `postgres://role@host:port/db`,
    /// the name the password is kept under.
    pub fn server(&self) -> &str {
        self.url.split('?').next().unwrap_or(&self.url)
    }
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex =
                s.get(i + 1..i + 3).ok_or_else(|| Error::Url("a bad %-escape in the password".to_owned()))?;
            out.push(
                u8::from_str_radix(hex, 16)
                    .map_err(|_| Error::Url("a bad %-escape in the password".to_owned()))?,
            );
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::Url("the password is not UTF-8".to_owned()))
}

/// Installs or upgrades the team schema (the admin's step: it creates the
/// `claude_memory_teams` group role and, where available, pgvector).
pub async fn migrate(url: &TeamUrl) -> Result<()> {
    let pool = pool(url, 1).await?;
    MIGRATOR.run(&pool).await.map_err(|e| Error::Schema(format!("migrating the team schema failed: {e}")))?;
    let _ = tokio::time::timeout(Duration::from_secs(2), pool.close()).await;
    Ok(())
}

async fn pool(url: &TeamUrl, max: u32) -> Result<PgPool> {
    let mut options = PgConnectOptions::from_str(&url.url).map_err(|e| Error::Url(e.to_string()))?;
    if let Some(pw) = &url.password {
        options = options.password(pw);
    }
    // A remote database is slower than a local file: a statement over a
    // second is worth a debug line, not a warning in every engine log.
    options = options
        .application_name("claude-memory")
        .log_slow_statements(tracing::log::LevelFilter::Debug, Duration::from_secs(1));
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(db_error)
}

/// A memory version as the team database holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamMemory {
    /// The global id.
    pub gid: String,
    /// The note (redacted by the publisher; `(deleted)` on a tombstone).
    pub content: String,
    /// Structured XML, if any.
    pub structured: Option<String>,
    /// One-line summary.
    pub summary: Option<String>,
    /// The memory type's name.
    pub memory_type: String,
    /// The domain's name.
    pub domain: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Confidence, 0..=1.
    pub confidence: f64,
    /// SHA-256 of the normalised content.
    pub content_hash: String,
    /// Who wrote this version.
    pub author: String,
    /// The machine it came from.
    pub origin: String,
    /// Creation, unix milliseconds.
    pub created_at: i64,
    /// This version, unix milliseconds.
    pub updated_at: i64,
    /// Archived.
    pub archived: bool,
    /// A tombstone.
    pub deleted: bool,
    /// The vector, with its model, when it fits the team table's column.
    pub embedding: Option<(String, Vec<f32>)>,
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// A new team memory.
    Inserted,
    /// This version replaced an older one (kept in history).
    Updated,
    /// The team already had exactly this version.
    Unchanged,
    /// The team has a later version; this one went to history.
    Lost,
    /// The project already holds this text under another gid: use it.
    Adopted(String),
}

/// A change pulled from the team.
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    /// The memory's current version.
    pub memory: TeamMemory,
    /// Its place in the team's change order (the next pull's cursor).
    pub change_seq: i64,
    /// The validations of every author but the puller.
    pub others_validations: i64,
}

/// The team's view of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectStats {
    /// Live memories (not deleted).
    pub memories: i64,
    /// Authors of live memories.
    pub authors: i64,
    /// The last change number.
    pub last_change: i64,
}

/// A connection to a team database, as one team's role.
#[derive(Debug, Clone)]
pub struct TeamDb {
    pool: PgPool,
    vectors: bool,
}

impl TeamDb {
    /// Connects and checks that the schema is installed and current.
    pub async fn connect(url: &TeamUrl) -> Result<TeamDb> {
        let pool = pool(url, 4).await?;
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> =
            match sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
            {
                Ok(v) => v,
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => None,
                Err(e) => return Err(db_error(e)),
            };
        match applied {
            Some(v) if v >= latest => {}
            Some(_) => {
                return Err(Error::Schema(
                    "the team schema is older than this claude-memory: ask the database's admin to run `claude-memory team migrate <admin-url>`".to_owned(),
                ));
            }
            None => {
                return Err(Error::Schema(
                    "the team schema is not installed: ask the database's admin to run `claude-memory team migrate <admin-url>`".to_owned(),
                ));
            }
        }
        let vectors: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM information_schema.columns
                 WHERE table_name = 'cm_team_memories' AND column_name = 'embedding')",
        )
        .fetch_one(&pool)
        .await
        .map_err(db_error)?;
        Ok(TeamDb { pool, vectors })
    }

    /// Whether the team table has pgvector's column.
    pub fn has_vectors(&self) -> bool {
        self.vectors
    }

    /// Closes the connections.
    ///
    /// Waits at most two seconds: a connection the server dropped in the
    /// middle of a transaction may never come back to the pool, and
    /// `PgPool::close` would wait for it forever (a sync would never end).
    pub async fn close(&self) {
        if tokio::time::timeout(Duration::from_secs(2), self.pool.close()).await.is_err() {
            tracing::debug!("closing the team connections timed out; dropping them");
        }
    }

    /// The role this connection writes as (its team).
    pub async fn team(&self) -> Result<String> {
        sqlx::query_scalar("SELECT current_user::text").fetch_one(&self.pool).await.map_err(db_error)
    }

    /// The team project named `key`, created on first use.
    pub async fn project(&self, key: &str) -> Result<i64> {
        if key.is_empty() || key.len() > 500 {
            return Err(Error::Db("a team project key must have 1 to 500 characters".to_owned()));
        }
        sqlx::query("INSERT INTO cm_team_projects (key) VALUES ($1) ON CONFLICT (team, key) DO NOTHING")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        sqlx::query_scalar("SELECT id FROM cm_team_projects WHERE key = $1 AND team = current_user")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    /// Publishes one version of a memory with its author's validation
    /// count, in one transaction.
    pub async fn publish(&self, project: i64, m: &TeamMemory, validations: i64) -> Result<Published> {
        let mut done = self.publish_batch(project, &[(m.clone(), validations)]).await?;
        done.pop().ok_or_else(|| Error::Db("a publish answered nothing".to_owned()))
    }

    /// Publishes several versions in one transaction (one lock, one
    /// commit): all of them or, on an error, none.
    pub async fn publish_batch(&self, project: i64, items: &[(TeamMemory, i64)]) -> Result<Vec<Published>> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('claude-memory team ' || current_user))")
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let mut outcomes = Vec::with_capacity(items.len());
        for (m, validations) in items {
            outcomes.push(self.publish_in(&mut tx, project, m, *validations).await?);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(outcomes)
    }

    async fn publish_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        project: i64,
        m: &TeamMemory,
        validations: i64,
    ) -> Result<Published> {
        let existing = sqlx::query(
            "SELECT updated_at, origin, content_hash, archived, deleted FROM cm_team_memories
             WHERE gid = $1 AND project_id = $2 FOR UPDATE",
        )
        .bind(&m.gid)
        .bind(project)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?;
        let mut gid = m.gid.clone();
        let outcome = match existing {
            None => {
                let same_text: Option<String> = if m.deleted {
                    None
                } else {
                    sqlx::query_scalar(
                        "SELECT gid FROM cm_team_memories
                         WHERE project_id = $1 AND content_hash = $2 AND NOT deleted LIMIT 1",
                    )
                    .bind(project)
                    .bind(&m.content_hash)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?
                };
                match same_text {
                    Some(other) => {
                        gid = other.clone();
                        Published::Adopted(other)
                    }
                    None if m.deleted => Published::Unchanged,
                    None => {
                        self.write(tx, project, m, true).await?;
                        Published::Inserted
                    }
                }
            }
            Some(row) => {
                let (updated_at, origin): (i64, String) = (row.get(0), row.get(1));
                let same = updated_at == m.updated_at
                    && row.get::<String, _>(2) == m.content_hash
                    && row.get::<bool, _>(3) == m.archived
                    && row.get::<bool, _>(4) == m.deleted;
                if same {
                    Published::Unchanged
                } else if (m.updated_at, m.origin.as_str()) > (updated_at, origin.as_str()) {
                    sqlx::query(
                        "INSERT INTO cm_team_history
                             (gid, content, summary, memory_type, domain, author, origin, updated_at, archived, deleted)
                         SELECT gid, content, summary, memory_type, domain, author, origin, updated_at, archived, deleted
                         FROM cm_team_memories WHERE gid = $1",
                    )
                    .bind(&m.gid)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                    self.write(tx, project, m, false).await?;
                    Published::Updated
                } else {
                    sqlx::query(
                        "INSERT INTO cm_team_history
                             (gid, content, summary, memory_type, domain, author, origin, updated_at, archived, deleted)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&m.gid)
                    .bind(&m.content)
                    .bind(&m.summary)
                    .bind(&m.memory_type)
                    .bind(&m.domain)
                    .bind(&m.author)
                    .bind(&m.origin)
                    .bind(m.updated_at)
                    .bind(m.archived)
                    .bind(m.deleted)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
                    Published::Lost
                }
            }
        };
        if !m.deleted && validations > 0 {
            let raised = sqlx::query(
                "INSERT INTO cm_team_feedback (gid, author, validations) VALUES ($1, $2, $3)
                 ON CONFLICT (gid, author) DO UPDATE SET validations = EXCLUDED.validations
                 WHERE cm_team_feedback.validations < EXCLUDED.validations",
            )
            .bind(&gid)
            .bind(&m.author)
            .bind(validations)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected()
                > 0;
            if raised && matches!(outcome, Published::Unchanged | Published::Lost | Published::Adopted(_)) {
                sqlx::query(
                    "UPDATE cm_team_memories SET change_seq = nextval('cm_team_change_seq') WHERE gid = $1",
                )
                .bind(&gid)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            }
        }
        Ok(outcome)
    }

    async fn write(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        project: i64,
        m: &TeamMemory,
        insert: bool,
    ) -> Result<()> {
        let vector = if self.vectors { vector_literal(m) } else { None };
        let model = vector.as_ref().and(m.embedding.as_ref()).map(|(model, _)| model.clone());
        let sql = match (insert, self.vectors) {
            (true, false) => INSERT,
            (true, true) => INSERT_WITH_VECTOR,
            (false, false) => UPDATE,
            (false, true) => UPDATE_WITH_VECTOR,
        };
        let mut query = sqlx::query(sql)
            .bind(&m.gid)
            .bind(project)
            .bind(&m.content)
            .bind(&m.structured)
            .bind(&m.summary)
            .bind(&m.memory_type)
            .bind(&m.domain)
            .bind(sqlx::types::Json(&m.tags))
            .bind(sqlx::types::Json(&m.keywords))
            .bind(m.confidence.clamp(0.0, 1.0))
            .bind(&m.content_hash)
            .bind(&m.author)
            .bind(&m.origin)
            .bind(m.created_at)
            .bind(m.updated_at)
            .bind(m.archived)
            .bind(m.deleted)
            .bind(model);
        if self.vectors {
            query = query.bind(vector);
        }
        query.execute(&mut **tx).await.map_err(db_error)?;
        Ok(())
    }

    /// The changes of `project` after `after`, oldest first, at most `limit`;
    /// feedback summed over every author but `me`.
    pub async fn pull(&self, project: i64, after: i64, me: &str, limit: i64) -> Result<Vec<Pulled>> {
        let rows = sqlx::query(
            "SELECT gid, content, structured, summary, memory_type, domain, tags, keywords, confidence,
                    content_hash, author, origin, created_at, updated_at, archived, deleted, change_seq,
                    COALESCE((SELECT sum(validations) FROM cm_team_feedback f
                              WHERE f.gid = m.gid AND f.author <> $3), 0)::BIGINT
             FROM cm_team_memories m
             WHERE project_id = $1 AND change_seq > $2
             ORDER BY change_seq
             LIMIT $4",
        )
        .bind(project)
        .bind(after)
        .bind(me)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|r| Pulled {
                memory: TeamMemory {
                    gid: r.get(0),
                    content: r.get(1),
                    structured: r.get(2),
                    summary: r.get(3),
                    memory_type: r.get(4),
                    domain: r.get(5),
                    tags: r.get::<sqlx::types::Json<Vec<String>>, _>(6).0,
                    keywords: r.get::<sqlx::types::Json<Vec<String>>, _>(7).0,
                    confidence: r.get(8),
                    content_hash: r.get(9),
                    author: r.get(10),
                    origin: r.get(11),
                    created_at: r.get(12),
                    updated_at: r.get(13),
                    archived: r.get(14),
                    deleted: r.get(15),
                    embedding: None,
                },
                change_seq: r.get(16),
                others_validations: r.get(17),
            })
            .collect())
    }

    /// The nearest live memories of `project` to `query` by cosine distance
    /// (pgvector's HNSW index), with their distance. Empty without pgvector.
    pub async fn search(&self, project: i64, query: &[f32], limit: i64) -> Result<Vec<(String, f64)>> {
        if !self.vectors || query.len() != VECTOR_DIM {
            return Ok(Vec::new());
        }
        let literal = literal(query);
        let rows = sqlx::query(
            "SELECT gid, (embedding <=> $2::vector)::float8 FROM cm_team_memories
             WHERE project_id = $1 AND NOT deleted AND NOT archived AND embedding IS NOT NULL
             ORDER BY embedding <=> $2::vector
             LIMIT $3",
        )
        .bind(project)
        .bind(literal)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Counts for `team status`.
    pub async fn stats(&self, project: i64) -> Result<ProjectStats> {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE NOT deleted), count(DISTINCT author) FILTER (WHERE NOT deleted),
                    COALESCE(max(change_seq), 0)
             FROM cm_team_memories WHERE project_id = $1",
        )
        .bind(project)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(ProjectStats { memories: row.get(0), authors: row.get(1), last_change: row.get(2) })
    }
}

macro_rules! insert_sql {
    ($columns:literal, $values:literal) => {
        concat!(
            "INSERT INTO cm_team_memories
                 (gid, project_id, content, structured, summary, memory_type, domain, tags, keywords, confidence,
                  content_hash, author, origin, created_at, updated_at, archived, deleted, embedding_model,
                  change_seq",
            $columns,
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                       nextval('cm_team_change_seq')",
            $values,
            ")"
        )
    };
}

macro_rules! update_sql {
    ($vector:literal) => {
        concat!(
            "UPDATE cm_team_memories SET
                 content = $3, structured = $4, summary = $5, memory_type = $6, domain = $7, tags = $8,
                 keywords = $9, confidence = $10, content_hash = $11, author = $12, origin = $13,
                 created_at = $14, updated_at = $15, archived = $16, deleted = $17, embedding_model = $18,
                 change_seq = nextval('cm_team_change_seq'), published_at = now()",
            $vector,
            " WHERE gid = $1 AND project_id = $2"
        )
    };
}

// `$19`, the vector, exists only where pgvector's column does.
const INSERT: &str = insert_sql!("", "");
const INSERT_WITH_VECTOR: &str = insert_sql!(", embedding", ", $19::vector");
const UPDATE: &str = update_sql!("");
const UPDATE_WITH_VECTOR: &str = update_sql!(", embedding = $19::vector");

/// pgvector's text form of a memory's vector, when it fits the column.
fn vector_literal(m: &TeamMemory) -> Option<String> {
    m.embedding.as_ref().filter(|(_, v)| v.len() == VECTOR_DIM).map(|(_, v)| literal(v))
}

fn literal(v: &[f32]) -> String {
    let mut s = String::with_capacity(v.len() * 10 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&x.to_string());
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopping_server_is_offline_and_a_bad_statement_is_not() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03"] {
            assert!(server_went_away(code), "{code}");
        }
        for code in ["23505", "42P01", "40001", "57014"] {
            assert!(!server_went_away(code), "{code}");
        }
    }

    #[test]
    fn url_password_is_split_off_and_decoded() {
        let u =
            TeamUrl::parse("postgres://team_a:p%40ss:w@db.example.com:5433/memory?sslmode=require").unwrap();
        assert_eq!(u.url, "postgres://team_a@db.example.com:5433/memory?sslmode=require");
        assert_eq!(u.password.as_deref(), Some("p@ss:w"));
        assert_eq!(u.server(), "postgres://team_a@db.example.com:5433/memory");
        assert!(!format!("{u:?}").contains("p@ss"));
    }

    #[test]
    fn url_without_password_or_role() {
        let u = TeamUrl::parse("postgresql://team_a@localhost/db").unwrap();
        assert_eq!(u.url, "postgres://team_a@localhost/db");
        assert_eq!(u.password, None);
        assert!(TeamUrl::parse("postgres://localhost/db").unwrap_err().to_string().contains("no role"));
        assert!(TeamUrl::parse("mysql://a@b/c").is_err());
        assert!(TeamUrl::parse("postgres://a:%zz@b/c").is_err());
    }
}
