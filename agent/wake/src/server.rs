//! The Wyoming wake server: `detect` (optional: which phrases), then `audio-start`,
//! `audio-chunk`s and `audio-stop`; a `detection` is sent as soon as a phrase's probability
//! reaches the threshold, and `not-detected` at `audio-stop` when nothing was.
//!
//! Extension fields of `detect` (plain Wyoming clients send neither): `threshold` (0..1)
//! and `refractory_ms` (no second detection of a phrase within that time). Each `detection`
//! carries its `probability` besides Wyoming's `name` and `timestamp` (ms of audio).

use crate::detector::{Detector, STEP_SAMPLES, Score, WakeModels};
use edge_protocol::{AudioFormat, Event, ProtocolError, kind, to_mono_f32};
use serde_json::json;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};

/// Event types of the Wyoming wake conversation.
pub mod wake_kind {
    pub const DETECT: &str = "detect";
    pub const DETECTION: &str = "detection";
    pub const NOT_DETECTED: &str = "not-detected";
}

/// Error codes sent in `error` events.
pub mod error_code {
    pub const AUDIO_FORMAT: &str = "audio-format";
    pub const NO_AUDIO_START: &str = "no-audio-start";
    pub const UNKNOWN_PHRASE: &str = "unknown-phrase";
    pub const BAD_FIELD: &str = "bad-field";
    pub const INFERENCE: &str = "inference";
}

/// How detections are decided, per connection (the worker's flags, then `detect`'s fields).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub threshold: f32,
    pub refractory_ms: u64,
}

impl Default for Decision {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            refractory_ms: 2_000,
        }
    }
}

/// Applies a [`Decision`] to a stream of scores: a phrase is detected when its probability
/// reaches the threshold, then not again within the refractory time.
#[derive(Debug, Clone, Default)]
pub struct Trigger {
    /// Per phrase: the sample count before which it is not detected again.
    quiet_until: Vec<(String, u64)>,
}

impl Trigger {
    /// Whether `score`, at `at` samples into the stream, is a detection under `decision`.
    pub fn fires(&mut self, decision: &Decision, score: &Score, at: u64) -> bool {
        if score.probability < decision.threshold {
            return false;
        }
        let quiet = self
            .quiet_until
            .iter()
            .any(|(name, until)| *name == score.name && at < *until);
        if quiet {
            return false;
        }
        self.quiet_until.retain(|(name, _)| *name != score.name);
        self.quiet_until
            .push((score.name.clone(), at + decision.refractory_ms * 16));
        true
    }
}

/// Shared by every connection: the loaded models and the default decision.
#[derive(Debug)]
pub struct WakeService {
    models: WakeModels,
    decision: Decision,
}

/// One connection's stream.
#[derive(Debug, Default)]
struct Stream {
    detector: Option<Detector>,
    format: Option<AudioFormat>,
    /// Phrases this client listens for (`None`: all loaded).
    names: Option<Vec<String>>,
    decision: Option<Decision>,
    samples: u64,
    trigger: Trigger,
    detected: bool,
}

impl WakeService {
    pub fn new(models: WakeModels, decision: Decision) -> Self {
        Self { models, decision }
    }

    /// Wyoming `info`: one wake program with a model per phrase.
    pub fn info(&self) -> Event {
        let models: Vec<_> = self
            .models
            .names()
            .map(|name| {
                json!({
                    "name": name,
                    "description": name.replace('_', " "),
                    "phrase": name.replace('_', " "),
                    "attribution": {"name": "openWakeWord", "url": "https://github.com/dscripka/openWakeWord"},
                    "installed": true,
                    "version": null,
                    "languages": ["en"],
                })
            })
            .collect();
        Event::new(kind::INFO).with(
            "wake",
            json!([{
                "name": "edge-wake",
                "description": "edge-agent wake word worker (openWakeWord on TensorFlow Lite)",
                "attribution": {"name": "edge-agent", "url": "https://example.invalid/edge-agent"},
                "installed": true,
                "version": env!("CARGO_PKG_VERSION"),
                "models": models,
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
        let mut state = Stream::default();
        while let Some(event) = edge_protocol::next_request(&mut reader, &mut write).await? {
            for reply in self.handle(event, &mut state) {
                edge_protocol::write_event(&mut write, &reply).await?;
            }
        }
        Ok(())
    }

    fn handle(&self, event: Event, stream: &mut Stream) -> Vec<Event> {
        match event.kind.as_str() {
            kind::DESCRIBE => vec![self.info()],
            kind::PING => vec![Event::new(kind::PONG)],
            wake_kind::DETECT => match self.detect(&event) {
                Ok((names, decision)) => {
                    stream.names = names;
                    stream.decision = Some(decision);
                    vec![]
                }
                Err((code, text)) => vec![Event::error(code, &text)],
            },
            kind::AUDIO_START => {
                stream.detector = None;
                stream.samples = 0;
                stream.trigger = Trigger::default();
                stream.detected = false;
                let format = match event.audio_format() {
                    Ok(format) => format,
                    Err(e) => return vec![Event::error(error_code::AUDIO_FORMAT, &e)],
                };
                match Detector::new(&self.models) {
                    Ok(detector) => {
                        stream.format = Some(format);
                        stream.detector = Some(detector);
                        vec![]
                    }
                    Err(e) => vec![Event::error(error_code::INFERENCE, &e.to_string())],
                }
            }
            kind::AUDIO_CHUNK => self.chunk(&event, stream),
            kind::AUDIO_STOP => {
                let was_streaming = stream.detector.take().is_some();
                if was_streaming && !stream.detected {
                    vec![Event::new(wake_kind::NOT_DETECTED)]
                } else {
                    vec![]
                }
            }
            other => {
                tracing::debug!(event = other, "ignored");
                vec![]
            }
        }
    }

    /// `detect`'s phrases and decision, or the error to send.
    #[allow(clippy::type_complexity)]
    fn detect(
        &self,
        event: &Event,
    ) -> Result<(Option<Vec<String>>, Decision), (&'static str, String)> {
        let names = match event.data.get("names") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(items)) => {
                let mut names = Vec::new();
                for item in items {
                    let name = item.as_str().unwrap_or_default();
                    if !self.models.names().any(|n| n == name) {
                        return Err((
                            error_code::UNKNOWN_PHRASE,
                            format!(
                                "detect: no wake phrase {item} here (loaded: {})",
                                self.models.names().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                    names.push(name.to_owned());
                }
                Some(names)
            }
            Some(other) => {
                return Err((
                    error_code::BAD_FIELD,
                    format!("detect: \"names\" must be a list of phrase names, found {other}"),
                ));
            }
        };
        let mut decision = self.decision;
        if let Some(v) = event.data.get("threshold") {
            decision.threshold =
                v.as_f64()
                    .filter(|t| (0.0..=1.0).contains(t))
                    .ok_or_else(|| {
                        (
                            error_code::BAD_FIELD,
                            format!(
                                "detect: \"threshold\" must be a number from 0 to 1, found {v}"
                            ),
                        )
                    })? as f32;
        }
        if let Some(v) = event.data.get("refractory_ms") {
            decision.refractory_ms = v.as_u64().ok_or_else(|| {
                (
                    error_code::BAD_FIELD,
                    format!("detect: \"refractory_ms\" must be a whole number, found {v}"),
                )
            })?;
        }
        Ok((names, decision))
    }

    fn chunk(&self, event: &Event, stream: &mut Stream) -> Vec<Event> {
        let (Some(detector), Some(started)) = (stream.detector.as_mut(), stream.format) else {
            return vec![Event::error(
                error_code::NO_AUDIO_START,
                "audio-chunk before audio-start",
            )];
        };
        let format = event.audio_format().unwrap_or(started);
        let payload = event.payload.as_deref().unwrap_or_default();
        let samples: Vec<i16> = if format == AudioFormat::SPEECH {
            payload
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect()
        } else {
            match to_mono_f32(payload, format) {
                Ok(floats) => floats
                    .iter()
                    .map(|f| (f * 32_768.0).clamp(-32_768.0, 32_767.0) as i16)
                    .collect(),
                Err(e) => {
                    return vec![Event::error(
                        error_code::AUDIO_FORMAT,
                        &format!("audio-chunk: {e}"),
                    )];
                }
            }
        };
        let before = stream.samples;
        stream.samples += samples.len() as u64;
        let steps = match detector.push(&samples) {
            Ok(steps) => steps,
            Err(e) => return vec![Event::error(error_code::INFERENCE, &e.to_string())],
        };
        let decision = stream.decision.unwrap_or(self.decision);
        let mut replies = Vec::new();
        // The steps completed by this chunk end at its last whole step.
        let last_step_end = stream.samples - stream.samples % STEP_SAMPLES as u64;
        let first_step_end =
            last_step_end.saturating_sub((steps.len().saturating_sub(1) * STEP_SAMPLES) as u64);
        for (i, step) in steps.iter().enumerate() {
            let at = (first_step_end + (i * STEP_SAMPLES) as u64).max(before);
            for score in step {
                let listened = stream
                    .names
                    .as_ref()
                    .is_none_or(|names| names.contains(&score.name));
                if !listened || !stream.trigger.fires(&decision, score, at) {
                    continue;
                }
                stream.detected = true;
                tracing::info!(name = %score.name, probability = score.probability, at_ms = at / 16, "wake word detected");
                replies.push(
                    Event::new(wake_kind::DETECTION)
                        .with("name", score.name.clone())
                        .with("timestamp", at / 16)
                        .with("probability", f64::from(score.probability)),
                );
            }
        }
        replies
    }
}
