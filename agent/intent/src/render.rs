//! A command said back in the skill's own words: the first template of an intent that can
//! say every slot value given, filled in ("close the driver window", "start pump 3"). The
//! dialogue asks with it ("Did you mean: start pump 3?") instead of the intent's description.

use crate::engine::{CNode, TemplateEngine};
use edge_core::{SlotValue, Slots};
use std::collections::BTreeSet;

/// Optional words said even without a slot in them, when a required part follows: without
/// them the sentence sounds clipped ("close driver window", "set the temperature 21").
const KEPT_OPTIONAL_WORDS: &[&str] = &["the", "to"];

impl TemplateEngine {
    /// `intent` with `slots` as a sentence of one of its templates (the first that names
    /// every given slot and no other); None when no template does (then say it otherwise).
    pub fn say_command(&self, intent: &str, slots: &Slots) -> Option<String> {
        let index = self.intents.iter().position(|i| i.name == intent)?;
        let compiled = &self.intents[index];
        let values: Vec<Option<String>> = compiled
            .slots
            .iter()
            .map(|(name, _)| slots.get(name).map(spoken_value))
            .collect();
        let wanted: BTreeSet<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
        let names: Vec<bool> = compiled
            .declared
            .iter()
            .map(|kind| matches!(kind, edge_core::SlotKind::Entity { .. }))
            .collect();
        let values = Values { values, names };
        if wanted.len() != slots.len() {
            return None; // a slot the intent does not have
        }
        // The first sentence that names exactly these values and reads back as this command.
        self.templates
            .iter()
            .filter(|t| t.intent == index)
            .filter_map(|t| say(&t.root, &values))
            .filter(|(_, used)| *used == wanted)
            .map(|(words, _)| words.join(" "))
            .find(|sentence| {
                let back = self.recognize_exact(sentence);
                back.intent == intent
                    && back.slots.len() == slots.len()
                    && slots
                        .iter()
                        .all(|(k, v)| back.slots.get(k).is_some_and(|b| b.same_as(v)))
            })
    }
}

/// Each slot's value as said (None: not given), and whether the slot names an entity.
struct Values {
    values: Vec<Option<String>>,
    names: Vec<bool>,
}

/// The words of `node` with the given slot values, and which slots they name; None when the
/// node needs a slot that has no value.
fn say(node: &CNode, values: &Values) -> Option<(Vec<String>, BTreeSet<usize>)> {
    match node {
        CNode::Word(word) => Some((vec![word.clone()], BTreeSet::new())),
        CNode::Slot(slot) => {
            let value = values.values.get(*slot)?.clone()?;
            Some((vec![value], BTreeSet::from([*slot])))
        }
        CNode::Seq(items) => {
            let parts = items
                .iter()
                .map(|item| say(item, values))
                .collect::<Option<Vec<_>>>()?;
            // Which parts are said: every required part; an optional one for a value not
            // said yet; an optional article or "to" when the next part said is a required
            // part other than a name ("close the driver window", "start pump 3").
            let mut said = vec![true; items.len()];
            let mut used = BTreeSet::new();
            let mut articles = Vec::new();
            // The optional run-up before the first required part is said: "make it a bit
            // warmer", not "warmer".
            let first_required = items.iter().position(|n| !matches!(n, CNode::Opt(_)));
            for (i, (item, (words, slots))) in items.iter().zip(&parts).enumerate() {
                if let CNode::Opt(_) = item {
                    let run_up = first_required.is_some_and(|f| i < f);
                    if slots.is_empty() && run_up {
                        continue;
                    }
                    if slots.is_empty() {
                        said[i] = false;
                        if is_kept_word(words) {
                            articles.push(i);
                        }
                        continue;
                    }
                    if !slots.is_disjoint(&used) {
                        said[i] = false;
                        continue;
                    }
                }
                used.extend(slots.iter().copied());
            }
            for i in articles.into_iter().rev() {
                let next = (i + 1..items.len()).find(|&j| said[j]);
                said[i] = next.is_some_and(|j| match &items[j] {
                    CNode::Opt(_) => false,
                    CNode::Slot(n) => values.names.get(*n) != Some(&true),
                    _ => true,
                });
            }
            let words = parts
                .into_iter()
                .zip(said)
                .filter(|(_, said)| *said)
                .flat_map(|((words, _), _)| words)
                .collect();
            Some((words, used))
        }
        // The branch that names the most slots; the first of equals.
        CNode::Alt(branches) => branches
            .iter()
            .filter_map(|b| say(b, values))
            .rev()
            .max_by_key(|(_, used)| used.len()),
        // Said in full here; whether it is said at all is its sequence's choice.
        CNode::Opt(inner) => Some(say(inner, values).unwrap_or_default()),
    }
}

fn is_kept_word(words: &[String]) -> bool {
    matches!(words, [word] if KEPT_OPTIONAL_WORDS.contains(&word.as_str()))
}

/// A slot value as said: "rear_left" as "rear left", "pump-3" as "pump 3".
pub fn spoken_value(value: &SlotValue) -> String {
    match value {
        SlotValue::Text(text) => text.replace(['_', '-'], " "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::spotter::tests::engine;
    use edge_core::{SlotValue, Slots};

    fn slots(pairs: &[(&str, SlotValue)]) -> Slots {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn a_command_is_said_in_its_templates_words() {
        let e = engine();
        let text = |v: &str| SlotValue::Text(v.into());
        let said = e
            .say_command("equipment.start", &slots(&[("machine", text("pump-3"))]))
            .expect("start has a template with the machine");
        assert_eq!(said, "start pump 3");
        let said = e
            .say_command(
                "window.set",
                &slots(&[("position", text("close")), ("window", text("rear_left"))]),
            )
            .expect("window.set");
        assert!(
            said.contains("close") && said.contains("rear left"),
            "{said}"
        );
        // Every value is said, and each template's sentence reads back as that command.
        let args = slots(&[("direction", text("cooler")), ("zone", text("driver"))]);
        let said = e
            .say_command("climate.adjust_temperature", &args)
            .expect("adjust with a zone");
        let back = e.recognize(&said);
        assert_eq!(back.intent, "climate.adjust_temperature", "{said}");
        assert_eq!(back.slots, args, "{said}");
        let said = e
            .say_command(
                "climate.adjust_temperature",
                &slots(&[("direction", text("warmer"))]),
            )
            .expect("adjust without a zone");
        assert_eq!(said, "make it a bit warmer");
        let said = e.say_command("media.next", &Slots::new()).expect("next");
        assert_eq!(e.recognize(&said).intent, "media.next", "{said}");
    }

    #[test]
    fn no_sentence_for_a_slot_the_intent_lacks() {
        let e = engine();
        let text = |v: &str| SlotValue::Text(v.into());
        assert_eq!(
            e.say_command("media.next", &slots(&[("query", text("jazz"))])),
            None
        );
        assert_eq!(e.say_command("no.such_intent", &Slots::new()), None);
    }
}
