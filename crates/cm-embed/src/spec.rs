//! What a model needs beyond its weights.
//!
//! An ONNX file says nothing about how its token vectors become one sentence
//! vector, how long an input may be, or which prefix the model was trained
//! with for queries — get any of these wrong and the vectors are still the
//! right shape, just quietly worse. So each model is described once, in the
//! [catalogue](crate::catalogue::CATALOGUE) next to its download pins, and
//! everything else reads it from there.

use std::borrow::Cow;

use cm_core::EmbedKind;
use serde::{Deserialize, Serialize};

use crate::catalogue::CATALOGUE;

/// How token vectors are pooled into one vector per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The first token's vector (`[CLS]`); the BGE family.
    Cls,
    /// The mean of the vectors of the real (unpadded) tokens; sentence-transformers and e5.
    Mean,
}

/// Describes one embedding model: how to feed it and how to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ModelSpec {
    /// Stable identifier recorded with every vector, including the variant
    /// (`all-minilm-l6-v2-int8`): vectors of two variants are not comparable.
    pub id: Cow<'static, str>,
    /// Length of the output vectors.
    pub dimension: usize,
    /// How token vectors become one vector.
    pub pooling: Pooling,
    /// Longest input in tokens (special tokens included); longer texts are truncated.
    pub max_tokens: usize,
    /// Prepended to queries.
    pub query_prefix: Cow<'static, str>,
    /// Prepended to stored passages.
    pub passage_prefix: Cow<'static, str>,
    /// The ONNX file inside the model directory.
    pub onnx_file: Cow<'static, str>,
}

impl ModelSpec {
    /// The built-in model called `id`, from the [catalogue](crate::catalogue).
    pub fn builtin(id: &str) -> Option<ModelSpec> {
        crate::catalogue::entry(id).map(|entry| entry.spec.clone())
    }

    /// all-MiniLM-L6-v2 (float32): small, fast, English; the default.
    pub fn all_minilm_l6_v2() -> ModelSpec {
        CATALOGUE[0].spec.clone()
    }

    /// The prefix for texts of `kind`.
    pub fn prefix(&self, kind: EmbedKind) -> &str {
        match kind {
            EmbedKind::Query => &self.query_prefix,
            EmbedKind::Passage => &self.passage_prefix,
        }
    }

    /// The same model run from another ONNX file in its directory (say, a
    /// quantised export). The id gains the file's variant so its vectors are
    /// recorded apart: `model_int8.onnx` turns `all-minilm-l6-v2` into
    /// `all-minilm-l6-v2-int8`; `model.onnx` is the base id.
    pub fn with_onnx_file(mut self, onnx_file: impl Into<String>) -> ModelSpec {
        let onnx_file = onnx_file.into();
        let base = match variant_of(&self.onnx_file) {
            Some(variant) => self.id.strip_suffix(&format!("-{variant}")).unwrap_or(&self.id).to_string(),
            None => self.id.to_string(),
        };
        self.id = match variant_of(&onnx_file) {
            Some(variant) => format!("{base}-{variant}"),
            None => base,
        }
        .into();
        self.onnx_file = onnx_file.into();
        self
    }
}

/// The variant an ONNX file name denotes: its stem without a leading
/// `model`, lowercased, with anything but letters and digits turned into
/// dashes. `None` for the plain `model.onnx`.
fn variant_of(onnx_file: &str) -> Option<String> {
    let name = onnx_file.rsplit(['/', '\\']).next().unwrap_or(onnx_file);
    let stem = name.strip_suffix(".onnx").unwrap_or(name).to_lowercase();
    let stem = stem.strip_prefix("model").unwrap_or(&stem);
    let variant: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let variant = variant.trim_matches('-');
    (!variant.is_empty()).then(|| variant.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_ids_carry_their_variant() {
        for spec in CATALOGUE.iter().map(|entry| &entry.spec) {
            let rebuilt = spec.clone().with_onnx_file(spec.onnx_file.to_string());
            assert_eq!(rebuilt.id, spec.id);
        }
    }

    #[test]
    fn variant_follows_the_onnx_file() {
        let base = ModelSpec::all_minilm_l6_v2();
        let int8 = base.clone().with_onnx_file("model_int8.onnx");
        assert_eq!(int8, ModelSpec::builtin("all-minilm-l6-v2-int8").unwrap());
        assert_eq!(int8.clone().with_onnx_file("model.onnx").id, "all-minilm-l6-v2");
        assert_eq!(int8.with_onnx_file("onnx/model_O4.onnx").id, "all-minilm-l6-v2-o4");
        assert_eq!(base.with_onnx_file("model_quantized.onnx").id, "all-minilm-l6-v2-quantized");
    }

    #[test]
    fn prefixes_per_kind() {
        let e5 = ModelSpec::builtin("multilingual-e5-small").unwrap();
        assert_eq!(e5.prefix(EmbedKind::Query), "query: ");
        assert_eq!(e5.prefix(EmbedKind::Passage), "passage: ");
        let bge = ModelSpec::builtin("bge-small-en-v1.5").unwrap();
        assert!(bge.prefix(EmbedKind::Query).starts_with("Represent this sentence"));
        assert_eq!(bge.prefix(EmbedKind::Passage), "");
    }
}
