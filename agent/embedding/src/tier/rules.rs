//! The word rules of the embedding tier: what an utterance's own words say beyond its
//! vector. A question unlike the intent's sentences, a negated request, a report of the
//! past, a question of what should be or a condition, a wish to keep a thing as it is, a
//! place or a thing the negatives speak of and the intent does not, a thing no sentence
//! names, and the words that imply a slot's value. Each reads only the counts [`EmbeddingTier::fit`]
//! keeps of the training sentences; [`EmbeddingTier::judge`] decides what they change.

use super::{
    EmbeddingTier, NOT_A_REQUEST, SentenceWords, TrainingSet, VALUE_WORD_MIN_RATIO,
    VALUE_WORD_MIN_SENTENCES, WordCounts,
};
use crate::NONE;
use edge_intent::normalize::{FILLER_WORDS, NEGATIONS, normalize};
use std::collections::BTreeSet;

/// Words before the name of a thing ("the kiln", "my compressor", "any supermarkets").
pub(super) const DETERMINERS: &[&str] = &[
    "a", "an", "any", "some", "the", "this", "that", "my", "our", "your",
];

/// How many of `label`'s sentences in `counts` have `word`.
fn sentences_with(counts: &WordCounts, label: &str, word: &str) -> usize {
    counts
        .get(label)
        .map_or(0, |(_, words)| words.get(word).copied().unwrap_or(0))
}

/// Whether `word` is one of the request's free text (`free_words`: a destination, a song,
/// a symptom), which says what to play or where to go, never how the request is meant.
pub(super) fn in_free_text(free_words: &[String], word: &str) -> bool {
    free_words.iter().any(|f| f == word)
}

/// Determiners that say whose a thing is ("my phone").
pub(super) const POSSESSIVES: &[&str] = &["my", "our", "your"];

/// Possessives of someone other than the speaker or the listener ("his own car").
pub(super) const THIRD_PARTY: &[&str] = &["his", "her", "their"];

/// The words of `words` right after a possessive ("phone" in "mute my phone").
pub(super) fn words_owned(words: &[String]) -> Vec<String> {
    words_owned_by(words, POSSESSIVES)
}

/// The words of `words` right after one of `owners` ("window" after "your").
pub(super) fn words_owned_by(words: &[String], owners: &[&str]) -> Vec<String> {
    words
        .windows(2)
        .filter(|pair| owners.contains(&pair[0].as_str()))
        .map(|pair| pair[1].clone())
        .collect()
}

/// Words that name a vehicle: someone's ("my wife's car") is not the one the assistant is
/// in.
pub(super) const VEHICLES: &[&str] = &[
    "car",
    "cars",
    "van",
    "truck",
    "lorry",
    "motor",
    "vehicle",
    "jeep",
    "suv",
    "motorbike",
];

/// Words whose "'s" is "is" or "us" ("it's", "let's"), not someone's.
const CONTRACTED: &[&str] = &[
    "it",
    "let",
    "that",
    "what",
    "there",
    "here",
    "he",
    "she",
    "who",
    "where",
    "how",
    "when",
    "why",
    "this",
    "everything",
    "nothing",
    "something",
    "everyone",
    "someone",
];

/// People whose things are never the car's or the plant's ("turn off my neighbour's air
/// conditioning"), where "my wife's window" may well be the passenger's.
const OUTSIDERS: &[&str] = &["neighbour", "neighbor", "neighbours", "neighbors"];

/// The things of `text` named as someone's: a word written with "'s" (or "s'"), not a
/// contraction, right before a [`VEHICLES`] word ("car" in "close my mum's car windows"),
/// before a word written as a name ("my wife's Corolla"), or written "s'" before any word
/// but an everyday one ("the neighbours' music"), after an [`OUTSIDERS`] word's "'s" the
/// same; and a vehicle after "his", "her" or "their" ("my dad keeps his car at 18").
/// After "'s" a word that is neither may be what someone is ("my wife's cold").
pub(super) fn someones_things(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter_map(|pair| {
            let owner = pair[0].to_lowercase().replace('\u{2019}', "'");
            let owner = owner.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '\'');
            if THIRD_PARTY.contains(&owner) {
                let thing = normalize(pair[1]).into_iter().next()?;
                return VEHICLES.contains(&thing.as_str()).then_some(thing);
            }
            let (plural, outsider) = match owner.strip_suffix("'s") {
                Some(name) if !name.is_empty() && !CONTRACTED.contains(&name) => {
                    (false, OUTSIDERS.contains(&name))
                }
                None if owner.len() > 2 && owner.ends_with("s'") => (true, false),
                _ => return None,
            };
            let thing = normalize(pair[1]).into_iter().next()?;
            let a_name = pair[1].starts_with(|c: char| c.is_uppercase()) && thing != "i";
            let everyday = COMMON_WORDS.contains(&thing.as_str())
                || NOT_A_REQUEST.contains(&thing.as_str())
                || edge_intent::numbers::names_a_number(&thing);
            (VEHICLES.contains(&thing.as_str()) || (!everyday && (a_name || plural || outsider)))
                .then_some(thing)
        })
        .collect()
}

/// Words that place a request somewhere ("at home", "in my house", "during the night
/// shift").
pub(super) const PLACE_WORDS: &[&str] = &["in", "on", "at", "inside", "during", "before", "after"];

/// Words that tell of what was, not what should be: "press one was running fine this
/// morning" reports, it asks for nothing. Not "earlier": "drop the route we set earlier"
/// asks to cancel it.
pub(super) const PAST_MARKERS: &[&str] = &["was", "wasnt", "yesterday", "ago"];

/// Words that tell how things usually go, not what to do now: "my son always asks where
/// the nearest restaurant is" (where the intent's own sentences say "always", as in "my
/// passenger's always cold, put her side at 26", it is their reason).
pub(super) const HABIT_MARKERS: &[&str] = &["always"];

/// What "than" may compare with that is how things are now or were wanted ("warmer than
/// this", "louder than I'd like"): a change asked for.
const AS_NOW: &[&str] = &[
    "this", "that", "now", "usual", "before", "earlier", "id", "i",
];

/// Who may have had or kept a thing some way ("we had the fan on five earlier", "we kept
/// the cabin at 21 the whole trip"): a past state reported, not one asked for.
const SUBJECTS: &[&str] = &["i", "we", "they", "he", "she"];
const PAST_STATES: &[&str] = &["had", "kept"];

/// Whether `tokens[i]` reports a past state: one of [`SUBJECTS`], then it, a
/// [`PAST_STATES`] verb, then a determiner ("we had the AC on"; not "what we had on").
pub(super) fn a_past_state_at(tokens: &[String], i: usize) -> bool {
    i > 0
        && PAST_STATES.contains(&tokens[i].as_str())
        && SUBJECTS.contains(&tokens[i - 1].as_str())
        && tokens.get(i + 1).is_some_and(|next| {
            DETERMINERS.contains(&next.as_str()) || THIRD_PARTY.contains(&next.as_str())
        })
}

/// Words a verdict is passed with ("22 degrees is the perfect temperature", "that's the
/// future"), normalised (apostrophes dropped: "its", "thats"). Not the spotter's copulas
/// (edge-intent), which include the past ("was") and "what's": here the past is a marker
/// of its own, and "what's good around here" passes no verdict.
const COPULAS: &[&str] = &["is", "are", "its", "thats", "theyre", "been"];
const BEFORE_A_VERDICT: &[&str] = &[
    "the",
    "a",
    "really",
    "actually",
    "just",
    "so",
    "pretty",
    "absolutely",
    "quite",
    "very",
];
/// A verdict on a thing as it is: it asks for no change. Not a complaint ("this heat is
/// ridiculous", "this song is awful" may well ask for one).
const VERDICTS: &[&str] = &[
    "perfect",
    "great",
    "fine",
    "nice",
    "lovely",
    "good",
    "brilliant",
    "excellent",
    "amazing",
    "awesome",
    "outdated",
    "future",
    "crisp",
];

/// The verdict words of `tokens` passed after a [`COPULAS`] word, with at most two
/// [`BEFORE_A_VERDICT`] words between; or "enough" one word after it ("the passenger
/// side is warm enough now"; not "it's not warm enough").
pub(super) fn verdicts(tokens: &[String]) -> impl Iterator<Item = &str> + '_ {
    tokens.iter().enumerate().filter_map(|(i, w)| {
        if !COPULAS.contains(&w.as_str()) {
            return None;
        }
        if tokens.get(i + 1).is_some_and(|next| next != "not")
            && tokens.get(i + 2).is_some_and(|w| w == "enough")
        {
            return Some("enough");
        }
        tokens[i + 1..]
            .iter()
            .take(3)
            .take_while(|next| {
                BEFORE_A_VERDICT.contains(&next.as_str()) || VERDICTS.contains(&next.as_str())
            })
            .find(|next| VERDICTS.contains(&next.as_str()))
            .map(String::as_str)
    })
}

/// Verbs whose past is spelled as their present: after a subject they tell of a deed
/// done ("I set the temperature to 21 before we left"), as a request never opens.
const SAME_FORM_PASTS: &[&str] = &["set", "put", "shut", "cut", "left"];

/// People who may have done a deed besides [`SUBJECTS`]: "the last driver left the fan on
/// full blast".
const DOERS: &[&str] = &[
    "someone",
    "somebody",
    "everyone",
    "nobody",
    "driver",
    "passenger",
    "kids",
    "wife",
    "husband",
    "son",
    "daughter",
    "mechanic",
    "technician",
    "operator",
    "colleague",
];

/// Words that open the thing a deed was done to: "I switched the AC off", "we turned it up".
const DEED_OBJECTS: &[&str] = &[
    "the", "a", "an", "it", "them", "my", "our", "his", "her", "their", "this", "that", "all",
];

/// Past verbs of wanting: "I wanted the fan on three" is a polite request, no deed.
const WANTED: &[&str] = &[
    "wanted",
    "needed",
    "hoped",
    "wished",
    "preferred",
    "liked",
    "meant",
    "asked",
];

/// The deeds `tokens` say someone did (the verb): one of [`SUBJECTS`] or [`DOERS`], a verb in the
/// past (a regular one, "switched", "lowered", not one of [`WANTED`]; or
/// [`SAME_FORM_PASTS`]), then the thing it was done to ([`DEED_OBJECTS`]): "I switched
/// the AC off earlier because it was rattling", "I put the volume on ten once".
pub(super) fn past_deeds(tokens: &[String]) -> impl Iterator<Item = &str> + '_ {
    tokens.windows(3).filter_map(|w| {
        let verb = w[1].as_str();
        let past = SAME_FORM_PASTS.contains(&verb)
            || verb.len() >= 5 && verb.ends_with("ed") && !WANTED.contains(&verb);
        let doer = SUBJECTS.contains(&w[0].as_str()) || DOERS.contains(&w[0].as_str());
        (doer && past && DEED_OBJECTS.contains(&w[2].as_str())).then_some(verb)
    })
}

/// Devices no skill drives: a request to one ("turn the TV volume down", "mute my
/// laptop") is for another device than the car's or the plant's.
pub(super) const OTHER_DEVICES: &[&str] = &[
    "tv",
    "telly",
    "television",
    "laptop",
    "tablet",
    "ipad",
    "computer",
    "pc",
    "fridge",
    "kettle",
    "microwave",
    "toaster",
    "dishwasher",
    "printer",
    "alexa",
    "headphones",
    "earbuds",
    "playstation",
    "xbox",
];

/// Words that pass on what someone else thinks, claims or likes ("my colleague reckons
/// press one is faulty", "the manual says it should run at forty", "my husband likes it
/// really cold in the car"): an opinion reported, not a request. The first person's own
/// ("I reckon", "I think") is how requests are softened.
pub(super) const OPINION_MARKERS: &[&str] = &[
    "reckons", "thinks", "claims", "believes", "suspects", "says", "reckoned", "claimed", "likes",
    "loves", "hates", "prefers",
];

/// Words that report what was said, sung or read out, by anyone but the speaker or the
/// assistant ("she said turn the AC off and walked away", "the procedure reads, check the
/// pressure on pump 3"; "I said turn it off" says it again, "ignore
/// what I just said" cancels).
const SAID: &[&str] = &["said", "told", "sang", "sings", "reads"];

/// Words between a speaker and [`SAID`] ("I just said").
const BEFORE_SAID: &[&str] = &["just", "already", "also", "only", "literally", "even"];

/// Whether the word at `i` of `tokens` passes on someone else's words or opinion
/// ([`OPINION_MARKERS`], or [`SAID`] after anyone but "I", "we" or "you").
fn passes_on_words(tokens: &[String], i: usize) -> bool {
    let w = tokens[i].as_str();
    let someone_elses = || {
        tokens[..i]
            .iter()
            .rev()
            .map(String::as_str)
            .find(|w| !BEFORE_SAID.contains(w))
            .is_some_and(|speaker| !matches!(speaker, "i" | "we" | "you"))
    };
    OPINION_MARKERS.contains(&w) || (SAID.contains(&w) && someone_elses())
}

/// Whether a clause (`words`) opens a quote: it ends with a [`SAID`] word, "says" or
/// "goes" after someone other than the speaker ("and then he sang", "the old song goes");
/// the next clause is what was said. Not "I missed what he said", which ends a reason.
pub(super) fn opens_a_quote(words: &[String]) -> bool {
    let Some((last, before)) = words.split_last() else {
        return false;
    };
    let quoting = SAID.contains(&last.as_str()) || last == "says" || last == "goes";
    quoting
        && !before.iter().any(|w| w == "what")
        && before
            .last()
            .is_some_and(|w| !matches!(w.as_str(), "i" | "we" | "you" | "it"))
}

/// Whether `text` writes `word` (normalised) as a name: capitalised, past its first word
/// ("navigate to Berlin").
pub(super) fn written_as_a_name(text: &str, word: &str) -> bool {
    text.split_whitespace().skip(1).any(|written| {
        written.starts_with(|c: char| c.is_uppercase()) && normalize(written) == [word]
    })
}

/// Words that put a request off to a later time ("tomorrow morning, turn the AC on",
/// "later on I might want some music"): no skill keeps a request for later, so it is not
/// one to act on now.
pub(super) const LATER_MARKERS: &[&str] = &["tomorrow", "tonight", "later", "afterwards"];

/// Units of a time from now ("in ten minutes, start pump three").
pub(super) const TIME_UNITS: &[&str] = &[
    "second", "seconds", "sec", "secs", "minute", "minutes", "min", "mins", "hour", "hours",
];

/// Words between "in" and a time unit that count the time ("in a couple of minutes").
const TIME_COUNTS: &[&str] = &["a", "an", "few", "couple", "of", "half", "another"];

/// Whether `tokens` put what they ask for a while off: "in" and a time unit with only
/// counting words between ("in ten minutes", "in half an hour"; not "in the hour of need").
pub(super) fn in_a_while(tokens: &[String]) -> bool {
    (0..tokens.len()).any(|i| a_while_from(tokens, i))
}

/// Whether `tokens` from `i` on say "in" and a time unit with only counting words between.
fn a_while_from(tokens: &[String], i: usize) -> bool {
    tokens.get(i).is_some_and(|w| w == "in")
        && tokens[i + 1..]
            .iter()
            .take(4)
            .position(|w| TIME_UNITS.contains(&w.as_str()))
            .is_some_and(|at| {
                at > 0
                    && tokens[i + 1..i + 1 + at].iter().all(|c| {
                        TIME_COUNTS.contains(&c.as_str()) || edge_intent::numbers::names_a_number(c)
                    })
            })
}

/// Whether `words` (a clause) open with a time from now ("tomorrow morning", "in ten
/// minutes"): the clause puts the request beside it off.
pub(super) fn opens_with_a_time(words: &[String]) -> bool {
    words
        .first()
        .is_some_and(|w| LATER_MARKERS.contains(&w.as_str()) || a_while_from(words, 0))
}

/// Times that "last" puts in the past ("did pump 2 trip last night"); "the last
/// drop-off", "that last thing I asked for" are no time.
pub(super) const PAST_TIMES: &[&str] = &[
    "night",
    "week",
    "weekend",
    "month",
    "year",
    "shift",
    "time",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Words that ask what should be, not for it to be: "what temperature is press 1
/// supposed to run at" asks for a specification, not a reading.
pub(super) const NORM_MARKERS: &[&str] = &[
    "supposed",
    "ought",
    "rating",
    "rated",
    "spec",
    "specs",
    "specification",
];

/// What a speaker may say they will do themselves ("at the next stop I'll put the AC back
/// on"); "I'll have the AC on" asks for it. (An intent whose sentences say "I'll" takes it
/// as its own: "never mind, I'll sort it myself" cancels.)
const HANDS_ON: &[&str] = &[
    "put", "turn", "switch", "open", "close", "shut", "start", "stop", "set", "sort", "fix",
    "handle", "deal", "check", "crank", "flip", "pop", "roll", "wind", "skip", "pause", "change",
];

/// What a speaker may say they will put up with ("it's a bit chilly but I'll survive"):
/// no request either.
const COPES: &[&str] = &["survive", "manage", "cope", "live", "bear"];

/// Whether `text` says the speaker will (or could) do it themselves: "I'll", "I will" or
/// "I could" before a [`HANDS_ON`] verb ("I could skip this song but I kind of like it"),
/// or a [`COPES`] one. Read from the written words: normalised, "I'll" is the "ill" of "I
/// feel ill, turn the heat down".
pub(super) fn does_it_themselves(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.to_lowercase()
                .replace('\u{2019}', "'")
                .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                .to_owned()
        })
        .collect();
    words.iter().enumerate().any(|(i, w)| {
        let verb = match w.as_str() {
            "i'll" => words.get(i + 1),
            "i" if words
                .get(i + 1)
                .is_some_and(|n| n == "will" || n == "could") =>
            {
                words.get(i + 2)
            }
            _ => None,
        };
        verb.is_some_and(|v| HANDS_ON.contains(&v.as_str()) || COPES.contains(&v.as_str()))
    })
}

/// People a request or a message may be passed on to ("get the night shift to shut down
/// press 2", where "get the cabin to 20" asks for it; "tell everyone the AC is staying
/// off", where "tell what the pressure is" asks for it). Not "her" or "my wife": "get her
/// side to 22" asks for the passenger's side.
const PEOPLE: &[&str] = &[
    "someone",
    "somebody",
    "everyone",
    "everybody",
    "shift",
    "crew",
    "team",
    "foreman",
    "supervisor",
    "manager",
    "boss",
    "operator",
    "operators",
    "technician",
    "engineer",
    "maintenance",
    "guys",
    "lads",
];

/// Whether `tokens` pass a request or a message on to someone else:
/// - "tell" or "ask", someone (not "me", "us" or "you"), then "to" within six words and
///   no number before it ("tell pump two to stop" speaks to the pump);
/// - "tell" one of [`PEOPLE`] within three words ("tell everyone in the car the AC is
///   staying off": a message);
/// - "let" someone "know" ("let the foreman know vibration on pump 1 looks high");
/// - "get" one of [`PEOPLE`], then "to" within six words.
pub(super) fn relays_a_request(tokens: &[String]) -> bool {
    let someone_at = |i: usize| {
        tokens
            .get(i)
            .is_some_and(|someone| !matches!(someone.as_str(), "me" | "us" | "you" | "to"))
    };
    // Where "to" follows within six words, with no number before it.
    let to_after = |i: usize| {
        tokens[i + 1..]
            .iter()
            .take(6)
            .position(|w| w == "to")
            .filter(|&at| {
                !tokens[i + 1..i + 1 + at]
                    .iter()
                    .any(|w| edge_intent::numbers::names_a_number(w))
            })
    };
    let people_within = |i: usize, n: usize| {
        tokens[i + 1..]
            .iter()
            .take(n)
            .any(|w| PEOPLE.contains(&w.as_str()))
    };
    tokens.iter().enumerate().any(|(i, w)| match w.as_str() {
        "tell" => someone_at(i + 1) && (to_after(i).is_some() || people_within(i, 3)),
        "ask" => someone_at(i + 1) && to_after(i).is_some(),
        "let" => {
            someone_at(i + 1)
                && tokens[i + 1..]
                    .iter()
                    .take(5)
                    .position(|w| w == "know")
                    .is_some_and(|at| at > 0)
        }
        "get" => to_after(i).is_some_and(|at| people_within(i, at)),
        _ => false,
    })
}

/// Words said before a comma to open a request that name nobody: sounds and calls
/// ("oi, turn it up", "right, start pump 2").
pub(super) const INTERJECTIONS: &[&str] = &[
    "oi", "yo", "hey", "hi", "hiya", "ugh", "argh", "brr", "shh", "hmm", "eh", "ah", "aye", "och",
    "ach", "eish", "whoa", "wow", "oops", "right", "alright", "well", "look", "listen", "sorry",
    "quick", "mate", "buddy", "pal", "yeah", "yep", "yup", "no", "nah", "nope", "ok", "okay", "so",
    "now", "wait", "actually", "cheers", "thanks", "ja", "gosh", "jeez", "oh",
];

/// Words that call people, said before a comma: whatever the skills' sentences say of
/// them ("the kids are cold"), a request that opens by calling them is said to them
/// ("kids, stop playing with the windows").
pub(super) const CALLS: &[&str] = &[
    "kids",
    "children",
    "boys",
    "girls",
    "lads",
    "guys",
    "folks",
    "everyone",
    "everybody",
    "team",
    "fellas",
    "ladies",
    "gents",
];

/// The word a request is said to, when it opens with one word and a comma ("Dave, go and
/// start press one", "Tom, can you close your window"): normalised, none for no comma.
pub(super) fn addressee(text: &str) -> Option<String> {
    let (first, _) = text.trim_start().split_once(',')?;
    let words = normalize(first);
    match words.as_slice() {
        [one]
            if !INTERJECTIONS.contains(&one.as_str())
                && !NOT_A_REQUEST.contains(&one.as_str())
                && !FILLER_WORDS.contains(&one.as_str()) =>
        {
            Some(one.clone())
        }
        _ => None,
    }
}

/// Words after "if" that make it a courtesy, not a condition ("if you would").
pub(super) const COURTESY_AFTER_IF: &[&str] = &["you", "u", "possible", "poss", "thats"];

/// Words that put a condition or a time on a request ("alert me if the conveyor stops",
/// "turn it down when we reach the motorway", "not until the guard is back on"): no skill
/// waits for an event, so such a request is not one to act on now.
/// A supposition is one too ("suppose I turned the AC off, would the windows fog up").
pub(super) const CONDITION_WORDS: &[&str] = &[
    "if",
    "when",
    "whenever",
    "until",
    "till",
    "unless",
    "once",
    "suppose",
    "supposing",
    "assuming",
    "imagine",
    "hypothetically",
];

/// Words before "if" that make it "whether" ("check if the belt is stopped", "see if").
pub(super) const WHETHER_BEFORE_IF: &[&str] = &[
    "check",
    "checking",
    "see",
    "know",
    "wonder",
    "wondering",
    "ask",
    "asking",
    "tell",
    "find",
    "out",
    "sure",
    "confirm",
    "idea",
    "clue",
];

/// Words after "once" that make it "as soon as" ("once we're past the bridge"), not a
/// count ("once more").
pub(super) const SUBJECT_AFTER_ONCE: &[&str] = &[
    "we", "were", "i", "im", "you", "youre", "it", "its", "they", "the", "my", "our", "he", "she",
    "this", "that", "these", "those", "his", "her", "their", "your",
];

/// Whether `words` (a clause) open with a condition ("if it gets hot later", "when we
/// get there", "once we're there"; not "if you would").
pub(super) fn opens_with_a_condition(words: &[String]) -> bool {
    !words.is_empty() && is_a_condition(words, 0)
}

/// The words of `words` that put a condition on the request: a [`CONDITION_WORDS`] word,
/// except "if" as a courtesy or as "whether", a "when" that opens a question, and a
/// "once" that counts.
pub(super) fn conditions(words: &[String]) -> Vec<&str> {
    (0..words.len())
        .filter(|&i| is_a_condition(words, i) && !(i == 0 && words[0] == "when"))
        .map(|i| words[i].as_str())
        .collect()
}

/// Whether the word at `i` of `words` puts a condition on what follows or precedes: a
/// [`CONDITION_WORDS`] word, but not "if" as a courtesy ("if you would") or as "whether"
/// ("check if", "ask me if"), nor "once" as a count ("once more").
fn is_a_condition(words: &[String], i: usize) -> bool {
    let next = words.get(i + 1).map(String::as_str);
    // The word before, an object pronoun passed over ("ask me if").
    let before = words[..i]
        .iter()
        .rev()
        .map(String::as_str)
        .find(|w| !matches!(*w, "me" | "us" | "to"));
    match words[i].as_str() {
        "if" => {
            !next.is_some_and(|n| COURTESY_AFTER_IF.contains(&n))
                && !before.is_some_and(|b| WHETHER_BEFORE_IF.contains(&b))
        }
        "once" => next.is_some_and(|n| SUBJECT_AFTER_ONCE.contains(&n)),
        // "every time this song comes on": a habit, or a rule for later.
        "every" => next == Some("time"),
        // "in case the battery drops under twenty percent, look for a charger".
        "in" => next == Some("case"),
        w => CONDITION_WORDS.contains(&w),
    }
}

/// "should" asks what should be only in a question ("what pressure should pump 2 run
/// at"); elsewhere it is as often a wish ("we should grab lunch, what's near").
pub(super) const QUESTION_WORDS: &[&str] =
    &["what", "whats", "how", "hows", "which", "when", "where"];

/// Verbs that keep a thing as it is, with one of [`AS_IT_IS`]: "leave the temperature
/// exactly where it is" asks for no change ("freeze the playback where it is" pauses).
pub(super) const KEEP_VERBS: &[&str] = &["leave", "keep", "stay"];

/// Phrases that, after a [`KEEP_VERBS`] verb, keep a thing as it is.
pub(super) const AS_IT_IS: &[&[&str]] = &[
    &["alone"],
    &["unchanged"],
    &["where", "it", "is"],
    &["as", "it", "is"],
    &["as", "is"],
    &["where", "they", "are"],
    &["as", "they", "are"],
];

/// The indices of the [`AS_IT_IS`] phrases that `words` have.
pub(super) fn as_it_is_phrases(words: &[String]) -> impl Iterator<Item = usize> + '_ {
    AS_IT_IS.iter().enumerate().filter_map(|(i, phrase)| {
        words
            .windows(phrase.len())
            .any(|w| w.iter().zip(phrase.iter()).all(|(a, b)| a == b))
            .then_some(i)
    })
}

/// A word of the negatives counts as the none class's own when at least this many of
/// them have it (and no skill sentence does).
pub(super) const NONE_ONLY_MIN_NEGATIVES: usize = 2;

/// Everyday words that say nothing about the domain, never taken as the none class's own.
pub(super) const COMMON_WORDS: &[&str] = &[
    "about",
    "after",
    "again",
    "all",
    "also",
    "am",
    "any",
    "anything",
    "back",
    "be",
    "been",
    "before",
    "being",
    "but",
    "by",
    "can",
    "come",
    "could",
    "day",
    "did",
    "do",
    "does",
    "done",
    "down",
    "each",
    "else",
    "even",
    "ever",
    "every",
    "far",
    "few",
    "find",
    "first",
    "from",
    "get",
    "give",
    "go",
    "going",
    "good",
    "got",
    "great",
    "had",
    "has",
    "have",
    "he",
    "her",
    "here",
    "him",
    "his",
    "how",
    "i",
    "if",
    "im",
    "into",
    "just",
    "keep",
    "know",
    "last",
    "let",
    "lets",
    "like",
    "little",
    "long",
    "look",
    "lot",
    "make",
    "many",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "need",
    "never",
    "new",
    "next",
    "no",
    "not",
    "off",
    "one",
    "only",
    "other",
    "our",
    "out",
    "over",
    "put",
    "really",
    "right",
    "said",
    "same",
    "say",
    "see",
    "she",
    "should",
    "some",
    "something",
    "soon",
    "still",
    "such",
    "take",
    "tell",
    "than",
    "thank",
    "thanks",
    "that",
    "thats",
    "their",
    "them",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "think",
    "this",
    "those",
    "through",
    "time",
    "times",
    "today",
    "tonight",
    "too",
    "up",
    "us",
    "use",
    "very",
    "want",
    "was",
    "way",
    "we",
    "well",
    "were",
    "what",
    "whats",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "would",
    "yes",
    "yet",
    "you",
    "your",
    "youre",
];

/// Whether `words` say no: a negation, "no" or "nah".
pub(super) fn says_no(words: &[String]) -> bool {
    words
        .iter()
        .any(|w| NEGATIONS.contains(&w.as_str()) || matches!(w.as_str(), "no" | "nah"))
}

/// The share of an intent's sentences that say no above which the intent is a refusal
/// (the dialogue's no: 83% of its sentences; the cancels about 20%).
pub(super) const REFUSAL_MIN_SHARE: f32 = 0.5;

/// The words right after a negation in `words` ("need" in "i dont need the route",
/// "troubleshoot" in "no need to troubleshoot").
pub(super) fn words_after_negations(words: &[String]) -> Vec<&str> {
    let words: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !AFTER_A_NEGATION.contains(w))
        .collect();
    words
        .windows(2)
        .enumerate()
        .filter_map(|(i, pair)| {
            let negates = NEGATIONS.contains(&pair[0])
                || pair[0] == "no"
                || (pair[0] == "to" && i >= 2 && words[i - 2] == "no" && words[i - 1] == "need");
            negates.then_some(pair[1])
        })
        .collect()
}

/// Words between a negation and what it negates, passed over: "don't you dare", "don't
/// even start it", "don't just stop it".
pub(super) const AFTER_A_NEGATION: &[&str] = &["you", "even", "just", "ever"];

/// The words at least [`NONE_ONLY_MIN_NEGATIVES`] negatives have and no skill sentence
/// has, everyday words and numbers aside.
pub(super) fn none_only_words(set: &TrainingSet) -> BTreeSet<String> {
    let skill_words: BTreeSet<String> = set
        .sentences
        .iter()
        .flat_map(|s| normalize(&s.text))
        .collect();
    edge_intent::normalize::texts_per_word(set.negatives.iter().map(String::as_str))
        .into_iter()
        .filter(|(w, n)| {
            *n >= NONE_ONLY_MIN_NEGATIVES
                && !skill_words.contains(w)
                && !COMMON_WORDS.contains(&w.as_str())
                && !NOT_A_REQUEST.contains(&w.as_str())
                && !w.chars().any(|c| c.is_ascii_digit())
        })
        .map(|(w, _)| w)
        .collect()
}

/// What "is it better ..." asks is advice: [`asks_for_advice`].
const ADVICE_WORDS: &[&str] = &[
    "better", "best", "worth", "wise", "smarter", "cheaper", "safer",
];

/// Whether `tokens` open by asking whether something is better, worth it or wise ("is it
/// better for fuel to drive with the windows down or the AC on", "would it be worth
/// restarting press 2"): advice, not a request.
pub(super) fn asks_for_advice(tokens: &[String]) -> bool {
    let words: Vec<&str> = tokens.iter().take(4).map(String::as_str).collect();
    let after = match words.as_slice() {
        ["is" | "isnt", "it", rest @ ..] => rest,
        ["would" | "wouldnt", "it", "be", rest @ ..] => rest,
        _ => return false,
    };
    after.first().is_some_and(|w| ADVICE_WORDS.contains(w))
}

impl EmbeddingTier {
    /// A question ("are you listening ...") put to an intent none of whose sentences
    /// opens that way: a question about something else, not this request. Or advice
    /// asked for ([`asks_for_advice`]), whatever the intent.
    pub(super) fn asks_unlike_the_intent(&self, intent: &str, tokens: &[String]) -> bool {
        let Some(first) = tokens.first() else {
            return false;
        };
        // "should" first asks for advice ("should I close the windows before the car
        // wash"), or is a condition ("should the conveyor stop, ...").
        ((edge_intent::normalize::opens_question(first) || first == "should")
            && !self.openers.get(intent).is_some_and(|o| o.contains(first)))
            || asks_for_advice(tokens)
    }

    /// Whether one of `tokens` (request words only) is in a larger share of `intent`'s
    /// sentences than of the negatives: a word that speaks for the intent.
    pub(super) fn has_a_word_of(&self, intent: &str, tokens: &[String]) -> bool {
        let share = |label: &str, word: &str| {
            self.word_counts
                .get(label)
                .map_or(0.0, |(sentences, words)| {
                    words.get(word).copied().unwrap_or(0) as f32 / (*sentences).max(1) as f32
                })
        };
        tokens
            .iter()
            .filter(|w| !NOT_A_REQUEST.contains(&w.as_str()))
            .any(|w| share(intent, w) > share(NONE, w))
    }

    /// Whether `tokens` open (fillers and a "no" aside) with a negation of the request:
    /// one none of `intent`'s sentences opens with ("don't open the window, it's
    /// pouring" asks for the opposite of a request, while "don't do that" is how a no is
    /// said), or one put before a word the intent's sentences never negate ("don't
    /// cancel the route, I still need it", where "I don't need the route" cancels it;
    /// "no need to troubleshoot pump 1"), or before another intent's opening word that
    /// this intent never uses ("don't start press one" is no request to stop it).
    pub(super) fn negates_the_request(&self, intent: &str, tokens: &[String]) -> bool {
        let start = tokens
            .iter()
            .position(|w| {
                !NOT_A_REQUEST.contains(&w.as_str()) && !matches!(w.as_str(), "no" | "nah")
            })
            .unwrap_or(tokens.len());
        let rest: Vec<&str> = tokens[start..]
            .iter()
            .map(String::as_str)
            .filter(|w| !AFTER_A_NEGATION.contains(w))
            .collect();
        let (negation, negated) = match rest.as_slice() {
            ["dont" | "never", "forget", ..] => return false,
            [first @ ("dont" | "never"), next, ..] => (*first, *next),
            ["do", "not", next, ..] => ("do", *next),
            // Advice against it ("I wouldn't open the window in this rain"); "I wouldn't
            // mind some music" asks, and "I wouldn't do that" is a no.
            ["i", "wouldnt", next, ..]
                if !matches!(*next, "mind" | "say" | "object")
                    && !self.refusals.contains(intent) =>
            {
                ("wouldnt", *next)
            }
            // "no need to X": the "no" was skipped as an answer's.
            ["need", "to", next, ..] if start > 0 && tokens[start - 1] == "no" => ("need", *next),
            _ => return false,
        };
        let unlike_the_openers = negation != "need"
            && !self
                .openers
                .get(intent)
                .is_some_and(|o| o.contains(negation));
        // A refusal's sentences negate a few words ("don't go ahead", "don't do that");
        // another intent's sentences are asked for, and what they never negate is no
        // request of theirs ("whatever you do, don't change the temperature").
        let never_negated = (self.is_a_word_of(intent, negated)
            || !self.refusals.contains(intent) && !NOT_A_REQUEST.contains(&negated))
            && !self
                .negated
                .get(intent)
                .is_some_and(|n| n.contains(negated));
        unlike_the_openers || never_negated || self.refuses_another_intent(intent, negated)
    }

    /// Whether the clause that holds the request (the first with a word of `intent`)
    /// follows another clause and opens with a negation of the request: "whatever you do,
    /// don't change the temperature" asks for nothing. A request said before the negation
    /// stands ("stop pump 4, don't restart it").
    pub(super) fn negates_it_after_a_lead(&self, intent: &str, text: &str) -> bool {
        let clauses: Vec<Vec<String>> = crate::clauses::split_clauses(text)
            .iter()
            .map(|clause| normalize(clause))
            .collect();
        // Everyday words ("whatever you do") hold no request.
        let request_words = |clause: &Vec<String>| -> Vec<String> {
            clause
                .iter()
                .filter(|w| !COMMON_WORDS.contains(&w.as_str()))
                .cloned()
                .collect()
        };
        clauses
            .iter()
            .position(|clause| self.has_a_word_of(intent, &request_words(clause)))
            .is_some_and(|i| i > 0 && self.negates_the_request(intent, &clauses[i]))
    }

    /// Whether `negated`, a word negated, opens sentences of another intent and is in none
    /// of `intent`'s: that refuses the other intent's request ("don't start press one
    /// until the guard is back on" asks nobody to stop it). Not for an intent that is
    /// itself a refusal, most of whose sentences say no ("no, don't go ahead with that").
    fn refuses_another_intent(&self, intent: &str, negated: &str) -> bool {
        !self.refusals.contains(intent)
            && !self.is_a_word_of(intent, negated)
            && self
                .openers
                .iter()
                .any(|(other, openers)| other != intent && openers.contains(negated))
    }

    /// Whether `tokens` tell of the past (or of a habit, [`HABIT_MARKERS`]) in a word none
    /// of `intent`'s sentences has, or report a past state ("we had the fan on five").
    /// A time that "last" puts in the past counts as a marker "last".
    pub(super) fn tells_of_the_past(&self, intent: &str, tokens: &[String]) -> bool {
        let last_time = tokens
            .windows(2)
            .any(|pair| pair[0] == "last" && PAST_TIMES.contains(&pair[1].as_str()));
        self.has_a_marker_unlike(intent, tokens, |w| {
            PAST_MARKERS.contains(&w) || HABIT_MARKERS.contains(&w) || (last_time && w == "last")
        }) || self.has_a_marker_at_unlike(intent, tokens, |i| a_past_state_at(tokens, i))
    }

    /// Whether `tokens` tell of a deed someone did ([`past_deeds`]) that none of
    /// `intent`'s sentences tells of.
    pub(super) fn tells_of_a_deed(&self, intent: &str, tokens: &[String]) -> bool {
        past_deeds(tokens).any(|w| !self.deeds.get(intent).is_some_and(|d| d.contains(w)))
    }

    /// Whether `tokens` compare two things ("than", not before [`AS_NOW`]) where none of
    /// `intent`'s sentences does: "in his car the passenger side is always warmer than the
    /// driver side" tells how things are, and "set the fan higher than ten" names no level
    /// to set; "25 degrees would be nicer than this" asks for a change.
    pub(super) fn compares(&self, intent: &str, tokens: &[String]) -> bool {
        self.has_a_marker_at_unlike(intent, tokens, |i| {
            tokens[i] == "than"
                && !tokens
                    .get(i + 1)
                    .is_some_and(|next| AS_NOW.contains(&next.as_str()))
        })
    }

    /// Whether the last clause of `text` passes a verdict on a thing as it is
    /// ([`verdicts`]) that none of `intent`'s sentences passes: "twenty two degrees is the
    /// perfect temperature" asks for nothing, where "22 degrees would be perfect" does
    /// ("that's fine, go ahead" is the dialogue's own). A verdict before another clause
    /// answers what came before it ("that's fine, turn off the directions").
    pub(super) fn passes_a_verdict(&self, intent: &str, text: &str) -> bool {
        let Some(last) = crate::clauses::split_clauses(text).pop() else {
            return false;
        };
        verdicts(&normalize(&last))
            .any(|w| !self.verdicts.get(intent).is_some_and(|v| v.contains(w)))
    }

    /// Whether `tokens` pass on someone's opinion in a word none of `intent`'s sentences
    /// has ("my wife says she's cold" is the climate's own way of asking).
    pub(super) fn reports_an_opinion(&self, intent: &str, tokens: &[String]) -> bool {
        self.has_a_marker_at_unlike(intent, tokens, |i| passes_on_words(tokens, i))
    }

    /// Whether `text` says the speaker will do it themselves ([`does_it_themselves`]) where
    /// none of `intent`'s sentences says "I'll" ("forget it, I'll do it myself" cancels).
    pub(super) fn says_they_will_do_it(&self, intent: &str, text: &str) -> bool {
        !self.is_a_word_of(intent, "ill") && does_it_themselves(text)
    }

    /// Whether `tokens` name another device ([`OTHER_DEVICES`]) in a word none of
    /// `intent`'s sentences has, outside the request's free text (`free_words`: "play
    /// some old TV theme tunes" asks for music).
    pub(super) fn names_another_device(
        &self,
        intent: &str,
        tokens: &[String],
        free_words: &[String],
    ) -> bool {
        self.has_a_marker_unlike(intent, tokens, |w| {
            OTHER_DEVICES.contains(&w) && !in_free_text(free_words, w)
        })
    }

    /// Whether `tokens` put the request off to later ("tomorrow", "in ten minutes") in a
    /// word none of `intent`'s sentences has. A refusal put off is still one ("not right
    /// now, maybe later").
    pub(super) fn puts_it_off(&self, intent: &str, tokens: &[String]) -> bool {
        let in_a_while = in_a_while(tokens);
        !self.refusals.contains(intent)
            && self.has_a_marker_unlike(intent, tokens, |w| {
                LATER_MARKERS.contains(&w) || (in_a_while && TIME_UNITS.contains(&w))
            })
    }

    /// Whether `tokens` speak of what should be in a word none of `intent`'s sentences has
    /// ("supposed to run at", "the pressure rating").
    pub(super) fn speaks_of_what_should_be(&self, intent: &str, tokens: &[String]) -> bool {
        let question = tokens
            .first()
            .is_some_and(|w| QUESTION_WORDS.contains(&w.as_str()));
        self.has_a_marker_unlike(intent, tokens, |w| {
            NORM_MARKERS.contains(&w) || (question && w == "should")
        })
    }

    /// Whether `tokens` put a condition or a time on the request in a word none of
    /// `intent`'s sentences uses so ("alert me if the conveyor stops" beside "check if the
    /// belt is stopped"; "turn the volume down when we reach the motorway"). Words of the
    /// request's free text (`free_words`: a symptom "when it starts") are no condition.
    pub(super) fn sets_a_condition(
        &self,
        intent: &str,
        tokens: &[String],
        free_words: &[String],
    ) -> bool {
        conditions(tokens).into_iter().any(|w| {
            !in_free_text(free_words, w)
                && !self.conditions.get(intent).is_some_and(|c| c.contains(w))
        })
    }

    /// Whether a word of `tokens` is a marker (`is_marker`) that none of `intent`'s
    /// sentences has.
    fn has_a_marker_unlike(
        &self,
        intent: &str,
        tokens: &[String],
        is_marker: impl Fn(&str) -> bool,
    ) -> bool {
        self.has_a_marker_at_unlike(intent, tokens, |i| is_marker(&tokens[i]))
    }

    /// Whether a word of `tokens` is a marker where it stands (`is_marker_at`, by index:
    /// its neighbours may decide) and none of `intent`'s sentences has the word.
    fn has_a_marker_at_unlike(
        &self,
        intent: &str,
        tokens: &[String],
        is_marker_at: impl Fn(usize) -> bool,
    ) -> bool {
        (0..tokens.len()).any(|i| is_marker_at(i) && !self.is_a_word_of(intent, &tokens[i]))
    }

    /// Whether `text` (normalised as `tokens`) is said to someone else: it opens with a
    /// word and a comma ("Dave, go and start press one"), and that word is one no skill
    /// sentence has outside its free text (a name, "honey"; not "oi", which is no one) or
    /// calls people ("kids", [`CALLS`]), or the request is of
    /// "your" thing where none of `intent`'s sentences says so ("kids, turn your music
    /// down": the car's sentences speak of kids). "your" alone is the assistant's ("I
    /// don't need your directions anymore").
    pub(super) fn says_it_to_someone(&self, intent: &str, text: &str, tokens: &[String]) -> bool {
        let Some(word) = addressee(text) else {
            return false;
        };
        // Names in the skills' free text ("play tom petty") name no one spoken to.
        let a_skill_word = self.carrier.values().any(|words| words.contains(&word));
        let your_thing = tokens.windows(2).any(|pair| {
            pair[0] == "your"
                && !NOT_A_REQUEST.contains(&pair[1].as_str())
                && !self.yours.get(intent).is_some_and(|y| y.contains(&pair[1]))
        });
        !a_skill_word || your_thing || CALLS.contains(&word.as_str())
    }

    /// Whether `tokens` keep a thing as it is in a phrase none of `intent`'s sentences
    /// has ("leave it where it is"; "leave mine alone" sets the other side).
    pub(super) fn keeps_it_as_it_is(&self, intent: &str, tokens: &[String]) -> bool {
        tokens.iter().any(|w| KEEP_VERBS.contains(&w.as_str()))
            && as_it_is_phrases(tokens).any(|i| {
                !self
                    .as_it_is
                    .get(intent)
                    .is_some_and(|had| had.contains(&i))
            })
    }

    /// Whether `tokens` place the request somewhere else: a preposition, maybe a
    /// determiner, and a place that
    /// - two or more negatives have and no sentence of the intent ("open all the windows
    ///   at home"), or
    /// - is someone's that two or more negatives own and no sentence of the intent does
    ///   ("turn the volume up on my phone", where the intent's "phone" is "on the phone"),
    ///   or
    /// - is named in two words after a determiner, neither of them a word of the intent's
    ///   sentences ("in the staff canteen", "at my brother's party").
    ///
    /// One word no sentence has is not enough: "how hot is press one getting on the
    /// platen" and "chuck the AC on lah" are requests (that rule cost paraphrases on the
    /// spent heldout-30).
    /// Words of the request's free text (`free_words`: a destination, a song) are no
    /// unknown place.
    pub(super) fn places_it_elsewhere(
        &self,
        intent: &str,
        tokens: &[String],
        free_words: &[String],
    ) -> bool {
        tokens.iter().enumerate().any(|(i, w)| {
            if !PLACE_WORDS.contains(&w.as_str()) {
                return false;
            }
            // "in his own car": someone else's, whatever the place.
            if tokens
                .get(i + 1)
                .is_some_and(|d| THIRD_PARTY.contains(&d.as_str()))
                && tokens.get(i + 2).is_some_and(|w| w == "own")
            {
                return true;
            }
            let determiner = tokens
                .get(i + 1)
                .filter(|d| DETERMINERS.contains(&d.as_str()));
            let at = if determiner.is_some() { i + 2 } else { i + 1 };
            tokens.get(at).is_some_and(|place| {
                let place = place.as_str();
                if COMMON_WORDS.contains(&place)
                    || NOT_A_REQUEST.contains(&place)
                    || edge_intent::numbers::names_a_number(place)
                {
                    return false;
                }
                let the_negatives_place = sentences_with(&self.word_counts, NONE, place)
                    >= NONE_ONLY_MIN_NEGATIVES
                    && !self.is_a_word_of(intent, place);
                let someone_elses = determiner.is_some_and(|d| POSSESSIVES.contains(&d.as_str()))
                    && sentences_with(&self.owned, NONE, place) >= NONE_ONLY_MIN_NEGATIVES
                    && sentences_with(&self.owned, intent, place) == 0;
                let unknown = |word: &str| {
                    !self.is_a_word_of(intent, word)
                        && !in_free_text(free_words, word)
                        && !COMMON_WORDS.contains(&word)
                        && !NOT_A_REQUEST.contains(&word)
                        && !edge_intent::numbers::names_a_number(word)
                };
                let an_unknown_place = determiner.is_some()
                    && unknown(place)
                    && tokens.get(at + 1).is_some_and(|next| unknown(next));
                the_negatives_place || someone_elses || an_unknown_place
            })
        })
    }

    /// Whether `text` speaks of someone else's thing ("turn on the AC in my wife's car",
    /// "the neighbours' music is too loud") where none of `intent`'s sentences does: the
    /// request is not for this one. A thing in the request's free text (`free_words`: "get
    /// me to King's Cross", "navigate to the kids' school") is where to go or what to play.
    pub(super) fn speaks_of_someone_elses_thing(
        &self,
        intent: &str,
        text: &str,
        free_words: &[String],
    ) -> bool {
        someones_things(text).iter().any(|thing| {
            !in_free_text(free_words, thing)
                && !self
                    .someones
                    .get(intent)
                    .is_some_and(|had| had.contains(thing))
        })
    }

    /// Whether a sentence of `intent` has `word`.
    pub(super) fn is_a_word_of(&self, intent: &str, word: &str) -> bool {
        sentences_with(&self.word_counts, intent, word) > 0
    }

    /// Whether no sentence of another intent, and no negative, has `word`: a name, not
    /// a word of the plant or the road ("fault on the line" names no symptom).
    pub(super) fn only_in(&self, intent: &str, word: &str) -> bool {
        self.word_counts
            .iter()
            .all(|(label, (_, words))| label == intent || !words.contains_key(word))
    }

    /// Whether every request word of `tokens` (numbers and `as_known` words aside) is in
    /// at least one of `intent`'s sentences: in one or two words, a word the intent never
    /// uses is most of the request ("air fryer" is no air conditioning).
    pub(super) fn knows_every_word(
        &self,
        intent: &str,
        tokens: &[String],
        as_known: impl Fn(&str) -> bool,
    ) -> bool {
        let Some((_, words)) = self.word_counts.get(intent) else {
            return false;
        };
        tokens
            .iter()
            .filter(|w| !NOT_A_REQUEST.contains(&w.as_str()))
            .all(|w| {
                words.contains_key(w) || edge_intent::numbers::names_a_number(w) || as_known(w)
            })
    }

    /// Whether `tokens` have a determiner followed by a word no sentence of `intent` has
    /// (numbers aside): "the kiln" where the intent only knows pumps, presses, conveyors.
    pub(super) fn names_an_unknown_thing(&self, intent: &str, tokens: &[String]) -> bool {
        let Some((_, words)) = self.word_counts.get(intent) else {
            return false;
        };
        tokens.windows(2).any(|pair| {
            DETERMINERS.contains(&pair[0].as_str())
                && !words.contains_key(&pair[1])
                && !edge_intent::numbers::names_a_number(&pair[1])
        })
    }

    /// Whether a word of `tokens` (everyday words aside) is in a larger share of
    /// `intent`'s sentences whose `slot` is `value` than of those where it is another
    /// value: a word that implies the value ("rain", "drafty" → close), not one every
    /// window request has ("window", "passenger").
    pub(super) fn speaks_for(
        &self,
        intent: &str,
        slot: &str,
        value: &str,
        tokens: &[String],
    ) -> bool {
        let Some(values) = self.value_counts.get(&(intent.to_owned(), slot.to_owned())) else {
            return false;
        };
        let Some(with) = values.per_value.get(value) else {
            return false;
        };
        let all = &values.all;
        let count = |(_, words): &SentenceWords, word: &str| words.get(word).copied().unwrap_or(0);
        // Shares of the sentences with the value, and of those with another one.
        let share_with = |word: &str| count(with, word) as f32 / with.0.max(1) as f32;
        let share_without = |word: &str| {
            (count(all, word) - count(with, word)) as f32 / (all.0 - with.0).max(1) as f32
        };
        // A word after "a" or "an" names a thing, not what the value does or feels like:
        // "a crack" is no opening, "a cold" no chill. A negated word says the opposite:
        // "not cold" is no chill.
        tokens
            .iter()
            .enumerate()
            .filter(|(i, w)| {
                let negated = i
                    .checked_sub(1)
                    .is_some_and(|before| NEGATIONS.contains(&tokens[before].as_str()));
                !NOT_A_REQUEST.contains(&w.as_str())
                    && !edge_intent::numbers::names_a_number(w)
                    && !edge_intent::normalize::follows_an_article(tokens, *i)
                    && !negated
            })
            .any(|(_, w)| {
                count(with, w) >= VALUE_WORD_MIN_SENTENCES
                    && share_with(w) > VALUE_WORD_MIN_RATIO * share_without(w)
            })
    }
}
