//! Near-miss tolerance: the template tier's second pass, for misheard speech.
//!
//! It runs only when the exact pass finds nothing, and aligns the utterance with each
//! template word by word, allowing a few edits:
//!
//! - a **phonetic substitution**: heard words for a template word, for a run of consecutive
//!   template words, for an enum or entity value, or for a number word in a numeric slot,
//!   when they sound alike ([`Sound::similarity`] ≥ [`MIN_SIMILARITY`]): "bump free" for
//!   "pump three", "travel shoot" for "troubleshoot", "their condition" for "air
//!   conditioner". Costs [`substitution_cost`] per template word replaced.
//! - a **plain edit**, costing 1, at most [`MAX_PLAIN_EDITS`]: a function word
//!   ([`crate::phonetic::WEAK_WORDS`]) heard first instead of the template's first word
//!   ("and the temperature to 22"), a function word heard in excess, or a function word of
//!   the template not heard.
//!
//! What keeps out-of-domain sentences `none`:
//! - a word that is not a function word must be heard exactly as some template word or
//!   value has it (an *anchor*); in an utterance of one or two words, every such word
//!   must be (a lone "math" is not "mute", "council" is not "cancel");
//! - a function word is never matched by sound (it sounds like too much), except as a
//!   number word beside a word heard right ("press to" for "press two");
//! - a number word heard as it is ("three") never stands for another word: numbers are
//!   content ("how fast is conveyor three going" is not "... conveyor turning");
//! - a yes/no question opener ("is", "are", "does", ...) heard first is never skipped nor
//!   replaces the template's first word: "is the air conditioning on" asks, it does not
//!   command; nor is a negation heard first ("don't pause the music" asks for nothing);
//!   a first word skipped is a function word or a number ("increase the conveyor speed" is
//!   no reading of it, "hang on, pause the music" no request to play);
//! - words shorter than [`MIN_PHONETIC_LETTERS`] letters are not compared by sound, except
//!   number words; digits only match as written;
//! - heard words are compared as one sound only when none of them is a template word as it
//!   is ("cabin temperature" is not a split "temperature"), and never fewer heard words than
//!   a value has ("pumping" is not "pump one");
//! - free-text slots take words in a near miss only beside a typed value (a machine, a
//!   number): free text fits anything, so a carrier phrase misheard around it shows
//!   nothing by itself;
//! - at most [`MAX_EDITS`] edits, and a total cost of at most [`MAX_COST_PER_TOKEN`] × tokens.
//!
//! Confidence: `coverage × (1 − cost / tokens)`, where coverage is the exact pass's score (a
//! heard word matched by sound counts as covered, one heard in excess does not). A near miss
//! therefore always scores below 1.0.

use super::{
    CNode, CompiledIntent, CompiledTemplate, SlotMatcher, TemplateEngine, number_value,
    slot_matches,
};
use crate::normalize::{NEGATIONS, YES_NO_QUESTION_OPENERS};
use crate::numbers::{is_number_token, names_a_number, number_words, parse_number_prefixes};
use crate::phonetic::{Sound, is_weak};
use edge_core::SlotValue;
use std::cell::{Cell, OnceCell};
use std::collections::{HashMap, HashSet};

/// Lowest similarity of two sounds for one to stand for the other.
pub const MIN_SIMILARITY: f32 = 0.65;
/// Least cost of a substitution, even of identical sounds ("console" for "cancel"): a
/// misheard word is never free.
pub const SUBSTITUTION_FLOOR: f32 = 0.25;
/// Most total edit cost per token of the utterance: about one plain edit in three words.
pub const MAX_COST_PER_TOKEN: f32 = 0.34;
/// Most edits (substitutions, insertions, deletions) in one near miss.
pub const MAX_EDITS: u8 = 2;
/// Most plain edits (function words added, dropped or replacing the first word).
pub const MAX_PLAIN_EDITS: u8 = 1;
/// Shortest word compared by sound (number words excepted): short words all sound alike.
pub const MIN_PHONETIC_LETTERS: usize = 3;

/// A word heard as it is that at least this many of the built-in negatives have, and no
/// template, names something no skill owns ("seat" in "warm the driver seat"): it is never
/// taken for a sound-alike template word ("side").
pub const NONE_WORD_MIN_NEGATIVES: usize = 5;

/// Most heard words compared as one sound.
const MAX_SPAN: usize = 3;
/// Utterances of at most this many words match by sound only through words the templates
/// have exactly.
const SHORT_UTTERANCE: usize = 2;
/// Most heard words one numeric slot may take.
const MAX_NUMBER_WORDS: usize = 4;

/// Upper bound on partial matches kept per template; the cheapest are kept.
const MAX_STATES: usize = 256;

/// Cost of one template word replaced by a heard word of this similarity: its
/// dissimilarity, but at least [`SUBSTITUTION_FLOOR`]. At [`MIN_SIMILARITY`] it is 0.35,
/// about a third of a plain edit.
pub fn substitution_cost(similarity: f32) -> f32 {
    (1.0 - similarity.clamp(0.0, 1.0)).max(SUBSTITUTION_FLOOR)
}

/// Index of a sound in [`NearMiss::sounds`].
type SoundId = usize;

/// A template word.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    sound: SoundId,
    letters: usize,
    number: bool,
}

/// A template tree with its sounds.
#[derive(Debug, Clone)]
enum TNode {
    Word(Word),
    /// Consecutive literal words, also compared as one sound (split or merged words).
    Run(Vec<Word>, SoundId),
    Seq(Vec<TNode>),
    Alt(Vec<TNode>),
    Opt(Box<TNode>),
    Slot(usize),
}

/// One spoken form of an enum or entity value.
#[derive(Debug, Clone)]
struct Phrase {
    words: Vec<Word>,
    sound: SoundId,
    letters: usize,
    value: String,
}

/// A template prepared for the tolerant pass.
#[derive(Debug, Clone)]
struct Prepared {
    root: TNode,
    /// Words (not function words) that would anchor a near miss of this template.
    anchors: HashSet<String>,
    /// The template has a numeric slot: a heard number anchors it too.
    numeric: bool,
}

/// The compiled templates prepared for the tolerant pass.
#[derive(Debug, Clone, Default)]
pub(super) struct NearMiss {
    /// In the engine's template order.
    templates: Vec<Prepared>,
    /// Per intent, per slot: the value phrases (empty for numbers and free text).
    phrases: Vec<Vec<Vec<Phrase>>>,
    /// Every distinct template sound, encoded once.
    sounds: Vec<Sound>,
    numbers: Vec<(&'static str, SoundId)>,
    /// Words heard as they are, never taken by sound: words of the negatives that no
    /// template has ([`NONE_WORD_MIN_NEGATIVES`]), and words of the skills' known
    /// free-text values ([`known_words`]).
    heard_as_is: HashSet<String>,
}

/// Interns sounds while the templates are prepared.
#[derive(Default)]
struct Lexicon {
    sounds: Vec<Sound>,
    ids: HashMap<String, SoundId>,
}

impl Lexicon {
    fn id(&mut self, words: &[&str]) -> SoundId {
        let key = words.join(" ");
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.sounds.len();
        self.sounds.push(Sound::of_words(words));
        self.ids.insert(key, id);
        id
    }

    fn word(&mut self, text: &str) -> Word {
        Word {
            text: text.to_owned(),
            sound: self.id(&[text]),
            letters: text.chars().count(),
            number: number_words().any(|n| n == text),
        }
    }

    fn node(&mut self, node: &CNode) -> TNode {
        match node {
            CNode::Word(w) => TNode::Word(self.word(w)),
            CNode::Seq(items) => {
                let mut out = Vec::new();
                let mut run = Vec::new();
                for item in items {
                    if let CNode::Word(w) = item {
                        run.push(self.word(w));
                    } else {
                        self.flush_run(&mut run, &mut out);
                        out.push(self.node(item));
                    }
                }
                self.flush_run(&mut run, &mut out);
                TNode::Seq(out)
            }
            CNode::Alt(items) => TNode::Alt(items.iter().map(|n| self.node(n)).collect()),
            CNode::Opt(inner) => TNode::Opt(Box::new(self.node(inner))),
            CNode::Slot(index) => TNode::Slot(*index),
        }
    }

    fn flush_run(&mut self, run: &mut Vec<Word>, out: &mut Vec<TNode>) {
        match run.len() {
            0 => {}
            1 => out.extend(run.drain(..).map(TNode::Word)),
            _ => {
                let words = std::mem::take(run);
                let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
                let sound = self.id(&texts);
                out.push(TNode::Run(words, sound));
            }
        }
    }
}

fn literal_words(node: &CNode, out: &mut HashSet<String>) {
    match node {
        CNode::Word(w) => {
            out.insert(w.clone());
        }
        CNode::Seq(items) | CNode::Alt(items) => {
            items.iter().for_each(|n| literal_words(n, out));
        }
        CNode::Opt(inner) => literal_words(inner, out),
        CNode::Slot(_) => {}
    }
}

/// Indices of the slots a node can fill, in order, with duplicates.
pub(crate) fn slots_of(node: &CNode, out: &mut Vec<usize>) {
    match node {
        CNode::Slot(index) => out.push(*index),
        CNode::Seq(items) | CNode::Alt(items) => items.iter().for_each(|n| slots_of(n, out)),
        CNode::Opt(inner) => slots_of(inner, out),
        CNode::Word(_) => {}
    }
}

/// The words at least [`NONE_WORD_MIN_NEGATIVES`] built-in negatives have that are no
/// anchor of any of `templates` (template words and values), function word or number.
fn none_words(templates: &[Prepared]) -> HashSet<String> {
    crate::normalize::texts_per_word(crate::builtin_negatives())
        .into_iter()
        .filter(|(word, n)| {
            *n >= NONE_WORD_MIN_NEGATIVES
                && !is_weak(word)
                && !names_a_number(word)
                && !templates.iter().any(|t| t.anchors.contains(word))
        })
        .map(|(word, _)| word)
        .collect()
}

/// The words of the free-text values the skills know (`known` in a manifest: "supermarket"
/// among the destinations) that are no anchor of `templates`, function word or number: a
/// place the skills know by name was heard as it is, not misheard for a template word
/// ("is there a supermarket near here" is no "supercharger", a charging station).
fn known_words(intents: &[CompiledIntent], templates: &[Prepared]) -> HashSet<String> {
    intents
        .iter()
        .flat_map(|intent| &intent.declared)
        .filter_map(|kind| match kind {
            edge_core::SlotKind::Text { known, .. } => Some(known),
            _ => None,
        })
        .flatten()
        .flat_map(|value| crate::normalize::normalize(value))
        .filter(|word| {
            !is_weak(word)
                && !names_a_number(word)
                && !templates.iter().any(|t| t.anchors.contains(word))
        })
        .collect()
}

impl NearMiss {
    /// Prepares the compiled templates and slot values.
    pub(super) fn build(intents: &[CompiledIntent], templates: &[CompiledTemplate]) -> Self {
        let mut lexicon = Lexicon::default();
        let phrases: Vec<Vec<Vec<Phrase>>> = intents
            .iter()
            .map(|intent| {
                intent
                    .slots
                    .iter()
                    .map(|(_, matcher)| match matcher {
                        SlotMatcher::Phrases(list) => list
                            .iter()
                            .map(|(words, value)| {
                                let texts: Vec<&str> = words.iter().map(String::as_str).collect();
                                Phrase {
                                    words: words.iter().map(|w| lexicon.word(w)).collect(),
                                    sound: lexicon.id(&texts),
                                    letters: words.iter().map(|w| w.chars().count()).sum(),
                                    value: value.clone(),
                                }
                            })
                            .collect(),
                        SlotMatcher::Number { .. } | SlotMatcher::Text { .. } => Vec::new(),
                    })
                    .collect()
            })
            .collect();
        let templates: Vec<Prepared> = templates
            .iter()
            .map(|t| {
                let mut anchors = HashSet::new();
                literal_words(&t.root, &mut anchors);
                let mut slots = Vec::new();
                slots_of(&t.root, &mut slots);
                let mut numeric = false;
                for index in slots {
                    match intents.get(t.intent).and_then(|i| i.slots.get(index)) {
                        Some((_, SlotMatcher::Phrases(list))) => {
                            anchors.extend(list.iter().flat_map(|(words, _)| words.clone()));
                        }
                        Some((_, SlotMatcher::Number { .. })) => numeric = true,
                        Some((_, SlotMatcher::Text { .. })) | None => {}
                    }
                }
                anchors.retain(|w| !is_weak(w));
                Prepared {
                    root: lexicon.node(&t.root),
                    anchors,
                    numeric,
                }
            })
            .collect();
        let numbers = number_words().map(|w| (w, lexicon.id(&[w]))).collect();
        let mut heard_as_is = none_words(&templates);
        heard_as_is.extend(known_words(intents, &templates));
        Self {
            templates,
            phrases,
            sounds: lexicon.sounds,
            numbers,
            heard_as_is,
        }
    }

    /// The best near miss, if any.
    /// `clause_starts`: tokens written after a clause end (a comma, a full stop), which
    /// no sound runs across ("Dave, start" is no "restart").
    pub(super) fn best<'e>(
        &self,
        engine: &'e TemplateEngine,
        tokens: &[String],
        clause_starts: &[usize],
    ) -> Option<NearMatch<'e>> {
        if tokens.is_empty() {
            return None;
        }
        let heard = Heard::new(tokens, &self.sounds, &self.heard_as_is, clause_starts);
        let n = tokens.len();
        // One or two words of noise ("math" for mute) are never a near miss: each word of
        // so short an utterance must be one the templates have as it is.
        if n <= SHORT_UTTERANCE
            && !tokens.iter().zip(&heard.weak).all(|(t, weak)| {
                *weak || is_number_token(t) || self.templates.iter().any(|p| p.anchors.contains(t))
            })
        {
            return None;
        }
        let budget = MAX_COST_PER_TOKEN * n as f32;
        let mut best: Option<(f32, u8, u32, &CompiledTemplate, Fuzzy)> = None;
        for (template, prepared) in engine.templates.iter().zip(&self.templates) {
            // Without an anchor word the template cannot match; most are skipped here.
            if n > 1
                && !tokens.iter().zip(&heard.weak).any(|(t, weak)| {
                    !weak
                        && (prepared.anchors.contains(t)
                            || (prepared.numeric && is_number_token(t)))
                })
            {
                continue;
            }
            let intent = &engine.intents[template.intent];
            let matcher = Matcher {
                heard: &heard,
                intent,
                phrases: self.phrases.get(template.intent).map_or(&[], Vec::as_slice),
                numbers: &self.numbers,
                budget,
            };
            let start = Fuzzy {
                pos: 0,
                literals: 0,
                typed_words: 0,
                text_words: 0,
                cost: 0.0,
                edits: 0,
                plain: 0,
                anchored: false,
                captures: Vec::new(),
            };
            // A function word heard before the utterance proper ("and, open all windows"),
            // unless it makes a question of it ("is the driver's window open") or says
            // not to do it ("don't pause the music"); or a number, which asks for nothing
            // alone ("3, migration on press 1" for "read the vibration on press one").
            // Never another word: "increase the conveyor speed" is no reading of it, "hang
            // on, pause the music" no play.
            let skipped = if !(heard.weak[0] || heard.number[0])
                || YES_NO_QUESTION_OPENERS.contains(&tokens[0].as_str())
                || NEGATIONS.contains(&tokens[0].as_str())
            {
                None
            } else {
                matcher.charge(&start, 1, 1.0, 1, true)
            };
            let states: Vec<Fuzzy> = std::iter::once(start).chain(skipped).collect();
            for state in matcher.advance(&prepared.root, states, true) {
                let Some(state) = matcher.finish(state) else {
                    continue;
                };
                // One or two words are too few to tell a misheard command word from
                // another word the templates have ("blower" is no "lower", "degrees" no
                // "decrease"): in so short an utterance every word is taken as it is.
                if n <= SHORT_UTTERANCE && state.edits > 0 {
                    continue;
                }
                if !intent
                    .required
                    .iter()
                    .all(|r| state.captures.iter().any(|(s, _)| s == r))
                {
                    continue;
                }
                let covered = state.literals as f32 + state.typed_words as f32;
                let coverage = (covered / n as f32).min(1.0);
                let confidence = coverage * (1.0 - state.cost / n as f32);
                // Highest confidence, then fewer edits, then more literal words, then the
                // first template.
                let better = match &best {
                    None => true,
                    Some((c, edits, literals, _, _)) => {
                        (confidence, std::cmp::Reverse(state.edits), state.literals)
                            > (*c, std::cmp::Reverse(*edits), *literals)
                    }
                };
                if better {
                    best = Some((confidence, state.edits, state.literals, template, state));
                }
            }
        }
        best.map(|(confidence, _, _, template, state)| NearMatch {
            confidence,
            template,
            captures: state.captures,
        })
    }
}

/// The best near miss of an utterance.
#[derive(Debug)]
pub(super) struct NearMatch<'e> {
    pub(super) confidence: f32,
    pub(super) template: &'e CompiledTemplate,
    /// (slot index, value).
    pub(super) captures: Vec<(usize, SlotValue)>,
}

/// A slot value heard with misheard words.
#[derive(Debug)]
struct Candidate {
    end: usize,
    value: SlotValue,
    cost: f32,
    edits: u8,
    /// A word of the value that is not a function word was heard as it is.
    anchored: bool,
}

/// A partial near miss.
#[derive(Debug, Clone)]
struct Fuzzy {
    pos: usize,
    literals: u32,
    typed_words: u32,
    text_words: u32,
    cost: f32,
    edits: u8,
    plain: u8,
    /// A word that is not a function word was heard exactly as the template has it.
    anchored: bool,
    captures: Vec<(usize, SlotValue)>,
}

/// The utterance: its words, their sounds alone and written together, and the
/// similarities computed so far.
struct Heard<'a> {
    tokens: &'a [String],
    weak: Vec<bool>,
    /// Per token: a number word (or digits) as heard.
    number: Vec<bool>,
    letters: Vec<usize>,
    /// `spans[p * MAX_SPAN + k - 1]`: tokens `p..p + k` written together.
    spans: Vec<Option<Sound>>,
    templates: &'a [Sound],
    /// Per token: a word heard as it is, never taken by sound (a word of the negatives no
    /// template has, or of a known free-text value).
    as_is: Vec<bool>,
    /// Similarity of span `p, k` to template sound `id`, NaN until computed. A value below
    /// [`MIN_SIMILARITY`] may be only an upper bound.
    similarities: Vec<Cell<f32>>,
    /// Per token: the number word it sounds most like, and how much.
    numbers: Vec<OnceCell<Option<(&'static str, f32)>>>,
}

impl<'a> Heard<'a> {
    fn new(
        tokens: &'a [String],
        templates: &'a [Sound],
        heard_as_is: &HashSet<String>,
        clause_starts: &[usize],
    ) -> Self {
        let n = tokens.len();
        let spans = (0..n * MAX_SPAN)
            .map(|i| {
                let (p, k) = (i / MAX_SPAN, i % MAX_SPAN + 1);
                let across = clause_starts.iter().any(|&s| p < s && s < p + k);
                tokens
                    .get(p..p + k)
                    .filter(|_| !across)
                    .map(Sound::of_words)
            })
            .collect();
        Self {
            tokens,
            weak: tokens.iter().map(|t| is_weak(t)).collect(),
            number: tokens.iter().map(|t| names_a_number(t)).collect(),
            letters: tokens.iter().map(|t| t.chars().count()).collect(),
            spans,
            templates,
            as_is: tokens.iter().map(|t| heard_as_is.contains(t)).collect(),
            similarities: vec![Cell::new(f32::NAN); n * MAX_SPAN * templates.len()],
            numbers: vec![OnceCell::new(); n],
        }
    }

    /// Similarity of tokens `p..p + k` (1 ≤ k ≤ [`MAX_SPAN`]) to a template sound.
    fn similarity(&self, p: usize, k: usize, id: SoundId) -> f32 {
        if id >= self.templates.len() || k == 0 {
            return 0.0;
        }
        let span = p * MAX_SPAN + k - 1;
        let Some(cell) = self.similarities.get(span * self.templates.len() + id) else {
            return 0.0;
        };
        let cached = cell.get();
        if !cached.is_nan() {
            return cached;
        }
        let sim = match (self.spans.get(span), self.templates.get(id)) {
            (Some(Some(heard)), Some(template)) => {
                let bound = heard.similarity_bound(template);
                if bound < MIN_SIMILARITY {
                    bound
                } else {
                    heard.similarity(template)
                }
            }
            _ => 0.0,
        };
        cell.set(sim);
        sim
    }

    fn letters(&self, p: usize, k: usize) -> usize {
        self.letters[p..p + k].iter().sum()
    }

    /// Whether tokens `p..p + k` hold a word that is not a function word.
    fn has_evidence(&self, p: usize, k: usize) -> bool {
        self.weak[p..p + k].iter().any(|w| !w)
    }
}

/// Whether a heard span holds one of the template words as it is. Then the words are aligned
/// one by one, not compared as one sound: the right word would hide a wrong one ("pump ok"
/// is not "pump one") or an extra one ("cabin temperature" is not a split "temperature").
fn shares_a_word(span: &[String], words: &[Word]) -> bool {
    span.iter().any(|t| words.iter().any(|w| *t == w.text))
}

/// One template's tolerant match against one utterance.
struct Matcher<'a> {
    heard: &'a Heard<'a>,
    intent: &'a CompiledIntent,
    phrases: &'a [Vec<Phrase>],
    numbers: &'a [(&'static str, SoundId)],
    budget: f32,
}

impl Matcher<'_> {
    /// `state` moved to `end` with an edit of `cost` (`edits` edits), if within the limits.
    fn charge(
        &self,
        state: &Fuzzy,
        end: usize,
        cost: f32,
        edits: u8,
        plain: bool,
    ) -> Option<Fuzzy> {
        let within = state.cost + cost <= self.budget
            && state.edits + edits <= MAX_EDITS
            && state.plain + u8::from(plain) <= MAX_PLAIN_EDITS;
        within.then(|| {
            let mut next = state.clone();
            next.pos = end;
            next.cost += cost;
            next.edits += edits;
            next.plain += u8::from(plain);
            next
        })
    }

    /// A complete match, with a function word heard after the end as a plain edit.
    fn finish(&self, state: Fuzzy) -> Option<Fuzzy> {
        let n = self.heard.tokens.len();
        // Free text fits anything, so alone it cannot show that the rest was a command; a
        // typed value heard beside it can ("Travel shoot, pump 1, it is leaking oil." is
        // pump 1's troubleshooting, whatever the symptom). With nothing but function words
        // heard right, nothing shows it was this one.
        if (state.text_words > 0 && state.typed_words == 0) || (!state.anchored && n > 1) {
            return None;
        }
        if state.pos == n {
            return (state.edits > 0).then_some(state);
        }
        if state.pos + 1 == n && self.heard.weak[state.pos] {
            return self.charge(&state, n, 1.0, 1, true);
        }
        None
    }

    /// Similarity of heard tokens `p..p + k` to a template sound, if they may stand for it:
    /// at least one of them is not a function word and both sides are long enough.
    fn sounds_like(&self, p: usize, k: usize, sound: SoundId, letters: usize) -> Option<f32> {
        if k == 0
            || k > MAX_SPAN
            || p + k > self.heard.tokens.len()
            || !self.heard.has_evidence(p, k)
            || self.heard.number[p..p + k].iter().any(|&n| n)
            || self.heard.as_is[p..p + k].iter().any(|&n| n)
            || letters < MIN_PHONETIC_LETTERS
            || self.heard.letters(p, k) < MIN_PHONETIC_LETTERS
        {
            return None;
        }
        let sim = self.heard.similarity(p, k, sound);
        (sim >= MIN_SIMILARITY).then_some(sim)
    }

    fn advance(&self, node: &TNode, states: Vec<Fuzzy>, required: bool) -> Vec<Fuzzy> {
        if states.is_empty() {
            return states;
        }
        let mut out = match node {
            TNode::Word(w) => {
                let mut out = Vec::new();
                for s in &states {
                    self.word(w, s, required, &mut out);
                }
                out
            }
            TNode::Run(words, sound) => self.run(words, *sound, states, required),
            TNode::Seq(items) => items
                .iter()
                .fold(states, |acc, item| self.advance(item, acc, required)),
            TNode::Alt(branches) => {
                let mut out = Vec::new();
                for branch in branches {
                    out.extend(self.advance(branch, states.clone(), required));
                }
                out
            }
            TNode::Opt(inner) => {
                // Not `required`: dropping an optional word costs nothing already.
                let mut out = self.advance(inner, states.clone(), false);
                out.extend(states);
                out
            }
            TNode::Slot(index) => self.slot(*index, &states),
        };
        if out.len() > MAX_STATES {
            out.sort_by(|a, b| a.cost.total_cmp(&b.cost));
            out.truncate(MAX_STATES);
        }
        out
    }

    /// One template word: as heard, by sound, after a function word heard in excess, or
    /// (a function word of a required part) not heard.
    fn word(&self, w: &Word, s: &Fuzzy, required: bool, out: &mut Vec<Fuzzy>) {
        self.word_at(w, s, out);
        let p = s.pos;
        if p > 0
            && self.heard.weak.get(p).copied().unwrap_or(false)
            && self.heard.tokens[p] != w.text
            && let Some(skipped) = self.charge(s, p + 1, 1.0, 1, true)
        {
            self.word_at(w, &skipped, out);
        }
        if required
            && is_weak(&w.text)
            && let Some(dropped) = self.charge(s, p, 1.0, 1, true)
        {
            out.push(dropped);
        }
    }

    /// One template word at the state's position: as heard, by sound (one heard word or two
    /// written together), or replaced by a function word heard first.
    fn word_at(&self, w: &Word, s: &Fuzzy, out: &mut Vec<Fuzzy>) {
        let p = s.pos;
        let Some(token) = self.heard.tokens.get(p) else {
            return;
        };
        if *token == w.text {
            let mut next = s.clone();
            next.pos += 1;
            next.literals += 1;
            next.anchored |= !self.heard.weak[p];
            out.push(next);
            return;
        }
        for k in 1..=2 {
            let Some(span) = self.heard.tokens.get(p..p + k) else {
                break;
            };
            if shares_a_word(span, std::slice::from_ref(w)) {
                continue;
            }
            if let Some(sim) = self.sounds_like(p, k, w.sound, w.letters)
                && let Some(mut next) = self.charge(s, p + k, substitution_cost(sim), 1, false)
            {
                next.literals += k as u32;
                out.push(next);
            }
        }
        if p == 0
            && self.heard.weak[0]
            && !YES_NO_QUESTION_OPENERS.contains(&token.as_str())
            && let Some(mut next) = self.charge(s, 1, 1.0, 1, true)
        {
            next.literals += 1;
            out.push(next);
        }
    }

    /// Consecutive literal words: word by word, or as one sound against 1 to n + 1 heard
    /// words ("their condition" for "air conditioner").
    fn run(
        &self,
        words: &[Word],
        sound: SoundId,
        states: Vec<Fuzzy>,
        required: bool,
    ) -> Vec<Fuzzy> {
        let letters = words.iter().map(|w| w.letters).sum();
        let mut whole = Vec::new();
        for s in &states {
            let p = s.pos;
            for k in 1..=MAX_SPAN.min(words.len() + 1) {
                let Some(span) = self.heard.tokens.get(p..p + k) else {
                    break;
                };
                if shares_a_word(span, words) {
                    continue;
                }
                if let Some(sim) = self.sounds_like(p, k, sound, letters)
                    && let Some(mut next) = self.charge(
                        s,
                        p + k,
                        substitution_cost(sim) * words.len() as f32,
                        1,
                        false,
                    )
                {
                    next.literals += k as u32;
                    whole.push(next);
                }
            }
        }
        let mut out = words.iter().fold(states, |acc, w| {
            let mut out = Vec::new();
            for s in &acc {
                self.word(w, s, required, &mut out);
            }
            out
        });
        out.extend(whole);
        out
    }

    fn slot(&self, index: usize, states: &[Fuzzy]) -> Vec<Fuzzy> {
        let Some((_, matcher)) = self.intent.slots.get(index) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in states {
            for (end, value, typed) in slot_matches(matcher, self.heard.tokens, s.pos) {
                let mut next = s.clone();
                let words = (end - s.pos) as u32;
                if typed {
                    next.typed_words += words;
                } else {
                    next.text_words += words;
                }
                next.pos = end;
                next.anchored |= typed && self.heard.has_evidence(s.pos, end - s.pos);
                next.captures.push((index, value));
                out.push(next);
            }
            let near = match matcher {
                SlotMatcher::Number {
                    min,
                    max,
                    half,
                    integer,
                } => self.number(s.pos, *min, *max, *half, *integer),
                SlotMatcher::Phrases(_) => self
                    .phrases
                    .get(index)
                    .map(|p| self.phrase(s.pos, p))
                    .unwrap_or_default(),
                SlotMatcher::Text { .. } => Vec::new(),
            };
            for c in near {
                if let Some(mut next) = self.charge(s, c.end, c.cost, c.edits, false) {
                    next.typed_words += (c.end - s.pos) as u32;
                    next.anchored |= c.anchored;
                    next.captures.push((index, c.value));
                    out.push(next);
                }
            }
        }
        out
    }

    /// The number word heard token `i` sounds most like, if it may stand for one.
    fn number_word(&self, i: usize) -> Option<(&'static str, f32)> {
        *self.heard.numbers[i].get_or_init(|| {
            if self.heard.letters[i] < 2 || self.heard.as_is[i] {
                return None;
            }
            self.numbers
                .iter()
                .map(|&(w, id)| (w, self.heard.similarity(i, 1, id)))
                .filter(|(_, sim)| *sim >= MIN_SIMILARITY)
                .max_by(|a, b| a.1.total_cmp(&b.1))
        })
    }

    /// Numbers with misheard number words ("free" for three): each heard word that is not
    /// part of a number is replaced by the number word it sounds most like, if it does. A
    /// function word ("for") only beside a number word heard as it is ("twenty for").
    ///
    fn number(
        &self,
        start: usize,
        min: Option<f64>,
        max: Option<f64>,
        half: bool,
        integer: bool,
    ) -> Vec<Candidate> {
        let tokens = self.heard.tokens;
        let mut words: Vec<String> = Vec::new();
        let mut costs: Vec<Option<f32>> = Vec::new();
        for (i, token) in tokens.iter().enumerate().skip(start).take(MAX_NUMBER_WORDS) {
            if is_number_token(token) {
                words.push(token.clone());
                costs.push(None);
            } else if let Some((word, sim)) = self.number_word(i) {
                words.push(word.to_owned());
                costs.push(Some(substitution_cost(sim)));
            } else {
                break;
            }
        }
        let mut out = Vec::new();
        if costs.iter().all(Option::is_none) {
            return out;
        }
        for (end, v) in parse_number_prefixes(&words, 0, half) {
            let Ok(value) = number_value(min, max, integer, v) else {
                continue;
            };
            let replaced: Vec<(usize, f32)> = costs[..end]
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.map(|c| (i, c)))
                .collect();
            if replaced.is_empty() {
                continue;
            }
            let weak_replaced = replaced.iter().any(|(i, _)| self.heard.weak[start + i]);
            let heard_number = (0..end).any(|i| costs[i].is_none() && !self.heard.weak[start + i]);
            if weak_replaced && !heard_number {
                continue;
            }
            let cost = replaced.iter().map(|(_, c)| c).sum();
            out.push(Candidate {
                end: start + end,
                value,
                cost,
                edits: replaced.len() as u8,
                anchored: heard_number,
            });
        }
        out
    }

    /// Enum and entity values heard with misheard words: word by word ("bump two", "press
    /// to"), or the whole value as one sound against n or n + 1 heard words. Never fewer heard
    /// words than the value has: "pumping" must not become "pump one", the word that tells
    /// the values apart would be missing.
    fn phrase(&self, start: usize, phrases: &[Phrase]) -> Vec<Candidate> {
        let heard = self.heard;
        let mut out = Vec::new();
        for phrase in phrases {
            let m = phrase.words.len();
            if let Some(span) = heard.tokens.get(start..start + m)
                && let Some((cost, edits, anchored)) = self.word_by_word(start, span, &phrase.words)
            {
                let value = SlotValue::Text(phrase.value.clone());
                out.push(Candidate {
                    end: start + m,
                    value,
                    cost,
                    edits,
                    anchored,
                });
            }
            for k in m..=MAX_SPAN.min(m + 1) {
                if k == m && m == 1 {
                    continue; // the same comparison as word by word
                }
                let Some(span) = heard.tokens.get(start..start + k) else {
                    break;
                };
                if shares_a_word(span, &phrase.words) {
                    continue;
                }
                if let Some(sim) = self.sounds_like(start, k, phrase.sound, phrase.letters) {
                    let cost = substitution_cost(sim) * m as f32;
                    let value = SlotValue::Text(phrase.value.clone());
                    out.push(Candidate {
                        end: start + k,
                        value,
                        cost,
                        edits: 1,
                        anchored: false,
                    });
                }
            }
        }
        out
    }

    /// A value's words against as many heard words: each as heard or sounding alike; a
    /// function word only as a number word beside a word heard right ("press to"). Returns
    /// (cost, edits, anchored).
    fn word_by_word(
        &self,
        start: usize,
        span: &[String],
        words: &[Word],
    ) -> Option<(f32, u8, bool)> {
        let mut cost = 0.0;
        let mut edits = 0;
        let mut anchored = false;
        let mut weak_replaced = false;
        for (i, (token, word)) in span.iter().zip(words).enumerate() {
            let weak = self.heard.weak[start + i];
            if *token == word.text {
                anchored |= !weak;
                continue;
            }
            if self.heard.number[start + i] {
                return None; // "conveyor three" is not "conveyor one"
            }
            if self.heard.as_is[start + i] {
                return None; // heard as it is ("supermarket" is no "supercharger")
            }
            let letters = self.heard.letters[start + i];
            let comparable = if word.number {
                letters >= 2
            } else {
                !weak && letters >= MIN_PHONETIC_LETTERS && word.letters >= MIN_PHONETIC_LETTERS
            };
            if !comparable {
                return None;
            }
            let sim = self.heard.similarity(start + i, 1, word.sound);
            if sim < MIN_SIMILARITY {
                return None;
            }
            weak_replaced |= weak;
            cost += substitution_cost(sim);
            edits += 1;
        }
        (edits > 0 && (anchored || !weak_replaced)).then_some((cost, edits, anchored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_core::{EntityList, EntityLists, LoadedManifest, Recognition};
    use std::path::Path;

    const PLANT: &str = r#"
[skill]
name = "plant"
version = "0.1.0"

[types.machine]
kind = "entity"
list = "machine"

[intents."plant.start"]
say = "Starting {machine}"
slots.machine = { type = "machine" }
templates = ["(start|troubleshoot) [the] {machine}"]

[intents."plant.set"]
say = "Setting {level}"
slots.level = { type = "integer", min = 0, max = 30 }
templates = ["set the (fan|temperature) to {level}"]

[intents."plant.note"]
say = "Noted"
slots.note = { type = "text", max_words = 4 }
templates = ["note {note}"]

[intents."plant.cancel"]
say = "Cancelled"
templates = ["cancel"]

[intents."plant.diagnose"]
say = "Diagnosing {machine}"
slots.machine = { type = "machine" }
slots.symptom = { type = "text", max_words = 6, required = false }
templates = ["diagnose [the] {machine} [it is {symptom}]"]
"#;

    fn engine() -> TemplateEngine {
        let manifest = LoadedManifest::parse(Path::new("plant/skill.toml"), PLANT).expect("valid");
        let mut entities = EntityLists::new();
        entities.insert(
            "machine".into(),
            EntityList {
                values: vec!["pump-1".into(), "pump-3".into(), "pump-4".into()],
                synonyms: Default::default(),
            },
        );
        let (engine, errors) = TemplateEngine::compile(&[manifest], &entities, 0.5);
        assert!(errors.is_empty(), "{errors:?}");
        engine
    }

    fn machine(r: &Recognition) -> Option<&SlotValue> {
        r.slots.get("machine")
    }

    #[test]
    fn cost_is_dissimilarity_with_a_floor() {
        assert_eq!(substitution_cost(1.0), SUBSTITUTION_FLOOR);
        assert!((substitution_cost(0.7) - 0.3).abs() < 1e-6);
        assert!(substitution_cost(MIN_SIMILARITY) < 0.5);
    }

    #[test]
    fn misheard_entity_and_number_words_are_recovered() {
        let engine = engine();
        let r = engine.recognize("start bump free");
        assert_eq!(r.intent, "plant.start");
        assert_eq!(machine(&r), Some(&SlotValue::Text("pump-3".into())));
        // A near miss says so: below an exact match, lowered by its edits.
        assert!(r.confidence < 1.0 && r.confidence >= 0.5, "{r:?}");
        assert!((engine.recognize("start pump three").confidence - 1.0).abs() < 1e-6);
        // "for" beside "pump" heard right is four.
        let r = engine.recognize("start pump for");
        assert_eq!(machine(&r), Some(&SlotValue::Text("pump-4".into())));
        let r = engine.recognize("travel shoot pump one");
        assert_eq!(r.intent, "plant.start");
    }

    #[test]
    fn no_sound_runs_across_a_written_clause_end() {
        let engine = engine();
        assert_eq!(
            engine.recognize("travel shoot pump one").intent,
            "plant.start"
        );
        // Two clauses are two things said ("Dave, start press one" is no "restart").
        assert_eq!(engine.recognize("travel, shoot pump one").intent, "none");
        // A word by sound inside a clause is still taken beside a comma elsewhere.
        let r = engine.recognize("start, bump free");
        assert_eq!(machine(&r), Some(&SlotValue::Text("pump-3".into())));
    }

    #[test]
    fn a_leading_function_word_may_stand_for_the_first_word() {
        let engine = engine();
        let r = engine.recognize("and the fan to 22");
        assert_eq!(r.intent, "plant.set");
        assert_eq!(r.slots.get("level"), Some(&SlotValue::Integer(22)));
        assert!((r.confidence - (1.0 - 1.0 / 5.0)).abs() < 1e-6, "{r:?}");
        // Only the first word: a function word in the middle replaces nothing.
        assert_eq!(engine.recognize("set it fan to 22").intent, "none");
    }

    #[test]
    fn only_a_function_word_heard_first_is_skipped() {
        let engine = engine();
        // "and" before a misheard command: skipped.
        assert_eq!(
            engine.recognize("and start the pump three").intent,
            "plant.start"
        );
        // A word that asks for something else is not: "increase" asks for no start, and
        // "cancel" (a command itself) does not vanish before "diagnose".
        assert_eq!(
            engine.recognize("increase start the pump three").intent,
            "none"
        );
        assert_eq!(
            engine.recognize("cancel diagnose the pump three").intent,
            "none"
        );
    }

    #[test]
    fn numbers_need_their_sound_and_a_word_heard_right() {
        let engine = engine();
        // "free" sounds like three (and not like four): 23.
        let r = engine.recognize("set the fan to twenty free");
        assert_eq!(r.slots.get("level"), Some(&SlotValue::Integer(23)));
        // A function word alone is no number: "to" is not two here.
        assert_eq!(engine.recognize("set the fan to to").intent, "none");
        // "twenty for" is 24: "for" stands beside a number word heard as it is.
        let r = engine.recognize("set the fan to twenty for");
        assert_eq!(r.slots.get("level"), Some(&SlotValue::Integer(24)));
    }

    const CAR_AND_BELT: &str = r#"
[skill]
name = "mixed"
version = "0.1.0"

[types.machine]
kind = "entity"
list = "machine"

[intents."car.ac_on"]
say = "Air conditioning on"
templates = ["turn the air conditioning on"]

[intents."plant.speed"]
say = "Speed of {machine}"
slots.machine = { type = "machine" }
templates = ["how fast is [the] {machine} [running|going|turning]"]
"#;

    #[test]
    fn questions_and_other_numbers_never_become_commands() {
        let manifest =
            LoadedManifest::parse(Path::new("mixed/skill.toml"), CAR_AND_BELT).expect("valid");
        let mut entities = EntityLists::new();
        entities.insert(
            "machine".into(),
            EntityList {
                values: vec!["conveyor-1".into()],
                synonyms: [("conveyor-1".to_owned(), vec!["conveyor".to_owned()])]
                    .into_iter()
                    .collect(),
            },
        );
        let (engine, errors) = TemplateEngine::compile(&[manifest], &entities, 0.5);
        assert!(errors.is_empty(), "{errors:?}");
        // A function word heard first may stand for "turn"; a question opener may not.
        assert_eq!(
            engine.recognize("and the air conditioning on").intent,
            "car.ac_on"
        );
        assert_eq!(
            engine.recognize("is the air conditioning on").intent,
            "none"
        );
        assert_eq!(
            engine.recognize("is turn the air conditioning on").intent,
            "none"
        );
        // Nor may a negation: it says not to do it.
        for negated in [
            "dont turn the air conditioning on",
            "never turn the air conditioning on",
        ] {
            assert_eq!(engine.recognize(negated).intent, "none", "{negated}");
        }
        // "three" is a machine the list does not have, not a misheard "turning".
        let r = engine.recognize("how fast is the conveyor going");
        assert_eq!(r.intent, "plant.speed");
        assert_eq!(
            engine.recognize("how fast is conveyor three going").intent,
            "none"
        );
    }

    #[test]
    fn values_keep_the_words_that_tell_them_apart() {
        let engine = engine();
        // "pumping" would be "pump one" only by dropping the number.
        assert_eq!(engine.recognize("start pumping").intent, "none");
        // "pump ok" is not "pump one": the right word does not hide the wrong one.
        assert_eq!(engine.recognize("start the pump ok").intent, "none");
    }

    #[test]
    fn out_of_domain_stays_none() {
        let engine = engine();
        for text in [
            "start the car",         // no value sounds like "car"
            "the pump in my garden", // no template
            "set the table to four", // "table" is neither fan nor temperature
            "note",                  // free text needs a word
            "nope this is something else entirely",
        ] {
            assert_eq!(engine.recognize(text).intent, "none", "{text}");
        }
        // Free text takes nothing in a near miss: "knot" is not "note".
        assert_eq!(engine.recognize("knot buy milk").intent, "none");
    }

    #[test]
    fn free_text_is_taken_beside_a_typed_value() {
        let engine = engine();
        // The machine heard as it is shows the command; the symptom is what follows.
        let r = engine.recognize("diagnosed pump one it is leaking oil");
        assert_eq!(r.intent, "plant.diagnose", "{r:?}");
        assert_eq!(machine(&r), Some(&SlotValue::Text("pump-1".into())));
        assert_eq!(
            r.slots.get("symptom"),
            Some(&SlotValue::Text("leaking oil".into())),
            "{r:?}"
        );
        // No machine: the carrier misheard around free text shows nothing.
        assert_eq!(
            engine
                .recognize("diagnosed the garden it is leaking oil")
                .intent,
            "none"
        );
    }

    #[test]
    fn a_word_the_negatives_own_is_never_a_sound_alike() {
        // The example skills: "seat" is in many negatives (seat heating) and no template.
        let engine = crate::spotter::tests::engine();
        for text in ["warm the driver seat", "cool the passenger seat"] {
            assert_eq!(engine.recognize(text).intent, "none", "{text}");
        }
        // A misheard word that names nothing of the kind still stands for the template's.
        let side = engine.recognize("warm the driver sight");
        assert_eq!(side.intent, "climate.adjust_temperature", "{side:?}");
    }

    #[test]
    fn a_word_of_a_known_value_is_never_a_sound_alike() {
        // "supermarket" is one of the destinations the navigation skill knows: heard as it
        // is, it is no misheard "supercharger" (a charging station).
        let engine = crate::spotter::tests::engine();
        let text = "is there a supermarket near here";
        assert_eq!(engine.recognize(text).intent, "none", "{text}");
        let found = engine.recognize("is there a super charger near here");
        assert_eq!(found.intent, "nav.find_nearby", "{found:?}");
    }

    #[test]
    fn without_an_anchor_nothing_matches() {
        let engine = engine();
        // Both words misheard and no word heard right: no evidence of the command.
        assert_eq!(engine.recognize("tart bump").intent, "none");
        // One or two words of noise are no evidence either: "console" is not "cancel"
        // (a mute command from "math" was seen), while a word the templates have still
        // counts as heard right.
        assert_eq!(engine.recognize("console").intent, "none");
        assert_eq!(engine.recognize("cancel").intent, "plant.cancel");
    }

    #[test]
    fn exact_matches_do_not_go_through_the_tolerant_pass() {
        let engine = engine();
        let exact = engine.recognize_exact("start pump three");
        assert_eq!(exact, engine.recognize("start pump three"));
        assert_eq!(engine.recognize_exact("start bump free").intent, "none");
    }
}
