//! Readings of a transcript the grammar pass could not reach: one to three of its words
//! replaced by one or two words of the grammar, so that the whole is a sentence of it
//! ("M, speed 3." -> "fan speed 3.", "Then speak 3." -> "fan speed 3.").
//!
//! The beam search keeps the likeliest grammar prefixes token by token, so a first word the
//! model ranked several nats down ("fan" 4-8 nats behind "M") is gone before the words that
//! would have made up for it are read. A repair starts from the other end: the words the
//! free pass heard are kept around the replaced ones, so only sentences the rest of the
//! audio already agrees with are made. Which first words are worth trying is decided by
//! the free pass's own logits for them at that step ([`Prior`]); the recogniser then
//! searches the repairs best first under the model (`Recognizer::repaired_reading`).

use crate::grammar::{Grammar, TextCursor};

/// Most words of the transcript one repair replaces.
pub const MAX_REPLACED: usize = 3;
/// Most words of the grammar put in their place.
pub const MAX_INSERTED: usize = 2;

/// A reading made by replacing a run of the transcript's words.
#[derive(Debug, Clone, PartialEq)]
pub struct Repair {
    /// Index of the first replaced token (the tokens before it are kept).
    pub from_token: usize,
    /// Index of the first token kept after the replaced ones.
    pub to_token: usize,
    /// The words put in, each after a space (" fan speed").
    pub inserted: String,
    /// The free pass's log-probability of the inserted text's first token at that step.
    pub prior: f32,
}

/// The free pass's log-probability, at token step `step`, of the token that begins the word
/// `word` (None: the free pass did not see that step).
pub trait Prior {
    fn first_token(&self, step: usize, word: &str) -> Option<f32>;
}

/// The token steps of each word of `texts` (token texts in order): a word starts at a token
/// with a letter or digit that begins with a space (or is the first), and owns the tokens up
/// to the next word's, its punctuation included.
pub fn word_spans(texts: &[&str]) -> Vec<(usize, usize)> {
    let mut starts = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let has_word = text.chars().any(|c| c.is_alphanumeric() || c == '\'');
        if has_word && (text.starts_with(' ') || starts.is_empty()) {
            starts.push(i);
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &start)| (start, starts.get(k + 1).copied().unwrap_or(texts.len())))
        .collect()
}

/// Words that carry no request of their own: hesitations and the commonest function words.
const FILLERS: &[&str] = &[
    "a", "an", "and", "er", "hmm", "i", "is", "it", "its", "of", "oh", "ok", "okay", "please",
    "so", "the", "to", "uh", "um", "umm", "well", "yeah", "you",
];

fn is_filler(word: &str) -> bool {
    word.is_empty() || FILLERS.contains(&word)
}

fn plain(text: &str) -> String {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// First words tried per place, the best ranked.
const MAX_FIRST_WORDS: usize = 8;

/// The grammar's words as a trie, walked with a grammar cursor so that a branch the
/// grammar rules out is left at its first letter.
#[derive(Debug, Default)]
struct Trie {
    children: std::collections::BTreeMap<char, Trie>,
    word: Option<usize>,
}

impl Trie {
    fn new(words: &[String]) -> Self {
        Self::of(words.iter().map(String::as_str).enumerate())
    }

    /// A trie of some words, each with its index.
    fn of<'w>(words: impl Iterator<Item = (usize, &'w str)>) -> Self {
        let mut root = Self::default();
        for (i, word) in words {
            let mut node = &mut root;
            for c in word.chars() {
                node = node.children.entry(c).or_default();
            }
            node.word = Some(i);
        }
        root
    }

    /// Every word the grammar allows after `cursor` (each after a space), with the cursor
    /// after it.
    fn allowed(&self, grammar: &Grammar, cursor: &TextCursor, out: &mut Vec<(usize, TextCursor)>) {
        let mut spaced = cursor.clone();
        spaced.feed(grammar, " ");
        self.walk(grammar, &spaced, out);
    }

    fn walk(&self, grammar: &Grammar, cursor: &TextCursor, out: &mut Vec<(usize, TextCursor)>) {
        if let Some(i) = self.word {
            out.push((i, cursor.clone()));
        }
        for (&c, child) in &self.children {
            let mut next = cursor.clone();
            next.feed(grammar, c.encode_utf8(&mut [0; 4]));
            if !next.is_dead() {
                child.walk(grammar, &next, out);
            }
        }
    }
}

/// Repairs of the transcript `texts` (its kept tokens) into sentences of `grammar`, using
/// the grammar's `words`: runs of up to [`MAX_REPLACED`] words (or none, an insertion)
/// replaced by up to [`MAX_INSERTED`] words, at least one word of the transcript kept,
/// the first inserted word's token ranked at most `within` nats behind the best token of
/// its step. The `limit` with the highest prior are returned, best first.
pub fn repairs(
    grammar: &Grammar,
    words: &[String],
    texts: &[&str],
    prior: &impl Prior,
    best_at_step: impl Fn(usize) -> Option<f32>,
    within: f32,
    limit: usize,
) -> Vec<Repair> {
    let spans = word_spans(texts);
    let n = spans.len();
    let trie = Trie::new(words);
    let mut found: Vec<Repair> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // The cursor after the tokens before each place, fed on from the place before.
    let mut base = TextCursor::new(grammar);
    let mut fed = 0;
    for (a, &(from_token, _)) in spans.iter().enumerate() {
        let prefix: String = texts[..from_token].concat();
        base.feed(grammar, &texts[fed..from_token].concat());
        fed = from_token;
        if base.is_dead() {
            // A longer prefix only stays dead.
            break;
        }
        let Some(best) = best_at_step(from_token) else {
            continue;
        };
        // The inserted run's first word: one the model ranked that the grammar allows
        // here (the ranking first: it costs a lookup, the grammar a walk).
        let ranked: Vec<(usize, f32)> = words
            .iter()
            .enumerate()
            .filter_map(|(i, word)| {
                let p = prior.first_token(from_token, word)?;
                (p >= best - within).then_some((i, p))
            })
            .collect();
        let mut allowed = Vec::new();
        Trie::of(ranked.iter().map(|&(i, _)| (i, words[i].as_str()))).allowed(
            grammar,
            &base,
            &mut allowed,
        );
        let prior_of: std::collections::HashMap<usize, f32> = ranked.into_iter().collect();
        let mut firsts: Vec<(usize, f32, TextCursor)> = allowed
            .into_iter()
            .filter_map(|(i, cursor)| Some((i, *prior_of.get(&i)?, cursor)))
            .collect();
        firsts.sort_by(|x, y| y.1.total_cmp(&x.1));
        firsts.truncate(MAX_FIRST_WORDS);
        for (first, p, cursor) in &firsts {
            // One word, or two (the second any the grammar allows after the first).
            let mut runs = vec![(format!(" {}", words[*first]), cursor.clone(), 1)];
            // Two words replace one or more words before the last (see `at_end` below).
            if MAX_INSERTED > 1 && a + 1 < n {
                let mut seconds = Vec::new();
                trie.allowed(grammar, cursor, &mut seconds);
                runs.extend(
                    seconds
                        .into_iter()
                        .map(|(second, c)| (format!(" {} {}", words[*first], words[second]), c, 2)),
                );
            }
            for replaced in 0..=MAX_REPLACED.min(n - a) {
                // At least one word heard that says something stays ("Oh man." is no
                // "Oh yeah").
                let stays = |k: usize| k < a || k >= a + replaced;
                if !(0..n).filter(|&k| stays(k)).any(|k| {
                    let (start, end) = spans[k];
                    !is_filler(&plain(&texts[start..end].concat()))
                }) {
                    continue;
                }
                let to_token = if replaced == 0 {
                    from_token
                } else {
                    spans[a + replaced - 1].1
                };
                let gone = plain(&texts[from_token..to_token].concat());
                // A run that starts with the word it replaces is the repair one word on.
                let first_gone = gone.split(' ').next().unwrap_or_default();
                let suffix: String = texts[to_token..].concat();
                // Words heard after the replaced ones anchor a repair; at the end of the
                // transcript only one word is put for one ("resume playjack" -> "resume
                // playback", never "Switch on the hebe seeds." -> "Switch on ac").
                let at_end = replaced > 0 && to_token == texts.len();
                for (inserted, cursor, count) in &runs {
                    // An insertion is one word.
                    if (replaced == 0 && *count > 1)
                        || (at_end && (replaced > 1 || *count > 1))
                        || plain(inserted) == gone
                        || words[*first] == first_gone
                    {
                        continue;
                    }
                    let mut end = cursor.clone();
                    end.feed(grammar, &suffix);
                    if !end.is_complete() {
                        continue;
                    }
                    let text = format!("{prefix}{inserted}{suffix}");
                    if seen.insert(plain(&text)) {
                        found.push(Repair {
                            from_token,
                            to_token,
                            inserted: inserted.clone(),
                            prior: *p,
                        });
                    }
                }
            }
        }
    }
    found.sort_by(|x, y| y.prior.total_cmp(&x.prior));
    found.truncate(limit);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAR: &str = r#"
root ::= " set the fan to" number | " fan speed" number | " skip this song" | " status of" machine | " troubleshoot" machine
machine ::= " pump" number | " press" number
number ::= " " [0-9]+
"#;

    /// Ranks every listed word's first token at every step.
    struct Ranked(Vec<(&'static str, f32)>);

    impl Prior for Ranked {
        fn first_token(&self, _step: usize, word: &str) -> Option<f32> {
            self.0.iter().find(|(w, _)| *w == word).map(|(_, p)| *p)
        }
    }

    fn texts_of(repair: &Repair, texts: &[&str]) -> String {
        format!(
            "{}{}{}",
            texts[..repair.from_token].concat(),
            repair.inserted,
            texts[repair.to_token..].concat()
        )
    }

    fn run(texts: &[&str], ranked: Ranked) -> Vec<String> {
        let g = Grammar::parse(CAR, "root").expect("test grammar");
        let words = g.words();
        repairs(&g, &words, texts, &ranked, |_| Some(0.0), 10.0, 4)
            .iter()
            .map(|r| texts_of(r, texts))
            .collect()
    }

    #[test]
    fn words_are_spans_of_tokens_with_their_punctuation() {
        assert_eq!(
            word_spans(&[" M", ",", " speed", " 3", "."]),
            vec![(0, 2), (2, 3), (3, 5)]
        );
        assert_eq!(word_spans(&["Set", " f", "an"]), vec![(0, 1), (1, 3)]);
        assert!(word_spans(&[]).is_empty());
    }

    #[test]
    fn a_misheard_first_word_is_replaced_by_one_the_model_ranked() {
        let texts = [" M", ",", " speed", " 3", "."];
        let ranked = Ranked(vec![("fan", -6.0), ("set", -2.0)]);
        assert_eq!(run(&texts, ranked), vec![" fan speed 3."]);
    }

    #[test]
    fn two_misheard_words_may_become_one_or_two() {
        let texts = [" Then", " speak", " 3", "."];
        let ranked = Ranked(vec![("fan", -5.0)]);
        assert_eq!(run(&texts, ranked), vec![" fan speed 3."]);
        let texts = [" tribal", " shoot", " pump", " 2", "."];
        let ranked = Ranked(vec![("troubleshoot", -3.0)]);
        // Which machine is for the model to say when it scores them.
        assert_eq!(
            run(&texts, ranked),
            vec![" troubleshoot pump 2.", " troubleshoot press 2."]
        );
        let texts = [" Step", " to", " sub", " press", " 1"];
        let ranked = Ranked(vec![("status", -4.0)]);
        assert_eq!(run(&texts, ranked), vec![" status of press 1"]);
    }

    #[test]
    fn a_word_not_ranked_or_ranked_too_low_makes_no_repair() {
        let texts = [" M", ",", " speed", " 3", "."];
        assert!(run(&texts, Ranked(vec![])).is_empty());
        assert!(run(&texts, Ranked(vec![("fan", -12.0)])).is_empty());
    }

    #[test]
    fn at_least_one_word_heard_is_kept() {
        // "Hello there" has no word of any sentence: nothing to repair it around.
        let texts = [" Hello", " there", "."];
        let ranked = Ranked(vec![("skip", -1.0), ("fan", -1.0), ("status", -1.0)]);
        assert!(run(&texts, ranked).is_empty());
        // A filler is no word to keep: "Oh, it" is not "Oh, skip this song".
        let g = Grammar::parse(
            r#"root ::= " oh"? (" yes" | " skip this song" | " fan speed" number)
number ::= " " [0-9]+"#,
            "root",
        )
        .expect("test grammar");
        let ranked = Ranked(vec![("yes", -1.0), ("skip", -1.0)]);
        let words = g.words();
        let found = |texts: &[&str]| {
            repairs(&g, &words, texts, &ranked, |_| Some(0.0), 10.0, 4)
                .iter()
                .map(|r| texts_of(r, texts))
                .collect::<Vec<_>>()
        };
        assert!(found(&[" Oh", " man", "."]).is_empty());
        assert_eq!(found(&[" get", " this", " song"]), vec![" skip this song"]);
    }

    #[test]
    fn at_the_end_only_one_word_is_put_for_one() {
        let g = Grammar::parse(
            r#"root ::= " switch on" (" the")? " ac" | " resume playback""#,
            "root",
        )
        .expect("test grammar");
        let words = g.words();
        let ranked = Ranked(vec![("ac", -1.0), ("the", -1.0), ("playback", -1.0)]);
        let found = |texts: &[&str]| {
            repairs(&g, &words, texts, &ranked, |_| Some(0.0), 10.0, 8)
                .iter()
                .map(|r| texts_of(r, texts))
                .collect::<Vec<_>>()
        };
        assert!(found(&[" Switch", " on", " the", " he", "be", " seeds", "."]).is_empty());
        assert_eq!(
            found(&[" resume", " play", "jack"]),
            vec![" resume playback"]
        );
        assert_eq!(
            found(&[" switch", " on", " the", " ax"]),
            vec![" switch on the ac"]
        );
    }

    #[test]
    fn the_best_ranked_repairs_come_first_and_are_capped() {
        let texts = [" Stop", " pump", " 2"];
        let ranked = Ranked(vec![("troubleshoot", -3.0), ("status", -1.0)]);
        assert_eq!(
            run(&texts, ranked),
            vec![
                " status of pump 2",
                " troubleshoot pump 2",
                " troubleshoot press 2"
            ]
        );
        let texts = [" Stop", " pump", " 2"];
        let ranked = Ranked(vec![("troubleshoot", -3.0), ("status", -1.0)]);
        let g = Grammar::parse(CAR, "root").expect("test grammar");
        let capped = repairs(&g, &g.words(), &texts, &ranked, |_| Some(0.0), 10.0, 1);
        assert_eq!(capped.len(), 1);
        assert_eq!(capped[0].inserted, " status of");
    }
}
