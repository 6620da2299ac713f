//! Memories and the closed or normalised vocabularies that describe them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Longest content accepted by a save, in bytes. Memories are notes, not files;
/// anything larger is almost certainly a pasted log that would drown search.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// Most tags one memory may carry.
pub const MAX_TAGS: usize = 32;
/// Lowest confidence a memory may have; validation never pushes it below.
pub const MIN_CONFIDENCE: f64 = 0.3;
/// Highest confidence an ordinary memory may reach (merged skills are set to it).
pub const MAX_CONFIDENCE: f64 = 0.9;

/// What kind of knowledge a memory holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MemoryType {
    /// A stable fact about the codebase.
    Fact,
    /// An architectural decision and its rationale.
    Decision,
    /// A bug, its root cause and fix.
    Bug,
    /// A recurring code pattern.
    Pattern,
    /// Session-specific context.
    Context,
    /// A workflow preference of the user.
    Preference,
    /// A consolidated memory promoted from a mature cluster.
    Skill,
}

impl MemoryType {
    /// Every type, in display order.
    pub const ALL: [MemoryType; 7] = [
        MemoryType::Fact,
        MemoryType::Decision,
        MemoryType::Bug,
        MemoryType::Pattern,
        MemoryType::Context,
        MemoryType::Preference,
        MemoryType::Skill,
    ];

    /// The lowercase name used in the database, the CLI and every API.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryType::Fact => "fact",
            MemoryType::Decision => "decision",
            MemoryType::Bug => "bug",
            MemoryType::Pattern => "pattern",
            MemoryType::Context => "context",
            MemoryType::Preference => "preference",
            MemoryType::Skill => "skill",
        }
    }
}

impl fmt::Display for MemoryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemoryType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase();
        MemoryType::ALL.into_iter().find(|t| t.as_str() == wanted).ok_or_else(|| {
            Error::invalid(
                "type",
                format!("{s:?} is not one of {}", MemoryType::ALL.map(MemoryType::as_str).join(", ")),
            )
        })
    }
}

/// Where a save came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Claude called the `memory_save` tool.
    Mcp,
    /// A person ran `claude-memory save`.
    Cli,
    /// A Claude Code hook.
    Hook,
    /// Mined from a Claude Code transcript.
    Transcript,
    /// `claude-memory import`.
    Import,
    /// Consolidated from a cluster.
    Merge,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 6] =
        [Source::Mcp, Source::Cli, Source::Hook, Source::Transcript, Source::Import, Source::Merge];

    /// The lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mcp => "mcp",
            Source::Cli => "cli",
            Source::Hook => "hook",
            Source::Transcript => "transcript",
            Source::Import => "import",
            Source::Merge => "merge",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase();
        Source::ALL.into_iter().find(|t| t.as_str() == wanted).ok_or_else(|| {
            Error::invalid(
                "source",
                format!("{s:?} is not one of {}", Source::ALL.map(Source::as_str).join(", ")),
            )
        })
    }
}

/// A knowledge domain: an open set, always stored in one normalised spelling.
///
/// The original tool let its LLM invent domains that its own search filter then
/// rejected. Here every path (CLI, MCP, LLM output, import, search filters)
/// goes through [`Domain::parse`], so a memory saved under "Back End" is found
/// by a filter on "backend".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    /// The defaults offered to users and to the LLM (the original's list).
    pub const DEFAULTS: [&'static str; 9] =
        ["frontend", "backend", "database", "devops", "testing", "api", "orm", "memory", "general"];
    /// Longest accepted domain name.
    pub const MAX_LEN: usize = 32;

    /// Normalises a domain: lower case, words joined by `-`, common synonyms
    /// folded into the defaults. A domain that holds a secret becomes the
    /// catch-all one, as at the engine's redaction boundary: that boundary
    /// sees only the normalised spelling, in which a secret written in
    /// capitals or with `_` no longer looks like one, so it is looked for
    /// here, in the spelling given, whenever normalising changes it.
    pub fn parse(raw: &str) -> Result<Self> {
        let normal = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if !raw.chars().all(normal) && crate::redact::redact(raw).is_redacted() {
            return Ok(Domain::general());
        }
        // Named in an error as given, but not 5,000 characters of it.
        let shown = || {
            let head: String = raw.chars().take(40).collect();
            if head.len() < raw.len() { format!("{head:?}…") } else { format!("{raw:?}") }
        };
        let mut out = String::with_capacity(raw.len());
        for c in raw.trim().chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() {
                out.push(c);
            } else if matches!(c, ' ' | '_' | '-' | '/' | '.') && !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            } else if !matches!(c, ' ' | '_' | '-' | '/' | '.') {
                return Err(Error::invalid(
                    "domain",
                    format!("{} may only hold letters, digits, spaces, '-', '_', '/' and '.'", shown()),
                ));
            }
        }
        while out.ends_with('-') {
            out.pop();
        }
        if out.is_empty() {
            return Err(Error::invalid("domain", "must not be empty"));
        }
        if out.chars().count() > Self::MAX_LEN {
            return Err(Error::invalid(
                "domain",
                format!("{} is longer than {} characters", shown(), Self::MAX_LEN),
            ));
        }
        let folded = match out.as_str() {
            "front-end" | "ui" | "web" | "css" => "frontend",
            "back-end" | "server" | "server-side" => "backend",
            "db" | "databases" | "sql" | "sqlite" | "postgres" | "mysql" => "database",
            "ops" | "dev-ops" | "infra" | "infrastructure" | "ci" | "ci-cd" | "deployment" => "devops",
            "test" | "tests" | "qa" => "testing",
            "apis" | "rest" | "http" | "graphql" => "api",
            "misc" | "other" | "general-purpose" => "general",
            other => other,
        };
        Ok(Domain(folded.to_owned()))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The catch-all domain.
    pub fn general() -> Self {
        Domain("general".to_owned())
    }
}

impl Default for Domain {
    fn default() -> Self {
        Domain::general()
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Domain {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Domain::parse(s)
    }
}

impl TryFrom<String> for Domain {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Domain::parse(&s)
    }
}

impl From<Domain> for String {
    fn from(d: Domain) -> String {
        d.0
    }
}

/// Where in a Claude Code session a memory came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Claude Code session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// First transcript line (1-based) the memory was drawn from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_start: Option<i64>,
    /// Last transcript line (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_end: Option<i64>,
}

/// A validated request to save a memory.
///
/// Build it with [`NewMemory::new`] and the `with_*` methods; every value in
/// it has been checked, so the store only has to redact, dedupe and write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemory {
    /// The note itself (secrets are redacted later, by the save pipeline).
    pub content: String,
    /// `<what>/<when>/<do>/<warn>` XML when structured.
    pub structured: Option<String>,
    /// A one-line summary, when known.
    pub summary: Option<String>,
    /// Kind of knowledge.
    pub memory_type: MemoryType,
    /// Normalised domain.
    pub domain: Domain,
    /// Normalised, de-duplicated tags.
    pub tags: Vec<String>,
    /// Search keywords (normalised like tags).
    pub keywords: Vec<String>,
    /// Initial confidence, within [`MIN_CONFIDENCE`]..=[`MAX_CONFIDENCE`].
    pub confidence: f64,
    /// Where the save came from.
    pub source: Source,
    /// Session and transcript lines, for mined memories.
    pub provenance: Provenance,
    /// Whether the caller chose the type ([`NewMemory::with_type`]): a
    /// structurer only replaces a type nobody chose, the default included.
    pub type_chosen: bool,
    /// Whether the caller chose the domain ([`NewMemory::with_domain`]).
    pub domain_chosen: bool,
}

impl NewMemory {
    /// Validates content and fills defaults: type `context`, domain `general`,
    /// confidence 0.7 (the original's defaults).
    pub fn new(content: &str, source: Source) -> Result<Self> {
        let content = content.trim();
        if content.is_empty() {
            return Err(Error::invalid("content", "must not be empty"));
        }
        if content.len() > MAX_CONTENT_BYTES {
            return Err(Error::invalid(
                "content",
                format!("is {} bytes; the limit is {MAX_CONTENT_BYTES}", content.len()),
            ));
        }
        if content.contains('\0') {
            return Err(Error::invalid("content", "must not contain NUL characters"));
        }
        Ok(NewMemory {
            content: content.to_owned(),
            structured: None,
            summary: None,
            memory_type: MemoryType::Context,
            domain: Domain::general(),
            tags: Vec::new(),
            keywords: Vec::new(),
            confidence: 0.7,
            source,
            provenance: Provenance::default(),
            type_chosen: false,
            domain_chosen: false,
        })
    }

    /// Sets the type.
    pub fn with_type(mut self, memory_type: MemoryType) -> Self {
        self.memory_type = memory_type;
        self.type_chosen = true;
        self
    }

    /// Sets the domain.
    pub fn with_domain(mut self, domain: Domain) -> Self {
        self.domain = domain;
        self.domain_chosen = true;
        self
    }

    /// Sets the confidence, clamped into the accepted range; NaN is an error.
    pub fn with_confidence(mut self, confidence: f64) -> Result<Self> {
        self.confidence = clamp_confidence(confidence)?;
        Ok(self)
    }

    /// Sets the tags, normalised (see [`normalize_labels`]).
    pub fn with_tags<S: AsRef<str>>(mut self, tags: &[S]) -> Result<Self> {
        self.tags = normalize_labels("tags", tags)?;
        Ok(self)
    }

    /// Sets the keywords, normalised like tags.
    pub fn with_keywords<S: AsRef<str>>(mut self, keywords: &[S]) -> Result<Self> {
        self.keywords = normalize_labels("keywords", keywords)?;
        Ok(self)
    }
}

/// Clamps a confidence into `[MIN_CONFIDENCE, MAX_CONFIDENCE]`, rejecting
/// what no confidence can be (NaN, below 0, above 1: a mistake, not a wish
/// for the extremes).
pub fn clamp_confidence(confidence: f64) -> Result<f64> {
    Ok(unit_interval("confidence", confidence)?.clamp(MIN_CONFIDENCE, MAX_CONFIDENCE))
}

/// `value` when a confidence could be it (0 to 1), else the error naming
/// `field`: NaN would let every memory through a floor, infinity none.
pub fn unit_interval(field: &'static str, value: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid(field, "must be between 0 and 1"))
    }
}

/// Redacts, lower-cases, trims, drops empties and duplicates (keeping first
/// order), and rejects labels that are too long or too many. Secrets are
/// replaced before lower-casing, which would hide some of them (`AKIA…`).
pub fn normalize_labels<S: AsRef<str>>(field: &'static str, raw: &[S]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for label in raw {
        let label = crate::redact::redact(label.as_ref().trim()).text.to_lowercase();
        if label.is_empty() || out.contains(&label) {
            continue;
        }
        if label.chars().count() > 64 {
            return Err(Error::invalid(field, format!("{label:?} is longer than 64 characters")));
        }
        out.push(label);
    }
    if out.len() > MAX_TAGS {
        return Err(Error::invalid(field, format!("at most {MAX_TAGS} are allowed")));
    }
    Ok(out)
}

/// A stored memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Row id, unique within its project.
    pub id: i64,
    /// The (redacted) note.
    pub content: String,
    /// `<what>/<when>/<do>/<warn>` XML when structured.
    pub structured: Option<String>,
    /// One-line summary.
    pub summary: Option<String>,
    /// Kind of knowledge.
    #[serde(rename = "type")]
    pub memory_type: MemoryType,
    /// Normalised domain.
    pub domain: Domain,
    /// Tags.
    pub tags: Vec<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Current confidence.
    pub confidence: f64,
    /// How many validations it received.
    pub evidence_count: i64,
    /// How often search returned it (or a duplicate save confirmed it).
    pub access_count: i64,
    /// When search last returned it, unix milliseconds.
    pub last_accessed_at: Option<i64>,
    /// Creation time, unix milliseconds.
    pub created_at: i64,
    /// Last change, unix milliseconds.
    pub updated_at: i64,
    /// Where it came from.
    pub source: Source,
    /// Session and transcript lines.
    #[serde(default)]
    pub provenance: Provenance,
    /// SHA-256 of the normalised content, for idempotent import.
    pub content_hash: String,
    /// The model that produced its vector, if it has one.
    pub embedding_model: Option<String>,
    /// Archived memories are kept but not searched by default.
    pub archived: bool,
    /// The consolidated memory this one was merged into (archived with it).
    pub merged_into: Option<i64>,
    /// Its cluster, if any.
    pub cluster_id: Option<i64>,
    /// The newer memory that overtook this one on the same subject (a
    /// decision changed, a version bumped): kept and listed, not injected.
    #[serde(default)]
    pub superseded_by: Option<i64>,
    /// The teammate who wrote it, when it came from the project's team
    /// database; `None` for this person's own memories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_author: Option<String>,
    /// This person shares it with the project's team (`claude-memory share`).
    #[serde(default)]
    pub shared: bool,
    /// A file it names went away since it was saved: it ranks lower until a
    /// person confirms it or the file comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<Stale>,
}

impl Memory {
    /// Whether it reads like an instruction to the model: tagged so when
    /// saved, or edited into one since. Its text never reaches Claude (no
    /// hook injects it, the MCP tools withhold it) until a person reviews it.
    pub fn quarantined(&self) -> bool {
        self.tags.iter().any(|t| t == crate::text::QUARANTINE_TAG)
            || crate::text::instruction_like(&self.content).is_some()
    }
}

/// Why a memory may be out of date: a file of the project it names was
/// deleted or renamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stale {
    /// The project-relative path that went away.
    pub path: String,
    /// `deleted`, `renamed to <path>`, or `missing at session start`.
    pub reason: String,
    /// When it was flagged, unix milliseconds.
    pub at: i64,
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SaveAction {
    /// A new memory was written.
    Created,
    /// A near-duplicate existed; it was reinforced instead.
    Updated,
    /// The save was refused (e.g. the structurer judged it session-only chatter).
    Rejected,
}

impl SaveAction {
    /// The action's name: `created`, `updated` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            SaveAction::Created => "created",
            SaveAction::Updated => "updated",
            SaveAction::Rejected => "rejected",
        }
    }
}

/// The result of a save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SaveOutcome {
    /// The memory created or reinforced; absent when rejected.
    pub id: Option<i64>,
    /// What happened.
    pub action: SaveAction,
    /// Kinds of secret that were redacted before storing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
    /// Why a save was rejected, which memory it duplicated, or that the
    /// memory it created was quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether a vector was stored with it.
    pub embedded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_bad_domain_is_named_by_its_start() {
        let err = Domain::parse(&"x".repeat(5_000)).unwrap_err().to_string();
        assert!(err.len() < 120 && err.contains("xxxx\"… is longer than"), "{err}");
        let err = Domain::parse("a<b").unwrap_err().to_string();
        assert!(err.contains("\"a<b\" may only hold"), "{err}");
    }

    #[test]
    fn domain_normalises_spelling_and_synonyms() {
        assert_eq!(Domain::parse(" Back End ").unwrap().as_str(), "backend");
        assert_eq!(Domain::parse("DB").unwrap().as_str(), "database");
        assert_eq!(Domain::parse("machine_learning").unwrap().as_str(), "machine-learning");
        assert_eq!(Domain::parse("Frontend").unwrap().as_str(), "frontend");
        assert!(Domain::parse("  ").is_err());
        assert!(Domain::parse("a;drop").is_err());
        assert!(Domain::parse(&"x".repeat(40)).is_err());
    }

    /// Capitals and `_` would be normalised away before the engine's
    /// redaction boundary looks, so these are caught as given.
    #[test]
    fn a_domain_holding_a_secret_becomes_the_catch_all() {
        for secret in ["AKIAIOSFODNN7EXAMPLE", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "password=hunter2hunter2"]
        {
            assert_eq!(Domain::parse(secret).unwrap(), Domain::general(), "{secret}");
        }
        assert_eq!(Domain::parse("Machine_Learning").unwrap().as_str(), "machine-learning");
    }

    #[test]
    fn every_default_domain_is_already_normalised() {
        for d in Domain::DEFAULTS {
            assert_eq!(Domain::parse(d).unwrap().as_str(), d);
        }
    }

    #[test]
    fn types_parse_case_insensitively_and_reject_unknown() {
        assert_eq!("Bug".parse::<MemoryType>().unwrap(), MemoryType::Bug);
        let err = "note".parse::<MemoryType>().unwrap_err().to_string();
        assert!(err.contains("fact, decision"), "{err}");
    }

    #[test]
    fn confidence_is_clamped_and_impossible_values_rejected() {
        assert_eq!(clamp_confidence(1.0).unwrap(), MAX_CONFIDENCE);
        assert_eq!(clamp_confidence(0.0).unwrap(), MIN_CONFIDENCE);
        for bad in [f64::NAN, 1.5, -1.0, 7.0, f64::INFINITY] {
            let err = clamp_confidence(bad).unwrap_err().to_string();
            assert_eq!(err, "invalid confidence: must be between 0 and 1", "{bad}");
        }
    }

    #[test]
    fn new_memory_rejects_empty_and_oversized_content() {
        assert!(NewMemory::new("   ", Source::Cli).is_err());
        assert!(NewMemory::new(&"a".repeat(MAX_CONTENT_BYTES + 1), Source::Cli).is_err());
        let m = NewMemory::new("  hello  ", Source::Cli).unwrap();
        assert_eq!(m.content, "hello");
        assert_eq!(m.memory_type, MemoryType::Context);
    }

    #[test]
    fn labels_are_normalised_and_deduplicated() {
        let tags = normalize_labels("tags", &["Rust", " rust", "", "SQLite"]).unwrap();
        assert_eq!(tags, vec!["rust", "sqlite"]);
    }
}
