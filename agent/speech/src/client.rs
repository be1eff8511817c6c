//! A Wyoming ASR client: `edge-asr` or any Wyoming speech-to-text server.

use edge_protocol::{AudioFormat, ClientError, Connection, Event, kind};
use std::time::Duration;

/// What the recogniser heard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    pub text: String,
    /// Decode time reported by `edge-asr` (absent from other servers).
    pub decode_ms: Option<f64>,
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
    /// `free` or `grammar`.
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
}

/// Which transcript the command was taken from.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub text: String,
    /// `free` or `grammar` (`free` also when the server sent no hypotheses).
    pub source: String,
}

/// Chooses between the free and the grammar-biased transcript: the free one unless it is
/// not a command (`is_command`) and the biased one is, and the model finds the biased one
/// at most `max_drop` nats less likely than the free one, over the whole transcript (so
/// speech that was really something else is not bent into a command).
pub fn choose(transcript: &Transcript, is_command: impl Fn(&str) -> bool, max_drop: f32) -> Chosen {
    let free = Chosen {
        text: transcript.text.clone(),
        source: "free".into(),
    };
    let (Some(first), Some(biased)) = (
        transcript.hypotheses.first(),
        transcript.hypotheses.iter().find(|h| h.source == "grammar"),
    ) else {
        return free;
    };
    if is_command(&first.text) || !is_command(&biased.text) {
        return free;
    }
    if first.logprob - biased.logprob <= max_drop {
        Chosen {
            text: biased.text.clone(),
            source: "grammar".into(),
        }
    } else {
        free
    }
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
        }
        if let Some(penalty) = hints.grammar_penalty {
            transcribe = transcribe.with("grammar_penalty", f64::from(penalty));
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
        let is_command = |t: &str| t.contains("fan");
        let chosen = choose(&transcript(-3.0, -5.0), is_command, 7.5);
        assert_eq!(chosen.source, "grammar");
        assert_eq!(chosen.text, "turn the fan to level 5");
        // The model found the biased words far less likely: the speech was something else.
        assert_eq!(
            choose(&transcript(-3.0, -12.0), is_command, 7.5).source,
            "free"
        );
        // A free transcript that is a command keeps its place.
        assert_eq!(
            choose(&transcript(-3.0, -3.0), |_| true, 7.5).source,
            "free"
        );
        // Neither is a command: the free one goes on to the other tiers.
        assert_eq!(
            choose(&transcript(-3.0, -3.0), |_| false, 7.5).source,
            "free"
        );
        // Another Wyoming server: no hypotheses, the text as it is.
        let plain = Transcript {
            text: "stop pump 3".into(),
            ..Transcript::default()
        };
        assert_eq!(choose(&plain, |_| false, 7.5).text, "stop pump 3");
    }
}
