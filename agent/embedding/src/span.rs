//! Where a free-text value lies in an utterance, learned from the skills' own sentences.
//!
//! For each intent's free-text slot, the sentences that hold a value for it (template
//! write-outs and authors' examples) are split, after the spotter took the other slots'
//! values, into words before the value, the value, and words after it. Their counts give
//! how likely a word is inside a value rather than around one ("fleetwood", never seen,
//! is likelier inside: values are names; "been", "asking" are carrier words), and how
//! likely a value starts after a word ("for", "by", "on", a clause's start) or ends before
//! one ("please", "would", a clause's end). An utterance's value is the span of one clause
//! that these make likeliest: "dad's been asking all trip for fleetwood mac, go on then"
//! → "fleetwood mac"; "stick on radio 2" → "radio 2".

use crate::clauses::clause_indices;
use edge_core::SlotValue;
use edge_intent::normalize::normalize;
use edge_intent::{TemplateEngine, TrainingSentence};
use std::collections::BTreeMap;
use std::ops::Range;

/// The context of a value at a clause's start or end.
const CLAUSE_START: &str = "<s>";
const CLAUSE_END: &str = "</s>";
/// Weight of the average start (end) rate in a context word's own rate, in occurrences.
const CONTEXT_PRIOR_WEIGHT: f64 = 2.0;
/// Words a value may be made of that no sentence had: the unseen words' share of the
/// probability is spread over this many (Witten-Bell smoothing).
const UNSEEN_VOCABULARY: f64 = 20_000.0;

/// Counts of words in one role (inside values, or around them).
#[derive(Debug, Clone, Default)]
struct WordCounts {
    counts: BTreeMap<String, usize>,
    total: usize,
}

impl WordCounts {
    fn add(&mut self, word: &str) {
        *self.counts.entry(word.to_owned()).or_default() += 1;
        self.total += 1;
    }

    /// Witten-Bell smoothed probability of `word`.
    fn probability(&self, word: &str) -> f64 {
        let types = self.counts.len() as f64;
        let seen = self.counts.get(word).copied().unwrap_or(0) as f64;
        (seen + types / UNSEEN_VOCABULARY) / (self.total as f64 + types).max(1.0)
    }
}

/// How often a value starts after (or ends before) a context word, of the times the word
/// stood where it could have.
#[derive(Debug, Clone, Default)]
struct BoundaryCounts {
    at_boundary: BTreeMap<String, usize>,
    occurrences: BTreeMap<String, usize>,
    /// The sums of both maps.
    boundaries: usize,
    total: usize,
}

impl BoundaryCounts {
    fn seen(&mut self, word: &str, boundary: bool) {
        *self.occurrences.entry(word.to_owned()).or_default() += 1;
        self.total += 1;
        if boundary {
            *self.at_boundary.entry(word.to_owned()).or_default() += 1;
            self.boundaries += 1;
        }
    }

    /// The rate for `word`, drawn towards the average rate when it was seen seldom.
    fn rate(&self, word: &str) -> f64 {
        let average = self.boundaries as f64 / self.total.max(1) as f64;
        let at = self.at_boundary.get(word).copied().unwrap_or(0) as f64;
        let n = self.occurrences.get(word).copied().unwrap_or(0) as f64;
        ((at + CONTEXT_PRIOR_WEIGHT * average) / (n + CONTEXT_PRIOR_WEIGHT)).max(1e-6)
    }
}

/// What the sentences of one intent's free-text slot say about where values lie.
#[derive(Debug, Clone, Default)]
struct SlotSpans {
    inside: WordCounts,
    around: WordCounts,
    starts_after: BoundaryCounts,
    ends_before: BoundaryCounts,
}

impl SlotSpans {
    /// Learns from one sentence: `rest` (its words the spotter left), `clause_of` (the
    /// clause of each), and the value at `start..end` of `rest`.
    fn learn(&mut self, rest: &[String], clause_of: &[usize], start: usize, end: usize) {
        for (i, word) in rest.iter().enumerate() {
            if (start..end).contains(&i) {
                self.inside.add(word);
            } else {
                self.around.add(word);
            }
        }
        for i in 0..rest.len() {
            // Where a value could start: at any word not inside this one, after the word
            // before it in its clause (or the clause's start); where it could end, likewise.
            let (before, after) = contexts(rest, clause_of, i);
            let inside = (start..end).contains(&i);
            if !inside || i == start {
                self.starts_after.seen(&before, i == start);
            }
            if !inside || i + 1 == end {
                self.ends_before.seen(&after, i + 1 == end);
            }
        }
    }

    /// How much likelier `word` is inside a value than around one (natural log).
    fn inside_log_ratio(&self, word: &str) -> f64 {
        (self.inside.probability(word) / self.around.probability(word).max(1e-12)).ln()
    }

    /// The likeliest value span of `rest` within one clause, at most `max_words` long, if
    /// it holds a word no likelier around a value than a word never seen.
    fn best(
        &self,
        rest: &[String],
        clause_of: &[usize],
        max_words: usize,
    ) -> Option<(usize, usize)> {
        let ratios: Vec<f64> = rest.iter().map(|w| self.inside_log_ratio(w)).collect();
        // A value needs a word at least as likely inside one as a word never seen: one
        // of carrier words only ("play some music") is none.
        let content = self.inside_log_ratio("") - 1e-9;
        let mut best: Option<(f64, usize, usize)> = None;
        for start in 0..rest.len() {
            let (before, _) = contexts(rest, clause_of, start);
            let mut inside = 0.0;
            for end in start + 1..=rest.len().min(start + max_words) {
                if clause_of[end - 1] != clause_of[start] {
                    break;
                }
                inside += ratios[end - 1];
                let (_, after) = contexts(rest, clause_of, end - 1);
                let score = self.starts_after.rate(&before).ln()
                    + self.ends_before.rate(&after).ln()
                    + inside;
                if ratios[start..end].iter().any(|r| *r >= content)
                    && best.is_none_or(|(s, _, _)| score > s)
                {
                    best = Some((score, start, end));
                }
            }
        }
        best.map(|(_, start, end)| (start, end))
    }
}

/// The word before and after `rest[i]` in its clause, or the clause's start or end.
fn contexts(rest: &[String], clause_of: &[usize], i: usize) -> (String, String) {
    let before = if i > 0 && clause_of[i - 1] == clause_of[i] {
        rest[i - 1].clone()
    } else {
        CLAUSE_START.to_owned()
    };
    let after = if i + 1 < rest.len() && clause_of[i + 1] == clause_of[i] {
        rest[i + 1].clone()
    } else {
        CLAUSE_END.to_owned()
    };
    (before, after)
}

/// The clause of each word of `rest` in `text`, or one clause for all when they cannot be
/// followed through the text.
pub(crate) fn clauses_or_one(text: &str, rest: &[String]) -> Vec<usize> {
    clause_indices(text, rest).unwrap_or_else(|| vec![0; rest.len()])
}

/// Per intent and free-text slot, where values lie in its sentences.
#[derive(Debug, Clone, Default)]
pub struct FreeTextSpans {
    slots: BTreeMap<(String, String), SlotSpans>,
}

impl FreeTextSpans {
    /// Learns from every sentence of `sentences` that holds a free-text value its words
    /// (after the spotter took the other slots' values) contain.
    pub fn learn(engine: &TemplateEngine, sentences: &[TrainingSentence]) -> Self {
        let mut slots: BTreeMap<(String, String), SlotSpans> = BTreeMap::new();
        for sentence in sentences {
            for (name, _) in engine.text_slots(&sentence.intent) {
                let Some(SlotValue::Text(value)) = sentence.slots.get(&name) else {
                    continue;
                };
                let value = normalize(value);
                let (_, rest) = engine.spot_slots_and_rest(&sentence.intent, &sentence.text);
                if value.is_empty() || value.len() > rest.len() {
                    continue;
                }
                let Some(start) = rest.windows(value.len()).position(|w| w == value) else {
                    continue;
                };
                let clause_of = clauses_or_one(&sentence.text, &rest);
                slots
                    .entry((sentence.intent.clone(), name))
                    .or_default()
                    .learn(&rest, &clause_of, start, start + value.len());
            }
        }
        Self { slots }
    }

    /// Whether sentences taught where `intent`'s `slot` lies.
    pub fn knows(&self, intent: &str, slot: &str) -> bool {
        self.slots
            .contains_key(&(intent.to_owned(), slot.to_owned()))
    }

    /// The likeliest value of `intent`'s free-text `slot` in `rest` (the utterance `text`'s
    /// words the spotter left), as a range of `rest`: in one clause, at most `max_words`
    /// long, holding a word no likelier around a value than a word never seen.
    pub fn best(
        &self,
        intent: &str,
        slot: &str,
        text: &str,
        rest: &[String],
        max_words: usize,
    ) -> Option<Range<usize>> {
        let spans = self.slots.get(&(intent.to_owned(), slot.to_owned()))?;
        let clause_of = clauses_or_one(text, rest);
        spans
            .best(rest, &clause_of, max_words)
            .map(|(start, end)| start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example skills' sentences.
    fn learned() -> (TemplateEngine, FreeTextSpans) {
        let engine = crate::tier::tests::engine();
        let spans = FreeTextSpans::learn(&engine, &engine.training_sentences(6));
        (engine, spans)
    }

    fn value(
        (engine, spans): &(TemplateEngine, FreeTextSpans),
        intent: &str,
        slot: &str,
        text: &str,
    ) -> Option<String> {
        let (_, rest) = engine.spot_slots_and_rest(intent, text);
        spans
            .best(intent, slot, text, &rest, 8)
            .map(|range| rest[range].join(" "))
    }

    #[test]
    fn values_lie_where_the_sentences_put_them() {
        let learned = learned();
        assert!(learned.1.knows("media.play", "query"));
        assert!(!learned.1.knows("media.volume", "query"));
        // Unseen names are values; words the sentences use around values are not; a
        // value starts after the words that opened values ("for", "on", "at") and ends at
        // a clause's end.
        for (intent, slot, text, expected) in [
            (
                "media.play",
                "query",
                "dad's been asking all trip for fleetwood mac, go on then",
                "fleetwood mac",
            ),
            ("media.play", "query", "stick on radio 2", "radio 2"),
            (
                "nav.navigate_to",
                "destination",
                "I've got a meeting at 10 downing street, get me there",
                "10 downing street",
            ),
            (
                "troubleshoot.start",
                "symptom",
                "press 2 keeps tripping out, can you run me through the checks",
                "keeps tripping out",
            ),
        ] {
            assert_eq!(
                value(&learned, intent, slot, text).as_deref(),
                Some(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn no_value_of_carrier_words_alone_nor_longer_than_the_limit() {
        let learned = learned();
        assert_eq!(
            value(&learned, "nav.navigate_to", "destination", "take me there"),
            None
        );
        let text = "put on one two three four five six seven eight nine ten";
        let (_, rest) = learned.0.spot_slots_and_rest("media.play", text);
        let range = learned
            .1
            .best("media.play", "query", text, &rest, 3)
            .expect("a span");
        assert!(range.len() <= 3 && range.start >= 2, "{range:?}");
    }

    #[test]
    fn the_clause_of_each_word_is_followed_through_the_text() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            clauses_or_one("go on, play jazz. Now!", &words("go on play jazz now")),
            vec![0, 0, 1, 1, 2]
        );
        // Words the text does not have in that order: one clause for all.
        assert_eq!(
            clauses_or_one("play jazz, go", &words("go play")),
            vec![0, 0]
        );
    }
}
