//! The recognition prompt. Whisper reads its prompt as the text before the utterance; a short
//! list of the names the skills expect (entity lists such as the plant's machines, and
//! configured words) biases it toward them ("pump 3" rather than "pump free").
//!
//! Every prompt token costs decoder time on each request: on the espeak-ng set, the machine
//! names (~25 tokens) raised command acceptance from 69% to 79% for 1.5x the CPU, while
//! adding the skills' enum values as well (~70 tokens) cost 2.2x and recognised less
//! (docs/BENCHMARKS.md). So entity names and configured words only.

use edge_core::EntityLists;

/// Longest prompt: Whisper keeps at most half its 448-token context for it.
const MAX_CHARS: usize = 600;

/// `extra` words first, then entity values ("pump-3" as "pump 3").
pub fn vocabulary_prompt(entities: &EntityLists, extra: &[String]) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut push = |w: String| {
        let w = w.trim().to_owned();
        if !w.is_empty() && !words.contains(&w) {
            words.push(w);
        }
    };
    extra.iter().cloned().for_each(&mut push);
    for list in entities.values() {
        list.values
            .iter()
            .for_each(|v| push(v.replace(['-', '_'], " ")));
    }
    let mut prompt = String::new();
    for word in words {
        if prompt.len() + word.len() + 2 > MAX_CHARS {
            break;
        }
        if !prompt.is_empty() {
            prompt.push_str(", ");
        }
        prompt.push_str(&word);
    }
    if !prompt.is_empty() {
        prompt.push('.');
    }
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_core::EntityList;

    #[test]
    fn prompt_lists_extra_words_then_entities_without_duplicates() {
        let mut entities = EntityLists::new();
        entities.insert(
            "machine".into(),
            EntityList {
                values: vec!["pump-3".into(), "conveyor-1".into()],
                synonyms: Default::default(),
            },
        );
        let prompt = vocabulary_prompt(&entities, &["Munich".into(), "pump 3".into()]);
        assert_eq!(prompt, "Munich, pump 3, conveyor 1.");
        assert_eq!(vocabulary_prompt(&EntityLists::new(), &[]), "");
    }
}
