//! The tier as the daemon and `edge-agentctl nlu` run it: the skills' training sentences
//! and the negatives fitted into a [`Classifier`], and an utterance's vector turned into a
//! [`Verdict`]: act (with slots from the template tier's recognisers), ask ("Did you mean
//! ...?", "Which machine?") or none.

use crate::clauses::{clause_indices, split_clauses};
use crate::span::FreeTextSpans;
use crate::{Classifier, Decision, FitError, Method, NONE, Ranking, Thresholds};
use edge_core::{Recognition, SlotKind, SlotValue, Slots, Tier};
use edge_intent::normalize::{NEGATIONS, normalize};
use edge_intent::{TemplateEngine, TrainingSentence, TrainingSource};
use std::collections::{BTreeMap, BTreeSet};

mod rules;
use rules::{
    COMMON_WORDS, REFUSAL_MIN_SHARE, as_it_is_phrases, conditions, none_only_words,
    opens_with_a_condition, opens_with_a_time, says_no, someones_things, words_after_negations,
    words_owned, words_owned_by,
};

/// Write-outs of each template in the training set.
pub const SENTENCES_PER_TEMPLATE: usize = 6;

/// Least cosine between an utterance and an author's example for the example's enum
/// slots to be taken over ("I'm freezing" → direction warmer).
const EXAMPLE_SLOTS_MIN_COSINE: f32 = 0.6;

/// A word implies a slot's value when at least this many of the intent's sentences with
/// that value have it, in a share this many times larger than of its sentences with
/// another value: "rain" and "drafty" go with close, "window" and "passenger" with
/// neither ([`EmbeddingTier::speaks_for`]). Three, not two: "car" is in two of the
/// sentences that switch the air conditioning on and none that switch it off, and "the
/// air con in this car is amazing" is no request to switch it on (2026-12-05: on the dev
/// sets three out-of-domain actions fewer, no paraphrase lost).
const VALUE_WORD_MIN_SENTENCES: usize = 3;
const VALUE_WORD_MIN_RATIO: f32 = 2.0;

/// An utterance of at most this many words (besides [`NOT_A_REQUEST`]) is acted on only
/// when a sentence of the intent is nearly the same ([`FRAGMENT_MIN_COSINE`]).
const FRAGMENT_WORDS: usize = 2;
const FRAGMENT_MIN_COSINE: f32 = 0.95;
/// An intent with fewer of its sentences filling no slot than this share never acts on
/// an utterance that fills none: a value is asked for.
const SLOTLESS_MAX_SHARE: f32 = 0.05;

/// Words that carry no request: an utterance that is one slot value and these alone ("pump
/// two", "the passenger side please") names no intent, however near its vector is.
const NOT_A_REQUEST: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "on", "in", "at", "to", "for", "it", "its", "is",
    "please", "uh", "um", "er", "ah", "oh", "okay", "ok", "so", "now", "then", "number",
];

/// The sentences to embed before fitting, in order: the skills' (from
/// [`TemplateEngine::training_sentences`]), then the negatives. Their labels follow the
/// same order.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    pub sentences: Vec<TrainingSentence>,
    pub negatives: Vec<String>,
    /// Where the sentences' free-text values lie, for the utterances' own.
    pub spans: FreeTextSpans,
}

impl TrainingSet {
    /// The training set of `engine`'s intents with `negatives` as the `none` class.
    pub fn new(engine: &TemplateEngine, negatives: &[&str]) -> Self {
        let sentences = engine.training_sentences(SENTENCES_PER_TEMPLATE);
        Self {
            spans: FreeTextSpans::learn(engine, &sentences),
            sentences,
            negatives: negatives.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    /// Every text to embed, skills' sentences first.
    pub fn texts(&self) -> Vec<String> {
        self.sentences
            .iter()
            .map(|t| t.text.clone())
            .chain(self.negatives.iter().cloned())
            .collect()
    }

    /// The label of each text of [`TrainingSet::texts`].
    pub fn labels(&self) -> Vec<String> {
        self.sentences
            .iter()
            .map(|t| t.intent.clone())
            .chain(self.negatives.iter().map(|_| NONE.to_owned()))
            .collect()
    }
}

/// What the tier makes of an utterance.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Act on it: every required slot is filled.
    Accept(Recognition),
    /// Ask before acting: the intent was near the threshold ("Did you mean ...?", a
    /// yes/no question) or a required slot is missing ("Which machine?", its value).
    Ask(Clarification),
    /// No skill's request.
    None,
}

/// A question the tier asks instead of acting, and what it would act on. `missing_slot`
/// set: the answer is that slot's value; unset: a yes/no question (after yes, a required
/// slot still missing is asked for with [`ask_for_slot`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Clarification {
    pub intent: String,
    pub slots: Slots,
    pub question: String,
    /// `None`: a yes/no question; `Some(slot)`: the answer is this slot's value.
    pub missing_slot: Option<String>,
}

/// What the tier decided and why, for reports and logs.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub ranking: Ranking,
    pub decision: Decision,
    pub verdict: Verdict,
}

impl Judgement {
    /// Whether this judgement overrules a template's reading as `intent` that rests on
    /// free text (see `TemplateEngine::rests_on_free_text`): unless the tier accepts the
    /// same intent, a carrier phrase and any words after it are not enough to act on.
    /// The tier may accept another intent ("go to the following track" is the next track,
    /// not a destination), ask, or find no skill's request ("play the previous song
    /// again").
    pub fn overrules_free_text(&self, intent: &str) -> bool {
        !matches!(&self.decision, Decision::Accept(agreed) if agreed == intent)
    }

    /// The skill request this judgement reads `text` as, acted on or asked about ("Did you
    /// mean ...?", "Which machine?"): a second opinion on another reading of the same audio.
    /// A question is enough there: the other reading already names the command, and the
    /// two agree ("now we go to the office." leans to the route "navigate to the office."
    /// names). `None` when the tier found no skill's request.
    pub fn leaning_intent(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Accept(recognition) => Some(&recognition.intent),
            Verdict::Ask(clarification) => Some(&clarification.intent),
            Verdict::None => None,
        }
    }
}

/// The fitted tier of one skills catalog.
#[derive(Debug, Clone)]
pub struct EmbeddingTier {
    classifier: Classifier,
    thresholds: Thresholds,
    /// The skills' training sentences, in the classifier's order (the negatives follow).
    sentences: Vec<TrainingSentence>,
    /// Per intent, the words of its sentences that are not free-text slot values: what
    /// is left of an utterance around them is the free text ("I wanna hear | hotel
    /// california | please").
    carrier: BTreeMap<String, BTreeSet<String>>,
    /// Where free-text values lie in the intents' sentences.
    spans: FreeTextSpans,
    /// Per intent, the first words of its sentences.
    openers: BTreeMap<String, BTreeSet<String>>,
    /// Per intent, the words its sentences put right after a negation ("need" in "I
    /// don't need the route"): said negated, they are how the intent is asked for.
    negated: BTreeMap<String, BTreeSet<String>>,
    /// Content words of the negatives that no skill sentence has ("thermostat", "bass"):
    /// a request that uses one is asked about, not acted on. Empty unless
    /// `ask_on_none_words` is set.
    none_only: BTreeSet<String>,
    /// Per label (each intent, and `none` for the negatives): how many of its sentences
    /// there are, and how many of them have each word.
    word_counts: WordCounts,
    /// Per intent, the words its sentences put right after "your" ("your directions").
    yours: BTreeMap<String, BTreeSet<String>>,
    /// Per intent, the things its sentences name as someone's ([`rules::someones_things`]:
    /// "follow my brother's car").
    someones: BTreeMap<String, BTreeSet<String>>,
    /// The intents most of whose sentences say no (the dialogue's no): a negation is how
    /// they are asked for.
    refusals: BTreeSet<String>,
    /// Per intent, the condition words its sentences use as conditions
    /// ([`rules::conditions`]: "until" in "shut pump 3 down until the fitter's been").
    conditions: BTreeMap<String, BTreeSet<String>>,
    /// Per intent, the [`AS_IT_IS`] phrases its sentences have (by index).
    as_it_is: BTreeMap<String, BTreeSet<usize>>,
    /// Per intent, the verdicts its sentences pass after a copula ([`rules::verdicts`]:
    /// "fine" in the dialogue's "that's fine, go ahead"; not "perfect" in "22 degrees
    /// would be perfect").
    verdicts: BTreeMap<String, BTreeSet<String>>,
    /// Per intent, the deeds its sentences tell of ([`rules::past_deeds`]).
    deeds: BTreeMap<String, BTreeSet<String>>,
    /// Per label, the same counts of the words right after a possessive ("phone" in "mute
    /// my phone"): whose things each label speaks of.
    owned: WordCounts,
    /// Per intent and slot: the same counts over the intent's sentences with each value of
    /// the slot (which words go with "close" and which with "open"), and over all of them.
    value_counts: BTreeMap<(String, String), ValueWords>,
    /// Per intent, the share of its sentences that fill none of its slots.
    slotless: BTreeMap<String, f32>,
}

/// Per label: its number of sentences, and in how many of them each word is.
type WordCounts = BTreeMap<String, SentenceWords>;

/// A number of sentences, and in how many of them each word is.
type SentenceWords = (usize, BTreeMap<String, usize>);

/// Counts one sentence of `label`, normalised as `words`, in `counts`.
fn count_words(counts: &mut WordCounts, label: &str, words: &[String]) {
    count_sentence(counts.entry(label.to_owned()).or_default(), words);
}

/// Counts one sentence, normalised as `words`, in `counts`.
fn count_sentence((sentences, per_word): &mut SentenceWords, words: &[String]) {
    *sentences += 1;
    for word in words.iter().collect::<BTreeSet<_>>() {
        *per_word.entry(word.clone()).or_default() += 1;
    }
}

/// Per value of one slot, and over all the sentences with the slot: the words.
#[derive(Debug, Clone, Default)]
struct ValueWords {
    per_value: WordCounts,
    all: SentenceWords,
}

impl EmbeddingTier {
    /// Fits the tier on `set` embedded as `vectors` (one per [`TrainingSet::texts`]).
    pub fn fit(
        set: TrainingSet,
        vectors: Vec<Vec<f32>>,
        method: Method,
        thresholds: Thresholds,
    ) -> Result<Self, FitError> {
        let classifier = Classifier::fit(vectors, &set.labels(), method)?;
        let mut carrier: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut openers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut negated: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut word_counts = WordCounts::new();
        let mut owned = WordCounts::new();
        let mut as_it_is: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        let mut conditions_used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut verdicts_passed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut deeds: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut yours: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut someones: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        // Per intent: its sentences, and how many of them say no.
        let mut saying_no: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut value_counts: BTreeMap<(String, String), ValueWords> = BTreeMap::new();
        for sentence in &set.sentences {
            let values: BTreeSet<String> = sentence
                .slots
                .values()
                .filter_map(|v| match v {
                    SlotValue::Text(t) => Some(normalize(t)),
                    _ => None,
                })
                .flatten()
                .collect();
            let words = normalize(&sentence.text);
            if let Some(first) = words.first() {
                openers
                    .entry(sentence.intent.clone())
                    .or_default()
                    .insert(first.clone());
            }
            count_words(&mut word_counts, &sentence.intent, &words);
            count_words(&mut owned, &sentence.intent, &words_owned(&words));
            as_it_is
                .entry(sentence.intent.clone())
                .or_default()
                .extend(as_it_is_phrases(&words));
            negated
                .entry(sentence.intent.clone())
                .or_default()
                .extend(words_after_negations(&words).into_iter().map(str::to_owned));
            conditions_used
                .entry(sentence.intent.clone())
                .or_default()
                .extend(conditions(&words).into_iter().map(str::to_owned));
            verdicts_passed
                .entry(sentence.intent.clone())
                .or_default()
                .extend(rules::verdicts(&words).map(str::to_owned));
            deeds
                .entry(sentence.intent.clone())
                .or_default()
                .extend(rules::past_deeds(&words).map(str::to_owned));
            yours
                .entry(sentence.intent.clone())
                .or_default()
                .extend(words_owned_by(&words, &["your"]));
            someones
                .entry(sentence.intent.clone())
                .or_default()
                .extend(someones_things(&sentence.text));
            let (all, no) = saying_no.entry(sentence.intent.clone()).or_default();
            *all += 1;
            *no += usize::from(says_no(&words));
            for (name, value) in &sentence.slots {
                if let SlotValue::Text(value) = value {
                    let counts = value_counts
                        .entry((sentence.intent.clone(), name.clone()))
                        .or_default();
                    count_words(&mut counts.per_value, value, &words);
                    count_sentence(&mut counts.all, &words);
                }
            }
            carrier
                .entry(sentence.intent.clone())
                .or_default()
                .extend(words.into_iter().filter(|w| !values.contains(w)));
        }
        for negative in &set.negatives {
            let words = normalize(negative);
            count_words(&mut word_counts, NONE, &words);
            count_words(&mut owned, NONE, &words_owned(&words));
        }
        let mut slotless: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for sentence in &set.sentences {
            let (all, none) = slotless.entry(sentence.intent.clone()).or_default();
            *all += 1;
            *none += usize::from(sentence.slots.is_empty());
        }
        let slotless = slotless
            .into_iter()
            .map(|(intent, (all, none))| (intent, none as f32 / all.max(1) as f32))
            .collect();
        let none_only = if thresholds.ask_on_none_words {
            none_only_words(&set)
        } else {
            BTreeSet::new()
        };
        Ok(Self {
            word_counts,
            classifier,
            thresholds,
            sentences: set.sentences,
            spans: set.spans,
            carrier,
            openers,
            negated,
            as_it_is,
            conditions: conditions_used,
            verdicts: verdicts_passed,
            deeds,
            yours,
            someones,
            refusals: saying_no
                .into_iter()
                .filter(|(_, (all, no))| *no as f32 > REFUSAL_MIN_SHARE * *all as f32)
                .map(|(intent, _)| intent)
                .collect(),
            owned,
            none_only,
            value_counts,
            slotless,
        })
    }

    /// The classifier (class sizes, scores).
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// What to do with `text`, whose vector is `vector`.
    pub fn judge(&self, engine: &TemplateEngine, text: &str, vector: &[f32]) -> Judgement {
        let ranking = self.classifier.rank(vector);
        let mut decision = ranking.decide(&self.thresholds);
        let tokens = normalize(text);
        // The words that could make a request (fillers and articles left out).
        let words = tokens
            .iter()
            .filter(|w| !NOT_A_REQUEST.contains(&w.as_str()))
            .count();
        // Unsure of the intent, and a question none of its sentences opens like ("what's
        // the capital and friends" near finding a place): two signs of another request.
        // Refused, not asked about ("Did you mean: find the nearest place?" answered a
        // question about France in the demo).
        if let Decision::Ask(intent) = &decision
            && self.asks_unlike_the_intent(intent, &tokens)
        {
            decision = Decision::None;
        }
        // Told not to do it ("don't open the window, it's pouring"; "whatever you do,
        // don't change the temperature"), or trailing off ("so yeah"): no request at all.
        if edge_intent::normalize::trails_off(&tokens) {
            decision = Decision::None;
        }
        if decision.intent().is_some_and(|intent| {
            self.negates_the_request(intent, &tokens) || self.negates_it_after_a_lead(intent, text)
        }) {
            decision = Decision::None;
        }
        // The single nearest training sentence is a negative: the mean of the k nearest
        // can hide it ("turn on the extraction fan in hall two" beside the negative "turn
        // on the extraction fans in bay 2"). Asked about, never acted on.
        // One or two words unlike any sentence of the intent ("windows"), without a word
        // more common in its sentences than in the negatives ("you", near "you bet"), or
        // with a word none of its sentences has ("air fryer"), are too little to act on:
        // a fragment or noise. Asked about, never acted on. So is a lone word no template
        // takes ("hold", which is how "call mom" is often heard): the templates list the
        // words that are commands alone. In one of the intent's own templates word for
        // word, a name is no unknown word ("navigate to Berlin"; "can you play podcasts"
        // still is).
        // Whether one of `intent`'s own templates takes the utterance word for word (only
        // asked where a name might count).
        let templated = |intent: &str| engine.recognize_exact(text).intent == intent;
        if let Decision::Accept(intent) = &decision {
            let nearest = |label: &str| self.classifier.nearest(vector, label).map(|(_, c)| c);
            let fragment = tokens.len() == 1
                || words <= FRAGMENT_WORDS
                    && (nearest(intent).is_none_or(|c| c < FRAGMENT_MIN_COSINE)
                        || !self.has_a_word_of(intent, &tokens)
                        || !self.knows_every_word(intent, &tokens, |w| {
                            rules::written_as_a_name(text, w) && templated(intent)
                        }));
            if nearest(NONE) >= nearest(intent) || fragment {
                decision = Decision::Ask(intent.clone());
            }
        }
        let mut slots = Slots::new();
        if let Some(intent) = decision.intent().map(str::to_owned) {
            let (spotted, rest) = engine.spot_slots_and_rest(&intent, text);
            slots = spotted;
            // A thing named where the intent's entity would be, that is none of them
            // ("troubleshoot the kiln" on a plant without one): no request this device
            // can serve, so no session is opened and no machine asked for.
            let entity_missing = engine
                .entity_slots(&intent)
                .iter()
                .any(|slot| !slots.contains_key(slot));
            if entity_missing && self.names_an_unknown_thing(&intent, &tokens) {
                decision = Decision::None;
            }
            // A thing named (after a determiner, or in two words: "the nearest tyre
            // shop") where a template has a required enum slot, that is none of its
            // values nor a word of the intent's sentences ("find a hotel nearby"):
            // something no skill offers, not a value to take from an example. A bare
            // unknown word ("icy") is asked about as before. (An empty entity slot beside
            // an unknown thing is none by the rule above.)
            let value_missing = engine
                .required_slots(&intent)
                .iter()
                .any(|slot| !slots.contains_key(slot) && engine.is_enum_slot(&intent, slot));
            let unknown_value = value_missing
                .then(|| {
                    engine.unknown_value_in_place(&intent, text, |w| {
                        NOT_A_REQUEST.contains(&w) || self.is_a_word_of(&intent, w)
                    })
                })
                .flatten();
            if unknown_value.is_some_and(|value| {
                self.names_an_unknown_thing(&intent, &tokens) || value.contains(' ')
            }) {
                decision = Decision::None;
            }
            // One value alone names no request ("pump two"); two together do ("passenger
            // side at nineteen").
            if slots.len() < 2 && rest.iter().all(|w| NOT_A_REQUEST.contains(&w.as_str())) {
                decision = Decision::None;
            } else {
                self.free_text(engine, &intent, text, &rest, vector, &mut slots);
                engine.free_text_as_written(&intent, &mut slots, text);
                // A question put to an intent none of whose sentences opens that way
                // ("are you listening to everything I say" is no request to play):
                // asked about, never acted on.
                // So is a report of the past (or of a habit) the intent's sentences never
                // make, a deed someone did ("I switched the AC off earlier"), a comparison, a verdict on a thing as it is, an opinion or words
                // passed on, another device, a question of what should be or a condition,
                // a wish to keep things as they are, a place elsewhere (the request's free
                // text, a destination, is no place), a request said to someone else,
                // passed on to someone ("tell Dave to ...") or of "your" thing, and what
                // the speaker says they will or could do themselves.
                if matches!(decision, Decision::Accept(_)) {
                    let free_words: Vec<String> = engine
                        .text_slots(&intent)
                        .iter()
                        .filter_map(|(slot, _)| slots.get(slot))
                        .flat_map(|value| normalize(&value.to_string()))
                        .collect();
                    if self.asks_unlike_the_intent(&intent, &tokens)
                        || self.tells_of_the_past(&intent, &tokens)
                        || self.tells_of_a_deed(&intent, &tokens)
                        || self.compares(&intent, &tokens)
                        || self.passes_a_verdict(&intent, text)
                        || self.puts_it_off(&intent, &tokens)
                        || self.reports_an_opinion(&intent, &tokens)
                        || self.names_another_device(&intent, &tokens, &free_words)
                        || self.speaks_of_what_should_be(&intent, &tokens)
                        || self.sets_a_condition(&intent, &tokens, &free_words)
                        || self.says_it_to_someone(&intent, text, &tokens)
                        || rules::relays_a_request(&tokens)
                        || self.says_they_will_do_it(&intent, text)
                        || self.speaks_of_someone_elses_thing(&intent, text, &free_words)
                        || self.keeps_it_as_it_is(&intent, &tokens)
                        || self.places_it_elsewhere(&intent, &tokens, &free_words)
                        || tokens.iter().any(|w| {
                            // A template's free text may name what only the negatives
                            // speak of ("navigate to Berlin"); a name, not "podcasts".
                            self.none_only.contains(w)
                                && !(rules::in_free_text(&free_words, w)
                                    && rules::written_as_a_name(text, w)
                                    && templated(&intent))
                        })
                    {
                        decision = Decision::Ask(intent.clone());
                    }
                }
            }
        }
        let verdict = match &decision {
            Decision::None => Verdict::None,
            Decision::Accept(intent) | Decision::Ask(intent) => {
                // One word is too little to imply a value from an example: "windows" is
                // no request to close them all. The slot is asked for.
                let slots = if words <= 1 {
                    slots
                } else {
                    self.implied_slots(engine, intent, slots, vector, &tokens)
                };
                let missing = engine
                    .required_slots(intent)
                    .into_iter()
                    .find(|name| !slots.contains_key(name));
                // No slot filled, for an intent whose sentences nearly always fill one
                // ("volume two of the book" names no level): which value is asked for,
                // never guessed by the skill's default.
                let missing = missing.or_else(|| {
                    (slots.is_empty()
                        && self
                            .slotless
                            .get(intent)
                            .is_some_and(|share| *share < SLOTLESS_MAX_SHARE))
                    .then(|| engine.slot_to_ask_for(intent))
                    .flatten()
                });
                match (&decision, missing) {
                    (Decision::Accept(_), None) => Verdict::Accept(Recognition {
                        intent: intent.clone(),
                        slots,
                        confidence: ranking.best.score,
                        tier: Tier::Embedding,
                        ..Recognition::none()
                    }),
                    // Sure of the intent: ask for the slot.
                    (Decision::Accept(_), Some(slot)) => {
                        Verdict::Ask(ask_for_slot(engine, intent, slots, slot))
                    }
                    // Unsure: ask about the intent first (the slot, if missing, after yes).
                    _ => Verdict::Ask(ask_whether_meant(engine, intent, slots)),
                }
            }
        };
        Judgement {
            ranking,
            decision,
            verdict,
        }
    }

    /// The clauses of `text` to judge one by one, given the whole's judgement `whole`:
    /// when the whole was asked about and has two or more clauses (and no negation a
    /// clause alone could drop: "don't stop pump 4, it's fine"), its request may be one
    /// clause beside a reason ("stop pump 4, we're going on break"), but not one beside a
    /// condition ("if it gets hot later, would the AC come on by itself") or a name ("Tom,
    /// can you close your window"). Empty otherwise.
    pub fn clauses_to_judge(&self, text: &str, whole: &Judgement) -> Vec<String> {
        let Decision::Ask(intent) = &whole.decision else {
            return Vec::new();
        };
        // A negation a clause alone could drop; a request said to someone else, whose
        // clauses would lose the name ("Tom, can you close your window"); a quote, whose
        // clause alone would lose who said, sang or read it out ("the procedure reads,
        // check the pressure on pump 3").
        let tokens = normalize(text);
        let clauses = split_clauses(text);
        if tokens.iter().any(|w| NEGATIONS.contains(&w.as_str()))
            || self.says_it_to_someone(intent, text, &tokens)
            || clauses.iter().any(|c| rules::opens_a_quote(&normalize(c)))
        {
            return Vec::new();
        }
        // A clause that is a condition ("if it gets hot later, would the AC come on by
        // itself") or a time ("in ten minutes, start pump 3") is no reason beside a
        // request: the request alone would drop it. (A condition inside the other clause
        // is that clause's: "forget the whole thing, I'll do it when I get there".)
        if clauses.len() < 2
            || clauses.iter().any(|c| {
                let words = normalize(c);
                opens_with_a_condition(&words) || opens_with_a_time(&words)
            })
        {
            return Vec::new();
        }
        clauses
    }

    /// `whole` (the judgement of the utterance, which was asked about), or the judgement of
    /// the one clause of `clauses` (vectors `vectors`) accepted as the intent asked about,
    /// by a template word for word or by this tier, when no other clause is accepted as
    /// anything: "stop pump 4, we're going on break" acts as "stop pump 4" would.
    pub fn judge_clauses(
        &self,
        engine: &TemplateEngine,
        whole: Judgement,
        clauses: &[String],
        vectors: &[Vec<f32>],
    ) -> Judgement {
        let Decision::Ask(asked) = &whole.decision else {
            return whole;
        };
        let mut accepted: Vec<Judgement> = clauses
            .iter()
            .zip(vectors)
            .filter_map(|(clause, vector)| {
                let written = engine.recognize_exact(clause);
                if !written.is_none() {
                    return Some(Judgement {
                        ranking: whole.ranking.clone(),
                        decision: Decision::Accept(written.intent.clone()),
                        verdict: Verdict::Accept(Recognition {
                            tier: Tier::Embedding,
                            confidence: whole.ranking.best.score,
                            ..written
                        }),
                    });
                }
                let judged = self.judge(engine, clause, vector);
                matches!(judged.verdict, Verdict::Accept(_)).then_some(judged)
            })
            .collect();
        match accepted.as_slice() {
            [one] if one.decision.intent() == Some(asked.as_str()) => accepted.remove(0),
            _ => whole,
        }
    }

    /// Fills `intent`'s first free-text slot still empty with the words of `rest` (of the
    /// clause of `text` with the most words that are not carrier words, when it has several:
    /// "pump three is vibrating like mad, talk me through it") left
    /// after trimming the intent's carrier words from both ends (at most the slot's
    /// word limit; nothing when nothing is left). An optional slot is filled only when the
    /// intent's sentence nearest to the utterance has it too ("help me figure out what's
    /// wrong with press two" is phrased like an example without a symptom), or when the
    /// value has a word that neither the intent's sentences around their values nor any
    /// other intent's sentence or negative has: a name ("whack on a bit of taylor swift"
    /// is phrased like "whack on a bit of music").
    fn free_text(
        &self,
        engine: &TemplateEngine,
        intent: &str,
        text: &str,
        rest: &[String],
        vector: &[f32],
        slots: &mut Slots,
    ) {
        let Some(carrier) = self.carrier.get(intent) else {
            return;
        };
        let Some((name, max_words)) = engine
            .text_slots(intent)
            .into_iter()
            .find(|(name, _)| !slots.contains_key(name))
        else {
            return;
        };
        let is_carrier = |w: &String| carrier.contains(w) || NOT_A_REQUEST.contains(&w.as_str());
        // Where the skills' own sentences put values, when they have any for this slot.
        let value: Option<&[String]> = if self.spans.knows(intent, &name) {
            self.spans
                .best(intent, &name, text, rest, max_words)
                .map(|span| {
                    let mut end = span.end;
                    // A negation keeps the word it negates ("won't start").
                    if NEGATIONS.contains(&rest[end - 1].as_str()) && end < rest.len() {
                        end += 1;
                    }
                    &rest[span.start..end]
                })
        } else {
            without_carrier(clause_of_most_content(text, rest, &is_carrier), &is_carrier)
                .filter(|words| words.len() <= max_words)
        };
        let Some(value) = value else {
            return;
        };
        let required = engine.required_slots(intent).contains(&name);
        let nearest_has_it = || {
            self.classifier
                .nearest(vector, intent)
                .and_then(|(index, _)| self.sentences.get(index))
                .is_some_and(|s| s.slots.contains_key(&name))
        };
        let names_something = || {
            value.iter().any(|w| {
                !is_carrier(w) && !COMMON_WORDS.contains(&w.as_str()) && self.only_in(intent, w)
            })
        };
        if required || nearest_has_it() || names_something() {
            slots.insert(name, SlotValue::Text(value.join(" ")));
        }
    }

    /// `slots` (what the utterance names) and the required enum slots it implies: those
    /// of the nearest author-written example of the intent, when near enough (relative
    /// phrasings: "I'm freezing" → warmer) and when the utterance has a word that goes
    /// with that value ([`EmbeddingTier::speaks_for`]): "the passenger window has a
    /// rattle" is near "the back right window is letting the rain in", but nothing in it
    /// says close. Entities and numbers are never implied, nor optional slots where the
    /// utterance names any slot: an example's "on my side" says nothing about "twenty one
    /// for the lady next to me" (dev-2: it went to the driver's zone).
    fn implied_slots(
        &self,
        engine: &TemplateEngine,
        intent: &str,
        mut slots: Slots,
        vector: &[f32],
        tokens: &[String],
    ) -> Slots {
        if let Some((index, cosine)) = self.classifier.nearest(vector, intent)
            && cosine >= EXAMPLE_SLOTS_MIN_COSINE
            && let Some(example) = self.sentences.get(index)
            && example.source == TrainingSource::Example
        {
            let required = engine.required_slots(intent);
            // An intent without required slots, of which the utterance names none
            // ("yikes, my eardrums"): the example's slots are all it has to go on.
            let bare = slots.is_empty() && required.is_empty();
            for (name, value) in &example.slots {
                if let SlotValue::Text(text) = value
                    && engine.is_enum_slot(intent, name)
                    && (required.contains(name) || bare)
                    && self.speaks_for(intent, name, text, tokens)
                {
                    slots.entry(name.clone()).or_insert_with(|| value.clone());
                }
            }
        }
        slots
    }
}

/// The words of `rest` (the utterance's words around its slot values, in order) that come
/// from one clause of `text`: the clause (split at commas, semicolons and sentence ends) with
/// the most words that are neither carrier words (`is_carrier`) nor everyday words (the first
/// of them on a tie). All of `rest` when `text` is one clause, or
/// when its words cannot be followed through the clauses.
fn clause_of_most_content<'r>(
    text: &str,
    rest: &'r [String],
    is_carrier: &dyn Fn(&String) -> bool,
) -> &'r [String] {
    let clauses = split_clauses(text).len();
    if clauses < 2 {
        return rest;
    }
    let Some(clause_of) = clause_indices(text, rest) else {
        return rest;
    };
    let content = |clause: usize| {
        rest.iter()
            .zip(&clause_of)
            .filter(|(w, c)| **c == clause && !is_carrier(w) && !COMMON_WORDS.contains(&w.as_str()))
            .count()
    };
    let Some(best) = (0..clauses).max_by_key(|&c| (content(c), std::cmp::Reverse(c))) else {
        return rest;
    };
    let start = clause_of.iter().position(|&c| c == best).unwrap_or(0);
    let end = clause_of
        .iter()
        .rposition(|&c| c == best)
        .map_or(0, |e| e + 1);
    &rest[start..end]
}

/// `rest` without the carrier words at either end; None when nothing else is left. A
/// negation keeps the word it negates: "pump 1 won't start" has the symptom "won't start",
/// though "start" is a carrier word of the intent.
fn without_carrier<'r>(
    rest: &'r [String],
    is_carrier: &dyn Fn(&String) -> bool,
) -> Option<&'r [String]> {
    let start = rest.iter().position(|w| !is_carrier(w))?;
    let mut end = rest.iter().rposition(|w| !is_carrier(w))?;
    if NEGATIONS.contains(&rest[end].as_str()) && end + 1 < rest.len() {
        end += 1;
    }
    Some(&rest[start..=end])
}

/// "Which machine?": the question for `intent`'s missing `slot`.
pub fn ask_for_slot(
    engine: &TemplateEngine,
    intent: &str,
    slots: Slots,
    slot: String,
) -> Clarification {
    let question = match engine.slot_kind(intent, &slot) {
        Some(SlotKind::Entity { list }) => format!("Which {}?", words(list)),
        Some(SlotKind::Enum { .. }) => format!("Which {}?", words(&slot)),
        _ => format!("What {}?", words(&slot)),
    };
    Clarification {
        intent: intent.to_owned(),
        slots,
        question,
        missing_slot: Some(slot),
    }
}

/// "Did you mean: start a machine, pump 3? Say yes or no."
pub fn ask_whether_meant(engine: &TemplateEngine, intent: &str, slots: Slots) -> Clarification {
    // In the skill's own words when a template says it ("Did you mean: start pump 3?").
    if let Some(command) = engine.say_command(intent, &slots) {
        return Clarification {
            intent: intent.to_owned(),
            question: format!("Did you mean: {command}? Say yes or no."),
            slots,
            missing_slot: None,
        };
    }
    let what = engine
        .schema_with_examples(0)
        .intent(intent)
        .map(|i| lowercase_first(&i.description))
        .unwrap_or_else(|| intent.to_owned());
    let values: Vec<String> = slots.values().map(edge_intent::spoken_value).collect();
    let question = if values.is_empty() {
        format!("Did you mean: {what}? Say yes or no.")
    } else {
        format!(
            "Did you mean: {what}, {}? Say yes or no.",
            values.join(", ")
        )
    };
    Clarification {
        intent: intent.to_owned(),
        slots,
        question,
        missing_slot: None,
    }
}

fn words(name: &str) -> String {
    name.replace(['_', '-'], " ")
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use edge_core::{EntityList, EntityLists, LoadedManifest};

    #[test]
    fn free_text_comes_from_the_clause_with_the_most_content() {
        let carrier: BTreeSet<String> = ["talk", "me", "through", "start", "troubleshooting"]
            .map(String::from)
            .into();
        let is_carrier = |w: &String| carrier.contains(w) || NOT_A_REQUEST.contains(&w.as_str());
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        // The machine ("pump three") is spotted already: `rest` is the words around it.
        let rest = words("is vibrating like mad talk me through it");
        assert_eq!(
            clause_of_most_content(
                "pump three is vibrating like mad, talk me through it",
                &rest,
                &is_carrier
            ),
            words("is vibrating like mad")
        );
        let rest = words("is leaking oil where do i start");
        assert_eq!(
            clause_of_most_content(
                "Press 1 is leaking oil. Where do I start?",
                &rest,
                &is_carrier
            ),
            words("is leaking oil"),
            "a sentence end splits clauses too; 'where' is an everyday word"
        );
        // One clause, or words that cannot be followed through the text: all of `rest`.
        let rest = words("is vibrating like mad");
        assert_eq!(
            clause_of_most_content("pump 3 is vibrating like mad", &rest, &is_carrier),
            rest
        );
        assert_eq!(clause_of_most_content("a, b", &rest, &is_carrier), rest);
        assert_eq!(
            split_clauses("set it to 21.5, please"),
            vec!["set it to 21.5", "please"]
        );
        assert_eq!(
            without_carrier(&words("is vibrating like mad talk"), &is_carrier),
            Some(&words("vibrating like mad")[..])
        );
        assert_eq!(
            without_carrier(&words("wont start"), &is_carrier),
            Some(&words("wont start")[..]),
            "the negated carrier word stays"
        );
        assert_eq!(without_carrier(&words("start the"), &is_carrier), None);
    }

    /// The example skills with the demo's machines (also the fixture of `span.rs`'s tests).
    pub(crate) fn engine() -> TemplateEngine {
        let skills = "../../skills";
        let (mut manifests, errors) = LoadedManifest::discover(&[skills.into()]);
        assert!(errors.is_empty(), "{errors:?}");
        manifests.extend(edge_intent::builtin_manifests());
        let mut entities = EntityLists::default();
        entities.insert(
            "machine".into(),
            EntityList {
                values: vec!["pump-2".into(), "pump-3".into()],
                synonyms: Default::default(),
            },
        );
        let (engine, errors) = TemplateEngine::compile(&manifests, &entities, 0.5);
        assert!(errors.is_empty(), "{errors:?}");
        engine
    }

    /// Vectors made by hand: one axis per class; an intent's first author example leans
    /// towards the last axis (its other examples half as far), so an utterance leaning
    /// the same way is nearest to that first example.
    struct Space {
        classes: Vec<String>,
    }

    impl Space {
        fn dim(&self) -> usize {
            self.classes.len() + 1
        }

        /// Between `class` and none: below [`UNSURE`]'s accept, above its ask.
        fn towards_none(&self, class: &str) -> Vec<f32> {
            let mut v = self.along(class, 0.0);
            let none = self.along(NONE, 0.0);
            v.iter_mut().zip(&none).for_each(|(x, n)| *x += 0.2 * n);
            v
        }

        fn along(&self, class: &str, lean: f32) -> Vec<f32> {
            let mut v = vec![0.0; self.dim()];
            let axis = self.classes.iter().position(|c| c == class).expect("class");
            v[axis] = 1.0;
            v[self.dim() - 1] = lean;
            v
        }
    }

    /// Asserts that `text`, embedded as `vector`, is refused: no intent, no question.
    fn assert_no_request(
        tier: &EmbeddingTier,
        engine: &TemplateEngine,
        text: &str,
        vector: &[f32],
    ) {
        let judged = tier.judge(engine, text, vector);
        assert_eq!(judged.decision, Decision::None, "{text}: {judged:?}");
        assert!(
            matches!(judged.verdict, Verdict::None),
            "{text}: {judged:?}"
        );
    }

    fn fitted(engine: &TemplateEngine, thresholds: Thresholds) -> (EmbeddingTier, Space) {
        let set = TrainingSet::new(
            engine,
            &[
                "tell me a joke",
                "order more oil",
                "switch on the samovar at home",
                "is the samovar hot",
                "turn the heating on at home",
                "mute my phone",
                "find my phone",
            ],
        );
        let mut classes: Vec<String> = set.labels();
        classes.dedup();
        classes.sort();
        classes.dedup();
        let space = Space { classes };
        let mut leaned: BTreeSet<String> = BTreeSet::new();
        let vectors = set
            .sentences
            .iter()
            .map(|s| {
                let lean = match s.source {
                    TrainingSource::Example if leaned.insert(s.intent.clone()) => 0.3,
                    TrainingSource::Example => 0.15,
                    _ => 0.0,
                };
                space.along(&s.intent, lean)
            })
            .chain(set.negatives.iter().map(|_| space.along(NONE, 0.0)))
            .collect();
        let tier = EmbeddingTier::fit(set, vectors, Method::Knn { k: 1 }, thresholds).expect("fit");
        (tier, space)
    }

    const SURE: Thresholds = Thresholds {
        accept: 0.9,
        margin: 0.03,
        none_margin: 0.05,
        ask: 0.5,
        ask_on_none_words: false,
    };
    /// Nothing but a vector along one class is sure enough to act on.
    const UNSURE: Thresholds = Thresholds {
        accept: 0.99,
        ..SURE
    };

    #[test]
    fn an_accepted_intent_gets_named_and_implied_slots_and_free_text() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        // Nearest to "I'm freezing" (an example with direction warmer): the enum is implied.
        let cold = tier.judge(
            &engine,
            "my toes are icy",
            &space.along("climate.adjust_temperature", 0.3),
        );
        let Verdict::Accept(r) = &cold.verdict else {
            panic!("{cold:?}")
        };
        assert_eq!(
            r.slots.get("direction"),
            Some(&SlotValue::Text("warmer".into()))
        );
        assert_eq!(r.tier, Tier::Embedding);
        // The machine is named in the utterance; an example's machine is never implied.
        let named = tier.judge(
            &engine,
            "pump three has gone quiet",
            &space.along("troubleshoot.start", 0.3),
        );
        let Verdict::Accept(r) = &named.verdict else {
            panic!("{named:?}")
        };
        assert_eq!(
            r.slots.get("machine"),
            Some(&SlotValue::Text("pump-3".into()))
        );
        // Free text: what is left around the carrier words, when the nearest sentence (here
        // an author's example with a query) has it too.
        let song = tier.judge(
            &engine,
            "I'd like to hear hotel california please",
            &space.along("media.play", 0.3),
        );
        let Verdict::Accept(r) = &song.verdict else {
            panic!("{song:?}")
        };
        assert_eq!(
            r.slots.get("query"),
            Some(&SlotValue::Text("hotel california".into())),
            "{r:?}"
        );
        // Nearest to a sentence without a query (the description): a name is still taken
        // (words no sentence of the intent has around its values), carrier words are not.
        let plain = |text: &str| {
            let judged = tier.judge(&engine, text, &space.along("media.play", 0.0));
            let Verdict::Accept(r) = judged.verdict else {
                panic!("{judged:?}")
            };
            r.slots.get("query").cloned()
        };
        assert_eq!(
            plain("I'd like to hear hotel california please"),
            Some(SlotValue::Text("hotel california".into()))
        );
        assert_eq!(plain("I'd like to hear some music please"), None);
    }

    #[test]
    fn a_catch_all_template_is_acted_on_only_when_the_tier_agrees() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        // The templates read all of these as media.play with a query.
        for text in ["play hotel california", "play the previous song again"] {
            let read = engine.recognize(text);
            assert_eq!(read.intent, "media.play", "{text}");
            assert!(engine.rests_on_free_text(&read), "{text}");
        }
        let play = "play hotel california";
        let agreed = tier.judge(&engine, play, &space.along("media.play", 0.0));
        assert!(!agreed.overrules_free_text("media.play"), "{agreed:?}");
        let other = tier.judge(&engine, play, &space.along("media.next", 0.0));
        assert!(other.overrules_free_text("media.play"), "{other:?}");
        let (unsure_tier, _) = fitted(&engine, UNSURE);
        let unsure = unsure_tier.judge(&engine, play, &space.towards_none("media.play"));
        assert_eq!(
            unsure.decision,
            Decision::Ask("media.play".into()),
            "{unsure:?}"
        );
        assert!(unsure.overrules_free_text("media.play"));
        // As a second opinion on another reading of the audio, a question leans to its
        // intent as an acceptance does; finding no request leans nowhere.
        assert_eq!(agreed.leaning_intent(), Some("media.play"), "{agreed:?}");
        assert_eq!(unsure.leaning_intent(), Some("media.play"), "{unsure:?}");
        let nothing = tier.judge(
            &engine,
            "play the previous song again",
            &space.along(NONE, 0.0),
        );
        assert_eq!(nothing.decision, Decision::None);
        assert!(nothing.overrules_free_text("media.play"), "{nothing:?}");
        assert_eq!(nothing.leaning_intent(), None, "{nothing:?}");
        // Enum and entity slots are no free text: the templates' reading stands alone,
        // also beside free text (the symptom of a machine's troubleshooting).
        for text in [
            "stop pump 3",
            "volume up",
            "fan 5",
            "troubleshoot pump 3 it is leaking oil",
        ] {
            let read = engine.recognize(text);
            assert!(!read.is_none(), "{text}");
            assert!(!engine.rests_on_free_text(&read), "{text}");
        }
    }

    #[test]
    fn an_example_implies_a_value_only_through_a_word_that_goes_with_it() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let window = space.along("window.set", 0.3);
        // Near the window's examples, but nothing in it says open or close: the position
        // is asked for, not taken from the nearest example.
        let rattle = tier.judge(&engine, "the passenger window has a rattle", &window);
        let Verdict::Ask(asked) = &rattle.verdict else {
            panic!("{rattle:?}")
        };
        assert_eq!(asked.missing_slot.as_deref(), Some("position"), "{asked:?}");
        // Fresh air goes with opening in the examples (the nearest one opens): implied.
        let air = tier.judge(&engine, "fresh air through the passenger window", &window);
        let Verdict::Accept(r) = &air.verdict else {
            panic!("{air:?}")
        };
        assert_eq!(
            r.slots.get("position"),
            Some(&SlotValue::Text("open".into())),
            "{r:?}"
        );
        assert_eq!(
            r.slots.get("window"),
            Some(&SlotValue::Text("passenger".into())),
            "{r:?}"
        );
        // The same word after "a" names a thing: nothing implied, the position is asked for.
        let thing = tier.judge(&engine, "a fresh coat on the passenger window", &window);
        let Verdict::Ask(asked) = &thing.verdict else {
            panic!("{thing:?}")
        };
        assert_eq!(asked.missing_slot.as_deref(), Some("position"), "{asked:?}");
        // The same word negated says nothing of opening either.
        let stale = tier.judge(&engine, "the passenger window is not fresh", &window);
        let Verdict::Ask(asked) = &stale.verdict else {
            panic!("{stale:?}")
        };
        assert_eq!(asked.missing_slot.as_deref(), Some("position"), "{asked:?}");
    }

    #[test]
    fn a_report_of_the_past_is_asked_about_not_acted_on() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let troubleshoot = space.along("troubleshoot.start", 0.0);
        let report = tier.judge(
            &engine,
            "pump three was running fine this morning",
            &troubleshoot,
        );
        assert_eq!(
            report.decision,
            Decision::Ask("troubleshoot.start".into()),
            "{report:?}"
        );
        let now = tier.judge(
            &engine,
            "pump three is not running fine, help me fix it",
            &troubleshoot,
        );
        assert!(matches!(now.verdict, Verdict::Accept(_)), "{now:?}");
        // "last" with a time tells of the past too; "did" alone does not ("did pump four
        // trip" asks how it is now), nor "last" without a time.
        let status = space.along("equipment.status", 0.0);
        let text = "did pump 2 stop last night";
        let asked = tier.judge(&engine, text, &status);
        assert_eq!(
            asked.decision,
            Decision::Ask("equipment.status".into()),
            "{asked:?}"
        );
        let now = tier.judge(&engine, "did pump 2 trip", &status);
        assert!(matches!(now.verdict, Verdict::Accept(_)), "{now:?}");
        // "ago" tells of the past, except where the intent's own sentences say so ("I
        // heard an alarm a minute ago, is pump three in fault").
        let fan = space.along("climate.set_fan", 0.0);
        let text = "we had the fan on five an hour ago";
        assert_eq!(
            tier.judge(&engine, text, &fan).decision,
            Decision::Ask("climate.set_fan".into())
        );
        let text = "I heard an alarm a minute ago, is pump two in fault";
        let now = tier.judge(&engine, text, &status);
        assert!(matches!(now.verdict, Verdict::Accept(_)), "{now:?}");
    }

    #[test]
    fn a_comparison_a_verdict_a_past_state_or_putting_up_with_it_is_asked_about() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let fan = space.along("climate.set_fan", 0.0);
        let temperature = space.along("climate.set_temperature", 0.0);
        let warmer = space.along("climate.adjust_temperature", 0.0);
        for (text, intent) in [
            // "than" compares: the number after it is no level to set.
            ("can you set the fan higher than ten", &fan),
            // A verdict on a thing as it is.
            (
                "twenty two degrees is the perfect temperature",
                &temperature,
            ),
            // A past state reported ("we had the", "we kept the").
            ("we had the fan on five earlier this morning", &fan),
            ("we kept the cabin at 21 the whole trip", &temperature),
            // What the speaker will put up with.
            ("it's a bit chilly in here but I'll survive", &warmer),
        ] {
            let asked = tier.judge(&engine, text, intent);
            assert!(
                matches!(asked.verdict, Verdict::Ask(_)),
                "{text}: {asked:?}"
            );
        }
        // Requests beside them stand: no copula before the verdict word, a verdict that
        // answers what came before, a comparison with how it is now.
        let cancel = space.along("nav.cancel", 0.0);
        for (text, intent) in [
            ("set the fan to five, great", &fan),
            (
                "that's fine, I know this street, turn off the directions",
                &cancel,
            ),
            ("twenty five degrees would be nicer than this", &temperature),
            ("it's a bit chilly in here, warm it up", &warmer),
        ] {
            let acted = tier.judge(&engine, text, intent);
            assert!(
                matches!(acted.verdict, Verdict::Accept(_)),
                "{text}: {acted:?}"
            );
        }
    }

    #[test]
    fn an_opinion_another_device_someone_elses_thing_or_a_relayed_request_is_asked_about() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let troubleshoot = space.along("troubleshoot.start", 0.0);
        for text in [
            "my colleague reckons pump three is losing pressure",
            "the fitter thinks pump three won't build pressure",
        ] {
            let asked = tier.judge(&engine, text, &troubleshoot);
            assert!(
                matches!(asked.verdict, Verdict::Ask(_)),
                "{text}: {asked:?}"
            );
        }
        // Someone else's thing.
        let volume = space.along("media.volume", 0.0);
        let asked = tier.judge(&engine, "the neighbours' music is too loud", &volume);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        // Another device, except in the free text.
        let asked = tier.judge(&engine, "turn the TV volume down", &volume);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let play = space.along("media.play", 0.0);
        let acted = tier.judge(&engine, "play some old TV theme tunes", &play);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // A request passed on to someone; "tell me", or a machine told, is for the
        // assistant.
        let stop = space.along("equipment.stop", 0.0);
        let asked = tier.judge(&engine, "tell Dave to shut down pump 3", &stop);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let acted = tier.judge(&engine, "tell pump 3 to shut down", &stop);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        let status = space.along("equipment.status", 0.0);
        let acted = tier.judge(&engine, "tell me how pump 3 is going to cope", &status);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // Someone's place to go is no one else's thing.
        let route = space.along("nav.navigate_to", 0.0);
        for text in [
            "can you get me to King's Cross",
            "navigate to the kids' school",
        ] {
            let acted = tier.judge(&engine, text, &route);
            assert!(
                matches!(acted.verdict, Verdict::Accept(_)),
                "{text}: {acted:?}"
            );
        }
        // The first person's own opinion softens a request.
        let text = "I reckon pump three won't build pressure";
        let acted = tier.judge(&engine, text, &troubleshoot);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // Words passed on; the speaker's own said again are a request.
        let stop = space.along("equipment.stop", 0.0);
        let asked = tier.judge(&engine, "the foreman said stop pump 3 and left", &stop);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        for text in ["I said stop pump 3", "I just said stop pump 3"] {
            let acted = tier.judge(&engine, text, &stop);
            assert!(
                matches!(acted.verdict, Verdict::Accept(_)),
                "{text}: {acted:?}"
            );
        }
        // Advice against it; not "I wouldn't mind".
        let window = space.along("window.set", 0.0);
        let refused = tier.judge(&engine, "I wouldn't open the windows in this rain", &window);
        assert!(matches!(refused.verdict, Verdict::None), "{refused:?}");
        let play = space.along("media.play", 0.0);
        let acted = tier.judge(&engine, "I wouldn't mind some jazz", &play);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // Someone else's liking.
        let cooler = space.along("climate.adjust_temperature", 0.0);
        let asked = tier.judge(
            &engine,
            "my husband likes it really cold in the car",
            &cooler,
        );
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        // What the speaker will do; a cancel's own sentences say "I'll".
        let ac = space.along("climate.ac", 0.0);
        let asked = tier.judge(&engine, "at the next stop I'll put the AC back on", &ac);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let cancel = space.along("dialog.cancel", 0.0);
        let acted = tier.judge(&engine, "never mind, I'll sort it myself", &cancel);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
    }

    #[test]
    fn what_should_be_and_as_it_is_are_asked_about_not_acted_on() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let reading = space.along("equipment.read_sensor", 0.3);
        let text = "what temperature is pump 2 supposed to run at";
        let asked = tier.judge(&engine, text, &reading);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let acted = tier.judge(&engine, "what temperature is pump 2 running at", &reading);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        let text = "what pressure should pump 2 be at";
        let asked = tier.judge(&engine, text, &reading);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        // A rating is a specification; a condition is no request for now.
        for text in [
            "what is the pressure rating of pump 2",
            "alert me if pump 2 vibration goes above five",
        ] {
            let asked = tier.judge(&engine, text, &reading);
            assert!(
                matches!(asked.verdict, Verdict::Ask(_)),
                "{text}: {asked:?}"
            );
        }
        // "if you would" is a courtesy.
        let acted = tier.judge(&engine, "pump 2 vibration if you would", &reading);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // A wish, not a question: "should" alone asks nothing.
        let nearby = space.along("nav.find_nearby", 0.3);
        let text = "we should grab lunch, find the nearest restaurant";
        let acted = tier.judge(&engine, text, &nearby);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        let warmer = space.along("climate.adjust_temperature", 0.3);
        let text = "please leave the temperature exactly where it is";
        let asked = tier.judge(&engine, text, &warmer);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        // Without "leave" or "keep", "where it is" keeps nothing.
        let pause = space.along("media.pause", 0.3);
        let acted = tier.judge(&engine, "freeze the playback right where it is", &pause);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // The set temperature's own sentences leave a side alone.
        let set = space.along("climate.set_temperature", 0.3);
        let text = "put the passenger side at 24 and leave mine alone";
        let acted = tier.judge(&engine, text, &set);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
    }

    #[test]
    fn a_request_said_to_someone_else_is_asked_about_not_acted_on() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let start = space.along("equipment.start", 0.3);
        let asked = tier.judge(&engine, "Dave, go and start pump 2", &start);
        assert_eq!(
            asked.decision,
            Decision::Ask("equipment.start".into()),
            "{asked:?}"
        );
        for text in [
            "oi, start pump 2",
            "right, start pump 2",
            "start pump 2, now",
        ] {
            let acted = tier.judge(&engine, text, &start);
            assert!(
                matches!(acted.verdict, Verdict::Accept(_)),
                "{text}: {acted:?}"
            );
        }
        // Said to someone the car's sentences speak of, who is called ("kids, ...") or
        // asked about the listener's own thing: the assistant has none. "your" alone is
        // the assistant's; "the kids" spoken of are no one called.
        let window = space.along("window.set", 0.3);
        for text in [
            "kids, close all your windows",
            "kids, stop playing with the windows",
        ] {
            let asked = tier.judge(&engine, text, &window);
            assert_eq!(
                asked.decision,
                Decision::Ask("window.set".into()),
                "{text}: {asked:?}"
            );
        }
        for text in [
            "close all the windows, the kids are cold",
            "can you close all your windows",
        ] {
            let acted = tier.judge(&engine, text, &window);
            assert!(
                matches!(acted.verdict, Verdict::Accept(_)),
                "{text}: {acted:?}"
            );
        }
        // Its clause alone would lose the name: none is judged alone.
        assert!(
            tier.clauses_to_judge("kids, close all your windows", &asked)
                .is_empty()
        );
    }

    #[test]
    fn messages_passed_on_and_their_vehicles_are_someone_elses() {
        let relays = |text: &str| rules::relays_a_request(&normalize(text));
        for text in [
            "tell Dave to shut down pump 3",
            "let the foreman know pump 1 is vibrating badly",
            "tell everyone the AC is staying off",
            "get the night shift to stop press 2",
        ] {
            assert!(relays(text), "{text}");
        }
        for text in [
            "tell pump 3 to shut down",
            "let me know the pressure on pump 2",
            "can you tell what the pressure on pump 2 is",
            "get the cabin to 20 degrees",
            "get her side to 22",
            "get me to the airport",
        ] {
            assert!(!relays(text), "{text}");
        }
        assert_eq!(someones_things("my dad keeps his car at 18"), ["car"]);
        assert_eq!(
            someones_things("turn off my neighbour's air conditioning"),
            ["air"]
        );
        assert!(someones_things("open my wife's window").is_empty());
        let themselves = rules::does_it_themselves;
        assert!(themselves(
            "at the next stop I\u{2019}ll put the AC back on"
        ));
        assert!(themselves("I will switch pump 2 off myself"));
        assert!(!themselves("I'll have the AC on please"));
        assert!(!themselves("I feel ill, turn the heat down"));
        assert_eq!(
            rules::conditions(&normalize("in case the battery runs low, find a charger")),
            ["in"]
        );
        assert!(someones_things("warm up her side, she's in their seat").is_empty());
        assert_eq!(
            rules::conditions(&normalize("turn it up every time this song comes on")),
            ["every"]
        );
    }

    #[test]
    fn verdicts_follow_a_copula_and_past_states_a_person() {
        let verdicts = |text: &str| {
            rules::verdicts(&normalize(text))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            verdicts("twenty two degrees is the perfect temperature"),
            ["perfect"]
        );
        assert_eq!(
            verdicts("charging stations everywhere, that's the future"),
            ["future"]
        );
        assert!(verdicts("perfect, now turn the volume up").is_empty());
        assert!(verdicts("it's not great, turn it up").is_empty());
        let past = |text: &str| {
            let tokens = normalize(text);
            (0..tokens.len()).any(|i| rules::a_past_state_at(&tokens, i))
        };
        assert!(past("we had the fan on five earlier"));
        assert!(past("I kept my window open all day"));
        assert!(!past("carry on playing what we had on"));
        assert!(!past("pump two has had a grinding noise since Monday"));
        assert_eq!(
            verdicts("the passenger side is warm enough now"),
            ["enough"]
        );
        assert!(verdicts("it's not warm enough, turn it up").is_empty());
        let quote = |clause: &str| rules::opens_a_quote(&normalize(clause));
        assert!(quote("and then he sang"));
        assert!(quote("the procedure reads"));
        assert!(!quote("I missed what he said"));
        assert!(!quote("I said"));
        let deeds = |text: &str| {
            rules::past_deeds(&normalize(text))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            deeds("I switched the AC off earlier because it was rattling"),
            ["switched"]
        );
        assert_eq!(deeds("I set the temperature to 21 before we left"), ["set"]);
        assert_eq!(
            deeds("the last driver left the fan on full blast"),
            ["left"]
        );
        assert!(deeds("I wanted the fan on three").is_empty());
        assert!(deeds("turn left the next junction").is_empty());
        let advice = |text: &str| rules::asks_for_advice(&normalize(text));
        assert!(advice(
            "is it better for fuel to drive with the windows down or the AC on"
        ));
        assert!(advice("would it be worth restarting press 2"));
        assert!(!advice("is it on"));
        assert!(!advice("it's better now, turn it back down"));
        assert!(deeds("set the temperature to 21").is_empty());
        assert!(deeds("I opened up and it's cold").is_empty());
    }

    #[test]
    fn a_quote_is_not_rescued_by_its_clauses_and_a_habit_is_asked_about() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let route = space.along("nav.navigate_to", 0.0);
        let text = "and then he sang, take me to the river";
        let whole = tier.judge(&engine, text, &route);
        assert!(matches!(whole.verdict, Verdict::Ask(_)), "{whole:?}");
        assert!(tier.clauses_to_judge(text, &whole).is_empty());
        let nearby = space.along("nav.find_nearby", 0.0);
        let text = "my son always asks where the nearest restaurant is";
        let asked = tier.judge(&engine, text, &nearby);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        // "should" first asks for advice.
        let window = space.along("window.set", 0.0);
        let text = "should I close the windows before the car wash";
        let advice = tier.judge(&engine, text, &window);
        assert!(!matches!(advice.verdict, Verdict::Accept(_)), "{advice:?}");
        // "so yeah" trails off, whatever its vector says.
        let yes = space.along("dialog.yes", 0.0);
        let none = tier.judge(&engine, "uh so yeah", &yes);
        assert_eq!(none.decision, Decision::None, "{none:?}");
    }

    #[test]
    fn conditions_are_told_from_courtesies_questions_and_whether() {
        let conditions = |text: &str| {
            rules::conditions(&normalize(text))
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(conditions("alert me if pump 2 stops"), ["if"]);
        assert_eq!(conditions("ring her once we're past the bridge"), ["once"]);
        assert_eq!(conditions("not until the guard is on"), ["until"]);
        assert_eq!(conditions("turn it down when we get there"), ["when"]);
        for text in [
            "a touch warmer if you can",
            "any idea if pump two is stopped",
            "check if the belt is stopped",
            "ask me if pump 2 is running",
            "when is the next service",
            "play it once more",
        ] {
            assert!(
                conditions(text).is_empty(),
                "{text}: {:?}",
                conditions(text)
            );
        }
        // A clause's first "when" is a condition: the clause is no question on its own.
        let opens = |text: &str| rules::opens_with_a_condition(&normalize(text));
        assert!(opens("when we get there") && opens("if it gets hot later"));
        assert!(!opens("if you would") && !opens("once more") && !opens("stop pump 3"));
        // A clause opens with a time from now only at its first word.
        let opens_a_while = |text: &str| rules::opens_with_a_time(&normalize(text));
        assert!(opens_a_while("in ten minutes") && opens_a_while("tomorrow morning"));
        assert!(!opens_a_while("in the car in ten minutes") && !opens_a_while("do it later"));
    }

    #[test]
    fn a_request_put_off_until_something_happens_is_asked_about_not_acted_on() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let status = space.along("equipment.status", 0.3);
        // "if" as a condition, where the intent's own "if" is "whether".
        let asked = tier.judge(&engine, "alert me if pump 2 stops", &status);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let acted = tier.judge(&engine, "check if pump 2 is running", &status);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        let volume = space.along("media.volume", 0.3);
        let text = "turn the volume down when we reach the motorway";
        let asked = tier.judge(&engine, text, &volume);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let acted = tier.judge(&engine, "turn the volume down", &volume);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        let cooler = space.along("climate.adjust_temperature", 0.3);
        let text = "if it gets hot later would you be able to cool it down";
        let asked = tier.judge(&engine, text, &cooler);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        // The stop intent's own sentences put it off "until" someone comes.
        let stop = space.along("equipment.stop", 0.3);
        let text = "shut pump 3 down until the fitter has been";
        let acted = tier.judge(&engine, text, &stop);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // Told not to start it is no request to stop it; but the dialogue's no is said so.
        let text = "don't start pump 3 until the guard is back on";
        assert_no_request(&tier, &engine, text, &stop);
        let no = space.along("dialog.no", 0.3);
        let acted = tier.judge(&engine, "no, please don't go ahead with that", &no);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // Put off to a later time, or a supposition: nothing to do now.
        let start = space.along("equipment.start", 0.3);
        for text in [
            "in ten minutes, start pump 3",
            "start pump 3 in a couple of minutes",
            "tomorrow morning, start pump 3",
            "suppose I started pump 3, would the line cope",
        ] {
            let asked = tier.judge(&engine, text, &start);
            assert!(
                matches!(asked.verdict, Verdict::Ask(_)),
                "{text}: {asked:?}"
            );
        }
        let acted = tier.judge(
            &engine,
            "start pump 3, it's been off for ten minutes",
            &start,
        );
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // A refusal put off is still one.
        let acted = tier.judge(&engine, "not right now thanks, maybe tomorrow", &no);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        let play = space.along("media.play", 0.3);
        let asked = tier.judge(&engine, "once this song ends, play some jazz", &play);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
    }

    #[test]
    fn a_thing_named_in_place_of_an_entity_that_is_none_of_them_is_no_request() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let troubleshoot = space.along("troubleshoot.start", 0.0);
        assert_no_request(
            &tier,
            &engine,
            "troubleshoot the kiln, it keeps tripping",
            &troubleshoot,
        );
        // A machine of the plant, named or not, is a request.
        for text in [
            "troubleshoot the pump, it keeps tripping",
            "troubleshoot pump 3, it keeps tripping",
        ] {
            let judged = tier.judge(&engine, text, &troubleshoot);
            assert_eq!(
                judged.decision,
                Decision::Accept("troubleshoot.start".into()),
                "{text}: {judged:?}"
            );
        }
    }

    #[test]
    fn a_thing_in_a_templates_value_place_that_is_none_of_its_values_is_no_request() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let nearby = space.along("nav.find_nearby", 0.0);
        // "find a {category} nearby" with no hotels among the categories.
        // Two unknown words in that place name a thing without a determiner too.
        for text in [
            "find me a hotel nearby",
            "find some hotels nearby",
            "where's the nearest tyre shop",
        ] {
            assert_no_request(&tier, &engine, text, &nearby);
        }
        // A word of the intent's sentences in that place is no unknown thing: the value
        // it goes with is taken or asked for, the request stands.
        let eat = tier.judge(&engine, "find me something to eat nearby", &nearby);
        assert_eq!(
            eat.decision,
            Decision::Accept("nav.find_nearby".into()),
            "{eat:?}"
        );
    }

    #[test]
    fn no_slot_filled_for_an_intent_whose_sentences_fill_one_asks_for_a_value() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let volume = space.along("media.volume", 0.0);
        // A number before "of" is no level, and nothing else names one: the skill's
        // default (louder) is not guessed.
        let book = tier.judge(&engine, "volume two of the book", &volume);
        let Verdict::Ask(asked) = &book.verdict else {
            panic!("{book:?}")
        };
        assert_eq!(asked.missing_slot.as_deref(), Some("direction"), "{book:?}");
        // Music to play needs no query: "play something" is acted on as it is.
        let play = tier.judge(&engine, "put something on", &space.along("media.play", 0.0));
        assert!(matches!(play.verdict, Verdict::Accept(_)), "{play:?}");
    }

    #[test]
    fn an_example_implies_optional_slots_only_where_the_utterance_names_none() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let volume = space.along("media.volume", 0.3);
        // Nearest to "make it louder": nothing named, so the example's direction is taken.
        let bare = tier.judge(&engine, "yikes, I can barely hear it", &volume);
        let Verdict::Accept(r) = &bare.verdict else {
            panic!("{bare:?}")
        };
        assert_eq!(
            r.slots.get("direction"),
            Some(&SlotValue::Text("up".into()))
        );
        // A level is named: the example's optional direction is not added to it.
        let named = tier.judge(&engine, "the stereo on four would be fine", &volume);
        let Verdict::Accept(r) = &named.verdict else {
            panic!("{named:?}")
        };
        assert_eq!(r.slots.get("level"), Some(&SlotValue::Integer(4)), "{r:?}");
        assert_eq!(r.slots.get("direction"), None, "{r:?}");
    }

    #[test]
    fn one_word_implies_no_slot_from_an_example() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        // Nearest to the example "I'm freezing" (direction warmer).
        let warmer = space.along("climate.adjust_temperature", 0.3);
        let sentence = tier.judge(&engine, "my toes are icy", &warmer);
        let Verdict::Accept(r) = &sentence.verdict else {
            panic!("{sentence:?}")
        };
        assert_eq!(
            r.slots.get("direction"),
            Some(&SlotValue::Text("warmer".into()))
        );
        // The same vector from one word: asked about, without the example's direction.
        let word = tier.judge(&engine, "icy", &warmer);
        let Verdict::Ask(c) = &word.verdict else {
            panic!("{word:?}")
        };
        assert_eq!(c.slots.get("direction"), None, "{word:?}");
    }

    #[test]
    fn a_question_unlike_any_sentence_of_the_intent_is_asked_about_not_acted_on() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let play = space.along("media.play", 0.0);
        let question = tier.judge(&engine, "are you listening to everything I say", &play);
        assert!(
            matches!(question.decision, Decision::Ask(_)),
            "{question:?}"
        );
        assert!(matches!(question.verdict, Verdict::Ask(_)), "{question:?}");
        // The same words as a request act.
        let request = tier.judge(&engine, "let me listen to some jazz", &play);
        assert!(matches!(request.verdict, Verdict::Accept(_)), "{request:?}");
        // A question where the intent's own sentences are questions acts.
        let status = space.along("equipment.status", 0.0);
        let asked = tier.judge(&engine, "is pump three still going", &status);
        assert!(matches!(asked.verdict, Verdict::Accept(_)), "{asked:?}");
    }

    #[test]
    fn a_request_said_not_to_do_is_no_request() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let window = space.along("window.set", 0.0);
        for text in [
            "don't open the window, it's pouring",
            "please do not open the windows",
            "never open my window",
            "don't you dare open my window",
            "no need to open my window, it's fine",
        ] {
            assert_no_request(&tier, &engine, text, &window);
        }
        // "don't forget" asks for the thing; the request stands.
        let reminded = tier.judge(&engine, "don't forget to open my window", &window);
        assert!(
            matches!(reminded.verdict, Verdict::Accept(_)),
            "{reminded:?}"
        );
        // The negation may open the request's clause after another one; a request said
        // before a negation stands.
        let text = "whatever you do, don't open the window";
        assert_no_request(&tier, &engine, text, &window);
        // Nor is a word the intent's sentences never negate a request of theirs.
        let warmer = space.along("climate.adjust_temperature", 0.0);
        let text = "whatever you do, don't change the temperature";
        assert_no_request(&tier, &engine, text, &warmer);
        let stop = space.along("equipment.stop", 0.0);
        let text = "stop pump 3, don't start it again today";
        let stopped = tier.judge(&engine, text, &stop);
        assert!(matches!(stopped.verdict, Verdict::Accept(_)), "{stopped:?}");
        // Where the intent's own sentences open with the negation, it is how the intent
        // is said ("don't do that" is a no).
        let no = space.along("dialog.no", 0.0);
        let said = tier.judge(&engine, "no, don't do that", &no);
        assert_eq!(
            said.decision,
            Decision::Accept("dialog.no".into()),
            "{said:?}"
        );
        let dare = tier.judge(&engine, "no no, don't you dare do that", &no);
        assert_eq!(
            dare.decision,
            Decision::Accept("dialog.no".into()),
            "{dare:?}"
        );
        // Where the intent's sentences open with the negation but never negate the word
        // after it, the negation is of the request: "I don't need the route" cancels it,
        // "don't cancel the route" does not.
        let cancel = space.along("nav.cancel", 0.0);
        let kept = tier.judge(&engine, "don't cancel the route, I still need it", &cancel);
        assert_eq!(kept.decision, Decision::None, "{kept:?}");
        let cancelled = tier.judge(&engine, "I don't need the route anymore", &cancel);
        assert_eq!(
            cancelled.decision,
            Decision::Accept("nav.cancel".into()),
            "{cancelled:?}"
        );
    }

    #[test]
    fn a_missing_required_slot_is_asked_for_and_a_bare_value_is_no_request() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let start = space.along("equipment.start", 0.0);
        let asked = tier.judge(&engine, "the machine has to be started", &start);
        let Verdict::Ask(c) = &asked.verdict else {
            panic!("{asked:?}")
        };
        assert_eq!(c.question, "Which machine?");
        assert_eq!(c.missing_slot.as_deref(), Some("machine"));
        // "pump two" alone names a machine, not what to do with it.
        let bare = tier.judge(&engine, "the pump two please", &start);
        assert_eq!(bare.verdict, Verdict::None, "{bare:?}");
        assert_eq!(bare.decision, Decision::None);
        // Two values together say what to do: a zone at a temperature.
        let set = space.along("climate.set_temperature", 0.0);
        let two = tier.judge(&engine, "passenger side at nineteen", &set);
        let Verdict::Accept(r) = &two.verdict else {
            panic!("{two:?}")
        };
        assert_eq!(
            r.slots.get("celsius"),
            Some(&SlotValue::Number(19.0)),
            "{r:?}"
        );
        assert_eq!(
            r.slots.get("zone"),
            Some(&SlotValue::Text("passenger".into()))
        );
    }

    #[test]
    fn near_the_threshold_it_asks_whether_the_intent_was_meant() {
        let engine = engine();
        let (tier, space) = fitted(&engine, UNSURE);
        let v = space.towards_none("climate.adjust_temperature");
        let none = space.along(NONE, 0.0);
        let asked = tier.judge(&engine, "I'm roasting in here", &v);
        let Verdict::Ask(c) = &asked.verdict else {
            panic!("{asked:?}")
        };
        assert!(
            c.question
                .starts_with("Did you mean: make it warmer or cooler"),
            "{}",
            c.question
        );
        assert_eq!(c.missing_slot, None);
        // Along none: refused.
        let refused = tier.judge(&engine, "tell me a joke", &none);
        assert_eq!(refused.verdict, Verdict::None);
        // As unsure, and a question none of the intent's sentences opens with: refused,
        // not asked about.
        let question = tier.judge(&engine, "what's the temperature on mars", &v);
        assert_eq!(question.decision, Decision::None, "{question:?}");
        assert_eq!(question.verdict, Verdict::None);
    }

    #[test]
    fn a_request_asked_about_acts_on_its_one_clause_that_is_the_request() {
        let engine = engine();
        let (tier, space) = fitted(&engine, UNSURE);
        let unsure = space.towards_none("equipment.stop");
        let none = space.along(NONE, 0.0);
        let judge = |text: &str, clause_vectors: &[&Vec<f32>]| {
            let whole = tier.judge(&engine, text, &unsure);
            assert!(matches!(whole.decision, Decision::Ask(_)), "{whole:?}");
            let clauses = tier.clauses_to_judge(text, &whole);
            let vectors: Vec<Vec<f32>> = clause_vectors.iter().map(|v| (*v).clone()).collect();
            let judged = tier.judge_clauses(&engine, whole, &clauses, &vectors[..clauses.len()]);
            (clauses, judged.verdict)
        };
        // One clause a template writes word for word, the other none: acted on.
        let (clauses, verdict) = judge("stop pump 3, we're going on break", &[&none, &none]);
        assert_eq!(clauses, ["stop pump 3", "we're going on break"]);
        let Verdict::Accept(r) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(r.intent, "equipment.stop");
        assert_eq!(
            r.slots.get("machine"),
            Some(&SlotValue::Text("pump-3".into()))
        );
        // A negation of the request: refused whole, and no clause is judged alone (a
        // clause would drop the negation).
        let negated = tier.judge(&engine, "don't stop pump 3, it's fine", &unsure);
        assert_eq!(negated.verdict, Verdict::None, "{negated:?}");
        assert!(
            tier.clauses_to_judge("don't stop pump 3, it's fine", &negated)
                .is_empty()
        );
        // A condition beside the request: no clause is judged alone either.
        let text = "if it gets hot later, would you stop pump 3";
        let conditional = tier.judge(&engine, text, &unsure);
        assert!(
            matches!(conditional.decision, Decision::Ask(_)),
            "{conditional:?}"
        );
        assert!(tier.clauses_to_judge(text, &conditional).is_empty());
        // So is a time from now.
        let text = "in ten minutes, stop pump 3";
        let later = tier.judge(&engine, text, &unsure);
        assert!(matches!(later.decision, Decision::Ask(_)), "{later:?}");
        assert!(tier.clauses_to_judge(text, &later).is_empty());
        // A condition or a time inside the reason's clause is the reason's.
        for text in [
            "stop pump 3, I'll sort it out when I get there",
            "stop pump 3, I'll look at it later",
        ] {
            let (clauses, verdict) = judge(text, &[&none, &none]);
            assert_eq!(clauses.len(), 2, "{clauses:?}");
            assert!(matches!(verdict, Verdict::Accept(_)), "{text}: {verdict:?}");
        }
        // Two clauses that are requests: still asked about.
        let start = space.along("equipment.start", 0.5);
        let (_, verdict) = judge("stop pump 3, start pump 2", &[&none, &start]);
        assert!(matches!(verdict, Verdict::Ask(_)), "{verdict:?}");
        // One clause: nothing to split.
        let (clauses, _) = judge("could you maybe halt pump 3", &[]);
        assert!(clauses.is_empty());
    }

    #[test]
    fn a_negative_nearest_of_all_makes_it_a_question() {
        let engine = engine();
        let set = TrainingSet::new(
            &engine,
            &[
                "turn on the extraction fans in bay 2",
                "tell me a joke",
                "order more oil",
            ],
        );
        let mut classes = set.labels();
        classes.sort();
        classes.dedup();
        let space = Space { classes };
        // One negative sits beside the fan's sentences, leaning off their axis.
        let fan = space.along("climate.set_fan", 0.0);
        let beside_fan = space.along("climate.set_fan", 0.3);
        let vectors = set
            .sentences
            .iter()
            .map(|s| space.along(&s.intent, 0.0))
            .chain([
                beside_fan.clone(),
                space.along(NONE, 0.0),
                space.along(NONE, 0.0),
            ])
            .collect();
        let tier = EmbeddingTier::fit(set, vectors, Method::Knn { k: 3 }, SURE).expect("fit");
        // The three nearest fan sentences are well ahead of the three nearest negatives,
        // but the nearest sentence of all is the negative: asked about, not acted on.
        let near_negative = tier.judge(
            &engine,
            "turn on the extraction fan in hall two",
            &beside_fan,
        );
        assert_eq!(
            near_negative.decision,
            Decision::Ask("climate.set_fan".into())
        );
        assert!(
            matches!(near_negative.verdict, Verdict::Ask(_)),
            "{near_negative:?}"
        );
        // Along the fan's sentences themselves: acted on.
        let acted = tier.judge(&engine, "fan to level two", &fan);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
    }

    #[test]
    fn one_or_two_words_unlike_any_sentence_are_asked_about() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        // Leaning away from every sentence of the intent: cosine 0.93 at best.
        let off_axis = space.along("climate.ac", -0.4);
        let short = tier.judge(&engine, "air fryer", &off_axis);
        assert!(matches!(short.verdict, Verdict::Ask(_)), "{short:?}");
        let long = tier.judge(
            &engine,
            "the air in here is stale so switch the ac on",
            &off_axis,
        );
        assert!(matches!(long.verdict, Verdict::Accept(_)), "{long:?}");
        // Two words nearly the same as an example: acted on.
        let example = tier.judge(
            &engine,
            "I'm freezing",
            &space.along("climate.adjust_temperature", 0.3),
        );
        assert!(matches!(example.verdict, Verdict::Accept(_)), "{example:?}");
        // As near, but no word of it is more common in the intent's sentences than in the
        // negatives ("tell me a joke" is one): asked about.
        let no_word_of_it = tier.judge(
            &engine,
            "tell me",
            &space.along("climate.adjust_temperature", 0.3),
        );
        assert!(
            matches!(no_word_of_it.verdict, Verdict::Ask(_)),
            "{no_word_of_it:?}"
        );
        // As near, with a word of the intent ("air") beside one none of its sentences
        // has ("fryer"): asked about. A number is no unknown word ("fan 5").
        let near_ac = space.along("climate.ac", 0.3);
        let fryer = tier.judge(&engine, "air fryer", &near_ac);
        assert!(matches!(fryer.verdict, Verdict::Ask(_)), "{fryer:?}");
        let air_con = tier.judge(&engine, "air con on", &near_ac);
        assert!(matches!(air_con.verdict, Verdict::Accept(_)), "{air_con:?}");
        let fan = tier.judge(&engine, "fan 5", &space.along("climate.set_fan", 0.3));
        assert!(matches!(fan.verdict, Verdict::Accept(_)), "{fan:?}");
        // A template of the intent word for word, with a name no sentence has as its free
        // text: no fragment. A word written as no name, or off the intent's own
        // templates, still makes one.
        let near_route = space.along("nav.navigate_to", 0.3);
        let berlin = tier.judge(&engine, "navigate to Berlin", &near_route);
        assert!(matches!(berlin.verdict, Verdict::Accept(_)), "{berlin:?}");
        for text in ["navigate to berlin", "Berlin fryer"] {
            let asked = tier.judge(&engine, text, &near_route);
            assert!(
                matches!(asked.verdict, Verdict::Ask(_)),
                "{text}: {asked:?}"
            );
        }
        // A lone word, however near a sentence of the intent: asked about. After a
        // filler it is one request word of two and acted on ("shh, pause").
        let near_pause = space.along("media.pause", 0.3);
        let hold = tier.judge(&engine, "Hold.", &near_pause);
        assert!(matches!(hold.verdict, Verdict::Ask(_)), "{hold:?}");
        let shh = tier.judge(&engine, "shh, pause", &near_pause);
        assert!(matches!(shh.verdict, Verdict::Accept(_)), "{shh:?}");
    }

    #[test]
    fn a_word_only_the_negatives_have_makes_it_a_question() {
        let engine = engine();
        let (off, space) = fitted(&engine, SURE);
        let warm = space.along("climate.adjust_temperature", 0.3);
        // Switched off: acted on.
        let acted = off.judge(&engine, "warm up the samovar", &warm);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        let (tier, _) = fitted(
            &engine,
            Thresholds {
                ask_on_none_words: true,
                ..SURE
            },
        );
        // "samovar" is in two negatives and no skill sentence: asked, not acted on.
        let asked = tier.judge(&engine, "warm up the samovar", &warm);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        // "joke" is in one negative only, "I'm" is an everyday word: acted on.
        let acted = tier.judge(&engine, "I'm freezing, no joke", &warm);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // The free text of one of the intent's templates, word for word, written as a
        // name: acted on. Not written so, it is still a word of the negatives.
        let route = space.along("nav.navigate_to", 0.3);
        let acted = tier.judge(&engine, "navigate to Samovar Street", &route);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        let asked = tier.judge(&engine, "navigate to the samovar", &route);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
    }

    #[test]
    fn a_place_only_the_negatives_speak_of_makes_it_a_question() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        let window = space.along("window.set", 0.3);
        // "home" is in two negatives and no window sentence: asked, not acted on.
        let asked = tier.judge(&engine, "open all the windows at home", &window);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        // "in here" is no place elsewhere.
        let acted = tier.judge(&engine, "open all the windows, it's hot in here", &window);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // A place no sentence has is no place elsewhere by itself.
        let reading = space.along("equipment.read_sensor", 0.3);
        let text = "how hot is pump 2 getting on the platen";
        let acted = tier.judge(&engine, text, &reading);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // The volume's sentences speak of being "on the phone"; two negatives own "my
        // phone", which no sentence of the volume does.
        let volume = space.along("media.volume", 0.3);
        let asked = tier.judge(&engine, "turn the volume up on my phone", &volume);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let acted = tier.judge(&engine, "turn the volume down, I'm on the phone", &volume);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // A place named in two words no sentence of the intent has.
        let warmer = space.along("climate.adjust_temperature", 0.3);
        let text = "turn the heating up in the staff canteen";
        let asked = tier.judge(&engine, text, &warmer);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let asked = tier.judge(
            &engine,
            "turn down the music at my brother's party",
            &volume,
        );
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        // Someone else's own place, whatever it is.
        let text = "my husband is freezing in his own car";
        let asked = tier.judge(&engine, text, &warmer);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let acted = tier.judge(&engine, "my husband is freezing in here", &warmer);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
        // Someone else's vehicle, named in the possessive.
        let ac = space.along("climate.ac", 0.3);
        let asked = tier.judge(&engine, "put the AC on in my sister's car", &ac);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let window = space.along("window.set", 0.3);
        let text = "close my mum's car windows, she left them down";
        let asked = tier.judge(&engine, text, &window);
        assert!(matches!(asked.verdict, Verdict::Ask(_)), "{asked:?}");
        let acted = tier.judge(&engine, "put the AC on, it's a hot car", &ac);
        assert!(matches!(acted.verdict, Verdict::Accept(_)), "{acted:?}");
    }

    #[test]
    fn someones_things_are_vehicles_names_and_plurals_after_a_possessive() {
        assert_eq!(
            someones_things("turn on the AC in my wife's car"),
            vec!["car".to_owned()]
        );
        assert_eq!(
            someones_things("the neighbours' van and Dave\u{2019}s truck"),
            vec!["van".to_owned(), "truck".to_owned()]
        );
        assert!(someones_things("it's car trouble, let's car-pool, my wife's cold").is_empty());
        // A name after "'s", anything but an everyday word after "s'".
        assert_eq!(
            someones_things("turn the AC on in my wife's Corolla"),
            vec!["corolla".to_owned()]
        );
        assert_eq!(
            someones_things("the neighbours' music is too loud, play 'the days' by Avicii"),
            vec!["music".to_owned()]
        );
        assert!(someones_things("my wife's freezing, I'm cold, pump two's tripped").is_empty());
    }

    #[test]
    fn a_free_text_value_is_no_place_elsewhere() {
        let engine = engine();
        let (tier, space) = fitted(&engine, SURE);
        // "alexanderplatz" is in no sentence, but it is the destination.
        let route = space.along("nav.navigate_to", 0.3);
        let judged = tier.judge(&engine, "take me to the cafe at alexanderplatz", &route);
        assert!(matches!(judged.verdict, Verdict::Accept(_)), "{judged:?}");
        // Nor are two words of it.
        let text = "take me to the cafe at the old harbour";
        let judged = tier.judge(&engine, text, &route);
        assert!(matches!(judged.verdict, Verdict::Accept(_)), "{judged:?}");
    }
}
