//! Configuration of edge-agent.
//!
//! Layers, later wins: built-in defaults, the main file (`/etc/edge-agent/config.toml` or
//! `--config PATH`), `conf.d/*.toml` beside it in name order, then environment variables
//! `EDGE_AGENT__SECTION__KEY`. Unknown keys are errors. [`load`] returns a validated
//! [`AgentConfig`]; every error names the file (or variable), the key and, where the
//! parser knows it, the line.
//!
//! Each capability's crate defines and checks its own section (`[slm]` in
//! `edge-slm-client`, `[asr]` and `[audio]` in `edge-speech`, `[hal.modbus]` in
//! `edge-hal-modbus`, ...); this crate composes them into [`ConfigFile`], adds the rules
//! that span sections, and turns a section's error into one naming file, line and key.
//! The daemon's own sections, and those whose crates are too heavy to depend on, are in
//! `sections/`. The section types are re-exported here.
//!
//! `agent/config/edge-agent.toml` documents every key with its default; a test keeps it
//! equal to [`ConfigFile::default`].

mod error;
mod load;
mod locate;
mod model;
mod sections;

pub use edge_audit::AuditSection;
pub use edge_dialogue::DialogueSection;
pub use edge_embedding::EmbeddingSection;
pub use edge_fleet::FleetSection;
pub use edge_hal_modbus::{ModbusDevice, ModbusSection};
pub use edge_intent::NluSection;
pub use edge_policy::PolicySection;
pub use edge_slm_client::SlmSection;
pub use edge_speech::{AsrSection, AudioSection, AudioSource, ListenMode};
pub use edge_tts::{TtsBackend, TtsSection};
pub use error::{ConfigError, Origin};
pub use load::{DEFAULT_CONFIG_PATH, ENV_PREFIX, LoadOptions, load};
pub use model::{AgentConfig, CONFIG_VERSION, ConfigFile};
pub use sections::{
    AgentSection, BusKind, DbusSection, EscalationSection, HalDbusSection, HalMqttSection,
    HalSection, LogSection, MetricsSection, MqttSection, MqttTlsSection, SkillsSection,
    WakeSection,
};

/// The example configuration shipped with the agent, documenting every key.
pub const EXAMPLE_CONFIG: &str = include_str!("../edge-agent.toml");
