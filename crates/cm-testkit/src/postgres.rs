//! A real PostgreSQL (with pgvector) for the team-memory tests.
//!
//! One server per test process, started on first use from the binaries that
//! `scripts/setup-test-deps.sh` installs (`CLAUDE_MEMORY_TEST_PG_BIN`), in a
//! temporary directory, on a free loopback port, with trust authentication
//! for the superuser `postgres` and password authentication for every other
//! role (so the tests exercise the password path the product uses).
//!
//! PostgreSQL refuses to run as root: under root the server runs as
//! `nobody`, from a hard-linked (or copied) tree of the binaries that user can
//! read. The server gets `SIGINT` (fast shutdown) when the test process
//! ends, however it ends: the parent-death signal is armed from a thread
//! that lives as long as the process. A directory left by a process killed
//! before that is removed by the next run.
//!
//! Tests that stop the server (faults) use [`PgServer::start_private`] for a
//! server of their own, then [`PgServer::stop`] and [`PgServer::restart`].

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The variable naming the directory of `initdb`, `postgres` and `psql`.
pub const PG_BIN_VAR: &str = "CLAUDE_MEMORY_TEST_PG_BIN";

/// Where every run's server directories live (one per server, named by pid).
const ROOT_DIR: &str = "claude-memory-test-pg";

/// A running PostgreSQL server.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
}

static SHARED: OnceLock<PgServer> = OnceLock::new();

impl PgServer {
    /// The process's shared server, started on first call.
    ///
    /// # Panics
    /// When `CLAUDE_MEMORY_TEST_PG_BIN` is unset or the server cannot start:
    /// the team tests need it (run `scripts/setup-test-deps.sh` and source its `env.sh`).
    pub fn shared() -> &'static PgServer {
        SHARED.get_or_init(|| PgServer::start_private().unwrap_or_else(|e| panic!("{e}")))
    }

    /// A server of the caller's own (for tests that stop and restart it).
    pub fn start_private() -> Result<PgServer, String> {
        let bin = std::env::var_os(PG_BIN_VAR).map(PathBuf::from).ok_or_else(|| {
            format!("{PG_BIN_VAR} is not set: run scripts/setup-test-deps.sh and source its env.sh")
        })?;
        if !bin.join("postgres").is_file() {
            return Err(format!("{PG_BIN_VAR}={} has no postgres binary", bin.display()));
        }
        let root = std::env::temp_dir().join(ROOT_DIR);
        std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
        remove_stale(&root);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", std::process::id()))
            .tempdir_in(&root)
            .map_err(|e| format!("temporary directory: {e}"))?
            .keep();
        let bin = runnable_bin(&bin, &dir).map_err(|e| format!("prepare the binaries: {e}"))?;
        if as_root() {
            chown_nobody(&dir).map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
        let data = dir.join("data");
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, "postgres\n").map_err(|e| e.to_string())?;
        if as_root() {
            chown_nobody(&pwfile).map_err(|e| e.to_string())?;
        }
        let out = command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .map_err(|e| format!("run initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        // Trust for the superuser over loopback (the tests' admin), a
        // password for every other role.
        let hba = "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\nlocal all all trust\n";
        std::fs::write(data.join("pg_hba.conf"), hba).map_err(|e| e.to_string())?;
        let server = PgServer { bin, dir, port: free_port(), child: Mutex::new(None) };
        server.restart()?;
        Ok(server)
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `user` with `password` on `database`.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/{database}", self.port)
    }

    /// The superuser's URL on `database` (trust authentication).
    pub fn admin_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new database, unique in this server, for one test; returns its name.
    pub fn create_database(&self, prefix: &str) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{prefix}_{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("{e}"));
        name
    }

    /// Runs `sql` as the superuser on `database` with `psql`; its output
    /// (tuples only, unaligned) or the error it printed.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = self.psql_command(database, sql).output().map_err(|e| format!("run psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Starts `sql` as the superuser on `database` in a `psql` left running
    /// in the background, e.g. `BEGIN; LOCK …; SELECT pg_sleep(…)` to hold
    /// a lock; the caller kills it (stopping the server ends it too).
    pub fn psql_background(&self, database: &str, sql: &str) -> io::Result<Child> {
        self.psql_command(database, sql).stdout(Stdio::null()).stderr(Stdio::null()).spawn()
    }

    fn psql_command(&self, database: &str, sql: &str) -> Command {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(database)
            .arg("-c")
            .arg(sql)
            .stdin(Stdio::null());
        cmd
    }

    /// Stops the server (fast shutdown) and waits for it to exit.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(mut c) = child.take() {
            signal(c.id(), libc::SIGINT);
            let _ = c.wait();
        }
    }

    /// Starts the server (again) on the same port and data, and waits until
    /// it accepts connections.
    pub fn restart(&self) -> Result<(), String> {
        let mut child = self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if child.is_some() {
            return Ok(());
        }
        let log = std::fs::File::create(self.dir.join("log")).map_err(|e| e.to_string())?;
        let mut cmd = command(&self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(log);
        let started = spawn_on_keeper(cmd).map_err(|e| format!("start postgres: {e}"))?;
        *child = Some(started);
        drop(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.psql("postgres", "SELECT 1").is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
                return Err(format!("postgres did not start within 30 s:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

const NOBODY: libc::uid_t = 65534;
const NOGROUP: libc::gid_t = 65534;

fn chown_nobody(path: &Path) -> io::Result<()> {
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOGROUP))
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: sending a signal to a child we started.
        unsafe { libc::kill(pid, sig) };
    }
}

/// A command for a PostgreSQL binary: as `nobody` under root, with the
/// parent-death signal armed after the identity change (which clears it).
fn command(program: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    cmd.env_clear().env("PATH", "/usr/bin:/bin").env("LC_ALL", "C").stdin(Stdio::null());
    let root = as_root();
    // SAFETY: the closure only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            if root
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(NOGROUP) != 0
                    || libc::setuid(NOBODY) != 0)
            {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Spawns `cmd` from a thread that lives as long as the process: the
/// parent-death signal fires when the spawning *thread* exits, and test
/// threads end after each test.
fn spawn_on_keeper(cmd: Command) -> io::Result<Child> {
    type Job = (Command, std::sync::mpsc::Sender<io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<std::sync::mpsc::Sender<Job>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("pg-keeper".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // The sender lives in a static: this thread never gets here.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn the keeper thread");
        Mutex::new(tx)
    });
    let (tx, rx) = std::sync::mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((cmd, tx))
        .map_err(|_| io::Error::other("keeper thread gone"))?;
    rx.recv().map_err(|_| io::Error::other("keeper thread gone"))?
}

/// The binaries to run: `bin` itself, or under root a tree `nobody` can
/// read (the wheel's `pginstall` and its sibling libraries, hard-linked
/// into `dir` when on the same file system, else copied).
fn runnable_bin(bin: &Path, dir: &Path) -> io::Result<PathBuf> {
    if !as_root() {
        return Ok(bin.to_owned());
    }
    let install = bin.parent().ok_or_else(|| io::Error::other("bin has no parent"))?;
    let package = install.parent().ok_or_else(|| io::Error::other("pginstall has no parent"))?;
    let site = package.parent().ok_or_else(|| io::Error::other("package has no parent"))?;
    let libs = site.join(format!("{}.libs", package.file_name().unwrap_or_default().to_string_lossy()));
    let target = dir.join("install");
    let target_package = target.join(package.file_name().unwrap_or_default());
    link_tree(install, &target_package.join(install.file_name().unwrap_or_default()))?;
    if libs.is_dir() {
        link_tree(&libs, &target.join(libs.file_name().unwrap_or_default()))?;
    }
    set_readable(dir)?;
    Ok(target_package.join(install.file_name().unwrap_or_default()).join("bin"))
}

fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            link_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Makes `dir` and everything under it readable (and directories
/// traversable) by everyone; files keep their execute bits.
fn set_readable(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    let extra = if meta.is_dir() { 0o555 } else { 0o444 | ((mode & 0o100) * 0o11) };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | extra))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            set_readable(&entry?.path())?;
        }
    }
    Ok(())
}

/// Removes the directories of earlier runs whose process is gone.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
        // SAFETY: signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) == 0 }
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
