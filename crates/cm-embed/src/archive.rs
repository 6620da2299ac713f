//! Unpacking a model archive (`.zip`, `.tar.gz`, `.tgz`, `.tar`) for
//! [`ModelStore::install_from`](crate::ModelStore::install_from).
//!
//! Only regular files and directories are unpacked, and only to paths inside
//! the destination: an archive is something a user downloaded from
//! somewhere, and a `../` entry or a symlink must not write outside the
//! model store.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The archive kinds understood, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zip,
    TarGz,
    Tar,
}

fn kind(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if name.ends_with(".zip") {
        Some(Kind::Zip)
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(Kind::TarGz)
    } else if name.ends_with(".tar") {
        Some(Kind::Tar)
    } else {
        None
    }
}

/// Unpacks `archive` into the existing directory `dest`.
pub(crate) fn extract(archive: &Path, dest: &Path) -> Result<()> {
    let err = |message: String| Error::Archive { path: archive.to_path_buf(), message };
    let kind = kind(archive)
        .ok_or_else(|| err("not a directory nor a .zip, .tar.gz, .tgz or .tar archive".into()))?;
    let file = File::open(archive).map_err(Error::io(archive))?;
    match kind {
        Kind::Zip => extract_zip(file, dest).map_err(|e| err(e.to_string())),
        Kind::TarGz => extract_tar(flate2::read::GzDecoder::new(file), dest).map_err(|e| err(e.to_string())),
        Kind::Tar => extract_tar(file, dest).map_err(|e| err(e.to_string())),
    }
}

fn extract_zip(file: File, dest: &Path) -> io::Result<()> {
    let mut zip = zip::ZipArchive::new(file).map_err(io::Error::other)?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(io::Error::other)?;
        // `enclosed_name` is `None` for absolute paths and `..` escapes.
        let Some(relative) = entry.enclosed_name() else {
            return Err(io::Error::other(format!("entry {:?} points outside the archive", entry.name())));
        };
        let target = dest.join(relative);
        if entry.is_dir() {
            fs::create_dir_all(&target)?;
        } else if entry.is_file() {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut out = File::create(&target)?;
            io::copy(&mut entry, &mut out)?;
        }
        // Symlinks and anything else are skipped: a model is plain files.
    }
    Ok(())
}

fn extract_tar(reader: impl io::Read, dest: &Path) -> io::Result<()> {
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(false);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        // `unpack_in` refuses paths that would land outside `dest`.
        if !entry.unpack_in(dest)? {
            let path = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
            return Err(io::Error::other(format!("entry {path:?} points outside the archive")));
        }
    }
    Ok(())
}

/// The directory inside an unpacked archive that holds the model: the top,
/// or, when the top holds nothing but one folder (`all-minilm-l6-v2/…`), that
/// folder, a few levels deep at most.
pub(crate) fn model_root(dir: &Path) -> PathBuf {
    let mut dir = dir.to_path_buf();
    for _ in 0..3 {
        let Ok(read) = fs::read_dir(&dir) else { break };
        let children: Vec<PathBuf> = read
            .flatten()
            .filter(|d| !d.file_name().to_string_lossy().starts_with('.'))
            .map(|d| d.path())
            .collect();
        match children.as_slice() {
            [only] if only.is_dir() => dir = only.clone(),
            _ => break,
        }
    }
    dir
}
