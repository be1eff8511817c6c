//! The grammar-biased pass: a beam search over Whisper's decoder, run on the encoder output
//! the free pass left in the decoder state, so the audio is encoded once per request.
//!
//! Why not whisper.cpp's own beam search: it draws each beam's candidates at random from the
//! distribution instead of taking the best ones, with a generator kept in the state across
//! requests, so a biased decode wandered into made-up words and differed from run to run.
//! This one ranks candidates by score and is deterministic.
//!
//! Only sentences of the grammar are of use to the client, so a hypothesis that leaves the
//! grammar is dropped at once (whisper.cpp's soft penalty kept it in a beam slot), and so is
//! one the model already finds too unlikely (`floor`).
//!
//! Hypotheses are ranked by their total log-probability, end of text included (a short
//! sentence pays for ending where the audio goes on). Scores only fall as tokens are added,
//! so a live hypothesis that a finished one beats is dropped, and the search stops when no
//! live one is left.
//!
//! Every beam is one token sequence; the decoder's cache holds one sequence at a time, so
//! beams are visited in token order (neighbours share their prefix) and only the part after
//! the shared prefix is decoded again, in one call. The prompt is in the cache already:
//! the free pass read it.

use crate::bias::{Continuation, ScoredToken, StepLogits, TokenTexts, continuations};
use crate::grammar::{Grammar, TextCursor};
use whisper_rs::{WhisperError, WhisperState};

/// A token this unlikely is noise, not a reading of the audio.
const MIN_TOKEN_LOGPROB: f32 = -20.0;

/// A hypothesis this many nats behind the best of its step is dropped. On the dev voice
/// (espeak-ng clean, 12 and 6 dB SNR) 4 changed no command and saved 13-15% of the decoder
/// calls; 3 lost two commands at 6 dB and made one at 12 dB a wrong action.
const BEAM_WIDTH: f32 = 4.0;

/// How the biased pass searches.
#[derive(Debug, Clone, Copy)]
pub struct BeamSettings {
    /// Hypotheses kept per step (1: greedy).
    pub beams: usize,
    /// Longest transcript, in tokens.
    pub max_tokens: usize,
    pub threads: usize,
    /// Hypotheses the model finds less likely than this (log-probability) are
    /// dropped as soon as they fall below it: the client would not take them anyway.
    pub floor: Option<f32>,
    /// A finished sentence of fewer words is no candidate (it neither wins nor ends the
    /// search): the client takes no biased sentence with fewer than half the free
    /// transcript's words, and Whisper's end of text comes cheap early on ("M, speed 3."
    /// ended as "5." before "fan speed 3" could finish).
    pub min_words: usize,
}

/// Words of a transcript as the client counts them: runs of letters and digits (with
/// apostrophes and decimal points inside).
pub fn word_count(text: &str) -> usize {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '.'))
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// What the search found.
#[derive(Debug, Clone)]
pub struct BeamResult {
    /// The best hypothesis above the floor: its text tokens, each scored under the
    /// model, then the end of text (scored too when the search reached it). None: every
    /// hypothesis fell below the floor.
    pub scored: Option<Vec<ScoredToken>>,
    /// Decoder evaluations the search needed.
    pub evaluations: usize,
}

#[derive(Debug, Clone)]
struct Beam {
    tokens: Vec<i32>,
    cursor: TextCursor,
    /// Total log-probability so far.
    logprob: f32,
    logprobs: Vec<f32>,
    ended: bool,
}

impl Beam {
    fn extended(&self, next: Continuation, eot: i32) -> Self {
        let mut tokens = self.tokens.clone();
        let ended = next.id == eot;
        if !ended {
            tokens.push(next.id);
        }
        let mut logprobs = self.logprobs.clone();
        logprobs.push(next.logprob);
        Self {
            tokens,
            logprob: self.logprob + next.logprob,
            cursor: next.cursor,
            logprobs,
            ended,
        }
    }
}

/// What the free pass left in the decoder state: whisper.cpp's pointer to it (handed to
/// the logits filter) and the best logits it saw after the prompt. Only the recogniser
/// makes one (the fields are the crate's), so no caller can hand [`search`] a pointer of
/// its own.
#[derive(Debug, Clone)]
pub struct FreePassState {
    pub(crate) raw: *mut whisper_rs_sys::whisper_state,
    pub(crate) logits_after_prompt: Vec<(i32, f32)>,
    /// The text tokens the free pass chose, and every logit of each step along them
    /// (`steps[i]` after `path[..i]`; empty unless the decode kept them): a hypothesis
    /// that follows the free pass needs no decoder call for what it already saw.
    pub(crate) path: Vec<i32>,
    pub(crate) steps: Vec<StepLogits>,
    /// The decoder's cache was checked to hold the prompt as the search lays it out (the
    /// recogniser checks each prompt once): the first step's logits are then the free
    /// pass's, with no decoder call.
    pub(crate) prompt_checked: bool,
}

impl FreePassState {
    /// The free pass's logits after `tokens`, when they follow its own path.
    fn logits_along_path(&self, tokens: &[i32]) -> Option<&[f32]> {
        let step = self.steps.get(tokens.len())?;
        (self.path.get(..tokens.len()) == Some(tokens)).then_some(step.logits.as_slice())
    }

    /// Whether `logits` are the ones the free pass's filter saw after the prompt.
    fn saw_after_prompt(&self, logits: &[f32]) -> bool {
        self.logits_after_prompt.iter().all(|&(id, seen)| {
            !seen.is_finite()
                || logits
                    .get(id as usize)
                    .is_some_and(|l| (l - seen).abs() <= SAME_LOGIT)
        })
    }
}

/// Whether the decoder's cache holds `prompt` as the free pass left it: its last token
/// decoded again gives the logits the free pass's filter saw after the prompt. One
/// decoder call.
pub fn prompt_is_cached(
    state: &mut WhisperState,
    prompt: &[i32],
    threads: usize,
    free: &FreePassState,
) -> Result<bool, WhisperError> {
    Ok(logits_after_cached_prompt(state, prompt, threads, free)?.is_some())
}

/// The logits after `prompt`, from its last token decoded again, when they are the ones
/// the free pass saw there (its cache holds the prompt); None when they differ or the free
/// pass saw none. One decoder call.
fn logits_after_cached_prompt(
    state: &mut WhisperState,
    prompt: &[i32],
    threads: usize,
    free: &FreePassState,
) -> Result<Option<Vec<f32>>, WhisperError> {
    let (last, before) = prompt.split_last().ok_or(WhisperError::NoSamples)?;
    if free.logits_after_prompt.is_empty() {
        return Ok(None);
    }
    state.decode(&[*last], before.len(), threads)?;
    let logits = state.get_logits()?;
    Ok(free.saw_after_prompt(logits).then(|| logits.to_vec()))
}

/// Logits this far apart are of another decoder state, not rounding.
const SAME_LOGIT: f32 = 0.05;

/// The decoder's cache after the prompt, and which beam's tokens follow it.
struct Decoder<'s> {
    state: &'s mut WhisperState,
    /// What the free pass left, when the search starts from it and its prompt was checked.
    free: Option<&'s FreePassState>,
    /// whisper.cpp's pointer to `state`, to read the logits of the last token of a call of
    /// several (whisper-rs shows the first row only). None: one token per call.
    raw: Option<*mut whisper_rs_sys::whisper_state>,
    threads: usize,
    n_prompt: usize,
    prompt_logits: Vec<f32>,
    cached: Vec<i32>,
    evaluations: usize,
}

impl<'s> Decoder<'s> {
    /// Starts after `prompt`. When the free pass read the same prompt in this state, its
    /// cache already holds it: once that was checked (`prompt_checked`), the free pass's
    /// first logits are taken as they are; else its last token is decoded again (for its
    /// logits), they are checked against the free pass's, and the prompt decoded whole if
    /// they differ.
    fn new(
        state: &'s mut WhisperState,
        prompt: &[i32],
        threads: usize,
        free: Option<&'s FreePassState>,
    ) -> Result<Self, WhisperError> {
        let (last, before) = prompt.split_last().ok_or(WhisperError::NoSamples)?;
        let mut evaluations = 0;
        let mut prompt_logits = Vec::new();
        if let Some(first) = free
            .filter(|f| f.prompt_checked)
            .and_then(|f| f.logits_along_path(&[]))
        {
            prompt_logits = first.to_vec();
        } else if let Some(free) = free.filter(|f| !f.logits_after_prompt.is_empty()) {
            evaluations += 1;
            match logits_after_cached_prompt(state, prompt, threads, free)? {
                Some(logits) => prompt_logits = logits,
                None => tracing::warn!(
                    "the free pass left another prompt in the decoder: decoding it again"
                ),
            }
        }
        if prompt_logits.is_empty() {
            if !before.is_empty() {
                state.decode(before, 0, threads)?;
                evaluations += 1;
            }
            // Logits come back for the last token of a call only: decode it on its own.
            state.decode(&[*last], before.len(), threads)?;
            evaluations += 1;
            prompt_logits = state.get_logits()?.to_vec();
        }
        // The pointer is only used if whisper.cpp's logits buffer is the one whisper-rs
        // reads: then it is this state's.
        let raw = free.map(|f| f.raw).filter(|raw| {
            !raw.is_null()
                && state
                    .get_logits()
                    .is_ok_and(|l| l.as_ptr() == logits_of(*raw))
        });
        Ok(Self {
            state,
            free: free.filter(|f| f.prompt_checked),
            raw,
            threads,
            n_prompt: prompt.len(),
            prompt_logits,
            cached: Vec::new(),
            evaluations,
        })
    }

    /// The logits for the token after `tokens`: the part after what the cache holds is
    /// decoded in one call.
    fn logits_after(&mut self, tokens: &[i32]) -> Result<Vec<f32>, WhisperError> {
        let Some((last, before)) = tokens.split_last() else {
            return Ok(self.prompt_logits.clone());
        };
        if let Some(seen) = self.free.and_then(|f| f.logits_along_path(tokens)) {
            return Ok(seen.to_vec());
        }
        let shared = self
            .cached
            .iter()
            .zip(before)
            .take_while(|(a, b)| a == b)
            .count();
        let logits = match self.raw {
            Some(raw) => {
                let fresh = &tokens[shared..];
                self.state
                    .decode(fresh, self.n_prompt + shared, self.threads)?;
                self.evaluations += 1;
                let n_vocab = usize::try_from(self.state.n_vocab()).unwrap_or(0);
                last_row(raw, fresh.len(), n_vocab)?
            }
            None => {
                if shared < before.len() {
                    self.state
                        .decode(&before[shared..], self.n_prompt + shared, self.threads)?;
                    self.evaluations += 1;
                }
                self.state
                    .decode(&[*last], self.n_prompt + before.len(), self.threads)?;
                self.evaluations += 1;
                self.state.get_logits()?.to_vec()
            }
        };
        self.cached = tokens.to_vec();
        Ok(logits)
    }
}

/// whisper.cpp's logits buffer of a state.
#[allow(unsafe_code)]
fn logits_of(raw: *mut whisper_rs_sys::whisper_state) -> *const f32 {
    // SAFETY: `raw` is non-null and whisper.cpp's pointer to a live state (the one the
    // decoder borrows); the call only reads the address of its logits buffer.
    unsafe { whisper_rs_sys::whisper_get_logits_from_state(raw) }
}

/// The logits of the last of `rows` tokens decoded in one call.
#[allow(unsafe_code)]
fn last_row(
    raw: *mut whisper_rs_sys::whisper_state,
    rows: usize,
    n_vocab: usize,
) -> Result<Vec<f32>, WhisperError> {
    let base = logits_of(raw);
    if base.is_null() || rows == 0 || n_vocab == 0 {
        return Err(WhisperError::NullPointer);
    }
    // SAFETY: after a decode of `rows` tokens whisper.cpp's buffer holds `rows` rows of
    // `n_vocab` logits (the last one filled); `raw` is the state the decoder borrows
    // mutably, so nothing else decodes meanwhile.
    let row = unsafe { std::slice::from_raw_parts(base.add((rows - 1) * n_vocab), n_vocab) };
    Ok(row.to_vec())
}

/// A transcript to score token by token after the prompt.
#[derive(Debug, Clone, Copy)]
pub struct Forced<'a> {
    /// What Whisper reads before the transcript.
    pub prompt: &'a [i32],
    pub tokens: &'a [i32],
    /// The first token to score (those before it are only read).
    pub from: usize,
    /// The end of text, scored after the last token when `with_end`.
    pub eot: i32,
    pub with_end: bool,
}

/// Scores a transcript from `from` on (each of `tokens[from..]`, then the end of text
/// when `with_end`), every token given the ones before it: a reading with one token
/// swapped is scored on what the audio says after it, not on the free transcript's
/// continuation. Returns the log-probabilities and the decoder evaluations it took.
pub fn score_from<'s>(
    state: &'s mut WhisperState,
    forced: Forced<'_>,
    threads: usize,
    free: Option<&'s FreePassState>,
) -> Result<(Vec<f32>, usize), WhisperError> {
    let mut scorer = Scorer::new(state, forced.prompt, threads, free)?;
    let logprobs = scorer.score(forced)?;
    Ok((logprobs, scorer.evaluations()))
}

/// Scores several transcripts after one prompt with one decoder, so the prompt is read
/// once and transcripts that share a prefix share its decoding.
pub struct Scorer<'s> {
    decoder: Decoder<'s>,
}

impl std::fmt::Debug for Scorer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer")
            .field("evaluations", &self.decoder.evaluations)
            .finish_non_exhaustive()
    }
}

impl<'s> Scorer<'s> {
    pub fn new(
        state: &'s mut WhisperState,
        prompt: &[i32],
        threads: usize,
        free: Option<&'s FreePassState>,
    ) -> Result<Self, WhisperError> {
        Ok(Self {
            decoder: Decoder::new(state, prompt, threads, free)?,
        })
    }

    /// Every logit after `tokens` (following the prompt), and their normaliser over the
    /// text tokens and the end of text (`eot`), as the search scores (whisper.cpp
    /// suppresses timestamps and special tokens before the free pass scores a step).
    pub fn step(
        &mut self,
        tokens: &[i32],
        eot: i32,
    ) -> Result<crate::bias::StepLogits, WhisperError> {
        let logits = self.decoder.logits_after(tokens)?;
        let log_norm = crate::bias::log_sum_exp(&logits[..logits.len().min(eot as usize + 1)]);
        Ok(crate::bias::StepLogits { logits, log_norm })
    }

    /// Decoder evaluations so far.
    pub fn evaluations(&self) -> usize {
        self.decoder.evaluations
    }

    /// The log-probabilities of `forced`'s tokens from `from` on (its `prompt` must be the
    /// scorer's).
    pub fn score(&mut self, forced: Forced<'_>) -> Result<Vec<f32>, WhisperError> {
        let Forced {
            tokens,
            from,
            eot,
            with_end,
            ..
        } = forced;
        let last = tokens.len() + usize::from(with_end);
        (from..last)
            .map(|j| {
                let step = self.step(&tokens[..j], eot)?;
                let id = tokens.get(j).copied().unwrap_or(eot);
                Ok(step.logprob(id).unwrap_or(f32::NEG_INFINITY))
            })
            .collect()
    }
}

/// What makes two hypotheses of text `text` the same reading: their words in lower case
/// without punctuation, whether the last word may still go on (no space or punctuation
/// after it), and whether they `ended`.
fn reading_key(text: &str, ended: bool) -> (String, bool, bool) {
    let open = text.ends_with(|c: char| c.is_alphanumeric() || c == '\'');
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    (words.join(" "), open, ended)
}

/// Searches for the best transcript under `grammar`'s bias. `prompt` is what Whisper reads
/// before the transcript (vocabulary prompt and task tokens); `blank`: the token Whisper
/// never starts with (a lone space).
pub fn search<'s>(
    state: &'s mut WhisperState,
    texts: &TokenTexts,
    prompt: &[i32],
    grammar: &Grammar,
    settings: BeamSettings,
    blank: Option<i32>,
    free: Option<&'s FreePassState>,
) -> Result<BeamResult, WhisperError> {
    let eot = texts.eot();
    let beams = settings.beams.max(1);
    let mut decoder = Decoder::new(state, prompt, settings.threads, free)?;
    let mut live = vec![Beam {
        tokens: Vec::new(),
        cursor: TextCursor::new(grammar),
        logprob: 0.0,
        logprobs: Vec::new(),
        ended: false,
    }];
    let floor = settings.floor.unwrap_or(f32::NEG_INFINITY);
    let mut finished: Vec<Beam> = Vec::new();
    for step in 0..settings.max_tokens.max(1) {
        live.sort_by(|a, b| a.tokens.cmp(&b.tokens));
        let mut next: Vec<Beam> = Vec::with_capacity(live.len() * beams);
        for beam in &live {
            let mut logits = decoder.logits_after(&beam.tokens)?;
            if step == 0
                && let Some(slot) = blank.and_then(|b| logits.get_mut(b as usize))
            {
                *slot = f32::NEG_INFINITY;
            }
            let inside = continuations(
                texts,
                grammar,
                &beam.cursor,
                &logits,
                beams,
                step > 0,
                (floor - beam.logprob).max(MIN_TOKEN_LOGPROB),
            );
            next.extend(inside.into_iter().map(|c| beam.extended(c, eot)));
        }
        next.retain(|beam| beam.logprob >= floor);
        next.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
        // The same words in another case or punctuation are one reading: only the likeliest
        // keeps a beam ("set," and "Set" would otherwise crowd out "set the").
        let mut seen = std::collections::HashSet::new();
        next.retain(|beam| {
            let text: String = beam
                .tokens
                .iter()
                .filter_map(|&id| texts.text(id))
                .collect();
            seen.insert(reading_key(&text, beam.ended))
        });
        if let Some(lead) = next.first().map(|b| b.logprob) {
            next.retain(|b| b.logprob >= lead - BEAM_WIDTH);
        }
        live.clear();
        for beam in next.into_iter().take(beams) {
            if beam.ended {
                let text: String = beam
                    .tokens
                    .iter()
                    .filter_map(|&id| texts.text(id))
                    .collect();
                if word_count(&text) >= settings.min_words {
                    finished.push(beam);
                }
            } else {
                live.push(beam);
            }
        }
        // A live hypothesis a finished one already beats can never overtake it: it is not
        // decoded further (the search ends when none is left).
        let best_finished = finished
            .iter()
            .map(|b| b.logprob)
            .fold(f32::NEG_INFINITY, f32::max);
        live.retain(|b| b.logprob > best_finished);
        if live.is_empty() || finished.len() >= beams {
            break;
        }
    }
    // Out of tokens with nothing finished: the best unfinished hypothesis, as Whisper does.
    let best = finished
        .into_iter()
        .max_by(|a, b| a.logprob.total_cmp(&b.logprob))
        .or_else(|| {
            live.into_iter()
                .max_by(|a, b| a.logprob.total_cmp(&b.logprob))
        });
    let scored = best.map(|beam| {
        let ids = beam.tokens.iter().copied().chain(std::iter::once(eot));
        ids.zip(beam.logprobs)
            .map(|(id, logprob)| ScoredToken {
                text: texts.text(id).unwrap_or("").to_owned(),
                logprob,
            })
            .collect()
    });
    Ok(BeamResult {
        scored,
        evaluations: decoder.evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::{reading_key, word_count};

    #[test]
    fn case_and_punctuation_make_no_other_reading() {
        assert_eq!(reading_key(" Set,", false), reading_key(" set.", false));
        assert_eq!(reading_key(" Set", false), reading_key(" set", false));
        assert_eq!(
            reading_key(" set, pump", false),
            reading_key(" Set pump", false)
        );
        // A word that may still go on ("set" + "up" is "setup") is not one that ended.
        assert_ne!(reading_key(" set", false), reading_key(" set,", false));
        assert_ne!(reading_key(" set 5.", true), reading_key(" set 5.", false));
        assert_ne!(reading_key(" set the", false), reading_key(" set", false));
    }

    #[test]
    fn words_are_counted_as_the_client_counts_them() {
        assert_eq!(word_count("M, speed 3."), 3);
        assert_eq!(word_count("5."), 1);
        assert_eq!(word_count("Set the driver side to 21.5."), 6);
        assert_eq!(word_count("Take me to the airport, it's late"), 7);
        assert_eq!(word_count(" , . "), 0);
    }
}
