//! An utterance's clauses (split at commas, semicolons and sentence ends, and before a
//! conjunction that opens a new statement), and the clause each of its words comes from:
//! free text is taken from one clause.

use edge_intent::normalize::{CLAUSE_ENDS, tokenize};

/// Conjunctions that open a new statement when a subject follows them: "won't build
/// pressure and the operators are waiting" is two clauses; "rock and roll" is one. Speech
/// comes without commas, so the words are all there is.
const CONJUNCTIONS: &[&str] = &["and", "but", "so", "because", "cause"];
/// Normalised (apostrophes dropped: "we're" is "were").
const SUBJECTS: &[&str] = &[
    "the", "i", "im", "we", "were", "it", "its", "they", "theyre", "he", "she", "you", "my", "our",
    "there", "theres", "this", "that",
];

/// `text` split after commas, semicolons, and sentence ends ("." not between digits), and
/// before a conjunction followed by a subject ("... and the operators are waiting").
pub(crate) fn split_clauses(text: &str) -> Vec<String> {
    split_at_punctuation(text)
        .iter()
        .flat_map(|clause| split_at_conjunctions(clause))
        .collect()
}

fn split_at_conjunctions(clause: &str) -> Vec<String> {
    let words: Vec<&str> = clause.split_whitespace().collect();
    let plain = |w: &str| tokenize(w).concat();
    let mut clauses = vec![Vec::new()];
    for (i, word) in words.iter().enumerate() {
        let opens = i > 0
            && CONJUNCTIONS.contains(&plain(word).as_str())
            && words
                .get(i + 1)
                .is_some_and(|next| SUBJECTS.contains(&plain(next).as_str()));
        if opens {
            clauses.push(Vec::new());
        }
        if let Some(clause) = clauses.last_mut() {
            clause.push(*word);
        }
    }
    clauses
        .into_iter()
        .map(|words| words.join(" "))
        .filter(|c| c.chars().any(char::is_alphanumeric))
        .collect()
}

fn split_at_punctuation(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut clauses = vec![String::new()];
    for (i, &c) in chars.iter().enumerate() {
        let decimal = c == '.'
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if CLAUSE_ENDS.contains(&c) && !decimal {
            clauses.push(String::new());
        } else if let Some(clause) = clauses.last_mut() {
            clause.push(c);
        }
    }
    clauses.retain(|c| c.chars().any(char::is_alphanumeric));
    clauses
}

/// The clause of `text` (split at commas, semicolons and sentence ends) each word of `rest`
/// (words of `text`, in order, some left out) comes from; None when they cannot be
/// followed through the text.
pub(crate) fn clause_indices(text: &str, rest: &[String]) -> Option<Vec<usize>> {
    let flat: Vec<(String, usize)> = split_clauses(text)
        .iter()
        .enumerate()
        .flat_map(|(i, clause)| tokenize(clause).into_iter().map(move |t| (t, i)))
        .collect();
    // Each word of `rest`, in order, to the next token of the text that is that word.
    let mut clause_of = Vec::with_capacity(rest.len());
    let mut at = 0;
    for word in rest {
        let found = flat[at..].iter().position(|(t, _)| t == word)?;
        clause_of.push(flat[at + found].1);
        at += found + 1;
    }
    Some(clause_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conjunction_before_a_subject_opens_a_clause_and_others_do_not() {
        assert_eq!(
            split_clauses("pump three won't build pressure and the operators are waiting"),
            [
                "pump three won't build pressure",
                "and the operators are waiting"
            ]
        );
        assert_eq!(
            split_clauses("play some rock and roll"),
            ["play some rock and roll"]
        );
        assert_eq!(
            split_clauses("I'm cold, so I'd like it warmer"),
            ["I'm cold", "so I'd like it warmer"]
        );
    }
}
