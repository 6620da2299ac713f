//! The models claude-memory knows how to fetch, and everything needed to
//! fetch and check them: one table, [`CATALOGUE`].
//!
//! Each entry pins a Hugging Face repository to a commit, so a download
//! today and one next year get the same bytes, and names the files to fetch
//! with their SHA-256 where it is known. The [`ModelSpec`] inside an entry is
//! what the embedder needs at run time; [`ModelSpec::builtin`] reads it from
//! here, so there is exactly one description of each model.
//!
//! # Where the values come from
//!
//! This machine cannot reach huggingface.co; every value below was read from
//! a stored copy of a Hugging Face page, named next to it. "Blob page" means
//! `https://huggingface.co/<repo>/blob/<rev>/<path>`, whose "Git LFS details"
//! give the file's SHA-256; "tree page" means `.../tree/<rev>/<dir>`, which
//! gives the commit and a rounded size. Those pages round sizes ("90.4 MB"),
//! so no exact byte size was found for any file: [`ModelFile::size`] is `None`
//! throughout and the rounded figure is kept in [`ModelFile::approx_bytes`]
//! for display only. Where a SHA-256 could not be found it is `None`, and a
//! file installed without one is reported as unverified, never as verified.
//! A download still checks such a file against the SHA-256 the Hub itself
//! reports for it (the ETag of an LFS file), see [`crate::download`].
//!
//! Small files kept in git rather than LFS (`tokenizer.json` of the MiniLM
//! and BGE-small repositories) show only a git blob SHA-1 on the Hub, which
//! is not a content SHA-256; their hashes are unknown here.

use std::borrow::Cow;

use serde::Serialize;

use cm_core::Calibration;

use crate::spec::{ModelSpec, Pooling};

/// One file of a catalogue model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ModelFile {
    /// Path inside the Hugging Face repository (`onnx/model.onnx`).
    pub repo_path: Cow<'static, str>,
    /// Name inside the installed model directory (`model.onnx`). An ONNX
    /// file with external data must keep the name its graph refers to the
    /// data by, and the data file must sit next to it under its own name.
    pub name: Cow<'static, str>,
    /// Exact size in bytes, when known.
    pub size: Option<u64>,
    /// SHA-256 of the content, lower-case hex, when known.
    pub sha256: Option<Cow<'static, str>>,
    /// The rounded size the Hub shows, for telling a user what a download
    /// costs; never used to check anything. 0 when not known.
    pub approx_bytes: u64,
}

/// A model that can be downloaded or installed.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CatalogueEntry {
    /// How to run it; `spec.id` is the catalogue id.
    pub spec: ModelSpec,
    /// Name for people ("BGE-M3 (int8)").
    pub display_name: Cow<'static, str>,
    /// Hugging Face repository, `owner/name`.
    pub repo: Cow<'static, str>,
    /// The pinned commit (a full SHA-1), or a branch in tests.
    pub revision: Cow<'static, str>,
    /// What to fetch. Exactly one of them is `spec.onnx_file`.
    pub files: Cow<'static, [ModelFile]>,
    /// Languages it was trained for, for people.
    pub languages: Cow<'static, str>,
    /// SPDX licence of the weights.
    pub licence: Cow<'static, str>,
    /// The hook and cluster thresholds measured for this model with
    /// `claude-memory bench gate`; `None` where the model could not be run
    /// here (the engine then uses [`Calibration::UNMEASURED`]).
    pub calibration: Option<Calibration>,
}

impl CatalogueEntry {
    /// The catalogue id (the spec's id, variant included).
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The file the ONNX session is created from.
    pub fn onnx_file(&self) -> Option<&ModelFile> {
        self.files.iter().find(|f| f.name == self.spec.onnx_file)
    }

    /// Sum of the exact sizes, if every one is known.
    pub fn total_size(&self) -> Option<u64> {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Sum of the rounded sizes the Hub shows.
    pub fn approx_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.approx_bytes).sum()
    }

    /// Whether every file has a known SHA-256, so an install can be fully verified.
    pub fn fully_pinned(&self) -> bool {
        self.files.iter().all(|f| f.sha256.is_some())
    }
}

/// The catalogue entry called `id`, from the built-in table.
pub fn entry(id: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|e| e.spec.id == id)
}

const fn spec(
    id: &'static str,
    dimension: usize,
    pooling: Pooling,
    max_tokens: usize,
    query_prefix: &'static str,
    passage_prefix: &'static str,
    onnx_file: &'static str,
) -> ModelSpec {
    ModelSpec {
        id: Cow::Borrowed(id),
        dimension,
        pooling,
        max_tokens,
        query_prefix: Cow::Borrowed(query_prefix),
        passage_prefix: Cow::Borrowed(passage_prefix),
        onnx_file: Cow::Borrowed(onnx_file),
    }
}

const fn file(
    repo_path: &'static str,
    name: &'static str,
    sha256: Option<&'static str>,
    approx_bytes: u64,
) -> ModelFile {
    ModelFile {
        repo_path: Cow::Borrowed(repo_path),
        name: Cow::Borrowed(name),
        size: None,
        sha256: match sha256 {
            Some(s) => Some(Cow::Borrowed(s)),
            None => None,
        },
        approx_bytes,
    }
}

#[allow(clippy::too_many_arguments)] // One row of a table reads best flat.
const fn model(
    spec: ModelSpec,
    display_name: &'static str,
    repo: &'static str,
    revision: &'static str,
    files: &'static [ModelFile],
    languages: &'static str,
    licence: &'static str,
    calibration: Option<Calibration>,
) -> CatalogueEntry {
    CatalogueEntry {
        spec,
        display_name: Cow::Borrowed(display_name),
        repo: Cow::Borrowed(repo),
        revision: Cow::Borrowed(revision),
        files: Cow::Borrowed(files),
        languages: Cow::Borrowed(languages),
        licence: Cow::Borrowed(licence),
        calibration,
    }
}

/// The prefix BGE v1.5 models were trained with for short retrieval queries;
/// passages get none.
const BGE_QUERY_PREFIX: &str = "Represent this sentence for searching relevant passages: ";

const MB: u64 = 1_000_000;

// Measured with `claude-memory bench gate` on both MiniLM variants; see
// ARCHITECTURE.md, "Calibration", for the rule and the figures. 0.30: the
// best F1 of the coding project's gate (0.515, vs 0.459 at the former 0.35)
// with nothing injected into off-topic prompts. 0.40: the first threshold at
// which most cluster-mates share a topic (the former 0.70 made no cluster
// of two).
const CAL_MINILM: Option<Calibration> = Some(Calibration { relevance: 0.30, cluster: 0.40 });

// Xenova/all-MiniLM-L6-v2 at a162ec1 (tree page .../tree/a162ec17.../onnx:
// model.onnx 90.4 MB and model_quantized.onnx 22.9 MB, both last changed in
// 08a308f). model_quantized.onnx: blob page at a162ec17... . model.onnx: the
// blob page of Supabase/all-MiniLM-L6-v2 (a duplicate that keeps Xenova's
// history) at da5f6ea, showing Xenova's commit 08a308f. tokenizer.json is a
// git (non-LFS) file whose size and SHA-256 were not found (approx 0 = unknown).
const MINILM_REPO: &str = "Xenova/all-MiniLM-L6-v2";
const MINILM_REV: &str = "a162ec1733c9eead894ebbf7cf40d15ecf3f3f65";
const MINILM_TOKENIZER: ModelFile = file("tokenizer.json", "tokenizer.json", None, 0);

// Xenova/bge-small-en-v1.5 at b7ad92a ("Upload fp16 ONNX weights", the head
// of main on the tree page .../tree/b7ad92a.../onnx); onnx/model.onnx last
// changed in 50d3402, blob page at 9c5aaf8... shows the same change.
const BGE_SMALL_REPO: &str = "Xenova/bge-small-en-v1.5";
const BGE_SMALL_REV: &str = "b7ad92a45a298ac620504489f28ecb6ac66ad67c";

// Xenova/multilingual-e5-small at 97cb8f9 (tree page .../tree/97cb8f96.../onnx:
// model.onnx 470 MB, model_quantized.onnx 118 MB). model_quantized.onnx: blob
// page at 97cb8f96... . model.onnx: no page with its hash was found.
// tokenizer.json (LFS, 17.1 MB): the hash is the one shown on the blob page of
// intfloat/multilingual-e5-small onnx/tokenizer.json and listed by a
// byte-for-byte mirror of Xenova/multilingual-e5-small (ChatPanel/…, at
// 761b726); no Xenova page at 97cb8f9 itself was found, so a download that
// disagrees fails loudly rather than installing a different tokenizer.
const E5_REPO: &str = "Xenova/multilingual-e5-small";
const E5_REV: &str = "97cb8f96eaed1a1f0dac821239943e854fce9c36";
const E5_TOKENIZER: ModelFile = file(
    "tokenizer.json",
    "tokenizer.json",
    Some("0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"),
    17_100_000,
);

// Xenova/bge-m3 at 1fa6228, its first upload (tree page .../tree/1fa62281.../onnx:
// model.onnx 725 kB, model.onnx_data 2.27 GB, model_quantized.onnx 570 MB).
// model.onnx: blob page at 1fa62281... . model_quantized.onnx: blob page at
// e1b447c, which shows the file last changed in 1fa6228. model.onnx_data and
// tokenizer.json (17.1 MB): no page with their hash was found. The fp32 graph
// keeps its weights in model.onnx_data (ONNX external data, the graph is over
// protobuf's 2 GB limit otherwise), so both keep their names side by side.
// Later commits of the repository renamed these files (sentence_transformers*.onnx)
// and uploaded a different export under the old names; pinning 1fa6228 keeps
// the pair that belongs together.
const BGE_M3_REPO: &str = "Xenova/bge-m3";
const BGE_M3_REV: &str = "1fa622813d46e55b39a03e9b2a6edf75dfadb1b8";
const BGE_M3_TOKENIZER: ModelFile = file("tokenizer.json", "tokenizer.json", None, 17_100_000);

const ENGLISH: &str = "English";
const MULTILINGUAL: &str = "multilingual (about 100 languages)";

const MINILM_FILES: &[ModelFile] = &[
    file(
        "onnx/model.onnx",
        "model.onnx",
        Some("759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e"),
        90_400_000,
    ),
    MINILM_TOKENIZER,
];

const MINILM_INT8_FILES: &[ModelFile] = &[
    file(
        "onnx/model_quantized.onnx",
        "model_int8.onnx",
        Some("2f9a2cd8a5955f62908d5087be47516e9d91849f50579c3e47c73fd2c563b224"),
        22_900_000,
    ),
    MINILM_TOKENIZER,
];

const BGE_SMALL_FILES: &[ModelFile] = &[
    file(
        "onnx/model.onnx",
        "model.onnx",
        Some("828e1496d7fabb79cfa4dcd84fa38625c0d3d21da474a00f08db0f559940cf35"),
        133 * MB,
    ),
    // A git (non-LFS) file; its size and SHA-256 were not found.
    file("tokenizer.json", "tokenizer.json", None, 0),
];

const E5_FILES: &[ModelFile] = &[file("onnx/model.onnx", "model.onnx", None, 470 * MB), E5_TOKENIZER];

const E5_INT8_FILES: &[ModelFile] = &[
    file(
        "onnx/model_quantized.onnx",
        "model_int8.onnx",
        Some("f80102d3f2a1229f387d3c81909990d8945513e347b0eab049f7de3c6f98c193"),
        118 * MB,
    ),
    E5_TOKENIZER,
];

const BGE_M3_FILES: &[ModelFile] = &[
    file(
        "onnx/model.onnx",
        "model.onnx",
        Some("c53a8fe59f64ae6babb972b59b6679d8173e88b378637eba495ed0f7227f3dca"),
        725_000,
    ),
    file("onnx/model.onnx_data", "model.onnx_data", None, 2_270 * MB),
    BGE_M3_TOKENIZER,
];

const BGE_M3_INT8_FILES: &[ModelFile] = &[
    file(
        "onnx/model_quantized.onnx",
        "model_int8.onnx",
        Some("f3d37b38cb8d799cd3ff931dcb93282d7a1eedff216a6e88eb0ee95bab5533eb"),
        570 * MB,
    ),
    BGE_M3_TOKENIZER,
];

/// Every model claude-memory can download or install, the default first.
///
/// The token limits are those the models were trained and evaluated with:
/// all-MiniLM-L6-v2 has 512 positions but sentence-transformers truncates at
/// 256, and its quality past that is untested. Quantised variants carry their
/// own id (`-int8`): their vectors are close to, but not the same as, the
/// float model's, and are stored apart.
pub const CATALOGUE: &[CatalogueEntry] = &[
    model(
        spec("all-minilm-l6-v2", 384, Pooling::Mean, 256, "", "", "model.onnx"),
        "all-MiniLM-L6-v2",
        MINILM_REPO,
        MINILM_REV,
        MINILM_FILES,
        ENGLISH,
        "Apache-2.0",
        CAL_MINILM,
    ),
    model(
        spec("all-minilm-l6-v2-int8", 384, Pooling::Mean, 256, "", "", "model_int8.onnx"),
        "all-MiniLM-L6-v2 (int8)",
        MINILM_REPO,
        MINILM_REV,
        MINILM_INT8_FILES,
        ENGLISH,
        "Apache-2.0",
        CAL_MINILM,
    ),
    model(
        spec("bge-small-en-v1.5", 384, Pooling::Cls, 512, BGE_QUERY_PREFIX, "", "model.onnx"),
        "BGE small English v1.5",
        BGE_SMALL_REPO,
        BGE_SMALL_REV,
        BGE_SMALL_FILES,
        ENGLISH,
        "MIT",
        None,
    ),
    model(
        spec("multilingual-e5-small", 384, Pooling::Mean, 512, "query: ", "passage: ", "model.onnx"),
        "multilingual-E5 small",
        E5_REPO,
        E5_REV,
        E5_FILES,
        MULTILINGUAL,
        "MIT",
        None,
    ),
    model(
        spec(
            "multilingual-e5-small-int8",
            384,
            Pooling::Mean,
            512,
            "query: ",
            "passage: ",
            "model_int8.onnx",
        ),
        "multilingual-E5 small (int8)",
        E5_REPO,
        E5_REV,
        E5_INT8_FILES,
        MULTILINGUAL,
        "MIT",
        None,
    ),
    model(
        spec("bge-m3", 1024, Pooling::Cls, 8192, "", "", "model.onnx"),
        "BGE-M3",
        BGE_M3_REPO,
        BGE_M3_REV,
        BGE_M3_FILES,
        MULTILINGUAL,
        "MIT",
        None,
    ),
    model(
        spec("bge-m3-int8", 1024, Pooling::Cls, 8192, "", "", "model_int8.onnx"),
        "BGE-M3 (int8)",
        BGE_M3_REPO,
        BGE_M3_REV,
        BGE_M3_INT8_FILES,
        MULTILINGUAL,
        "MIT",
        None,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_unique_and_consistent() {
        for (i, entry) in CATALOGUE.iter().enumerate() {
            let id = entry.id();
            assert!(CATALOGUE[i + 1..].iter().all(|other| other.id() != id), "duplicate {id}");
            assert!(entry.onnx_file().is_some(), "{id}: no file is {}", entry.spec.onnx_file);
            assert!(entry.files.iter().any(|f| f.name == crate::model::TOKENIZER_FILE), "{id}: no tokenizer");
            assert_eq!(entry.revision.len(), 40, "{id}: revision is not a commit");
            assert!(entry.revision.chars().all(|c| c.is_ascii_hexdigit()));
            for f in entry.files.iter() {
                if let Some(sha) = &f.sha256 {
                    assert_eq!(sha.len(), 64, "{id}/{}", f.name);
                    assert!(sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{id}/{}", f.name);
                }
                assert!(!f.name.contains('/'), "{id}: installed files are flat");
            }
        }
    }

    #[test]
    fn external_data_stays_beside_its_graph() {
        let m3 = entry("bge-m3").unwrap();
        assert_eq!(m3.spec.dimension, 1024);
        assert_eq!(m3.spec.max_tokens, 8192);
        assert_eq!(m3.spec.pooling, Pooling::Cls);
        let names: Vec<&str> = m3.files.iter().map(|f| f.name.as_ref()).collect();
        assert!(names.contains(&"model.onnx") && names.contains(&"model.onnx_data"));
        assert!(m3.total_size().is_none(), "sizes are unknown, so the total must be too");
        assert!(m3.approx_bytes() > 2_000 * MB);
        assert!(entry("bge-m3-int8").is_some());
    }
}
