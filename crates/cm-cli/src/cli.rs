//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// claude-memory: a local, per-project long-term memory for Claude Code.
#[derive(Debug, Parser)]
#[command(name = "claude-memory", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Project directory (default: the nearest ancestor holding .claude-memory/, else the git root).
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Every command: those about one project, and those about the user's
/// installation (which need no project). Each half is matched exhaustively
/// on its own path.
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Project(ProjectCommand),
    #[command(flatten)]
    User(UserCommand),
}

/// Commands on one project's memories (`--project`, else the project of the
/// working directory), run in-process on its database.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Save a memory.
    Save(SaveArgs),
    /// Search memories (hybrid BM25 + vector).
    Search(SearchArgs),
    /// Record whether a memory was helpful.
    Validate(ValidateArgs),
    /// Show one memory in full.
    Show {
        /// Memory id.
        id: i64,
    },
    /// List memories, newest first.
    List(ListArgs),
    /// Archive a memory (restorable with `restore`), or delete it for good with --purge.
    Delete {
        /// Memory id.
        id: i64,
        /// Delete permanently instead of archiving.
        #[arg(long)]
        purge: bool,
    },
    /// Restore an archived memory.
    Restore {
        /// Memory id.
        id: i64,
    },
    /// Make a superseded memory live again (injected by hooks), undoing the
    /// mark a newer memory on the same subject put on it.
    Unsupersede {
        /// Memory id.
        id: i64,
    },
    /// Share a memory with the project's team (published at the next sync).
    Share {
        /// Memory id.
        id: i64,
    },
    /// Stop sharing a memory with the team (it stays here).
    Unshare {
        /// Memory id.
        id: i64,
    },
    /// Team memory on PostgreSQL: link this project, sync, status.
    #[command(subcommand)]
    Team(crate::team::TeamCommand),
    /// Confirm a memory flagged stale still holds (the file it names went
    /// away): it ranks as before, and that file no longer flags it.
    Confirm {
        /// Memory id.
        id: i64,
    },
    /// Counts by type, domain and source; database size; embedding model.
    Stats,
    /// Export every memory to stdout.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
    },
    /// Import memories (idempotent: memories already present are skipped).
    Import {
        /// The file ("-" for stdin); none for `--format claude-code`.
        file: Option<PathBuf>,
        /// `export`: this tool's own JSONL export (lossless). `jsonl`: one JSON object per
        /// line with `content` and any of `type`, `domain`, `tags`, `confidence`,
        /// `created_at`; bad lines are reported and skipped. `claude-persistent-memory`: the
        /// original Node.js tool's `memory.db` (read-only; ids kept where free). `claude-mem`:
        /// claude-mem's observations and session lessons for this project (default file
        /// `$CLAUDE_MEM_DATA_DIR/claude-mem.db`, else `~/.claude-mem/claude-mem.db`). `claude-code`: the project's
        /// CLAUDE.md, rules and Claude Code's auto memory, one memory per statement (run it
        /// again to follow their edits; never injected, since Claude Code loads them itself).
        #[arg(long, value_enum, default_value_t = ImportFormatArg::Export)]
        format: ImportFormatArg,
    },
}

/// Commands on the user's installation: the engine, models, Claude Code's
/// configuration, benchmarks.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Embedding models: list, install (download or from a local copy), use, remove, verify.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Connect Claude Code: data folder, hooks and MCP server (idempotent; --dry-run shows the diff).
    Setup(crate::setup::SetupArgs),
    /// Disconnect Claude Code: remove what setup added, keep the memories (--all: everywhere).
    Uninstall(crate::setup::UninstallArgs),
    /// Put `claude-memory` on your PATH (~/.local/bin), with the dashboard and ONNX Runtime.
    Install(crate::install::InstallArgs),
    /// Check that everything works, from the PATH to Claude Code; each problem with its fix.
    Doctor,
    /// Start the engine at login without the tray app: install, uninstall or check the
    /// systemd user service (Linux), launchd agent (macOS) or scheduled task (Windows).
    #[command(subcommand)]
    Service(crate::autostart::ServiceCommand),
    /// Run the engine (MCP, hooks, dashboard API) on 127.0.0.1 in the foreground.
    Serve {
        /// Port (default: `port` under `[service]` in config.toml, else 23811; 0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
        /// Do not watch the home directory (or the configured roots) for projects.
        #[arg(long)]
        no_watch: bool,
    },
    /// Make the running engine follow config.toml again (model, LLM).
    Reload,
    /// Whether an engine runs: its URL, version, projects and model.
    Status,
    /// MCP over stdio for the project of the working directory (what Claude Code starts).
    Mcp,
    /// Answer a Claude Code hook (what Claude Code runs): payload on stdin, context on stdout.
    Hook {
        /// Claude Code's event name, e.g. UserPromptSubmit.
        event: String,
    },
}

/// What `import` reads.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportFormatArg {
    Export,
    Jsonl,
    ClaudeCode,
    ClaudePersistentMemory,
    ClaudeMem,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// The memory's text (`-`: read it from stdin).
    pub text: String,
    /// fact, decision, bug, pattern, context, preference or skill (default: what the structurer
    /// finds, else context).
    #[arg(long = "type")]
    pub memory_type: Option<String>,
    /// Domain (e.g. frontend, backend, database, devops, testing, api, orm, memory, general;
    /// default: what the structurer finds, else general).
    #[arg(long)]
    pub domain: Option<String>,
    /// Initial confidence, clamped to 0.3–0.9.
    #[arg(long, default_value_t = 0.7)]
    pub confidence: f64,
    /// Comma-separated tags.
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for.
    pub query: String,
    /// Most results (1 to 200).
    #[arg(long, default_value_t = 5, value_parser = results_limit)]
    pub limit: usize,
    /// Only this type.
    #[arg(long = "type")]
    pub memory_type: Option<String>,
    /// Only this domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// Only memories at least this confident (0 to 1).
    #[arg(long, value_parser = unit_interval)]
    pub min_confidence: Option<f64>,
    /// Include archived memories.
    #[arg(long)]
    pub archived: bool,
    /// Retrievers to use.
    #[arg(long, value_enum, default_value_t = Mode::Hybrid)]
    pub mode: Mode,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("verdict").required(true).args(["helpful", "unhelpful"])))]
pub struct ValidateArgs {
    /// Memory id.
    pub id: i64,
    /// The memory helped (+0.1 confidence).
    #[arg(long)]
    pub helpful: bool,
    /// The memory did not help (−0.05 confidence).
    #[arg(long)]
    pub unhelpful: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this type.
    #[arg(long = "type")]
    pub memory_type: Option<String>,
    /// Only this domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// Only archived memories.
    #[arg(long)]
    pub archived: bool,
    /// Only memories with this tag (`--tag quarantined`: those no hook injects until reviewed).
    #[arg(long)]
    pub tag: Option<String>,
    /// Only memories flagged stale: a file they name was deleted or renamed.
    #[arg(long)]
    pub stale: bool,
    /// Most memories shown.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Skip this many.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// The catalogue, with what is installed and which model is active.
    List,
    /// Download a model from Hugging Face, or install one from a local directory or archive.
    Install {
        /// Catalogue id (e.g. all-minilm-l6-v2, bge-m3); with --from, names what the source holds.
        model: Option<String>,
        /// Install from this directory, .zip or .tar.gz instead of downloading.
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
        /// Replace an installed copy.
        #[arg(long)]
        replace: bool,
        /// Hugging Face endpoint (default: $HF_ENDPOINT, else `https://huggingface.co`).
        #[arg(long)]
        endpoint: Option<String>,
    },
    /// Make an installed model the active one, and give this project's memories its vectors.
    Use {
        /// Catalogue id.
        id: String,
    },
    /// Delete an installed model (not the active one).
    Remove {
        /// Catalogue id.
        id: String,
    },
    /// Re-hash an installed model's files.
    Verify {
        /// Catalogue id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Search latency and save throughput on synthetic projects.
    Search(BenchSearchArgs),
    /// Embedding model load time, query latency, throughput and memory.
    Embed(BenchEmbedArgs),
    /// Retrieval quality on LoCoMo conversations: recall, Hit@5 and MRR by search mode and category.
    Locomo(BenchLocomoArgs),
    /// Hook round trip as Claude Code pays for it: spawn, engine, embed, search, print.
    Hook(BenchHookArgs),
    /// The team database at scale: publish, pull and pgvector search over N team memories.
    Team(crate::bench_team::BenchTeamArgs),
    /// Calibrate a model's thresholds: what the hook gate injects and how memories cluster, per cosine.
    Gate(BenchGateArgs),
    /// What the prompt hook really injects: per prompt, memories, relevant ones and tokens; precision and recall.
    Inject(BenchGateArgs),
}

#[derive(Debug, Args)]
pub struct BenchGateArgs {
    /// Also measure on these LoCoMo conversations (a directory of `<id>.json`).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Model id (default: the configured model, else all-minilm-l6-v2).
    #[arg(long)]
    pub model: Option<String>,
    /// Directory holding the model (default: the model cache).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchHookArgs {
    /// Memories in the benchmark project.
    #[arg(long, default_value_t = 10_000)]
    pub memories: usize,
    /// Sequential hook runs.
    #[arg(long, default_value_t = 300)]
    pub runs: usize,
    /// Concurrent callers in the load phase.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Length of the load phase, in seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Keep the benchmark project here and reuse it on the next run (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Model id (default: the configured model, else all-minilm-l6-v2).
    #[arg(long)]
    pub model: Option<String>,
    /// Directory holding the model (default: the model cache).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchLocomoArgs {
    /// Directory of LoCoMo conversations, one `<id>.json` each.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Model id (default: the configured model, else all-minilm-l6-v2).
    #[arg(long)]
    pub model: Option<String>,
    /// Directory holding the model (default: the model cache).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchEmbedArgs {
    /// Model id (default: the configured model, else all-minilm-l6-v2).
    #[arg(long)]
    pub model: Option<String>,
    /// Directory holding the model (default: the model cache).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Inference threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed query embeddings.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Documents embedded for the throughput figure.
    #[arg(long, default_value_t = 1000)]
    pub documents: usize,
}

#[derive(Debug, Args)]
pub struct BenchSearchArgs {
    /// Project sizes to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 10_000, 100_000])]
    pub sizes: Vec<usize>,
    /// Vector dimension.
    #[arg(long, default_value_t = 1024)]
    pub dim: usize,
    /// Queries per mode and size.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    /// Where to build the synthetic projects (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Jsonl,
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    Hybrid,
    Vector,
    Bm25,
}

/// A number of results a search can give: 1 to `SearchRequest::MAX_LIMIT`.
fn results_limit(s: &str) -> Result<usize, String> {
    let max = cm_core::SearchRequest::MAX_LIMIT;
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {max}")),
    }
}

/// A confidence bound: a number from 0 to 1.
fn unit_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err("must be a number from 0 to 1".to_owned()),
    }
}
