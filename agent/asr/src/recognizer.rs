//! Whisper tuned for short spoken commands.

use crate::beam::{self, BeamSettings, FreePassState};
use crate::bias::{ScoreHook, ScoredToken, StepLogits, Swap, TokenTexts, WordScore, word_scores};
use crate::echo::cut_prompt_echo;
use crate::grammar::{Grammar, TextCursor};
use crate::repair::{self, Prior};
use std::path::Path;
use std::sync::Mutex;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

/// How the recogniser decodes; the defaults suit commands of a few seconds.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Threads per decode. ggml's workers spin, so leave cores for the rest of the system.
    pub threads: usize,
    /// Size the encoder's window to the audio present (plus `audio_ctx_pad_ms`) instead of
    /// Whisper's fixed 30 s. The main lever for short commands.
    pub fit_audio_ctx: bool,
    pub audio_ctx_pad_ms: u32,
    /// Frames whose loudest 30 ms window stays below this RMS are silence: no decode at all.
    pub silence_rms: f32,
    /// A segment whose no-speech probability is above this is dropped.
    pub no_speech_threshold: f32,
    /// Longest audio accepted, in seconds.
    pub max_audio_s: u32,
    /// Flash attention in the encoder and decoder.
    pub flash_attn: bool,
    /// Beams of the grammar-biased pass (1: greedy). The free pass is always greedy.
    pub grammar_beam_size: usize,
    /// The grammar pass starts from the decoder cache the free pass left (the prompt) and
    /// decodes each beam's new tokens in one call. Off: the prompt is decoded again and a
    /// beam's tokens one call each; the same transcripts at about twice the decoder calls
    /// (kept to check exactly that).
    pub grammar_from_free_pass: bool,
    /// Decoder evaluations the search for a repair of the free transcript may take when
    /// the grammar pass found nothing (see `repair`; 0: no repairs).
    pub grammar_repairs: usize,
    /// End the free pass where its text holds a decoding loop, which is cut from the
    /// transcript anyway, instead of at the token limit (docs/BENCHMARKS.md, "Loops").
    pub stop_at_loops: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            fit_audio_ctx: true,
            audio_ctx_pad_ms: 500,
            silence_rms: 0.003,
            no_speech_threshold: 0.6,
            max_audio_s: 30,
            flash_attn: false,
            grammar_beam_size: GRAMMAR_BEAM_SIZE,
            grammar_from_free_pass: true,
            grammar_repairs: GRAMMAR_REPAIRS,
            stop_at_loops: true,
        }
    }
}

/// Rival readings are looked for at most this many nats behind the free transcript (the
/// request's `rival_gap` is capped at it).
pub const RIVAL_NATS: f32 = 3.0;
/// Rival readings reported per transcript.
pub const MAX_RIVALS: usize = 3;

/// Measured in docs/BENCHMARKS.md ("Recognition biased by the skills' grammar"): a greedy
/// biased decode is pushed into dead ends ("set the f'r") that a few beams avoid.
pub const GRAMMAR_BEAM_SIZE: usize = 5;

/// Decoder evaluations the search for a repair may take per request (docs/BENCHMARKS.md,
/// "Repairs").
pub const GRAMMAR_REPAIRS: usize = 12;
/// Repairs of a transcript searched at most, the ones whose first inserted word the free
/// pass ranked highest.
const MAX_REPAIRS: usize = 400;
/// A repair's first inserted word may be ranked at most this many nats behind the word
/// the free pass chose there ("fan" was 4-8 nats behind "M" and "Then").
const REPAIR_NATS: f32 = 10.0;

/// Which decode a hypothesis came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HypothesisSource {
    /// Whisper as it is (with the vocabulary prompt).
    Free,
    /// Biased toward the skills' grammar.
    Grammar,
    /// Held to the free-text values the skills know.
    Known,
    /// The free transcript with one word the model nearly chose instead, still a sentence
    /// of the grammar ("Stop pump 2" beside "Start pump 2").
    Rival,
}

impl HypothesisSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Grammar => "grammar",
            Self::Known => "known",
            Self::Rival => "rival",
        }
    }
}

/// The encoder window a request is decoded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// As `DecodeOptions::fit_audio_ctx` says: fitted to the audio (the default), or whole.
    Fitted,
    /// Whisper's whole 30 s window, the one it was trained on: about 7x the CPU of a fitted
    /// window on a command, and it settles some readings a fitted window is torn between
    /// ("stop pump 2" heard "Start pump 2" with "Stop" close behind; docs/BENCHMARKS.md).
    Whole,
}

/// One transcript of the audio and how likely the model found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    pub text: String,
    pub source: HypothesisSource,
    /// Sum of the tokens' log-probabilities under the unbiased model (end of text included).
    pub logprob: f32,
    pub tokens: usize,
    /// Whether the text is a whole sentence of the request's grammar (None: no grammar).
    pub in_grammar: Option<bool>,
    pub words: Vec<WordScore>,
}

impl Hypothesis {
    /// Mean log-probability per token.
    pub fn mean_logprob(&self) -> f32 {
        self.logprob / self.tokens.max(1) as f32
    }
}

/// The grammar a request is biased toward, and how hard.
#[derive(Debug, Clone, Copy)]
pub struct GrammarBias<'a> {
    pub grammar: &'a Grammar,
    /// The commands whose free text is held to known values: searched when the free
    /// transcript is one of these commands but with other free text ("play some chairs"),
    /// for a reading the client may ask about.
    pub known: Option<KnownValues<'a>>,
    /// Subtracted from the logit of every token that leaves the grammar.
    pub penalty: f32,
    /// A biased transcript the model finds more than this many nats less likely than the
    /// free one is not wanted (the client would not take it): the search drops it early.
    pub max_drop: Option<f32>,
    /// Rival readings at most this many nats behind (capped at [`RIVAL_NATS`]) are scored
    /// and reported when the free transcript is a sentence of the grammar. None or 0: none.
    pub rival_gap: Option<f32>,
}

/// The commands whose free-text slots list known values, twice: held to them, and open.
#[derive(Debug, Clone, Copy)]
pub struct KnownValues<'a> {
    /// The slots held to their known values (the grammar searched).
    pub values: &'a Grammar,
    /// The same commands with those slots open (whether a transcript is one of them).
    pub carrier: &'a Grammar,
}

/// What one request produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    /// The free transcript (what a plain Wyoming client gets).
    pub text: String,
    /// The free hypothesis first; the grammar-biased one after it when the free transcript
    /// was not a sentence of the grammar and the search found one within `max_drop`; then,
    /// when the free transcript is a sentence of the grammar, its rival readings (best
    /// first, at most [`MAX_RIVALS`]).
    pub hypotheses: Vec<Hypothesis>,
    /// Audio duration in milliseconds.
    pub audio_ms: u64,
    /// Encoder frames decoded (1500 = the full 30 s window).
    pub audio_ctx: i32,
    /// Set when the audio was judged silent and not decoded.
    pub silent: bool,
}

/// A decode that failed.
#[derive(Debug, thiserror::Error)]
pub enum RecognizerError {
    #[error("cannot load the Whisper model {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("audio of {seconds:.1} s exceeds the limit of {limit} s")]
    TooLong { seconds: f32, limit: u32 },
    #[error("whisper failed: {0}")]
    Whisper(String),
}

/// A loaded model and a pool of decoder states (one per concurrent request).
pub struct Recognizer {
    context: WhisperContext,
    token_texts: TokenTexts,
    states: Mutex<Vec<WhisperState>>,
    options: DecodeOptions,
    model_name: String,
    /// The tokens of each grammar word after a space, tokenized once.
    word_tokens: Mutex<std::collections::HashMap<String, Vec<i32>>>,
    /// Prompts (as tokens) the decoder's cache was found to hold after a free pass.
    checked_prompts: Mutex<std::collections::HashSet<Vec<i32>>>,
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer")
            .field("model", &self.model_name)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Whisper's sample rate and encoder geometry.
const SAMPLE_RATE: usize = 16_000;
const ENCODER_FRAMES_PER_SECOND: usize = 50;
const FULL_AUDIO_CTX: i32 = 1500;
/// Vocabulary prompt tokens Whisper reads at most (half its text context, less the marker).
const MAX_PROMPT_TOKENS: usize = 223;
/// Whisper's language id for English.
const ENGLISH: i32 = 0;
/// whisper.cpp skips input shorter than one second; pad up to a little more.
const MIN_SAMPLES: usize = SAMPLE_RATE * 105 / 100;

impl Recognizer {
    pub fn load(path: &Path, options: DecodeOptions) -> Result<Self, RecognizerError> {
        let load_err = |reason: String| RecognizerError::Load {
            path: path.display().to_string(),
            reason,
        };
        if !path.is_file() {
            return Err(load_err("no such file".into()));
        }
        let params = WhisperContextParameters {
            use_gpu: false,
            flash_attn: options.flash_attn,
            ..WhisperContextParameters::default()
        };
        let context = WhisperContext::new_with_params(path, params)
            .map_err(|e| load_err(format!("{e} (is it a whisper.cpp ggml model?)")))?;
        let model_name = path
            .file_stem()
            .map(|s| s.to_string_lossy().trim_start_matches("ggml-").to_owned())
            .unwrap_or_else(|| "whisper".into());
        let eot = context.token_eot();
        let texts = (0..eot)
            .map(|id| {
                context
                    .token_to_bytes(id)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default()
            })
            .collect();
        Ok(Self {
            token_texts: TokenTexts::new(texts, eot),
            context,
            states: Mutex::new(Vec::new()),
            word_tokens: Mutex::new(std::collections::HashMap::new()),
            checked_prompts: Mutex::new(std::collections::HashSet::new()),
            options,
            model_name,
        })
    }

    /// The model's name, from its file name (`ggml-tiny.en.bin` is `tiny.en`).
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    pub fn options(&self) -> &DecodeOptions {
        &self.options
    }

    /// The tokens Whisper writes for `word` after a space (" fan"), tokenized once.
    fn tokens_of_word(&self, word: &str) -> Result<Vec<i32>, RecognizerError> {
        let mut known = self.word_tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tokens) = known.get(word) {
            return Ok(tokens.clone());
        }
        let tokens = self
            .context
            .tokenize(&format!(" {word}"), 16)
            .map_err(|e| RecognizerError::Whisper(format!("cannot tokenize {word:?}: {e}")))?;
        known.insert(word.to_owned(), tokens.clone());
        Ok(tokens)
    }

    /// Whether the model only knows English (`.en` models).
    pub fn english_only(&self) -> bool {
        !self.context.is_multilingual()
    }

    /// Transcribes 16 kHz mono samples. `prompt` biases recognition toward the words of the
    /// installed skills (machine names, destinations). With `grammar`, a transcript that is
    /// not a sentence of it is decoded a second time biased toward it, and both are kept.
    pub fn transcribe(
        &self,
        samples: &[f32],
        prompt: Option<&str>,
        grammar: Option<GrammarBias<'_>>,
    ) -> Result<Transcription, RecognizerError> {
        self.transcribe_in(Window::Fitted, samples, prompt, grammar)
    }

    /// As [`Self::transcribe`], with the encoder's window chosen: `Window::Whole` is
    /// Whisper's own 30 s window whatever `fit_audio_ctx` says (a second listen).
    pub fn transcribe_in(
        &self,
        window: Window,
        samples: &[f32],
        prompt: Option<&str>,
        grammar: Option<GrammarBias<'_>>,
    ) -> Result<Transcription, RecognizerError> {
        let audio_ms = (samples.len() * 1000 / SAMPLE_RATE) as u64;
        let seconds = samples.len() as f32 / SAMPLE_RATE as f32;
        if seconds > self.options.max_audio_s as f32 {
            return Err(RecognizerError::TooLong {
                seconds,
                limit: self.options.max_audio_s,
            });
        }
        if is_silent(samples, self.options.silence_rms) {
            return Ok(Transcription {
                text: String::new(),
                hypotheses: Vec::new(),
                audio_ms,
                audio_ctx: 0,
                silent: true,
            });
        }
        let mut padded;
        let samples = if samples.len() < MIN_SAMPLES {
            padded = samples.to_vec();
            padded.resize(MIN_SAMPLES, 0.0);
            &padded[..]
        } else {
            samples
        };
        let audio_ctx = if self.options.fit_audio_ctx && window == Window::Fitted {
            let pad = self.options.audio_ctx_pad_ms as usize * SAMPLE_RATE / 1000;
            let frames = (samples.len() + pad) * ENCODER_FRAMES_PER_SECOND / SAMPLE_RATE;
            (frames as i32).min(FULL_AUDIO_CTX)
        } else {
            0
        };
        let mut state = self.take_state()?;
        let hypotheses = self.decode_both(&mut state, samples, prompt, audio_ctx, grammar);
        self.return_state(state);
        let hypotheses = hypotheses?;
        Ok(Transcription {
            text: hypotheses[0].text.clone(),
            hypotheses,
            audio_ms,
            audio_ctx: if audio_ctx == 0 {
                FULL_AUDIO_CTX
            } else {
                audio_ctx
            },
            silent: false,
        })
    }

    /// The free decode, then the biased one when the free transcript is not a sentence of
    /// the grammar (on the same encoder output).
    fn decode_both(
        &self,
        state: &mut WhisperState,
        samples: &[f32],
        prompt: Option<&str>,
        audio_ctx: i32,
        grammar: Option<GrammarBias<'_>>,
    ) -> Result<Vec<Hypothesis>, RecognizerError> {
        let started = std::time::Instant::now();
        // The swaps a rival reading is made of are collected by the free pass, and only
        // when the request wants rivals.
        let rival_gap = grammar
            .and_then(|bias| bias.rival_gap)
            .filter(|gap| *gap > 0.0)
            .map(|gap| gap.min(RIVAL_NATS));
        let keep_logits = grammar.is_some() && self.options.grammar_repairs > 0;
        let (decoded, mut left) =
            self.decode(state, samples, prompt, audio_ctx, rival_gap, keep_logits)?;
        let mut free = decoded.hypothesis.clone();
        tracing::debug!(
            ms = started.elapsed().as_secs_f64() * 1000.0,
            tokens = free.tokens,
            "free pass"
        );
        let Some(bias) = grammar else {
            return Ok(vec![free]);
        };
        let in_grammar = TextCursor::accepts(bias.grammar, &free.text);
        free.in_grammar = Some(in_grammar);
        // A command whose free text is none of the known values: search those too.
        let known = bias
            .known
            .filter(|known| {
                in_grammar
                    && TextCursor::accepts(known.carrier, &free.text)
                    && !TextCursor::accepts(known.values, &free.text)
            })
            .map(|known| known.values);
        let decode_again =
            (!in_grammar || known.is_some()) && !free.text.is_empty() && bias.penalty > 0.0;
        let rivals_wanted = rival_gap.is_some() && in_grammar;
        if (decode_again || rivals_wanted) && self.options.grammar_from_free_pass {
            left.prompt_checked = self.prompt_checked(state, prompt, &left)?;
        }
        let mut hypotheses = vec![free];
        if decode_again {
            let (grammar, source) = match known {
                Some(known) => (known, HypothesisSource::Known),
                None => (bias.grammar, HypothesisSource::Grammar),
            };
            let settings = BeamSettings {
                beams: self.options.grammar_beam_size.max(1),
                max_tokens: max_tokens_for(samples.len()) as usize,
                threads: self.options.threads,
                floor: bias.max_drop.map(|drop| hypotheses[0].logprob - drop),
                min_words: beam::word_count(&hypotheses[0].text).div_ceil(2),
            };
            let prompt_tokens = self.prompt_tokens(prompt)?;
            let started = std::time::Instant::now();
            let result = beam::search(
                state,
                &self.token_texts,
                &prompt_tokens,
                grammar,
                settings,
                self.token_texts.id_of(" "),
                self.options.grammar_from_free_pass.then_some(&left),
            )
            .map_err(|e| RecognizerError::Whisper(format!("grammar pass: {e}")))?;
            tracing::debug!(
                evaluations = result.evaluations,
                prompt_tokens = prompt_tokens.len(),
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "grammar pass"
            );
            let searched = result.scored.map(|scored| {
                let raw: String = scored.iter().map(|t| t.text.as_str()).collect();
                let mut biased = self.hypothesis(&raw, &scored, source, prompt);
                biased.in_grammar = Some(TextCursor::accepts(bias.grammar, &biased.text));
                biased
            });
            // Repairs of the free transcript may reach what the search could not. Only
            // then: where the search found a reading, a repair would only trade it for
            // another ("resume, playback" for "put on playjack").
            let repaired = if source == HypothesisSource::Grammar && searched.is_none() {
                self.repaired_reading(state, &decoded, &left, bias.grammar, prompt, settings.floor)?
            } else {
                None
            };
            let best = searched
                .into_iter()
                .chain(repaired)
                .max_by(|a, b| a.logprob.total_cmp(&b.logprob));
            hypotheses.extend(best);
        }
        if let Some(gap) = rival_gap.filter(|_| rivals_wanted) {
            let rivals = self.rival_readings(state, &decoded, &left, bias.grammar, prompt, gap)?;
            hypotheses.extend(rivals);
        }
        Ok(hypotheses)
    }

    /// The free decode's token texts, and how many of them make up the words its cleaned
    /// transcript kept (a decoding loop or the prompt written back cut off).
    fn kept_tokens<'t>(&'t self, free: &FreeDecode) -> (Vec<&'t str>, usize) {
        let texts: Vec<&str> = free
            .tokens
            .iter()
            .map(|&id| self.token_texts.text(id).unwrap_or(""))
            .collect();
        let kept = tokens_of_words(&texts, free.hypothesis.words.len());
        (texts, kept)
    }

    /// The likeliest of the free transcript's repairs into a sentence of the grammar (see
    /// `repair`), if one scores above `bar` (the floor).
    ///
    /// The repairs' token sequences form a tree below the words kept before them; it is
    /// searched best first, one decoder evaluation per node opened: every score only falls
    /// as tokens are added, so the first repair to reach its end of text is the likeliest,
    /// and a branch below the bar is never opened. The first inserted token is weighed by
    /// the free pass's own logits at its place, without decoding.
    fn repaired_reading(
        &self,
        state: &mut WhisperState,
        free: &FreeDecode,
        left: &FreePassState,
        grammar: &Grammar,
        prompt: Option<&str>,
        bar: Option<f32>,
    ) -> Result<Option<Hypothesis>, RecognizerError> {
        if self.options.grammar_repairs == 0 {
            return Ok(None);
        }
        let (texts, kept) = self.kept_tokens(free);
        if free.scored.len() < kept || left.steps.len() <= kept {
            return Ok(None);
        }
        let words = grammar.words();
        let prior = FirstTokens {
            steps: &left.steps,
            recognizer: self,
        };
        let eot = self.token_texts.eot();
        let best_at = |step: usize| {
            left.steps.get(step).and_then(|s| {
                let text_and_eot = &s.logits[..s.logits.len().min(eot as usize + 1)];
                let best = text_and_eot
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max);
                best.is_finite().then_some(best - s.log_norm)
            })
        };
        let repairs = repair::repairs(
            grammar,
            &words,
            &texts[..kept],
            &prior,
            best_at,
            REPAIR_NATS,
            MAX_REPAIRS,
        );
        if repairs.is_empty() {
            return Ok(None);
        }
        tracing::trace!(
            repairs = ?repairs
                .iter()
                .map(|r| {
                    let before = texts[..r.from_token].concat();
                    let after = texts[r.to_token..kept].concat();
                    format!("{before}[{}]{after} ({:.1})", r.inserted, r.prior)
                })
                .collect::<Vec<_>>(),
            "repairs tried"
        );
        // Each repair as tokens: the kept ones around the inserted words' own.
        let mut sequences: Vec<Vec<i32>> = Vec::with_capacity(repairs.len());
        for repair in &repairs {
            let mut tokens = free.tokens[..repair.from_token].to_vec();
            for word in repair.inserted.split_whitespace() {
                tokens.extend(self.tokens_of_word(word)?);
            }
            tokens.extend_from_slice(&free.tokens[repair.to_token..kept]);
            sequences.push(tokens);
        }
        let bar = bar.unwrap_or(f32::NEG_INFINITY);
        let prompt_tokens = self.prompt_tokens(prompt)?;
        let from_free_pass = self.options.grammar_from_free_pass.then_some(left);
        let mut scorer =
            beam::Scorer::new(state, &prompt_tokens, self.options.threads, from_free_pass)
                .map_err(|e| RecognizerError::Whisper(format!("scoring a repair: {e}")))?;
        // Open nodes: tokens so far, their log-probabilities and its sum, whether the end
        // of text is among them.
        struct Node {
            tokens: Vec<i32>,
            logprobs: Vec<f32>,
            total: f32,
            ended: bool,
        }
        let mut open: Vec<Node> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for repair in &repairs {
            let tokens = free.tokens[..repair.from_token].to_vec();
            if seen.insert((tokens.clone(), false)) {
                let logprobs: Vec<f32> = free.scored[..repair.from_token]
                    .iter()
                    .map(|t| t.logprob)
                    .collect();
                let total = logprobs.iter().sum();
                open.push(Node {
                    tokens,
                    logprobs,
                    total,
                    ended: false,
                });
            }
        }
        let mut opened = 0;
        let found = loop {
            let Some(i) = (0..open.len()).max_by(|&a, &b| open[a].total.total_cmp(&open[b].total))
            else {
                break None;
            };
            let node = open.swap_remove(i);
            if node.ended {
                break Some(node);
            }
            if opened >= self.options.grammar_repairs {
                break None;
            }
            // The free pass saw the steps along its own tokens.
            let seen_by_free_pass = free.tokens.get(..node.tokens.len()) == Some(&node.tokens[..]);
            let step = match left
                .steps
                .get(node.tokens.len())
                .filter(|_| seen_by_free_pass)
            {
                Some(step) => step.clone(),
                None => {
                    opened += 1;
                    scorer
                        .step(&node.tokens, eot)
                        .map_err(|e| RecognizerError::Whisper(format!("scoring a repair: {e}")))?
                }
            };
            for tokens in sequences.iter().filter(|t| t.starts_with(&node.tokens)) {
                let (next, ended) = match tokens.get(node.tokens.len()) {
                    Some(&next) => (next, false),
                    None => (eot, true),
                };
                let Some(logprob) = step.logprob(next).filter(|l| node.total + l >= bar) else {
                    continue;
                };
                let mut child = node.tokens.clone();
                if !ended {
                    child.push(next);
                }
                if seen.insert((child.clone(), ended)) {
                    let mut logprobs = node.logprobs.clone();
                    logprobs.push(logprob);
                    open.push(Node {
                        tokens: child,
                        logprobs,
                        total: node.total + logprob,
                        ended,
                    });
                }
            }
        };
        tracing::debug!(
            repairs = repairs.len(),
            opened,
            evaluations = scorer.evaluations(),
            found = found.is_some(),
            free = free.hypothesis.logprob,
            "repairs"
        );
        let Some(found) = found else {
            return Ok(None);
        };
        let scored: Vec<ScoredToken> = found
            .tokens
            .iter()
            .chain(std::iter::once(&eot))
            .zip(found.logprobs)
            .map(|(&id, logprob)| ScoredToken {
                text: self.token_texts.text(id).unwrap_or("").to_owned(),
                logprob,
            })
            .collect();
        let raw: String = scored.iter().map(|t| t.text.as_str()).collect();
        let mut hypothesis = self.hypothesis(&raw, &scored, HypothesisSource::Grammar, prompt);
        hypothesis.in_grammar = Some(TextCursor::accepts(grammar, &hypothesis.text));
        tracing::debug!(
            text = hypothesis.text,
            logprob = hypothesis.logprob,
            "repaired"
        );
        Ok(Some(hypothesis).filter(|h| h.in_grammar == Some(true)))
    }

    /// The free transcript with one of its words replaced by a token the model ranked
    /// nearly as high at that step ([`RIVAL_NATS`]), when the result is another sentence of
    /// the grammar: "Stop pump 2" for "Start pump 2" heard with "Stop" 0.4 nats behind.
    /// One token for one. The tokens after the swap are scored again given it (a decoder
    /// call each, from the cache the free pass left): "20." for "twenty two" is 1.5 nats
    /// behind "22." at the swapped token but far less likely once the audio's "two" has to
    /// be read as the end of the sentence.
    fn rival_readings(
        &self,
        state: &mut WhisperState,
        free: &FreeDecode,
        left: &FreePassState,
        grammar: &Grammar,
        prompt: Option<&str>,
        gap: f32,
    ) -> Result<Vec<Hypothesis>, RecognizerError> {
        // Only the words the transcript kept are compared: a decoding loop or the prompt
        // written back, cut from it, is no reading ("Start pump 2, pump 2, pump 2, ..."
        // is kept as "Start pump 2,"); the end of text counts only where the decoder
        // ended the transcript itself.
        let (texts, kept) = self.kept_tokens(free);
        if free.scored.len() < texts.len() {
            return Ok(Vec::new());
        }
        let ended = kept == texts.len() && free.scored.len() == texts.len() + 1;
        let scored_upto = kept + usize::from(ended);
        let free_logprob: f32 = free.scored[..scored_upto].iter().map(|t| t.logprob).sum();
        let prompt_tokens = self.prompt_tokens(prompt)?;
        let eot = self.token_texts.eot();
        let mut evaluations = 0;
        let plain = |text: &str| -> String {
            text.chars()
                .filter(|c| c.is_alphanumeric() || c.is_whitespace())
                .collect::<String>()
                .to_lowercase()
        };
        let mut tried = std::collections::HashSet::from([plain(&free.hypothesis.text)]);
        let mut rivals: Vec<Hypothesis> = Vec::new();
        // The free pass kept only swaps the model ranked within `gap` at their step (the
        // tokens after them rarely make up the difference).
        for swap in free.swaps.iter().filter(|s| s.step < kept) {
            let Some(alt) = self
                .token_texts
                .text(swap.id)
                .filter(|t| !t.trim().is_empty())
            else {
                continue;
            };
            let i = swap.step;
            // A word for a word: punctuation stays, and a token that starts a word is only
            // swapped for another that does.
            let is_word = |t: &str| t.chars().any(char::is_alphanumeric);
            if !is_word(texts[i])
                || !is_word(alt)
                || texts[i].starts_with(' ') != alt.starts_with(' ')
            {
                continue;
            }
            let mut scored = free.scored[..scored_upto].to_vec();
            scored[i] = ScoredToken {
                text: alt.to_owned(),
                logprob: swap.logprob,
            };
            let raw: String = scored.iter().map(|t| t.text.as_str()).collect();
            let text = self
                .hypothesis(&raw, &scored, HypothesisSource::Rival, prompt)
                .text;
            // Each reading once ("Stop" and "stop"), and only sentences of the grammar.
            if !tried.insert(plain(&text)) || !TextCursor::accepts(grammar, &text) {
                continue;
            }
            let mut tokens = free.tokens[..kept].to_vec();
            tokens[i] = swap.id;
            let forced = beam::Forced {
                prompt: &prompt_tokens,
                tokens: &tokens,
                from: i + 1,
                eot,
                with_end: ended,
            };
            let (after, calls) = beam::score_from(
                state,
                forced,
                self.options.threads,
                self.options.grammar_from_free_pass.then_some(left),
            )
            .map_err(|e| RecognizerError::Whisper(format!("scoring a rival reading: {e}")))?;
            evaluations += calls;
            for (token, logprob) in scored[i + 1..].iter_mut().zip(after) {
                token.logprob = logprob;
            }
            let mut rival = self.hypothesis(&raw, &scored, HypothesisSource::Rival, prompt);
            let behind = free_logprob - rival.logprob;
            if behind > gap {
                continue;
            }
            // Reported against the free hypothesis' own score, so the client's difference
            // is this one.
            rival.logprob = free.hypothesis.logprob - behind;
            rival.tokens = free.hypothesis.tokens;
            rival.in_grammar = Some(true);
            rivals.push(rival);
        }
        tracing::debug!(rivals = rivals.len(), evaluations, "rival readings");
        rivals.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
        rivals.truncate(MAX_RIVALS);
        Ok(rivals)
    }

    /// Whether the decoder's cache holds `prompt` as the passes after the free one lay it
    /// out. Checked with one decoder call the first time a prompt is seen (its layout does
    /// not depend on the audio); a prompt that failed is checked again each time (and the
    /// passes decode it whole).
    fn prompt_checked(
        &self,
        state: &mut WhisperState,
        prompt: Option<&str>,
        left: &FreePassState,
    ) -> Result<bool, RecognizerError> {
        let tokens = self.prompt_tokens(prompt)?;
        let mut checked = self
            .checked_prompts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if checked.contains(&tokens) {
            return Ok(true);
        }
        let cached = beam::prompt_is_cached(state, &tokens, self.options.threads, left)
            .map_err(|e| RecognizerError::Whisper(format!("checking the prompt: {e}")))?;
        if cached {
            checked.insert(tokens);
        }
        Ok(cached)
    }

    /// What Whisper reads before the transcript: the vocabulary prompt after the
    /// previous-text marker, then the task (as `whisper_full` builds it).
    fn prompt_tokens(&self, prompt: Option<&str>) -> Result<Vec<i32>, RecognizerError> {
        let mut tokens = Vec::new();
        if let Some(prompt) = prompt.filter(|p| !p.trim().is_empty()) {
            let words = self.context.tokenize(prompt, 4096).map_err(|e| {
                RecognizerError::Whisper(format!("cannot tokenize the prompt: {e}"))
            })?;
            tokens.push(self.context.token_prev());
            tokens.extend_from_slice(&words[words.len().saturating_sub(MAX_PROMPT_TOKENS)..]);
        }
        tokens.push(self.context.token_sot());
        if self.context.is_multilingual() {
            tokens.push(self.context.token_lang(ENGLISH));
            tokens.push(self.context.token_transcribe());
        }
        tokens.push(self.context.token_not());
        Ok(tokens)
    }

    /// A hypothesis of the decoded text `raw` (cleaned here, and without the prompt written
    /// back) and its scored tokens.
    fn hypothesis(
        &self,
        raw: &str,
        scored: &[ScoredToken],
        source: HypothesisSource,
        prompt: Option<&str>,
    ) -> Hypothesis {
        let text = cut_prompt_echo(&drop_repetitions(&clean_transcript(raw)), prompt);
        let mut words = word_scores(scored);
        // A decoding loop or an echo cut from the text is cut from the words too.
        words.truncate(text.split_whitespace().count());
        Hypothesis {
            source,
            logprob: scored.iter().map(|t| t.logprob).sum(),
            tokens: scored.len(),
            words,
            in_grammar: None,
            text,
        }
    }

    /// The free decode: greedy, scored token by token; and what it left in the state for
    /// the grammar pass.
    fn decode(
        &self,
        state: &mut WhisperState,
        samples: &[f32],
        prompt: Option<&str>,
        audio_ctx: i32,
        rival_gap: Option<f32>,
        keep_logits: bool,
    ) -> Result<(FreeDecode, FreePassState), RecognizerError> {
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.options.threads as i32);
        params.set_language(Some("en"));
        params.set_translate(false);
        params.set_no_context(true);
        params.set_no_timestamps(true);
        params.set_single_segment(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        // Commands are short: no temperature fallback, which would decode up to six times.
        params.set_temperature(0.0);
        params.set_temperature_inc(0.0);
        params.set_audio_ctx(audio_ctx);
        // A decoder stuck in a loop (more likely with a fitted window) stops at a length no
        // command reaches: about five tokens per second of speech, plus a margin.
        params.set_max_tokens(max_tokens_for(samples.len()));
        if let Some(prompt) = prompt.filter(|p| !p.trim().is_empty()) {
            params.set_initial_prompt(prompt);
        }
        let n_vocab = usize::try_from(self.context.n_vocab()).unwrap_or(0);
        let hook = ScoreHook::new(&self.token_texts, n_vocab);
        // A repair's first word is weighed by the free pass's logits at its place.
        let hook = if keep_logits {
            hook.keeping_all_logits()
        } else {
            hook
        };
        let hook = if self.options.stop_at_loops {
            hook.stopping_at_loops(holds_decoding_loop)
        } else {
            hook
        };
        // SAFETY: the hook outlives `state.full` below, the only time whisper.cpp calls the
        // filter, and is only read through a shared reference meanwhile.
        #[allow(unsafe_code)]
        unsafe {
            params.set_filter_logits_callback(Some(ScoreHook::filter));
            params.set_filter_logits_callback_user_data(
                (&raw const hook).cast_mut().cast::<std::os::raw::c_void>(),
            );
        }
        state
            .full(params, samples)
            .map_err(|e| RecognizerError::Whisper(e.to_string()))?;
        // whisper.cpp's text of the segments it did not judge silent, whose bytes are
        // joined before decoding (a character may span tokens).
        let kept = self.kept_segments(state);
        let swaps = rival_gap.map_or_else(Vec::new, |gap| hook.swaps(&kept.tokens, gap));
        let left = FreePassState {
            raw: hook.state(),
            logits_after_prompt: hook.logits_after_prompt(),
            path: kept.tokens.clone(),
            steps: hook.take_step_logits(&kept.tokens),
            prompt_checked: false,
        };
        let scored = hook.finish(&kept.tokens);
        let mut free = FreeDecode {
            hypothesis: self.hypothesis(&kept.text, &scored, HypothesisSource::Free, prompt),
            tokens: kept.tokens,
            scored,
            swaps,
        };
        // A transcript cut short of what was decoded (a loop, the prompt written back) is
        // scored as the model would end it there: its kept tokens and the end of text after
        // them, as a reading of the grammar is. Not the tokens cut, whose count the token
        // limit or the loop's stop decides.
        let (texts, kept) = self.kept_tokens(&free);
        if kept < texts.len()
            && let Some(end) = hook.end_after(&free.tokens[..kept])
        {
            let words: f32 = free.scored.iter().take(kept).map(|t| t.logprob).sum();
            free.hypothesis.logprob = words + end;
        }
        Ok((free, left))
    }

    /// The text and text-token ids of the segments not judged silent.
    fn kept_segments(&self, state: &WhisperState) -> KeptSegments {
        let eot = self.token_texts.eot();
        let mut kept = KeptSegments::default();
        for segment in state.as_iter() {
            if segment.no_speech_probability() > self.options.no_speech_threshold {
                continue;
            }
            if let Ok(s) = segment.to_str_lossy() {
                kept.text.push_str(&s);
            }
            kept.tokens.extend(
                (0..segment.n_tokens())
                    .filter_map(|i| segment.get_token(i).map(|t| t.token_id()))
                    .filter(|&id| id < eot),
            );
        }
        kept
    }

    fn take_state(&self) -> Result<WhisperState, RecognizerError> {
        let pooled = self.states.lock().map(|mut s| s.pop()).unwrap_or(None);
        match pooled {
            Some(state) => Ok(state),
            None => self.context.create_state().map_err(|e| {
                RecognizerError::Whisper(format!("cannot create a decoder state: {e}"))
            }),
        }
    }

    fn return_state(&self, state: WhisperState) {
        if let Ok(mut states) = self.states.lock() {
            states.push(state);
        }
    }
}

/// The free pass: its hypothesis, the text tokens it chose (`scored`: each scored, then
/// the end of text) and the tokens it nearly chose instead (when rivals were wanted).
#[derive(Debug)]
struct FreeDecode {
    hypothesis: Hypothesis,
    tokens: Vec<i32>,
    scored: Vec<ScoredToken>,
    swaps: Vec<Swap>,
}

/// The free pass's logits, read as the prior of a repair's first word: the
/// log-probability of the word's first token (as Whisper writes it after a space) at that
/// step.
struct FirstTokens<'a> {
    steps: &'a [StepLogits],
    recognizer: &'a Recognizer,
}

impl Prior for FirstTokens<'_> {
    fn first_token(&self, step: usize, word: &str) -> Option<f32> {
        let id = *self.recognizer.tokens_of_word(word).ok()?.first()?;
        self.steps.get(step)?.logprob(id)
    }
}

#[derive(Debug, Default)]
struct KeptSegments {
    text: String,
    tokens: Vec<i32>,
}

/// How many of the tokens (`texts`, in order) make up the first `words` words, the
/// punctuation right after them included (words counted as [`word_scores`] counts them: a
/// token with a letter or digit that starts with a space starts one).
fn tokens_of_words(texts: &[&str], words: usize) -> usize {
    repair::word_spans(texts)
        .get(words)
        .map_or(texts.len(), |&(start, _)| start)
}

/// Whether no 30 ms window of the audio reaches `threshold` RMS.
pub fn is_silent(samples: &[f32], threshold: f32) -> bool {
    const WINDOW: usize = SAMPLE_RATE * 30 / 1000;
    samples.chunks(WINDOW).all(|w| {
        let energy = w.iter().map(|s| s * s).sum::<f32>() / w.len().max(1) as f32;
        energy.sqrt() < threshold
    })
}

fn max_tokens_for(samples: usize) -> i32 {
    let seconds = samples / SAMPLE_RATE;
    (10 + 5 * seconds as i32).min(224)
}

/// Cuts a decoding loop ("stop the pump. stop the pump. stop the") down to its first
/// occurrence: the text is kept up to where a run of words starts repeating back to back.
/// A loop spelled inside one word ("Turn the D-T-T-T-T-T-T-", heard in noise) is cut to
/// its first copy too ("Turn the D-T").
pub fn drop_repetitions(text: &str) -> String {
    cut_loops(text, true)
}

/// Whether the text decoded so far already holds a whole loop, one that
/// [`drop_repetitions`] will cut: what the decoder writes after it is cut too, so the free
/// pass stops there instead of running to its token limit ("next song, next song, next
/// song, ..." took 16 tokens for 3 kept). A copy cut short does not count yet: the
/// decoder may still go on with other words.
pub fn holds_decoding_loop(text: &str) -> bool {
    let text = clean_transcript(text);
    cut_loops(&text, false) != text
}

/// [`drop_repetitions`]; `at_end` also cuts a second copy of three words or more that the
/// text ends in before it is whole (the token limit cut it short).
fn cut_loops(text: &str, at_end: bool) -> String {
    let unspelled: Vec<String> = text
        .split_whitespace()
        .map(|w| cut_spelled_loop(w).unwrap_or_else(|| w.to_owned()))
        .collect();
    let words: Vec<&str> = unspelled.iter().map(String::as_str).collect();
    let key = |w: &str| {
        w.trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase()
    };
    let keys: Vec<String> = words.iter().map(|w| key(w)).collect();
    for start in 0..keys.len() {
        for period in 1..keys.len() - start {
            let repeats = (start + period..keys.len())
                .take_while(|&i| keys[i] == keys[i - period])
                .count();
            // Two back-to-back copies of a phrase of two or more words, or three copies of
            // one word: a loop, not speech ("no no" and "very very" survive; "pump 2, pump
            // 2," is the vocabulary prompt's name written twice). A second copy of three
            // words or more that the token limit cut short is a loop too.
            let copies = 1 + repeats / period;
            let cut_short =
                at_end && period >= 3 && repeats >= 3 && start + period + repeats == keys.len();
            if (period >= 2 && copies >= 2) || copies >= 3 || cut_short {
                // What is left may loop too ("pump 2, pump 2," inside a longer loop).
                return cut_loops(&words[..start + period].join(" "), at_end);
            }
        }
    }
    words.join(" ")
}

/// A word of hyphen-joined parts with one part three times or more back to back, cut
/// before the second copy ("D-T-T-T-T-" -> "D-T"); None for any other word ("X-ray",
/// "twenty-two", "go-go").
fn cut_spelled_loop(word: &str) -> Option<String> {
    let parts: Vec<&str> = word.split('-').collect();
    (0..parts.len()).find_map(|i| {
        let part = parts[i];
        let copies = parts[i..]
            .iter()
            .take_while(|p| p.eq_ignore_ascii_case(part))
            .count();
        (!part.is_empty() && copies >= 3).then(|| parts[..=i].join("-"))
    })
}

/// Removes what Whisper writes for non-speech (`[BLANK_AUDIO]`, `(music)`, `*coughs*`) and
/// collapses whitespace.
pub fn clean_transcript(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth_square = 0u32;
    let mut depth_round = 0u32;
    let mut in_stars = false;
    for c in text.chars() {
        match c {
            '[' => depth_square += 1,
            ']' => depth_square = depth_square.saturating_sub(1),
            '(' => depth_round += 1,
            ')' => depth_round = depth_round.saturating_sub(1),
            '*' => in_stars = !in_stars,
            _ if depth_square == 0 && depth_round == 0 && !in_stars => out.push(c),
            _ => {}
        }
    }
    // Music notes and other symbol-only output carry no command.
    if !out.chars().any(char::is_alphanumeric) {
        return String::new();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_speech_tags_are_removed() {
        assert_eq!(clean_transcript(" [BLANK_AUDIO]"), "");
        assert_eq!(clean_transcript(" (music) Pump three. "), "Pump three.");
        assert_eq!(clean_transcript("*coughs* stop  the pump"), "stop the pump");
    }

    #[test]
    fn decoding_loops_are_cut_to_one_copy() {
        assert_eq!(
            drop_repetitions("Set the driver side to 21.5. Set the driver side to 21.5. Set the"),
            "Set the driver side to 21.5."
        );
        assert_eq!(
            drop_repetitions("Turn Murphy Top Turn Murphy Top Turn Murphy"),
            "Turn Murphy Top"
        );
        assert_eq!(drop_repetitions("stop stop stop"), "stop");
        assert_eq!(drop_repetitions("Turn the D-T-T-T-T-T-T-"), "Turn the D-T");
        assert_eq!(drop_repetitions("T-T-T-T pump 2"), "T pump 2");
        assert_eq!(
            drop_repetitions("Take an X-ray of the twenty-two go-go dancers"),
            "Take an X-ray of the twenty-two go-go dancers"
        );
        assert_eq!(
            drop_repetitions("Check must add a some conveyor one. Check must add a some conveyor"),
            "Check must add a some conveyor one."
        );
        assert_eq!(
            drop_repetitions("no no, stop pump three"),
            "no no, stop pump three"
        );
        assert_eq!(
            drop_repetitions("tripod shoot, pump 2, pump 2,"),
            "tripod shoot, pump 2,"
        );
        assert_eq!(
            drop_repetitions("tribal shoot pump 2, pump 2, try ball"),
            "tribal shoot pump 2,"
        );
        assert_eq!(
            drop_repetitions(
                "tribal shoot pump 2, pump 2, try ball shoot pump 2, pump 2, try ball shoot pump"
            ),
            "tribal shoot pump 2,"
        );
        assert_eq!(
            drop_repetitions("set the fan to three"),
            "set the fan to three"
        );
        assert_eq!(clean_transcript("♪ ♪ ♪"), "");
    }

    #[test]
    fn a_loop_is_found_once_a_whole_copy_repeats() {
        assert!(holds_decoding_loop(" next song, next song,"));
        assert!(
            !holds_decoding_loop(" next song, next"),
            "not yet a whole copy"
        );
        assert!(holds_decoding_loop(" Start pump 2, pump 2,"));
        assert!(holds_decoding_loop(" stop stop stop"));
        assert!(!holds_decoding_loop(" stop stop"));
        assert!(!holds_decoding_loop(" no no, stop pump three"));
        assert!(holds_decoding_loop(" Turn the D-T-T-T-"));
        // A copy cut short is cut from a finished transcript, but may still go on.
        assert!(!holds_decoding_loop(" set the fan to five set the fan"));
        assert_eq!(
            drop_repetitions("set the fan to five set the fan to"),
            "set the fan to five"
        );
        assert!(!holds_decoding_loop(" [BLANK_AUDIO] next song"));
        assert!(!holds_decoding_loop(""));
    }

    #[test]
    fn the_tokens_of_the_kept_words_are_counted_with_their_punctuation() {
        let texts = [" Take", " me", " home", ".", " Take", " me", " home", "."];
        assert_eq!(tokens_of_words(&texts, 3), 4);
        assert_eq!(tokens_of_words(&texts, 6), 8);
        let split = [" St", "art", " pump", " 2", ","];
        assert_eq!(tokens_of_words(&split, 1), 2);
        assert_eq!(tokens_of_words(&split, 3), 5);
        assert_eq!(tokens_of_words(&split, 0), 0);
    }

    #[test]
    fn silence_is_detected_by_energy() {
        assert!(is_silent(&[0.0; 16_000], 0.003));
        assert!(is_silent(&[0.001; 16_000], 0.003));
        let mut speech = vec![0.0; 16_000];
        speech[8_000..8_480].fill(0.2);
        assert!(!is_silent(&speech, 0.003));
    }
}
