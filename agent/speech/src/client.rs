//! A Wyoming ASR client: `edge-asr` or any Wyoming speech-to-text server.

use edge_protocol::{AudioFormat, ClientError, Connection, Event, kind};
use std::time::Duration;

/// What the recogniser heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// Decode time reported by `edge-asr` (absent from other servers).
    pub decode_ms: Option<f64>,
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

    /// Starts an utterance: `transcribe` (with the vocabulary prompt) and `audio-start`.
    pub async fn start(
        &mut self,
        prompt: Option<&str>,
        format: AudioFormat,
    ) -> Result<(), AsrError> {
        let mut transcribe = Event::new(kind::TRANSCRIBE).with("language", "en");
        if let Some(prompt) = prompt {
            transcribe = transcribe.with("prompt", prompt);
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
        Ok(Transcript {
            text: event.str("text").unwrap_or_default().trim().to_owned(),
            decode_ms: event.data.get("decode_ms").and_then(|v| v.as_f64()),
        })
    }

    /// Transcribes a whole recording, sent in 100 ms chunks as a live stream would be.
    /// Returns the transcript and when the last chunk was sent (the end of the audio, from
    /// which the recogniser's latency counts).
    pub async fn transcribe(
        &mut self,
        pcm: &[u8],
        format: AudioFormat,
        prompt: Option<&str>,
    ) -> Result<(Transcript, std::time::Instant), AsrError> {
        self.start(prompt, format).await?;
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
