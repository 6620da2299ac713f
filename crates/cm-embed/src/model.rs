//! One embedding model: a tokenizer and an ONNX Runtime session.
//!
//! [`Model::embed`] runs on the calling thread and blocks it for the length
//! of the inference; [`EmbedService`](crate::EmbedService) is what async code
//! should use.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cm_core::EmbedKind;
use ort::session::{Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType};
use tokenizers::{Encoding, PaddingParams, Tokenizer, TruncationParams};

use crate::runtime::OrtRuntime;
use crate::spec::{ModelSpec, Pooling};
use crate::{Error, Result};

/// The tokenizer file every model directory holds.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Padding tokens a text may get beyond 20 % of the run's longest text.
/// Short texts are cheap to pad, and a run has a fixed cost of its own.
const PADDING_SLACK: usize = 8;

/// How a model is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelOptions {
    /// Threads ONNX Runtime may use inside one inference.
    pub intra_threads: usize,
    /// Most tokens, padding included, in one inference run. A batch of long
    /// texts is split into several runs so that memory stays bounded (the
    /// attention matrices grow with the square of the sequence length).
    pub max_batch_tokens: usize,
    /// Whether idle threads busy-wait for the next operator rather than
    /// sleep: a run that embeds back to back (an import, a model switch)
    /// saves every operator's wake-up, about a tenth of its time; between
    /// two prompts it would only burn a laptop's battery.
    pub spin: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions { intra_threads: default_intra_threads(), max_batch_tokens: 16_384, spin: false }
    }
}

/// Half the machine's cores, at least one and at most two: embedding a query
/// is a few milliseconds either way, and a developer's laptop is usually
/// compiling something at the same time.
pub fn default_intra_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).clamp(1, 2)
}

/// Every core, at most eight: for one run that embeds a whole file or every
/// project (an import, a model switch), which the person is waiting for. The
/// engine, which embeds beside the person's own work, keeps
/// [`default_intra_threads`].
pub fn bulk_intra_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8)
}

/// Which tokenizer output feeds a model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    InputIds,
    AttentionMask,
    TokenTypeIds,
}

impl Feed {
    fn of(name: &str) -> Option<Feed> {
        match name {
            "input_ids" => Some(Feed::InputIds),
            "attention_mask" => Some(Feed::AttentionMask),
            "token_type_ids" => Some(Feed::TokenTypeIds),
            _ => None,
        }
    }
}

/// What the chosen model output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputKind {
    /// One vector per token, `[batch, sequence, dimension]`: pooled here.
    Tokens,
    /// Already one vector per text, `[batch, dimension]` (pooling inside the graph).
    Pooled,
}

/// A loaded embedding model.
pub struct Model {
    spec: ModelSpec,
    onnx_path: PathBuf,
    tokenizer: Tokenizer,
    pad_id: i64,
    pad_type_id: i64,
    session: Session,
    /// The session's inputs in its own order, with what feeds each.
    inputs: Vec<(String, Feed)>,
    output: String,
    output_kind: OutputKind,
    options: ModelOptions,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the tokenizer: its vocabulary would fill the screen.
        f.debug_struct("Model")
            .field("spec", &self.spec)
            .field("onnx_path", &self.onnx_path)
            .field("inputs", &self.inputs)
            .field("output", &self.output)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads `tokenizer.json` and `spec.onnx_file` from `dir`, checks that the
    /// model looks like an embedding model of `spec.dimension`, and runs it
    /// once so the first real request does not pay for lazy initialisation.
    pub fn load(runtime: &OrtRuntime, dir: &Path, spec: ModelSpec, options: ModelOptions) -> Result<Model> {
        if options.intra_threads == 0 || options.max_batch_tokens == 0 {
            return Err(Error::InvalidConfig("intra_threads and max_batch_tokens must be at least 1".into()));
        }
        if spec.dimension == 0 || spec.max_tokens < 2 {
            return Err(Error::InvalidConfig(format!(
                "model {}: dimension or max_tokens too small",
                spec.id
            )));
        }
        if !dir.is_dir() {
            return Err(Error::ModelNotFound { path: dir.to_path_buf() });
        }
        let started = Instant::now();
        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let (tokenizer, pad_id, pad_type_id) = load_tokenizer(&tokenizer_path, spec.max_tokens)?;

        let onnx_path = dir.join(spec.onnx_file.as_ref());
        if !onnx_path.is_file() {
            return Err(Error::ModelNotFound { path: onnx_path });
        }
        let context = || format!("loading {}", onnx_path.display());
        let session = Session::builder(runtime.environment())
            .map_err(Error::ort(context()))?
            .with_intra_threads(options.intra_threads)
            .map_err(Error::ort(context()))?
            .with_inter_threads(1)
            .map_err(Error::ort(context()))?
            .with_intra_op_spinning(options.spin)
            .map_err(Error::ort(context()))?
            .with_inter_op_spinning(false)
            .map_err(Error::ort(context()))?
            // No CPU arena and no memory pattern: both keep the largest
            // batch's buffers for the life of the session (tens of MiB after
            // one bulk import), which the allocator could otherwise hand back
            // to the system; a query costs the same without them
            // (docs/benchmarks.md, "Engine memory").
            .with_memory_pattern(false)
            .map_err(Error::ort(context()))?
            .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
            .map_err(Error::ort(context()))?
            .commit_from_file(&onnx_path)
            .map_err(Error::ort(context()))?;

        let inputs = check_inputs(&session, &onnx_path)?;
        let (output, output_kind) = choose_output(&session, &onnx_path, spec.dimension)?;
        let mut model = Model {
            spec,
            onnx_path,
            tokenizer,
            pad_id,
            pad_type_id,
            session,
            inputs,
            output,
            output_kind,
            options,
        };
        let probe = model.embed(&["claude-memory warm-up"], EmbedKind::Query)?;
        if probe.first().map(Vec::len) != Some(model.spec.dimension) {
            return Err(Error::UnsupportedModel {
                path: model.onnx_path.clone(),
                reason: format!(
                    "it produced {}-dimensional vectors, but {} is specified as {}-dimensional",
                    probe.first().map_or(0, Vec::len),
                    model.spec.id,
                    model.spec.dimension
                ),
            });
        }
        tracing::debug!(model = %model.spec.id, elapsed_ms = started.elapsed().as_millis(), "model loaded");
        Ok(model)
    }

    /// What this model is.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The ONNX file it runs.
    pub fn onnx_path(&self) -> &Path {
        &self.onnx_path
    }

    /// How it is run.
    pub fn options(&self) -> &ModelOptions {
        &self.options
    }

    /// The model inputs that are fed, in the session's order.
    pub fn input_names(&self) -> Vec<String> {
        self.inputs.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Number of tokens `text` becomes (special tokens included, after truncation).
    pub fn token_count(&self, text: &str) -> Result<usize> {
        self.tokenizer.encode(text, true).map(|e| e.len()).map_err(|e| Error::Tokenize(e.to_string()))
    }

    /// Embeds `texts`, all of one `kind`: one L2-normalised vector per text, in order.
    pub fn embed(&mut self, texts: &[&str], kind: EmbedKind) -> Result<Vec<Vec<f32>>> {
        let items: Vec<(EmbedKind, &str)> = texts.iter().map(|text| (kind, *text)).collect();
        self.embed_mixed(&items)
    }

    /// Embeds texts of possibly different kinds in one go, each with its
    /// kind's prefix; the batching worker uses this to serve queries and
    /// passages waiting together in the same run.
    pub fn embed_mixed(&mut self, items: &[(EmbedKind, &str)]) -> Result<Vec<Vec<f32>>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<Cow<'_, str>> = items
            .iter()
            .map(|&(kind, text)| match self.spec.prefix(kind) {
                "" => Cow::Borrowed(text),
                prefix => Cow::Owned(format!("{prefix}{text}")),
            })
            .collect();
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let encodings =
            self.tokenizer.encode_batch(texts, true).map_err(|e| Error::Tokenize(e.to_string()))?;

        // Every text in a run is padded to the run's longest, and padding
        // costs as much as real tokens: notes of 40 to 100 tokens in one run
        // would waste a third of the work. So texts go longest first, and a
        // run takes the next text only while it is nearly as long as the
        // run's first and the token budget allows. Smaller runs cost little:
        // even a handful of texts makes matrices of hundreds of rows.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| Reverse(encodings[i].len()));
        let mut vectors = vec![Vec::new(); encodings.len()];
        let mut start = 0;
        while start < order.len() {
            let longest = encodings[order[start]].len().max(1);
            let per_run = (self.options.max_batch_tokens / longest).max(1);
            let fits = |&i: &usize| {
                let len = encodings[i].len();
                len + PADDING_SLACK >= longest || len * 5 >= longest * 4
            };
            let similar = order[start..].iter().take(per_run).take_while(|i| fits(i)).count();
            let run = &order[start..start + similar.max(1)];
            let batch: Vec<&Encoding> = run.iter().map(|&i| &encodings[i]).collect();
            for (&i, vector) in run.iter().zip(self.run(&batch)?) {
                vectors[i] = vector;
            }
            start += run.len();
        }
        Ok(vectors)
    }

    /// One inference over `batch`, right-padded to its longest encoding.
    fn run(&mut self, batch: &[&Encoding]) -> Result<Vec<Vec<f32>>> {
        let rows = batch.len();
        let seq = batch.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![self.pad_id; rows * seq];
        let mut mask = vec![0_i64; rows * seq];
        let mut types = vec![self.pad_type_id; rows * seq];
        for (row, encoding) in batch.iter().enumerate() {
            let at = row * seq;
            for (j, ((&id, &m), &t)) in encoding
                .get_ids()
                .iter()
                .zip(encoding.get_attention_mask())
                .zip(encoding.get_type_ids())
                .enumerate()
            {
                ids[at + j] = i64::from(id);
                mask[at + j] = i64::from(m);
                types[at + j] = i64::from(t);
            }
        }

        let context = "running the model";
        let mut feeds: Vec<(String, SessionInputValue<'static>)> = Vec::with_capacity(self.inputs.len());
        for (name, feed) in &self.inputs {
            let data = match feed {
                Feed::InputIds => ids.clone(),
                Feed::AttentionMask => mask.clone(),
                Feed::TokenTypeIds => types.clone(),
            };
            let tensor = Tensor::from_array(([rows, seq], data)).map_err(Error::ort(context))?;
            feeds.push((name.clone(), tensor.into()));
        }
        let outputs = self.session.run(feeds).map_err(Error::ort(context))?;
        let value = outputs.get(&self.output).ok_or_else(|| Error::Ort {
            context: context.into(),
            message: format!("output `{}` missing", self.output),
        })?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(Error::ort(context))?;
        let dim = self.spec.dimension;
        let expected: Vec<i64> = match self.output_kind {
            OutputKind::Tokens => vec![rows as i64, seq as i64, dim as i64],
            OutputKind::Pooled => vec![rows as i64, dim as i64],
        };
        if **shape != *expected {
            return Err(Error::UnsupportedModel {
                path: self.onnx_path.clone(),
                reason: format!("output `{}` has shape {:?}, expected {expected:?}", self.output, &**shape),
            });
        }
        let vectors = match self.output_kind {
            OutputKind::Tokens => pool(data, &mask, rows, seq, dim, self.spec.pooling),
            OutputKind::Pooled => data.chunks_exact(dim).map(<[f32]>::to_vec).collect(),
        };
        Ok(vectors.into_iter().map(normalize).collect())
    }
}

/// Token counts of `texts` of `kind` as `spec`'s model in `dir` would see
/// them (prefix and special tokens included, truncated), without loading
/// the model itself.
pub(crate) fn token_counts(
    dir: &Path,
    spec: &ModelSpec,
    texts: &[&str],
    kind: EmbedKind,
) -> Result<Vec<usize>> {
    let (tokenizer, _, _) = load_tokenizer(&dir.join(TOKENIZER_FILE), spec.max_tokens)?;
    let prefix = spec.prefix(kind);
    texts
        .iter()
        .map(|text| {
            let encoding = tokenizer.encode(format!("{prefix}{text}"), true);
            encoding.map(|e| e.len()).map_err(|e| Error::Tokenize(e.to_string()))
        })
        .collect()
}

/// Loads the tokenizer with truncation at `max_tokens` and without padding.
///
/// Hugging Face exports often pin padding to a fixed length (this project's
/// test model pads everything to 128), which would make every short query
/// pay for 128 tokens. Padding is instead done per inference run, to the
/// longest text in the run (the `BatchLongest` strategy, after sorting by
/// length), with the pad token the file declares. Returns the tokenizer, the
/// pad id and the pad type id.
fn load_tokenizer(path: &Path, max_tokens: usize) -> Result<(Tokenizer, i64, i64)> {
    if !path.is_file() {
        return Err(Error::ModelNotFound { path: path.to_path_buf() });
    }
    let tokenizer_error = |message: String| Error::Tokenizer { path: path.to_path_buf(), message };
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| tokenizer_error(e.to_string()))?;

    let padding = tokenizer.get_padding().cloned().unwrap_or_else(|| {
        let pad_token = ["[PAD]", "<pad>"].into_iter().find(|t| tokenizer.token_to_id(t).is_some());
        let pad_id = pad_token.and_then(|t| tokenizer.token_to_id(t)).unwrap_or(0);
        PaddingParams {
            pad_id,
            pad_token: pad_token.unwrap_or("[PAD]").to_string(),
            ..PaddingParams::default()
        }
    });
    tokenizer.with_padding(None);

    let truncation = TruncationParams {
        max_length: max_tokens,
        ..tokenizer.get_truncation().cloned().unwrap_or_default()
    };
    tokenizer.with_truncation(Some(truncation)).map_err(|e| tokenizer_error(e.to_string()))?;
    Ok((tokenizer, i64::from(padding.pad_id), i64::from(padding.pad_type_id)))
}

/// Maps the session's inputs to tokenizer outputs; only the inputs the model
/// declares are fed (many models have no `token_type_ids`).
fn check_inputs(session: &Session, path: &Path) -> Result<Vec<(String, Feed)>> {
    let unsupported = |reason: String| Error::UnsupportedModel { path: path.to_path_buf(), reason };
    let mut inputs = Vec::new();
    for input in session.inputs() {
        let Some(feed) = Feed::of(input.name()) else {
            return Err(unsupported(format!(
                "unexpected input `{}` (known: input_ids, attention_mask, token_type_ids)",
                input.name()
            )));
        };
        if input.dtype().tensor_type() != Some(TensorElementType::Int64) {
            return Err(unsupported(format!("input `{}` is {}, not int64", input.name(), input.dtype())));
        }
        inputs.push((input.name().to_string(), feed));
    }
    if !inputs.iter().any(|(_, feed)| *feed == Feed::InputIds) {
        return Err(unsupported("it has no `input_ids` input".into()));
    }
    Ok(inputs)
}

/// Picks the output to read: token vectors (`last_hidden_state`,
/// `token_embeddings`, else the first float tensor of rank 3), or failing
/// that an already pooled `sentence_embedding`. `pooler_output` is never
/// used: it is BERT's classification head, not a sentence embedding.
fn choose_output(session: &Session, path: &Path, dimension: usize) -> Result<(String, OutputKind)> {
    let floats: Vec<(&str, &[i64])> = session
        .outputs()
        .iter()
        .filter(|o| o.dtype().tensor_type() == Some(TensorElementType::Float32))
        .filter_map(|o| Some((o.name(), &**o.dtype().tensor_shape()?)))
        .collect();
    let by_rank = |rank: usize| floats.iter().filter(move |(_, shape)| shape.len() == rank);
    let tokens = by_rank(3)
        .find(|(name, _)| matches!(*name, "last_hidden_state" | "token_embeddings"))
        .or_else(|| by_rank(3).next());
    let pooled = || by_rank(2).find(|(name, _)| matches!(*name, "sentence_embedding" | "embeddings"));
    let (name, shape, kind) = match (tokens, pooled()) {
        (Some((name, shape)), _) => (*name, *shape, OutputKind::Tokens),
        (None, Some((name, shape))) => (*name, *shape, OutputKind::Pooled),
        (None, None) => {
            let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
            return Err(Error::UnsupportedModel {
                path: path.to_path_buf(),
                reason: format!(
                    "no float32 output of token vectors [batch, sequence, dimension] among {names:?}"
                ),
            });
        }
    };
    // A dynamic last dimension (-1) is checked after the warm-up run instead.
    if let Some(&last) = shape.last()
        && last > 0
        && last as usize != dimension
    {
        return Err(Error::UnsupportedModel {
            path: path.to_path_buf(),
            reason: format!(
                "output `{name}` has dimension {last}, but the model is specified as {dimension}"
            ),
        });
    }
    Ok((name.to_string(), kind))
}

/// Pools `[rows, seq, dim]` token vectors into one vector per row.
fn pool(
    hidden: &[f32],
    mask: &[i64],
    rows: usize,
    seq: usize,
    dim: usize,
    pooling: Pooling,
) -> Vec<Vec<f32>> {
    (0..rows)
        .map(|row| {
            let tokens = &hidden[row * seq * dim..(row + 1) * seq * dim];
            match pooling {
                Pooling::Cls => tokens[..dim].to_vec(),
                Pooling::Mean => {
                    let mut sum = vec![0.0_f32; dim];
                    let mut count = 0.0_f32;
                    for (token, &m) in tokens.chunks_exact(dim).zip(&mask[row * seq..(row + 1) * seq]) {
                        if m != 0 {
                            sum.iter_mut().zip(token).for_each(|(s, &x)| *s += x);
                            count += 1.0;
                        }
                    }
                    let count = count.max(1.0);
                    sum.iter_mut().for_each(|s| *s /= count);
                    sum
                }
            }
        })
        .collect()
}

/// Scales `v` to unit length (a zero vector stays zero).
fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm > 1e-12 {
        let inv = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= inv);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_ignores_padding() {
        // Two rows of two tokens, dim 2; the second row's second token is padding.
        let hidden = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 99.0, 99.0];
        let mask = [1, 1, 1, 0];
        let pooled = pool(&hidden, &mask, 2, 2, 2, Pooling::Mean);
        assert_eq!(pooled, vec![vec![2.0, 3.0], vec![10.0, 20.0]]);
        let cls = pool(&hidden, &mask, 2, 2, 2, Pooling::Cls);
        assert_eq!(cls, vec![vec![1.0, 2.0], vec![10.0, 20.0]]);
    }

    #[test]
    fn normalize_gives_unit_length() {
        assert_eq!(normalize(vec![3.0, 4.0]), vec![0.6, 0.8]);
        assert_eq!(normalize(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn default_threads_leave_room() {
        let threads = default_intra_threads();
        assert!((1..=2).contains(&threads));
    }
}
