//! One function per subcommand: parse strings into domain types, call the
//! engine, print.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cm_claude_code::Operation;
use cm_core::{Domain, MemoryType, NewMemory, SearchMode, SearchRequest, Source};
use cm_engine::{Engine, ExportFormat, ImportFormat, ListFilter, Project, find_project};

use crate::cli::{
    BenchCommand, Cli, Command, Format, Global, ImportFormatArg, Mode, ProjectCommand, UserCommand,
};
use crate::{output, paths};

pub async fn run(cli: Cli) -> Result<()> {
    let Global { project, json } = cli.global;
    match cli.command {
        Command::User(command) => user_command(command, project.as_deref(), json).await,
        Command::Project(command) => project_command(command, project.as_deref(), json).await,
    }
}

/// A command about the installation: no project is opened for it.
async fn user_command(command: UserCommand, project: Option<&Path>, json: bool) -> Result<()> {
    match command {
        UserCommand::Serve { port, no_watch } => crate::service::serve(port, !no_watch).await,
        UserCommand::Status => tokio::task::block_in_place(|| crate::service::status(json)),
        UserCommand::Service(command) => {
            tokio::task::block_in_place(|| crate::autostart::run_command(command, json))
        }
        UserCommand::Reload => tokio::task::block_in_place(|| crate::service::reload(json)),
        UserCommand::Mcp => crate::service::mcp(project).await,
        UserCommand::Install(args) => crate::install::run(&args, json),
        UserCommand::Doctor => tokio::task::block_in_place(|| crate::doctor::run(project, json)),
        UserCommand::Setup(args) => crate::setup::run(args, Operation::Setup, project, json),
        UserCommand::Uninstall(args) => crate::setup::uninstall(args, project, json),
        UserCommand::Models(command) => crate::models::run(command, json, project).await,
        UserCommand::Bench(command) => bench(command, json).await,
        // `main` answers hooks before starting a runtime; this is the same answer.
        UserCommand::Hook { event } => {
            crate::hook::run(&event);
            Ok(())
        }
    }
}

async fn bench(command: BenchCommand, json: bool) -> Result<()> {
    match command {
        BenchCommand::Search(args) => {
            let report = cm_bench::search(&cm_bench::SearchBenchOptions {
                sizes: args.sizes,
                dim: args.dim,
                queries: args.queries,
                dir: args.dir,
            })
            .await?;
            output::print(json, &report, |r| r.to_string())
        }
        BenchCommand::Embed(args) => bench_embed(&args, json).await,
        BenchCommand::Hook(args) => crate::bench_hook::run(&args, json).await,
        BenchCommand::Team(args) => crate::bench_team::run(&args, json).await,
        BenchCommand::Locomo(args) => bench_locomo(&args, json).await,
        BenchCommand::Gate(args) => bench_gate(&args, json).await,
        BenchCommand::Inject(args) => bench_inject(&args, json).await,
    }
}

/// A command about one project's memories, on its database in-process.
async fn project_command(command: ProjectCommand, project: Option<&Path>, json: bool) -> Result<()> {
    if let ProjectCommand::Team(crate::team::TeamCommand::Migrate { url }) = &command {
        return crate::team::migrate(url, json).await;
    }
    let project = resolve_project(project)?;
    let config = paths::load_config()?;
    // Only commands that embed text pay for loading the model.
    let embedder = match &command {
        ProjectCommand::Import { .. } => paths::load_embedder(&config, paths::Workload::Bulk).await,
        ProjectCommand::Save(_)
        | ProjectCommand::Search(_)
        | ProjectCommand::Team(crate::team::TeamCommand::Sync) => {
            paths::load_embedder(&config, paths::Workload::Serving).await
        }
        _ => None,
    };
    let engine = Engine::with_registry(config, embedder, paths::registry()?);
    if matches!(command, ProjectCommand::Save(_) | ProjectCommand::Import { .. }) {
        paths::attach_llm(&engine).await;
    }
    let result = dispatch(&engine, &project, command, json).await;
    engine.close().await;
    result
}

async fn bench_embed(args: &crate::cli::BenchEmbedArgs, json: bool) -> Result<()> {
    let config = paths::load_config()?;
    let mut cfg = paths::embed_config(&config, args.model.as_deref(), args.model_dir.as_deref())?;
    if let Some(t) = args.threads {
        cfg.model.intra_threads = t;
    }
    let options = cm_embed::BenchOptions {
        queries: args.queries,
        documents: args.documents,
        ..cm_embed::BenchOptions::default()
    };
    let report = cm_embed::bench(cfg, &options).await?;
    output::print(json, &report, |r| r.to_string())
}

/// The model a quality benchmark measures (`--model`, `--model-dir`, else
/// the configured one); one that fails to load is an error.
async fn bench_model(
    config: &cm_core::Config,
    model: Option<&str>,
    model_dir: Option<&std::path::Path>,
) -> Result<std::sync::Arc<dyn cm_core::Embedder>> {
    let cfg = paths::embed_config(config, model, model_dir)?;
    let id = cfg.spec.id.clone();
    let embedder = cm_embed::EmbedService::load_async(cfg)
        .await
        .with_context(|| format!("loading embedding model {id}"))?;
    Ok(std::sync::Arc::new(embedder))
}

/// LoCoMo is measured with a model: without one only BM25 could run, and
/// a model that fails to load is an error here rather than a silent fallback.
async fn bench_locomo(args: &crate::cli::BenchLocomoArgs, json: bool) -> Result<()> {
    let config = paths::load_config()?;
    let conversations = cm_bench::locomo::load_dir(&args.data)?;
    let embedder = bench_model(&config, args.model.as_deref(), args.model_dir.as_deref()).await?;
    let report = cm_bench::locomo::run(&conversations, config, Some(embedder)).await?;
    output::print(json, &report, |r| r.to_string())
}

/// Calibration runs the real model: one that fails to load is an error.
async fn bench_gate(args: &crate::cli::BenchGateArgs, json: bool) -> Result<()> {
    let config = paths::load_config()?;
    let conversations = match &args.data {
        Some(dir) => cm_bench::locomo::load_dir(dir)?,
        None => Vec::new(),
    };
    let embedder = bench_model(&config, args.model.as_deref(), args.model_dir.as_deref()).await?;
    let report = cm_bench::gate::run(config, embedder, &conversations).await?;
    output::print(json, &report, |r| r.to_string())
}

/// The hook is measured with the real model: one that fails to load is an error.
async fn bench_inject(args: &crate::cli::BenchGateArgs, json: bool) -> Result<()> {
    let config = paths::load_config()?;
    let conversations = match &args.data {
        Some(dir) => cm_bench::locomo::load_dir(dir)?,
        None => Vec::new(),
    };
    let embedder = bench_model(&config, args.model.as_deref(), args.model_dir.as_deref()).await?;
    let report = cm_bench::inject::run(config, embedder, &conversations).await?;
    output::print(json, &report, |r| r.to_string())
}

/// Largest import read: an export of 100,000 memories is about 60 MB.
const MAX_IMPORT_BYTES: u64 = 256 * 1024 * 1024;

/// Reads all of `input` as UTF-8, refusing more than [`MAX_IMPORT_BYTES`]
/// (`import /dev/zero` grew to gigabytes before failing).
fn read_bounded(input: impl Read, name: &str) -> Result<String> {
    let mut bytes = Vec::new();
    input.take(MAX_IMPORT_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("reading {name}"))?;
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        bail!("{name} is larger than {} MiB: split it into smaller files", MAX_IMPORT_BYTES >> 20);
    }
    String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{name} is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

/// What an import did, for a person.
fn import_summary(r: &cm_engine::ImportReport) -> String {
    let mut text = format!(
        "imported {}, skipped {} already present, renumbered {}",
        r.imported.len(),
        r.skipped,
        r.renumbered
    );
    if !r.failed.is_empty() {
        text.push_str(&format!(", failed {}", r.failed.len()));
        for f in &r.failed {
            text.push_str(&format!("\n  line {}: {}", f.line, output::inert(&f.reason)));
        }
    }
    text
}

/// `import --format claude-code`: the statements of the files Claude Code
/// loads for this project, kept in step with them.
async fn import_claude_code(
    engine: &Engine,
    project: &Project,
    file: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    if let Some(file) = file {
        bail!("--format claude-code reads the project's own files; leave out {}", file.display());
    }
    let user = cm_claude_code::ClaudeUserFiles::from_env()?;
    let (files, statements) = cm_claude_code::loaded_statements(&user, project.root())?;
    let report = engine.sync_statements(project, cm_core::text::CLAUDE_CODE_TAG, &statements).await?;
    output::print(json, &report, |r| {
        let read: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        format!(
            "read {}\nimported {}, unchanged {}, archived {} no longer there",
            if read.is_empty() {
                "nothing: no CLAUDE.md, rules or auto memory".to_owned()
            } else {
                read.join(", ")
            },
            r.imported.len(),
            r.skipped,
            r.archived
        )
    })
}

/// The project a command works on: `--project DIR`'s (the project DIR lies
/// in when it lies in one, so a subfolder never splits off a second store;
/// else DIR itself), or the current directory's ([`find_project`]).
fn resolve_project(dir: Option<&Path>) -> Result<Project> {
    let root = match dir {
        Some(d) => cm_engine::resolve_existing(d, true).unwrap_or_else(|| d.to_owned()),
        None => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            find_project(&cwd).with_context(|| {
                format!(
                    "{} is not inside a project: run in a git repository or a folder holding .claude-memory/, \
                     or pass --project DIR",
                    cwd.display()
                )
            })?
        }
    };
    Ok(Project::at(&root)?)
}

async fn dispatch(engine: &Engine, project: &Project, command: ProjectCommand, json: bool) -> Result<()> {
    match command {
        ProjectCommand::Save(a) => {
            let text = match a.text.as_str() {
                "-" => read_bounded(std::io::stdin().lock(), "stdin")?,
                _ => a.text.clone(),
            };
            let mut new =
                NewMemory::new(&text, Source::Cli)?.with_confidence(a.confidence)?.with_tags(&a.tags)?;
            if let Some(t) = &a.memory_type {
                new = new.with_type(t.parse::<MemoryType>()?);
            }
            if let Some(d) = &a.domain {
                new = new.with_domain(Domain::parse(d)?);
            }
            let outcome = engine.save(project, new).await?;
            output::print(json, &outcome, output::save)
        }
        ProjectCommand::Search(a) => {
            if a.query.trim().is_empty() {
                bail!("search needs words to look for (`list` shows memories without a query)");
            }
            let mut req = SearchRequest::new(a.query, a.limit);
            req.memory_type = a.memory_type.as_deref().map(str::parse).transpose()?;
            req.domain = a.domain.as_deref().map(Domain::parse).transpose()?;
            req.min_confidence = a.min_confidence;
            req.include_archived = a.archived;
            req.mode = match a.mode {
                Mode::Hybrid => SearchMode::Hybrid,
                Mode::Vector => SearchMode::Vector,
                Mode::Bm25 => SearchMode::Bm25,
            };
            if req.mode == SearchMode::Vector && engine.embedder().is_none() {
                bail!(
                    "a vector search needs an embedding model (`claude-memory models use MODEL`); \
                     `--mode bm25` searches by full text"
                );
            }
            let results = engine.search(project, &req).await?;
            if json {
                return output::print(true, &results.hits, |_| String::new());
            }
            output::print(false, &results, |r| output::search(r, req.mode))
        }
        ProjectCommand::Validate(a) => {
            let m = engine.validate(project, a.id, a.helpful).await?;
            output::print(json, &m, |m| format!("memory {} confidence is now {:.2}", m.id, m.confidence))
        }
        ProjectCommand::Show { id } => {
            let m = engine.get(project, id).await?;
            output::print(json, &m, output::memory_detail)
        }
        ProjectCommand::List(a) => {
            let filter = ListFilter {
                memory_type: a.memory_type.as_deref().map(str::parse).transpose()?,
                domain: a.domain.as_deref().map(Domain::parse).transpose()?,
                archived: a.archived.then_some(true),
                tag: a.tag,
                stale: a.stale,
                ..ListFilter::default()
            };
            let list = engine.list(project, &filter, a.limit, a.offset).await?;
            output::print(json, &list, |l| output::memory_table(l))
        }
        ProjectCommand::Delete { id, purge } => {
            if purge {
                engine.purge(project, id).await?;
                output::print(json, &serde_json::json!({"id": id, "action": "purged"}), |_| {
                    format!("memory {id} deleted")
                })
            } else {
                // What needs nothing is said so and not written (a write would
                // also queue the memory for the team as if it had changed).
                let m = engine.get(project, id).await?;
                if m.archived {
                    return output::print(json, &m, |m| format!("memory {} is already archived", m.id));
                }
                let m = engine.set_archived(project, id, true).await?;
                output::print(json, &m, |m| {
                    format!("memory {} archived (restore with `claude-memory restore {}`)", m.id, m.id)
                })
            }
        }
        ProjectCommand::Restore { id } => {
            let m = engine.get(project, id).await?;
            if !m.archived {
                return output::print(json, &m, |m| {
                    format!("memory {} is not archived: nothing to restore", m.id)
                });
            }
            let m = engine.set_archived(project, id, false).await?;
            output::print(json, &m, |m| format!("memory {} restored", m.id))
        }
        ProjectCommand::Unsupersede { id } => {
            let m = engine.get(project, id).await?;
            if m.superseded_by.is_none() {
                return output::print(json, &m, |m| format!("memory {} is not superseded: it is live", m.id));
            }
            let m = engine.unsupersede(project, id).await?;
            output::print(json, &m, |m| format!("memory {} is live again", m.id))
        }
        ProjectCommand::Share { id } => crate::team::share(engine, project, id, true, json).await,
        ProjectCommand::Unshare { id } => crate::team::share(engine, project, id, false, json).await,
        ProjectCommand::Team(command) => crate::team::run(engine, project, command, json).await,
        ProjectCommand::Confirm { id } => {
            let m = engine.get(project, id).await?;
            if m.stale.is_none() {
                return output::print(json, &m, |m| format!("memory {} is not flagged stale", m.id));
            }
            let m = engine.confirm_fresh(project, id).await?;
            output::print(json, &m, |m| format!("memory {} confirmed: not stale", m.id))
        }
        ProjectCommand::Stats => {
            let stats = engine.stats(project).await?;
            output::print(json, &stats, |s| output::stats(project, s))
        }
        ProjectCommand::Export { format } => {
            let format = match format {
                Format::Jsonl => ExportFormat::Jsonl,
                Format::Markdown => ExportFormat::Markdown,
            };
            let text = engine.export(project, format).await?;
            match format {
                // JSON escapes every control character already.
                ExportFormat::Jsonl => output::write_stdout(&text),
                ExportFormat::Markdown => output::write_stdout(&output::inert(&text)),
            }
        }
        ProjectCommand::Import { file, format } => {
            let format = match format {
                ImportFormatArg::Export => ImportFormat::Export,
                ImportFormatArg::Jsonl => ImportFormat::Jsonl,
                ImportFormatArg::ClaudeCode => return import_claude_code(engine, project, file, json).await,
                ImportFormatArg::ClaudeMem => {
                    let db = match file {
                        Some(f) => f,
                        None => std::env::var_os("CLAUDE_MEM_DATA_DIR")
                            .filter(|d| !d.is_empty())
                            .map(PathBuf::from)
                            .or_else(|| std::env::home_dir().map(|h| h.join(".claude-mem")))
                            .context("cannot find claude-mem's folder: pass its claude-mem.db")?
                            .join("claude-mem.db"),
                    };
                    let report = engine.import_claude_mem(project, &db).await?;
                    return output::print(json, &report, import_summary);
                }
                ImportFormatArg::ClaudePersistentMemory => {
                    let Some(db) = file else {
                        bail!("import needs the original's memory.db (usually <its folder>/data/memory.db)")
                    };
                    let report = engine.import_original(project, &db).await?;
                    return output::print(json, &report, import_summary);
                }
            };
            let Some(file) = file else { bail!("import needs a FILE (or - for stdin)") };
            let text = if file.as_os_str() == "-" {
                read_bounded(std::io::stdin().lock(), "stdin")?
            } else {
                let f = std::fs::File::open(&file).with_context(|| format!("reading {}", file.display()))?;
                read_bounded(f, &file.display().to_string())?
            };
            // Progress on stderr for a person watching a large import.
            let watched = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let report = engine
                .import(project, &text, format, |done, total| {
                    // One batch needs no progress.
                    if watched && total > 500 {
                        eprint!("\rimporting: {done} of {total} memories");
                        if done == total {
                            eprintln!();
                        }
                    }
                })
                .await?;
            output::print(json, &report, import_summary)?;
            if report.imported.is_empty() && report.skipped == 0 && !report.failed.is_empty() {
                bail!("nothing imported: every line failed (see above)");
            }
            Ok(())
        }
    }
}
