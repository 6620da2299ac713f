//! `claude-memory install`: puts this binary on the PATH, with what it needs
//! beside it, in the layout every part of claude-memory searches:
//!
//! ```text
//! <prefix>/bin/claude-memory                  the CLI, hooks and MCP server
//! <prefix>/share/claude-memory/ui/            the dashboard (`launch::ui_dir`)
//! <prefix>/lib/claude-memory/libonnxruntime…  ONNX Runtime (`cm_embed::runtime`)
//! ```
//!
//! The prefix is `~/.local` by default: `~/.local/bin` is on the PATH of
//! most Linux desktops and is the XDG user bin directory. Every file is
//! copied to a temporary name and renamed, so a running engine or hook keeps
//! the file it started with and an interrupted install leaves no half file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;

use crate::output;

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Where to install (default: ~/.local): the command goes in DIR/bin.
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
    /// The ONNX Runtime library to ship with it (default: the one this binary finds).
    #[arg(long, value_name = "FILE")]
    pub onnxruntime: Option<PathBuf>,
}

/// What an install did.
#[derive(Debug, Serialize)]
pub struct InstallReport {
    /// The installed command.
    pub bin: PathBuf,
    /// Whether `claude-memory` on the PATH is that file.
    pub on_path: bool,
    /// The dashboard's files, when they were found.
    pub ui: Option<PathBuf>,
    /// The ONNX Runtime library, when one was found.
    pub onnxruntime: Option<PathBuf>,
    /// What is missing or what the user must do.
    pub notes: Vec<String>,
}

pub fn run(args: &InstallArgs, json: bool) -> Result<()> {
    let prefix = match &args.prefix {
        Some(p) => std::path::absolute(p).context("the prefix")?,
        None => std::env::home_dir().context("no home directory: pass --prefix")?.join(".local"),
    };
    let report = install(&prefix, args.onnxruntime.as_deref())?;
    output::print(json, &report, render)
}

fn install(prefix: &Path, onnxruntime: Option<&Path>) -> Result<InstallReport> {
    let mut notes = Vec::new();
    let exe = std::env::current_exe().and_then(|e| e.canonicalize()).context("cannot find this program")?;
    let bin_dir = prefix.join("bin");
    let bin = bin_dir.join(format!("claude-memory{}", std::env::consts::EXE_SUFFIX));
    if bin.canonicalize().ok().as_deref() != Some(exe.as_path()) {
        copy_file(&exe, &bin)?;
    }

    let ui = match cm_server::launch::ui_dir() {
        Some(src) => {
            let dest = prefix.join("share/claude-memory/ui");
            if src.canonicalize().ok() != dest.canonicalize().ok() {
                copy_dir(&src, &dest)?;
            }
            Some(dest)
        }
        None => {
            notes.push(
                "no dashboard found (build it with `npm run build` in ui/, then install again)".to_owned(),
            );
            None
        }
    };

    let onnxruntime = match cm_embed::find_onnxruntime(onnxruntime) {
        Ok(lib) => {
            let name = lib.file_name().context("the ONNX Runtime path names no file")?;
            let dest = prefix.join("lib/claude-memory").join(name);
            if lib.canonicalize().ok() != dest.canonicalize().ok() {
                copy_file(&lib, &dest)?;
            }
            Some(dest)
        }
        Err(e) => {
            notes.push(format!(
                "ONNX Runtime was not found ({}), so search stays full-text only; \
                 install again with --onnxruntime FILE",
                output::first_line(&cm_core::error_chain(&e))
            ));
            None
        }
    };

    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = cm_claude_code::find_on_path(&path);
    let on_path = found.as_ref().and_then(|f| f.canonicalize().ok()) == bin.canonicalize().ok();
    if !on_path {
        notes.push(match found {
            Some(other) => format!(
                "another claude-memory comes first on your PATH ({}): remove it, or put {} before it",
                other.display(),
                bin_dir.display()
            ),
            None => format!(
                "{} is not on your PATH: add it, e.g. `{}`, then open a new terminal",
                bin_dir.display(),
                cm_claude_code::path_line(&bin_dir)
            ),
        });
    }
    Ok(InstallReport { bin, on_path, ui, onnxruntime, notes })
}

fn render(r: &InstallReport) -> String {
    let mut out = format!("installed {}\n", r.bin.display());
    if let Some(ui) = &r.ui {
        out.push_str(&format!("  dashboard     {}\n", ui.display()));
    }
    if let Some(lib) = &r.onnxruntime {
        out.push_str(&format!("  ONNX Runtime  {}\n", lib.display()));
    }
    if r.on_path {
        out.push_str("`claude-memory` is on your PATH; next: `claude-memory setup` in a project\n");
    }
    for note in &r.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.trim_end().to_owned()
}

/// Copies `src` to `dest` through a temporary file in `dest`'s folder and a
/// rename, keeping `src`'s permissions.
fn copy_file(src: &Path, dest: &Path) -> Result<()> {
    let dir = dest.parent().context("the destination has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.install-{}", std::process::id()));
    let result = std::fs::copy(src, &tmp).and_then(|_| std::fs::rename(&tmp, dest));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        bail!("installing {} as {}: {e}", src.display(), dest.display());
    }
    Ok(())
}

/// Replaces the folder `dest` by a copy of `src`: copied beside it, then
/// swapped in.
fn copy_dir(src: &Path, dest: &Path) -> Result<()> {
    fn copy_tree(src: &Path, dest: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            let to = dest.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy_tree(&entry.path(), &to)?;
            } else {
                std::fs::copy(entry.path(), &to)?;
            }
        }
        Ok(())
    }
    let parent = dest.parent().context("the destination has no folder")?;
    let fresh = parent.join(format!(".ui.install-{}", std::process::id()));
    let old = parent.join(format!(".ui.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    copy_tree(src, &fresh).with_context(|| format!("copying {} to {}", src.display(), fresh.display()))?;
    if dest.exists() {
        std::fs::rename(dest, &old).with_context(|| format!("moving {} aside", dest.display()))?;
    }
    std::fs::rename(&fresh, dest).with_context(|| format!("installing {}", dest.display()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}
