//! The per-project memory database: one SQLite file holding memories, their
//! FTS5 index, one sqlite-vec table per embedding model, and clusters.
//!
//! This is the only crate that talks to SQLite. [`Store::open`] registers
//! sqlite-vec, opens a small pool, switches a new file to WAL and runs the
//! embedded migrations under one write lock; every write runs in a
//! `BEGIN IMMEDIATE` transaction so that two processes writing one project
//! wait for each other instead of failing.

mod activity;
mod clusters;
mod error;
mod foreign;
mod index;
mod inferences;
mod memories;
mod search;
mod stats;
mod team;
mod transcripts;
mod usage;
mod vectors;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use activity::{
    BriefingCandidate, Cluster, HookCall, Injected, Injection, Job, JobKind, JobRetry, NewJob, TimelineEntry,
};
pub use clusters::{Assignment, Maturity, Member};
pub use error::{Error, Result};
pub use foreign::{CLAUDE_MEM_SUMMARY, ClaudeMemNote, OriginalMemory, read_claude_mem, read_original};
pub use inferences::{Inference, InjectedMemory, PathMention, UseHistory};
pub use memories::{Access, ImportFailure, ImportReport, ListFilter, MemoryPatch, Unembedded};
pub use search::Candidates;
pub use stats::Stats;
pub use team::{Applied, Incoming, Outgoing, TeamCounts, TeamLink, TeamMark};
pub use transcripts::{MinedCommit, MinedMemory, TranscriptProgress};
pub use usage::{LlmCall, LlmTotals, LlmUsage};
pub use vectors::Space;

/// How long a connection waits for another writer before giving up. Long
/// enough to ride out a burst from another process, short enough that a hook
/// (which has its own, shorter deadline) is never the one waiting.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

static REGISTER_VEC: Once = Once::new();

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Makes sqlite-vec available to every connection opened afterwards in this process.
fn register_sqlite_vec() {
    REGISTER_VEC.call_once(|| {
        // SAFETY: `sqlite3_vec_init` has the signature SQLite expects of an
        // extension entry point; `sqlite3_auto_extension` only stores the
        // pointer and calls it for each new connection.
        unsafe {
            type Init = unsafe extern "C" fn(
                *mut libsqlite3_sys::sqlite3,
                *mut *mut std::os::raw::c_char,
                *const libsqlite3_sys::sqlite3_api_routines,
            ) -> std::os::raw::c_int;
            let init: Init =
                std::mem::transmute::<*const (), Init>(sqlite_vec::sqlite3_vec_init as *const ());
            libsqlite3_sys::sqlite3_auto_extension(Some(init));
        }
    });
}

/// Unix time in milliseconds, the unit of every timestamp in the store.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// An open project database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    /// The file opened, to notice when it is deleted or replaced.
    identity: Option<FileIdentity>,
    /// In-memory vector indexes, a cache of the database (`index.rs`).
    indexes: Arc<index::Indexes>,
}

/// What tells one file from another at the same path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    fn of(path: &Path) -> Option<FileIdentity> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            Some(FileIdentity { dev: meta.dev(), ino: meta.ino() })
        }
        #[cfg(not(unix))]
        {
            // No inode: creation time tells a recreated file apart.
            let created = meta.created().ok()?.duration_since(UNIX_EPOCH).ok()?;
            Some(FileIdentity { dev: 0, ino: created.as_nanos() as u64 })
        }
    }
}

/// Makes the database and its WAL files readable by their owner only (an
/// older version created them 0644: another local user could read every
/// memory). A file that cannot be changed is left as it is, with a warning.
fn owner_only(db: &Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        let Ok(meta) = std::fs::metadata(file) else { continue };
        if meta.permissions().mode() & 0o077 != 0
            && let Err(e) = std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(file = %file.display(), error = %e, "could not make the database owner-only");
        }
    }
    #[cfg(not(unix))]
    let _ = db;
}

/// Whether SQLite refused because another connection holds a lock
/// (`SQLITE_BUSY` or one of its extended codes).
fn is_busy(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(e) = e else { return false };
    e.code().and_then(|code| code.parse::<i32>().ok()).is_some_and(|code| code & 0xff == 5)
}

/// Switches the file to WAL (a no-op once it is).
///
/// On a file still in rollback mode (a new one) SQLite reads the header and
/// then rewrites it, and the busy handler is never called for a read lock
/// turning into a write lock: a second process doing the same at that moment
/// gets `SQLITE_BUSY` at once, whatever the busy timeout. So this waits for
/// that lock itself, as long as the busy timeout would have.
async fn enable_wal(conn: &mut SqliteConnection, path: &Path) -> Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL").fetch_one(&mut *conn).await {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(Error::Open {
                    path: path.to_owned(),
                    detail: format!("SQLite kept the journal mode {mode:?} instead of WAL"),
                });
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(Error::open(path, e)),
        }
    }
}

/// Whether the database records exactly this binary's migrations, all
/// applied: then migrating would change nothing, and opening needs no write
/// lock (a reader never waits for another process's writes). Anything else,
/// a new file included, goes through the migrator.
async fn schema_is_current(conn: &mut SqliteConnection) -> bool {
    let Ok(applied) =
        sqlx::query_as::<_, (i64, Vec<u8>, bool)>("SELECT version, checksum, success FROM _sqlx_migrations")
            .fetch_all(&mut *conn)
            .await
    else {
        return false;
    };
    let ours: Vec<_> = MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).collect();
    applied.len() == ours.len()
        && applied.iter().all(|(version, checksum, success)| {
            *success
                && ours.iter().any(|m| m.version == *version && m.checksum.as_ref() == checksum.as_slice())
        })
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// A file that is not a SQLite database, or one that is damaged, gives
    /// [`Error::Corrupt`] naming the file; nothing is written to it.
    pub async fn open(path: &Path) -> Result<Store> {
        register_sqlite_vec();
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| Error::open(path, e))?
            .filename(path)
            .create_if_missing(true)
            // No `journal_mode` here: every new connection would switch the
            // file to WAL, unguarded. `check_and_migrate` does it once, waiting
            // for the lock (see `enable_wal`); WAL then persists in the file.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            // Vector scans read every page of a space; memory-mapped reads avoid a
            // system call per page (measured: most of a save's time at 10k memories
            // went to the kernel without it). Address space only, not resident memory.
            .pragma("mmap_size", "1073741824")
            .pragma("cache_size", "-16384");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            // A connection still inside a transaction when it is handed out
            // (a COMMIT that failed on a full disk, whose rollback failed too)
            // would refuse every later write with "begin_with at non-zero
            // transaction depth": it is closed instead (SQLite rolls back
            // what it held) and a fresh one opened. Checked after the ping,
            // which lets queued rollbacks finish first.
            .before_acquire(|conn, _| Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) }))
            .acquire_timeout(BUSY_TIMEOUT + Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| Error::open(path, e))?;
        let store = Store { pool, path: path.to_owned(), identity: None, indexes: Arc::default() };
        store.check_and_migrate().await?;
        let store = Store { identity: FileIdentity::of(path), ..store };
        owner_only(path);
        Ok(store)
    }

    /// Checks the file, switches it to WAL and brings its schema up to date,
    /// on one connection.
    async fn check_and_migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(|e| Error::open(&self.path, e))?;
        // A quick structural check first: a damaged file must be reported as
        // such before anything is written to it.
        let verdict: String = sqlx::query_scalar("PRAGMA quick_check(1)")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| Error::open(&self.path, e))?;
        if verdict != "ok" {
            return Err(Error::Corrupt { path: self.path.clone(), detail: verdict });
        }
        enable_wal(&mut conn, &self.path).await?;
        if schema_is_current(&mut conn).await {
            return Ok(());
        }
        // Every migration under one write lock taken up front, where the busy
        // timeout applies: sqlx's own transactions are deferred, and a read
        // turning into a write gets SQLITE_BUSY at once while another process
        // migrates the same new file. Whoever waited finds the work done, and
        // the migrator applies nothing twice. (So no migration can opt out of
        // the transaction with `-- no-transaction`: it would run inside this one.)
        let migrate_error = |e: sqlx::migrate::MigrateError| match Error::open(&self.path, &e) {
            corrupt @ Error::Corrupt { .. } => corrupt,
            _ => Error::Migrate { path: self.path.clone(), detail: e.to_string() },
        };
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
            .await
            .map_err(|e| Error::open(&self.path, e))?;
        // `run_direct` is `run` on a connection we hold: `run` through
        // `Acquire` makes the future not provably `Send` (a known sqlx limit).
        MIGRATOR.run_direct(None, &mut *tx, false).await.map_err(migrate_error)?;
        tx.commit().await.map_err(|e| Error::open(&self.path, e))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file this store has open is still the one at its path.
    /// `false` once it was deleted (`git clean -xdf` removes
    /// `.claude-memory/`) or replaced: writes would go to an unlinked file
    /// and be lost, so the store must be reopened.
    pub fn is_current(&self) -> bool {
        self.identity.is_some() && FileIdentity::of(&self.path) == self.identity
    }

    /// Runs `PRAGMA integrity_check` and returns SQLite's verdict (`"ok"` when healthy).
    pub async fn integrity_check(&self) -> Result<String> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&self.pool).await?;
        Ok(rows.join("; "))
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction that takes the write lock immediately, so
    /// the busy timeout applies instead of a mid-transaction `SQLITE_BUSY`.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After `database or disk is full`, writes work again as soon as there
    /// is room: no pooled connection is left inside a transaction.
    #[tokio::test]
    async fn writes_recover_after_the_disk_was_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("memory.db")).await.unwrap();
        let save = |i: usize| {
            let store = store.clone();
            async move {
                let text = format!("memory {i}: {}", "lorem ipsum dolor sit amet ".repeat(40));
                let new = cm_core::NewMemory::new(&text, cm_core::Source::Cli).unwrap();
                store.insert(&new, None, 1.1, 0).await
            }
        };
        save(0).await.unwrap();
        // SQLite's own page limit, on every connection the pool holds: a
        // real SQLITE_FULL, as a full disk gives.
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(store.pool()).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut c = store.pool().acquire().await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {}", pages + 2)))
                .execute(&mut *c)
                .await
                .unwrap();
            held.push(c);
        }
        drop(held);
        let mut full = None;
        for i in 1..200 {
            if let Err(e) = save(i).await {
                full = Some(e.to_string());
                break;
            }
        }
        let full = full.expect("the page limit was reached");
        assert!(full.contains("full"), "{full}");
        // Room again: the limit is lifted on every connection the pool gives.
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut c = store.pool().acquire().await.unwrap();
            sqlx::query("PRAGMA max_page_count = 1073741823").execute(&mut *c).await.unwrap();
            held.push(c);
        }
        drop(held);
        for i in 200..210 {
            save(i).await.unwrap_or_else(|e| panic!("save {i} after the disk had room again: {e}"));
        }
    }

    /// On a full disk SQLite may end a transaction itself when its COMMIT
    /// fails; sqlx's rollback then fails too ("no transaction is active")
    /// and its connection stays inside a transaction it no longer has. Such
    /// a connection must not serve the next write ("begin_with at non-zero
    /// transaction depth" for later saves). Reproduced here by ending the
    /// transaction behind sqlx's back, the same state.
    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_never_blocks_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("memory.db")).await.unwrap();
        {
            let mut conn = store.pool().acquire().await.unwrap();
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
            // Dropped: sqlx's own ROLLBACK fails, its depth stays at 1.
        }
        for i in 0..8 {
            let new =
                cm_core::NewMemory::new(&format!("write {i} after a failed commit"), cm_core::Source::Cli)
                    .unwrap();
            store.insert(&new, None, 1.1, 0).await.unwrap_or_else(|e| panic!("write {i}: {e}"));
        }
    }
}
