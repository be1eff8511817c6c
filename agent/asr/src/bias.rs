//! Grammar constraint and token scoring for Whisper's decoding.
//!
//! Constraint ([`continuations`]): the most likely tokens that keep the text inside the
//! grammar (end of text only after a whole sentence), for the biased pass's beam search.
//!
//! Scoring ([`ScoreHook`], in whisper.cpp's logits filter during the free pass): the
//! log-probability of each chosen token under the model's own distribution, so a biased
//! and a free transcript of one recording can be compared.

use crate::grammar::{Grammar, TextCursor};
use std::collections::HashMap;
use std::os::raw::{c_int, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// Text of every ordinary token (ids below end-of-text); special tokens have none.
#[derive(Debug, Clone)]
pub struct TokenTexts {
    texts: Vec<String>,
    eot: i32,
}

impl TokenTexts {
    pub fn new(texts: Vec<String>, eot: i32) -> Self {
        Self { texts, eot }
    }

    pub fn eot(&self) -> i32 {
        self.eot
    }

    pub fn text(&self, id: i32) -> Option<&str> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.texts.get(i))
            .map(String::as_str)
    }

    /// The id of a token whose text is exactly `text`.
    pub fn id_of(&self, text: &str) -> Option<i32> {
        self.texts.iter().position(|t| t == text).map(|i| i as i32)
    }
}

/// One decoded token and its log-probability under the unbiased model.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredToken {
    pub text: String,
    pub logprob: f32,
}

/// The unbiased scores of one step: the best tokens' logits and the normaliser.
#[derive(Debug, Default)]
struct StepScores {
    log_norm: f32,
    best: Vec<(i32, f32)>,
    /// Every logit, when the hook keeps them ([`ScoreHook::keeping_all_logits`]).
    all: Vec<f32>,
}

/// Every logit of one step of a decode, and their normaliser.
#[derive(Debug, Clone, Default)]
pub struct StepLogits {
    pub logits: Vec<f32>,
    pub log_norm: f32,
}

impl StepLogits {
    /// The log-probability of token `id` at this step.
    pub fn logprob(&self, id: i32) -> Option<f32> {
        let logit = *self.logits.get(usize::try_from(id).ok()?)?;
        logit.is_finite().then_some(logit - self.log_norm)
    }
}

/// Scores a greedy decode from whisper.cpp's logits filter. Steps are keyed by the text
/// so far, so the scores follow the tokens whisper.cpp finally reports.
#[derive(Debug)]
pub struct ScoreHook<'a> {
    tokens: &'a TokenTexts,
    n_vocab: usize,
    steps: Mutex<HashMap<Vec<i32>, StepScores>>,
    /// whisper.cpp's pointer to the state being decoded, as the filter receives it.
    state: AtomicPtr<whisper_rs_sys::whisper_state>,
    keep_all: bool,
    /// Asked about the text so far at each step: whether it holds a decoding loop, which
    /// ends the decode there ([`ScoreHook::stopping_at_loops`]).
    holds_loop: Option<fn(&str) -> bool>,
    /// The decode was ended at a loop: its end of text is the hook's, not the model's.
    stopped_at_loop: AtomicBool,
}

/// Tokens whose logits are kept per step (the greedy choice is the first of them unless
/// whisper.cpp suppresses tokens after the filter).
const SCORED_CANDIDATES: usize = 32;

impl<'a> ScoreHook<'a> {
    pub fn new(tokens: &'a TokenTexts, n_vocab: usize) -> Self {
        Self {
            tokens,
            n_vocab,
            steps: Mutex::new(HashMap::new()),
            state: AtomicPtr::new(std::ptr::null_mut()),
            keep_all: false,
            holds_loop: None,
            stopped_at_loop: AtomicBool::new(false),
        }
    }

    /// Ends the decode as soon as the text so far holds a loop by `holds_loop`: the words
    /// a loop goes on with are cut from the transcript anyway, and a greedy decode in a
    /// loop runs to its token limit (27% of the free pass's tokens on the espeak-ng set).
    pub fn stopping_at_loops(mut self, holds_loop: fn(&str) -> bool) -> Self {
        self.holds_loop = Some(holds_loop);
        self
    }

    /// Whether the decode was ended at a loop.
    pub fn stopped_at_loop(&self) -> bool {
        self.stopped_at_loop.load(Ordering::Relaxed)
    }

    /// Keeps every logit of every step (a copy of the vocabulary's logits per token), for
    /// [`ScoreHook::take_step_logits`].
    pub fn keeping_all_logits(mut self) -> Self {
        self.keep_all = true;
        self
    }

    /// The filter whisper.cpp calls; its user data must be a `*const ScoreHook`.
    ///
    /// # Safety
    ///
    /// `user_data` points to a live `ScoreHook` for the whole decode; `tokens` and
    /// `logits` are whisper.cpp's (`n_tokens` entries, and `n_vocab` logits).
    #[allow(unsafe_code)]
    pub unsafe extern "C" fn filter(
        _ctx: *mut whisper_rs_sys::whisper_context,
        state: *mut whisper_rs_sys::whisper_state,
        tokens: *const whisper_rs_sys::whisper_token_data,
        n_tokens: c_int,
        logits: *mut f32,
        user_data: *mut c_void,
    ) {
        if user_data.is_null() || logits.is_null() {
            return;
        }
        // SAFETY: as documented above; the hook is only read through a shared reference
        // (its memory sits behind a mutex).
        let hook = unsafe { &*user_data.cast_const().cast::<ScoreHook>() };
        let ids: Vec<i32> = if tokens.is_null() || n_tokens <= 0 {
            Vec::new()
        } else {
            // SAFETY: whisper.cpp passes its sequence of `n_tokens` token records.
            unsafe { std::slice::from_raw_parts(tokens, n_tokens as usize) }
                .iter()
                .map(|t| t.id)
                .collect()
        };
        // SAFETY: the logits buffer holds one float per vocabulary entry, whisper.cpp's to
        // change before it chooses the next token.
        let logits = unsafe { std::slice::from_raw_parts_mut(logits, hook.n_vocab) };
        hook.state.store(state, Ordering::Relaxed);
        hook.step(&ids, logits);
        if hook.loop_before(&ids) {
            leave_only(logits, hook.tokens.eot());
        }
    }

    /// Whether the text tokens among `ids` hold a loop (then the hook remembers that it
    /// ended the decode).
    fn loop_before(&self, ids: &[i32]) -> bool {
        let Some(holds_loop) = self.holds_loop else {
            return false;
        };
        let eot = self.tokens.eot();
        let text: String = ids
            .iter()
            .filter(|&&id| id < eot)
            .filter_map(|&id| self.tokens.text(id))
            .collect();
        let found = holds_loop(&text);
        if found {
            self.stopped_at_loop.store(true, Ordering::Relaxed);
        }
        found
    }

    /// whisper.cpp's pointer to the decoded state (null if the filter never ran).
    pub fn state(&self) -> *mut whisper_rs_sys::whisper_state {
        self.state.load(Ordering::Relaxed)
    }

    /// The best logits of the first step (after the prompt), as the filter saw them.
    pub fn logits_after_prompt(&self) -> Vec<(i32, f32)> {
        let steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        steps
            .get(&[][..])
            .map(|s| s.best.clone())
            .unwrap_or_default()
    }

    /// Remembers the scores of the step after `ids`.
    pub fn step(&self, ids: &[i32], logits: &[f32]) {
        let eot = self.tokens.eot();
        let prefix: Vec<i32> = ids.iter().copied().filter(|&id| id < eot).collect();
        let best = best_tokens(logits, eot, SCORED_CANDIDATES)
            .into_iter()
            .chain(std::iter::once(eot))
            .filter_map(|id| Some((id, *logits.get(id as usize)?)))
            .collect();
        let scores = StepScores {
            log_norm: log_sum_exp(logits),
            best,
            all: if self.keep_all {
                logits.to_vec()
            } else {
                Vec::new()
            },
        };
        self.steps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(prefix, scores);
    }

    /// Tokens the model ranked within `within` nats of a chosen one (`chosen`, the decode's
    /// text tokens in order), step by step: what the audio may have said instead ("Stop"
    /// 0.4 nats behind "Start"). End of text and tokens never ranked are left out.
    pub fn swaps(&self, chosen: &[i32], within: f32) -> Vec<Swap> {
        let steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        let eot = self.tokens.eot();
        let mut swaps = Vec::new();
        for (i, &id) in chosen.iter().enumerate() {
            let Some(step) = steps.get(&chosen[..i]) else {
                break;
            };
            let Some(&(_, chosen_logit)) = step.best.iter().find(|(t, _)| *t == id) else {
                continue;
            };
            swaps.extend(
                step.best
                    .iter()
                    .filter(|&&(t, l)| t != id && t < eot && l >= chosen_logit - within)
                    .map(|&(t, l)| Swap {
                        step: i,
                        id: t,
                        logprob: l - step.log_norm,
                    }),
            );
        }
        swaps
    }

    /// Every logit of each step of the decode that chose `chosen` (the text tokens in
    /// order), moved out of the hook: step `i` is the step after `chosen[..i]`. Stops at the
    /// first step the hook did not see; empty unless the hook kept them.
    pub fn take_step_logits(&self, chosen: &[i32]) -> Vec<StepLogits> {
        let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for i in 0..=chosen.len() {
            let Some(step) = steps.get_mut(&chosen[..i]).filter(|s| !s.all.is_empty()) else {
                break;
            };
            out.push(StepLogits {
                logits: std::mem::take(&mut step.all),
                log_norm: step.log_norm,
            });
        }
        out
    }

    /// After the decode: the chosen text tokens (`chosen`, in order) scored, and the end of
    /// text that closed them (unless the hook ended the decode at a loop: then the model
    /// never chose it). A token the hook never saw ranked (whisper.cpp suppressed
    /// everything above it) gets the lowest score kept for its step.
    pub fn finish(&self, chosen: &[i32]) -> Vec<ScoredToken> {
        let ended_by_model = !self.stopped_at_loop();
        let steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        let eot = self.tokens.eot();
        let mut scored = Vec::with_capacity(chosen.len() + 1);
        for i in 0..=chosen.len() {
            if i == chosen.len() && !ended_by_model {
                break;
            }
            let id = chosen.get(i).copied().unwrap_or(eot);
            let Some(step) = steps.get(&chosen[..i]) else {
                break;
            };
            let logit = step
                .best
                .iter()
                .find(|(t, _)| *t == id)
                .or_else(|| step.best.iter().min_by(|a, b| a.1.total_cmp(&b.1)))
                .map_or(f32::NEG_INFINITY, |(_, l)| *l);
            scored.push(ScoredToken {
                text: self.tokens.text(id).unwrap_or("").to_owned(),
                logprob: logit - step.log_norm,
            });
        }
        scored
    }

    /// The log-probability the model gave the end of text right after `prefix` (text
    /// tokens in order), if the decode passed that step.
    pub fn end_after(&self, prefix: &[i32]) -> Option<f32> {
        let steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        let step = steps.get(prefix)?;
        let eot = self.tokens.eot();
        let (_, logit) = step.best.iter().find(|(t, _)| *t == eot)?;
        Some(logit - step.log_norm)
    }
}

/// Rules out every token but `id` (whisper.cpp then has only that one to choose).
fn leave_only(logits: &mut [f32], id: i32) {
    for (i, logit) in logits.iter_mut().enumerate() {
        if i as i32 != id {
            *logit = f32::NEG_INFINITY;
        }
    }
}

/// A token the model nearly chose at one step of a decode.
#[derive(Debug, Clone, PartialEq)]
pub struct Swap {
    /// Index of the chosen token it could replace.
    pub step: usize,
    pub id: i32,
    /// Its log-probability at that step.
    pub logprob: f32,
}

/// A token that may follow inside the grammar, with its log-probability under the model.
#[derive(Debug, Clone)]
pub struct Continuation {
    pub id: i32,
    pub logprob: f32,
    /// The grammar cursor after it.
    pub cursor: TextCursor,
}

/// The `keep` most likely tokens after `cursor` that keep the text inside the grammar, best
/// first. Only ids up to end of text are considered; `allow_eot` false rules end of text out
/// (Whisper never ends before the first word), and tokens less likely than `min_logprob`
/// are not looked at. Candidates are tried from the highest logit down, so the scan stops
/// as soon as `keep` are found.
pub fn continuations(
    texts: &TokenTexts,
    grammar: &Grammar,
    cursor: &TextCursor,
    logits: &[f32],
    keep: usize,
    allow_eot: bool,
    min_logprob: f32,
) -> Vec<Continuation> {
    let eot = texts.eot();
    let keep = keep.max(1);
    let mut candidates = ranked_tokens(logits, eot, allow_eot);
    let log_norm = log_sum_exp_of(candidates.iter().map(|c| c.0));
    // Tokens less likely than `min_logprob` are never taken: they are not ranked either.
    candidates.retain(|c| c.0 - log_norm >= min_logprob);
    let spaced = {
        let mut c = cursor.clone();
        c.feed(grammar, " ");
        c.at_next_word(grammar)
    };
    let mut found: Vec<Continuation> = Vec::with_capacity(keep);
    // Candidates are ranked a batch at a time, each batch four times the last: the grammar
    // usually admits one of the first few, so the rest of the vocabulary is rarely sorted.
    let mut ranked_upto = 0;
    let mut batch = FIRST_CANDIDATES.max(keep);
    for i in 0..candidates.len() {
        if found.len() == keep {
            break;
        }
        if i == ranked_upto {
            let end = (ranked_upto + batch).min(candidates.len());
            best_first(&mut candidates[ranked_upto..], end - ranked_upto);
            ranked_upto = end;
            batch *= 4;
        }
        let (logit, id) = candidates[i];
        let logprob = logit - log_norm;
        let next = if id == eot {
            cursor.ended()
        } else {
            let text = texts.text(id).unwrap_or("");
            // A token that starts a word continues from the space read once.
            let (mut next, rest) = match (&spaced, text.strip_prefix(' ')) {
                (Some(spaced), Some(rest)) if rest.starts_with(|c: char| c.is_alphanumeric()) => {
                    (spaced.clone(), rest)
                }
                _ => (cursor.clone(), text),
            };
            next.feed(grammar, rest);
            next
        };
        if !next.is_dead() {
            found.push(Continuation {
                id,
                logprob,
                cursor: next,
            });
        }
    }
    found
}

/// Candidates ranked at first; more only when too many of them are ruled out.
const FIRST_CANDIDATES: usize = 64;

/// The `n` tokens (end of text included) with the highest logits, in one pass over the
/// vocabulary: a token below the `n`-th best seen so far can never be among them, so only
/// a few times `n` candidates are ever held and ranked (the free pass asks at every step).
fn best_tokens(logits: &[f32], eot: i32, n: usize) -> Vec<i32> {
    if n == 0 {
        return Vec::new();
    }
    let held = 4 * n;
    let mut best: Vec<(f32, i32)> = Vec::with_capacity(held);
    let mut floor = f32::NEG_INFINITY;
    for (i, &l) in logits.iter().enumerate().take(eot as usize + 1) {
        if !l.is_finite() || l < floor {
            continue;
        }
        best.push((l, i as i32));
        if best.len() == held {
            best_first(&mut best, n);
            best.truncate(n);
            floor = best[n - 1].0;
        }
    }
    let n = n.min(best.len());
    best_first(&mut best, n);
    best.truncate(n);
    best.into_iter().map(|(_, id)| id).collect()
}

/// (logit, token) of the ordinary tokens with a finite logit, end of text too when
/// `with_eot`.
fn ranked_tokens(logits: &[f32], eot: i32, with_eot: bool) -> Vec<(f32, i32)> {
    logits
        .iter()
        .enumerate()
        .take(eot as usize + 1)
        .filter(|&(i, l)| l.is_finite() && (with_eot || i as i32 != eot))
        .map(|(i, &l)| (l, i as i32))
        .collect()
}

/// Highest logit first; equal logits by token id, so the order never depends on the sort.
fn by_logit(a: &(f32, i32), b: &(f32, i32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Moves the `n` highest logits to the front, sorted; the rest stays unordered behind.
fn best_first(candidates: &mut [(f32, i32)], n: usize) {
    let n = n.min(candidates.len());
    if n > 0 && n < candidates.len() {
        candidates.select_nth_unstable_by(n - 1, by_logit);
    }
    candidates[..n].sort_unstable_by(by_logit);
}

fn log_sum_exp_of(values: impl Iterator<Item = f32> + Clone) -> f32 {
    let max = values.clone().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    max + values
        .filter(|l| l.is_finite())
        .map(|l| (l - max).exp())
        .sum::<f32>()
        .ln()
}

pub(crate) fn log_sum_exp(logits: &[f32]) -> f32 {
    log_sum_exp_of(logits.iter().copied())
}

/// A word of a transcript and the probability of its least likely token.
#[derive(Debug, Clone, PartialEq)]
pub struct WordScore {
    pub word: String,
    pub probability: f32,
}

/// Words of the scored tokens (a token starting with a space starts a word).
pub fn word_scores(tokens: &[ScoredToken]) -> Vec<WordScore> {
    let mut words: Vec<WordScore> = Vec::new();
    for token in tokens {
        let p = token.logprob.exp();
        let text = token.text.as_str();
        let starts_word = text.starts_with(' ') || words.is_empty();
        let piece: String = text
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '\'')
            .collect();
        if piece.is_empty() {
            continue; // punctuation or end of text
        }
        match words.last_mut() {
            Some(word) if !starts_word => {
                word.word.push_str(&piece);
                word.probability = word.probability.min(p);
            }
            _ => words.push(WordScore {
                word: piece.to_lowercase(),
                probability: p,
            }),
        }
    }
    for w in &mut words {
        w.word = w.word.to_lowercase();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_tokens_are_those_a_full_ranking_gives() {
        // Logits with many ties, some suppressed, beyond the end of text too.
        let logits: Vec<f32> = (0..5000u32)
            .map(|i| match i % 97 {
                0 => f32::NEG_INFINITY,
                k => ((i.wrapping_mul(2_654_435_761) >> 20) % 50) as f32 / 7.0 + (k % 3) as f32,
            })
            .collect();
        let eot = 4000;
        for n in [1, 5, 32, 200] {
            let mut ranked = ranked_tokens(&logits, eot, true);
            best_first(&mut ranked, n);
            let full: Vec<i32> = ranked.iter().take(n).map(|&(_, id)| id).collect();
            assert_eq!(best_tokens(&logits, eot, n), full, "n = {n}");
        }
        assert!(best_tokens(&logits, eot, 0).is_empty());
    }

    fn vocab() -> TokenTexts {
        // 0 " set", 1 " the", 2 " fan", 3 " phantom", 4 " to", 5 " 5", 6 ".", 7 <eot>
        TokenTexts::new(
            [" set", " the", " fan", " phantom", " to", " 5", "."]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            7,
        )
    }

    fn ids(found: &[Continuation]) -> Vec<i32> {
        found.iter().map(|c| c.id).collect()
    }

    #[test]
    fn only_tokens_inside_the_grammar_follow_best_first() {
        let grammar = Grammar::parse(
            r#"root ::= " set the" (" fan" | " phantom") " to" " " [0-9]+"#,
            "root",
        )
        .expect("test input");
        let tokens = vocab();
        let mut cursor = TextCursor::new(&grammar);
        cursor.feed(&grammar, " set the");
        // After " set the": " to" is the model's favourite but leaves the grammar.
        let logits = [0.0, 0.0, 2.0, 1.0, 5.0, 0.0, 0.0, 0.0];
        let none = f32::NEG_INFINITY;
        let best = continuations(&tokens, &grammar, &cursor, &logits, 2, true, none);
        assert_eq!(ids(&best), vec![2, 3], "fan, then phantom");
        let lse = log_sum_exp(&logits);
        assert!(
            (best[0].logprob - (2.0 - lse)).abs() < 1e-5,
            "the model's own score"
        );
        // Too unlikely to be looked at.
        let best = continuations(&tokens, &grammar, &cursor, &logits, 2, true, 1.5 - lse);
        assert_eq!(ids(&best), vec![2]);
        // End of text only once the sentence is whole, and never first.
        let end = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.0];
        let best = continuations(&tokens, &grammar, &cursor, &end, 1, true, none);
        assert_ne!(ids(&best), vec![7]);
        let mut done = cursor.clone();
        done.feed(&grammar, " fan to 5");
        let best = continuations(&tokens, &grammar, &done, &end, 1, true, none);
        assert_eq!(ids(&best), vec![7]);
        let best = continuations(&tokens, &grammar, &done, &end, 1, false, none);
        assert_eq!(ids(&best), vec![6], "end of text ruled out");
    }

    #[test]
    fn scores_follow_the_tokens_whisper_reports() {
        let tokens = vocab();
        let hook = ScoreHook::new(&tokens, 8);
        let step0 = [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, f32::NEG_INFINITY];
        hook.step(&[], &step0);
        let step1 = [0.0; 8];
        hook.step(&[0], &step1);
        let scored = hook.finish(&[0]);
        assert_eq!(scored[0].text, " set");
        assert!((scored[0].logprob - (2.0 - log_sum_exp(&step0))).abs() < 1e-6);
        // The closing end of text, scored from the last step's logits.
        assert_eq!(scored.len(), 2);
        assert!((scored[1].logprob - (1.0f32 / 8.0).ln()).abs() < 1e-5);
    }

    #[test]
    fn a_decode_is_ended_at_a_loop_and_its_forced_end_is_not_scored() {
        let tokens = vocab();
        // A loop, for the test: " fan" twice.
        let twice = |text: &str| text.matches(" fan").count() >= 2;
        let hook = ScoreHook::new(&tokens, 8).stopping_at_loops(twice);
        let step = [0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        hook.step(&[], &step);
        assert!(!hook.loop_before(&[]));
        hook.step(&[2], &step);
        assert!(!hook.loop_before(&[2]), "one fan is no loop");
        hook.step(&[2, 2], &step);
        assert!(hook.loop_before(&[2, 2]));
        assert!(hook.stopped_at_loop());
        let mut logits = step;
        leave_only(&mut logits, 7);
        assert_eq!(logits.iter().filter(|l| l.is_finite()).count(), 1);
        assert_eq!(logits[7], 0.0);
        // Both fans scored; no end of text, which the model did not choose.
        let scored = hook.finish(&[2, 2]);
        assert_eq!(scored.len(), 2);
        // Without the stop the closing end of text is scored as before.
        let plain = ScoreHook::new(&tokens, 8);
        plain.step(&[], &step);
        plain.step(&[2], &step);
        assert!(!plain.loop_before(&[2, 2]));
        assert_eq!(plain.finish(&[2]).len(), 2);
    }

    #[test]
    fn every_logit_is_kept_only_when_asked() {
        let tokens = vocab();
        let step0 = [0.0, 0.0, 2.0, 1.5, -1.0, 0.0, 0.0, 1.9];
        let plain = ScoreHook::new(&tokens, 8);
        plain.step(&[], &step0);
        assert!(plain.take_step_logits(&[2]).is_empty());
        let keeping = ScoreHook::new(&tokens, 8).keeping_all_logits();
        keeping.step(&[], &step0);
        keeping.step(&[2], &[0.0; 8]);
        let steps = keeping.take_step_logits(&[2]);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].logits, step0);
        // " phantom" (id 3) at the first step, as the model ranked it.
        let lse = log_sum_exp(&step0);
        assert!((steps[0].logprob(3).unwrap_or(0.0) - (1.5 - lse)).abs() < 1e-5);
        assert_eq!(steps[1].logprob(99), None);
        // Scores of the chosen tokens are still there once the logits are taken.
        assert_eq!(keeping.finish(&[2]).len(), 2);
    }

    #[test]
    fn swaps_are_the_near_choices_of_each_step() {
        let tokens = vocab();
        let hook = ScoreHook::new(&tokens, 8);
        // " fan" chosen at 2.0; " phantom" 0.5 behind, " to" 3 behind, end of text close.
        hook.step(&[], &[0.0, 0.0, 2.0, 1.5, -1.0, 0.0, 0.0, 1.9]);
        hook.step(&[2], &[0.0; 8]);
        let swaps = hook.swaps(&[2, 4], 1.0);
        let found: Vec<(usize, i32)> = swaps.iter().map(|s| (s.step, s.id)).collect();
        // Step 1 is flat: every other ordinary token ties with the chosen one.
        assert_eq!(found[0], (0, 3), "phantom only (end of text is no word)");
        assert!(
            found[1..]
                .iter()
                .all(|&(step, id)| step == 1 && id != 4 && id < 7)
        );
        assert_eq!(found.len(), 1 + 6);
        let lse = log_sum_exp(&[0.0, 0.0, 2.0, 1.5, -1.0, 0.0, 0.0, 1.9]);
        assert!((swaps[0].logprob - (1.5 - lse)).abs() < 1e-5);
    }

    #[test]
    fn words_take_their_least_likely_piece() {
        let t = |text: &str, p: f32| ScoredToken {
            text: text.into(),
            logprob: p.ln(),
        };
        let words = word_scores(&[
            t(" Play", 0.9),
            t(" some", 0.8),
            t(" ch", 0.3),
            t("airs", 0.6),
            t(".", 0.9),
            t("", 0.9),
        ]);
        let got: Vec<(&str, f32)> = words
            .iter()
            .map(|w| (w.word.as_str(), (w.probability * 10.0).round() / 10.0))
            .collect();
        assert_eq!(got, vec![("play", 0.9), ("some", 0.8), ("chairs", 0.3)]);
    }
}
