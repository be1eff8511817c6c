//! Spoken replies: every outcome's response goes to `edge-tts`, one at a time (a newer
//! reply cuts off the older one), off the pipeline's path (it only sees a broadcast).
//! Push-to-talk stops the reply at once (barge-in).

use crate::pipeline::{Outcome, Pipeline};
use edge_config::{AgentConfig, TtsBackend};
use edge_tts::{Backend, Speaker, TtsConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// The daemon's voice; without a TTS back end it only reports `"backend": "none"`.
#[derive(Debug)]
pub struct Voice {
    speaker: Option<Speaker>,
}

impl Voice {
    /// Subscribes to the pipeline's outcomes and speaks them, as configured.
    pub fn start(config: &AgentConfig, pipeline: &Pipeline) -> Self {
        let tts = &config.tts;
        let backend = match tts.backend {
            TtsBackend::None => return Self { speaker: None },
            TtsBackend::Command => Backend::Command {
                argv: tts.command.clone(),
            },
            TtsBackend::Wyoming => Backend::Wyoming {
                uri: tts.uri.clone(),
                voice: (!tts.voice.is_empty()).then(|| tts.voice.clone()),
            },
        };
        let speaker = Speaker::new(TtsConfig {
            backend,
            player: tts.player.clone(),
            timeout: Duration::from_millis(tts.timeout_ms),
            keep_last_wav: (!tts.keep_last_wav.as_os_str().is_empty())
                .then(|| tts.keep_last_wav.clone()),
        });
        tracing::info!(
            backend = speaker.status().backend,
            player = ?tts.player,
            "spoken replies on"
        );
        tokio::spawn(speak_outcomes(pipeline.subscribe(), speaker.clone()));
        Self {
            speaker: Some(speaker),
        }
    }

    /// Says `text` (the wake word's acknowledgement); nothing without a voice.
    pub fn say(&self, text: &str) {
        if let Some(speaker) = &self.speaker
            && !text.trim().is_empty()
        {
            drop(speaker.say(text));
        }
    }

    /// Barge-in: stops the reply being synthesised or played. Returns whether there was one.
    pub fn stop(&self) -> bool {
        let stopped = self.speaker.as_ref().is_some_and(Speaker::stop);
        if stopped {
            tracing::info!("spoken reply interrupted");
        }
        stopped
    }

    /// `{"backend", "state", "player_pid", "spoken", "interrupted", "replaced", "failed",
    /// "last_error"}` for the status report.
    pub fn status(&self) -> serde_json::Value {
        match &self.speaker {
            Some(speaker) => serde_json::to_value(speaker.status())
                .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
            None => serde_json::json!({ "backend": "none", "state": "idle" }),
        }
    }
}

async fn speak_outcomes(mut outcomes: broadcast::Receiver<Arc<Outcome>>, speaker: Speaker) {
    loop {
        match outcomes.recv().await {
            Ok(outcome) => {
                let text = outcome.response.trim();
                if !text.is_empty() {
                    // Failures are logged and counted by the speaker.
                    drop(speaker.say(text));
                }
            }
            // Replies that came faster than they could be taken would each have cut off
            // the one before: only the newest matters.
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "spoken replies skipped");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
