//! Utterances and what the intent engine made of them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Intent name used when nothing in the installed skills matches.
pub const NONE_INTENT: &str = "none";

/// A typed slot value. Serialised as a plain JSON number or string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SlotValue {
    /// A whole number (integer slot types).
    Integer(i64),
    /// A number that may have a fraction ("twenty one and a half").
    Number(f64),
    /// A canonical symbol (enum value or entity id) or free text.
    Text(String),
}

impl SlotValue {
    /// The value as a number, when it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SlotValue::Integer(i) => Some(*i as f64),
            SlotValue::Number(n) => Some(*n),
            SlotValue::Text(_) => None,
        }
    }

    /// Loose equality used by evaluations: numbers compare by value, text exactly.
    pub fn same_as(&self, other: &SlotValue) -> bool {
        match (self.as_f64(), other.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (None, None) => self == other,
            _ => false,
        }
    }
}

impl fmt::Display for SlotValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotValue::Integer(i) => write!(f, "{i}"),
            SlotValue::Number(n) if n.fract() == 0.0 => write!(f, "{n:.0}"),
            SlotValue::Number(n) => write!(f, "{n}"),
            SlotValue::Text(s) => f.write_str(s),
        }
    }
}

/// Slot name to value, ordered so that output is deterministic.
pub type Slots = BTreeMap<String, SlotValue>;

/// Which tier of the intent engine produced a recognition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Templates compiled from the skill manifests.
    Template,
    /// The sentence-embedding classifier over the skills' examples.
    Embedding,
    /// The local small language model.
    Slm,
    /// A remote OpenAI-compatible endpoint.
    Remote,
    /// No tier matched.
    None,
}

/// The template that produced a recognition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    /// Skill whose manifest holds the template.
    pub skill: String,
    /// Index of the template within the intent's list.
    pub index: usize,
    /// The template text as written in the manifest.
    pub template: String,
}

/// The intent engine's answer for one utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recognition {
    /// Canonical intent name, or `none`.
    pub intent: String,
    /// Typed slot values.
    pub slots: Slots,
    /// 0.0 to 1.0.
    pub confidence: f32,
    /// Which tier answered.
    pub tier: Tier,
    /// The template that matched, for the template tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateRef>,
}

impl Recognition {
    /// The out-of-domain answer.
    pub fn none() -> Self {
        Self {
            intent: NONE_INTENT.to_owned(),
            slots: Slots::new(),
            confidence: 0.0,
            tier: Tier::None,
            template: None,
        }
    }

    /// True when nothing matched.
    pub fn is_none(&self) -> bool {
        self.intent == NONE_INTENT
    }
}

/// Where an utterance came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UtteranceOrigin {
    /// The D-Bus API.
    Dbus,
    /// The MQTT command topic.
    Mqtt,
    /// The command line.
    Cli,
    /// Speech: a recording or live audio, through the recogniser.
    Voice,
}

/// One thing a person said (or typed), after transcription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    /// Unique id, carried by every event and audit entry about this utterance.
    pub id: String,
    /// The transcript as received.
    pub text: String,
    /// Where it came from.
    pub origin: UtteranceOrigin,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_values_serialise_as_plain_json() {
        let mut slots = Slots::new();
        slots.insert("celsius".into(), SlotValue::Number(21.5));
        slots.insert("level".into(), SlotValue::Integer(3));
        slots.insert("zone".into(), SlotValue::Text("driver".into()));
        let json = serde_json::to_string(&slots).expect("serialise");
        assert_eq!(json, r#"{"celsius":21.5,"level":3,"zone":"driver"}"#);
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(SlotValue::Integer(22).same_as(&SlotValue::Number(22.0)));
        assert!(!SlotValue::Integer(22).same_as(&SlotValue::Text("22".into())));
        assert_eq!(SlotValue::Number(22.0).to_string(), "22");
        assert_eq!(SlotValue::Number(21.5).to_string(), "21.5");
    }
}
