//! Configuration of edge-agent.
//!
//! Layers, later wins: built-in defaults, the main file (`/etc/edge-agent/config.toml` or
//! `--config PATH`), `conf.d/*.toml` beside it in name order, then environment variables
//! `EDGE_AGENT__SECTION__KEY`. Unknown keys are errors. [`load`] returns a validated
//! [`AgentConfig`]; every error names the file (or variable), the key and, where the
//! parser knows it, the line.
//!
//! `agent/config/edge-agent.toml` documents every key with its default; a test keeps it
//! equal to [`ConfigFile::default`].

mod error;
mod load;
mod locate;
mod model;

pub use error::{ConfigError, Origin};
pub use load::{DEFAULT_CONFIG_PATH, ENV_PREFIX, LoadOptions, load};
pub use model::{
    AgentConfig, AgentSection, AsrSection, AudioSection, AudioSource, BusKind, CONFIG_VERSION,
    ConfigFile, DbusSection, DialogueSection, EmbeddingSection, EscalationSection, ListenMode,
    LogSection, MqttSection, MqttTlsSection, NluSection, SkillsSection, SlmSection, TtsBackend,
    TtsSection, WakeSection,
};

/// The example configuration shipped with the agent, documenting every key.
pub const EXAMPLE_CONFIG: &str = include_str!("../edge-agent.toml");
