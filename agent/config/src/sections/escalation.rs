//! `[escalation]`: the remote chat endpoint. It stays here: `edge-escalation` carries
//! reqwest and its TLS stack, and depends on this crate for the section.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};

/// `[escalation]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationSection {
    /// Send utterances that both local tiers reject to `url`. Off by default: nothing
    /// leaves the device unless this is set.
    pub enabled: bool,
    /// Base URL of an OpenAI-compatible API (`https://host/v1`); `/chat/completions` is
    /// appended.
    pub url: String,
    /// Model name sent with each request.
    pub model: String,
    /// Environment variable holding the API key (never the key itself in a file).
    pub api_key_env: String,
    /// Time allowed for one answer.
    pub timeout_ms: u64,
    /// Start in privacy mode (no escalation until it is switched off over D-Bus or MQTT).
    pub privacy_mode: bool,
}

impl Default for EscalationSection {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            model: String::new(),
            api_key_env: "EDGE_AGENT_ESCALATION_KEY".into(),
            timeout_ms: 3000,
            privacy_mode: false,
        }
    }
}

impl EscalationSection {
    /// Checks the values the schema cannot; keys are relative to `[escalation]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.enabled {
            if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                return Err(SectionError::new(
                    "url",
                    format!(
                        "{:?} must be an http:// or https:// URL when escalation is enabled",
                        self.url
                    ),
                ));
            }
            if self.model.trim().is_empty() {
                return Err(SectionError::new(
                    "model",
                    "must name a model when escalation is enabled",
                ));
            }
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(SectionError::new(
                "timeout_ms",
                format!("{} is outside 1 to 60000", self.timeout_ms),
            ));
        }
        Ok(())
    }
}
