//! Intent choice by multiple-choice labels over a cached prompt prefix.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Instant;

/// The intent a label stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    pub description: String,
}

/// What the model chose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// The chosen intent, or `none`.
    pub intent: String,
    /// Probability of the chosen label among all labels.
    pub confidence: f32,
    /// Time for this request (the cached prefix excluded).
    pub latency_ms: f64,
    /// Tokens evaluated for this request.
    pub tokens: usize,
}

/// Settings.
#[derive(Debug, Clone)]
pub struct ClassifierOptions {
    pub threads: i32,
    pub context: u32,
    pub method: Method,
}

/// How the intent is chosen (both measured in docs/BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One forward pass; the next-token distribution read at the letters A-Z.
    Labels,
    /// The mean log-likelihood of each candidate's description after the request, all
    /// candidates in one batch over copies of the request's KV cache.
    Likelihood,
}

impl Default for ClassifierOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            context: 2048,
            method: Method::Labels,
        }
    }
}

/// Why the classifier cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("cannot load the language model {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("{0} intents: at most 25 fit the labels A-Y (Z is none)")]
    TooManyCandidates(usize),
    #[error("label {label:?} is not a single token in this model's vocabulary")]
    Label { label: String },
    #[error("llama.cpp: {0}")]
    Llama(String),
}

const NONE_INTENT: &str = "none";
const LABELS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXY";

/// The prompt's fixed part and the label tokens, built from the candidates.
#[derive(Debug, Clone)]
struct Prompt {
    prefix: String,
    /// (label token, intent) for every candidate and for `none` (label Z).
    labels: Vec<(LlamaToken, String)>,
}

/// A loaded model with the candidates' prompt prefix decoded into its KV cache. Not `Send`
/// (llama.cpp contexts belong to one thread): the worker keeps it on its inference thread.
pub struct Classifier {
    // Field order matters: the context borrows the model, which needs the backend.
    context: LlamaContext<'static>,
    model: &'static LlamaModel,
    prompt: Prompt,
    prefix_tokens: usize,
    /// Log-probabilities of the labels for a content-free request: tiny models favour some
    /// letters whatever the request, so each score is taken relative to this prior
    /// (contextual calibration).
    prior: Vec<f32>,
    method: Method,
    /// Tokens of each candidate's description (Likelihood), `none` excluded.
    candidate_tokens: Vec<Vec<LlamaToken>>,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("prefix_tokens", &self.prefix_tokens)
            .field("labels", &self.prompt.labels.len())
            .finish_non_exhaustive()
    }
}

fn llama<E: std::fmt::Display>(e: E) -> ClassifierError {
    ClassifierError::Llama(e.to_string())
}

impl Classifier {
    /// Loads `model` and decodes the prompt prefix for `candidates`.
    pub fn load(
        path: &Path,
        candidates: &[Candidate],
        options: &ClassifierOptions,
    ) -> Result<Self, ClassifierError> {
        if candidates.len() > LABELS.len() {
            return Err(ClassifierError::TooManyCandidates(candidates.len()));
        }
        let load = |reason: String| ClassifierError::Load {
            path: path.display().to_string(),
            reason,
        };
        if !path.is_file() {
            return Err(load("no such file".into()));
        }
        let backend = backend().map_err(load)?;
        // The worker serves one model for its whole life: leaking it gives the context the
        // 'static borrow it needs without a self-referential struct.
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| load(e.to_string()))?;
        let model: &'static LlamaModel = Box::leak(Box::new(model));
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(options.context))
            .with_n_threads(options.threads)
            .with_n_threads_batch(options.threads)
            .with_n_seq_max(LABELS.len() as u32 + 2)
            // Candidates share the request's cells; split caches would give each sequence
            // only n_ctx / n_seq_max cells.
            .with_kv_unified(true);
        let context = model.new_context(backend, params).map_err(llama)?;
        let prompt = build_prompt(model, candidates)?;
        let mut classifier = Self {
            context,
            model,
            prompt,
            prefix_tokens: 0,
            prior: Vec::new(),
            method: options.method,
            candidate_tokens: Vec::new(),
        };
        classifier.candidate_tokens = candidates
            .iter()
            .map(|c| classifier.tokenize(&format!(" {}\n", c.description.to_lowercase()), false))
            .collect();
        classifier.decode_prefix()?;
        classifier.prior = match options.method {
            Method::Labels => classifier.label_log_probs("N/A")?.0,
            // Measured: calibrating descriptions' likelihoods against "N/A" made them worse.
            Method::Likelihood => vec![0.0; candidates.len() + 1],
        };
        Ok(classifier)
    }

    fn tokenize(&self, text: &str, first: bool) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), first, true)
    }

    fn decode_prefix(&mut self) -> Result<(), ClassifierError> {
        let tokens = self.tokenize(&self.prompt.prefix.clone(), true);
        self.context.clear_kv_cache();
        let mut batch = LlamaBatch::new(tokens.len().max(1), 1);
        for (i, t) in tokens.iter().enumerate() {
            batch.add(*t, i as i32, &[0], false).map_err(llama)?;
        }
        self.context.decode(&mut batch).map_err(llama)?;
        self.prefix_tokens = tokens.len();
        Ok(())
    }

    /// Tokens of the cached prefix.
    pub fn prefix_tokens(&self) -> usize {
        self.prefix_tokens
    }

    /// Chooses the intent of `utterance`.
    pub fn classify(&mut self, utterance: &str) -> Result<Choice, ClassifierError> {
        let started = Instant::now();
        let (log_probs, tokens) = match self.method {
            Method::Labels => self.label_log_probs(utterance)?,
            Method::Likelihood => self.likelihoods(utterance)?,
        };
        let calibrated: Vec<f32> = log_probs
            .iter()
            .zip(self.prior.iter().chain(std::iter::repeat(&0.0)))
            .map(|(lp, prior)| lp - prior)
            .collect();
        let max = calibrated.iter().copied().fold(f32::MIN, f32::max);
        let exp: Vec<f32> = calibrated.iter().map(|s| (s - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        let (best, p) = exp
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, e)| (i, e / sum))
            .unwrap_or((0, 0.0));
        Ok(Choice {
            intent: self.prompt.labels[best].1.clone(),
            confidence: p,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            tokens,
        })
    }

    /// Trims sequences 0..=`last_seq` back to the cached prefix and decodes `request` after it
    /// in sequence 0; returns its token count and the batch index of its last token's logits.
    fn decode_request(
        &mut self,
        request: &str,
        last_seq: i32,
    ) -> Result<(usize, i32), ClassifierError> {
        for seq in 0..=last_seq {
            self.context
                .kv_cache_seq_rm(seq, Some(self.prefix_tokens as u32), None)
                .map_err(llama)?;
        }
        let tokens = self.tokenize(request, false);
        let mut batch = LlamaBatch::new(tokens.len().max(1), 1);
        let last = tokens.len().saturating_sub(1);
        for (i, t) in tokens.iter().enumerate() {
            batch
                .add(*t, (self.prefix_tokens + i) as i32, &[0], i == last)
                .map_err(llama)?;
        }
        self.context.decode(&mut batch).map_err(llama)?;
        Ok((tokens.len(), last as i32))
    }

    /// Mean log-likelihood of each candidate's description after the request, with a `none`
    /// score of the average, and the number of tokens evaluated.
    fn likelihoods(&mut self, utterance: &str) -> Result<(Vec<f32>, usize), ClassifierError> {
        let n_candidates = self.candidate_tokens.len();
        let (n_request, last) = self.decode_request(
            &format!("Request: {}\nCommand:", utterance.trim()),
            n_candidates as i32,
        )?;
        let first_logits = log_softmax(self.context.get_logits_ith(last));
        let start = self.prefix_tokens + n_request;
        // Every candidate continues from the request: share its cache cells.
        for seq in 1..=n_candidates as i32 {
            self.context
                .kv_cache_seq_cp(0, seq, None, None)
                .map_err(llama)?;
        }
        let total: usize = self.candidate_tokens.iter().map(Vec::len).sum();
        let mut batch = LlamaBatch::new(total.max(1), 1);
        let mut index = Vec::new();
        for (k, cand) in self.candidate_tokens.iter().enumerate() {
            for (j, t) in cand.iter().enumerate() {
                index.push(batch.n_tokens());
                batch
                    .add(*t, (start + j) as i32, &[k as i32 + 1], true)
                    .map_err(llama)?;
            }
        }
        self.context.decode(&mut batch).map_err(llama)?;
        let mut scores = Vec::with_capacity(n_candidates + 1);
        let mut at = 0;
        for cand in &self.candidate_tokens {
            // Token j is predicted by the logits after token j-1 (the request's last for j=0).
            let mut sum = first_logits
                .get(cand[0].0 as usize)
                .copied()
                .unwrap_or(f32::MIN);
            for j in 1..cand.len() {
                let logits = log_softmax(self.context.get_logits_ith(index[at + j - 1]));
                sum += logits.get(cand[j].0 as usize).copied().unwrap_or(f32::MIN);
            }
            at += cand.len();
            scores.push(sum / cand.len().max(1) as f32);
        }
        let mean = scores.iter().sum::<f32>() / scores.len().max(1) as f32;
        scores.push(mean);
        Ok((scores, n_request + total))
    }

    /// Log-probabilities (normalised over the labels) of each label after `utterance`, and
    /// the number of tokens evaluated.
    fn label_log_probs(&mut self, utterance: &str) -> Result<(Vec<f32>, usize), ClassifierError> {
        let (n_request, last) =
            self.decode_request(&format!("Request: {}\nAnswer:", utterance.trim()), 0)?;
        let logits = self.context.get_logits_ith(last);
        let scores: Vec<f32> = self
            .prompt
            .labels
            .iter()
            .map(|(t, _)| logits.get(t.0 as usize).copied().unwrap_or(f32::MIN))
            .collect();
        let max = scores.iter().copied().fold(f32::MIN, f32::max);
        let log_sum = scores.iter().map(|s| (s - max).exp()).sum::<f32>().ln() + max;
        Ok((scores.iter().map(|s| s - log_sum).collect(), n_request))
    }
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let log_sum = logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln() + max;
    logits.iter().map(|l| l - log_sum).collect()
}

/// llama.cpp's backend may be initialised once per process.
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: std::sync::OnceLock<Result<LlamaBackend, String>> = std::sync::OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn build_prompt(model: &LlamaModel, candidates: &[Candidate]) -> Result<Prompt, ClassifierError> {
    let mut prefix = String::from(
        "Classify the driver's or technician's request as one of these commands. \
         Answer with the letter only; Z if it is none of them.\n",
    );
    let mut labels = Vec::new();
    let vocab = model.vocab();
    let label_token = |letter: char| -> Result<LlamaToken, ClassifierError> {
        // The answer follows "Answer:", so the label is " A": it must be one token.
        let text = format!(" {letter}");
        match vocab.tokenize(text.as_bytes(), false, false).as_slice() {
            [token] => Ok(*token),
            _ => Err(ClassifierError::Label { label: text }),
        }
    };
    for (candidate, letter) in candidates.iter().zip(LABELS.chars()) {
        prefix.push_str(&format!("{letter}: {}\n", candidate.description));
        labels.push((label_token(letter)?, candidate.name.clone()));
    }
    prefix.push_str("Z: none of these (anything else)\n");
    labels.push((label_token('Z')?, NONE_INTENT.to_owned()));
    Ok(Prompt { prefix, labels })
}
