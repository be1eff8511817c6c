//! An utterance's clauses (split at commas, semicolons and sentence ends), and the clause
//! each of its words comes from: free text is taken from one clause.

use edge_intent::normalize::{CLAUSE_ENDS, tokenize};

/// `text` split after commas, semicolons, and sentence ends ("." not between digits).
pub(crate) fn split_clauses(text: &str) -> Vec<String> {
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
