//! The template engine: every installed skill's templates compiled into one matcher.
//!
//! Matching rule (documented in docs/SKILLS.md): a template matches when it covers every
//! token of the normalised utterance. Each match scores
//! `(literal words + words in typed slots + 0.5 × words in free-text slots) / tokens`,
//! which is its confidence. The highest confidence wins; ties go to the match with more
//! literal words, then fewer free-text words, then to the first template in load order
//! (skills by name, intents by name, templates as written).
//!
//! Only when that exact pass finds nothing does a tolerant pass look for a near miss: a
//! template matched with a few misheard words (see [`near_miss`] and docs/ARCHITECTURE.md,
//! "Near-miss tolerance"). Its confidence is lowered by what had to be edited.

use crate::normalize::{clause_starts, normalize, tokenize};
use crate::numbers::{number_to_words, ordinal_forms, parse_number_prefixes};
use crate::template::{self, Node, TemplateSyntaxError};
use edge_core::manifest::{LoadedManifest, SlotKind};
use edge_core::{EntityLists, Recognition, SlotValue, Slots, TemplateRef, Tier};
use near_miss::NearMiss;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

pub mod near_miss;

/// Why a skill's manifest could not be compiled; the skill is skipped, the others load.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A template does not parse.
    #[error("{path}: intents.\"{intent}\".templates[{index}] {template:?}: {source}")]
    Syntax {
        /// Manifest file.
        path: PathBuf,
        /// Intent name.
        intent: String,
        /// Index in the templates list.
        index: usize,
        /// The template text.
        template: String,
        /// The syntax error.
        source: TemplateSyntaxError,
    },
    /// A template uses a slot the intent does not declare, or misses a required one.
    #[error("{path}: intents.\"{intent}\".templates[{index}] {template:?}: {message}")]
    Slot {
        /// Manifest file.
        path: PathBuf,
        /// Intent name.
        intent: String,
        /// Index in the templates list.
        index: usize,
        /// The template text.
        template: String,
        /// What is wrong.
        message: String,
    },
    /// A slot refers to an entity list the configuration does not have.
    #[error(
        "{path}: intents.\"{intent}\".slots.{slot}: entity list {list:?} is not configured (nlu.entities.{list})"
    )]
    UnknownEntityList {
        /// Manifest file.
        path: PathBuf,
        /// Intent name.
        intent: String,
        /// Slot name.
        slot: String,
        /// The missing list.
        list: String,
    },
    /// Another skill already owns the intent.
    #[error("{path}: intent {intent:?} is already owned by skill {owner:?} ({owner_path})")]
    Conflict {
        /// Manifest file of the skill that was skipped.
        path: PathBuf,
        /// Intent name.
        intent: String,
        /// Skill that keeps it.
        owner: String,
        /// Its manifest file.
        owner_path: PathBuf,
    },
    /// Two skills share a name.
    #[error("{path}: skill name {name:?} is already used by {other}")]
    DuplicateSkill {
        /// Manifest file of the skill that was skipped.
        path: PathBuf,
        /// The skill name.
        name: String,
        /// Manifest file of the skill that keeps it.
        other: PathBuf,
    },
}

/// How a slot's words are recognised.
#[derive(Debug, Clone)]
pub(crate) enum SlotMatcher {
    Number {
        min: Option<f64>,
        max: Option<f64>,
        half: bool,
        integer: bool,
    },
    Text {
        max_words: usize,
    },
    /// Phrases (as tokens) and the canonical value each means.
    Phrases(Vec<(Vec<String>, String)>),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledIntent {
    pub(crate) name: String,
    pub(crate) skill: String,
    pub(crate) description: String,
    pub(crate) slots: Vec<(String, SlotMatcher)>,
    /// Each slot's declared type, parallel to `slots` (the schema tells enums from entities).
    pub(crate) declared: Vec<SlotKind>,
    pub(crate) required: Vec<usize>,
    /// Per slot, whether a template lets "a" or "an" come right before it ("find a
    /// {category}"); where none does, a value after an article names a thing ("has a
    /// crack" is no opening).
    pub(crate) after_article: Vec<bool>,
    /// The manifest's free examples, with their slots (for the embedding tier).
    pub(crate) examples: Vec<(String, edge_core::Slots)>,
}

#[derive(Debug, Clone)]
pub(crate) enum CNode {
    Word(String),
    Seq(Vec<CNode>),
    Alt(Vec<CNode>),
    Opt(Box<CNode>),
    Slot(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledTemplate {
    pub(crate) intent: usize,
    index: usize,
    text: String,
    pub(crate) root: CNode,
    required_words: Vec<String>,
}

/// Partial match: position and what has been captured so far.
#[derive(Debug, Clone)]
struct State {
    pos: usize,
    literals: u32,
    typed_words: u32,
    text_words: u32,
    captures: Vec<(usize, SlotValue)>,
}

/// Upper bound on partial matches kept per template, so pathological templates stay fast.
const MAX_STATES: usize = 512;

/// Compiled templates of every installed skill.
#[derive(Debug, Clone)]
pub struct TemplateEngine {
    pub(crate) intents: Vec<CompiledIntent>,
    pub(crate) templates: Vec<CompiledTemplate>,
    min_confidence: f32,
    near_miss: NearMiss,
}

impl TemplateEngine {
    /// Compiles the manifests (sorted by skill name for a deterministic order). A skill with
    /// an error is skipped whole and its error returned beside the engine.
    pub fn compile(
        manifests: &[LoadedManifest],
        entities: &EntityLists,
        min_confidence: f32,
    ) -> (Self, Vec<CompileError>) {
        let mut sorted: Vec<&LoadedManifest> = manifests.iter().collect();
        sorted.sort_by(|a, b| a.manifest.skill.name.cmp(&b.manifest.skill.name));
        let mut engine = Self {
            intents: Vec::new(),
            templates: Vec::new(),
            min_confidence,
            near_miss: NearMiss::default(),
        };
        let mut errors = Vec::new();
        let mut owners: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
        let mut skills: BTreeMap<String, PathBuf> = BTreeMap::new();
        for loaded in sorted {
            let name = &loaded.manifest.skill.name;
            if let Some(other) = skills.get(name) {
                errors.push(CompileError::DuplicateSkill {
                    path: loaded.path.clone(),
                    name: name.clone(),
                    other: other.clone(),
                });
                continue;
            }
            if let Some((intent, (owner, owner_path))) = loaded
                .manifest
                .intents
                .keys()
                .find_map(|i| owners.get(i).map(|o| (i, o)))
            {
                errors.push(CompileError::Conflict {
                    path: loaded.path.clone(),
                    intent: intent.clone(),
                    owner: owner.clone(),
                    owner_path: owner_path.clone(),
                });
                continue;
            }
            match compile_skill(loaded, entities, engine.intents.len()) {
                Ok((intents, templates)) => {
                    for intent in &intents {
                        owners.insert(intent.name.clone(), (name.clone(), loaded.path.clone()));
                    }
                    skills.insert(name.clone(), loaded.path.clone());
                    engine.intents.extend(intents);
                    engine.templates.extend(templates);
                }
                Err(e) => errors.push(e),
            }
        }
        engine.near_miss = NearMiss::build(&engine.intents, &engine.templates);
        (engine, errors)
    }

    /// Number of compiled templates.
    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    /// Names of the skills whose templates were compiled, in load order.
    pub fn skill_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for intent in &self.intents {
            if names.last() != Some(&intent.skill.as_str()) {
                names.push(&intent.skill);
            }
        }
        names
    }

    /// Names of the intents the engine knows, in load order.
    pub fn intent_names(&self) -> impl Iterator<Item = &str> {
        self.intents.iter().map(|i| i.name.as_str())
    }

    /// Recognises one utterance: the exact pass, then, if it finds nothing, the near-miss
    /// pass. Deterministic: the same text always gives the same answer.
    pub fn recognize(&self, text: &str) -> Recognition {
        let tokens = normalize(text);
        if tokens.is_empty() {
            return Recognition::none();
        }
        let mut recognition = match self.exact(&tokens) {
            Some(exact) => exact,
            None => match self
                .near_miss
                .best(self, &tokens, &clause_starts(text, &tokens))
            {
                Some(near) if near.confidence >= self.min_confidence => {
                    self.recognition(near.template, near.captures, near.confidence)
                }
                _ => return Recognition::none(),
            },
        };
        if self.free_text_spans_clauses(&recognition, text) {
            return Recognition::none();
        }
        self.free_text_as_written(&recognition.intent, &mut recognition.slots, text);
        recognition
    }

    /// Recognises one utterance with the exact pass only (no near-miss tolerance).
    pub fn recognize_exact(&self, text: &str) -> Recognition {
        let tokens = normalize(text);
        let Some(mut recognition) = self.exact(&tokens) else {
            return Recognition::none();
        };
        if self.free_text_spans_clauses(&recognition, text) {
            return Recognition::none();
        }
        self.free_text_as_written(&recognition.intent, &mut recognition.slots, text);
        recognition
    }

    /// The compiled intent named `name`.
    pub(crate) fn compiled_intent(&self, name: &str) -> Option<&CompiledIntent> {
        self.intents.iter().find(|i| i.name == name)
    }

    /// Whether `recognition` rests on a free-text slot the templates filled: a carrier
    /// phrase and any words after it ("play {query}" takes "the previous song again"), so
    /// the embedding tier gets a second look before it is acted on. A typed value filled
    /// beside it (a machine, a number) is what the reading rests on instead:
    /// "troubleshoot pump 1, it is leaking oil" is pump 1's troubleshooting whatever the
    /// symptom says.
    pub fn rests_on_free_text(&self, recognition: &Recognition) -> bool {
        let text_slots = self.text_slots(&recognition.intent);
        let is_text = |name: &String| text_slots.iter().any(|(slot, _)| slot == name);
        recognition.tier == Tier::Template
            && text_slots
                .iter()
                .any(|(name, _)| matches!(recognition.slots.get(name), Some(SlotValue::Text(_))))
            && recognition.slots.keys().all(is_text)
    }

    /// A free-text slot that took words of two clauses ("play the last track again, I
    /// missed the chorus"): a template's slot takes every word to the end, so the command
    /// is not the template's; the later tiers read it clause by clause.
    fn free_text_spans_clauses(&self, recognition: &Recognition, text: &str) -> bool {
        self.text_slots(&recognition.intent)
            .iter()
            .any(|(name, _)| {
                matches!(recognition.slots.get(name), Some(SlotValue::Text(v))
                if crate::normalize::spans_clauses(v, text))
            })
    }

    /// Spells `intent`'s free-text slots in `slots` as `text` has them ("mum's place", not
    /// the matching form "mums place"); enum and entity values stay canonical.
    pub fn free_text_as_written(&self, intent: &str, slots: &mut Slots, text: &str) {
        for (name, _) in self.text_slots(intent) {
            if let Some(SlotValue::Text(value)) = slots.get_mut(&name) {
                *value = crate::normalize::as_written(value, text);
            }
        }
    }

    /// The exact pass: the best template covering every token, if its confidence is enough.
    pub(crate) fn exact(&self, tokens: &[String]) -> Option<Recognition> {
        if tokens.is_empty() {
            return None;
        }
        let present: HashSet<&str> = tokens.iter().map(String::as_str).collect();
        let n = tokens.len() as f32;
        let mut best: Option<(f32, u32, u32, &CompiledTemplate, State)> = None;
        for template in &self.templates {
            if !template
                .required_words
                .iter()
                .all(|w| present.contains(w.as_str()))
            {
                continue;
            }
            let intent = &self.intents[template.intent];
            let start = vec![State {
                pos: 0,
                literals: 0,
                typed_words: 0,
                text_words: 0,
                captures: Vec::new(),
            }];
            for state in advance(&template.root, start, tokens, intent) {
                if state.pos != tokens.len()
                    || !intent
                        .required
                        .iter()
                        .all(|r| state.captures.iter().any(|(s, _)| s == r))
                {
                    continue;
                }
                let covered = state.literals as f32
                    + state.typed_words as f32
                    + 0.5 * state.text_words as f32;
                let confidence = (covered / n).min(1.0);
                let better = match &best {
                    None => true,
                    Some((c, lit, txt, _, _)) => {
                        (
                            confidence,
                            state.literals,
                            std::cmp::Reverse(state.text_words),
                        ) > (*c, *lit, std::cmp::Reverse(*txt))
                    }
                };
                if better {
                    best = Some((
                        confidence,
                        state.literals,
                        state.text_words,
                        template,
                        state,
                    ));
                }
            }
        }
        match best {
            Some((confidence, _, _, template, state)) if confidence >= self.min_confidence => {
                Some(self.recognition(template, state.captures, confidence))
            }
            _ => None,
        }
    }

    fn recognition(
        &self,
        template: &CompiledTemplate,
        captures: Vec<(usize, SlotValue)>,
        confidence: f32,
    ) -> Recognition {
        let intent = &self.intents[template.intent];
        let slots: Slots = captures
            .into_iter()
            .map(|(i, v)| (intent.slots[i].0.clone(), v))
            .collect();
        Recognition {
            intent: intent.name.clone(),
            slots,
            confidence,
            tier: Tier::Template,
            template: Some(TemplateRef {
                skill: intent.skill.clone(),
                index: template.index,
                template: template.text.clone(),
            }),
        }
    }
}

fn compile_skill(
    loaded: &LoadedManifest,
    entities: &EntityLists,
    first_intent: usize,
) -> Result<(Vec<CompiledIntent>, Vec<CompiledTemplate>), CompileError> {
    let manifest = &loaded.manifest;
    let mut intents = Vec::new();
    let mut templates = Vec::new();
    for (intent_name, def) in &manifest.intents {
        let mut slots = Vec::new();
        let mut declared = Vec::new();
        for (slot_name, slot) in &def.slots {
            // Validated when the manifest loaded; an error here would be a bug in validate().
            let kind = manifest
                .slot_kind(slot)
                .map_err(|message| CompileError::Slot {
                    path: loaded.path.clone(),
                    intent: intent_name.clone(),
                    index: 0,
                    template: String::new(),
                    message,
                })?;
            declared.push(kind.clone());
            let matcher = match kind {
                SlotKind::Number { min, max, half } => SlotMatcher::Number {
                    min,
                    max,
                    half,
                    integer: false,
                },
                SlotKind::Integer { min, max } => SlotMatcher::Number {
                    min,
                    max,
                    half: false,
                    integer: true,
                },
                SlotKind::Text { max_words, .. } => SlotMatcher::Text { max_words },
                SlotKind::Enum { values } => SlotMatcher::Phrases(enum_phrases(&values)),
                SlotKind::Entity { list } => match entities.get(&list) {
                    Some(entity_list) => SlotMatcher::Phrases(entity_phrases(entity_list)),
                    None => {
                        return Err(CompileError::UnknownEntityList {
                            path: loaded.path.clone(),
                            intent: intent_name.clone(),
                            slot: slot_name.clone(),
                            list,
                        });
                    }
                },
            };
            slots.push((slot_name.clone(), matcher));
        }
        let required = def
            .slots
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| s.required)
            .map(|(i, _)| i)
            .collect();
        let intent_index = first_intent + intents.len();
        let mut after_article = vec![false; def.slots.len()];
        for (index, text) in def.templates.iter().enumerate() {
            let slot_error = |message: String| CompileError::Slot {
                path: loaded.path.clone(),
                intent: intent_name.clone(),
                index,
                template: text.clone(),
                message,
            };
            let node = template::parse(text).map_err(|source| CompileError::Syntax {
                path: loaded.path.clone(),
                intent: intent_name.clone(),
                index,
                template: text.clone(),
                source,
            })?;
            for used in node.slots() {
                if !def.slots.contains_key(used) {
                    return Err(slot_error(format!(
                        "{{{used}}} is not a slot of this intent"
                    )));
                }
            }
            let filled = node.always_filled_slots();
            for (name, slot) in &def.slots {
                if slot.required && !filled.contains(&name.as_str()) {
                    return Err(slot_error(format!(
                        "required slot {{{name}}} is not filled by every form of this template"
                    )));
                }
            }
            let required_words = node
                .required_words()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let root = compile_node(
                &node,
                &def.slots.keys().map(String::as_str).collect::<Vec<_>>(),
            );
            let mut before = vec![BTreeSet::new(); def.slots.len()];
            words_before_slots(&root, BTreeSet::from([None]), &mut before);
            for (slot, words) in before.iter().enumerate() {
                after_article[slot] |= words
                    .iter()
                    .any(|w| matches!(w.as_deref(), Some("a" | "an")));
            }
            templates.push(CompiledTemplate {
                intent: intent_index,
                index,
                text: text.clone(),
                root,
                required_words,
            });
        }
        intents.push(CompiledIntent {
            name: intent_name.clone(),
            skill: manifest.skill.name.clone(),
            description: def.description.clone(),
            slots,
            declared,
            required,
            after_article,
            examples: def
                .examples
                .iter()
                .map(|e| {
                    let slots = e
                        .slots
                        .iter()
                        .map(|(name, value)| {
                            let integer = def
                                .slots
                                .get(name)
                                .is_some_and(|s| s.type_name == "integer");
                            let value = match value {
                                edge_core::ExampleSlot::Number(n) if integer => {
                                    SlotValue::Integer(*n as i64)
                                }
                                edge_core::ExampleSlot::Number(n) => SlotValue::Number(*n),
                                edge_core::ExampleSlot::Text(t) => SlotValue::Text(t.clone()),
                            };
                            (name.clone(), value)
                        })
                        .collect();
                    (e.text.trim().to_owned(), slots)
                })
                .collect(),
        });
    }
    Ok((intents, templates))
}

fn compile_node(node: &Node, slot_names: &[&str]) -> CNode {
    match node {
        Node::Word(w) => CNode::Word(w.clone()),
        Node::Seq(items) => CNode::Seq(items.iter().map(|n| compile_node(n, slot_names)).collect()),
        Node::Alt(items) => CNode::Alt(items.iter().map(|n| compile_node(n, slot_names)).collect()),
        Node::Opt(inner) => CNode::Opt(Box::new(compile_node(inner, slot_names))),
        Node::Slot(name) => CNode::Slot(
            slot_names
                .iter()
                .position(|s| s == name)
                .unwrap_or(usize::MAX),
        ),
    }
}

/// Records in `before[slot]` the words that can come right before each slot of `node`
/// when `entering` can come before `node` (`None`: the start, or another slot's value);
/// returns what can come right after it.
fn words_before_slots(
    node: &CNode,
    entering: BTreeSet<Option<String>>,
    before: &mut [BTreeSet<Option<String>>],
) -> BTreeSet<Option<String>> {
    match node {
        CNode::Word(w) => BTreeSet::from([Some(w.clone())]),
        CNode::Seq(items) => items
            .iter()
            .fold(entering, |acc, item| words_before_slots(item, acc, before)),
        CNode::Alt(branches) => branches
            .iter()
            .flat_map(|b| words_before_slots(b, entering.clone(), before))
            .collect(),
        CNode::Opt(inner) => {
            let mut out = words_before_slots(inner, entering.clone(), before);
            out.extend(entering);
            out
        }
        CNode::Slot(index) => {
            if let Some(words) = before.get_mut(*index) {
                words.extend(entering);
            }
            BTreeSet::from([None])
        }
    }
}

fn enum_phrases(values: &BTreeMap<String, Vec<String>>) -> Vec<(Vec<String>, String)> {
    let mut phrases = Vec::new();
    for (value, synonyms) in values {
        let mut push = |phrase: &str| {
            let tokens = tokenize(phrase);
            if !tokens.is_empty() && !phrases.iter().any(|(t, v)| *t == tokens && v == value) {
                phrases.push((tokens, value.clone()));
            }
        };
        push(&value.replace('_', " "));
        for s in synonyms {
            push(s);
        }
    }
    phrases
}

/// Spoken forms of entity ids: `pump-3` is "pump 3", "pump three", "pump number 3",
/// "pump number three", "pump3", "third pump", "3rd pump", "number 3 pump" and "number
/// three pump"; plus the configured synonyms.
fn entity_phrases(list: &edge_core::EntityList) -> Vec<(Vec<String>, String)> {
    let mut phrases = Vec::new();
    for id in &list.values {
        let parts = tokenize(id);
        let mut forms: Vec<Vec<String>> = vec![Vec::new()];
        for part in &parts {
            let alternatives: Vec<Vec<String>> = match part.parse::<u32>() {
                Ok(n) => vec![
                    vec![part.clone()],
                    tokenize(&number_to_words(n)),
                    vec!["number".into(), part.clone()],
                    [vec!["number".to_owned()], tokenize(&number_to_words(n))].concat(),
                ],
                Err(_) => vec![vec![part.clone()]],
            };
            forms = forms
                .iter()
                .flat_map(|f| {
                    alternatives
                        .iter()
                        .map(move |a| [f.clone(), a.clone()].concat())
                })
                .collect();
        }
        if parts.len() > 1 {
            forms.push(vec![parts.concat()]);
        }
        // A numbered unit by its place ("the second press", "number three pump"): how
        // technicians name the one they stand at.
        if let [kind @ .., last] = parts.as_slice()
            && !kind.is_empty()
            && let Ok(n) = last.parse::<u32>()
        {
            let before_kind = ordinal_forms(n).into_iter().map(|o| vec![o]).chain([
                vec!["number".to_owned(), last.clone()],
                [vec!["number".to_owned()], tokenize(&number_to_words(n))].concat(),
            ]);
            for words in before_kind.collect::<Vec<_>>() {
                forms.push([words, kind.to_vec()].concat());
            }
        }
        for s in list.synonyms.get(id).into_iter().flatten() {
            forms.push(tokenize(s));
        }
        for form in forms {
            if !form.is_empty() {
                phrases.push((form, id.clone()));
            }
        }
    }
    phrases
}

fn advance(
    node: &CNode,
    states: Vec<State>,
    tokens: &[String],
    intent: &CompiledIntent,
) -> Vec<State> {
    if states.is_empty() {
        return states;
    }
    match node {
        CNode::Word(w) => states
            .into_iter()
            .filter_map(|mut s| {
                (tokens.get(s.pos) == Some(w)).then(|| {
                    s.pos += 1;
                    s.literals += 1;
                    s
                })
            })
            .collect(),
        CNode::Seq(items) => items
            .iter()
            .fold(states, |acc, item| advance(item, acc, tokens, intent)),
        CNode::Alt(branches) => {
            let mut out = Vec::new();
            for branch in branches {
                out.extend(advance(branch, states.clone(), tokens, intent));
                if out.len() > MAX_STATES {
                    break;
                }
            }
            out
        }
        CNode::Opt(inner) => {
            let mut out = advance(inner, states.clone(), tokens, intent);
            out.extend(states);
            out.truncate(MAX_STATES);
            out
        }
        CNode::Slot(index) => {
            let Some((_, matcher)) = intent.slots.get(*index) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for s in states {
                for (end, value, typed) in slot_matches(matcher, tokens, s.pos) {
                    let mut next = s.clone();
                    let words = (end - s.pos) as u32;
                    if typed {
                        next.typed_words += words;
                    } else {
                        next.text_words += words;
                    }
                    next.pos = end;
                    next.captures.push((*index, value));
                    out.push(next);
                }
                if out.len() > MAX_STATES {
                    break;
                }
            }
            out
        }
    }
}

/// Why a number does not fit a number slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberMisfit {
    /// Below `min` or above `max`.
    OutOfRange,
    /// A fraction for an integer slot.
    NotWhole,
}

/// A number as a number slot takes it: within its bounds, whole for an integer slot.
pub(crate) fn number_value(
    min: Option<f64>,
    max: Option<f64>,
    integer: bool,
    v: f64,
) -> Result<SlotValue, NumberMisfit> {
    // Written so that NaN is out of range too.
    if !(min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m)) {
        Err(NumberMisfit::OutOfRange)
    } else if integer && v.fract() != 0.0 {
        Err(NumberMisfit::NotWhole)
    } else if integer {
        Ok(SlotValue::Integer(v as i64))
    } else {
        Ok(SlotValue::Number(v))
    }
}

/// Ways the slot can match at `start`: (end, value, is a typed value).
pub(crate) fn slot_matches(
    matcher: &SlotMatcher,
    tokens: &[String],
    start: usize,
) -> Vec<(usize, SlotValue, bool)> {
    match matcher {
        SlotMatcher::Number {
            min,
            max,
            half,
            integer,
        } => parse_number_prefixes(tokens, start, *half)
            .into_iter()
            .filter_map(|(end, v)| {
                let value = number_value(*min, *max, *integer, v).ok()?;
                Some((end, value, true))
            })
            .collect(),
        SlotMatcher::Text { max_words } => (start + 1..=tokens.len().min(start + max_words))
            .map(|end| (end, SlotValue::Text(tokens[start..end].join(" ")), false))
            .collect(),
        SlotMatcher::Phrases(phrases) => phrases
            .iter()
            .filter(|(phrase, _)| {
                tokens.get(start..start + phrase.len()) == Some(phrase.as_slice())
            })
            .map(|(phrase, value)| (start + phrase.len(), SlotValue::Text(value.clone()), true))
            .collect(),
    }
}
