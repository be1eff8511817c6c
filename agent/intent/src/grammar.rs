//! GBNF grammars (llama.cpp's grammar format) generated from the [`IntentSchema`], so a
//! language model can only write an answer of the schema's shape.
//!
//! What GBNF cannot say is left to [`IntentSchema::validate`]: numbers are bounded in
//! digits, not in value, and free text in words of at most [`WORD_CHARS`] characters, not
//! in normalised words. Slots are written in name order; a required slot is always
//! written, an optional one may be. Rule names are the intent and slot names with every
//! character other than a letter or digit as `-` (GBNF names allow no `.` or `_`), made
//! unique with a numeric suffix where two would meet.

use crate::schema::{IntentSchema, IntentSpec, SchemaError, SlotType};
use std::collections::BTreeSet;

/// Longest word of a free-text slot, in characters.
pub const WORD_CHARS: usize = 24;

/// Integer digits allowed for a number without both bounds.
const UNBOUNDED_DIGITS: usize = 9;

/// Fraction digits allowed for a `number` slot.
const FRACTION_DIGITS: usize = 2;

impl IntentSchema {
    /// The grammar of a whole answer: `{"intent": "<name>", "slots": {...}}`, where each
    /// intent allows only its own slots, or `none` with no slots.
    pub fn grammar(&self) -> String {
        let mut g = Gbnf::new();
        let root = format!(
            "\"{{\" ws {} ws \":\" ws intent ws \"}}\"",
            json_literal("intent")
        );
        let mut rules = vec![
            ("root".to_owned(), root),
            ("intent".to_owned(), String::new()),
        ];
        let mut alternatives = Vec::new();
        for intent in self.intents() {
            let rule = g.name(&intent.name);
            let slots_rule = g.name(&format!("{rule}-slots"));
            let object = g.slots_object(intent, &format!("{rule}-"));
            let body = format!(
                "{} ws \",\" ws {} ws \":\" ws {slots_rule}",
                json_literal(&intent.name),
                json_literal("slots")
            );
            // Each intent's rules together: the intent, its slots object, their values.
            rules.push((rule.clone(), body));
            rules.push((slots_rule, object));
            rules.append(&mut g.rules);
            alternatives.push(rule);
        }
        rules[1].1 = alternatives.join(" | ");
        g.rules = rules;
        g.finish()
    }

    /// The grammar of one intent's slots object alone, for answering in two steps: the
    /// intent first, then its slots.
    pub fn slot_grammar(&self, intent: &str) -> Result<String, SchemaError> {
        let spec = self
            .intent(intent)
            .ok_or_else(|| SchemaError::UnknownIntent {
                intent: intent.to_owned(),
            })?;
        let mut g = Gbnf::new();
        let object = g.slots_object(spec, "");
        g.rules.insert(0, ("root".to_owned(), object));
        Ok(g.finish())
    }
}

/// Rules under construction.
struct Gbnf {
    rules: Vec<(String, String)>,
    taken: BTreeSet<String>,
    uses_word: bool,
}

impl Gbnf {
    fn new() -> Self {
        let taken = ["root", "intent", "ws", "word"].map(String::from).into();
        Self {
            rules: Vec::new(),
            taken,
            uses_word: false,
        }
    }

    /// A fresh rule name for `base`.
    fn name(&mut self, base: &str) -> String {
        let base: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let mut name = base.clone();
        let mut n = 1;
        while !self.taken.insert(name.clone()) {
            n += 1;
            name = format!("{base}-{n}");
        }
        name
    }

    /// Adds a value rule per slot and returns the expression of the slots object.
    fn slots_object(&mut self, intent: &IntentSpec, prefix: &str) -> String {
        let mut members = Vec::new();
        for slot in &intent.slots {
            let rule = self.name(&format!("{prefix}{}", slot.name));
            let body = self.value(&slot.kind);
            self.rules.push((rule.clone(), body));
            let member = format!("{} ws \":\" ws {rule}", json_literal(&slot.name));
            members.push((member, slot.required));
        }
        join(&["\"{\"", &object_members(&members, true), "ws \"}\""])
    }

    fn value(&mut self, kind: &SlotType) -> String {
        match kind {
            SlotType::Enum { values } | SlotType::Entity { values, .. } => values
                .iter()
                .map(|v| json_literal(v))
                .collect::<Vec<_>>()
                .join(" | "),
            SlotType::Integer { min, max } => integer(*min, *max),
            SlotType::Number { min, max, .. } => {
                format!(
                    "{} (\".\" [0-9]{{1,{FRACTION_DIGITS}}})?",
                    integer(*min, *max)
                )
            }
            SlotType::Text { max_words } => {
                self.uses_word = true;
                let more = max_words.saturating_sub(1);
                let words = if more == 0 {
                    "word".to_owned()
                } else {
                    format!("word (\" \" word){{0,{more}}}")
                };
                format!("\"\\\"\" {words} \"\\\"\"")
            }
        }
    }

    fn finish(mut self) -> String {
        // At most one space: a small model otherwise can pad for ever.
        self.rules.push(("ws".to_owned(), "\" \"?".to_owned()));
        if self.uses_word {
            // The characters of llama.cpp's own json.gbnf strings, less the space.
            let body = format!("[^ \"\\\\\\x7F\\x00-\\x1F]{{1,{WORD_CHARS}}}");
            self.rules.push(("word".to_owned(), body));
        }
        self.rules
            .iter()
            .map(|(name, body)| format!("{name} ::= {body}\n"))
            .collect()
    }
}

/// The members of a JSON object in order, each preceded by its comma unless it comes
/// first. An optional member that would come first also allows the rest without it.
fn object_members(members: &[(String, bool)], first: bool) -> String {
    let Some(((member, required), rest)) = members.split_first() else {
        return String::new();
    };
    let this = if first {
        format!("ws {member}")
    } else {
        format!("ws \",\" ws {member}")
    };
    let after = object_members(rest, false);
    match (required, first) {
        (true, _) => join(&[&this, &after]),
        (false, false) => join(&[&format!("( {this} )?"), &after]),
        (false, true) => match object_members(rest, true) {
            without if without.is_empty() => format!("( {} )?", join(&[&this, &after])),
            without => format!("( {} | {without} )", join(&[&this, &after])),
        },
    }
}

/// JSON integer with no leading zero, in as many digits as the bounds need.
fn integer(min: Option<f64>, max: Option<f64>) -> String {
    let digits = match (min, max) {
        (Some(a), Some(b)) => {
            let largest = a.abs().max(b.abs()).floor();
            (largest.min(1e15) as u64).to_string().len()
        }
        _ => UNBOUNDED_DIGITS,
    };
    let sign = if min.is_none_or(|m| m < 0.0) {
        "\"-\"? "
    } else {
        ""
    };
    let body = if digits <= 1 {
        "[0-9]".to_owned()
    } else {
        format!("(\"0\" | [1-9] [0-9]{{0,{}}})", digits - 1)
    };
    format!("{sign}{body}")
}

/// The GBNF literal that matches `text` written as a JSON string.
fn json_literal(text: &str) -> String {
    let mut json = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                json.push('\\');
                json.push(c);
            }
            c if u32::from(c) < 0x20 => json.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => json.push(c),
        }
    }
    json.push('"');
    let mut literal = String::from("\"");
    for c in json.chars() {
        if matches!(c, '"' | '\\') {
            literal.push('\\');
        }
        literal.push(c);
    }
    literal.push('"');
    literal
}

fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod gbnf_check;

#[cfg(test)]
mod tests {
    use super::gbnf_check::Grammar;
    use crate::schema::tests::{shipped_engine, small_engine};
    use serde_json::json;

    fn lines(grammar: &str) -> Vec<&str> {
        grammar.lines().collect()
    }

    #[test]
    fn golden_rules_for_a_small_manifest() {
        let grammar = small_engine().schema().grammar();
        let lines = lines(&grammar);
        for expected in [
            r#"root ::= "{" ws "\"intent\"" ws ":" ws intent ws "}""#,
            "intent ::= plant-note | plant-set-speed | plant-set-temp | none",
            r#"plant-note ::= "\"plant.note\"" ws "," ws "\"slots\"" ws ":" ws plant-note-slots"#,
            r#"plant-note-slots ::= "{" ws "\"text\"" ws ":" ws plant-note-text ws "}""#,
            r#"plant-note-text ::= "\"" word (" " word){0,2} "\"""#,
            r#"plant-set-speed-slots ::= "{" ws "\"machine\"" ws ":" ws plant-set-speed-machine ( ws "," ws "\"mode\"" ws ":" ws plant-set-speed-mode )? ws "," ws "\"rpm\"" ws ":" ws plant-set-speed-rpm ws "}""#,
            r#"plant-set-speed-machine ::= "\"pump-3\"" | "\"mixer-1\"""#,
            r#"plant-set-speed-mode ::= "\"eco\"" | "\"full_power\"""#,
            r#"plant-set-speed-rpm ::= ("0" | [1-9] [0-9]{0,3})"#,
            r#"plant-set-temp-slots ::= "{" ( ws "\"area\"" ws ":" ws plant-set-temp-area ws "," ws "\"celsius\"" ws ":" ws plant-set-temp-celsius | ws "\"celsius\"" ws ":" ws plant-set-temp-celsius ) ws "}""#,
            r#"plant-set-temp-celsius ::= ("0" | [1-9] [0-9]{0,1}) ("." [0-9]{1,2})?"#,
            r#"none ::= "\"none\"" ws "," ws "\"slots\"" ws ":" ws none-slots"#,
            r#"none-slots ::= "{" ws "}""#,
            r#"ws ::= " "?"#,
            r#"word ::= [^ "\\\x7F\x00-\x1F]{1,24}"#,
        ] {
            assert!(lines.contains(&expected), "missing {expected}\n{grammar}");
        }
        assert!(grammar.starts_with("root ::= "), "{grammar}");
    }

    #[test]
    fn output_is_deterministic() {
        let a = small_engine().schema().grammar();
        assert_eq!(a, small_engine().schema().grammar());
    }

    #[test]
    fn grammar_admits_valid_answers_only() {
        let grammar = small_engine().schema().grammar();
        let g = Grammar::parse(&grammar).expect("grammar parses");
        for good in [
            json!({"intent": "plant.set_speed", "slots": {"machine": "pump-3", "rpm": 750}}),
            json!({"intent": "plant.set_speed", "slots": {"machine": "mixer-1", "mode": "eco", "rpm": 0}}),
            json!({"intent": "plant.set_temp", "slots": {"celsius": 21.5}}),
            json!({"intent": "plant.set_temp", "slots": {"area": "hall", "celsius": 22}}),
            json!({"intent": "plant.note", "slots": {"text": "check the belt"}}),
            json!({"intent": "none", "slots": {}}),
        ] {
            let compact = good.to_string();
            assert!(g.accepts(&compact), "{compact}");
            let spaced = compact.replace(':', ": ").replace(',', ", ");
            assert!(g.accepts(&spaced), "{spaced}");
        }
        for bad in [
            r#"{"intent":"plant.stop","slots":{}}"#,
            r#"{"intent":"plant.set_speed","slots":{"machine":"pump-9","rpm":750}}"#,
            r#"{"intent":"plant.set_speed","slots":{"rpm":750}}"#,
            r#"{"intent":"plant.set_speed","slots":{"machine":"pump-3","rpm":75000}}"#,
            r#"{"intent":"plant.set_speed","slots":{"machine":"pump-3","rpm":07}}"#,
            r#"{"intent":"plant.set_speed","slots":{"machine":"pump-3","rpm":"750"}}"#,
            r#"{"intent":"plant.set_speed","slots":{"rpm":750,"machine":"pump-3"}}"#,
            r#"{"intent":"plant.set_temp","slots":{"area":"hall"}}"#,
            r#"{"intent":"plant.set_temp","slots":{,"celsius":22}}"#,
            r#"{"intent":"plant.note","slots":{"text":"one two three four"}}"#,
            r#"{"intent":"plant.note","slots":{"text":"a\"b"}}"#,
            r#"{"intent":"plant.note","slots":{"celsius":22}}"#,
            r#"{"intent":"none","slots":{"text":"x"}}"#,
            r#"{"intent":"none","slots":{}}  "#,
        ] {
            assert!(!g.accepts(bad), "{bad}");
        }
    }

    #[test]
    fn slot_grammar_covers_one_intent() {
        let schema = small_engine().schema();
        let text = schema
            .slot_grammar("plant.set_speed")
            .expect("known intent");
        assert!(
            text.starts_with(r#"root ::= "{" ws "\"machine\"" ws ":" ws machine ("#),
            "{text}"
        );
        let g = Grammar::parse(&text).expect("slot grammar parses");
        assert!(g.accepts(r#"{"machine": "pump-3", "mode": "full_power", "rpm": 1500}"#));
        assert!(!g.accepts(r#"{"machine": "pump-3"}"#));
        assert!(!g.accepts(r#"{"intent": "plant.set_speed", "slots": {}}"#));
        let none = Grammar::parse(&schema.slot_grammar("none").expect("none")).expect("parses");
        assert!(none.accepts("{}"));
        assert!(matches!(
            schema.slot_grammar("plant.stop"),
            Err(crate::SchemaError::UnknownIntent { .. })
        ));
    }

    #[test]
    fn rule_names_stay_unique_and_valid() {
        let mut g = super::Gbnf::new();
        assert_eq!(g.name("climate.set_temperature"), "climate-set-temperature");
        assert_eq!(
            g.name("climate-set.temperature"),
            "climate-set-temperature-2"
        );
        assert_eq!(g.name("root"), "root-2");
        assert_eq!(super::json_literal("a\"b\\c"), r#""\"a\\\"b\\\\c\"""#);
        assert_eq!(super::integer(Some(-5.0), Some(5.0)), r#""-"? [0-9]"#);
        assert_eq!(
            super::integer(None, None),
            r#""-"? ("0" | [1-9] [0-9]{0,8})"#
        );
    }

    #[test]
    fn shipped_skills_give_a_grammar_that_admits_their_examples() {
        let schema = shipped_engine().schema();
        let grammar = schema.grammar();
        let g = Grammar::parse(&grammar).expect("grammar of the shipped skills parses");
        let mut checked = 0;
        for intent in schema.intents() {
            let slots = Grammar::parse(&schema.slot_grammar(&intent.name).expect("known"))
                .expect("slot grammar parses");
            for example in &intent.examples {
                let answer = json!({"intent": intent.name, "slots": example.slots});
                assert!(g.accepts(&answer.to_string()), "{answer}");
                assert!(slots.accepts(&answer["slots"].to_string()), "{answer}");
                checked += 1;
            }
        }
        assert!(checked >= 2 * schema.intents().len(), "{checked} examples");
    }
}
