//! Normalisation of ASR output and template literals into comparable tokens.
//!
//! The same function runs on templates and on input, so both meet in one form:
//! lowercase, apostrophes removed ("driver's" -> "drivers"), hyphens and punctuation as
//! spaces, "°C" as "degrees", decimals kept ("21.5").

/// Words dropped anywhere: hesitations and politeness that carry no meaning for a command.
pub const FILLER_WORDS: &[&str] = &[
    "please", "pls", "uh", "uhh", "uhm", "um", "umm", "er", "erm", "ah", "hmm", "mm", "kindly",
];

/// Words that open a yes/no question ("is the driver's window open"): heard first, they
/// make the utterance a question, never a misheard first word of a command.
pub const YES_NO_QUESTION_OPENERS: &[&str] = &[
    "is", "are", "am", "was", "were", "do", "does", "did", "has", "have", "had", "isnt", "arent",
];

/// Words that negate the next one (normalised: apostrophes dropped). Heard first, they
/// say not to do what follows: "don't pause the music" is no request to pause it.
pub const NEGATIONS: &[&str] = &[
    "wont", "doesnt", "dont", "cant", "cannot", "isnt", "arent", "wasnt", "didnt", "wouldnt",
    "not", "never",
];

/// Question words ("what is the pressure of pump two").
pub const QUESTION_WORDS: &[&str] = &[
    "what", "whats", "who", "whos", "why", "how", "hows", "when", "where", "wheres", "which",
];

/// Whether a normalised word opens a question of either kind.
pub fn opens_question(word: &str) -> bool {
    YES_NO_QUESTION_OPENERS.contains(&word) || QUESTION_WORDS.contains(&word)
}

/// Whether `tokens[i]` comes right after "a" or "an": a word there names a thing ("a
/// crack", "a cold", "a second"), not what a value does.
pub fn follows_an_article(tokens: &[String], i: usize) -> bool {
    i > 0 && tokens.get(i - 1).is_some_and(|w| w == "a" || w == "an")
}

/// Phrases dropped at the start of an utterance (longest first).
pub const LEADING_PHRASES: &[&str] = &[
    "would you mind",
    "i would like to",
    "i would like you to",
    "i want you to",
    "id like to",
    "id like you to",
    "i want to",
    "i wanna",
    "can you",
    "could you",
    "would you",
    "will you",
    "go ahead and",
    "hey agent",
    "hey car",
    // What Whisper writes for a hesitation or a run-up at the start ("Oh navigate to the
    // airport", "Okay so stop pump four"); only at the start, and only before more words,
    // where they cannot be the command ("okay" alone stays an answer; "right" is a window).
    "okay so",
    "ok so",
    "all right",
    "alright",
    "okay",
    "ok",
    "oh",
    "ooh",
    "so",
    "well",
    "hey",
];

/// Whole utterances that trail off rather than answer: "so yeah" ends what someone was
/// saying and says yes to nothing, so its "so" is no run-up to drop.
const TRAILING_OFF: &[&[&str]] = &[&["so", "yeah"]];

/// Whether `tokens` (normalised) are a whole utterance that trails off ([`TRAILING_OFF`]).
pub fn trails_off(tokens: &[String]) -> bool {
    TRAILING_OFF.iter().any(|phrase| tokens == *phrase)
}

/// Phrases dropped at the end of an utterance.
pub const TRAILING_PHRASES: &[&str] = &["for me", "thank you", "thanks"];

/// Splits text into normalised tokens without dropping anything (used for templates).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len() + 8);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\'' | '\u{2019}' | '\u{2018}' => {}
            '°' => cleaned.push_str(" degrees "),
            '%' => cleaned.push_str(" percent "),
            '.' | ',' => {
                // Keep a decimal point between digits; elsewhere it is punctuation.
                let digit_before = i > 0 && chars[i - 1].is_ascii_digit();
                let digit_after = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
                if c == '.' && digit_before && digit_after {
                    cleaned.push('.');
                } else {
                    cleaned.push(' ');
                }
            }
            c if c.is_alphanumeric() => cleaned.extend(c.to_lowercase()),
            _ => cleaned.push(' '),
        }
    }
    let mut tokens: Vec<String> = Vec::new();
    for word in cleaned.split_whitespace() {
        // "22c" / "22°c" written together: split the unit off the number.
        if let Some(num) = word.strip_suffix('c')
            && !num.is_empty()
            && num.parse::<f64>().is_ok()
        {
            tokens.push(num.to_owned());
            tokens.push("degrees".to_owned());
            continue;
        }
        if word == "c" && tokens.last().is_some_and(|t| t == "degrees") {
            continue; // "°C" became "degrees c"
        }
        tokens.push(word.to_owned());
    }
    tokens
}

/// A free-text slot value (normalised tokens, `value`) as `text` wrote it: the run of
/// whole words of `text` that normalises to it, lowercased, with its apostrophes ("mum's
/// place", "won't come up to pressure") and without the punctuation around it. `value` as it
/// is when no such run exists (a number said in words, a filler inside the value).
pub fn as_written(value: &str, text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((first, last)) = written_run(value, text) else {
        return value.to_owned();
    };
    let written = words[first..=last]
        .iter()
        .map(|w| {
            w.replace(['\u{2019}', '\u{2018}'], "'")
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect::<Vec<_>>()
        .join(" ");
    // Only spelling may differ: the words must read as the value did.
    if tokenize(&written) == value.split_whitespace().collect::<Vec<_>>() {
        written
    } else {
        value.to_owned()
    }
}

/// The characters that end a clause (a "." between digits is a decimal point instead).
pub const CLAUSE_ENDS: [char; 5] = [',', ';', '.', '?', '!'];

/// Whether a free-text value (normalised tokens, `value`) runs across a clause of `text`:
/// a word of it before its last ends a clause (",", ";", ".", "?", "!"). "play the last
/// track again, I missed the chorus" has no song named "the last track again, I missed
/// the chorus".
pub fn spans_clauses(value: &str, text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    written_run(value, text)
        .is_some_and(|(first, last)| words[first..last].iter().any(|w| ends_a_clause(w)))
}

/// Whether a written word ends a clause: its last character, past closing quotes and
/// brackets, is one of [`CLAUSE_ENDS`] ("again,", "'stop.'").
fn ends_a_clause(word: &str) -> bool {
    word.trim_end_matches(['"', '\'', '\u{2019}', ')'])
        .ends_with(CLAUSE_ENDS)
}

/// Where `text`'s clauses start among `tokens`, its normalised tokens: the index of each
/// token with a clause end (",", ";", ".", "?", "!") written before it and after the one
/// before. Empty when `tokens` are not `text`'s own words in order.
pub fn clause_starts(text: &str, tokens: &[String]) -> Vec<usize> {
    // Every token of the text as written, and whether it ends a clause.
    let mut written: Vec<(String, bool)> = Vec::new();
    for word in text.split_whitespace() {
        let ends = ends_a_clause(word);
        let parts = tokenize(word);
        let last = parts.len();
        written.extend(
            parts
                .into_iter()
                .enumerate()
                .map(|(k, token)| (token, ends && k + 1 == last)),
        );
    }
    let mut starts = Vec::new();
    let mut written = written.into_iter();
    let mut ended = false;
    for (i, token) in tokens.iter().enumerate() {
        // Fillers and courtesies the normalisation dropped are passed over.
        loop {
            let Some((word, ends)) = written.next() else {
                return Vec::new();
            };
            if word == *token {
                if ended && i > 0 {
                    starts.push(i);
                }
                ended = ends;
                break;
            }
            ended |= ends;
        }
    }
    starts
}

/// The first and last whitespace-separated word of `text` whose tokens are `value`'s
/// (normalised tokens), whole words only.
fn written_run(value: &str, text: &str) -> Option<(usize, usize)> {
    let wanted: Vec<&str> = value.split_whitespace().collect();
    let words: Vec<&str> = text.split_whitespace().collect();
    // Each token of `text`, with the word it came from and whether it starts that word.
    let mut tokens: Vec<(String, usize, bool)> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        for (k, token) in tokenize(word).into_iter().enumerate() {
            tokens.push((token, i, k == 0));
        }
    }
    if wanted.is_empty() || wanted.len() > tokens.len() {
        return None;
    }
    let ends_word = |at: usize| tokens.get(at + 1).is_none_or(|next| next.2);
    let start = (0..=tokens.len() - wanted.len()).find(|&start| {
        let end = start + wanted.len() - 1;
        tokens[start].2
            && ends_word(end)
            && tokens[start..=end]
                .iter()
                .zip(&wanted)
                .all(|(t, w)| t.0 == *w)
    })?;
    Some((tokens[start].1, tokens[start + wanted.len() - 1].1))
}

/// [`tokenize`] without filler words: a slot value as the template tier would see it
/// inside an utterance (used for slot values that come on their own, from a model).
pub fn content_tokens(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter(|t| !FILLER_WORDS.contains(&t.as_str()))
        .collect()
}

/// In how many of `texts` each word is, normalised (a word counted once per text).
pub fn texts_per_word<'t>(
    texts: impl IntoIterator<Item = &'t str>,
) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for text in texts {
        let words: std::collections::HashSet<String> = normalize(text).into_iter().collect();
        for word in words {
            *counts.entry(word).or_default() += 1;
        }
    }
    counts
}

/// Normalises an utterance: [`content_tokens`], then drops the politeness phrases at its
/// start and end, as long as something remains.
pub fn normalize(text: &str) -> Vec<String> {
    let mut tokens = content_tokens(text);
    if trails_off(&tokens) {
        return tokens;
    }
    loop {
        let before = tokens.len();
        strip_phrase(&mut tokens, LEADING_PHRASES, true);
        strip_phrase(&mut tokens, TRAILING_PHRASES, false);
        if tokens.len() == before {
            return tokens;
        }
    }
}

fn strip_phrase(tokens: &mut Vec<String>, phrases: &[&str], leading: bool) {
    for phrase in phrases {
        let words: Vec<&str> = phrase.split(' ').collect();
        if words.len() >= tokens.len() {
            continue;
        }
        let range = if leading {
            0..words.len()
        } else {
            tokens.len() - words.len()..tokens.len()
        };
        if tokens[range.clone()]
            .iter()
            .zip(&words)
            .all(|(t, w)| t == w)
        {
            tokens.drain(range);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_start_after_a_written_clause_end() {
        let starts = |text: &str| clause_starts(text, &normalize(text));
        assert_eq!(starts("Dave, start press one"), vec![1]);
        assert_eq!(starts("stop pump 2. Now, please!"), vec![3]);
        // A clause end before a dropped filler still starts the next clause there.
        assert_eq!(starts("turn it up, um, louder"), vec![3]);
        // A decimal point ends nothing; nor does a leading courtesy's comma.
        assert_eq!(starts("set it to 21.5 degrees"), Vec::<usize>::new());
        assert_eq!(starts("please, open the window"), Vec::<usize>::new());
        // Tokens that are not the text's own: no clauses claimed.
        let other: Vec<String> = ["open", "it"].map(String::from).to_vec();
        assert!(clause_starts("close it, now", &other).is_empty());
    }

    #[test]
    fn a_value_with_a_clause_end_inside_spans_clauses() {
        let text = "play the last track again, I missed the chorus";
        assert!(spans_clauses(
            "the last track again i missed the chorus",
            text
        ));
        assert!(!spans_clauses("the last track again", text));
        // Punctuation after the value's last word, or a decimal point, ends no clause in it.
        assert!(!spans_clauses("kings cross", "Take me to Kings Cross."));
        assert!(!spans_clauses(
            "platform 9.5 please",
            "go to platform 9.5 please"
        ));
        assert!(spans_clauses("home now", "go home. Now!"));
    }

    #[test]
    fn a_free_text_value_is_given_back_as_written() {
        assert_eq!(
            as_written("mums place", "I need to get to mum's place"),
            "mum's place"
        );
        assert_eq!(
            as_written(
                "wont come up to pressure",
                "the press won’t come up to pressure, walk me through it"
            ),
            "won't come up to pressure"
        );
        assert_eq!(
            as_written("kings cross", "Take me to Kings Cross."),
            "kings cross"
        );
        // Not a run of whole words of the text: the value stays.
        assert_eq!(
            as_written("10 downing street", "go to ten downing street"),
            "10 downing street"
        );
        assert_eq!(
            as_written("leaking oil", "it is leaking, uh, oil"),
            "leaking oil"
        );
        assert_eq!(as_written("ray", "get an x-ray"), "ray");
        assert_eq!(as_written("", "anything"), "");
    }

    #[test]
    fn lowercases_and_strips_punctuation() {
        assert_eq!(
            normalize("Set the Driver's temperature to 21.5°C, please!"),
            [
                "set",
                "the",
                "drivers",
                "temperature",
                "to",
                "21.5",
                "degrees"
            ]
        );
    }

    #[test]
    fn hyphens_split_words_and_ids() {
        assert_eq!(tokenize("twenty-two"), ["twenty", "two"]);
        assert_eq!(tokenize("start pump-3."), ["start", "pump", "3"]);
        assert_eq!(tokenize("22C"), ["22", "degrees"]);
    }

    #[test]
    fn drops_what_whisper_writes_for_a_hesitation_at_the_start_only() {
        // Transcripts of the demo's espeak-ng recordings by whisper tiny.en.
        assert_eq!(
            normalize("Oh navigate to the airport."),
            ["navigate", "to", "the", "airport"]
        );
        assert_eq!(
            normalize("Okay, so stop pump four."),
            ["stop", "pump", "four"]
        );
        assert_eq!(
            normalize("Well, open the window"),
            ["open", "the", "window"]
        );
        assert_eq!(normalize("Hey, um, volume up"), ["volume", "up"]);
        // Alone, or inside the command, they are kept.
        assert_eq!(normalize("Okay."), ["okay"]);
        assert_eq!(normalize("oh"), ["oh"]);
        assert_eq!(
            normalize("turn it up so I can hear"),
            ["turn", "it", "up", "so", "i", "can", "hear"]
        );
        assert_eq!(normalize("right window down"), ["right", "window", "down"]);
        // "so yeah" trails off; "okay yeah" and "so yeah, go ahead" answer.
        assert_eq!(normalize("uh, so yeah"), ["so", "yeah"]);
        assert_eq!(normalize("okay yeah"), ["yeah"]);
        assert_eq!(normalize("so yeah, go ahead"), ["yeah", "go", "ahead"]);
    }

    #[test]
    fn drops_fillers_and_politeness() {
        assert_eq!(
            normalize("uh could you um open the window for me thanks"),
            ["open", "the", "window"]
        );
        assert_eq!(
            normalize("I want to go to the airport"),
            ["go", "to", "the", "airport"]
        );
    }

    #[test]
    fn never_strips_everything() {
        assert_eq!(normalize("thanks"), ["thanks"]);
        assert_eq!(normalize("please"), Vec::<String>::new());
        assert!(normalize("").is_empty());
    }
}
