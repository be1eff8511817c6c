//! Grammar bias and scoring inside Whisper's decoding loop, through whisper.cpp's logits
//! filter (called once per generated token, before the token is chosen).
//!
//! Bias: a token that would take the text out of the grammar has `penalty` subtracted from
//! its logit, as whisper.cpp's own grammar sampling does; end of text is penalised unless
//! the text is a whole sentence. The decode is greedy, so only the tokens that could still
//! be the best need checking: they are visited from the highest logit down until no
//! remaining token can beat the best one after penalties.
//!
//! Scoring: the log-probability of each chosen token under the model's own distribution
//! (before any penalty), so a biased and a free transcript of one recording can be compared.

use crate::grammar::{Grammar, TextCursor};
use std::os::raw::{c_int, c_void};

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

    fn text(&self, id: i32) -> Option<&str> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.texts.get(i))
            .map(String::as_str)
    }
}

/// One decoded token and its log-probability under the unbiased model.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredToken {
    pub text: String,
    pub logprob: f32,
}

/// State shared with the logits filter during one decode.
#[derive(Debug)]
pub struct DecodeHook<'a> {
    tokens: &'a TokenTexts,
    grammar: Option<(&'a Grammar, f32)>,
    n_vocab: usize,
    /// The cursor after the first `usize` generated tokens.
    prefix: Option<(usize, TextCursor)>,
    previous: Vec<f32>,
    previous_lse: f32,
    chosen: Vec<(i32, f32)>,
}

/// Candidates sorted at first; more only when all of them are ruled out.
const FIRST_CANDIDATES: usize = 64;

impl<'a> DecodeHook<'a> {
    /// `grammar`: the grammar and the penalty for leaving it (none: only score).
    pub fn new(
        tokens: &'a TokenTexts,
        n_vocab: usize,
        grammar: Option<(&'a Grammar, f32)>,
    ) -> Self {
        Self {
            tokens,
            grammar,
            n_vocab,
            prefix: None,
            previous: Vec::new(),
            previous_lse: f32::NEG_INFINITY,
            chosen: Vec::new(),
        }
    }

    /// The filter whisper.cpp calls; its user data must be a `*mut DecodeHook`.
    ///
    /// # Safety
    ///
    /// `user_data` points to a live `DecodeHook` used by no one else during the decode;
    /// `tokens` and `logits` are whisper.cpp's (`n_tokens` entries, and `n_vocab` logits).
    #[allow(unsafe_code)]
    pub unsafe extern "C" fn filter(
        _ctx: *mut whisper_rs_sys::whisper_context,
        _state: *mut whisper_rs_sys::whisper_state,
        tokens: *const whisper_rs_sys::whisper_token_data,
        n_tokens: c_int,
        logits: *mut f32,
        user_data: *mut c_void,
    ) {
        if user_data.is_null() || logits.is_null() {
            return;
        }
        // SAFETY: as documented above; whisper.cpp calls the filter from the decoding thread
        // while `whisper_full` runs, which is when the hook is alive and borrowed for it.
        let hook = unsafe { &mut *user_data.cast::<DecodeHook>() };
        let ids: Vec<i32> = if tokens.is_null() || n_tokens <= 0 {
            Vec::new()
        } else {
            // SAFETY: whisper.cpp passes its sequence of `n_tokens` token records.
            unsafe { std::slice::from_raw_parts(tokens, n_tokens as usize) }
                .iter()
                .map(|t| t.id)
                .collect()
        };
        // SAFETY: the logits buffer holds one float per vocabulary entry.
        let logits = unsafe { std::slice::from_raw_parts_mut(logits, hook.n_vocab) };
        hook.step(&ids, logits);
    }

    /// One decoding step: score the token chosen last step, then bias this step's logits.
    pub fn step(&mut self, ids: &[i32], logits: &mut [f32]) {
        if let Some(&last) = ids.last()
            && ids.len() == self.chosen.len() + 1
            && let Some(&logit) = self.previous.get(last as usize)
        {
            self.chosen.push((last, logit - self.previous_lse));
        }
        self.previous.clear();
        self.previous.extend_from_slice(logits);
        self.previous_lse = log_sum_exp(logits);
        if let Some((grammar, penalty)) = self.grammar
            && penalty > 0.0
        {
            let cursor = self.cursor_after(grammar, ids);
            self.bias(grammar, penalty, &cursor, logits);
            self.prefix = Some((ids.len(), cursor));
        }
    }

    /// After the decode: the end-of-text token that closed it is scored too.
    pub fn finish(mut self) -> Vec<ScoredToken> {
        let eot = self.tokens.eot();
        if let Some(&logit) = self.previous.get(eot as usize)
            && logit.is_finite()
        {
            self.chosen.push((eot, logit - self.previous_lse));
        }
        self.chosen
            .into_iter()
            .map(|(id, logprob)| ScoredToken {
                text: self.tokens.text(id).unwrap_or("").to_owned(),
                logprob,
            })
            .collect()
    }

    fn cursor_after(&self, grammar: &Grammar, ids: &[i32]) -> TextCursor {
        let (mut cursor, from) = match &self.prefix {
            Some((n, cursor)) if *n <= ids.len() => (cursor.clone(), *n),
            _ => (TextCursor::new(grammar), 0),
        };
        for &id in &ids[from..] {
            if let Some(text) = self.tokens.text(id) {
                cursor.feed(grammar, text);
            }
        }
        cursor
    }

    fn bias(&self, grammar: &Grammar, penalty: f32, cursor: &TextCursor, logits: &mut [f32]) {
        let eot = self.tokens.eot();
        let mut candidates: Vec<(f32, i32)> = logits
            .iter()
            .enumerate()
            .take(eot as usize + 1)
            .filter(|(_, l)| l.is_finite())
            .map(|(i, &l)| (l, i as i32))
            .collect();
        let by_logit = |a: &(f32, i32), b: &(f32, i32)| b.0.total_cmp(&a.0);
        let first = FIRST_CANDIDATES.min(candidates.len());
        if first < candidates.len() && first > 0 {
            candidates.select_nth_unstable_by(first - 1, by_logit);
        }
        candidates[..first].sort_unstable_by(by_logit);
        let mut best = f32::NEG_INFINITY;
        let spaced = {
            let mut c = cursor.clone();
            c.feed(grammar, " ");
            c.at_next_word(grammar)
        };
        let mut sorted_all = first == candidates.len();
        let mut i = 0;
        while i < candidates.len() {
            if i == first && !sorted_all {
                candidates[first..].sort_unstable_by(by_logit);
                sorted_all = true;
            }
            let (logit, id) = candidates[i];
            if logit <= best {
                break; // nothing below can win any more
            }
            let allowed = if id == eot {
                cursor.is_complete()
            } else {
                let text = self.tokens.text(id).unwrap_or("");
                // A token that starts a word continues from the space read once.
                let (mut next, rest) = match (&spaced, text.strip_prefix(' ')) {
                    (Some(spaced), Some(rest))
                        if rest.starts_with(|c: char| c.is_alphanumeric()) =>
                    {
                        (spaced.clone(), rest)
                    }
                    _ => (cursor.clone(), text),
                };
                next.feed(grammar, rest);
                !next.is_dead()
            };
            let after = if allowed {
                logit
            } else {
                logits[id as usize] -= penalty;
                logit - penalty
            };
            best = best.max(after);
            i += 1;
        }
    }
}

fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    max + logits
        .iter()
        .filter(|l| l.is_finite())
        .map(|l| (l - max).exp())
        .sum::<f32>()
        .ln()
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

    #[test]
    fn tokens_leaving_the_grammar_lose_the_penalty_and_the_best_allowed_one_wins() {
        let grammar =
            Grammar::parse(r#"root ::= " set the fan to" " " [0-9]+"#, "root").expect("test input");
        let tokens = vocab();
        let mut hook = DecodeHook::new(&tokens, 8, Some((&grammar, 10.0)));
        // After " set the": " phantom" is the model's favourite, " fan" second.
        let mut logits = vec![0.0, 0.0, 4.0, 5.0, 0.0, 0.0, 0.0, 1.0];
        hook.step(&[0, 1], &mut logits);
        assert_eq!(logits[3], -5.0, "phantom penalised");
        assert_eq!(logits[2], 4.0, "fan untouched");
        // End of text could not win any more, so it was not even looked at.
        assert_eq!(logits[7], 1.0);
        // After " set the fan to 5": end of text is allowed.
        let mut logits = vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.0];
        hook.step(&[0, 1, 2, 4, 5], &mut logits);
        assert_eq!(logits[7], 3.0);
    }

    #[test]
    fn scores_are_the_unbiased_model_s() {
        let grammar = Grammar::parse(r#"root ::= " set the fan""#, "root").expect("test input");
        let tokens = vocab();
        let mut hook = DecodeHook::new(&tokens, 8, Some((&grammar, 100.0)));
        let mut step0 = vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, f32::NEG_INFINITY];
        let expected = 2.0 - log_sum_exp(&step0);
        hook.step(&[], &mut step0);
        let mut step1 = vec![0.0; 8];
        hook.step(&[0], &mut step1);
        let scored = hook.finish();
        assert_eq!(scored[0].text, " set");
        assert!((scored[0].logprob - expected).abs() < 1e-6);
        // The closing end of text, scored from the last step's unbiased logits.
        assert_eq!(scored.len(), 2);
        assert!((scored[1].logprob - (1.0f32 / 8.0).ln()).abs() < 1e-5);
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
