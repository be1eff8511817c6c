//! `[wake]`: how the daemon reaches a wake word service. It stays here: the only wake crate
//! is the worker's (`edge-wake`: TFLite loader, clap), which the daemon does not link; the
//! daemon's side of the protocol lives in the daemon.

use edge_core::SectionError;
use edge_core::section::check_uri;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[wake]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WakeSection {
    /// Listen for a wake word on the live source (`audio.source`); the command after it is
    /// heard as in continuous mode. Push-to-talk still starts a command at once.
    pub enabled: bool,
    /// A Wyoming wake server to use (`tcp://host:port` or `unix:///path`). Empty: spawn and
    /// supervise the `edge-wake` worker.
    pub uri: String,
    /// The worker binary; a bare name is looked up beside `edge-agentd`, then in PATH.
    pub worker: PathBuf,
    /// Directory of openWakeWord's TFLite models (`agent/models/provision.sh wake`).
    pub models: PathBuf,
    /// The TensorFlow Lite C runtime; empty: `<models>/<arch>/libtensorflowlite_c.so`.
    pub runtime: PathBuf,
    /// The wake phrase: a model name in `models` (okay_nabu, hey_jarvis, alexa,
    /// hey_mycroft, hey_rhasspy) or a path to a `.tflite` classifier.
    pub model: String,
    /// Unix socket between the daemon and its worker.
    pub socket: PathBuf,
    /// Probability (0 to 1) at which the phrase counts as said.
    pub threshold: f32,
    /// No second detection within this time.
    pub refractory_ms: u64,
    /// Time allowed for the worker to load its models.
    pub start_timeout_ms: u64,
    /// Said through `[tts]` (when a voice is configured) when the wake word is heard; empty:
    /// nothing.
    pub acknowledgement: String,
}

impl Default for WakeSection {
    fn default() -> Self {
        Self {
            enabled: false,
            uri: String::new(),
            worker: "edge-wake".into(),
            models: "/usr/share/edge-agent/models/wake".into(),
            runtime: PathBuf::new(),
            model: "okay_nabu".into(),
            socket: "/run/edge-agent/wake.sock".into(),
            threshold: 0.5,
            refractory_ms: 2_000,
            start_timeout_ms: 10_000,
            acknowledgement: String::new(),
        }
    }
}

impl WakeSection {
    /// Checks the values the schema cannot; keys are relative to `[wake]`. That it needs
    /// live audio spans sections: the composition checks it.
    pub fn validate(&self) -> Result<(), SectionError> {
        check_uri("uri", &self.uri)?;
        if !(self.threshold.is_finite() && (0.0..=1.0).contains(&self.threshold)) {
            return Err(SectionError::new(
                "threshold",
                format!("{} is outside 0 to 1", self.threshold),
            ));
        }
        if self.model.trim().is_empty() {
            return Err(SectionError::new(
                "model",
                "must name a wake phrase (okay_nabu, ...)",
            ));
        }
        Ok(())
    }
}
