//! Whisper sometimes writes its prompt back: the vocabulary prompt is a list ("pump 1, pump 2,
//! pump 3, ...") and a weak or noisy recording can end in, or consist of, a run of that list
//! ("volume up" at 6 dB SNR heard as "pump 1, pump 2,", which the grammar pass then read as
//! "pump 1, stop"). Such a run names no command; it is cut before anything reads the text.

/// `text` without a trailing run of the prompt's own list: at least two of its items back to
/// back, two of them in the prompt's order ("press 1, press 2, press 2"). A single item, or
/// items in another order ("pump 3, pump 1"), can be what someone said, and stays.
pub fn cut_prompt_echo(text: &str, prompt: Option<&str>) -> String {
    let Some(prompt) = prompt else {
        return text.to_owned();
    };
    let items: Vec<Vec<String>> = prompt
        .split(',')
        .map(plain_words)
        .filter(|w| !w.is_empty())
        .collect();
    let words: Vec<&str> = text.split_whitespace().collect();
    let plain: Vec<String> = words.iter().flat_map(|w| plain_words(w)).collect();
    // Words that are all punctuation ("-") would shift the positions: keep the text then.
    if items.is_empty() || plain.len() != words.len() {
        return text.to_owned();
    }
    // The earliest start from which the rest of the text is items of the prompt, each
    // suffix read greedily (items are short and rarely prefixes of each other).
    for start in 0..plain.len() {
        let Some(run) = items_from(&plain[start..], &items) else {
            continue;
        };
        let in_order = run.windows(2).any(|pair| pair[1] == pair[0] + 1);
        if run.len() >= 2 && in_order {
            return words[..start].join(" ");
        }
    }
    text.to_owned()
}

/// The indices of the prompt items that `words` consists of, in order; None when the words
/// are not a sequence of items.
fn items_from(words: &[String], items: &[Vec<String>]) -> Option<Vec<usize>> {
    let mut run = Vec::new();
    let mut at = 0;
    while at < words.len() {
        let (index, item) = items
            .iter()
            .enumerate()
            .filter(|(_, item)| words[at..].starts_with(item))
            .max_by_key(|(_, item)| item.len())?;
        run.push(index);
        at += item.len();
    }
    Some(run)
}

fn plain_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "pump 1, pump 2, pump 3, pump 4, press 1, press 2, conveyor 1.";

    #[test]
    fn a_transcript_of_the_prompt_alone_is_cut_to_nothing() {
        // Heard on the espeak-ng set at 6 dB SNR for "volume up".
        assert_eq!(cut_prompt_echo("pump 1, pump 2,", Some(PROMPT)), "");
    }

    #[test]
    fn the_prompt_written_after_the_command_is_cut() {
        // Heard on the Piper set for "set the fan to five".
        assert_eq!(
            cut_prompt_echo(
                "press at the fan to 5. press 1, press 2, press 2,",
                Some(PROMPT)
            ),
            "press at the fan to 5."
        );
    }

    #[test]
    fn names_a_person_says_stay() {
        for said in [
            "start pump 3",
            "pump 2",
            "start pump 2, pump 2",
            "compare pump 3, pump 1",
            "stop pump 2, pump 3 please",
            "Start troubleshooting conveyor 1.",
        ] {
            assert_eq!(cut_prompt_echo(said, Some(PROMPT)), said, "{said}");
        }
        assert_eq!(
            cut_prompt_echo("pump 1, pump 2,", None),
            "pump 1, pump 2,",
            "without a prompt there is nothing to echo"
        );
    }
}
