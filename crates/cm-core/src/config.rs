//! Settings: defaults, overridden by `config.toml`, overridden by
//! `CLAUDE_MEMORY_*` environment variables.
//!
//! This module only parses; reading the file and the environment is the
//! caller's job, so the rules are testable without touching either.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::memory::MemoryType;
use crate::{Error, Result};

/// How vector and BM25 results are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// `vector_weight · similarity + bm25_weight · min(|bm25| / bm25_scale, 1)`,
    /// the original's formula.
    Weighted,
    /// Reciprocal-rank fusion: `Σ 1 / (rrf_k + rank)` over both result lists.
    Rrf,
}

/// Search and ranking settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Fusion mode.
    pub fusion: Fusion,
    /// Weight of vector similarity in weighted fusion.
    pub vector_weight: f64,
    /// Weight of the normalised BM25 score in weighted fusion.
    pub bm25_weight: f64,
    /// |bm25| at which the BM25 part of weighted fusion saturates at 1, and
    /// at which a BM25-only score is ½.
    pub bm25_scale: f64,
    /// The `k` of reciprocal-rank fusion.
    pub rrf_k: f64,
    /// Candidates fetched from each of FTS and the vector index before fusion.
    pub candidates: usize,
    /// A hybrid hit gains this share of the best score among the hits drawn
    /// from the turns right before and after it in the same session (see
    /// `search::boost_neighbours`); 0 turns it off.
    pub neighbour_weight: f64,
    /// How much age can lower a score: the final score is multiplied by
    /// `1 - decay_weight + decay_weight · 0.5^(age / half_life)`.
    pub decay_weight: f64,
    /// Half-lives in days by memory type (`skill` never decays).
    pub half_life_days: HalfLives,
    /// Up to this many vectors in a project, KNN scans full-precision
    /// vectors exactly; above it, a sign-bit scan picks candidates that are
    /// then re-scored exactly.
    pub exact_scan_limit: i64,
    /// Coarse candidates re-scored per wanted result in the quantised scan.
    pub rescore_factor: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            // Chosen with `claude-memory bench locomo` and all-MiniLM-L6-v2 on
            // three conversations, checked on two held out (hybrid R@5 0.556 →
            // 0.584 and 0.561 → 0.572, MRR 0.474 → 0.499 and 0.477 → 0.490).
            // The original's 0.7 / 0.3 / 10 let a weak vector signal outvote
            // a strong full-text match, and capped BM25 at a score most
            // matches in a few hundred notes already reach.
            fusion: Fusion::Weighted,
            vector_weight: 0.5,
            bm25_weight: 0.5,
            bm25_scale: 15.0,
            rrf_k: 60.0,
            candidates: 50,
            // LoCoMo development split, hybrid R@5 0.578 → 0.610, every
            // category at least as good (0.3: 0.609 but multi-hop down; 0.6:
            // 0.592), `claude-memory bench locomo`.
            neighbour_weight: 0.2,
            decay_weight: 0.1,
            half_life_days: HalfLives::default(),
            exact_scan_limit: 4_096,
            rescore_factor: 4,
        }
    }
}

/// Half-lives of memory relevance by type, in days.
///
/// Session context goes stale within weeks; a bug stays useful for a season;
/// facts, patterns, decisions and preferences hold for about a year unless
/// revised. Consolidated skills never decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HalfLives {
    /// `fact`.
    pub fact: f64,
    /// `decision`.
    pub decision: f64,
    /// `bug`.
    pub bug: f64,
    /// `pattern`.
    pub pattern: f64,
    /// `context`.
    pub context: f64,
    /// `preference`.
    pub preference: f64,
}

impl Default for HalfLives {
    fn default() -> Self {
        HalfLives {
            fact: 180.0,
            decision: 365.0,
            bug: 90.0,
            pattern: 365.0,
            context: 30.0,
            preference: 365.0,
        }
    }
}

impl HalfLives {
    /// Half-life of `t` in days; `None` means it never decays.
    pub fn of(&self, t: MemoryType) -> Option<f64> {
        match t {
            MemoryType::Fact => Some(self.fact),
            MemoryType::Decision => Some(self.decision),
            MemoryType::Bug => Some(self.bug),
            MemoryType::Pattern => Some(self.pattern),
            MemoryType::Context => Some(self.context),
            MemoryType::Preference => Some(self.preference),
            MemoryType::Skill => None,
        }
    }
}

impl SearchConfig {
    /// The multiplicative age factor for a memory of type `t` that is `age_days` old.
    pub fn decay_factor(&self, t: MemoryType, age_days: f64) -> f64 {
        match self.half_life_days.of(t) {
            None => 1.0,
            Some(h) => {
                let fresh = 0.5f64.powf(age_days.max(0.0) / h);
                1.0 - self.decay_weight + self.decay_weight * fresh
            }
        }
    }
}

/// Save-pipeline settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SaveConfig {
    /// Jaccard similarity of word sets at or above which a save reinforces an
    /// existing memory instead of creating one.
    pub dedupe_threshold: f64,
    /// How many full-text candidates the dedupe check compares against.
    pub dedupe_candidates: usize,
}

impl Default for SaveConfig {
    fn default() -> Self {
        SaveConfig { dedupe_threshold: 0.95, dedupe_candidates: 20 }
    }
}

/// Which embedding model is active and how it runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// The active model's id (see `claude-memory models list`); `None`: no
    /// vectors, search is BM25-only.
    pub model: Option<String>,
    /// Load the model from this directory instead of the model cache.
    pub model_dir: Option<PathBuf>,
    /// The ONNX Runtime library, when it is not found by itself.
    pub onnxruntime: Option<PathBuf>,
    /// Inference threads; `None` picks a default that leaves room for other
    /// work (and every core for an import or a model switch).
    pub threads: Option<usize>,
}

/// The local service (`claude-memory serve`, the tray app).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Seconds between two background syncs of a project linked to a team
    /// database (`claude-memory team link`); a teammate's memory arrives
    /// within one interval.
    pub team_sync_secs: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig { port: 23811, team_sync_secs: 60 }
    }
}

/// What the Claude Code hooks inject, and how fast they must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    /// Deadline of `hook UserPromptSubmit` and `hook SessionStart`, in milliseconds.
    pub prompt_budget_ms: u64,
    /// Deadline of `hook PreToolUse` / `hook PostToolUse`, in milliseconds.
    pub tool_budget_ms: u64,
    /// Approximate tokens one injection may add to the conversation.
    pub max_tokens: usize,
    /// Memories considered per prompt.
    pub prompt_limit: usize,
    /// Memories considered per tool call.
    pub tool_limit: usize,
    /// A memory is injected when its cosine similarity to the query reaches
    /// this… Unset: the active model's calibrated value (cosine scales differ
    /// between models, see `claude-memory bench gate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_similarity: Option<f64>,
    /// …or when it shares this many meaningful words with the query (full-text
    /// scores are not comparable across project sizes, so they cannot gate).
    pub min_shared_words: usize,
    /// …and only when the search ranks it close to its best hit: a fused
    /// score at least this share of the best one's (0 turns the cut off).
    /// A prompt's one strong match then comes alone rather than with the
    /// weak neighbours that merely pass the threshold (`claude-memory bench
    /// inject` measures it).
    pub relative_score: f64,
    /// Prompts with fewer meaningful words than this are not searched ("ok", "go on").
    pub min_prompt_words: usize,
    /// Tools whose calls are searched.
    pub tools: Vec<String>,
    /// Memories in the SessionStart briefing.
    pub briefing_limit: usize,
    /// Tell the person, not only Claude, when memories were added: a short
    /// `systemMessage` ("claude-memory: 3 memories added") under the prompt.
    /// Off by default: most people want memory to stay out of sight.
    pub show_status: bool,
    /// At each session start, read the project's `CLAUDE.md`, rules and
    /// Claude Code's auto memory (as `import --format claude-code` does), so
    /// that no hook repeats what Claude Code already loads.
    pub follow_claude_md: bool,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            prompt_budget_ms: 1500,
            tool_budget_ms: 300,
            max_tokens: 600,
            prompt_limit: 5,
            tool_limit: 3,
            min_similarity: None,
            min_shared_words: 2,
            relative_score: 0.7,
            min_prompt_words: 2,
            tools: ["Edit", "Write", "MultiEdit", "Bash"].map(String::from).to_vec(),
            briefing_limit: 8,
            show_status: false,
            follow_claude_md: true,
        }
    }
}

/// Where projects are discovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectsConfig {
    /// Directories watched for `.claude-memory/` folders (empty: the home directory).
    pub roots: Vec<PathBuf>,
    /// How deep below a root a project may be.
    pub depth: usize,
    /// Directory names never descended into.
    pub skip: Vec<String>,
    /// A git worktree without its own `.claude-memory/` uses its main repository's.
    pub worktrees_use_main: bool,
}

impl Default for ProjectsConfig {
    fn default() -> Self {
        ProjectsConfig {
            roots: Vec::new(),
            depth: 4,
            skip: [
                "node_modules",
                ".git",
                "target",
                ".cache",
                ".cargo",
                ".rustup",
                ".npm",
                ".venv",
                "venv",
                "__pycache__",
                "dist",
                "build",
                "Library",
                "AppData",
                ".local",
            ]
            .map(String::from)
            .to_vec(),
            worktrees_use_main: true,
        }
    }
}

/// Which saves are structured into `<what>/<when>/<do>/<warn>`, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StructureConfig {
    /// Saves Claude makes through MCP.
    pub mcp: bool,
    /// `claude-memory save` and the dashboard.
    pub cli: bool,
    /// Imports.
    pub import: bool,
    /// Memories mined from transcripts (and other hook-made ones).
    pub transcript: bool,
    /// Without an LLM, or when it fails, use the deterministic offline structurer.
    pub offline: bool,
    /// How long a save waits for the LLM before structuring offline.
    pub timeout_ms: u64,
}

impl Default for StructureConfig {
    fn default() -> Self {
        StructureConfig {
            mcp: true,
            cli: true,
            import: false,
            transcript: true,
            offline: true,
            timeout_ms: 15_000,
        }
    }
}

impl StructureConfig {
    /// Whether saves from `source` are structured.
    pub fn enabled_for(&self, source: crate::Source) -> bool {
        use crate::Source;
        match source {
            Source::Mcp => self.mcp,
            Source::Cli => self.cli,
            Source::Import => self.import,
            Source::Transcript | Source::Hook => self.transcript,
            // Consolidated memories are written structured by the merge itself.
            Source::Merge => false,
        }
    }
}

/// Clustering of similar memories and when a cluster is ready to merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// A saved memory joins the nearest cluster of its domain whose centroid
    /// is at least this similar (cosine). Unset: the active model's
    /// calibrated value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_similarity: Option<f64>,
    /// A cluster is mature (ready to merge) with at least this many members…
    pub mature_members: usize,
    /// …whose average confidence is at least this.
    pub mature_confidence: f64,
    /// Merge mature clusters when a session ends (unclustered memories are
    /// clustered then too); otherwise only from the dashboard.
    pub auto_merge: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { join_similarity: None, mature_members: 5, mature_confidence: 0.65, auto_merge: true }
    }
}

/// All settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Search and ranking.
    pub search: SearchConfig,
    /// Save pipeline.
    pub save: SaveConfig,
    /// Embedding model.
    pub embedding: EmbeddingConfig,
    /// The local service.
    pub service: ServiceConfig,
    /// Claude Code hooks.
    pub hooks: HooksConfig,
    /// Project discovery.
    pub projects: ProjectsConfig,
    /// Structuring on save.
    pub structure: StructureConfig,
    /// Clustering and merging.
    pub clusters: ClusterConfig,
}

impl Config {
    /// Parses a `config.toml` document over the defaults and validates it.
    pub fn from_toml(text: &str) -> Result<Self> {
        let config: Config = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Applies `CLAUDE_MEMORY_*` overrides from `vars` (typically `std::env::vars()`).
    ///
    /// Only the settings people actually tune from a shell are exposed; the
    /// rest belong in the file.
    pub fn apply_env<I, K, V>(&mut self, vars: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (key, value) in vars {
            let (key, value) = (key.as_ref(), value.as_ref());
            let parse_f64 = |v: &str| {
                v.trim().parse::<f64>().map_err(|_| Error::Config(format!("{key}={v:?} is not a number")))
            };
            match key {
                "CLAUDE_MEMORY_FUSION" => {
                    self.search.fusion = match value.trim() {
                        "weighted" => Fusion::Weighted,
                        "rrf" => Fusion::Rrf,
                        other => {
                            return Err(Error::Config(format!("{key}={other:?}: expected weighted or rrf")));
                        }
                    }
                }
                "CLAUDE_MEMORY_VECTOR_WEIGHT" => self.search.vector_weight = parse_f64(value)?,
                "CLAUDE_MEMORY_BM25_WEIGHT" => self.search.bm25_weight = parse_f64(value)?,
                "CLAUDE_MEMORY_DECAY_WEIGHT" => self.search.decay_weight = parse_f64(value)?,
                "CLAUDE_MEMORY_MODEL" => {
                    self.embedding.model = Some(value.trim().to_owned()).filter(|m| !m.is_empty());
                }
                "CLAUDE_MEMORY_PORT" => {
                    self.service.port = value
                        .trim()
                        .parse()
                        .map_err(|_| Error::Config(format!("{key}={value:?} is not a port number")))?;
                }
                "CLAUDE_MEMORY_MODEL_DIR" => {
                    self.embedding.model_dir =
                        Some(PathBuf::from(value)).filter(|d| !d.as_os_str().is_empty());
                }
                _ => {}
            }
        }
        self.validate()
    }

    /// Checks ranges that the type system cannot.
    pub fn validate(&self) -> Result<()> {
        let s = &self.search;
        let in_unit = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::Config(format!("{name} must be between 0 and 1, got {v}")))
            }
        };
        in_unit("search.vector_weight", s.vector_weight)?;
        in_unit("search.bm25_weight", s.bm25_weight)?;
        in_unit("search.decay_weight", s.decay_weight)?;
        in_unit("search.neighbour_weight", s.neighbour_weight)?;
        in_unit("save.dedupe_threshold", self.save.dedupe_threshold)?;
        // Written so that NaN fails too.
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(s.bm25_scale) || !positive(s.rrf_k) {
            return Err(Error::Config("search.bm25_scale and search.rrf_k must be positive".into()));
        }
        if self.service.team_sync_secs < 5 {
            return Err(Error::Config("service.team_sync_secs must be at least 5".into()));
        }
        if self.embedding.threads == Some(0) {
            return Err(Error::Config("embedding.threads must be at least 1".into()));
        }
        let hk = &self.hooks;
        if let Some(v) = hk.min_similarity {
            in_unit("hooks.min_similarity", v)?;
        }
        in_unit("hooks.relative_score", hk.relative_score)?;
        if let Some(v) = self.clusters.join_similarity {
            in_unit("clusters.join_similarity", v)?;
        }
        in_unit("clusters.mature_confidence", self.clusters.mature_confidence)?;
        if self.clusters.mature_members < 2 {
            return Err(Error::Config("clusters.mature_members must be at least 2".into()));
        }
        if hk.prompt_budget_ms == 0 || hk.tool_budget_ms == 0 {
            return Err(Error::Config("hooks budgets must be at least 1 ms".into()));
        }
        if self.service.port == 0 {
            return Err(Error::Config("service.port must be between 1 and 65535".into()));
        }
        if s.candidates == 0 || s.candidates > 1000 {
            return Err(Error::Config("search.candidates must be between 1 and 1000".into()));
        }
        let h = &s.half_life_days;
        for (name, v) in [
            ("fact", h.fact),
            ("decision", h.decision),
            ("bug", h.bug),
            ("pattern", h.pattern),
            ("context", h.context),
            ("preference", h.preference),
        ] {
            if !positive(v) {
                return Err(Error::Config(format!("search.half_life_days.{name} must be positive")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_is_exactly_the_defaults() {
        let example = include_str!("../../../docs/config.example.toml");
        assert_eq!(Config::from_toml(example).unwrap(), Config::default());
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn file_then_env_override_defaults() {
        let mut c = Config::from_toml("[search]\nfusion = \"rrf\"\nvector_weight = 0.5\n").unwrap();
        assert_eq!(c.search.fusion, Fusion::Rrf);
        c.apply_env([("CLAUDE_MEMORY_VECTOR_WEIGHT", "0.6"), ("UNRELATED", "x")]).unwrap();
        assert_eq!(c.search.vector_weight, 0.6);
        assert_eq!(c.search.bm25_weight, SearchConfig::default().bm25_weight);
    }

    #[test]
    fn bad_values_are_clear_errors() {
        assert!(
            Config::from_toml("[search]\nvector_weight = 2.0")
                .unwrap_err()
                .to_string()
                .contains("vector_weight")
        );
        assert!(Config::from_toml("[search]\nnope = 1").is_err());
        assert!(Config::default().apply_env([("CLAUDE_MEMORY_FUSION", "magic")]).is_err());
    }

    #[test]
    fn skill_never_decays_and_context_decays_fastest() {
        let s = SearchConfig::default();
        assert_eq!(s.decay_factor(MemoryType::Skill, 10_000.0), 1.0);
        assert!(s.decay_factor(MemoryType::Context, 60.0) < s.decay_factor(MemoryType::Fact, 60.0));
        assert!((s.decay_factor(MemoryType::Fact, 0.0) - 1.0).abs() < 1e-12);
        assert!(s.decay_factor(MemoryType::Context, 1e6) >= 0.9 - 1e-12);
    }
}
