//! The Wyoming ASR server: many connections, many requests per connection.

use crate::recognizer::{Recognizer, Transcription};
use edge_protocol::{AudioFormat, Event, ProtocolError, decode_mono, kind};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::Semaphore;

/// Shared by every connection: the model and the limit on concurrent decodes.
#[derive(Debug)]
pub struct AsrService {
    recognizer: Arc<Recognizer>,
    decode_slots: Arc<Semaphore>,
    version: &'static str,
}

/// Error codes sent in Wyoming `error` events, so a client can tell them apart.
pub mod error_code {
    pub const AUDIO_FORMAT: &str = "audio-format";
    pub const AUDIO_TOO_LONG: &str = "audio-too-long";
    pub const NO_AUDIO_START: &str = "no-audio-start";
    pub const PROTOCOL: &str = edge_protocol::PROTOCOL_ERROR;
    pub const DECODE: &str = "decode";
}

/// One utterance being received.
#[derive(Debug, Default)]
struct Utterance {
    prompt: Option<String>,
    format: Option<AudioFormat>,
    samples: Vec<f32>,
    /// Set after a format error: the rest of this utterance's audio is ignored.
    rejected: bool,
}

impl AsrService {
    pub fn new(recognizer: Recognizer, max_concurrent: usize) -> Self {
        Self {
            recognizer: Arc::new(recognizer),
            decode_slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The `info` answer to `describe`.
    pub fn info(&self) -> Event {
        let attribution =
            json!({"name": "edge-agent", "url": "https://example.invalid/edge-agent"});
        let model = json!({
            "name": self.recognizer.model_name(),
            "description": format!("Whisper {} (whisper.cpp {})", self.recognizer.model_name(), whisper_rs::WHISPER_CPP_VERSION),
            "attribution": {"name": "OpenAI Whisper", "url": "https://github.com/openai/whisper"},
            "installed": true,
            "version": whisper_rs::WHISPER_CPP_VERSION,
            "languages": ["en"],
        });
        Event::new(kind::INFO).with(
            "asr",
            json!([{
                "name": "edge-asr",
                "description": "edge-agent speech worker (whisper.cpp, tuned for short commands)",
                "attribution": attribution,
                "installed": true,
                "version": self.version,
                "models": [model],
                "supports_transcript_streaming": false,
            }]),
        )
    }

    /// Serves one connection until the peer closes it or sends a malformed frame.
    pub async fn serve_connection<S>(self: Arc<Self>, stream: S) -> Result<(), ProtocolError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (read, mut write) = tokio::io::split(stream);
        let mut reader = BufReader::new(read);
        let mut utterance = Utterance::default();
        while let Some(event) = edge_protocol::next_request(&mut reader, &mut write).await? {
            let replies = self.handle(event, &mut utterance).await;
            for reply in replies {
                edge_protocol::write_event(&mut write, &reply).await?;
            }
        }
        Ok(())
    }

    async fn handle(&self, event: Event, utterance: &mut Utterance) -> Vec<Event> {
        match event.kind.as_str() {
            kind::DESCRIBE => vec![self.info()],
            kind::PING => vec![Event::new(kind::PONG)],
            kind::TRANSCRIBE => {
                *utterance = Utterance {
                    prompt: event.str("prompt").map(str::to_owned),
                    ..Utterance::default()
                };
                vec![]
            }
            kind::AUDIO_START => {
                utterance.samples.clear();
                utterance.rejected = false;
                match audio_format(&event) {
                    Ok(format) => {
                        utterance.format = Some(format);
                        vec![]
                    }
                    Err(message) => {
                        utterance.rejected = true;
                        vec![Event::error(error_code::AUDIO_FORMAT, &message)]
                    }
                }
            }
            kind::AUDIO_CHUNK => self.append_chunk(&event, utterance),
            kind::AUDIO_STOP => {
                let done = std::mem::take(utterance);
                if done.rejected {
                    return vec![];
                }
                let Some(format) = done.format else {
                    return vec![Event::error(
                        error_code::NO_AUDIO_START,
                        "audio-stop without audio-start: send audio-start with rate, width and channels first",
                    )];
                };
                vec![self.finish(done.samples, format.rate, done.prompt).await]
            }
            other => {
                tracing::debug!(event = other, "ignoring event");
                vec![]
            }
        }
    }

    fn append_chunk(&self, event: &Event, utterance: &mut Utterance) -> Vec<Event> {
        if utterance.rejected {
            return vec![];
        }
        // A chunk carries its own format; a client may skip audio-start (older satellites).
        let format = match audio_format(event) {
            Ok(format) => format,
            Err(message) => {
                utterance.rejected = true;
                return vec![Event::error(error_code::AUDIO_FORMAT, &message)];
            }
        };
        if let Some(started) = utterance.format
            && started != format
        {
            utterance.rejected = true;
            return vec![Event::error(
                error_code::AUDIO_FORMAT,
                &format!(
                    "audio-chunk format {}/{}/{} differs from audio-start's {}/{}/{} (rate/width/channels)",
                    format.rate,
                    format.width,
                    format.channels,
                    started.rate,
                    started.width,
                    started.channels
                ),
            )];
        }
        utterance.format = Some(format);
        let payload = event.payload.as_deref().unwrap_or_default();
        match decode_mono(payload, format) {
            Ok(samples) => {
                let limit = self.recognizer.options().max_audio_s as usize * format.rate as usize;
                if utterance.samples.len() + samples.len() > limit {
                    utterance.rejected = true;
                    return vec![Event::error(
                        error_code::AUDIO_TOO_LONG,
                        &format!(
                            "audio exceeds the limit of {} s",
                            self.recognizer.options().max_audio_s
                        ),
                    )];
                }
                utterance.samples.extend(samples);
                vec![]
            }
            Err(e) => {
                utterance.rejected = true;
                vec![Event::error(error_code::AUDIO_FORMAT, &e.to_string())]
            }
        }
    }

    async fn finish(&self, samples: Vec<f32>, rate: u32, prompt: Option<String>) -> Event {
        let Ok(_slot) = self.decode_slots.clone().acquire_owned().await else {
            return Event::error(error_code::DECODE, "the worker is shutting down");
        };
        let recognizer = self.recognizer.clone();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let samples = edge_protocol::resample_to_speech_rate(samples, rate)
                .map_err(|e| (error_code::AUDIO_FORMAT, e.to_string()))?;
            recognizer
                .transcribe(&samples, prompt.as_deref())
                .map_err(|e| match e {
                    crate::recognizer::RecognizerError::TooLong { .. } => {
                        (error_code::AUDIO_TOO_LONG, e.to_string())
                    }
                    other => (error_code::DECODE, other.to_string()),
                })
        })
        .await;
        let decode_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(Ok(Transcription {
                text,
                audio_ms,
                audio_ctx,
                silent,
            })) => {
                tracing::info!(audio_ms, decode_ms, audio_ctx, silent, %text, "transcribed");
                Event::new(kind::TRANSCRIPT)
                    .with("text", text)
                    .with("language", "en")
                    .with("audio_ms", audio_ms)
                    .with("decode_ms", (decode_ms * 10.0).round() / 10.0)
            }
            Ok(Err((code, message))) => Event::error(code, &message),
            Err(e) => Event::error(error_code::DECODE, &format!("decoder task failed: {e}")),
        }
    }
}

fn audio_format(event: &Event) -> Result<AudioFormat, String> {
    let field = |name: &str| {
        event
            .u64(name)
            .ok_or_else(|| format!("{} is missing the integer field \"{name}\"", event.kind))
    };
    let narrow = |name: &str, v: u64| {
        u16::try_from(v).map_err(|_| format!("{}: \"{name}\" = {v} is out of range", event.kind))
    };
    let format = AudioFormat {
        rate: u32::try_from(field("rate")?)
            .map_err(|_| format!("{}: \"rate\" is out of range", event.kind))?,
        width: narrow("width", field("width")?)?,
        channels: narrow("channels", field("channels")?)?,
    };
    format
        .validate()
        .map_err(|e| format!("{}: {e}", event.kind))?;
    Ok(format)
}
