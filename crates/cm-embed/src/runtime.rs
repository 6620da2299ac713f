//! Finding and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`: nothing is linked or downloaded at
//! build time, and the library is opened with `dlopen` the first time a model
//! loads. That keeps the binary small and lets the tray app ship the library
//! in its resources, but it means a missing or too-old library is a normal,
//! reportable condition — so this module finds it itself and turns every
//! failure into an [`Error`] that names the path and says what to do.
//!
//! # Search order
//!
//! [`find_onnxruntime`] returns the first match of:
//!
//! 1. the explicitly configured path (a file, or a directory holding the library);
//! 2. `ORT_DYLIB_PATH` (same);
//! 3. the directory of the running executable, then `../lib/claude-memory`
//!    (where `claude-memory install` puts it), `../lib` and `resources/` next
//!    to it (where a bundled desktop app keeps it), then
//!    `~/.local/lib/claude-memory` (where `claude-memory install` puts it by
//!    default, found by a copy of the program that runs from elsewhere);
//! 4. `lib/` of the test dependencies that `scripts/setup-test-deps.sh`
//!    installs: `$CLAUDE_MEMORY_TEST_DEPS/lib`, or
//!    `~/.cache/claude-memory-test-deps/lib` when that variable is unset;
//! 5. the usual system library directories (`/usr/local/lib`, `/usr/lib`,
//!    multiarch and Homebrew directories), where package managers put it.
//!
//! Steps 1 and 2 are the user's explicit choice: if the path they name does
//! not exist, that is an error rather than a reason to quietly keep looking.
//! In a directory, the unversioned name (`libonnxruntime.so`) wins; otherwise
//! the highest versioned one (`libonnxruntime.so.1.32.0`) is taken.

use std::cmp::Reverse;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::{Error, Result};

/// The environment variable that names the library, shared with `ort` itself.
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// Where `scripts/setup-test-deps.sh` installs the test dependencies, if not
/// the default `~/.cache/claude-memory-test-deps`.
pub const TEST_DEPS_ENV: &str = "CLAUDE_MEMORY_TEST_DEPS";

/// The oldest ONNX Runtime this build accepts: `ort`'s `api-31` feature
/// requests version 31 of the C API, which 1.31 introduced.
pub fn required_version() -> String {
    format!("1.{}", ort::MINOR_VERSION)
}

/// A loaded ONNX Runtime: the library and the process-wide environment
/// every session is created in.
#[derive(Debug)]
pub struct OrtRuntime {
    path: PathBuf,
    version: Option<String>,
    environment: ort::environment::Environment,
}

impl OrtRuntime {
    /// The library file that was loaded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The runtime's version (`1.32.0`), when its build information says.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub(crate) fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }
}

/// A process can load ONNX Runtime once: `ort` keeps the library and its
/// environment in globals. Only a success is stored, so after a failure
/// (say, a wrong configured path) a later call may try again.
static RUNTIME: OnceLock<OrtRuntime> = OnceLock::new();
/// Serialises first-time initialisation; `OnceLock::get_or_try_init` is not stable.
static INIT: Mutex<()> = Mutex::new(());

/// The runtime loaded by [`init_onnxruntime`], if any.
pub fn loaded() -> Option<&'static OrtRuntime> {
    RUNTIME.get()
}

/// Loads ONNX Runtime once per process (found by [`find_onnxruntime`] with
/// `explicit`) and returns it; later calls return the same runtime.
///
/// Once a runtime is loaded it cannot be swapped: a later call naming a
/// different library gets the loaded one, with a warning in the log.
pub fn init_onnxruntime(explicit: Option<&Path>) -> Result<&'static OrtRuntime> {
    if let Some(runtime) = RUNTIME.get() {
        warn_if_other(runtime, explicit);
        return Ok(runtime);
    }
    let _guard = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = RUNTIME.get() {
        warn_if_other(runtime, explicit);
        return Ok(runtime);
    }

    let path = find_onnxruntime(explicit)?;
    let builder = ort::init_from(&path).map_err(|e| load_error(e, &path))?;
    let environment = builder
        .with_name("claude-memory")
        .with_telemetry(false)
        .build()
        .map_err(Error::ort("creating the ONNX Runtime environment"))?;
    // With its `tracing` feature `ort` routes ONNX Runtime's own log into
    // ours, but asks for everything down to verbose; most of that is noise
    // about graph rewrites, formatted at a cost on every model load.
    environment.set_log_level(ort_log_level());
    let version = library_version(&path);
    tracing::info!(path = %path.display(), version = version.as_deref().unwrap_or("unknown"), "loaded ONNX Runtime");
    Ok(RUNTIME.get_or_init(|| OrtRuntime { path, version, environment }))
}

fn warn_if_other(runtime: &OrtRuntime, explicit: Option<&Path>) {
    let Some(asked) = explicit else { return };
    if find_onnxruntime(Some(asked)).ok().as_deref() != Some(runtime.path()) {
        tracing::warn!(
            asked = %asked.display(),
            loaded = %runtime.path().display(),
            "ONNX Runtime is already loaded in this process; restart to use another library"
        );
    }
}

/// ONNX Runtime's own log level: warnings and errors, unless `ORT_LOG`
/// (the variable `ort` reads too) asks for `info` or `verbose` while debugging.
fn ort_log_level() -> ort::logging::LogLevel {
    use ort::logging::LogLevel;
    match std::env::var("ORT_LOG").as_deref() {
        Ok("verbose") => LogLevel::Verbose,
        Ok("info") => LogLevel::Info,
        Ok("error") => LogLevel::Error,
        Ok("fatal") => LogLevel::Fatal,
        _ => LogLevel::Warning,
    }
}

/// Turns `ort`'s loader error into ours, keeping the path and the reason.
fn load_error(e: ort::LoadDynamicError, path: &Path) -> Error {
    use ort::LoadDynamicError as E;
    match e {
        E::Dlopen { error, path } => Error::RuntimeLoad { path, reason: cm_core::error_chain(&error) },
        E::MissingApi { path } => Error::RuntimeLoad {
            path,
            reason: "the file does not export `OrtGetApiBase`, so it is not ONNX Runtime".into(),
        },
        E::InvalidVersionString => Error::RuntimeLoad {
            path: path.to_path_buf(),
            reason: "the library reported a malformed version string".into(),
        },
        E::BadVersion { version_str, path } => {
            Error::RuntimeVersion { path, found: version_str, required: required_version() }
        }
    }
}

/// Asks the library at `path`, which `ort` has just loaded, for its version
/// (`1.32.0`). `ort` checks the version but does not expose it, and the
/// build information string does not always hold it.
fn library_version(path: &Path) -> Option<String> {
    // SAFETY: `ort` has already loaded this very library and checked that it
    // exports `OrtGetApiBase`, so opening it again only takes another
    // reference (its initialisers do not run twice). `OrtGetApiBase` and
    // `GetVersionString` take no arguments and return pointers to static
    // data, which is copied before our reference is dropped.
    unsafe {
        let library = libloading::Library::new(path).ok()?;
        let get_api_base: libloading::Symbol<'_, unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
            library.get(b"OrtGetApiBase").ok()?;
        let base = get_api_base();
        if base.is_null() {
            return None;
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return None;
        }
        Some(std::ffi::CStr::from_ptr(version).to_string_lossy().into_owned())
    }
}

/// Finds the ONNX Runtime library; see the [module documentation](self) for
/// the search order. The error lists every place searched.
pub fn find_onnxruntime(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return resolve_named(path, "the configuration");
    }
    if let Some(path) = std::env::var_os(ORT_DYLIB_PATH).filter(|p| !p.is_empty()) {
        return resolve_named(Path::new(&path), ORT_DYLIB_PATH);
    }
    let dirs = search_dirs();
    dirs.iter().find_map(|dir| library_in(dir)).ok_or(Error::RuntimeNotFound { searched: dirs })
}

/// A path the user named: the library itself, or a directory holding it.
fn resolve_named(path: &Path, origin: &'static str) -> Result<PathBuf> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if path.is_dir() {
        return library_in(&path).ok_or(Error::RuntimeNotFound { searched: vec![path] });
    }
    if !path.exists() {
        return Err(Error::RuntimeMissing { path, origin });
    }
    Ok(path)
}

/// Steps 3–5 of the search order, as directories.
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) {
        dirs.extend([
            exe_dir.clone(),
            // `claude-memory install`'s layout: <prefix>/bin and <prefix>/lib/claude-memory.
            exe_dir.join("..").join("lib").join("claude-memory"),
            exe_dir.join("..").join("lib"),
            exe_dir.join("resources"),
        ]);
    }
    if let Some(home) = dirs::home_dir() {
        dirs.push(home.join(".local").join("lib").join("claude-memory"));
    }
    dirs.push(test_deps_dir().join("lib"));
    dirs.extend(system_dirs());
    dirs
}

/// Where `scripts/setup-test-deps.sh` puts its files: `$CLAUDE_MEMORY_TEST_DEPS`,
/// or `~/.cache/claude-memory-test-deps`.
pub fn test_deps_dir() -> PathBuf {
    match std::env::var_os(TEST_DEPS_ENV).filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::home_dir().unwrap_or_default().join(".cache").join("claude-memory-test-deps"),
    }
}

fn system_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if cfg!(unix) {
        dirs.push("/usr/local/lib".into());
        if cfg!(target_os = "linux") {
            dirs.push(format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH).into());
            dirs.push("/usr/lib64".into());
        }
        dirs.push("/usr/lib".into());
        if cfg!(target_os = "macos") {
            dirs.push("/opt/homebrew/lib".into());
        }
    }
    dirs
}

/// The file name the platform gives the library, without a version.
fn plain_name() -> String {
    format!("{}onnxruntime{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
}

/// The version in a versioned library name: `libonnxruntime.so.1.32.0` on
/// Linux, `libonnxruntime.1.32.0.dylib` on macOS.
fn versioned_name(name: &str) -> Option<Vec<u32>> {
    let prefix = format!("{}onnxruntime", std::env::consts::DLL_PREFIX);
    let suffix = std::env::consts::DLL_SUFFIX;
    let rest = name.strip_prefix(&prefix)?;
    let version = match rest.strip_prefix(suffix) {
        Some(v) => v.strip_prefix('.')?,
        None => rest.strip_prefix('.')?.strip_suffix(suffix)?,
    };
    version.split('.').map(|part| part.parse().ok()).collect()
}

/// The library in `dir`: the unversioned name, else the highest versioned one.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let plain = dir.join(plain_name());
    if plain.is_file() {
        return Some(plain);
    }
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = versioned_name(entry.file_name().to_str()?)?;
            let path = entry.path();
            path.is_file().then_some((version, path))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| Reverse(version.clone()));
    versioned.into_iter().next().map(|(_, path)| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn versioned_names() {
        assert_eq!(versioned_name("libonnxruntime.so.1.32.0"), Some(vec![1, 32, 0]));
        assert_eq!(versioned_name("libonnxruntime.so"), None);
        assert_eq!(versioned_name("libonnxruntime_providers_shared.so"), None);
        assert_eq!(versioned_name("libonnxruntime.so.1.x"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn directory_prefers_plain_then_highest_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libonnxruntime.so.1.9.0"), b"").unwrap();
        std::fs::write(dir.path().join("libonnxruntime.so.1.31.1"), b"").unwrap();
        std::fs::write(dir.path().join("libonnxruntime_providers_shared.so"), b"").unwrap();
        assert_eq!(library_in(dir.path()), Some(dir.path().join("libonnxruntime.so.1.31.1")));
        std::fs::write(dir.path().join("libonnxruntime.so"), b"").unwrap();
        assert_eq!(library_in(dir.path()), Some(dir.path().join("libonnxruntime.so")));
    }

    #[test]
    fn explicit_path_that_does_not_exist_is_an_error() {
        let missing = Path::new("/nonexistent/claude-memory/libonnxruntime.so");
        let err = find_onnxruntime(Some(missing)).unwrap_err();
        assert!(matches!(err, Error::RuntimeMissing { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("/nonexistent/claude-memory/libonnxruntime.so"), "{message}");
        assert!(message.contains("ORT_DYLIB_PATH"), "{message}");
    }

    #[test]
    fn explicit_directory_without_the_library_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_onnxruntime(Some(dir.path())).unwrap_err();
        assert!(matches!(err, Error::RuntimeNotFound { .. }), "{err}");
    }
}
