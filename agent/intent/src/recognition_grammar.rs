//! The recognition grammar: every compiled template as GBNF, for the speech recogniser.
//!
//! One compiler, two outputs: the same compiled templates that the matcher runs (with the
//! same enum synonyms, entity forms and number recognisers) become a grammar the Whisper
//! decoder is biased toward, so "turn the fan to level five" is heard as such instead of
//! "turn the phantom level 5".
//!
//! The grammar describes text the way `edge-asr` compares it (see its `grammar` module):
//! lowercase, each word preceded by one space, apostrophes dropped, other punctuation
//! ignored, a decimal point kept between digits. Free-text slots accept any words (up to
//! the slot's `max_words`), so they are the grammar's weak spot by design: the recogniser
//! reports its own confidence for those words instead.

use crate::engine::{CNode, SlotMatcher, TemplateEngine};
use crate::normalize::{FILLER_WORDS, LEADING_PHRASES, TRAILING_PHRASES, tokenize};
use crate::numbers::{TENS, UNITS};
use edge_core::manifest::SlotKind;
use std::fmt::Write as _;

/// Longest run of free-text words written into the grammar for one slot.
const MAX_FREE_WORDS: usize = 8;

impl TemplateEngine {
    /// The GBNF grammar of every utterance the exact template pass accepts (politeness and
    /// hesitations at either end included). Its start rule is `root`.
    pub fn recognition_grammar(&self) -> String {
        self.grammar(false)
    }

    /// The grammar of the commands with a free-text slot that lists `known` values (genres,
    /// saved places), those slots held to their known values: a second reading of a command
    /// whose free text was heard as something else ("play some chairs" beside "play some
    /// jazz"). Its second start rule, `carrier`, is the same commands with those slots
    /// open: whether a transcript is one of them at all. `None` when no installed skill
    /// lists known values.
    pub fn known_values_grammar(&self) -> Option<String> {
        let any = self.intents.iter().any(|intent| {
            intent
                .declared
                .iter()
                .any(|kind| matches!(kind, SlotKind::Text { known, .. } if !known.is_empty()))
        });
        any.then(|| self.grammar(true))
    }

    /// The grammar of every template, or with `known_only` of those with a slot that lists
    /// known values (held to them).
    fn grammar(&self, known_only: bool) -> String {
        let known_of = |intent: usize, slot: usize| -> Option<&[String]> {
            match self.intents.get(intent)?.declared.get(slot)? {
                SlotKind::Text { known, .. } if known_only && !known.is_empty() => Some(known),
                _ => None,
            }
        };
        let mut rules: Vec<(String, String)> = Vec::new();
        let mut commands = Vec::new();
        let mut carriers = Vec::new();
        for (t, template) in self.templates.iter().enumerate() {
            if known_only
                && !slots_of(&template.root)
                    .iter()
                    .any(|&s| known_of(template.intent, s).is_some())
            {
                continue;
            }
            let name = format!("t{t}");
            rules.push((
                name.clone(),
                node(&template.root, template.intent, &slot_rule),
            ));
            commands.push(name);
            if known_only {
                // The same command with its known slots open again: the worker's test of
                // whether a transcript is one of these commands at all (start rule
                // `carrier`).
                let open = |intent, slot| match known_of(intent, slot) {
                    Some(_) => format!("f{intent}-{slot}"),
                    None => slot_rule(intent, slot),
                };
                let name = format!("o{t}");
                rules.push((name.clone(), node(&template.root, template.intent, &open)));
                carriers.push(name);
            }
        }
        for (i, intent) in self.intents.iter().enumerate() {
            for (s, (_, matcher)) in intent.slots.iter().enumerate() {
                let body = match known_of(i, s) {
                    Some(known) => {
                        rules.push((format!("f{i}-{s}"), slot_body(matcher)));
                        known_body(known)
                    }
                    None => slot_body(matcher),
                };
                rules.push((slot_rule(i, s), body));
            }
        }
        let mut lead: Vec<String> = LEADING_PHRASES.iter().map(|p| literal(p)).collect();
        lead.extend(FILLER_WORDS.iter().map(|w| literal(w)));
        let mut trail: Vec<String> = TRAILING_PHRASES.iter().map(|p| literal(p)).collect();
        trail.extend(FILLER_WORDS.iter().map(|w| literal(w)));
        let numword: Vec<String> = UNITS
            .iter()
            .chain(TENS.iter())
            .filter(|w| !w.is_empty())
            .chain(["hundred", "thousand", "and", "a", "half", "point"].iter())
            .map(|w| format!("\"{w}\""))
            .collect();

        let mut out = String::new();
        out.push_str("# Generated by edge-agent from the installed skills' templates.\n");
        out.push_str("root ::= lead* command trail*\n");
        let _ = writeln!(out, "command ::= {}", commands.join(" | "));
        if known_only {
            out.push_str("carrier ::= lead* opencommand trail*\n");
            let _ = writeln!(out, "opencommand ::= {}", carriers.join(" | "));
        }
        let _ = writeln!(out, "lead ::= {}", lead.join(" | "));
        let _ = writeln!(out, "trail ::= {}", trail.join(" | "));
        // A spoken number never starts with "and" or "point".
        out.push_str("number ::= \" \" ([0-9]+ (\".\" [0-9]+)? | numstart (\" \" numword)*)\n");
        let starts: Vec<String> = numword
            .iter()
            .filter(|w| *w != "\"and\"" && *w != "\"point\"")
            .cloned()
            .collect();
        let _ = writeln!(out, "numstart ::= {}", starts.join(" | "));
        let _ = writeln!(out, "numword ::= {}", numword.join(" | "));
        out.push_str("word ::= \" \" [a-z0-9]+\n");
        for (name, body) in rules {
            let _ = writeln!(out, "{name} ::= {body}");
        }
        out
    }
}

fn slot_rule(intent: usize, slot: usize) -> String {
    format!("s{intent}-{slot}")
}

/// A template's GBNF; `slot_name` names the rule of an (intent, slot).
fn node(n: &CNode, intent: usize, slot_name: &dyn Fn(usize, usize) -> String) -> String {
    match n {
        CNode::Word(w) => literal(w),
        CNode::Seq(items) if items.is_empty() => "\"\"".into(),
        CNode::Seq(items) => items
            .iter()
            .map(|i| node(i, intent, slot_name))
            .collect::<Vec<_>>()
            .join(" "),
        CNode::Alt(branches) => format!(
            "({})",
            branches
                .iter()
                .map(|b| node(b, intent, slot_name))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        CNode::Opt(inner) => format!("({})?", node(inner, intent, slot_name)),
        CNode::Slot(s) => slot_name(intent, *s),
    }
}

/// The slots a template refers to.
fn slots_of(n: &CNode) -> Vec<usize> {
    match n {
        CNode::Word(_) => Vec::new(),
        CNode::Seq(items) | CNode::Alt(items) => items.iter().flat_map(slots_of).collect(),
        CNode::Opt(inner) => slots_of(inner),
        CNode::Slot(s) => vec![*s],
    }
}

/// A free-text slot held to its known values, written as the matcher reads them.
fn known_body(known: &[String]) -> String {
    let mut alternatives: Vec<String> = Vec::new();
    for value in known {
        let alt = literal(&tokenize(value).join(" "));
        if !alternatives.contains(&alt) {
            alternatives.push(alt);
        }
    }
    format!("({})", alternatives.join(" | "))
}

fn slot_body(matcher: &SlotMatcher) -> String {
    match matcher {
        SlotMatcher::Number { .. } => "number".into(),
        SlotMatcher::Text { max_words } => {
            // word (word (word)?)? ...: at most `max_words` words, without a `{m,n}` bound
            // that older GBNF readers do not know.
            let n = (*max_words).clamp(1, MAX_FREE_WORDS);
            let mut body = String::from("word");
            for _ in 1..n {
                body = format!("word ({body})?");
            }
            body
        }
        SlotMatcher::Phrases(phrases) => {
            let mut alternatives: Vec<String> = Vec::new();
            // A machine by its place ("second press", "number three pump") stays out:
            // those forms open every machine slot with twenty more words, which crowded
            // the search's beam (three commands of the voice sets lost their grammar
            // reading); the matcher still reads them in a free transcript.
            let by_place = |tokens: &[String]| {
                tokens
                    .first()
                    .is_some_and(|first| first == "number" || crate::numbers::is_ordinal(first))
            };
            for (tokens, _) in phrases.iter().filter(|(tokens, _)| !by_place(tokens)) {
                let alt = literal(&tokens.join(" "));
                if !alternatives.contains(&alt) {
                    alternatives.push(alt);
                }
            }
            if alternatives.is_empty() {
                "word".into()
            } else {
                format!("({})", alternatives.join(" | "))
            }
        }
    }
}

/// `" w1 w2"`: every word preceded by its space, as Whisper writes it.
fn literal(words: &str) -> String {
    let mut out = String::from("\"");
    for word in words.split_whitespace() {
        out.push(' ');
        for c in word.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_core::manifest::LoadedManifest;
    use edge_core::{EntityList, EntityLists};
    use std::path::Path;

    const MANIFEST: &str = r#"
[skill]
name = "plant"
version = "0.1.0"
[types.machine]
kind = "entity"
list = "machines"
[intents."equipment.start"]
templates = ["(start|switch on) [the] {machine}", "start {machine} at {rate} percent"]
[intents."equipment.start".slots.machine]
type = "machine"
required = true
[intents."equipment.start".slots.rate]
type = "integer"
min = 0
max = 100
required = false
[intents."media.play"]
templates = ["play {query}"]
[intents."media.play".slots.query]
type = "text"
max_words = 3
required = true
"#;

    fn engine() -> TemplateEngine {
        let manifest =
            LoadedManifest::parse(Path::new("plant.toml"), MANIFEST).expect("test input");
        let mut entities = EntityLists::new();
        entities.insert(
            "machines".into(),
            EntityList {
                values: vec!["pump-3".into()],
                ..Default::default()
            },
        );
        let (engine, errors) = TemplateEngine::compile(&[manifest], &entities, 0.5);
        assert!(errors.is_empty(), "{errors:?}");
        engine
    }

    #[test]
    fn templates_become_rules_with_their_slots() {
        let grammar = engine().recognition_grammar();
        assert!(
            grammar.contains("root ::= lead* command trail*"),
            "{grammar}"
        );
        assert!(grammar.contains("command ::= t0 | t1 | t2"), "{grammar}");
        assert!(
            grammar.contains(r#"t0 ::= (" start" | " switch" " on") (" the")? s0-0"#),
            "{grammar}"
        );
        // Entity forms as the matcher knows them: digits, words, "number".
        assert!(grammar.contains(r#"" pump 3""#), "{grammar}");
        assert!(grammar.contains(r#"" pump three""#), "{grammar}");
        assert!(grammar.contains(r#"" pump number three""#), "{grammar}");
        // Not by place: the matcher's own forms.
        assert!(!grammar.contains(r#"" third pump""#), "{grammar}");
        assert!(!grammar.contains(r#"" number three pump""#), "{grammar}");
        assert!(grammar.contains("s0-1 ::= number"), "{grammar}");
        // Free text: at most three words.
        assert!(
            grammar.contains("s1-0 ::= word (word (word)?)?"),
            "{grammar}"
        );
        assert!(
            grammar.contains(r#"lead ::= " would you mind""#),
            "{grammar}"
        );
        // No text slot lists known values: no known-values grammar.
        assert!(engine().known_values_grammar().is_none());
    }

    #[test]
    fn known_values_hold_their_slot_and_only_their_commands() {
        let text = MANIFEST.replace(
            "max_words = 3\n",
            "max_words = 3\nknown = [\"jazz\", \"Hip  Hop\"]\n",
        );
        let manifest = LoadedManifest::parse(Path::new("plant.toml"), &text).expect("test input");
        let mut entities = EntityLists::new();
        entities.insert("machines".into(), EntityList::default());
        let (engine, errors) = TemplateEngine::compile(&[manifest], &entities, 0.5);
        assert!(errors.is_empty(), "{errors:?}");
        let known = engine
            .known_values_grammar()
            .expect("a slot lists known values");
        // Only "play {query}" (template t2), its slot held to the values as the matcher
        // reads them; the open grammar keeps the free words.
        assert!(known.contains("command ::= t2\n"), "{known}");
        assert!(known.contains("opencommand ::= o2\n"), "{known}");
        assert!(known.contains(r#"o2 ::= " play" f1-0"#), "{known}");
        assert!(known.contains("f1-0 ::= word (word (word)?)?"), "{known}");
        assert!(
            known.contains(r#"s1-0 ::= (" jazz" | " hip hop")"#),
            "{known}"
        );
        assert!(
            engine
                .recognition_grammar()
                .contains("s1-0 ::= word (word (word)?)?")
        );
    }
}
