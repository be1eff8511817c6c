//! Sentence vectors from a BERT-style encoder in GGUF (all-MiniLM-L6-v2, converted by
//! `agent/models/bert_to_gguf.py`): llama.cpp runs the encoder and mean-pools the token
//! states per sequence; the vectors are then scaled to unit length, as the model's own
//! sentence-transformers pipeline does, so a dot product is the cosine.
//!
//! Several sentences go through the encoder in one batch, one sequence each. Not `Send`
//! (a llama.cpp context belongs to one thread).

use crate::engine::{EngineError, load_model};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use std::num::NonZeroU32;
use std::path::Path;

/// Longest sentence, in tokens with [CLS] and [SEP] (longer ones are cut: the model saw
/// at most 256 word pieces in training, commands are far shorter).
pub const MAX_SENTENCE_TOKENS: usize = 128;

/// Tokens decoded in one batch (every sentence of a batch must fit whole: the encoder's
/// attention is not causal, so a sentence cannot be split across batches).
const BATCH_TOKENS: usize = 2048;

/// Sentences in one batch.
const BATCH_SEQUENCES: usize = 64;

/// A loaded sentence encoder.
pub struct SentenceEncoder {
    context: LlamaContext<'static>,
    model: &'static LlamaModel,
    dim: usize,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl SentenceEncoder {
    /// Loads the encoder; `threads` for every batch.
    pub fn load(path: &Path, threads: i32) -> Result<Self, EngineError> {
        let load = |reason: String| EngineError::Load {
            path: path.display().to_string(),
            reason,
        };
        let (backend, model) = load_model(path)?;
        let dim = usize::try_from(model.n_embd()).map_err(|e| load(e.to_string()))?;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(BATCH_TOKENS as u32))
            .with_n_batch(BATCH_TOKENS as u32)
            .with_n_ubatch(BATCH_TOKENS as u32)
            .with_n_seq_max(BATCH_SEQUENCES as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            .with_embeddings(true)
            .with_pooling_type(LlamaPoolingType::Mean);
        let context = model
            .new_context(backend, params)
            .map_err(|e| load(e.to_string()))?;
        Ok(Self {
            context,
            model,
            dim,
        })
    }

    /// Length of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The word pieces of `text` with [CLS] and [SEP], cut to [`MAX_SENTENCE_TOKENS`].
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        let mut tokens = self.model.vocab().tokenize(text.as_bytes(), true, false);
        if tokens.len() > MAX_SENTENCE_TOKENS {
            // Keep the closing [SEP]: the model always saw one.
            let last = tokens[tokens.len() - 1];
            tokens.truncate(MAX_SENTENCE_TOKENS - 1);
            tokens.push(last);
        }
        tokens
    }

    /// Unit-length sentence vectors of `texts`, in order.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EngineError> {
        let tokenized: Vec<Vec<LlamaToken>> = texts.iter().map(|t| self.tokenize(t)).collect();
        let mut vectors = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < tokenized.len() {
            // As many whole sentences as fit one batch.
            let mut end = start;
            let mut tokens = 0;
            while end < tokenized.len()
                && end - start < BATCH_SEQUENCES
                && tokens + tokenized[end].len() <= BATCH_TOKENS
            {
                tokens += tokenized[end].len();
                end += 1;
            }
            vectors.extend(self.embed_batch(&tokenized[start..end], tokens)?);
            start = end;
        }
        Ok(vectors)
    }

    fn embed_batch(
        &mut self,
        sentences: &[Vec<LlamaToken>],
        tokens: usize,
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        let llama = |e: String| EngineError::Llama(e);
        self.context.clear_kv_cache();
        let mut batch = LlamaBatch::new(tokens.max(1), sentences.len().max(1) as i32);
        for (seq, sentence) in sentences.iter().enumerate() {
            for (pos, token) in sentence.iter().enumerate() {
                batch
                    .add(*token, pos as i32, &[seq as i32], true)
                    .map_err(|e| llama(e.to_string()))?;
            }
        }
        self.context
            .decode(&mut batch)
            .map_err(|e| llama(e.to_string()))?;
        sentences
            .iter()
            .enumerate()
            .map(|(seq, _)| {
                let pooled = self
                    .context
                    .embeddings_seq_ith(seq as i32)
                    .map_err(|e| llama(format!("no sentence vector for sequence {seq}: {e}")))?;
                Ok(unit_length(pooled))
            })
            .collect()
    }
}

/// `v` scaled to length 1 (a zero vector stays zero).
pub fn unit_length(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

/// The cosine of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na > 0.0 && nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_length_and_cosine() {
        let v = unit_length(&[3.0, 4.0]);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert_eq!(unit_length(&[0.0, 0.0]), vec![0.0, 0.0]);
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
