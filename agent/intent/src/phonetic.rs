//! How alike two words sound, for the template tier's near-miss tolerance.
//!
//! Two measures, averaged:
//! - the Double Metaphone codes (`rphonetic`), which merge what speech recognisers confuse
//!   most: b/p ("bump" for "pump"), d/t, g/k, v/f, z/s, silent and doubled letters. Codes are
//!   compared by a Levenshtein distance in which a few more confusable sounds cost half an
//!   edit: "th" with "f" or "t" ("free" for "three"), "m" with "n", "s" with "sh".
//! - the spelling (`strsim` normalised Levenshtein), because Double Metaphone drops vowels and
//!   makes "clock" sound like "cooling"; the spelling keeps them apart.
//!
//! Several words written together are encoded as one ("travel shoot" as "travelshoot"), so a
//! word split or merged by the recogniser still compares with the word it should have been.

use rphonetic::DoubleMetaphone;

/// Longest code kept. Double Metaphone's usual 4 would make every long phrase alike.
const MAX_CODE_LEN: usize = 16;

/// Sounds that cost half an edit for each other (codes as Double Metaphone writes them;
/// `0` is "th", `X` is "sh").
const CLOSE_SOUNDS: &[(u8, u8)] = &[(b'0', b'F'), (b'0', b'T'), (b'M', b'N'), (b'S', b'X')];

/// Function words: too short to carry phonetic evidence, and what a recogniser writes for a
/// clipped first syllable ("at the temperature" for "set the temperature"). They are never
/// matched by sound alone (see `engine::near_miss`).
pub const WEAK_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "im", "in", "is", "it", "its", "me", "my", "of", "oh", "on", "or", "so", "that", "the",
    "their", "then", "there", "they", "this", "to", "too", "was", "we", "what", "whats", "will",
    "with", "you", "your",
];

/// Whether `word` is one of the [`WEAK_WORDS`].
pub fn is_weak(word: &str) -> bool {
    WEAK_WORDS.contains(&word)
}

/// The phonetic codes and the spelling of a word or of several words written together.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sound {
    primary: String,
    alternate: Option<String>,
    letters: String,
}

impl Sound {
    /// Encodes `text`. Text with a digit gets an empty sound: "pump3" has no sound to compare,
    /// it matches as written or not at all. So does text with letters outside ASCII: the
    /// rules are for English spelling, and rphonetic 4.0 panics on them (it slices by byte).
    pub fn of(text: &str) -> Self {
        if text.chars().any(|c| c.is_ascii_digit() || !c.is_ascii()) {
            return Self::default();
        }
        let letters: String = text
            .chars()
            .filter(|c| c.is_alphabetic())
            .flat_map(char::to_lowercase)
            .collect();
        let result = DoubleMetaphone::new(Some(MAX_CODE_LEN)).double_metaphone(&letters);
        let primary = result.primary();
        let alternate = result.alternate();
        let alternate = (alternate != primary).then_some(alternate);
        Self {
            primary,
            alternate,
            letters,
        }
    }

    /// Encodes words as if written together ("travel", "shoot" → "travelshoot").
    pub fn of_words<S: AsRef<str>>(words: &[S]) -> Self {
        let joined: String = words.iter().map(AsRef::as_ref).collect();
        Self::of(&joined)
    }

    /// Whether there was nothing to encode (digits, punctuation).
    pub fn is_empty(&self) -> bool {
        self.primary.is_empty()
    }

    /// 0.0 (nothing alike) to 1.0 (same spelling): the mean of the code similarity (best of
    /// primary and alternate codes) and the spelling similarity. Empty is alike to nothing.
    pub fn similarity(&self, other: &Sound) -> f32 {
        if self.is_empty() || other.is_empty() {
            return 0.0;
        }
        let mut codes = 0.0_f32;
        for a in std::iter::once(&self.primary).chain(&self.alternate) {
            for b in std::iter::once(&other.primary).chain(&other.alternate) {
                codes = codes.max(code_similarity(a.as_bytes(), b.as_bytes()));
            }
        }
        let spelling = strsim::normalized_levenshtein(&self.letters, &other.letters) as f32;
        (codes + spelling) / 2.0
    }

    /// A cheap upper bound of [`Sound::similarity`], from how many letters (and code
    /// letters) one has that the other lacks: every such letter needs an edit.
    pub fn similarity_bound(&self, other: &Sound) -> f32 {
        if self.is_empty() || other.is_empty() {
            return 0.0;
        }
        let mut codes = 0.0_f32;
        for a in std::iter::once(&self.primary).chain(&self.alternate) {
            for b in std::iter::once(&other.primary).chain(&other.alternate) {
                let (a, b) = (a.as_bytes(), b.as_bytes());
                // Each edit costs at least half (CLOSE_SOUNDS), insertions a whole one.
                let least = (0.5 * bag_distance(a, b) as f32).max(a.len().abs_diff(b.len()) as f32);
                codes = codes.max(1.0 - least / a.len().max(b.len()) as f32);
            }
        }
        let (a, b) = (self.letters.as_bytes(), other.letters.as_bytes());
        // Bytes are letters only in ASCII; otherwise no bound from the spelling.
        let spelling = if a.is_ascii() && b.is_ascii() {
            1.0 - bag_distance(a, b) as f32 / a.len().max(b.len()) as f32
        } else {
            1.0
        };
        (codes + spelling.max(0.0)) / 2.0
    }
}

/// A lower bound of the Levenshtein distance: the larger count of bytes one side has more
/// of than the other. Bytes are counted modulo 32, which merges a few and so can only lower
/// the count: still a lower bound, and the letters and codes (A–Z, 0) stay apart.
fn bag_distance(a: &[u8], b: &[u8]) -> usize {
    let mut counts = [0_i32; 32];
    for &x in a {
        counts[usize::from(x % 32)] += 1;
    }
    for &y in b {
        counts[usize::from(y % 32)] -= 1;
    }
    let extra_a: i32 = counts.iter().filter(|c| **c > 0).sum();
    let extra_b: i32 = -counts.iter().filter(|c| **c < 0).sum::<i32>();
    extra_a.max(extra_b).unsigned_abs() as usize
}

/// 1 − weighted Levenshtein distance / longer length. Hand-written because `strsim` has no
/// per-pair substitution cost, and [`CLOSE_SOUNDS`] needs one.
fn code_similarity(a: &[u8], b: &[u8]) -> f32 {
    let longer = a.len().max(b.len());
    if longer == 0 {
        return 1.0;
    }
    let substitution = |x: u8, y: u8| {
        if x == y {
            0.0
        } else if CLOSE_SOUNDS
            .iter()
            .any(|&(p, q)| (p, q) == (x, y) || (q, p) == (x, y))
        {
            0.5
        } else {
            1.0
        }
    };
    // Codes are at most MAX_CODE_LEN long: two rows on the stack.
    let mut previous = [0.0_f32; MAX_CODE_LEN + 1];
    let mut current = [0.0_f32; MAX_CODE_LEN + 1];
    let (a, b) = (
        &a[..a.len().min(MAX_CODE_LEN)],
        &b[..b.len().min(MAX_CODE_LEN)],
    );
    for (j, cell) in previous.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j as f32;
    }
    for (i, &x) in a.iter().enumerate() {
        current[0] = (i + 1) as f32;
        for (j, &y) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + substitution(x, y))
                .min(previous[j + 1] + 1.0)
                .min(current[j] + 1.0);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    1.0 - previous[b.len()] / longer as f32
}

/// Similarity of two single words, as [`Sound::similarity`].
pub fn similarity(a: &str, b: &str) -> f32 {
    Sound::of(a).similarity(&Sound::of(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The near-miss pass takes a substitution from 0.65 on.
    const ALIKE: f32 = 0.65;

    #[test]
    fn recogniser_confusions_sound_alike() {
        // Pairs from real Whisper transcripts of spoken commands.
        for (heard, meant) in [
            ("bump", "pump"),
            ("free", "three"),
            ("for", "four"),
            ("to", "two"),
            ("console", "cancel"),
            ("root", "route"),
            ("pumped", "pump"),
            ("star", "start"),
            ("cancelled", "cancel"),
            ("migration", "vibration"),
        ] {
            let s = similarity(heard, meant);
            assert!(s >= ALIKE, "{heard} / {meant}: {s}");
        }
        // Same codes, and closer spelling, score higher.
        assert!(similarity("bump", "pump") > similarity("pumped", "pump"));
        // "th" for "f" costs half a code edit: three is nearer to free than four is.
        assert!(similarity("free", "three") > similarity("free", "four"));
        assert!(similarity("free", "four") < ALIKE);
    }

    #[test]
    fn different_words_do_not() {
        // Pairs whose consonants agree but that are different words: the spelling decides.
        for (a, b) in [
            ("alarm", "volume"),
            ("clock", "cooling"),
            ("start", "thirty"),
            ("order", "warmer"),
            ("hospital", "parking"),
            ("heating", "cooling"),
            ("lock", "close"),
            ("far", "fan"),
        ] {
            assert!(similarity(a, b) < ALIKE, "{a} / {b}: {}", similarity(a, b));
        }
    }

    #[test]
    fn split_and_merged_words_compare_whole() {
        let heard = Sound::of_words(&["travel", "shoot"]);
        assert!(heard.similarity(&Sound::of("troubleshoot")) >= ALIKE);
        let heard = Sound::of_words(&["travel", "shooting"]);
        assert!(heard.similarity(&Sound::of("troubleshooting")) >= 0.75);
        let heard = Sound::of_words(&["now", "conditioning"]);
        let meant = Sound::of_words(&["air", "conditioning"]);
        assert!(heard.similarity(&meant) >= ALIKE);
    }

    #[test]
    fn codes_weigh_close_sounds_half() {
        assert!((code_similarity(b"FR", b"0R") - 0.75).abs() < 1e-6);
        assert!((code_similarity(b"PMP", b"PMP") - 1.0).abs() < 1e-6);
        assert!((code_similarity(b"STR", b"STRT") - 0.75).abs() < 1e-6);
        assert!((code_similarity(b"KLK", b"") - 0.0).abs() < 1e-6);
    }

    #[test]
    fn bound_is_never_below_the_similarity() {
        for (a, b) in [
            ("bump", "pump"),
            ("console", "cancel"),
            ("travelshoot", "troubleshoot"),
            ("a", "conditioning"),
            ("three", "free"),
            ("clock", "cooling"),
        ] {
            let (a, b) = (Sound::of(a), Sound::of(b));
            assert!(a.similarity_bound(&b) >= a.similarity(&b));
        }
        assert!(Sound::of("a").similarity_bound(&Sound::of("conditioning")) < 0.65);
    }

    #[test]
    fn digits_and_empty_match_nothing() {
        assert!(Sound::of("22").is_empty());
        assert!(Sound::of("pump3").is_empty());
        // Not English spelling, and the encoder would panic on it.
        assert!(Sound::of("théâtre").is_empty());
        assert_eq!(similarity("münchen", "munich"), 0.0);
        assert_eq!(similarity("22", "22"), 0.0);
        assert_eq!(similarity("", "a"), 0.0);
    }

    #[test]
    fn weak_words_are_function_words() {
        assert!(is_weak("and"));
        assert!(is_weak("at"));
        assert!(!is_weak("pump"));
        assert!(!is_weak("free"));
    }
}
