//! The whole configuration: the sections in one file, its defaults, and the validation
//! that composes the sections' own checks with the few rules that span sections.

use crate::error::{ConfigError, Origin};
use crate::sections::{
    AgentSection, DbusSection, EscalationSection, HalSection, LogSection, MetricsSection,
    MqttSection, SkillsSection, WakeSection,
};
use edge_audit::AuditSection;
use edge_core::SectionError;
use edge_dialogue::DialogueSection;
use edge_embedding::EmbeddingSection;
use edge_fleet::FleetSection;
use edge_intent::NluSection;
use edge_policy::PolicySection;
use edge_slm_client::SlmSection;
use edge_speech::{AsrSection, AudioSection, AudioSource};
use edge_tts::TtsSection;
use serde::{Deserialize, Serialize};

/// The configuration format version this build understands.
pub const CONFIG_VERSION: u32 = 1;

/// The whole configuration as written: every key optional, defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    /// Format version; must be 1.
    pub version: u32,
    /// Identity of this device.
    pub agent: AgentSection,
    /// Logging.
    pub log: LogSection,
    /// The D-Bus API.
    pub dbus: DbusSection,
    /// The MQTT connection.
    pub mqtt: MqttSection,
    /// Where skills are installed.
    pub skills: SkillsSection,
    /// Intent recognition.
    pub nlu: NluSection,
    /// Signals, their profiles and transports.
    pub hal: HalSection,
    /// Safety policy behaviour (the rules are in the profiles).
    pub policy: PolicySection,
    /// The audit log.
    pub audit: AuditSection,
    /// Speech recognition.
    pub asr: AsrSection,
    /// Audio capture and endpointing.
    pub audio: AudioSection,
    /// The local small-language-model intent tier.
    pub slm: SlmSection,
    /// The sentence-embedding intent tier.
    pub embedding: EmbeddingSection,
    /// Escalation of rejected utterances to a remote chat endpoint.
    pub escalation: EscalationSection,
    /// Spoken replies.
    pub tts: TtsSection,
    /// Conversations: stations and follow-up questions.
    pub dialogue: DialogueSection,
    /// Fleet operations over MQTT: heartbeat, signed skill and configuration commands.
    pub fleet: FleetSection,
    /// Prometheus metrics on a local address.
    pub metrics: MetricsSection,
    /// A wake word in front of live listening.
    pub wake: WakeSection,
}

impl Default for ConfigFile {
    fn default() -> Self {
        Self {
            version: CONFIG_VERSION,
            agent: AgentSection::default(),
            log: LogSection::default(),
            dbus: DbusSection::default(),
            mqtt: MqttSection::default(),
            skills: SkillsSection::default(),
            nlu: NluSection::default(),
            hal: HalSection::default(),
            policy: PolicySection::default(),
            audit: AuditSection::default(),
            asr: AsrSection::default(),
            audio: AudioSection::default(),
            slm: SlmSection::default(),
            embedding: EmbeddingSection::default(),
            escalation: EscalationSection::default(),
            tts: TtsSection::default(),
            dialogue: DialogueSection::default(),
            fleet: FleetSection::default(),
            metrics: MetricsSection::default(),
            wake: WakeSection::default(),
        }
    }
}

/// A configuration that passed [`ConfigFile::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    file: ConfigFile,
    mqtt_client_id: String,
    hal_mqtt_client_id: String,
}

impl std::ops::Deref for AgentConfig {
    type Target = ConfigFile;
    fn deref(&self) -> &ConfigFile {
        &self.file
    }
}

impl AgentConfig {
    /// The MQTT client id, with the default filled in.
    pub fn mqtt_client_id(&self) -> &str {
        &self.mqtt_client_id
    }

    /// The HAL's MQTT client id, with the default filled in.
    pub fn hal_mqtt_client_id(&self) -> &str {
        &self.hal_mqtt_client_id
    }

    /// The built-in defaults, validated.
    pub fn defaults() -> Self {
        ConfigFile::default()
            .validate(&|_| Origin::Default)
            .unwrap_or_else(|e| unreachable!("built-in defaults are valid: {e}"))
    }
}

impl ConfigFile {
    /// Checks every value; `origin_of` says where a key came from so errors can name it.
    ///
    /// Each section checks itself (keys relative to it); this adds the section's path and
    /// the origin, and checks the rules that span sections. The first error wins.
    pub fn validate(self, origin_of: &dyn Fn(&str) -> Origin) -> Result<AgentConfig, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin_of(key),
            key: key.to_owned(),
            message,
        };
        let section = |name: &str, checked: Result<(), SectionError>| {
            checked.map_err(|e| invalid(&format!("{name}.{}", e.key), e.message))
        };
        if self.version != CONFIG_VERSION {
            return Err(invalid(
                "version",
                format!(
                    "unsupported version {} (this build reads {CONFIG_VERSION})",
                    self.version
                ),
            ));
        }
        section("agent", self.agent.validate())?;
        section("log", self.log.validate())?;
        section("dbus", self.dbus.validate())?;
        section("mqtt", self.mqtt.validate())?;
        section("nlu", self.nlu.validate())?;
        section("skills", self.skills.validate())?;
        section("hal", self.hal.validate())?;
        section("fleet", self.fleet.validate())?;
        if self.wake.enabled && self.audio.source == AudioSource::None {
            return Err(invalid(
                "wake.enabled",
                "needs live audio: set audio.source to \"stdin\" or \"alsa\"".into(),
            ));
        }
        section("wake", self.wake.validate())?;
        section("metrics", self.metrics.validate())?;
        section("dialogue", self.dialogue.validate())?;
        section("policy", self.policy.validate())?;
        section("audit", self.audit.validate())?;
        section("asr", self.asr.validate())?;
        section("slm", self.slm.validate())?;
        section("embedding", self.embedding.validate())?;
        section("escalation", self.escalation.validate())?;
        section("audio", self.audio.validate())?;
        // A command must fit what the recogniser takes.
        let (audio, asr) = (&self.audio, &self.asr);
        if audio.max_utterance_ms < 1000 || audio.max_utterance_ms / 1000 > asr.max_audio_s {
            return Err(invalid(
                "audio.max_utterance_ms",
                format!(
                    "{} must be at least 1000 and at most asr.max_audio_s ({} s)",
                    audio.max_utterance_ms, asr.max_audio_s
                ),
            ));
        }
        section("tts", self.tts.validate())?;
        let mqtt_client_id = if self.mqtt.client_id.is_empty() {
            format!("edge-agent-{}", self.agent.device_id)
        } else {
            self.mqtt.client_id.clone()
        };
        let hal_mqtt_client_id = if self.hal.mqtt.client_id.is_empty() {
            format!("edge-agent-hal-{}", self.agent.device_id)
        } else {
            self.hal.mqtt.client_id.clone()
        };
        Ok(AgentConfig {
            file: self,
            mqtt_client_id,
            hal_mqtt_client_id,
        })
    }
}
