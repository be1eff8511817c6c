//! A Wyoming ASR client: `edge-asr` or any Wyoming speech-to-text server.

use edge_protocol::{AudioFormat, ClientError, Connection, Event, kind};
use std::time::Duration;

/// What the recogniser heard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    pub text: String,
    /// Decode time reported by `edge-asr` (absent from other servers).
    pub decode_ms: Option<f64>,
    /// CPU time `edge-asr` spent on the request (all its threads; absent from other
    /// servers): unlike wall time, it does not grow when other programs take the cores.
    pub cpu_ms: Option<f64>,
    /// `edge-asr`'s hypotheses: the free transcript first, then the one biased toward the
    /// request's grammar when the free one was not a sentence of it. Empty from other
    /// servers.
    pub hypotheses: Vec<Hypothesis>,
    /// Why the request's grammar was not used, when it could not be read.
    pub grammar_error: Option<String>,
}

/// One transcript of the audio, as `edge-asr` reports it.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
pub struct Hypothesis {
    pub text: String,
    /// `free`, `grammar`, `known` or `rival`.
    pub source: String,
    /// Sum of the tokens' log-probabilities under the unbiased model.
    pub logprob: f32,
    pub tokens: usize,
    pub in_grammar: Option<bool>,
    #[serde(default)]
    pub words: Vec<WordScore>,
}

impl Hypothesis {
    /// Mean log-probability per token.
    pub fn mean_logprob(&self) -> f32 {
        self.logprob / self.tokens.max(1) as f32
    }
}

/// A word and the probability of its least likely token.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
pub struct WordScore {
    pub word: String,
    pub p: f32,
}

/// What a request asks of the recogniser beyond the audio.
#[derive(Debug, Clone, Default)]
pub struct RecognitionHints {
    /// The vocabulary prompt (entity names); empty for none.
    pub prompt: String,
    /// GBNF of the installed skills' commands (an `edge-asr` extension; other servers
    /// ignore it).
    pub grammar: Option<std::sync::Arc<str>>,
    /// Penalty for leaving the grammar (the worker's default when absent).
    pub grammar_penalty: Option<f32>,
    /// The largest drop in log-probability the client accepts for a biased transcript
    /// ([`choose`]'s `max_drop`): the worker stops searching below it.
    pub grammar_max_drop: Option<f32>,
    /// GBNF of the commands whose free text is held to the values the skills know (an
    /// `edge-asr` extension): a command heard with other free text is searched again under
    /// it, for a reading to ask about.
    pub known_grammar: Option<std::sync::Arc<str>>,
    /// Rival readings at most this many nats behind are wanted ([`rival_readings`]'s
    /// `max_gap`; an `edge-asr` extension): the worker scores no others.
    pub rival_max_gap: Option<f32>,
    /// Encode Whisper's whole 30 s window rather than one fitted to the audio (an
    /// `edge-asr` extension; see [`RecognitionHints::second_listen`]).
    pub whole_window: bool,
}

impl RecognitionHints {
    /// The hints of a second listen to a command heard torn between readings that are
    /// different commands ("Start pump 2," with "Stop pump 2," close behind): the same
    /// audio in Whisper's whole window, which it was trained on, at about 7x the CPU of
    /// the fitted one. Only the free transcript and its rivals are wanted (no grammar
    /// pass): whether it settles the question is [`second_listen_settles`]'s to say.
    pub fn second_listen(&self) -> Self {
        Self {
            grammar_penalty: Some(0.0),
            whole_window: true,
            ..self.clone()
        }
    }
}

/// The two readings a command was heard torn between, for a second listen to settle: the
/// free transcript taken and the first of its rival readings (within `max_gap`) that
/// `other_command` finds to be another command (the template tier's judgement, as for
/// the question it would ask). None when there is no such rival.
pub fn torn_readings(
    transcript: &Transcript,
    chosen: &Chosen,
    max_gap: f32,
    other_command: impl FnOnce(&[String]) -> Option<String>,
) -> Option<[String; 2]> {
    let rivals = rival_readings(transcript, chosen, max_gap);
    if rivals.is_empty() {
        return None;
    }
    other_command(&rivals).map(|rival| [chosen.text.clone(), rival])
}

/// Whether a second listen (`again`, [`RecognitionHints::second_listen`]) settles a
/// command heard torn between `readings` (the command as first heard and its rival that
/// is another command): its free transcript is a sentence of the grammar and one of them,
/// word for word, and the other is not among its rivals within `max_gap` (torn again, the
/// first listen's question stands). Its other rivals are then doubted as any
/// transcript's are.
pub fn second_listen_settles(readings: &[String], again: &Transcript, max_gap: f32) -> bool {
    let Some(free) = again.hypotheses.first() else {
        return false;
    };
    let is_reading = |text: &str| {
        readings
            .iter()
            .any(|reading| plain_words(reading) == plain_words(text))
    };
    free.source == "free"
        && free.in_grammar == Some(true)
        && is_reading(&free.text)
        && !again.hypotheses.iter().any(|h| {
            h.source == "rival"
                && free.logprob - h.logprob <= max_gap
                && plain_words(&h.text) != plain_words(&free.text)
                && is_reading(&h.text)
        })
}

/// Which transcript the command was taken from.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub text: String,
    /// `free`, `grammar`, or `known` for the reading held to the skills' known free-text
    /// values (`free` also when the server sent no hypotheses).
    pub source: String,
    /// The grammar pass produced a command with free text (a destination, a media query):
    /// ask before acting, since the grammar may have bent the words around it.
    pub confirm: bool,
    /// The free transcript, understood on its own, named the same command ([`Chosen::corroborate`]).
    pub corroborated: bool,
}

impl Chosen {
    /// A second opinion on a grammar-made command with free text: when the free transcript,
    /// understood on its own by another tier (`free_intent`), names the same intent as the
    /// chosen one (`intent`), two readings of the audio agree, and the grammar mended only
    /// the carrier phrase ("Take meets on the airport." and "Take me to the airport." are
    /// both a route). Its free text is then doubted word by word, like a free transcript's,
    /// instead of asked about whole. Speech that was something else has no such second
    /// reading ("Good afternoon to you." is no route, however the grammar bends it).
    /// Returns whether the doubt was lifted.
    pub fn corroborate(&mut self, intent: &str, free_intent: Option<&str>) -> bool {
        if self.confirm
            && self.source == "grammar"
            && intent != "none"
            && free_intent == Some(intent)
        {
            self.confirm = false;
            self.corroborated = true;
        }
        self.corroborated
    }

    /// The reading to give an open question (a confirmation, "Did you say ...?"): a yes
    /// (`is_yes`) is taken only as heard freely. One the grammar pass made from audio that
    /// was none ("of course" from "post plea back") would confirm a write; the free
    /// transcript (`free`) goes to the dialogue instead (a confirmation is asked again, a
    /// "Did you say ...?" gets no yes).
    pub fn as_answer(self, free: &str, is_yes: impl Fn(&str) -> bool) -> Chosen {
        if self.source == "free" || !is_yes(&self.text) {
            return self;
        }
        Chosen {
            text: free.to_owned(),
            source: "free".to_owned(),
            confirm: false,
            corroborated: false,
        }
    }
}

/// Chooses between the free and the grammar-biased transcript. `command_free_text` says
/// whether a text is a command, and with which free-text words (`None`: no command);
/// `names_the_machines_heard(free, biased)` whether a biased reading that is little more
/// than a machine's name has that name in the free transcript too (the decoder writes the
/// vocabulary prompt's names readily: "Pump 2, on" for "Pots a trend for me").
///
/// A reading held to the skills' known free-text values (source `known`, searched when the
/// free transcript is a command with other free text) is taken, to be asked about, when it
/// is nearly as likely ([`known_reading`]).
///
/// The biased transcript is taken only when the free one is no command, the biased one is,
/// the model finds it at most `max_drop` nats less likely over the whole transcript (so
/// speech that was really something else is not bent into a command), and its free-text
/// words were all heard in the free transcript too: the grammar fixes the carrier phrase,
/// never the free text ("navigate to the office" heard "and navigate the target office"
/// must not become a route to "turn it off"), it drops at most one word the free pass
/// heard surely and only a small one (`SMALL_WORDS`: "for" in "is pumped for running";
/// "trunk" in "Pops the trunk for me." was said, however near "Pause the track for me."
/// comes), and it keeps at least half as many words as the free transcript (the
/// grammar corrects words, it does not explain speech away: "Lord have to whom to you" is
/// not "do not").
pub fn choose(
    transcript: &Transcript,
    command_free_text: impl Fn(&str) -> Option<Vec<String>>,
    names_the_machines_heard: impl Fn(&str, &str) -> bool,
    max_drop: f32,
) -> Chosen {
    let free = Chosen {
        text: transcript.text.clone(),
        source: "free".into(),
        confirm: false,
        corroborated: false,
    };
    if let (Some(first), Some(known)) = (
        transcript.hypotheses.first(),
        transcript.hypotheses.iter().find(|h| h.source == "known"),
    ) {
        return known_reading(first, known, &command_free_text, max_drop).unwrap_or(free);
    }
    let (Some(first), Some(biased)) = (
        transcript.hypotheses.first(),
        transcript.hypotheses.iter().find(|h| h.source == "grammar"),
    ) else {
        return free;
    };
    if command_free_text(&first.text).is_some() {
        return free;
    }
    let Some(free_text) = command_free_text(&biased.text) else {
        return free;
    };
    let heard = plain_words(&first.text);
    let said = plain_words(&biased.text);
    if first.logprob - biased.logprob > max_drop
        || !free_text
            .iter()
            .flat_map(|w| plain_words(w))
            .all(|w| heard.contains(&w))
        || sure_words_lost(first, &said)
            .iter()
            .enumerate()
            .any(|(i, w)| i >= MAX_SURE_WORDS_LOST || !SMALL_WORDS.contains(&w.as_str()))
        || said.len() * 2 < heard.len()
        || !names_the_machines_heard(&first.text, &biased.text)
    {
        return free;
    }
    Chosen {
        text: biased.text.clone(),
        source: "grammar".into(),
        confirm: !free_text.is_empty(),
        corroborated: false,
    }
}

/// A command heard with free text that none of the skills' known values is (`free`), and
/// its reading held to them (`known`): when the model finds that reading at most `max_drop`
/// nats less likely and its free text differs, the audio may well have said it ("play some
/// chairs" heard surely, "play some jazz" 4.7 nats behind): ask about it rather than act on
/// either. A known value far less likely leaves the free transcript as it was ("play some
/// Taylor Swift" has no genre near it).
fn known_reading(
    free: &Hypothesis,
    known: &Hypothesis,
    command_free_text: impl Fn(&str) -> Option<Vec<String>>,
    max_drop: f32,
) -> Option<Chosen> {
    let words =
        |text: Vec<String>| -> Vec<String> { text.iter().flat_map(|t| plain_words(t)).collect() };
    let heard = words(command_free_text(&free.text)?);
    let reading = words(command_free_text(&known.text)?);
    (!heard.is_empty() && heard != reading && free.logprob - known.logprob <= max_drop).then(|| {
        Chosen {
            text: known.text.clone(),
            source: "known".into(),
            confirm: true,
            corroborated: false,
        }
    })
}

/// A word the free pass heard at least this surely was really said.
const SURE_WORD_P: f32 = 0.9;
/// The grammar may replace at most this many surely heard words: more, and the speech was
/// something else ("we'll come into the slot for next week" is not "we'll continue").
const MAX_SURE_WORDS_LOST: usize = 1;
/// The only words heard surely that the grammar may replace: function words, which a
/// recogniser writes for a sound it half heard ("Turn with all you down" for "turn the
/// volume down"). A surely heard content word was said. (Not edge-intent's `WEAK_WORDS`:
/// those are the words never matched by sound, and "all" anchors "all seats" there.)
const SMALL_WORDS: &[&str] = &[
    "a", "all", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "he", "her", "his", "i", "if", "in", "into", "is",
    "it", "its", "me", "my", "no", "not", "of", "off", "on", "or", "our", "out", "she", "so",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "to", "too", "up", "us", "was", "we", "were", "what", "when", "which", "who", "will", "with",
    "would", "you", "your",
];

/// The plain words the free pass heard surely that the biased transcript (`kept`, its plain
/// words) does not have, in the order heard.
fn sure_words_lost(free: &Hypothesis, kept: &[String]) -> Vec<String> {
    free.words
        .iter()
        .filter(|w| w.p >= SURE_WORD_P)
        .flat_map(|w| plain_words(&w.word))
        .filter(|p| !kept.contains(p))
        .collect()
}

/// The rival readings of a command taken as the recogniser heard it: sentences of the
/// grammar that differ from it by one word the recogniser nearly chose instead, at most
/// `max_gap` nats less likely ("Stop pump 2," 1.7 nats behind "Start pump 2,"). Whether one
/// is another command is for the template tier to say. None for a reading the client chose
/// from another pass (that one is asked about or corroborated already), or `max_gap` 0.
pub fn rival_readings(transcript: &Transcript, chosen: &Chosen, max_gap: f32) -> Vec<String> {
    let Some(free) = transcript.hypotheses.first() else {
        return Vec::new();
    };
    if chosen.source != "free" || max_gap <= 0.0 {
        return Vec::new();
    }
    transcript
        .hypotheses
        .iter()
        .filter(|h| h.source == "rival" && free.logprob - h.logprob <= max_gap)
        .map(|h| h.text.clone())
        .collect()
}

/// The words of the chosen transcript to doubt: all of them when the grammar pass made a
/// command with free text (that free text is asked about), else those the recogniser gave a
/// probability below `min_p`.
pub fn doubted_words(transcript: &Transcript, chosen: &Chosen, min_p: f32) -> Vec<String> {
    if chosen.confirm {
        return chosen.text.split_whitespace().map(str::to_owned).collect();
    }
    words_below(transcript, chosen, min_p)
}

/// The words of the chosen transcript the recogniser gave a probability below `min_p`
/// (none from a server that sent no word probabilities).
pub fn words_below(transcript: &Transcript, chosen: &Chosen, min_p: f32) -> Vec<String> {
    transcript
        .hypotheses
        .iter()
        .find(|h| h.source == chosen.source)
        .map(|h| {
            h.words
                .iter()
                .filter(|w| w.p < min_p)
                .map(|w| w.word.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Lowercase words without punctuation or apostrophes.
fn plain_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['\'', '\u{2019}'], "")
        .split(|c: char| !c.is_alphanumeric() && c != '.')
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A request to the speech server that failed, saying where.
pub type AsrError = ClientError;

/// One connection to a Wyoming ASR server; requests on it run one after the other.
#[derive(Debug)]
pub struct AsrClient {
    connection: Connection,
}

impl AsrClient {
    /// Connects to `unix:///path` or `tcp://host:port`; `timeout` bounds every answer.
    pub async fn connect(uri: &str, timeout: Duration) -> Result<Self, AsrError> {
        Ok(Self {
            connection: Connection::connect("speech server", uri, timeout).await?,
        })
    }

    pub fn uri(&self) -> &str {
        self.connection.uri()
    }

    /// Asks the server what it is (`describe` → `info`).
    pub async fn describe(&mut self) -> Result<Event, AsrError> {
        self.send(&Event::new(kind::DESCRIBE)).await?;
        self.expect(kind::INFO).await
    }

    /// Starts an utterance: `transcribe` (with the vocabulary prompt and the grammar) and
    /// `audio-start`.
    pub async fn start(
        &mut self,
        hints: &RecognitionHints,
        format: AudioFormat,
    ) -> Result<(), AsrError> {
        let mut transcribe = Event::new(kind::TRANSCRIBE).with("language", "en");
        if !hints.prompt.is_empty() {
            transcribe = transcribe.with("prompt", hints.prompt.as_str());
        }
        if let Some(grammar) = &hints.grammar {
            transcribe = transcribe.with("grammar", grammar.as_ref());
            if let Some(known) = &hints.known_grammar {
                transcribe = transcribe.with("grammar_known", known.as_ref());
            }
        }
        if let Some(gap) = hints.rival_max_gap.filter(|g| *g > 0.0) {
            transcribe = transcribe.with("grammar_rival_gap", f64::from(gap));
        }
        if let Some(drop) = hints.grammar_max_drop {
            transcribe = transcribe.with("grammar_max_drop", f64::from(drop));
        }
        if let Some(penalty) = hints.grammar_penalty {
            transcribe = transcribe.with("grammar_penalty", f64::from(penalty));
        }
        if hints.whole_window {
            transcribe = transcribe.with("whole_window", true);
        }
        self.send(&transcribe).await?;
        self.send(&format_event(kind::AUDIO_START, format)).await
    }

    /// Streams one chunk of audio while the person is still speaking.
    pub async fn chunk(&mut self, pcm: &[u8], format: AudioFormat) -> Result<(), AsrError> {
        self.send(&format_event(kind::AUDIO_CHUNK, format).with_payload(pcm.to_vec()))
            .await
    }

    /// Ends the utterance and waits for its transcript.
    pub async fn finish(&mut self) -> Result<Transcript, AsrError> {
        self.send(&Event::new(kind::AUDIO_STOP)).await?;
        let event = self.expect(kind::TRANSCRIPT).await?;
        let hypotheses = event
            .data
            .get("hypotheses")
            .cloned()
            .and_then(|v| serde_json::from_value::<Vec<Hypothesis>>(v).ok())
            .unwrap_or_default();
        Ok(Transcript {
            text: event.str("text").unwrap_or_default().trim().to_owned(),
            decode_ms: event.data.get("decode_ms").and_then(|v| v.as_f64()),
            cpu_ms: event.data.get("cpu_ms").and_then(|v| v.as_f64()),
            hypotheses,
            grammar_error: event.str("grammar_error").map(str::to_owned),
        })
    }

    /// Transcribes a whole recording, sent in 100 ms chunks as a live stream would be.
    /// Returns the transcript and when the last chunk was sent (the end of the audio, from
    /// which the recogniser's latency counts).
    pub async fn transcribe(
        &mut self,
        pcm: &[u8],
        format: AudioFormat,
        hints: &RecognitionHints,
    ) -> Result<(Transcript, std::time::Instant), AsrError> {
        self.start(hints, format).await?;
        let chunk = (format.rate as usize / 10 * format.frame_bytes()).max(format.frame_bytes());
        for piece in pcm.chunks(chunk) {
            self.chunk(piece, format).await?;
        }
        let end_of_audio = std::time::Instant::now();
        Ok((self.finish().await?, end_of_audio))
    }

    async fn send(&mut self, event: &Event) -> Result<(), AsrError> {
        self.connection.send(event).await
    }

    async fn expect(&mut self, wanted: &str) -> Result<Event, AsrError> {
        self.connection.expect(wanted).await
    }
}

fn format_event(kind: &str, format: AudioFormat) -> Event {
    Event::new(kind)
        .with("rate", format.rate)
        .with("width", format.width)
        .with("channels", format.channels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_a_yes_only_as_heard_freely() {
        let is_yes = |t: &str| ["of course", "yes", "Yes,"].contains(&t);
        let made = |text: &str, source: &str| Chosen {
            text: text.into(),
            source: source.into(),
            confirm: false,
            corroborated: false,
        };
        // The grammar's yes from audio heard as no yes: the free transcript answers.
        let answer = made("of course", "grammar").as_answer("post plea back,", is_yes);
        assert_eq!(answer, made("post plea back,", "free"));
        // A yes heard freely, and any reading that is no yes, stand.
        assert_eq!(
            made("Yes,", "free").as_answer("Yes,", is_yes),
            made("Yes,", "free")
        );
        let no = made("No", "grammar").as_answer("enough,", is_yes);
        assert_eq!(no, made("No", "grammar"));
        let known = made("play some jazz", "known").as_answer("play some chairs", is_yes);
        assert_eq!(known.text, "play some jazz");
    }

    fn hypothesis(text: &str, source: &str, logprob: f32) -> Hypothesis {
        Hypothesis {
            text: text.into(),
            source: source.into(),
            logprob,
            tokens: 10,
            ..Hypothesis::default()
        }
    }

    fn transcript(free: f32, biased: f32) -> Transcript {
        Transcript {
            text: "turn the phantom level 5".into(),
            hypotheses: vec![
                hypothesis("turn the phantom level 5", "free", free),
                hypothesis("turn the fan to level 5", "grammar", biased),
            ],
            ..Transcript::default()
        }
    }

    #[test]
    fn the_biased_transcript_wins_only_as_a_command_the_model_nearly_believes() {
        let command = |t: &str| t.contains("fan").then(Vec::new);
        let chosen = choose(&transcript(-3.0, -5.0), command, |_, _| true, 7.5);
        assert_eq!(chosen.source, "grammar");
        assert_eq!(chosen.text, "turn the fan to level 5");
        assert!(!chosen.confirm);
        // The model found the biased words far less likely: the speech was something else.
        assert_eq!(
            choose(&transcript(-3.0, -12.0), command, |_, _| true, 7.5).source,
            "free"
        );
        // A free transcript that is a command keeps its place.
        assert_eq!(
            choose(&transcript(-3.0, -3.0), |_| Some(vec![]), |_, _| true, 7.5).source,
            "free"
        );
        // Neither is a command: the free one goes on to the other tiers.
        assert_eq!(
            choose(&transcript(-3.0, -3.0), |_| None, |_, _| true, 7.5).source,
            "free"
        );
        // Another Wyoming server: no hypotheses, the text as it is.
        let plain = Transcript {
            text: "stop pump 3".into(),
            ..Transcript::default()
        };
        assert_eq!(
            choose(&plain, |_| None, |_, _| true, 7.5).text,
            "stop pump 3"
        );
        // A reading of little more than a machine the free transcript never named.
        assert_eq!(
            choose(&transcript(-3.0, -5.0), command, |_, _| false, 7.5).source,
            "free"
        );
    }

    #[test]
    fn the_grammar_fixes_the_carrier_phrase_never_the_free_text() {
        let heard = |free: &str, biased: &str| Transcript {
            text: free.into(),
            hypotheses: vec![
                hypothesis(free, "free", -3.0),
                hypothesis(biased, "grammar", -4.0),
            ],
            ..Transcript::default()
        };
        let destination = |t: &str| {
            let t = t.to_lowercase();
            t.split_once(" to ")
                .filter(|_| t.starts_with("take me") || t.starts_with("navigate"))
                .map(|(_, d)| vec![d.trim_end_matches('.').replace("the ", "")])
        };
        let fixed = choose(
            &heard("Take meets on the airport.", "Take me to the airport."),
            destination,
            |_, _| true,
            7.5,
        );
        assert_eq!(fixed.source, "grammar");
        assert!(
            fixed.confirm,
            "free text from the grammar pass is asked about"
        );
        // ... unless the free transcript, understood on its own, is the same command; then
        // only words the recogniser doubted are asked about.
        let route = |free_intent: Option<&str>| {
            let mut chosen = fixed.clone();
            chosen.corroborate("nav.navigate_to", free_intent);
            chosen
        };
        assert!(route(None).confirm);
        assert!(route(Some("media.play")).confirm);
        let agreed = route(Some("nav.navigate_to"));
        assert!(!agreed.confirm && agreed.corroborated);
        let scored = Transcript {
            hypotheses: vec![
                hypothesis("Take meets on the airport.", "free", -3.0),
                Hypothesis {
                    words: vec![
                        WordScore {
                            word: "take".into(),
                            p: 0.67,
                        },
                        WordScore {
                            word: "me".into(),
                            p: 0.1,
                        },
                        WordScore {
                            word: "airport".into(),
                            p: 0.79,
                        },
                    ],
                    ..hypothesis("Take me to the airport.", "grammar", -5.3)
                },
            ],
            ..Transcript::default()
        };
        assert_eq!(doubted_words(&scored, &agreed, 0.5), vec!["me".to_owned()]);
        assert_eq!(doubted_words(&scored, &fixed, 0.5).len(), 5);
        // The words barely heard, whatever the reading: only below the given probability.
        assert_eq!(words_below(&scored, &agreed, 0.2), vec!["me".to_owned()]);
        assert!(words_below(&scored, &agreed, 0.05).is_empty());
        // A command both readings call "none" is nothing to corroborate.
        let mut nothing = fixed.clone();
        assert!(!nothing.corroborate("none", Some("none")));
        let invented = choose(
            &heard(
                "and navigate the target office.",
                "We'll navigate to turn it off",
            ),
            destination,
            |_, _| true,
            7.5,
        );
        assert_eq!(invented.source, "free");
    }

    #[test]
    fn a_known_value_nearly_as_likely_as_the_heard_free_text_is_asked_about() {
        let heard = |known: f32| Transcript {
            text: "play some chairs,".into(),
            hypotheses: vec![
                hypothesis("play some chairs,", "free", -2.5),
                hypothesis("play some jazz", "known", known),
            ],
            ..Transcript::default()
        };
        let query = |t: &str| {
            t.strip_prefix("play some ")
                .map(|q| vec![q.trim_end_matches(',').to_owned()])
        };
        let asked = choose(&heard(-7.1), query, |_, _| true, 7.5);
        assert_eq!(asked.source, "known");
        assert_eq!(asked.text, "play some jazz");
        assert!(
            asked.confirm,
            "a known reading is asked about, never acted on"
        );
        let mut again = asked.clone();
        assert!(!again.corroborate("media.play", Some("media.play")));
        assert!(again.confirm);
        // Far less likely: the free text stands ("play some Taylor Swift").
        assert_eq!(
            choose(&heard(-12.0), query, |_, _| true, 7.5).source,
            "free"
        );
        // The same free text either way: nothing to ask.
        let same = Transcript {
            text: "play some jazz,".into(),
            hypotheses: vec![
                hypothesis("play some jazz,", "free", -2.5),
                hypothesis("play some jazz", "known", -3.0),
            ],
            ..Transcript::default()
        };
        assert_eq!(choose(&same, query, |_, _| true, 7.5).source, "free");
    }

    #[test]
    fn the_grammar_may_not_drop_words_that_were_heard_surely() {
        let word = |word: &str, p: f32| WordScore {
            word: word.into(),
            p,
        };
        let heard = |words: Vec<WordScore>, biased: &str| Transcript {
            text: "We'll come into the slot for next week.".into(),
            hypotheses: vec![
                Hypothesis {
                    words,
                    ..hypothesis("We'll come into the slot for next week.", "free", -4.5)
                },
                hypothesis(biased, "grammar", -8.0),
            ],
            ..Transcript::default()
        };
        let command = |t: &str| t.contains("continue").then(Vec::new);
        let long = "We'll continue the song for you";
        let sure = vec![word("we'll", 0.7), word("next", 0.98), word("week", 0.99)];
        assert_eq!(
            choose(&heard(sure, long), command, |_, _| true, 7.5).source,
            "free"
        );
        // One surely heard small word may be replaced ("pass in your side" -> "passenger side").
        let one = || vec![word("we'll", 0.7), word("into", 0.97), word("week", 0.6)];
        assert_eq!(
            choose(&heard(one(), long), command, |_, _| true, 7.5).source,
            "grammar"
        );
        // Never a surely heard content word ("Pops the trunk for me." is no "Pause the track").
        let content = vec![word("we'll", 0.7), word("next", 0.6), word("week", 0.99)];
        assert_eq!(
            choose(&heard(content, long), command, |_, _| true, 7.5).source,
            "free"
        );
        // Two words for eight: speech explained away, not corrected.
        let short = choose(&heard(one(), "We'll continue"), command, |_, _| true, 7.5);
        assert_eq!(short.source, "free");
        let half = Transcript {
            text: "We'll come into the slot.".into(),
            hypotheses: vec![
                hypothesis("We'll come into the slot.", "free", -4.5),
                hypothesis("We'll continue the song", "grammar", -6.0),
            ],
            ..Transcript::default()
        };
        assert_eq!(choose(&half, command, |_, _| true, 7.5).source, "grammar");
    }

    fn torn(free: &str, rival: &str, behind: f32) -> Transcript {
        let mut first = hypothesis(free, "free", -6.0);
        first.in_grammar = Some(true);
        Transcript {
            text: free.into(),
            hypotheses: vec![first, hypothesis(rival, "rival", -6.0 - behind)],
            ..Transcript::default()
        }
    }

    #[test]
    fn only_a_rival_that_is_another_command_makes_the_readings_torn() {
        let heard = torn("Start pump 2,", "Stop pump 2,", 1.7);
        let chosen = choose(&heard, |_| None, |_, _| true, 7.5);
        let other = |rivals: &[String]| rivals.first().cloned();
        assert_eq!(
            torn_readings(&heard, &chosen, 2.0, other),
            Some(["Start pump 2,".to_owned(), "Stop pump 2,".to_owned()])
        );
        // The same command (a rival in free text, a function word): nothing to settle.
        assert_eq!(torn_readings(&heard, &chosen, 2.0, |_| None), None);
        // A rival further behind than the client asks about is no doubt at all.
        assert_eq!(torn_readings(&heard, &chosen, 1.5, other), None);
    }

    #[test]
    fn a_second_listen_settles_only_on_one_of_the_two_readings_heard_as_a_command() {
        let readings = ["Start pump 2,".to_owned(), "Stop pump 2,".to_owned()];
        // Case and punctuation aside, the second listen heard one of the two.
        let settles = |again: &Transcript| second_listen_settles(&readings, again, 2.0);
        assert!(settles(&torn("stop pump 2.", "start pump 2.", 3.0)));
        assert!(settles(&torn("START pump 2", "Stop pump 3", 0.5)));
        // Torn between the same two again: the first listen's question stands.
        assert!(!settles(&torn("stop pump 2,", "start pump 2,", 0.3)));
        // A third reading settles nothing either.
        assert!(!settles(&torn("Stop pump 3.", "Stop pump 2.", 2.5)));
        // Nor does a transcript that is no sentence of the grammar, or none at all.
        let mut outside = torn("stop pump 2", "start pump 2", 3.0);
        outside.hypotheses[0].in_grammar = Some(false);
        assert!(!settles(&outside));
        assert!(!settles(&Transcript::default()));
    }

    #[test]
    fn a_second_listen_asks_for_the_whole_window_and_no_grammar_pass() {
        let hints = RecognitionHints {
            prompt: "pump 2".into(),
            grammar_penalty: Some(10.0),
            rival_max_gap: Some(2.0),
            ..RecognitionHints::default()
        };
        let again = hints.second_listen();
        assert!(again.whole_window && !hints.whole_window);
        assert_eq!(again.grammar_penalty, Some(0.0));
        assert_eq!(
            (again.prompt.as_str(), again.rival_max_gap),
            ("pump 2", Some(2.0))
        );
    }
}
