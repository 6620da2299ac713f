//! A deterministic embedder for tests and the synthetic search benchmark.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cm_core::{EmbedError, EmbedFuture, EmbedKind, Embedder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// An embedder that sums a fixed pseudo-random direction per word.
///
/// Texts sharing words get similar vectors, so vector search has the
/// clustered structure of real text embeddings without a model to load; the
/// directions come from a hash of the word, so every run sees the same ones.
#[derive(Debug)]
pub struct HashEmbedder {
    dim: usize,
    words: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

impl HashEmbedder {
    /// A hashing embedder of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        HashEmbedder { dim, words: Mutex::new(HashMap::new()) }
    }

    fn word_vector(&self, word: &str) -> Arc<Vec<f32>> {
        let mut words = self.words.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        words
            .entry(word.to_owned())
            .or_insert_with(|| {
                let seed = word
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
                let mut rng = StdRng::seed_from_u64(seed);
                Arc::new((0..self.dim).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect())
            })
            .clone()
    }

    fn embed_text(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        for w in cm_core::text::words(text) {
            for (a, b) in v.iter_mut().zip(self.word_vector(&w).iter()) {
                *a += b;
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        "bench-hash"
    }
    fn dimension(&self) -> usize {
        self.dim
    }
    fn embed<'a>(&'a self, texts: &'a [String], _kind: EmbedKind) -> EmbedFuture<'a> {
        Box::pin(async move { Ok::<_, EmbedError>(texts.iter().map(|t| self.embed_text(t)).collect()) })
    }
}
