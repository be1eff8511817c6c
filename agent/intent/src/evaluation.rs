//! Accuracy of recognitions against labelled utterances (`dev.jsonl` lines).

use edge_core::{Recognition, SlotValue, Slots};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One labelled utterance: `{"text", "intent", "slots", "kind"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Expectation {
    /// What was said.
    pub text: String,
    /// Expected intent (`none` for out of domain).
    pub intent: String,
    /// Expected slots.
    #[serde(default)]
    pub slots: Slots,
    /// Free label for grouping (`template`, `paraphrase`, `ood`).
    #[serde(default)]
    pub kind: Option<String>,
}

/// Counts for one group of utterances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Utterances seen.
    pub total: usize,
    /// Intent right.
    pub intent_ok: usize,
    /// Intent right and slots exactly right: the command would be carried out as meant.
    pub accepted: usize,
}

impl Tally {
    fn add(&mut self, intent_ok: bool, accepted: bool) {
        self.total += 1;
        self.intent_ok += usize::from(intent_ok);
        self.accepted += usize::from(accepted);
    }

    /// Share of utterances with the right intent, 0.0 to 1.0.
    pub fn intent_accuracy(&self) -> f64 {
        ratio(self.intent_ok, self.total)
    }

    /// Share of utterances with the right intent and slots.
    pub fn acceptance(&self) -> f64 {
        ratio(self.accepted, self.total)
    }
}

fn ratio(part: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 / total as f64
    }
}

/// A recognition that was not accepted.
#[derive(Debug, Clone)]
pub struct Miss {
    /// The utterance.
    pub text: String,
    /// Expected intent and slots.
    pub expected: (String, Slots),
    /// What came out.
    pub got: (String, Slots),
}

/// Accumulated accuracy, per expected intent and per kind.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// All utterances.
    pub overall: Tally,
    /// By expected intent.
    pub per_intent: BTreeMap<String, Tally>,
    /// By `kind` label.
    pub per_kind: BTreeMap<String, Tally>,
    /// By the tier that answered (`none` when no tier did): how often each tier is right
    /// when it answers.
    pub per_tier: BTreeMap<String, Tally>,
    /// Every utterance not accepted.
    pub misses: Vec<Miss>,
}

/// Slots equal: same names, numbers equal by value, words (free text, enum values) without
/// regard to letter case or the apostrophe's form. Speech has no case: Whisper writes
/// "Fleetwood Mac" one time and "fleetwood mac" the next, the tiers hand free text on
/// lowercased, and a set's writer may label it either way; neither is a wrong value.
pub fn slots_match(expected: &Slots, got: &Slots) -> bool {
    expected.len() == got.len()
        && expected
            .iter()
            .all(|(k, v)| got.get(k).is_some_and(|g| same_value(v, g)))
}

fn same_value(expected: &SlotValue, got: &SlotValue) -> bool {
    match (expected, got) {
        (SlotValue::Text(a), SlotValue::Text(b)) => caseless(a) == caseless(b),
        _ => expected.same_as(got),
    }
}

fn caseless(text: &str) -> String {
    text.replace(['\u{2019}', '\u{2018}'], "'").to_lowercase()
}

impl Evaluation {
    /// Adds one result.
    pub fn record(&mut self, expected: &Expectation, got: &Recognition) {
        let intent_ok = expected.intent == got.intent;
        let accepted = intent_ok && slots_match(&expected.slots, &got.slots);
        self.overall.add(intent_ok, accepted);
        self.per_intent
            .entry(expected.intent.clone())
            .or_default()
            .add(intent_ok, accepted);
        if let Some(kind) = &expected.kind {
            self.per_kind
                .entry(kind.clone())
                .or_default()
                .add(intent_ok, accepted);
        }
        let tier = serde_json::to_value(got.tier)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.per_tier
            .entry(tier)
            .or_default()
            .add(intent_ok, accepted);
        if !accepted {
            self.misses.push(Miss {
                text: expected.text.clone(),
                expected: (expected.intent.clone(), expected.slots.clone()),
                got: (got.intent.clone(), got.slots.clone()),
            });
        }
    }

    /// A plain-text table: per intent, per kind, overall.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let row = |out: &mut String, name: &str, t: &Tally| {
            let _ = writeln!(
                out,
                "{name:<32} {:>5} {:>7.1}% {:>9.1}%",
                t.total,
                100.0 * t.intent_accuracy(),
                100.0 * t.acceptance()
            );
        };
        let _ = writeln!(
            out,
            "{:<32} {:>5} {:>8} {:>10}",
            "intent", "n", "intent", "accepted"
        );
        for (name, t) in &self.per_intent {
            row(&mut out, name, t);
        }
        if !self.per_kind.is_empty() {
            let _ = writeln!(
                out,
                "{:<32} {:>5} {:>8} {:>10}",
                "kind", "n", "intent", "accepted"
            );
            for (name, t) in &self.per_kind {
                row(&mut out, name, t);
            }
        }
        let _ = writeln!(
            out,
            "{:<32} {:>5} {:>8} {:>10}",
            "answered by tier", "n", "intent", "accepted"
        );
        for (name, t) in &self.per_tier {
            row(&mut out, name, t);
        }
        row(&mut out, "ALL", &self.overall);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_core::Tier;

    fn recognition(intent: &str, slots: Slots) -> Recognition {
        Recognition {
            intent: intent.into(),
            slots,
            confidence: 1.0,
            tier: Tier::Template,
            template: None,
        }
    }

    #[test]
    fn counts_intent_and_acceptance_separately() {
        let mut expected_slots = Slots::new();
        expected_slots.insert("level".into(), SlotValue::Integer(3));
        let expected = Expectation {
            text: "fan to three".into(),
            intent: "climate.set_fan".into(),
            slots: expected_slots.clone(),
            kind: Some("template".into()),
        };
        let mut eval = Evaluation::default();
        eval.record(&expected, &recognition("climate.set_fan", expected_slots));
        let mut wrong = Slots::new();
        wrong.insert("level".into(), SlotValue::Number(4.0));
        eval.record(&expected, &recognition("climate.set_fan", wrong));
        eval.record(&expected, &recognition("none", Slots::new()));
        assert_eq!(
            eval.overall,
            Tally {
                total: 3,
                intent_ok: 2,
                accepted: 1
            }
        );
        assert_eq!(eval.per_kind["template"].accepted, 1);
        assert_eq!(eval.misses.len(), 2);
        assert!(eval.report().contains("climate.set_fan"));
    }

    #[test]
    fn free_text_matches_whatever_its_case_but_not_other_words() {
        let text = |t: &str| Slots::from([("query".to_owned(), SlotValue::Text(t.into()))]);
        assert!(slots_match(&text("Fleetwood Mac"), &text("fleetwood mac")));
        assert!(slots_match(
            &text("Mum\u{2019}s place"),
            &text("mum's place")
        ));
        assert!(!slots_match(
            &text("fleetwood mac"),
            &text("fleetwood mac loud")
        ));
        assert!(!slots_match(
            &text("22"),
            &Slots::from([("query".to_owned(), SlotValue::Integer(22))])
        ));
    }
}
