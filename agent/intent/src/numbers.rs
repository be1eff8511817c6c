//! Numbers as people say them and as ASR writes them: "22", "21.5", "twenty two",
//! "one hundred and five", "twenty one and a half", "half", "seven point five".

pub(crate) const UNITS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
pub(crate) const TENS: &[&str] = &[
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// Every number word: "zero" to "nineteen", "twenty" to "ninety".
pub fn number_words() -> impl Iterator<Item = &'static str> {
    UNITS
        .iter()
        .chain(TENS.iter().filter(|t| !t.is_empty()))
        .copied()
}

/// Whether `word` names a number by itself ("three", "twenty", "3"): unlike "a", "and" or
/// "half", never anything else.
pub fn names_a_number(word: &str) -> bool {
    unit_value(word).is_some()
        || tens_value(word).is_some()
        || (word.starts_with(|c: char| c.is_ascii_digit()) && word.parse::<f64>().is_ok())
}

/// Whether `word` can be part of a number [`parse_number_prefixes`] reads.
pub fn is_number_token(word: &str) -> bool {
    unit_value(word).is_some()
        || tens_value(word).is_some()
        || (word.starts_with(|c: char| c.is_ascii_digit()) && word.parse::<f64>().is_ok())
        || matches!(
            word,
            "hundred" | "thousand" | "and" | "a" | "an" | "half" | "point"
        )
}

fn unit_value(word: &str) -> Option<f64> {
    UNITS.iter().position(|u| *u == word).map(|v| v as f64)
}

fn tens_value(word: &str) -> Option<f64> {
    TENS.iter()
        .position(|t| !t.is_empty() && *t == word)
        .map(|v| v as f64 * 10.0)
}

/// Every way a number can be read starting at `tokens[start]`: pairs of (index after the
/// number, value), shortest first. `halves` allows "and a half" and a lone "half".
pub fn parse_number_prefixes(tokens: &[String], start: usize, halves: bool) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    let word = |i: usize| tokens.get(i).map(String::as_str);

    // A lone "half" / "a half".
    if halves {
        let mut i = start;
        if matches!(word(i), Some("a")) {
            i += 1;
        }
        if word(i) == Some("half") {
            out.push((i + 1, 0.5));
            return out;
        }
    }

    let mut i = start;
    let value: f64;
    if let Some(digits) = word(i).and_then(|w| w.parse::<f64>().ok()) {
        if !digits.is_finite() {
            return out;
        }
        value = digits;
        i += 1;
        out.push((i, value));
    } else {
        // Spelled-out integer: [a] (unit | tens [unit]) [hundred [and] (unit | tens [unit])].
        let mut total = 0.0;
        let mut current: Option<f64> = None;
        let mut last_small = false; // last word was a unit or tens
        let mut last_tens = false;
        while let Some(w) = word(i) {
            if let Some(t) = tens_value(w) {
                if last_small {
                    break;
                }
                current = Some(current.unwrap_or(0.0) + t);
                last_small = true;
                last_tens = true;
            } else if let Some(u) = unit_value(w) {
                if last_small && !(last_tens && u < 10.0 && u > 0.0) {
                    break;
                }
                current = Some(current.unwrap_or(0.0) + u);
                last_small = true;
                last_tens = false;
            } else if w == "hundred" || w == "thousand" {
                let scale = if w == "hundred" { 100.0 } else { 1000.0 };
                let base = match current {
                    Some(c) => c,
                    None if i > start && word(i - 1) == Some("a") => 1.0,
                    None => break,
                };
                if w == "hundred" {
                    current = Some(base * scale);
                } else {
                    total += base * scale;
                    current = Some(0.0);
                }
                last_small = false;
                last_tens = false;
            } else if (w == "a" || w == "an") && i == start {
                // "a hundred"
                if word(i + 1) != Some("hundred") && word(i + 1) != Some("thousand") {
                    break;
                }
            } else if w == "and" && matches!(word(i.wrapping_sub(1)), Some("hundred" | "thousand"))
            {
                // "one hundred and five": only after hundred/thousand and before a number word.
                let next = word(i + 1).unwrap_or("");
                if unit_value(next).is_none() && tens_value(next).is_none() {
                    break;
                }
            } else {
                break;
            }
            i += 1;
            if let Some(c) = current
                && w != "and"
                && w != "a"
                && w != "an"
            {
                out.push((i, total + c));
            }
        }
        match out.last() {
            Some(&(end, v)) => {
                i = end;
                value = v;
            }
            None => return out,
        }
    }

    // Fractions after the integer part.
    if halves && word(i) == Some("and") && word(i + 1) == Some("a") && word(i + 2) == Some("half") {
        out.push((i + 3, value + 0.5));
    } else if word(i) == Some("point") {
        // "seven point five" / "7 point 5": digits after the point, one word each.
        let mut j = i + 1;
        let mut frac = String::new();
        while let Some(w) = word(j) {
            let digit = match unit_value(w) {
                Some(d) if d < 10.0 => d as u8,
                _ => match w.parse::<u8>() {
                    Ok(d) if d < 10 && w.len() == 1 => d,
                    _ => break,
                },
            };
            frac.push(char::from(b'0' + digit));
            j += 1;
        }
        if let Ok(f) = format!("0.{frac}").parse::<f64>()
            && !frac.is_empty()
        {
            out.push((j, value + f));
        }
    }
    out
}

/// The spoken English words of a whole number below one million ("23" -> "twenty three").
pub fn number_to_words(n: u32) -> String {
    fn below_thousand(n: u32, out: &mut Vec<String>) {
        let hundreds = n / 100;
        let rest = n % 100;
        if hundreds > 0 {
            out.push(UNITS[hundreds as usize].to_owned());
            out.push("hundred".to_owned());
        }
        if rest >= 20 {
            out.push(TENS[(rest / 10) as usize].to_owned());
            if !rest.is_multiple_of(10) {
                out.push(UNITS[(rest % 10) as usize].to_owned());
            }
        } else if rest > 0 || hundreds == 0 {
            out.push(UNITS[rest as usize].to_owned());
        }
    }
    let mut words = Vec::new();
    if n >= 1000 {
        below_thousand(n / 1000, &mut words);
        words.push("thousand".to_owned());
        if !n.is_multiple_of(1000) {
            below_thousand(n % 1000, &mut words);
        }
    } else {
        below_thousand(n, &mut words);
    }
    words.join(" ")
}

/// Ordinal words, "first" to "twentieth" (index 0 is "first").
const ORDINALS: &[&str] = &[
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
];

/// The ways an ordinal of `n` is written, "second" and "2nd", for 1 to 20; none beyond.
pub fn ordinal_forms(n: u32) -> Vec<String> {
    let Some(word) = n.checked_sub(1).and_then(|i| ORDINALS.get(i as usize)) else {
        return Vec::new();
    };
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    vec![(*word).to_owned(), format!("{n}{suffix}")]
}

/// Whether `word` is an ordinal of [`ordinal_forms`] ("second", "2nd").
pub fn is_ordinal(word: &str) -> bool {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    ORDINALS.contains(&word)
        || digits
            .parse::<u32>()
            .is_ok_and(|n| ordinal_forms(n).iter().any(|form| form == word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::tokenize;

    #[test]
    fn ordinals_in_words_and_digits() {
        assert_eq!(ordinal_forms(2), ["second", "2nd"]);
        assert_eq!(ordinal_forms(11), ["eleventh", "11th"]);
        assert_eq!(ordinal_forms(21), Vec::<String>::new());
        assert_eq!(ordinal_forms(0), Vec::<String>::new());
        assert!(is_ordinal("second") && is_ordinal("2nd") && is_ordinal("13th"));
        assert!(!is_ordinal("2") && !is_ordinal("2th") && !is_ordinal("pump3"));
    }

    fn longest(text: &str, halves: bool) -> Option<f64> {
        let tokens = tokenize(text);
        parse_number_prefixes(&tokens, 0, halves)
            .into_iter()
            .filter(|(end, _)| *end == tokens.len())
            .map(|(_, v)| v)
            .next_back()
    }

    #[test]
    fn digits_and_decimals() {
        assert_eq!(longest("22", false), Some(22.0));
        assert_eq!(longest("21.5", false), Some(21.5));
    }

    #[test]
    fn spoken_numbers() {
        assert_eq!(longest("twenty two", false), Some(22.0));
        assert_eq!(longest("twenty-two", false), Some(22.0));
        assert_eq!(longest("seven", false), Some(7.0));
        assert_eq!(longest("nineteen", false), Some(19.0));
        assert_eq!(longest("one hundred and five", false), Some(105.0));
        assert_eq!(longest("a hundred", false), Some(100.0));
        assert_eq!(longest("two thousand and twenty", false), Some(2020.0));
        assert_eq!(longest("seven point five", false), Some(7.5));
    }

    #[test]
    fn halves_only_where_allowed() {
        assert_eq!(longest("twenty one and a half", true), Some(21.5));
        assert_eq!(longest("22 and a half", true), Some(22.5));
        assert_eq!(longest("half", true), Some(0.5));
        assert_eq!(longest("twenty one and a half", false), None);
        assert_eq!(longest("half", false), None);
    }

    #[test]
    fn not_numbers() {
        assert_eq!(longest("two two", false), None);
        assert_eq!(longest("twenty twenty", false), None);
        assert_eq!(longest("hundred", false), None);
        assert_eq!(longest("and", false), None);
        assert!(parse_number_prefixes(&tokenize("the pump"), 0, true).is_empty());
    }

    #[test]
    fn prefixes_are_all_offered() {
        let t = tokenize("twenty two degrees");
        let ends: Vec<usize> = parse_number_prefixes(&t, 0, false)
            .iter()
            .map(|(e, _)| *e)
            .collect();
        assert_eq!(ends, [1, 2]);
    }

    #[test]
    fn number_tokens() {
        for word in ["22", "21.5", "twenty", "seven", "hundred", "and", "half"] {
            assert!(is_number_token(word), "{word}");
        }
        for word in ["nan", "inf", "pump", "free"] {
            assert!(!is_number_token(word), "{word}");
        }
        assert_eq!(number_words().count(), 28);
    }

    #[test]
    fn words_round_trip() {
        for n in [0, 3, 13, 20, 22, 100, 105, 999, 1000, 2024] {
            let words = number_to_words(n);
            assert_eq!(longest(&words, false), Some(n as f64), "{words}");
        }
    }
}
