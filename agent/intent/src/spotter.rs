//! Slots without templates: for an intent chosen by another tier (the embedding tier),
//! the slot values found anywhere in the utterance by the template tier's own recognisers
//! (enum values and entities with their synonyms, numbers written or spoken within the
//! slot's range). Free-text slots are not spotted: without a carrier phrase there is no
//! telling where their words start.

use crate::engine::{SlotMatcher, TemplateEngine, slot_matches};
use crate::normalize::tokenize;
use crate::normalize::{follows_an_article, normalize};
use crate::numbers::names_a_number;
use edge_core::{Recognition, SlotKind, Slots, Tier};

/// What the recogniser doubted about the transcript a command was read from.
#[derive(Debug, Clone, Default)]
pub struct HeardDoubts {
    /// Words it heard below its confidence (`asr.free_text_min_p`; every word of a
    /// grammar-made command to confirm).
    pub unsure_words: Vec<String>,
    /// Words it barely heard (below `asr.request_word_min_p`).
    pub barely_heard: Vec<String>,
    /// Other readings of the audio nearly as likely (one word swapped).
    pub rivals: Vec<String>,
}

/// Why a command is asked about instead of acted on ([`TemplateEngine::doubt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doubt<'d> {
    /// A free-text slot holds a word heard unsurely.
    FreeText,
    /// A lenient tier read it from a word barely heard.
    BarelyHeard,
    /// A rival reading of the audio is this other command.
    Rival(&'d str),
}

/// Most words of the one run a grammar reading may mend by sound
/// ([`TemplateEngine::mends_only_by_sound`]).
pub const MENDED_WORDS: usize = 3;

/// Words after which a number says what is, not what to set (as normalised: no
/// apostrophes).
const COPULAS: &[&str] = &["is", "was", "are", "were", "its", "thats", "whats"];

/// Most words an unknown value may have ([`TemplateEngine::unknown_value_in_place`]).
const UNKNOWN_VALUE_WORDS: usize = 2;

impl TemplateEngine {
    /// The names of `intent`'s required slots (none for an unknown intent).
    pub fn required_slots(&self, intent: &str) -> Vec<String> {
        self.compiled_intent(intent)
            .map(|i| {
                i.required
                    .iter()
                    .filter_map(|k| i.slots.get(*k))
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The declared type of `intent`'s slot `slot`.
    pub fn slot_kind(&self, intent: &str, slot: &str) -> Option<&edge_core::SlotKind> {
        self.compiled_intent(intent).and_then(|i| {
            let index = i.slots.iter().position(|(name, _)| name == slot)?;
            i.declared.get(index)
        })
    }

    /// Whether `intent`'s slot `slot` is of an enum type (a closed set of values that a
    /// phrasing can imply: "too hot" means cooler; an entity or number never is).
    pub fn is_enum_slot(&self, intent: &str, slot: &str) -> bool {
        matches!(
            self.slot_kind(intent, slot),
            Some(edge_core::SlotKind::Enum { .. })
        )
    }

    /// The slot of `intent` to ask for when an utterance named none: its first enum
    /// slot ("Which direction?"), else its first slot; `None` when it has no slots.
    pub fn slot_to_ask_for(&self, intent: &str) -> Option<String> {
        let intent = self.compiled_intent(intent)?;
        let mut slots = intent.slots.iter().zip(&intent.declared);
        let first = intent.slots.first().map(|(name, _)| name.clone());
        slots
            .find(|(_, kind)| matches!(kind, SlotKind::Enum { .. }))
            .map(|((name, _), _)| name.clone())
            .or(first)
    }

    /// The slots of `intent` whose values come from a configured entity list (machines).
    pub fn entity_slots(&self, intent: &str) -> Vec<String> {
        self.compiled_intent(intent)
            .map(|i| {
                i.slots
                    .iter()
                    .zip(&i.declared)
                    .filter(|(_, kind)| matches!(kind, SlotKind::Entity { .. }))
                    .map(|((name, _), _)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `intent`'s free-text slots and the most words each takes.
    pub fn text_slots(&self, intent: &str) -> Vec<(String, usize)> {
        self.compiled_intent(intent)
            .map(|i| {
                i.slots
                    .iter()
                    .filter_map(|(name, matcher)| match matcher {
                        SlotMatcher::Text { max_words } => Some((name.clone(), *max_words)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `text` is a command by the exact template pass, and with which free-text
    /// slot values (a destination, a media query). `None`: not a command, or one of slot
    /// values alone ("20, thanks thank you"): that is what a grammar makes of noise most
    /// easily, so no reading is chosen for it.
    pub fn command_free_text(&self, text: &str) -> Option<Vec<String>> {
        let recognition = self.recognize_exact(text);
        if recognition.is_none()
            || self
                .spot_slots_and_rest(&recognition.intent, text)
                .1
                .is_empty()
        {
            return None;
        }
        let free: Vec<String> = self
            .text_slots(&recognition.intent)
            .iter()
            .filter_map(|(slot, _)| recognition.slots.get(slot).map(ToString::to_string))
            .collect();
        Some(free)
    }

    /// Whether a free-text slot of `recognition` holds one of `doubted` words (words the
    /// recogniser was unsure of): such a command is asked about, not acted on.
    pub fn doubts_free_text(&self, recognition: &Recognition, doubted: &[String]) -> bool {
        if doubted.is_empty() || recognition.is_none() {
            return false;
        }
        let doubted: Vec<String> = doubted.iter().flat_map(|w| tokenize(w)).collect();
        self.text_slots(&recognition.intent)
            .iter()
            .any(|(slot, _)| {
                recognition
                    .slots
                    .get(slot)
                    .is_some_and(|v| tokenize(&v.to_string()).iter().any(|w| doubted.contains(w)))
            })
    }

    /// Why `recognition`, read from `text` as heard with `doubts`, is to be asked about
    /// instead of acted on, if it is: a free-text slot with a word heard unsurely
    /// ([`Self::doubts_free_text`]), a lenient tier's reading of a word barely heard
    /// ([`Self::doubts_request`]), or a rival reading that is another command
    /// ([`Self::rival_command`]). The daemon and `edge-agentctl nlu` both ask this.
    pub fn doubt<'d>(
        &self,
        recognition: &Recognition,
        text: &str,
        doubts: &'d HeardDoubts,
    ) -> Option<Doubt<'d>> {
        if self.doubts_free_text(recognition, &doubts.unsure_words) {
            Some(Doubt::FreeText)
        } else if self.doubts_request(recognition, &doubts.barely_heard) {
            Some(Doubt::BarelyHeard)
        } else {
            self.rival_command(text, recognition, &doubts.rivals)
                .map(Doubt::Rival)
        }
    }

    /// Whether `recognition`, chosen by a lenient tier (the embedding tier, the SLM; not
    /// the templates, which need every word or its sound-alike), was read from a
    /// transcript with one of `barely_heard` words (the recogniser's least sure), function
    /// words aside: the word may be what chose the command ("Travel shoot pump 1, it is
    /// leaking oil", "travel" at p 0.05, read as starting pump 1). Such a command is asked
    /// about, not acted on.
    pub fn doubts_request(&self, recognition: &Recognition, barely_heard: &[String]) -> bool {
        !recognition.is_none()
            && matches!(recognition.tier, Tier::Embedding | Tier::Slm)
            && barely_heard
                .iter()
                .flat_map(|w| tokenize(w))
                .any(|w| !crate::phonetic::is_weak(&w))
    }

    /// The first of `rivals` (other readings of the audio that `text` was heard from) that
    /// the exact template pass takes for another command than `recognition`: another
    /// intent, or other values of its typed slots ("stop pump 2" beside "start pump 2").
    /// Such a command is asked about, not acted on. Free text is left out: a rival whose
    /// other word falls inside either reading's free text ("play my next track", a song,
    /// beside "play the next track"; "take me phone") is none, since a sound-alike word there
    /// is nearly always ranked close; that doubt is the recogniser's word probability
    /// ([`Self::doubts_free_text`]).
    pub fn rival_command<'r>(
        &self,
        text: &str,
        recognition: &Recognition,
        rivals: &'r [String],
    ) -> Option<&'r str> {
        if recognition.is_none() {
            return None;
        }
        let heard = tokenize(text);
        let free_words = |r: &Recognition| -> Vec<String> {
            self.text_slots(&r.intent)
                .iter()
                .filter_map(|(slot, _)| r.slots.get(slot))
                .flat_map(|v| tokenize(&v.to_string()))
                .collect()
        };
        let in_free_text = free_words(recognition);
        let free_slots: Vec<String> = self
            .text_slots(&recognition.intent)
            .into_iter()
            .map(|(slot, _)| slot)
            .collect();
        let typed = |r: &Recognition| {
            r.slots
                .iter()
                .filter(|(slot, _)| !free_slots.contains(slot))
                .map(|(slot, value)| (slot.clone(), value.to_string()))
                .collect::<Vec<_>>()
        };
        let heard_typed = typed(recognition);
        rivals
            .iter()
            .find(|rival| {
                let other = self.recognize_exact(rival);
                if other.is_none() {
                    return false;
                }
                let said = tokenize(rival);
                let in_other_free_text = free_words(&other);
                let swapped_in_free_text = said
                    .iter()
                    .filter(|w| !heard.contains(w))
                    .all(|w| in_other_free_text.contains(w))
                    || heard
                        .iter()
                        .filter(|w| !said.contains(w))
                        .all(|w| in_free_text.contains(w));
                if swapped_in_free_text {
                    return false;
                }
                other.intent != recognition.intent || typed(&other) != heard_typed
            })
            .map(String::as_str)
    }

    /// `unsure` (words the recogniser heard in `text` below its confidence) without those
    /// of a free-text value that is one of its slot's known values: the skill expects it,
    /// so a middling probability is no sign of a wrong word ("play some jazz" with "jazz"
    /// at p 0.17 is meant; "play some chairs" stays unsure). Only for what the recogniser
    /// heard by itself: a reading the client chose from another pass is asked about anyway.
    pub fn unsure_beyond_known(&self, text: &str, unsure: Vec<String>) -> Vec<String> {
        let recognition = self.recognize(text);
        let Some(intent) = self.intents.iter().find(|i| i.name == recognition.intent) else {
            return unsure;
        };
        let expected: Vec<String> = intent
            .slots
            .iter()
            .zip(&intent.declared)
            .filter_map(|((slot, _), kind)| match kind {
                SlotKind::Text { known, .. } => {
                    let words = tokenize(&recognition.slots.get(slot)?.to_string());
                    known.iter().any(|k| tokenize(k) == words).then_some(words)
                }
                _ => None,
            })
            .flatten()
            .collect();
        unsure
            .into_iter()
            .filter(|w| !tokenize(w).iter().all(|t| expected.contains(t)))
            .collect()
    }

    /// Whether `reading`, a command the recogniser's grammar pass made, is more than a
    /// machine the free transcript (`heard`) never named. The decoder writes the
    /// vocabulary prompt's names readily, so a reading that is a machine's name and at
    /// most one other word ("Pump 2, on" for "Pots a trend for me" at 6 dB) must have that
    /// name heard: each of its words in `heard` as written, a number as digits or a
    /// number word, a word of three letters or more also by sound ("bump 2" for "pump
    /// 2"). Longer readings mend a carrier phrase around the machine and stand as they are.
    pub fn names_the_machines_heard(&self, heard: &str, reading: &str) -> bool {
        let recognition = self.recognize_exact(reading);
        let Some(intent) = self.compiled_intent(&recognition.intent) else {
            return true;
        };
        let read = normalize(reading);
        let heard = normalize(heard);
        let as_number = |w: &str| {
            crate::numbers::parse_number_prefixes(&[w.to_owned()], 0, false)
                .first()
                .filter(|(end, _)| *end == 1)
                .map(|(_, value)| *value)
        };
        let heard_word = |word: &str| {
            heard.iter().any(|h| {
                h == word
                    || as_number(h).is_some_and(|n| Some(n) == as_number(word))
                    || (word.chars().count() >= crate::engine::near_miss::MIN_PHONETIC_LETTERS
                        && crate::phonetic::similarity(h, word)
                            >= crate::engine::near_miss::MIN_SIMILARITY)
            })
        };
        let entities = intent
            .slots
            .iter()
            .zip(&intent.declared)
            .filter(|(_, kind)| matches!(kind, SlotKind::Entity { .. }));
        for ((slot, matcher), _) in entities {
            let (SlotMatcher::Phrases(phrases), Some(edge_core::SlotValue::Text(value))) =
                (matcher, recognition.slots.get(slot))
            else {
                continue;
            };
            // The longest name of the value the reading has, word for word.
            let name = phrases
                .iter()
                .filter(|(words, v)| {
                    v == value
                        && read
                            .windows(words.len().max(1))
                            .any(|w| w == words.as_slice())
                })
                .map(|(words, _)| words)
                .max_by_key(|words| words.len());
            let Some(name) = name else {
                continue;
            };
            if read.len() <= name.len() + 1 && !name.iter().all(|w| heard_word(w)) {
                return false;
            }
        }
        true
    }

    /// Whether `reading` (a command the recogniser's grammar pass made, with free text) only
    /// mends the sound of `heard` (the free transcript) in its carrier phrase: the two differ
    /// in one run of at most [`MENDED_WORDS`] words that sound alike
    /// (`phonetic::Sound`, at least `near_miss::MIN_SIMILARITY`), and every typed slot
    /// value of the reading (a machine, a number) is one the free transcript names too, at
    /// least one of them. "Travel shoot, pump 1, it is leaking oil." and "Troubleshoot pump
    /// 1, it is leaking oil." are one command heard twice; "Good afternoon to you." is no
    /// route however much "Go to" sounds like "Good": no typed value vouches for it.
    pub fn mends_only_by_sound(&self, heard: &str, reading: &str) -> bool {
        let recognition = self.recognize_exact(reading);
        let Some(intent) = self.compiled_intent(&recognition.intent) else {
            return false;
        };
        let typed: Vec<&String> = intent
            .slots
            .iter()
            .zip(&intent.declared)
            .filter(|(_, kind)| !matches!(kind, SlotKind::Text { .. }))
            .map(|((slot, _), _)| slot)
            .filter(|slot| recognition.slots.contains_key(*slot))
            .collect();
        let in_heard = self.spot_slots(&recognition.intent, heard);
        if typed.is_empty()
            || typed
                .iter()
                .any(|slot| in_heard.get(*slot) != recognition.slots.get(*slot))
        {
            return false;
        }
        let (heard, read) = (normalize(heard), normalize(reading));
        let prefix = heard.iter().zip(&read).take_while(|(a, b)| a == b).count();
        let suffix = heard[prefix..]
            .iter()
            .rev()
            .zip(read[prefix..].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let (was, now) = (
            &heard[prefix..heard.len() - suffix],
            &read[prefix..read.len() - suffix],
        );
        !was.is_empty()
            && !now.is_empty()
            && was.len().max(now.len()) <= MENDED_WORDS
            && crate::phonetic::Sound::of_words(was)
                .similarity(&crate::phonetic::Sound::of_words(now))
                >= crate::engine::near_miss::MIN_SIMILARITY
    }

    /// Words of `text` that stand where one of `intent`'s templates has an enum or entity
    /// slot but that are none of its values ("find a hotel nearby": "find a {category}
    /// nearby" with no hotels among the categories): the request names something the
    /// skill does not offer. One or two words, none a number and none for which `known`
    /// holds (words the caller knows go with the intent, such as "cafe" for a restaurant).
    pub fn unknown_value_in_place(
        &self,
        intent: &str,
        text: &str,
        known: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let compiled = self.compiled_intent(intent)?;
        let tokens = normalize(text);
        for (slot, matcher) in &compiled.slots {
            let SlotMatcher::Phrases(phrases) = matcher else {
                continue;
            };
            let Some((stand_in, value)) = phrases.first() else {
                continue;
            };
            for start in 0..tokens.len() {
                for end in start + 1..=(start + UNKNOWN_VALUE_WORDS).min(tokens.len()) {
                    let span = &tokens[start..end];
                    if span.iter().any(|w| known(w) || names_a_number(w)) {
                        break;
                    }
                    let with_value =
                        [&tokens[..start], stand_in.as_slice(), &tokens[end..]].concat();
                    if self.exact(&with_value).is_some_and(|r| {
                        r.intent == intent
                            && matches!(r.slots.get(slot), Some(edge_core::SlotValue::Text(v)) if v == value)
                    }) {
                        return Some(span.join(" "));
                    }
                }
            }
        }
        None
    }

    /// The slots of `intent` found in `text`. Each word fills at most one slot; a longer
    /// phrase wins over a shorter one ("rear left" over "left"), typed values (enums,
    /// entities, numbers) are taken left to right, and an enum or entity slot takes the
    /// first value it finds. Unknown intents have no slots.
    pub fn spot_slots(&self, intent: &str, text: &str) -> Slots {
        self.spot_slots_and_rest(intent, text).0
    }

    /// [`TemplateEngine::spot_slots`], and the words of `text` (normalised) that no slot
    /// took: the carrier phrase.
    pub fn spot_slots_and_rest(&self, intent: &str, text: &str) -> (Slots, Vec<String>) {
        let mut slots = Slots::new();
        let tokens = normalize(text);
        let Some(intent) = self.compiled_intent(intent) else {
            return (slots, tokens);
        };
        let mut used = vec![false; tokens.len()];
        // Phrases first, longest matches first across all slots, so "rear left window"
        // is not read as "left" by another slot.
        let mut candidates: Vec<(usize, usize, usize, edge_core::SlotValue)> = Vec::new();
        for (slot, (_, matcher)) in intent.slots.iter().enumerate() {
            if matches!(matcher, SlotMatcher::Text { .. }) {
                continue;
            }
            // An entity followed by a number names another unit ("conveyor three",
            // "conveyor number three" when the list has only conveyor-1): no value, so the
            // dialogue asks which.
            let entity = matches!(
                intent.declared.get(slot),
                Some(edge_core::SlotKind::Entity { .. })
            );
            // After "a" or "an" a word names a thing: an enum value there, where no
            // template has an article before the slot, is none ("my window has a crack in
            // it" opens nothing), and "a second" is a moment, not the second machine
            // ("wait a second, press one").
            let enum_slot = matches!(
                intent.declared.get(slot),
                Some(edge_core::SlotKind::Enum { .. })
            );
            let no_article_before = !intent.after_article.get(slot).copied().unwrap_or(true);
            for start in 0..tokens.len() {
                if follows_an_article(&tokens, start)
                    && (enum_slot && no_article_before
                        || entity && crate::numbers::is_ordinal(&tokens[start]))
                {
                    continue;
                }
                let mut matches = slot_matches(matcher, &tokens, start);
                if entity && matches.is_empty() {
                    matches = possessive_matches(matcher, &tokens, start);
                }
                // A number before "of" counts or numbers a part of something ("one of
                // the machines", "volume two of the book"), and one after "is" says what
                // is ("the temperature outside is thirty"): no level or temperature to set.
                let number = matches!(matcher, SlotMatcher::Number { .. });
                let says_what_is =
                    number && start > 0 && COPULAS.contains(&tokens[start - 1].as_str());
                for (end, value, typed) in matches {
                    if number && (says_what_is || tokens.get(end).is_some_and(|t| t == "of")) {
                        continue;
                    }
                    let numbered = |at: usize| tokens.get(at).is_some_and(|t| names_a_number(t));
                    let other_unit = entity
                        && (numbered(end)
                            || (tokens.get(end).is_some_and(|t| t == "number" || t == "no")
                                && numbered(end + 1)));
                    if typed && end > start && !other_unit {
                        candidates.push((slot, start, end, value));
                    }
                }
            }
        }
        // A value named by a weak word alone ("my" for the driver's window) gives way to one
        // named outright: "my wife's hair is blowing everywhere, close the passenger
        // window" closes the passenger's. So does one compared with something, which says
        // how things are: "this is louder than I'd like, volume down" turns it down.
        let gives_way = |c: &(usize, usize, usize, edge_core::SlotValue)| {
            c.2 - c.1 == 1 && crate::phonetic::is_weak(&tokens[c.1])
                || tokens.get(c.2).is_some_and(|t| t == "than")
        };
        candidates.sort_by(|a, b| {
            (b.2 - b.1)
                .cmp(&(a.2 - a.1))
                .then(gives_way(a).cmp(&gives_way(b)))
                .then(a.1.cmp(&b.1))
        });
        let mut second_values: Vec<(usize, edge_core::SlotValue)> = Vec::new();
        for candidate in candidates {
            let gives_way = gives_way(&candidate);
            let (slot, start, end, value) = candidate;
            let name = &intent.slots[slot].0;
            if used[start..end].iter().any(|u| *u) {
                continue;
            }
            if slots.contains_key(name) {
                // Another mention of the slot elsewhere in the utterance (a weak word's
                // aside: "my" beside "passenger" is no other window; nor is a compared
                // value another volume).
                if !gives_way {
                    second_values.push((slot, value));
                }
                continue;
            }
            used[start..end].iter_mut().for_each(|u| *u = true);
            slots.insert(name.clone(), value);
        }
        // A bounded number named by its end of the range ("max out the fan", "the blower
        // off"), when no number was said for it.
        for (slot, kind) in intent.declared.iter().enumerate() {
            let name = &intent.slots[slot].0;
            if slots.contains_key(name) {
                continue;
            }
            if let Some(value) = range_end_named(kind, &tokens, &used) {
                slots.insert(name.clone(), value);
            }
        }
        // A required slot named twice with different values ("my toes are numb down
        // here, warm things up": down or warm?) is not guessed: left for the dialogue.
        for (slot, value) in second_values {
            let name = &intent.slots[slot].0;
            if intent.required.contains(&slot) && slots.get(name).is_some_and(|v| *v != value) {
                slots.remove(name);
            }
        }
        let rest = tokens
            .into_iter()
            .zip(used)
            .filter(|(_, used)| !used)
            .map(|(token, _)| token)
            .collect();
        (slots, rest)
    }
}

/// The end of a bounded number slot's range that `tokens` name with a word no slot took:
/// "max", "maximum", "full", "highest" name the top; "min", "minimum", "lowest" the bottom,
/// and "off" a bottom of zero. Both ends named: none (not guessed).
fn range_end_named(
    kind: &SlotKind,
    tokens: &[String],
    used: &[bool],
) -> Option<edge_core::SlotValue> {
    let (min, max, integer) = match kind {
        SlotKind::Number {
            min: Some(min),
            max: Some(max),
            ..
        } => (*min, *max, false),
        SlotKind::Integer {
            min: Some(min),
            max: Some(max),
        } => (*min, *max, true),
        _ => return None,
    };
    let free = |words: &[&str]| {
        tokens
            .iter()
            .zip(used)
            .any(|(t, used)| !used && words.contains(&t.as_str()))
    };
    let top = free(&["max", "maximum", "full", "highest"]);
    let bottom = free(&["min", "minimum", "lowest"]) || (min == 0.0 && free(&["off"]));
    let end = match (top, bottom) {
        (true, false) => max,
        (false, true) => min,
        _ => return None,
    };
    Some(if integer {
        edge_core::SlotValue::Integer(end as i64)
    } else {
        edge_core::SlotValue::Number(end)
    })
}

/// An entity named in the possessive ("the conveyor's shaking", "pump two's pressure"):
/// normalising drops the apostrophe, so its last word carries an "s" the list does not have.
fn possessive_matches(
    matcher: &SlotMatcher,
    tokens: &[String],
    start: usize,
) -> Vec<(usize, edge_core::SlotValue, bool)> {
    let SlotMatcher::Phrases(phrases) = matcher else {
        return Vec::new();
    };
    phrases
        .iter()
        .filter(|(phrase, _)| {
            let Some((last, before)) = phrase.split_last() else {
                return false;
            };
            let end = start + phrase.len();
            tokens.get(start..end - 1) == Some(before)
                && tokens.get(end - 1) == Some(&format!("{last}s"))
        })
        .map(|(phrase, value)| {
            (
                start + phrase.len(),
                edge_core::SlotValue::Text(value.clone()),
                true,
            )
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::{TemplateEngine, builtin_manifests};
    use edge_core::{LoadedManifest, Recognition, SlotValue, Tier};

    /// The example skills and the built-in intents with the demo's machines (also the
    /// fixture of the crate's other unit tests).
    pub(crate) fn engine() -> TemplateEngine {
        let skills = "../../skills";
        let (mut manifests, errors) = LoadedManifest::discover(&[skills.into()]);
        assert!(errors.is_empty(), "{errors:?}");
        manifests.extend(builtin_manifests());
        let config = edge_config_defaults();
        let (engine, errors) = TemplateEngine::compile(&manifests, &config, 0.5);
        assert!(errors.is_empty(), "{errors:?}");
        engine
    }

    /// The demo's machine list, as the configuration would give it.
    fn edge_config_defaults() -> edge_core::EntityLists {
        let mut entities = edge_core::EntityLists::default();
        entities.insert(
            "machine".into(),
            edge_core::EntityList {
                values: vec!["pump-3".into(), "press-1".into(), "conveyor-1".into()],
                synonyms: [("conveyor-1".to_owned(), vec!["conveyor".to_owned()])]
                    .into_iter()
                    .collect(),
            },
        );
        entities
    }

    #[test]
    fn free_text_of_a_command_and_the_doubt_on_it() {
        let e = engine();
        assert_eq!(
            e.command_free_text("Take me to the airport."),
            Some(vec!["airport".to_owned()])
        );
        assert_eq!(e.command_free_text("stop pump three"), Some(vec![]));
        assert_eq!(e.command_free_text("tell me a joke"), None);
        // Values alone are no command to choose a reading by.
        assert_eq!(e.command_free_text("20, thanks thank you"), None);
        assert_eq!(e.command_free_text("set 20, thanks"), Some(vec![]));
        // Free text across two clauses is no template's command.
        assert!(
            e.recognize("play the last track again, I missed the chorus")
                .is_none()
        );
        assert_eq!(
            e.recognize("play the last track again").intent,
            "media.play"
        );
        let route = e.recognize("We'll navigate to turn it off");
        assert_eq!(route.intent, "nav.navigate_to");
        // A doubted word inside the destination: ask. Doubt elsewhere: act.
        assert!(e.doubts_free_text(&route, &["turn".into()]));
        assert!(!e.doubts_free_text(&route, &["we'll".into(), "navigate".into()]));
        assert!(!e.doubts_free_text(&route, &[]));
        // A command without free text is never doubted this way.
        let stop = e.recognize("stop pump three");
        assert!(!e.doubts_free_text(&stop, &["stop".into(), "three".into()]));
        // A value the slot lists as known (the media skill's genres) is expected: an
        // unsure "jazz" is no doubt, an unsure "chairs" (or "play") still is.
        let unsure = |text: &str, words: &[&str]| {
            e.unsure_beyond_known(text, words.iter().map(|w| (*w).to_owned()).collect())
        };
        assert!(unsure("Play some Jazz.", &["Jazz."]).is_empty());
        assert_eq!(
            unsure("play some hip hop", &["hip", "hop", "play"]),
            ["play"]
        );
        assert_eq!(unsure("play some chairs", &["chairs"]), ["chairs"]);
        assert_eq!(unsure("tell me a joke", &["joke"]), ["joke"]);
    }

    #[test]
    fn a_value_after_an_article_names_a_thing_unless_a_template_says_so() {
        let e = engine();
        let text = |v: &str| SlotValue::Text(v.to_owned());
        // No window template has "a {position}": "a crack" is a thing, not an opening.
        let crack = e.spot_slots("window.set", "my window has a crack in it");
        assert_eq!(crack.get("position"), None, "{crack:?}");
        assert_eq!(crack.get("window"), Some(&text("driver")));
        assert_eq!(
            e.spot_slots("window.set", "crack my window open a little")
                .get("position"),
            Some(&text("open"))
        );
        // "find a {category}": after an article is where a category goes.
        assert_eq!(
            e.spot_slots("nav.find_nearby", "is there a restaurant around")
                .get("category"),
            Some(&text("restaurant"))
        );
    }

    #[test]
    fn a_value_named_outright_beats_one_named_by_a_weak_word() {
        let e = engine();
        let window = |text: &str| e.spot_slots("window.set", text).get("window").cloned();
        let text = |v: &str| Some(SlotValue::Text(v.to_owned()));
        assert_eq!(
            window("my wife's hair is blowing everywhere, close the passenger window"),
            text("passenger")
        );
        assert_eq!(
            window("my passenger wants her window down"),
            text("passenger")
        );
        assert_eq!(window("roll my window up"), text("driver"));
    }

    #[test]
    fn a_value_compared_with_something_gives_way_to_one_asked_for() {
        let e = engine();
        let direction = |text: &str| e.spot_slots("media.volume", text).get("direction").cloned();
        let text = |v: &str| Some(SlotValue::Text(v.to_owned()));
        assert_eq!(
            direction("this is louder than I'd like, volume down"),
            text("down")
        );
        assert_eq!(
            direction("volume down, this is louder than I'd like"),
            text("down")
        );
        // Alone, the compared value is still the request.
        assert_eq!(direction("make it louder than this"), text("up"));
    }

    #[test]
    fn a_machine_by_its_place() {
        let e = engine();
        let machine = |text: &str| {
            e.spot_slots("equipment.start", text)
                .get("machine")
                .cloned()
        };
        let id = |v: &str| Some(SlotValue::Text(v.to_owned()));
        assert_eq!(machine("ok let's get the first press going"), id("press-1"));
        assert_eq!(machine("spin up the 3rd pump"), id("pump-3"));
        assert_eq!(machine("spin up number three pump, would ya"), id("pump-3"));
        // A moment, not a machine: the one named after it is meant.
        assert_eq!(machine("wait a second, press one"), id("press-1"));
        // The templates know the forms too.
        let r = e.recognize("start the first press");
        assert_eq!(r.intent, "equipment.start");
        assert_eq!(r.slots.get("machine").cloned(), id("press-1"));
    }

    #[test]
    fn a_number_before_of_or_after_is_is_no_value() {
        let e = engine();
        let celsius = |text: &str| {
            e.spot_slots("climate.set_temperature", text)
                .get("celsius")
                .cloned()
        };
        assert_eq!(celsius("the temperature outside is thirty"), None);
        assert_eq!(
            celsius("it's 30 in here, set it to 21"),
            Some(SlotValue::Number(21.0))
        );
        assert_eq!(celsius("I'd like it at 21"), Some(SlotValue::Number(21.0)));
        assert_eq!(
            e.spot_slots("media.volume", "volume two of the book")
                .get("level"),
            None
        );
        assert_eq!(
            e.spot_slots("media.volume", "volume two for the book")
                .get("level"),
            Some(&SlotValue::Integer(2))
        );
    }

    #[test]
    fn words_where_a_template_has_a_value_that_are_none_of_its_values() {
        let e = engine();
        let function_word = |w: &str| ["a", "me", "the"].contains(&w);
        assert_eq!(
            e.unknown_value_in_place("nav.find_nearby", "find me a hotel nearby", function_word),
            Some("hotel".to_owned())
        );
        assert_eq!(
            e.unknown_value_in_place(
                "nav.find_nearby",
                "is there a car wash close by",
                function_word
            ),
            Some("car wash".to_owned())
        );
        // A machine's place: "start the {machine}".
        assert_eq!(
            e.unknown_value_in_place("equipment.start", "start the kiln", function_word),
            Some("kiln".to_owned())
        );
        // Words the caller knows are no unknown value; numbers never are; a sentence no
        // template has is none either.
        assert_eq!(
            e.unknown_value_in_place("nav.find_nearby", "find me a hotel nearby", |w| {
                function_word(w) || w == "hotel"
            }),
            None
        );
        assert_eq!(
            e.unknown_value_in_place("equipment.start", "start the 9", function_word),
            None
        );
        assert_eq!(
            e.unknown_value_in_place("nav.find_nearby", "my hotel was nice", function_word),
            None
        );
    }

    #[test]
    fn a_lenient_tiers_command_from_a_word_barely_heard_is_doubted() {
        let e = engine();
        let barely = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        // The embedding tier read "Travel shoot pump 1, it is leaking oil." as a start.
        let start = Recognition {
            intent: "equipment.start".into(),
            tier: Tier::Embedding,
            ..Recognition::none()
        };
        assert!(e.doubts_request(&start, &barely(&["Travel"])));
        // Function words barely heard, or none: no doubt.
        assert!(!e.doubts_request(&start, &barely(&["the", "and,"])));
        assert!(!e.doubts_request(&start, &[]));
        // The templates need every word (or its sound-alike): their reading stands.
        let templates = e.recognize("start pump three");
        assert_eq!(templates.tier, Tier::Template);
        assert!(!e.doubts_request(&templates, &barely(&["start"])));
        // Nothing recognised, nothing to doubt.
        assert!(!e.doubts_request(&Recognition::none(), &barely(&["travel"])));
        // The daemon's and nlu's one question: which doubt, if any.
        let heard = crate::HeardDoubts {
            barely_heard: barely(&["Travel"]),
            ..Default::default()
        };
        let text = "Travel shoot pump 3, it is leaking oil.";
        assert_eq!(
            e.doubt(&start, text, &heard),
            Some(crate::Doubt::BarelyHeard)
        );
        assert_eq!(e.doubt(&templates, text, &heard), None);
    }

    #[test]
    fn a_grammar_reading_of_little_more_than_a_machine_needs_it_heard() {
        let e = engine();
        let named = |heard: &str, reading: &str| e.names_the_machines_heard(heard, reading);
        // The name heard as written, in another order, as a number word or by sound.
        assert!(named("stop him 2, pump", "stop, pump 2,"));
        assert!(named("stop pump two", "stop pump 2"));
        assert!(named("Let's top bump 3, stop", "Stop pump 3"));
        // No machine, or a longer reading that mends a carrier phrase around it.
        assert!(named("Set the band to 5.", "Set the fan to 5."));
        assert!(named(
            "What is the temperature of pin 4?",
            "What is the temperature of pump 4?"
        ));
        // A machine and a word, the machine never heard.
        assert!(!named("Pots a trend for me", "Pump 3, on"));
        assert!(!named("Step the sub press 1,", "Pump 3, stop"));
        assert!(!named("stop them to", "start pump 3,"));
    }

    #[test]
    fn a_grammar_reading_that_mends_only_the_sound_of_its_carrier_is_found() {
        let e = engine();
        let mended = |heard: &str, reading: &str| e.mends_only_by_sound(heard, reading);
        assert!(mended(
            "Travel shoot, pump 3, it is leaking oil.",
            "Troubleshoot pump 3, it is leaking oil."
        ));
        // The machine is the grammar's alone, or another one: not vouched for.
        assert!(!mended(
            "Travel shoot, it is leaking oil.",
            "Troubleshoot pump 3, it is leaking oil."
        ));
        assert!(!mended(
            "Travel shoot, press 1, it is leaking oil.",
            "Troubleshoot pump 3, it is leaking oil."
        ));
        // No typed value at all: a route is vouched for by nothing.
        assert!(!mended("Good afternoon to you.", "Go to afternoon to you."));
        // Words that do not sound alike, or two runs mended.
        assert!(!mended(
            "Read the manual, pump 3, it is leaking oil.",
            "Troubleshoot pump 3, it is leaking oil."
        ));
        assert!(!mended(
            "Travel shoot, pump 3, it is leaking soil.",
            "Troubleshoot pump 3, it is leaking oil."
        ));
    }

    #[test]
    fn a_rival_reading_that_is_another_command_is_found() {
        let e = engine();
        let rivals = |texts: &[&str]| texts.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        let rival = |text: &str, others: &[&str]| {
            e.rival_command(text, &e.recognize(text), &rivals(others))
                .map(str::to_owned)
        };
        // Another intent, or the same intent on another machine: a rival.
        assert_eq!(
            rival("Start pump 3,", &["start pump 3.", "Stop pump 3,"]).as_deref(),
            Some("Stop pump 3,")
        );
        assert_eq!(
            rival("Start pump 3,", &["start press 1"]).as_deref(),
            Some("start press 1")
        );
        assert_eq!(
            rival("open all windows", &["close all windows"]).as_deref(),
            Some("close all windows")
        );
        // The same command in other words, or no command at all: no rival.
        assert_eq!(
            rival("Start pump 3,", &["start pump three", "stars pump 3"]),
            None
        );
        assert_eq!(rival("tell me a joke", &["stop pump 3"]), None);
        // A word swapped inside free text is the free text's doubt, not a rival command:
        // another destination, or a song named "my next track" beside the next track.
        assert_eq!(rival("Take me home.", &["Take me phone."]), None);
        assert_eq!(e.recognize("Play my next track.").intent, "media.play");
        assert_eq!(
            rival(
                "Play the next track.",
                &["Play my next track.", "Play the next truck."]
            ),
            None
        );
    }

    #[test]
    fn entities_are_found_by_their_spoken_forms() {
        let e = engine();
        let slots = e.spot_slots(
            "troubleshoot.start",
            "pump three won't build any pressure at all",
        );
        assert_eq!(
            slots.get("machine"),
            Some(&SlotValue::Text("pump-3".into())),
            "{slots:?}"
        );
    }

    #[test]
    fn an_entity_followed_by_another_number_is_not_that_entity() {
        let e = engine();
        let slots = e.spot_slots("equipment.read_sensor", "how fast is conveyor three going");
        assert_eq!(slots.get("machine"), None, "{slots:?}");
        let slots = e.spot_slots("equipment.start", "start up conveyor number three");
        assert_eq!(slots.get("machine"), None, "{slots:?}");
        let slots = e.spot_slots("equipment.read_sensor", "how fast is the conveyor going");
        assert_eq!(
            slots.get("machine"),
            Some(&SlotValue::Text("conveyor-1".into())),
            "{slots:?}"
        );
    }

    #[test]
    fn an_entity_in_the_possessive_is_that_entity() {
        let e = engine();
        for (text, machine) in [
            ("tell me how much the conveyor's shaking", "conveyor-1"),
            ("what's pump three's pressure", "pump-3"),
            ("what's pump 3's pressure", "pump-3"),
        ] {
            let slots = e.spot_slots("equipment.read_sensor", text);
            assert_eq!(
                slots.get("machine"),
                Some(&SlotValue::Text(machine.into())),
                "{text}: {slots:?}"
            );
        }
        // Not a possessive of a listed name.
        let slots = e.spot_slots("equipment.read_sensor", "how are the pumps doing");
        assert_eq!(slots.get("machine"), None, "{slots:?}");
    }

    #[test]
    fn a_required_slot_named_twice_differently_is_left_for_the_dialogue() {
        let e = engine();
        let slots = e.spot_slots(
            "climate.adjust_temperature",
            "my toes have gone numb down here, could you warm things up a bit",
        );
        assert_eq!(slots.get("direction"), None, "{slots:?}");
        let slots = e.spot_slots("climate.adjust_temperature", "warm it up a little");
        assert_eq!(
            slots.get("direction"),
            Some(&SlotValue::Text("warmer".into())),
            "{slots:?}"
        );
    }

    #[test]
    fn numbers_and_enums_are_found_anywhere_in_a_paraphrase() {
        let e = engine();
        let slots = e.spot_slots(
            "climate.set_temperature",
            "could you make it twenty two degrees for the passenger please",
        );
        assert_eq!(
            slots.get("celsius"),
            Some(&SlotValue::Number(22.0)),
            "{slots:?}"
        );
        assert_eq!(
            slots.get("zone"),
            Some(&SlotValue::Text("passenger".into())),
            "{slots:?}"
        );
    }

    #[test]
    fn the_words_no_slot_took_are_the_rest() {
        let e = engine();
        let (slots, rest) = e.spot_slots_and_rest("equipment.start", "get pump three going");
        assert_eq!(slots.len(), 1, "{slots:?}");
        assert_eq!(rest, ["get", "going"]);
        let (_, rest) = e.spot_slots_and_rest("equipment.start", "pump three");
        assert!(rest.is_empty(), "{rest:?}");
        assert!(e.is_enum_slot("climate.adjust_temperature", "direction"));
        assert!(!e.is_enum_slot("equipment.start", "machine"));
        assert!(!e.is_enum_slot("no.such_intent", "machine"));
    }

    #[test]
    fn a_bounded_number_may_be_named_by_an_end_of_its_range() {
        let e = engine();
        let level = |text: &str| e.spot_slots("climate.set_fan", text).get("level").cloned();
        assert_eq!(
            level("max out the fan, the windscreen's misted up"),
            Some(SlotValue::Integer(10))
        );
        assert_eq!(
            level("turn the blower off completely"),
            Some(SlotValue::Integer(0))
        );
        assert_eq!(level("fan on the lowest"), Some(SlotValue::Integer(0)));
        // A number said wins; both ends named is not guessed.
        assert_eq!(
            level("fan to three, not the max"),
            Some(SlotValue::Integer(3))
        );
        assert_eq!(level("not the max, the minimum"), None);
        // "off" is a bottom of zero only: 16 degrees is not "off".
        let celsius = |text: &str| {
            e.spot_slots("climate.set_temperature", text)
                .get("celsius")
                .cloned()
        };
        assert_eq!(celsius("temperature off"), None);
        assert_eq!(
            celsius("put the temperature on max"),
            e.spot_slots("climate.set_temperature", "thirty degrees")
                .get("celsius")
                .cloned()
        );
    }

    #[test]
    fn out_of_range_numbers_and_unknown_intents_give_nothing() {
        let e = engine();
        let slots = e.spot_slots("climate.set_temperature", "make it ninety degrees");
        assert_eq!(slots.get("celsius"), None, "{slots:?}");
        assert!(e.spot_slots("no.such_intent", "twenty two").is_empty());
    }
}
