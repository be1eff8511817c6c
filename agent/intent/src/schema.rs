//! The intent schema: what the language-model tier may answer.
//!
//! Built from the compiled template engine, so it lists exactly the intents and slot
//! types the template tier knows (plus `none`), with example utterances expanded from the
//! templates. The model's JSON answer is checked against it by [`IntentSchema::validate`],
//! which reads slot values with the template tier's own code: "pump three" becomes
//! `pump-3`, "twenty two" becomes 22, a synonym becomes its enum value.

use crate::engine::near_miss::slots_of;
use crate::engine::{
    CNode, CompiledIntent, NumberMisfit, SlotMatcher, TemplateEngine, number_value, slot_matches,
};
use crate::evaluation::slots_match;
use crate::normalize::content_tokens;
use crate::numbers::parse_number_prefixes;
use edge_core::intent::NONE_INTENT;
use edge_core::{Recognition, SlotKind, SlotValue, Slots, Tier};
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// Examples listed per intent by default (the prompt's size grows with them).
pub const EXAMPLES_PER_INTENT: usize = 3;

/// Every intent the language-model tier may answer, with its slots.
#[derive(Debug, Clone, Serialize)]
pub struct IntentSchema {
    intents: Vec<IntentSpec>,
}

/// One intent of the schema.
#[derive(Debug, Clone, Serialize)]
pub struct IntentSpec {
    /// Canonical name (`climate.set_temperature`), or `none`.
    pub name: String,
    /// One line from the manifest.
    pub description: String,
    /// Utterances the template tier answers with this intent, with their slots.
    pub examples: Vec<Example>,
    /// Slots in name order.
    pub slots: Vec<SlotSpec>,
}

/// An example utterance and the answer it stands for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    /// What is said.
    pub text: String,
    /// The slots it fills.
    pub slots: Slots,
}

/// One slot of an intent.
#[derive(Debug, Clone, Serialize)]
pub struct SlotSpec {
    /// Slot name.
    pub name: String,
    /// What values it takes.
    pub kind: SlotType,
    /// Whether every answer with this intent must fill it.
    pub required: bool,
    #[serde(skip)]
    matcher: SlotMatcher,
}

/// The values a slot takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SlotType {
    /// One of the canonical values of an enum type.
    Enum {
        /// Canonical values.
        values: Vec<String>,
    },
    /// One of the ids of a configured entity list.
    Entity {
        /// Name of the list.
        list: String,
        /// Its ids.
        values: Vec<String>,
    },
    /// A number, optionally bounded.
    Number {
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
        /// Whether halves can be said ("twenty one and a half").
        half: bool,
    },
    /// A whole number, optionally bounded.
    Integer {
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// Free text.
    Text {
        /// Longest value in words.
        max_words: usize,
    },
}

/// Why a model's answer was refused.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Not JSON at all.
    #[error("the answer is not JSON: {source}")]
    Json {
        /// The parser's error.
        source: serde_json::Error,
    },
    /// JSON of the wrong shape.
    #[error("the answer's {field} must be {expected}")]
    Shape {
        /// `answer`, `intent` or `slots`.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A top-level field other than `intent` and `slots`.
    #[error("the answer has an unknown field {field:?}")]
    UnknownField {
        /// The field.
        field: String,
    },
    /// An intent the schema does not have.
    #[error("unknown intent {intent:?}")]
    UnknownIntent {
        /// The intent named.
        intent: String,
    },
    /// A slot that is unknown, missing or has a bad value.
    #[error("{intent}: slots.{slot}: {problem}")]
    Slot {
        /// The intent.
        intent: String,
        /// The slot.
        slot: String,
        /// What is wrong with it.
        problem: SlotProblem,
    },
}

/// What is wrong with one slot of an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SlotProblem {
    /// The intent has no such slot.
    #[error("not a slot of this intent")]
    Unknown,
    /// A required slot is absent.
    #[error("required but missing")]
    Missing,
    /// A value of the wrong JSON type, or that does not read as the slot's type.
    #[error("expected {expected}, got {got}")]
    WrongType {
        /// The slot's type, in words.
        expected: String,
        /// The value as JSON.
        got: String,
    },
    /// A string that is none of an enum's or entity list's values.
    #[error("{got:?} is not one of its values")]
    UnknownValue {
        /// The value.
        got: String,
    },
    /// A number outside the slot's bounds.
    #[error("{value} is out of range ({})", range(*.min, *.max))]
    OutOfRange {
        /// The number.
        value: f64,
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// Free text longer than the slot allows.
    #[error("{words} words, at most {max_words} allowed")]
    TooLong {
        /// Words in the value.
        words: usize,
        /// The slot's limit.
        max_words: usize,
    },
}

impl TemplateEngine {
    /// The compiled intents and their slot types, for the language-model tier: see
    /// [`IntentSchema`].
    pub fn schema(&self) -> IntentSchema {
        IntentSchema::new(self, EXAMPLES_PER_INTENT)
    }

    /// [`TemplateEngine::schema`] with up to `examples_per_intent` examples per intent.
    pub fn schema_with_examples(&self, examples_per_intent: usize) -> IntentSchema {
        IntentSchema::new(self, examples_per_intent)
    }
}

impl IntentSchema {
    /// The schema of the engine's intents, in load order, then `none`.
    pub(crate) fn new(engine: &TemplateEngine, examples_per_intent: usize) -> Self {
        let mut intents: Vec<IntentSpec> = engine
            .intents
            .iter()
            .enumerate()
            .filter_map(|(index, intent)| intent_spec(engine, index, intent, examples_per_intent))
            .collect();
        intents.push(IntentSpec {
            name: NONE_INTENT.to_owned(),
            description: "Anything else: none of the other intents fits".to_owned(),
            examples: Vec::new(),
            slots: Vec::new(),
        });
        Self { intents }
    }

    /// Every intent, `none` last.
    pub fn intents(&self) -> &[IntentSpec] {
        &self.intents
    }

    /// The intent with this name.
    pub fn intent(&self, name: &str) -> Option<&IntentSpec> {
        self.intents.iter().find(|i| i.name == name)
    }

    /// Checks a model's answer, `{"intent": "...", "slots": {...}}`, and reads its slot
    /// values as the template tier would (a `null` slot counts as absent). The result is
    /// from [`Tier::Slm`] with confidence 1.0, for the caller to replace with the one it
    /// measured; a valid `none` answer is [`Recognition::none`].
    pub fn validate(&self, json: &str) -> Result<Recognition, SchemaError> {
        let shape = |field, expected| SchemaError::Shape { field, expected };
        let answer: Value =
            serde_json::from_str(json).map_err(|source| SchemaError::Json { source })?;
        let Value::Object(mut answer) = answer else {
            return Err(shape("answer", "an object"));
        };
        let Some(Value::String(name)) = answer.remove("intent") else {
            return Err(shape("intent", "a string"));
        };
        let given = match answer.remove("slots") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(slots)) => slots,
            Some(_) => return Err(shape("slots", "an object")),
        };
        if let Some(field) = answer.keys().next() {
            return Err(SchemaError::UnknownField {
                field: field.clone(),
            });
        }
        let intent = self
            .intent(&name)
            .ok_or_else(|| SchemaError::UnknownIntent {
                intent: name.clone(),
            })?;
        let error = |slot: &str, problem| SchemaError::Slot {
            intent: name.clone(),
            slot: slot.to_owned(),
            problem,
        };
        let mut slots = Slots::new();
        for (slot_name, value) in &given {
            let spec = intent
                .slot(slot_name)
                .ok_or_else(|| error(slot_name, SlotProblem::Unknown))?;
            if !value.is_null() {
                let value = spec.read(value).map_err(|p| error(slot_name, p))?;
                slots.insert(slot_name.clone(), value);
            }
        }
        if let Some(missing) = intent
            .slots
            .iter()
            .find(|s| s.required && !slots.contains_key(&s.name))
        {
            return Err(error(&missing.name, SlotProblem::Missing));
        }
        if name == NONE_INTENT {
            return Ok(Recognition::none());
        }
        Ok(Recognition {
            intent: name,
            slots,
            confidence: 1.0,
            tier: Tier::Slm,
            template: None,
        })
    }
}

impl IntentSpec {
    /// The slot values said word for word in `text`, read by the template tier's code: for
    /// each slot, the longest run of words it reads as a value ("twenty two and a half",
    /// "passenger side", "pump three"). A language model choosing among values copies its
    /// examples; what was actually said wins over what it wrote.
    pub fn literal_slots(&self, text: &str) -> Slots {
        let words = crate::normalize::normalize(text);
        let mut slots = Slots::new();
        for spec in &self.slots {
            let mut best: Option<(usize, SlotValue)> = None;
            for start in 0..words.len() {
                for end in (start + 1..=words.len().min(start + 6)).rev() {
                    if best.as_ref().is_some_and(|(len, _)| *len >= end - start) {
                        break;
                    }
                    let span = words[start..end].join(" ");
                    if let Ok(value) = spec.read(&Value::String(span)) {
                        best = Some((end - start, value));
                        break;
                    }
                }
            }
            if let Some((_, value)) = best
                && !matches!(spec.kind, SlotType::Text { .. })
            {
                slots.insert(spec.name.clone(), value);
            }
        }
        slots
    }

    /// The slot with this name.
    pub fn slot(&self, name: &str) -> Option<&SlotSpec> {
        self.slots.iter().find(|s| s.name == name)
    }
}

impl SlotSpec {
    /// Reads a JSON value as this slot's value with the template tier's code: numbers as
    /// JSON numbers or spoken ("twenty two"), enum values and entity ids as any phrase
    /// that means them, text as normalised words.
    pub fn read(&self, value: &Value) -> Result<SlotValue, SlotProblem> {
        let wrong_type = || SlotProblem::WrongType {
            expected: self.kind.to_string(),
            got: value.to_string(),
        };
        match (&self.matcher, value) {
            (
                SlotMatcher::Number {
                    min,
                    max,
                    half,
                    integer,
                },
                _,
            ) => {
                let number = match value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => {
                        let tokens = content_tokens(s);
                        parse_number_prefixes(&tokens, 0, *half)
                            .into_iter()
                            .find(|(end, _)| *end == tokens.len())
                            .map(|(_, v)| v)
                    }
                    _ => None,
                };
                let v = number.ok_or_else(wrong_type)?;
                number_value(*min, *max, *integer, v).map_err(|misfit| match misfit {
                    NumberMisfit::OutOfRange => SlotProblem::OutOfRange {
                        value: v,
                        min: *min,
                        max: *max,
                    },
                    NumberMisfit::NotWhole => wrong_type(),
                })
            }
            (SlotMatcher::Text { max_words }, Value::String(s)) => {
                let tokens = content_tokens(s);
                if tokens.len() > *max_words {
                    return Err(SlotProblem::TooLong {
                        words: tokens.len(),
                        max_words: *max_words,
                    });
                }
                whole(&self.matcher, &tokens).ok_or_else(wrong_type)
            }
            (SlotMatcher::Phrases(_), Value::String(s)) => whole(&self.matcher, &content_tokens(s))
                .ok_or_else(|| SlotProblem::UnknownValue { got: s.clone() }),
            _ => Err(wrong_type()),
        }
    }
}

/// The value the slot reads from all of `tokens`, if it does.
fn whole(matcher: &SlotMatcher, tokens: &[String]) -> Option<SlotValue> {
    slot_matches(matcher, tokens, 0)
        .into_iter()
        .find(|(end, _, _)| *end == tokens.len())
        .map(|(_, value, _)| value)
}

/// The spec of a compiled intent. `None` when a required slot can take no value (an
/// empty entity list): neither tier can ever produce that intent.
fn intent_spec(
    engine: &TemplateEngine,
    index: usize,
    intent: &CompiledIntent,
    examples_per_intent: usize,
) -> Option<IntentSpec> {
    let mut slots = Vec::new();
    for (i, ((name, matcher), declared)) in intent.slots.iter().zip(&intent.declared).enumerate() {
        let kind = slot_type(matcher, declared);
        let required = intent.required.contains(&i);
        if kind.values().is_some_and(<[String]>::is_empty) {
            if required {
                return None;
            }
            continue; // an optional slot nothing can fill is left out
        }
        slots.push(SlotSpec {
            name: name.clone(),
            kind,
            required,
            matcher: matcher.clone(),
        });
    }
    Some(IntentSpec {
        name: intent.name.clone(),
        description: intent.description.clone(),
        examples: examples(engine, index, intent, examples_per_intent),
        slots,
    })
}

/// The values of an enum or entity slot, in the order of their phrases.
fn canonical(phrases: &[(Vec<String>, String)]) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for (_, value) in phrases {
        if !values.contains(value) {
            values.push(value.clone());
        }
    }
    values
}

fn slot_type(matcher: &SlotMatcher, declared: &SlotKind) -> SlotType {
    let canonical = || match matcher {
        SlotMatcher::Phrases(phrases) => canonical(phrases),
        SlotMatcher::Number { .. } | SlotMatcher::Text { .. } => Vec::new(),
    };
    match declared {
        SlotKind::Number { min, max, half } => SlotType::Number {
            min: *min,
            max: *max,
            half: *half,
        },
        SlotKind::Integer { min, max } => SlotType::Integer {
            min: *min,
            max: *max,
        },
        SlotKind::Text { max_words, .. } => SlotType::Text {
            max_words: *max_words,
        },
        SlotKind::Enum { .. } => SlotType::Enum {
            values: canonical(),
        },
        SlotKind::Entity { list } => SlotType::Entity {
            list: list.clone(),
            values: canonical(),
        },
    }
}

/// Up to `limit` examples, one per template: first alternatives, a sample
/// value per slot (the n-th example takes the n-th value of an enum or entity list),
/// optional parts only where they fill a slot not yet filled (a second round leaves those
/// out too). Only examples the template tier answers the same way are kept, so none is
/// ambiguous.
fn examples(
    engine: &TemplateEngine,
    index: usize,
    intent: &CompiledIntent,
    limit: usize,
) -> Vec<Example> {
    let roots: Vec<&CNode> = engine
        .templates
        .iter()
        .filter(|t| t.intent == index)
        .map(|t| &t.root)
        .collect();
    let mut out: Vec<Example> = Vec::new();
    for optional_slots in [true, false] {
        for root in &roots {
            if out.len() >= limit {
                return out;
            }
            let mut example = Example {
                text: String::new(),
                slots: Slots::new(),
            };
            let mut words = Vec::new();
            let form = Form {
                intent,
                optional_slots,
                variant: out.len(),
                alternatives: None,
            };
            if !form.expand(root, &mut words, &mut example.slots) {
                continue;
            }
            example.text = words.join(" ");
            let heard = engine.recognize_exact(&example.text);
            if heard.intent == intent.name
                && slots_match(&example.slots, &heard.slots)
                && !out.iter().any(|e| e.text == example.text)
            {
                out.push(example);
            }
        }
    }
    out
}

/// Where a training sentence of the embedding tier came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainingSource {
    /// A template written out, alternatives and slot values varied.
    Template,
    /// The intent's description.
    Description,
    /// A paraphrase from the manifest's `examples`.
    Example,
}

/// A sentence the embedding tier learns an intent from, with the slots it fixes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingSentence {
    pub text: String,
    pub intent: String,
    pub slots: Slots,
    pub source: TrainingSource,
}

impl TemplateEngine {
    /// The embedding tier's training sentences for every intent (built-in dialog intents
    /// too: "yes" must look like the dialogue's, not a skill's): up to `per_template`
    /// write-outs of each template with its alternatives and slot values varied (each
    /// checked to be recognised by the templates as that intent with those slots), the
    /// description, and the manifest's examples.
    pub fn training_sentences(&self, per_template: usize) -> Vec<TrainingSentence> {
        let mut out: Vec<TrainingSentence> = Vec::new();
        for (index, intent) in self.intents.iter().enumerate() {
            let mut seen: Vec<String> = Vec::new();
            let mut push = |text: String, slots: Slots, source: TrainingSource| {
                let new = !text.is_empty() && !seen.contains(&text);
                if new {
                    seen.push(text.clone());
                    out.push(TrainingSentence {
                        text,
                        intent: intent.name.clone(),
                        slots,
                        source,
                    });
                }
                new
            };
            for (t, template) in self
                .templates
                .iter()
                .filter(|t| t.intent == index)
                .enumerate()
            {
                let mut written = 0;
                // A few more tries than sentences: some write-outs repeat.
                for attempt in 0..per_template * 3 {
                    if written >= per_template {
                        break;
                    }
                    let form = Form {
                        intent,
                        optional_slots: attempt % 2 == 0,
                        variant: attempt / 2,
                        alternatives: Some(std::cell::Cell::new(
                            ((index as u64) << 40) ^ ((t as u64) << 20) ^ attempt as u64,
                        )),
                    };
                    let (mut words, mut slots) = (Vec::new(), Slots::new());
                    if !form.expand(&template.root, &mut words, &mut slots) {
                        continue;
                    }
                    let text = words.join(" ");
                    let heard = self.recognize_exact(&text);
                    if heard.intent == intent.name
                        && slots_match(&slots, &heard.slots)
                        && push(text, slots, TrainingSource::Template)
                    {
                        written += 1;
                    }
                }
            }
            let description = intent.description.trim().trim_end_matches('.').to_owned();
            push(description, Slots::new(), TrainingSource::Description);
            for (text, slots) in &intent.examples {
                push(text.clone(), slots.clone(), TrainingSource::Example);
            }
        }
        out
    }
}

/// How a template is written out as an example.
struct Form<'a> {
    intent: &'a CompiledIntent,
    optional_slots: bool,
    variant: usize,
    /// When set, each alternative `(a|b|c)` is picked by this deterministic generator
    /// (training sentences); otherwise the first is (the SLM's prompt examples).
    alternatives: Option<std::cell::Cell<u64>>,
}

impl Form<'_> {
    /// Which of `n` alternatives to write.
    fn pick(&self, n: usize) -> usize {
        match &self.alternatives {
            None => 0,
            Some(state) => {
                // splitmix64: deterministic, well spread, no dependency.
                let mut z = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
                state.set(z);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) % n.max(1) as u64) as usize
            }
        }
    }
}

impl Form<'_> {
    /// Writes `node`; false when a slot has no sample value.
    fn expand(&self, node: &CNode, words: &mut Vec<String>, slots: &mut Slots) -> bool {
        match node {
            CNode::Word(w) => {
                words.push(w.clone());
                true
            }
            CNode::Seq(items) => items.iter().all(|n| self.expand(n, words, slots)),
            CNode::Alt(branches) => branches
                .get(self.pick(branches.len()))
                .is_none_or(|b| self.expand(b, words, slots)),
            CNode::Opt(inner) => {
                let mut inside = Vec::new();
                slots_of(inner, &mut inside);
                let name = |i: &usize| self.intent.slots.get(*i).map(|(n, _)| n.as_str());
                let fills_new = !inside.is_empty()
                    && inside
                        .iter()
                        .all(|i| name(i).is_some_and(|n| !slots.contains_key(n)));
                !(self.optional_slots && fills_new) || self.expand(inner, words, slots)
            }
            CNode::Slot(i) => {
                let Some((name, matcher)) = self.intent.slots.get(*i) else {
                    return false;
                };
                if slots.contains_key(name) {
                    return true; // said once is enough for an example
                }
                // Free text in a training write-out: the values the author's examples
                // give the slot ("play radiohead"), not the slot's name ("play query").
                let from_examples = match matcher {
                    SlotMatcher::Text { .. } if self.alternatives.is_some() => {
                        let values: Vec<&str> = self
                            .intent
                            .examples
                            .iter()
                            .filter_map(|(_, slots)| match slots.get(name) {
                                Some(SlotValue::Text(t)) => Some(t.as_str()),
                                _ => None,
                            })
                            .collect();
                        values
                            .get(self.variant % values.len().max(1))
                            .map(|t| ((*t).to_owned(), SlotValue::Text((*t).to_owned())))
                    }
                    _ => None,
                };
                let Some((text, value)) = from_examples
                    .or_else(|| sample(name, matcher, self.variant, self.alternatives.is_some()))
                else {
                    return false;
                };
                words.push(text);
                slots.insert(name.clone(), value);
                true
            }
        }
    }
}

/// A value for examples: the first phrase of the `variant`-th enum value or entity (in
/// turn), the middle of a number's range (with `vary`, a value stepping through it), the
/// slot's name for free text.
fn sample(
    name: &str,
    matcher: &SlotMatcher,
    variant: usize,
    vary: bool,
) -> Option<(String, SlotValue)> {
    match matcher {
        SlotMatcher::Phrases(phrases) => {
            let values = canonical(phrases);
            let value = values.get(variant % values.len().max(1))?;
            let (words, _) = phrases.iter().find(|(_, v)| v == value)?;
            Some((words.join(" "), SlotValue::Text(value.clone())))
        }
        SlotMatcher::Number {
            min, max, integer, ..
        } => {
            let v = match (min, max) {
                (Some(a), Some(b)) if vary && b > a => {
                    (a + ((variant * 7) as f64 % (b - a + 1.0)).floor()).min(*b)
                }
                (Some(a), Some(b)) => ((a + b) / 2.0).floor(),
                (Some(a), None) => a.ceil(),
                (None, Some(b)) => b.floor(),
                (None, None) => 1.0,
            };
            let value = number_value(*min, *max, *integer, v).ok()?;
            Some((value.to_string(), value))
        }
        SlotMatcher::Text { .. } => {
            let text = name.replace('_', " ");
            Some((text.clone(), SlotValue::Text(text)))
        }
    }
}

fn range(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "unbounded".to_owned(),
    }
}

impl SlotType {
    /// The values of an enum or entity slot.
    pub fn values(&self) -> Option<&[String]> {
        match self {
            SlotType::Enum { values } | SlotType::Entity { values, .. } => Some(values),
            _ => None,
        }
    }
}

/// In words, for error messages and prompts: `a number, 16 to 30`.
impl fmt::Display for SlotType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, min, max) = match self {
            SlotType::Enum { values } | SlotType::Entity { values, .. } => {
                let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
                return write!(f, "one of {}", quoted.join(", "));
            }
            SlotType::Text { max_words } => return write!(f, "text of 1 to {max_words} words"),
            SlotType::Number { min, max, .. } => ("a number", min, max),
            SlotType::Integer { min, max } => ("a whole number", min, max),
        };
        match (min, max) {
            (None, None) => f.write_str(what),
            _ => write!(f, "{what}, {}", range(*min, *max)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use edge_core::{EntityList, EntityLists, LoadedManifest};
    use serde_json::json;
    use std::path::Path;

    const PLANT: &str = r#"
[skill]
name = "plant"
version = "0.1.0"

[types.machine]
kind = "entity"
list = "machine"

[types.mode]
kind = "enum"
values = { eco = ["economy"], full_power = ["full", "max"] }

[types.area]
kind = "enum"
values = { hall = [], office = ["the office"] }

[intents."plant.set_speed"]
description = "Set a machine's speed"
slots.machine = { type = "machine" }
slots.rpm = { type = "integer", min = 0, max = 1500 }
slots.mode = { type = "mode", required = false }
templates = ["(set|put) {machine} [to] {rpm} [rpm] [in {mode} mode]"]

[intents."plant.set_temp"]
description = "Set the temperature of an area"
slots.area = { type = "area", required = false }
slots.celsius = { type = "number", min = 16, max = 30, half = true }
templates = ["[set] [the] [{area}] temperature [to] {celsius}"]

[intents."plant.note"]
description = "Take a note"
slots.text = { type = "text", max_words = 3 }
templates = ["(note|write down) {text}"]
"#;

    fn entities() -> EntityLists {
        let machine = EntityList {
            values: vec!["pump-3".into(), "mixer-1".into()],
            synonyms: [("mixer-1".to_owned(), vec!["the mixer".to_owned()])].into(),
        };
        [("machine".to_owned(), machine)].into()
    }

    /// The engine of a small manifest with every slot type.
    pub(crate) fn small_engine() -> TemplateEngine {
        let manifest = LoadedManifest::parse(Path::new("plant/skill.toml"), PLANT).expect("valid");
        let (engine, errors) = TemplateEngine::compile(&[manifest], &entities(), 0.5);
        assert!(errors.is_empty(), "{errors:?}");
        engine
    }

    /// The engine as shipped, loaded like `tests/common/mod.rs` does.
    pub(crate) fn shipped_engine() -> TemplateEngine {
        let skills = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(
                || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                std::path::PathBuf::from,
            )
            .join("../../skills");
        let (mut manifests, errors) = LoadedManifest::discover(&[skills]);
        assert!(errors.is_empty(), "shipped manifests: {errors:?}");
        manifests.extend(crate::builtin_manifests());
        let nlu = crate::NluSection::default();
        let (engine, errors) =
            TemplateEngine::compile(&manifests, &nlu.entities, nlu.min_confidence);
        assert!(errors.is_empty(), "shipped manifests compile: {errors:?}");
        engine
    }

    fn answer(intent: &str, slots: Value) -> String {
        json!({"intent": intent, "slots": slots}).to_string()
    }

    #[test]
    fn lists_intents_slot_types_and_none() {
        let schema = small_engine().schema();
        let names: Vec<&str> = schema.intents().iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            ["plant.note", "plant.set_speed", "plant.set_temp", "none"]
        );
        let speed = schema.intent("plant.set_speed").expect("intent");
        assert_eq!(speed.description, "Set a machine's speed");
        let kinds: Vec<(&str, &SlotType, bool)> = speed
            .slots
            .iter()
            .map(|s| (s.name.as_str(), &s.kind, s.required))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    "machine",
                    &SlotType::Entity {
                        list: "machine".into(),
                        values: vec!["pump-3".into(), "mixer-1".into()]
                    },
                    true
                ),
                (
                    "mode",
                    &SlotType::Enum {
                        values: vec!["eco".into(), "full_power".into()]
                    },
                    false
                ),
                (
                    "rpm",
                    &SlotType::Integer {
                        min: Some(0.0),
                        max: Some(1500.0)
                    },
                    true
                ),
            ]
        );
        let note = schema.intent("plant.note").expect("intent");
        assert_eq!(note.slots[0].kind, SlotType::Text { max_words: 3 });
        assert_eq!(note.slots[0].kind.to_string(), "text of 1 to 3 words");
        assert_eq!(speed.slots[2].kind.to_string(), "a whole number, 0 to 1500");
        let none = schema.intent("none").expect("none is listed");
        assert!(none.slots.is_empty() && none.examples.is_empty());
    }

    #[test]
    fn examples_are_expanded_from_templates() {
        let schema = small_engine().schema();
        let texts = |name: &str| -> Vec<String> {
            let intent = schema.intent(name).expect("intent");
            intent.examples.iter().map(|e| e.text.clone()).collect()
        };
        assert_eq!(
            texts("plant.set_speed"),
            ["set pump 3 750 in eco mode", "set mixer 1 750"]
        );
        assert_eq!(
            texts("plant.set_temp"),
            ["hall temperature 23", "temperature 23"]
        );
        assert_eq!(texts("plant.note"), ["note text"]);
        let first = &schema.intent("plant.set_speed").expect("intent").examples[0];
        assert_eq!(first.slots["machine"], SlotValue::Text("pump-3".into()));
        assert_eq!(first.slots["rpm"], SlotValue::Integer(750));
        assert_eq!(first.slots["mode"], SlotValue::Text("eco".into()));
    }

    #[test]
    fn accepts_good_answers_and_normalises_values() {
        let schema = small_engine().schema();
        let r = schema
            .validate(&answer(
                "plant.set_speed",
                json!({"machine": "Pump three", "rpm": "seven hundred and fifty", "mode": "max"}),
            ))
            .expect("valid");
        assert_eq!(r.intent, "plant.set_speed");
        assert_eq!(r.tier, Tier::Slm);
        assert_eq!(r.slots["machine"], SlotValue::Text("pump-3".into()));
        assert_eq!(r.slots["rpm"], SlotValue::Integer(750));
        assert_eq!(r.slots["mode"], SlotValue::Text("full_power".into()));
        let r = schema
            .validate(&answer(
                "plant.set_temp",
                json!({"celsius": "twenty one and a half", "area": null}),
            ))
            .expect("valid");
        assert_eq!(r.slots.len(), 1);
        assert_eq!(r.slots["celsius"], SlotValue::Number(21.5));
        let r = schema
            .validate(&answer(
                "plant.note",
                json!({"text": "Check, um, the BELT!"}),
            ))
            .expect("valid");
        assert_eq!(r.slots["text"], SlotValue::Text("check the belt".into()));
        let r = schema
            .validate(r#"{"intent": "none", "slots": {}}"#)
            .expect("none is an answer");
        assert!(r.is_none());
        assert!(
            schema
                .validate(r#"{"intent": "none"}"#)
                .expect("valid")
                .is_none()
        );
    }

    /// Validation of `answer` fails on `slot` with a problem that `check` accepts, and the
    /// message names the intent and the slot.
    fn refused(schema: &IntentSchema, answer: &str, slot: &str, check: fn(&SlotProblem) -> bool) {
        let e = schema.validate(answer).expect_err(answer);
        let SchemaError::Slot {
            slot: s, problem, ..
        } = &e
        else {
            panic!("{answer}: {e}");
        };
        assert_eq!(s, slot, "{e}");
        assert!(check(problem), "{e}");
        assert!(e.to_string().contains(&format!("slots.{slot}")), "{e}");
    }

    #[test]
    fn refuses_each_kind_of_bad_answer_naming_the_field() {
        let schema = small_engine().schema();
        let speed = |slots: Value| answer("plant.set_speed", slots);
        refused(
            &schema,
            &speed(json!({"machine": "pump-3", "rpm": 1, "speed": 2})),
            "speed",
            |p| *p == SlotProblem::Unknown,
        );
        refused(&schema, &speed(json!({"machine": "pump-3"})), "rpm", |p| {
            *p == SlotProblem::Missing
        });
        refused(
            &schema,
            &speed(json!({"machine": "pump-3", "rpm": 1600})),
            "rpm",
            |p| matches!(p, SlotProblem::OutOfRange { value, .. } if *value == 1600.0),
        );
        refused(
            &schema,
            &speed(json!({"machine": "pump-3", "rpm": 7.5})),
            "rpm",
            |p| matches!(p, SlotProblem::WrongType { expected, .. } if expected.contains("whole")),
        );
        refused(
            &schema,
            &speed(json!({"machine": "pump-3", "rpm": "fast"})),
            "rpm",
            |p| matches!(p, SlotProblem::WrongType { got, .. } if got == "\"fast\""),
        );
        refused(
            &schema,
            &speed(json!({"machine": 3, "rpm": 1})),
            "machine",
            |p| matches!(p, SlotProblem::WrongType { .. }),
        );
        refused(
            &schema,
            &speed(json!({"machine": "pump-9", "rpm": 1})),
            "machine",
            |p| matches!(p, SlotProblem::UnknownValue { got } if got == "pump-9"),
        );
        refused(
            &schema,
            &speed(json!({"machine": "pump-3", "rpm": 1, "mode": "turbo"})),
            "mode",
            |p| matches!(p, SlotProblem::UnknownValue { .. }),
        );
        refused(
            &schema,
            &answer("plant.set_temp", json!({"celsius": 12})),
            "celsius",
            |p| p.to_string() == "12 is out of range (16 to 30)",
        );
        refused(
            &schema,
            &answer("plant.note", json!({"text": "one two three four"})),
            "text",
            |p| {
                *p == SlotProblem::TooLong {
                    words: 4,
                    max_words: 3,
                }
            },
        );
        refused(
            &schema,
            &answer("plant.note", json!({"text": " ! "})),
            "text",
            |p| matches!(p, SlotProblem::WrongType { .. }),
        );
        refused(
            &schema,
            &answer("none", json!({"text": "x"})),
            "text",
            |p| *p == SlotProblem::Unknown,
        );

        let err = |json: &str| schema.validate(json).expect_err("must be refused");
        assert!(matches!(err("{\"intent\": "), SchemaError::Json { .. }));
        assert!(matches!(
            err("[]"),
            SchemaError::Shape {
                field: "answer",
                ..
            }
        ));
        assert!(matches!(
            err(r#"{"slots": {}}"#),
            SchemaError::Shape {
                field: "intent",
                ..
            }
        ));
        assert!(matches!(
            err(r#"{"intent": "none", "slots": []}"#),
            SchemaError::Shape { field: "slots", .. }
        ));
        assert!(matches!(
            err(r#"{"intent": "none", "slots": {}, "why": "x"}"#),
            SchemaError::UnknownField { field } if field == "why"
        ));
        let e = err(&answer("plant.stop", json!({})));
        assert!(matches!(&e, SchemaError::UnknownIntent { intent } if intent == "plant.stop"));
        assert_eq!(e.to_string(), "unknown intent \"plant.stop\"");
    }

    #[test]
    fn slot_values_read_as_the_template_tier_reads_them() {
        let engine = small_engine();
        let schema = engine.schema();
        for (utterance, slots) in [
            (
                "set pump three to twenty two",
                json!({"machine": "pump three", "rpm": "twenty two"}),
            ),
            (
                "put pump number 3 to 22 in full mode",
                json!({"machine": "pump number 3", "rpm": 22, "mode": "full"}),
            ),
            (
                "set the mixer to one hundred and five",
                json!({"machine": "the mixer", "rpm": "one hundred and five"}),
            ),
            (
                "set pump3 to 1500 in economy mode",
                json!({"machine": "pump3", "rpm": "1500", "mode": "economy"}),
            ),
            (
                "set the office temperature to 21 and a half",
                json!({"area": "the office", "celsius": "21 and a half"}),
            ),
            (
                "temperature twenty two point five",
                json!({"celsius": "twenty two point five"}),
            ),
            ("note Check the BELT", json!({"text": "Check the BELT"})),
        ] {
            let heard = engine.recognize(utterance);
            let read = schema
                .validate(&answer(&heard.intent, slots.clone()))
                .unwrap_or_else(|e| panic!("{slots}: {e}"));
            assert_eq!(read.slots, heard.slots, "{utterance}");
        }
    }

    #[test]
    fn shipped_examples_validate_to_themselves() {
        let engine = shipped_engine();
        let schema = engine.schema();
        assert_eq!(schema.intents().len(), engine.intent_names().count() + 1);
        for intent in schema.intents().iter().filter(|i| i.name != NONE_INTENT) {
            assert!(
                !intent.examples.is_empty(),
                "{} has no example",
                intent.name
            );
            assert!(!intent.description.is_empty(), "{}", intent.name);
            for example in &intent.examples {
                let json = answer(&intent.name, json!(example.slots));
                let r = schema
                    .validate(&json)
                    .unwrap_or_else(|e| panic!("{json}: {e}"));
                assert!(slots_match(&example.slots, &r.slots), "{json}");
            }
        }
    }
}
