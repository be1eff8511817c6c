//! What `Status()` reports: identity, skills, connection state, counters.

use crate::pipeline::Pipeline;
use edge_config::AgentConfig;
use serde::Serialize;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

/// State of the MQTT connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MqttState {
    /// Not configured.
    Disabled,
    /// Trying to reach the broker.
    Connecting,
    /// Connected.
    Connected,
}

/// Shared, live status of the daemon.
#[derive(Debug)]
pub struct Status {
    device_id: String,
    started: Instant,
    mqtt: AtomicU8,
    speech: std::sync::OnceLock<std::sync::Arc<crate::speech::Speech>>,
    language: std::sync::OnceLock<std::sync::Arc<crate::language::Language>>,
    voice: std::sync::OnceLock<std::sync::Arc<crate::voice::Voice>>,
    wake: std::sync::OnceLock<std::sync::Arc<crate::wake::Wake>>,
    listening: std::sync::OnceLock<crate::listening::Listening>,
}

#[derive(Debug, Serialize)]
struct StatusReport<'a> {
    version: &'a str,
    device_id: &'a str,
    uptime_s: u64,
    mqtt: MqttState,
    skills: Vec<SkillReport<'a>>,
    skipped_skills: &'a [String],
    intents: usize,
    templates: usize,
    /// The skills catalog's generation: one more on every reload.
    catalog: u64,
    utterances: u64,
    /// The recogniser: state, URI, worker pid and restarts, or why it is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    asr: Option<serde_json::Value>,
    /// The SLM worker (state, cached prompts) and escalation (enabled, privacy mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<serde_json::Value>,
    /// Spoken replies: back end, state, counters (spoken, interrupted, replaced, failed),
    /// the last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    tts: Option<serde_json::Value>,
    /// The wake word: worker state, phrase, threshold, detections (absent when off).
    #[serde(skip_serializing_if = "Option::is_none")]
    wake: Option<serde_json::Value>,
    /// Live audio: listening or not, the source, audio taken from it (`heard_ms`), an open
    /// wake word stream (absent without a source).
    #[serde(skip_serializing_if = "Option::is_none")]
    listening: Option<serde_json::Value>,
    /// Open conversations (stations with a question waiting).
    sessions: Vec<edge_dialogue::SessionView>,
    /// The async runtime: tasks alive (a leak shows as growth under steady traffic).
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime: Option<RuntimeReport>,
}

#[derive(Debug, Serialize)]
struct RuntimeReport {
    workers: usize,
    tasks: usize,
}

impl RuntimeReport {
    /// The current tokio runtime's figures; `None` outside one.
    fn current() -> Option<Self> {
        let metrics = tokio::runtime::Handle::try_current().ok()?.metrics();
        Some(Self {
            workers: metrics.num_workers(),
            tasks: metrics.num_alive_tasks(),
        })
    }
}

#[derive(Debug, Serialize)]
struct SkillReport<'a> {
    name: &'a str,
    version: &'a str,
    /// Whether the skill's WASM component is loaded (false: manifest only).
    code: bool,
    intents: Vec<&'a str>,
}

impl Status {
    /// Initial status.
    pub fn new(config: &AgentConfig, _pipeline: &Pipeline) -> Self {
        let mqtt = if config.mqtt.enabled {
            MqttState::Connecting
        } else {
            MqttState::Disabled
        };
        Self {
            device_id: config.agent.device_id.clone(),
            started: Instant::now(),
            mqtt: AtomicU8::new(mqtt as u8),
            speech: std::sync::OnceLock::new(),
            language: std::sync::OnceLock::new(),
            voice: std::sync::OnceLock::new(),
            wake: std::sync::OnceLock::new(),
            listening: std::sync::OnceLock::new(),
        }
    }

    /// Adds the recogniser's state to the status.
    pub fn set_speech(&self, speech: std::sync::Arc<crate::speech::Speech>) {
        let _ = self.speech.set(speech);
    }

    /// Adds the language tiers' state to the status.
    pub fn set_language(&self, language: std::sync::Arc<crate::language::Language>) {
        let _ = self.language.set(language);
    }

    /// Adds the spoken replies' state to the status.
    pub fn set_voice(&self, voice: std::sync::Arc<crate::voice::Voice>) {
        let _ = self.voice.set(voice);
    }

    /// Adds the wake word's state to the status.
    pub fn set_wake(&self, wake: std::sync::Arc<crate::wake::Wake>) {
        let _ = self.wake.set(wake);
    }

    /// The live audio task, once started.
    pub fn set_listening(&self, listening: crate::listening::Listening) {
        let _ = self.listening.set(listening);
    }

    /// Barge-in from an API: stops the spoken reply; returns the `tts` status as JSON.
    pub fn stop_speaking(&self) -> String {
        match self.voice.get() {
            Some(voice) => {
                voice.stop();
                voice.status().to_string()
            }
            None => serde_json::json!({ "backend": "none", "state": "idle" }).to_string(),
        }
    }

    /// Records the MQTT connection state.
    pub fn set_mqtt(&self, state: MqttState) {
        self.mqtt.store(state as u8, Ordering::Relaxed);
    }

    /// Whether MQTT is connected now.
    pub fn mqtt_connected(&self) -> bool {
        self.mqtt() == MqttState::Connected
    }

    /// The supervised workers: name, ready now, times stopped. An external server or a
    /// worker that is off is not listed.
    pub fn workers(&self) -> Vec<(&'static str, bool, u64)> {
        let speech = self.speech.get().map(|s| s.status());
        let language = self.language.get().map(|l| l.status()["slm"].clone());
        let wake = self.wake.get().map(|w| w.status());
        [("asr", speech), ("slm", language), ("wake", wake)]
            .into_iter()
            .filter_map(|(name, status)| {
                let status = status?;
                let stops = status["stops"].as_u64()?;
                Some((name, status["state"] == "ready", stops))
            })
            .collect()
    }

    fn mqtt(&self) -> MqttState {
        match self.mqtt.load(Ordering::Relaxed) {
            x if x == MqttState::Connected as u8 => MqttState::Connected,
            x if x == MqttState::Connecting as u8 => MqttState::Connecting,
            _ => MqttState::Disabled,
        }
    }

    /// The status as JSON.
    pub fn to_json(&self, pipeline: &Pipeline) -> String {
        let catalog = pipeline.catalog();
        let report = StatusReport {
            version: env!("CARGO_PKG_VERSION"),
            device_id: &self.device_id,
            uptime_s: self.started.elapsed().as_secs(),
            mqtt: self.mqtt(),
            skills: catalog
                .skills
                .iter()
                .map(|m| SkillReport {
                    name: &m.manifest.skill.name,
                    version: &m.manifest.skill.version,
                    code: pipeline.has_code(&m.manifest.skill.name),
                    intents: m.manifest.intents.keys().map(String::as_str).collect(),
                })
                .collect(),
            skipped_skills: &catalog.skill_errors,
            intents: catalog.engine.intent_names().count(),
            templates: catalog.engine.template_count(),
            catalog: catalog.generation(),
            utterances: pipeline.utterance_count(),
            asr: self.speech.get().map(|s| s.status()),
            language: self.language.get().map(|l| l.status()),
            tts: self.voice.get().map(|v| v.status()),
            wake: self.wake.get().map(|w| w.status()),
            listening: self.listening.get().map(|l| l.status()),
            sessions: pipeline.sessions(),
            runtime: RuntimeReport::current(),
        };
        serde_json::to_string(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
