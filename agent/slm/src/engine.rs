//! Intent choice by the "noisy channel" over cached per-intent prompts, then slots under
//! the chosen intent's grammar.
//!
//! Each intent has its own prompt (its description and examples from the templates, in
//! the answer format) decoded once into its own KV-cache sequence. A request appends the
//! utterance to every sequence in one batch and reads how likely the model finds the
//! utterance after each prompt, against a prompt naming no intent: tiny models judge
//! "does this sentence fit here" far better than they pick a label (docs/BENCHMARKS.md).
//! The winner's sequence then continues with ` Slots:` and the model writes the slots
//! object, constrained by the intent's GBNF grammar.
//!
//! [`IntentEngine::choose`] maps a free-form answer to one option of a question (or none)
//! the same way: a literal pass, then the channel over one sequence per option plus a
//! "none of these" option, in sequences above the intents' that are cleared afterwards.

use edge_protocol::slm::{
    ChoiceAnswer, ChoiceOption, ChoiceRequest, ChoiceScore, IntentPrompt, MAX_CHOICE_OPTIONS,
    SlmAnswer,
};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Instant;

/// The answer when no intent is asked for (no intents loaded, empty request).
pub const NONE_INTENT: &str = "none";

/// Bonus (nats) for the previous turn's intent: follow-ups are short and ambiguous.
const PREVIOUS_INTENT_BONUS: f32 = 1.0;

/// Longest slots object generated, in tokens.
const MAX_SLOT_TOKENS: usize = 48;

/// Longest request, in tokens (longer ones are cut: commands are short).
const MAX_REQUEST_TOKENS: usize = 48;

/// Largest batch decoded at once (a request's tokens times the intents plus one).
const MAX_BATCH: u32 = 1024;

/// Sequences of the context (llama.cpp's limit).
const MAX_SEQUENCES: i32 = 256;

/// The first of the sequences `choose` uses (the question and the baseline; then the
/// "none" option and one per option, up to the last): above every intent's, so the cached
/// prompts stay untouched.
const CHOICE_SEQ: i32 = MAX_SEQUENCES - 2 - MAX_CHOICE_OPTIONS as i32;

/// Most intents: sequences 1..=intents+1 (the baseline last) stay below [`CHOICE_SEQ`].
pub const MAX_INTENTS: usize = CHOICE_SEQ as usize - 2;

/// Longest answer scored by `choose`, in tokens (longer ones are cut).
const MAX_ANSWER_TOKENS: usize = 40;

/// Least score (nats over the prompt naming no option) of a chosen option by default: a
/// loose floor, the "none" option does most of the refusing.
pub const DEFAULT_CHOICE_MIN_SCORE: f32 = -2.0;

/// Least probability of a chosen option among all by default.
pub const DEFAULT_CHOICE_MIN_CONFIDENCE: f32 = 0.5;

/// The literal pass of `choose`, before the model: an answer naming exactly one option
/// word for word (and no negation) chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LiteralPass {
    /// The model decides every answer.
    Off,
    /// The answer contains an option's id as whole words.
    Ids,
    /// ... or a word (4 letters or more, not a common word) of its description.
    Words,
}

/// The literal pass used by [`IntentEngine::choose`] (measured: docs/BENCHMARKS.md).
pub const DEFAULT_LITERAL_PASS: LiteralPass = LiteralPass::Words;

/// The option every `choose` adds: an answer fitting it better than every real option
/// means none of them. (Measured against score thresholds alone: docs/BENCHMARKS.md.)
const NONE_OPTION_ID: &str = "none";
const NONE_OPTION_DESCRIPTION: &str = "something else: not sure, unrelated, or a question";

/// Settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub threads: i32,
    /// Context size in tokens: all intents' prompts plus one request per intent.
    pub context: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            context: 4096,
        }
    }
}

/// Why the engine cannot work.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot load the language model {path}: {reason}")]
    Load { path: String, reason: String },
    #[error(
        "the intents' prompts need {needed} tokens of context but slm.context is {context}: raise it or lower slm.examples_per_intent"
    )]
    ContextTooSmall { needed: usize, context: u32 },
    #[error("intent {intent}: its slot grammar is invalid: {reason}")]
    Grammar { intent: String, reason: String },
    #[error("no intents loaded")]
    NotLoaded,
    #[error("llama.cpp: {0}")]
    Llama(String),
}

fn llama<E: std::fmt::Display>(e: E) -> EngineError {
    EngineError::Llama(e.to_string())
}

/// One intent's cached prompt.
#[derive(Debug)]
struct CachedPrompt {
    name: String,
    /// Tokens in the KV cache (the prompt minus its last token).
    cached: usize,
    /// The prompt's last token, evaluated with each request so its logits predict the
    /// request's first token.
    last: LlamaToken,
    slot_grammar: Option<String>,
}

/// A loaded model with every intent's prompt in its KV cache. Not `Send` (a llama.cpp
/// context belongs to one thread): the worker keeps it on its inference thread.
pub struct IntentEngine {
    context: LlamaContext<'static>,
    model: &'static LlamaModel,
    options: EngineOptions,
    /// Sequence k+1 holds intent k; the last holds the prompt naming no intent.
    prompts: Vec<CachedPrompt>,
    baseline: Option<CachedPrompt>,
}

impl std::fmt::Debug for IntentEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentEngine")
            .field("intents", &self.prompts.len())
            .field("prompt_tokens", &self.prompt_tokens())
            .finish_non_exhaustive()
    }
}

/// The prompt of one intent: its description and example utterances, then the cue the
/// request continues. (Measured against examples written with their slots, "Request: ..
/// Slots: {..}" lines: this plain listing chose the right intent more often.)
pub fn intent_prompt(intent: &IntentPrompt) -> String {
    let mut prompt = format!("Command: {}\n", intent.description.trim());
    if !intent.examples.is_empty() {
        let quoted: Vec<String> = intent
            .examples
            .iter()
            .map(|e| format!("\"{}\"", e.text))
            .collect();
        prompt.push_str(&format!("For example: {}\n", quoted.join(", ")));
    }
    prompt.push_str(REQUEST_CUE);
    prompt
}

const REQUEST_CUE: &str = "The driver or technician says: \"";

impl IntentEngine {
    /// Loads the model; [`IntentEngine::set_intents`] gives it something to choose from.
    pub fn load(path: &Path, options: EngineOptions) -> Result<Self, EngineError> {
        let (backend, model) = load_model(path)?;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(options.context))
            // A request is one batch of (intents + 1) x its tokens; the logits buffer grows
            // with the batch size, so keep it to what requests need.
            .with_n_batch(options.context.min(MAX_BATCH))
            .with_n_threads(options.threads)
            .with_n_threads_batch(options.threads)
            // One sequence per intent plus the baseline (llama.cpp allows 256).
            .with_n_seq_max(256)
            // The sequences share one pool of cells; split caches would give each only
            // n_ctx / n_seq_max cells.
            .with_kv_unified(true);
        let context = model.new_context(backend, params).map_err(llama)?;
        Ok(Self {
            context,
            model,
            options,
            prompts: Vec::new(),
            baseline: None,
        })
    }

    /// Tokens of all cached prompts.
    pub fn prompt_tokens(&self) -> usize {
        self.prompts
            .iter()
            .chain(self.baseline.as_ref())
            .map(|p| p.cached + 1)
            .sum()
    }

    /// Intents loaded.
    pub fn intents(&self) -> usize {
        self.prompts.len()
    }

    /// Replaces the intents: decodes each one's prompt into its own sequence.
    pub fn set_intents(&mut self, intents: &[IntentPrompt]) -> Result<(), EngineError> {
        if intents.len() > MAX_INTENTS {
            return Err(llama(format!(
                "{} intents: at most {MAX_INTENTS}",
                intents.len()
            )));
        }
        for intent in intents {
            if let Some(grammar) = &intent.slot_grammar {
                // Fail on load, not on the first request that picks the intent.
                LlamaSampler::grammar(self.model, grammar, "root").map_err(|e| {
                    EngineError::Grammar {
                        intent: intent.name.clone(),
                        reason: e.to_string(),
                    }
                })?;
            }
        }
        self.context.clear_kv_cache();
        self.prompts.clear();
        self.baseline = None;
        let texts: Vec<String> = intents.iter().map(intent_prompt).collect();
        let tokens: Vec<Vec<LlamaToken>> = texts.iter().map(|t| self.tokenize(t, true)).collect();
        let baseline_tokens = self.tokenize(REQUEST_CUE, true);
        let needed = tokens.iter().map(Vec::len).sum::<usize>()
            + baseline_tokens.len()
            + (intents.len() + 1) * (MAX_REQUEST_TOKENS + 2)
            + MAX_SLOT_TOKENS;
        if needed > self.options.context as usize {
            return Err(EngineError::ContextTooSmall {
                needed,
                context: self.options.context,
            });
        }
        for (k, (intent, tokens)) in intents.iter().zip(&tokens).enumerate() {
            let cached = self.decode_prompt(k as i32 + 1, tokens)?;
            self.prompts.push(CachedPrompt {
                name: intent.name.clone(),
                cached: cached.0,
                last: cached.1,
                slot_grammar: intent.slot_grammar.clone(),
            });
        }
        let cached = self.decode_prompt(intents.len() as i32 + 1, &baseline_tokens)?;
        self.baseline = Some(CachedPrompt {
            name: NONE_INTENT.into(),
            cached: cached.0,
            last: cached.1,
            slot_grammar: None,
        });
        Ok(())
    }

    fn tokenize(&self, text: &str, first: bool) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), first, true)
    }

    /// Decodes all but the last token into `seq`; returns (cached count, last token).
    fn decode_prompt(
        &mut self,
        seq: i32,
        tokens: &[LlamaToken],
    ) -> Result<(usize, LlamaToken), EngineError> {
        let (last, cached) = tokens
            .split_last()
            .ok_or_else(|| llama("an empty prompt"))?;
        if !cached.is_empty() {
            let mut batch = LlamaBatch::new(cached.len(), 1);
            for (i, t) in cached.iter().enumerate() {
                batch.add(*t, i as i32, &[seq], false).map_err(llama)?;
            }
            self.context.decode(&mut batch).map_err(llama)?;
        }
        Ok((cached.len(), *last))
    }

    /// Chooses the intent of `utterance` and writes its slots.
    pub fn answer(
        &mut self,
        utterance: &str,
        previous_intent: Option<&str>,
    ) -> Result<SlmAnswer, EngineError> {
        let started = Instant::now();
        if self.baseline.is_none() {
            return Err(EngineError::NotLoaded);
        }
        if self.prompts.is_empty() || utterance.trim().is_empty() {
            return Ok(none_answer());
        }
        let mut request = self.tokenize(&format!("{}\"", utterance.trim()), false);
        // Every intent's sequence and the baseline take the request in one batch.
        let limit = MAX_REQUEST_TOKENS
            .min(self.options.context.min(MAX_BATCH) as usize / (self.prompts.len() + 1))
            .max(2);
        if request.len() > limit {
            // Keep the closing quote: it marks the end of the request.
            let quote = request[request.len() - 1];
            request.truncate(limit - 1);
            request.push(quote);
        }
        let sequences: Vec<&CachedPrompt> =
            self.prompts.iter().chain(self.baseline.as_ref()).collect();
        let mut batch = LlamaBatch::new(sequences.len() * request.len(), 1);
        let mut rows = Vec::with_capacity(sequences.len());
        for (k, prompt) in sequences.iter().enumerate() {
            let seq = k as i32 + 1;
            self.context
                .kv_cache_seq_rm(seq, Some(prompt.cached as u32), None)
                .map_err(llama)?;
            rows.push(batch.n_tokens());
            // The prompt's last token predicts the request's first; the request's last
            // token (the closing quote) predicts nothing we need.
            batch
                .add(prompt.last, prompt.cached as i32, &[seq], true)
                .map_err(llama)?;
            for (j, t) in request[..request.len() - 1].iter().enumerate() {
                batch
                    .add(*t, (prompt.cached + 1 + j) as i32, &[seq], true)
                    .map_err(llama)?;
            }
        }
        let tokens_scored = batch.n_tokens() as usize;
        self.context.decode(&mut batch).map_err(llama)?;
        let mut log_likelihoods = Vec::with_capacity(rows.len());
        for &row in &rows {
            let sum: f32 = request
                .iter()
                .enumerate()
                .map(|(j, t)| log_prob(self.context.get_logits_ith(row + j as i32), t.0))
                .sum();
            log_likelihoods.push(sum);
        }
        let baseline = log_likelihoods.pop().unwrap_or_default();
        let scores: Vec<f32> = log_likelihoods
            .iter()
            .zip(&self.prompts)
            .map(|(ll, prompt)| {
                let bonus = if previous_intent == Some(prompt.name.as_str()) {
                    PREVIOUS_INTENT_BONUS
                } else {
                    0.0
                };
                ll - baseline + bonus
            })
            .collect();
        let mut ranked: Vec<usize> = (0..scores.len()).collect();
        ranked.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        let best = ranked[0];
        let top = scores[best];
        let total: f32 = scores.iter().map(|s| (s - top).exp()).sum();
        let probability = |k: usize| (scores[k] - top).exp() / total;
        let scoring_ms = started.elapsed().as_secs_f64() * 1000.0;

        let slots_started = Instant::now();
        let (slots, tokens_generated) = match self.prompts[best].slot_grammar.clone() {
            Some(grammar) => self.write_slots(best, &request, &grammar)?,
            None => ("{}".to_owned(), 0),
        };
        Ok(SlmAnswer {
            intent: self.prompts[best].name.clone(),
            slots,
            score: top,
            confidence: probability(best),
            runner_up: ranked
                .get(1)
                .map(|k| (self.prompts[*k].name.clone(), probability(*k))),
            tokens_scored,
            tokens_generated,
            scoring_ms,
            slots_ms: slots_started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Continues intent `k`'s sequence (prompt and request) with a slots cue and generates
    /// the slots object under `grammar`.
    fn write_slots(
        &mut self,
        k: usize,
        request: &[LlamaToken],
        grammar: &str,
    ) -> Result<(String, usize), EngineError> {
        let seq = k as i32 + 1;
        let prompt = &self.prompts[k];
        // Positions: prompt.cached is the prompt's last token, then the request without
        // its closing quote; the quote and the cue come now.
        let mut position = prompt.cached + request.len();
        let mut cue = vec![request[request.len() - 1]];
        cue.extend(self.tokenize("\nSlots (JSON):", false));
        let mut batch = LlamaBatch::new(cue.len().max(MAX_SLOT_TOKENS), 1);
        let last = cue.len() - 1;
        for (i, t) in cue.iter().enumerate() {
            batch
                .add(*t, (position + i) as i32, &[seq], i == last)
                .map_err(llama)?;
        }
        position += cue.len();
        self.context.decode(&mut batch).map_err(llama)?;
        let mut sampler = LlamaSampler::chain_simple([
            LlamaSampler::grammar(self.model, grammar, "root").map_err(|e| {
                EngineError::Grammar {
                    intent: prompt.name.clone(),
                    reason: e.to_string(),
                }
            })?,
            LlamaSampler::greedy(),
        ]);
        let mut text = Vec::new();
        let mut generated = 0;
        let mut index = batch.n_tokens() - 1;
        while generated < MAX_SLOT_TOKENS {
            // `sample` also advances the grammar with the chosen token.
            let token = sampler.sample(&self.context, index);
            if self.model.vocab().is_eog(token) {
                break;
            }
            generated += 1;
            text.extend(self.model.vocab().token_to_piece(token, false, None));
            if serde_json::from_slice::<serde_json::Value>(&text).is_ok() {
                break;
            }
            batch.clear();
            batch
                .add(token, position as i32, &[seq], true)
                .map_err(llama)?;
            position += 1;
            self.context.decode(&mut batch).map_err(llama)?;
            index = 0;
        }
        Ok((String::from_utf8_lossy(&text).trim().to_owned(), generated))
    }
}

/// The shared start of the `choose` prompts: the question.
pub fn choice_question(question: &str) -> String {
    format!("A technician is asked: \"{}\"\n", question.trim())
}

/// The line describing one option, after the question.
pub fn choice_option_line(option: &ChoiceOption) -> String {
    let description = option.description.trim().trim_end_matches('.');
    if description.is_empty() {
        format!("The answer means: {}.\n", option.id.trim())
    } else {
        format!("The answer means: {} ({description}).\n", option.id.trim())
    }
}

/// The cue the answer continues, after the option line (or right after the question for
/// the baseline).
const ANSWER_CUE: &str = "The technician answers: \"";

/// Words never matched by the literal pass: common in descriptions and answers alike.
const COMMON_WORDS: &[&str] = &[
    "about", "again", "after", "before", "does", "from", "have", "into", "just", "like", "more",
    "much", "only", "over", "some", "than", "that", "then", "there", "this", "very", "what",
    "when", "where", "which", "while", "with", "should", "would", "could", "it's",
];

/// Words that turn a literal match around ("not squealing").
const NEGATIONS: &[&str] = &[
    "no", "not", "never", "nope", "don't", "doesn't", "isn't", "wasn't", "aren't", "can't",
    "cannot", "won't", "didn't", "nothing", "neither", "nor",
];

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('\u{2019}', "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

fn contains_phrase(haystack: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && haystack.windows(phrase.len()).any(|w| w == phrase)
}

/// The option an answer names word for word, when exactly one does and nothing negates
/// it.
pub fn literal_choice(answer: &str, options: &[ChoiceOption], pass: LiteralPass) -> Option<usize> {
    if pass == LiteralPass::Off {
        return None;
    }
    let said = words(answer);
    let mut matched = Vec::new();
    for (k, option) in options.iter().enumerate() {
        let id = words(&option.id.replace(['_', '-', '.'], " "));
        let mut hit = contains_phrase(&said, &id).then(|| id.clone());
        if hit.is_none() && pass == LiteralPass::Words {
            hit = words(&option.description)
                .into_iter()
                .filter(|w| w.chars().count() >= 4 && !COMMON_WORDS.contains(&w.as_str()))
                .find(|w| said.contains(w))
                .map(|w| vec![w]);
        }
        if let Some(hit) = hit {
            matched.push((k, hit));
        }
    }
    let [(k, hit)] = matched.as_slice() else {
        return None;
    };
    // "no" may be the option itself (a yes/no question); any other negation defers to the
    // model.
    let negated = said
        .iter()
        .any(|w| NEGATIONS.contains(&w.as_str()) && !hit.contains(w));
    (!negated).then_some(*k)
}

/// One sequence's continuation in `choose`: its tokens after the question, the index of
/// the first answer token among them, and its sequence.
struct Continuation {
    seq: i32,
    tokens: Vec<LlamaToken>,
    answer_from: usize,
}

impl IntentEngine {
    /// Which option `request.answer` means, with the default literal pass.
    pub fn choose(&mut self, request: &ChoiceRequest) -> Result<ChoiceAnswer, EngineError> {
        self.choose_with(request, DEFAULT_LITERAL_PASS)
    }

    /// Which option `request.answer` means: the literal pass, then the noisy channel over
    /// one sequence per option (the question decoded once and shared), in sequences above
    /// the intents' that are cleared afterwards. Needs no intents loaded.
    pub fn choose_with(
        &mut self,
        request: &ChoiceRequest,
        literal: LiteralPass,
    ) -> Result<ChoiceAnswer, EngineError> {
        let started = Instant::now();
        let options = &request.options;
        if options.len() > MAX_CHOICE_OPTIONS {
            return Err(llama(format!(
                "{} options: at most {MAX_CHOICE_OPTIONS}",
                options.len()
            )));
        }
        let elapsed = || started.elapsed().as_secs_f64() * 1000.0;
        if options.is_empty() || request.answer.trim().is_empty() {
            return Ok(ChoiceAnswer {
                choice: None,
                best: None,
                scores: Vec::new(),
                none_score: 0.0,
                confidence: 0.0,
                literal: false,
                tokens_scored: 0,
                elapsed_ms: elapsed(),
            });
        }
        if let Some(k) = literal_choice(&request.answer, options, literal) {
            return Ok(ChoiceAnswer {
                choice: Some(options[k].id.clone()),
                best: Some(options[k].id.clone()),
                scores: Vec::new(),
                none_score: 0.0,
                confidence: 1.0,
                literal: true,
                tokens_scored: 0,
                elapsed_ms: elapsed(),
            });
        }
        let result = self.score_options(request);
        // Whatever happened, the choice's sequences go: the intents' prompts keep the cache.
        for k in 0..=options.len() as i32 + 1 {
            self.context
                .clear_kv_cache_seq(Some((CHOICE_SEQ + k) as u32), None, None)
                .map_err(llama)?;
        }
        let (mut scores, tokens_scored) = result?;
        let none_score = scores.remove(0);
        let mut best = 0;
        for (k, score) in scores.iter().enumerate() {
            if *score > scores[best] {
                best = k;
            }
        }
        let top = scores[best];
        let total: f32 = scores.iter().map(|s| (s - top).exp()).sum();
        let confidence = 1.0 / total;
        let min_score = request.min_score.unwrap_or(DEFAULT_CHOICE_MIN_SCORE);
        let min_confidence = request
            .min_confidence
            .unwrap_or(DEFAULT_CHOICE_MIN_CONFIDENCE);
        let accepted = top > none_score && top >= min_score && confidence >= min_confidence;
        Ok(ChoiceAnswer {
            choice: accepted.then(|| options[best].id.clone()),
            best: Some(options[best].id.clone()),
            scores: options
                .iter()
                .zip(&scores)
                .map(|(o, s)| ChoiceScore {
                    id: o.id.clone(),
                    score: *s,
                })
                .collect(),
            none_score,
            confidence,
            literal: false,
            tokens_scored,
            elapsed_ms: elapsed(),
        })
    }

    /// The score of the "none" option, then each option's: log p(answer | question, option)
    /// - log p(answer | question).
    fn score_options(&mut self, request: &ChoiceRequest) -> Result<(Vec<f32>, usize), EngineError> {
        let question = self.tokenize(&choice_question(&request.question), true);
        let cue = self.tokenize(ANSWER_CUE, false);
        let mut answer = self.tokenize(&format!("{}\"", request.answer.trim()), false);
        if answer.len() > MAX_ANSWER_TOKENS {
            // Keep the closing quote: it marks the end of the answer.
            let quote = answer[answer.len() - 1];
            answer.truncate(MAX_ANSWER_TOKENS - 1);
            answer.push(quote);
        }
        let none = ChoiceOption {
            id: NONE_OPTION_ID.into(),
            description: NONE_OPTION_DESCRIPTION.into(),
        };
        let mut continuations = Vec::with_capacity(request.options.len() + 2);
        for (k, option) in std::iter::once(&none).chain(&request.options).enumerate() {
            let mut tokens = self.tokenize(&choice_option_line(option), false);
            tokens.extend_from_slice(&cue);
            let answer_from = tokens.len();
            tokens.extend_from_slice(&answer);
            continuations.push(Continuation {
                seq: CHOICE_SEQ + 1 + k as i32,
                tokens,
                answer_from,
            });
        }
        let mut baseline = cue.clone();
        baseline.extend_from_slice(&answer);
        continuations.push(Continuation {
            seq: CHOICE_SEQ,
            tokens: baseline,
            answer_from: cue.len(),
        });

        // Room: the intents' sequences are trimmed to their prompts (their last request
        // is dropped at the next one anyway), what is left is ours.
        for (k, prompt) in self
            .prompts
            .iter()
            .chain(self.baseline.as_ref())
            .enumerate()
        {
            self.context
                .kv_cache_seq_rm(k as i32 + 1, Some(prompt.cached as u32), None)
                .map_err(llama)?;
        }
        let batch_limit = self.options.context.min(MAX_BATCH) as usize;
        let needed = question.len() + continuations.iter().map(|c| c.tokens.len()).sum::<usize>();
        let free = (self.options.context as usize).saturating_sub(self.prompt_tokens());
        let longest = continuations
            .iter()
            .map(|c| c.tokens.len())
            .max()
            .unwrap_or(0);
        if needed > free || question.len().max(longest) > batch_limit {
            return Err(llama(format!(
                "the choice needs {needed} tokens of context, {free} are free: shorten the question, answer or descriptions, or raise slm.context"
            )));
        }

        // The question once, shared by every option's sequence.
        let mut batch = LlamaBatch::new(batch_limit, 1);
        for (i, t) in question.iter().enumerate() {
            batch
                .add(*t, i as i32, &[CHOICE_SEQ], false)
                .map_err(llama)?;
        }
        self.context.decode(&mut batch).map_err(llama)?;
        for k in 0..=request.options.len() as i32 {
            self.context
                .copy_kv_cache_seq(CHOICE_SEQ, CHOICE_SEQ + 1 + k, None, None)
                .map_err(llama)?;
        }

        // The continuations, as many per batch as fit.
        let mut log_likelihoods = vec![0.0f32; continuations.len()];
        let mut tokens_scored = question.len();
        let mut next = 0;
        while next < continuations.len() {
            batch.clear();
            let mut rows = Vec::new();
            while next < continuations.len()
                && batch.n_tokens() as usize + continuations[next].tokens.len() <= batch_limit
            {
                let c = &continuations[next];
                rows.push((next, batch.n_tokens() + c.answer_from as i32 - 1));
                for (i, t) in c.tokens.iter().enumerate() {
                    // Logits where the next token is the answer's.
                    let wanted = i + 1 >= c.answer_from && i + 1 < c.tokens.len();
                    batch
                        .add(*t, (question.len() + i) as i32, &[c.seq], wanted)
                        .map_err(llama)?;
                }
                next += 1;
            }
            tokens_scored += batch.n_tokens() as usize;
            self.context.decode(&mut batch).map_err(llama)?;
            for (c, row) in rows {
                log_likelihoods[c] = answer
                    .iter()
                    .enumerate()
                    .map(|(j, t)| log_prob(self.context.get_logits_ith(row + j as i32), t.0))
                    .sum();
            }
        }
        let baseline = log_likelihoods.pop().unwrap_or_default();
        Ok((
            log_likelihoods.iter().map(|ll| ll - baseline).collect(),
            tokens_scored,
        ))
    }
}

fn none_answer() -> SlmAnswer {
    SlmAnswer {
        intent: NONE_INTENT.into(),
        slots: "{}".into(),
        score: f32::MIN,
        confidence: 0.0,
        runner_up: None,
        tokens_scored: 0,
        tokens_generated: 0,
        scoring_ms: 0.0,
        slots_ms: 0.0,
    }
}

/// log p(token) under `logits`.
fn log_prob(logits: &[f32], token: i32) -> f32 {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let log_sum = logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln() + max;
    usize::try_from(token)
        .ok()
        .and_then(|t| logits.get(t))
        .map_or(f32::MIN, |l| l - log_sum)
}

/// llama.cpp's backend may be initialised once per process.
/// Loads a GGUF model for the worker's whole life: leaking it gives a context the 'static
/// borrow it needs without a self-referential struct. The error names the file.
pub(crate) fn load_model(
    path: &Path,
) -> Result<(&'static LlamaBackend, &'static LlamaModel), EngineError> {
    let load = |reason: String| EngineError::Load {
        path: path.display().to_string(),
        reason,
    };
    if !path.is_file() {
        return Err(load("no such file".into()));
    }
    let backend = backend().map_err(load)?;
    let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
        .map_err(|e| load(e.to_string()))?;
    Ok((backend, Box::leak(Box::new(model))))
}

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
