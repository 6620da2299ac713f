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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Sqlite};

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

/// How much of a database its connections map into memory (see
/// [`Store::open`]).
const MMAP_BYTES: &str = "1073741824";

/// Files up to this size are checked before [`Store::open`] returns. SQLite's
/// structural check reads every page: 0.5–2 ms per MiB here (0.5 s for 100k
/// memories with 1024-d vectors, 5.4 s for 1M with 384-d), which would cost
/// a session's first hooks their answers (1.5 s budget). A larger file is
/// checked beside its first reads instead, and writes wait for the verdict.
const CHECK_BEFORE_OPEN_BYTES: u64 = 32 << 20;

/// SQLite's structural verdict on a file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Sound,
    /// SQLite's first finding.
    Damaged(String),
    /// The check could not finish (the store was closed first, or SQLite
    /// failed): nothing is written to a file not known to be sound.
    Unknown(String),
}

/// The file's verdict, `None` while its check runs in the background.
type Checked = tokio::sync::watch::Receiver<Option<Verdict>>;

/// The structural check running in the background, which closing the store
/// stops when no write waits for it: a command that only reads a large
/// project does not wait for it, and a write already under way is not lost.
#[derive(Debug, Default)]
struct Checking {
    stop: AtomicBool,
    /// Held (shared) by each write from before it waits for the verdict
    /// until it has its connection; closing takes it whole first.
    writes: tokio::sync::RwLock<()>,
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
    /// Whether the file is sound; nothing is written before it is known.
    checked: Checked,
    checking: Arc<Checking>,
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

/// SQLite's quick structural check of the whole file: [`Error::Corrupt`]
/// with its first finding when it fails.
async fn check(conn: &mut SqliteConnection, path: &Path) -> Result<()> {
    let verdict: String = sqlx::query_scalar("PRAGMA quick_check(1)")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| Error::open(path, e))?;
    if verdict != "ok" {
        return Err(Error::Corrupt { path: path.to_owned(), detail: verdict });
    }
    Ok(())
}

/// [`check`] in the background: SQLite interrupts it once `checking` is
/// told to stop. The connection goes back to the pool as it was.
async fn check_stoppably(conn: &mut PoolConnection<Sqlite>, path: &Path, checking: Arc<Checking>) -> Verdict {
    match conn.lock_handle().await {
        // The check asks after every 1,000 pages (a few milliseconds).
        Ok(mut handle) => handle.set_progress_handler(1_000, move || !checking.stop.load(Ordering::Relaxed)),
        Err(e) => return Verdict::Unknown(e.to_string()),
    }
    // Read, not mapped: mapped, every page of the file would count in the
    // process's resident memory (a second copy of a 1 GiB file in `VmRSS`
    // next to the other connections' mappings) for one pass over it.
    let unmapped = sqlx::query("PRAGMA mmap_size = 0").execute(&mut **conn).await;
    let verdict = match unmapped {
        Ok(_) => match check(conn, path).await {
            Ok(()) => Verdict::Sound,
            Err(Error::Corrupt { detail, .. }) => Verdict::Damaged(detail),
            Err(e) => Verdict::Unknown(e.to_string()),
        },
        Err(e) => Verdict::Unknown(e.to_string()),
    };
    let remap = format!("PRAGMA mmap_size = {MMAP_BYTES}");
    let remapped = sqlx::query(AssertSqlSafe(remap)).execute(&mut **conn).await;
    if let Ok(mut handle) = conn.lock_handle().await {
        handle.remove_progress_handler();
    }
    if remapped.is_err() {
        // Back to the pool as the others are, or not at all.
        conn.close_on_drop();
    }
    verdict
}

/// Whether the file is in WAL mode already (switching writes its header).
async fn is_wal(conn: &mut SqliteConnection) -> bool {
    sqlx::query_scalar::<_, String>("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .is_ok_and(|mode| mode.eq_ignore_ascii_case("wal"))
}

/// Where a database's schema stands against this binary's migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    /// Exactly this binary's migrations, all applied: migrating would change
    /// nothing, and opening needs no write lock (a reader never waits for
    /// another process's writes).
    Current,
    /// Anything to go through the migrator, a new file included.
    Behind,
    /// A migration this binary does not know was applied: a newer version
    /// wrote the file, and this one must not touch it.
    Newer(i64),
}

/// Reads `_sqlx_migrations`; a file without it (new, or not a database) is
/// [`Schema::Behind`], for the check and the migrator to deal with.
async fn schema_of(conn: &mut SqliteConnection) -> Schema {
    let Ok(applied) =
        sqlx::query_as::<_, (i64, Vec<u8>, bool)>("SELECT version, checksum, success FROM _sqlx_migrations")
            .fetch_all(&mut *conn)
            .await
    else {
        return Schema::Behind;
    };
    let ours: Vec<_> = MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).collect();
    if let Some(&(version, ..)) =
        applied.iter().filter(|(version, ..)| !ours.iter().any(|m| m.version == *version)).max()
    {
        return Schema::Newer(version);
    }
    let current = applied.len() == ours.len()
        && applied.iter().all(|(version, checksum, success)| {
            *success
                && ours.iter().any(|m| m.version == *version && m.checksum.as_ref() == checksum.as_slice())
        });
    if current { Schema::Current } else { Schema::Behind }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// A file that is not a SQLite database, or one that is damaged, gives
    /// [`Error::Corrupt`] naming the file; nothing is written to it. A large
    /// file (over 32 MiB) with the current schema is checked in the
    /// background: it can be read at once, and its first write waits for the
    /// check and gives [`Error::Corrupt`] if it failed.
    pub async fn open(path: &Path) -> Result<Store> {
        Store::open_checking_inline(path, CHECK_BEFORE_OPEN_BYTES).await
    }

    /// [`Store::open`], checking the file before returning when it holds at
    /// most `inline_bytes`.
    async fn open_checking_inline(path: &Path, inline_bytes: u64) -> Result<Store> {
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
            .pragma("mmap_size", MMAP_BYTES)
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
        let (_, sound) = tokio::sync::watch::channel(Some(Verdict::Sound));
        let store = Store {
            pool,
            path: path.to_owned(),
            identity: None,
            indexes: Arc::default(),
            checked: sound,
            checking: Arc::default(),
        };
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let checked = store.check_and_migrate(size > inline_bytes).await?;
        let store = Store { identity: FileIdentity::of(path), checked, ..store };
        owner_only(path);
        Ok(store)
    }

    /// Checks the file, switches it to WAL and brings its schema up to date,
    /// on one connection; returns the check's verdict, still to come when it
    /// runs in the background.
    async fn check_and_migrate(&self, large: bool) -> Result<Checked> {
        let mut conn = self.pool.acquire().await.map_err(|e| Error::open(&self.path, e))?;
        // A quick structural check first: a damaged file must be reported as
        // such before anything is written to it. Opening a large file already
        // in WAL with the current schema writes nothing, so its check runs
        // beside the first reads.
        let schema = schema_of(&mut conn).await;
        if let Schema::Newer(version) = schema {
            return Err(Error::Newer { path: self.path.clone(), version });
        }
        let beside = large && schema == Schema::Current && is_wal(&mut conn).await;
        if beside {
            drop(conn);
            return Ok(self.check_in_background());
        }
        check(&mut conn, &self.path).await?;
        enable_wal(&mut conn, &self.path).await?;
        if schema == Schema::Current {
            return Ok(self.checked.clone());
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
        tx.commit().await.map_err(|e| Error::open(&self.path, e))?;
        Ok(self.checked.clone())
    }

    /// Starts the structural check on a pooled connection; the verdict
    /// comes when it is done, or [`Verdict::Unknown`] when the store is
    /// closed first.
    fn check_in_background(&self) -> Checked {
        let (tx, checked) = tokio::sync::watch::channel(None);
        let (pool, path, checking) = (self.pool.clone(), self.path.clone(), self.checking.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let verdict = match pool.acquire().await {
                Ok(mut conn) => check_stoppably(&mut conn, &path, checking).await,
                Err(e) => Verdict::Unknown(e.to_string()),
            };
            match &verdict {
                Verdict::Sound => {
                    tracing::debug!(file = %path.display(), ms = started.elapsed().as_millis() as u64, "the database is sound")
                }
                Verdict::Damaged(detail) => {
                    tracing::error!(file = %path.display(), %detail, "the database is damaged; nothing will be written to it")
                }
                Verdict::Unknown(detail) => {
                    tracing::debug!(file = %path.display(), %detail, "the database's check did not finish")
                }
            }
            let _ = tx.send(Some(verdict));
        });
        checked
    }

    /// Waits for the structural check (at once when it ran before `open`
    /// returned): a damaged file is never written to. The write holds the
    /// guard until it has its connection, so closing the store meanwhile
    /// lets the check finish rather than stopping it under the write.
    async fn sound(&self) -> Result<tokio::sync::RwLockReadGuard<'_, ()>> {
        let writing = self.checking.writes.read().await;
        let mut checked = self.checked.clone();
        let verdict = checked.wait_for(Option::is_some).await.ok().and_then(|v| v.clone());
        match verdict.unwrap_or_else(|| Verdict::Unknown("its check stopped".to_owned())) {
            Verdict::Sound => Ok(writing),
            Verdict::Damaged(detail) => Err(Error::Corrupt { path: self.path.clone(), detail }),
            Verdict::Unknown(detail) => Err(Error::Open {
                path: self.path.clone(),
                detail: format!(
                    "its structural check did not finish ({detail}), so nothing is written to it"
                ),
            }),
        }
    }

    /// A connection, once the file is known to be sound: for the writes
    /// that are a statement of their own rather than a [`Store::begin_write`].
    pub(crate) async fn writer(&self) -> Result<PoolConnection<Sqlite>> {
        let _writing = self.sound().await?;
        Ok(self.pool.acquire().await?)
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

    /// Closes the pool, checkpointing the WAL; a structural check still
    /// running is stopped.
    pub async fn close(&self) {
        // Writes waiting for the check get their verdict and their
        // connection first (the pool then waits for their commits).
        let _closing = match self.checking.writes.try_write() {
            Ok(none_waiting) => {
                self.checking.stop.store(true, Ordering::Relaxed);
                none_waiting
            }
            Err(_) => self.checking.writes.write().await,
        };
        self.pool.close().await;
    }

    /// Starts a write transaction that takes the write lock immediately, so
    /// the busy timeout applies instead of a mid-transaction `SQLITE_BUSY`.
    /// Waits for the file's structural check first (see [`Store::open`]).
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        let _writing = self.sound().await?;
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The steps of SQLite's plan for `explained`, an `EXPLAIN QUERY PLAN`
/// statement with its values bound: for tests pinning how a statement
/// reads, which its results cannot show.
#[cfg(test)]
pub(crate) async fn query_plan(
    store: &Store,
    explained: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
) -> Vec<String> {
    use sqlx::Row as _;
    explained
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect()
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

    /// A store of `count` notes of about a kilobyte each, closed (its WAL
    /// written back), at `path`.
    async fn filled(path: &Path, count: usize) {
        let store = Store::open(path).await.unwrap();
        for i in 0..count {
            let text = format!(
                "note {i} on build step {}: {}",
                i * 7,
                "the release pipeline signs artefacts ".repeat(25)
            );
            let new = cm_core::NewMemory::new(&text, cm_core::Source::Cli).unwrap();
            store.insert(&new, None, 1.1, 0).await.unwrap();
        }
        store.close().await;
    }

    /// Overwrites every fourth page of the file's second half.
    fn damage(path: &Path) {
        let mut bytes = std::fs::read(path).unwrap();
        let page = match u16::from_be_bytes([bytes[16], bytes[17]]) {
            1 => 65_536,
            size => usize::from(size),
        };
        let pages = bytes.len() / page;
        for n in (pages / 2..pages).step_by(4) {
            bytes[n * page..(n + 1) * page].fill(0xA5);
        }
        std::fs::write(path, bytes).unwrap();
    }

    /// A damaged file too large to check before opening is read at once,
    /// and every kind of write waits for the check and is refused with its
    /// verdict: the file is not changed.
    #[tokio::test]
    async fn a_large_damaged_file_refuses_writes_once_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.db");
        filled(&path, 300).await;
        damage(&path);
        let before = std::fs::read(&path).unwrap();
        // Checked before opening, as a small file is.
        let err = Store::open(&path).await.unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");

        let store = Store::open_checking_inline(&path, 0).await.unwrap();
        let new = cm_core::NewMemory::new("a note written to a damaged file", cm_core::Source::Cli).unwrap();
        let refused = [
            store.insert(&new, None, 1.1, 0).await.map(drop),
            store.record_hook_call("Stop", Some("s1"), "queued", 0).await,
            store.record_fork("s2", Some("s1")).await,
            store.record_compaction("s1").await,
        ];
        for (i, outcome) in refused.into_iter().enumerate() {
            let err = outcome.expect_err("a write to a damaged file");
            assert!(matches!(err, Error::Corrupt { .. }), "write {i}: {err}");
            assert!(err.to_string().contains(&path.display().to_string()), "write {i}: {err}");
        }
        store.close().await;
        assert_eq!(std::fs::read(&path).unwrap(), before, "the damaged file was changed");
    }

    /// A sound file checked in the background takes reads at once and
    /// writes once the check is done.
    #[tokio::test]
    async fn a_large_sound_file_is_written_after_its_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.db");
        filled(&path, 300).await;
        let store = Store::open_checking_inline(&path, 0).await.unwrap();
        assert_eq!(store.stats().await.unwrap().total, 300);
        let new =
            cm_core::NewMemory::new("written once the file was found sound", cm_core::Source::Cli).unwrap();
        let (id, created) = store.insert(&new, None, 1.1, 0).await.unwrap();
        assert!(created);
        assert_eq!(store.get(id).await.unwrap().content, "written once the file was found sound");
        assert_eq!(*store.checked.borrow(), Some(Verdict::Sound));
        // The check read the file unmapped; its connection maps it again,
        // as every other does.
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut conn = store.pool().acquire().await.unwrap();
            let mapped: i64 = sqlx::query_scalar("PRAGMA mmap_size").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(mapped.to_string(), MMAP_BYTES);
            held.push(conn);
        }
        drop(held);
        store.close().await;
    }

    /// A store of a few notes and 3,000 more pages, so that its check asks
    /// SQLite's progress handler whether to go on.
    async fn long_to_check(path: &Path) {
        filled(path, 10).await;
        let store = Store::open(path).await.unwrap();
        sqlx::query(
            "CREATE TABLE filler (b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO filler SELECT randomblob(3000) FROM n",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
    }

    /// A write already waiting for the check when the store is closed is
    /// not lost: the check goes on, the write lands, then the store closes.
    #[tokio::test]
    async fn a_write_waiting_for_the_check_lands_though_the_store_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.db");
        long_to_check(&path).await;
        let store = Store::open_checking_inline(&path, 0).await.unwrap();
        let writing = {
            let store = store.clone();
            tokio::spawn(async move { store.record_hook_call("Stop", Some("s1"), "queued", 0).await })
        };
        // The write takes its place (this test's runtime runs one task at
        // a time: the spawned ones go first).
        tokio::task::yield_now().await;
        assert_eq!(*store.checked.borrow(), None, "the check is still running");
        store.close().await;
        writing.await.unwrap().unwrap();
        let store = Store::open(&path).await.unwrap();
        assert_eq!(store.hook_calls().await.unwrap()[0].outcome, "queued");
        store.close().await;
    }

    /// Closing a store stops its background check; a write meanwhile is
    /// refused rather than made to an unchecked file, and the next opening
    /// checks the file again.
    #[tokio::test]
    async fn closing_stops_the_background_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.db");
        long_to_check(&path).await;

        let new = cm_core::NewMemory::new("a note while the check is stopped", cm_core::Source::Cli).unwrap();
        let store = Store::open_checking_inline(&path, 0).await.unwrap();
        // What `close` does first; the check has not started yet (this
        // test's runtime runs one task at a time).
        store.checking.stop.store(true, Ordering::Relaxed);
        let err = store.insert(&new, None, 1.1, 0).await.unwrap_err();
        assert!(matches!(err, Error::Open { .. }), "{err}");
        assert!(err.to_string().contains("did not finish"), "{err}");
        store.close().await;

        let store = Store::open_checking_inline(&path, 0).await.unwrap();
        store.insert(&new, None, 1.1, 0).await.unwrap();
        assert_eq!(store.stats().await.unwrap().total, 11);
        store.close().await;
    }

    /// A file a newer claude-memory migrated is refused at once, saying
    /// what to do, and left as it was.
    #[tokio::test]
    async fn a_file_from_a_newer_version_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.db");
        filled(&path, 3).await;
        let store = Store::open(&path).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99991231000000, 'from a newer version', 1, x'00', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
        let before = std::fs::read(&path).unwrap();
        for inline in [0, CHECK_BEFORE_OPEN_BYTES] {
            let err = Store::open_checking_inline(&path, inline).await.unwrap_err();
            assert!(matches!(err, Error::Newer { version: 99_991_231_000_000, .. }), "{err}");
            assert!(err.to_string().contains("update claude-memory"), "{err}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before, "the file was changed");
    }
}
