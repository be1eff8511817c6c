//! `[agent]`: the device's identity.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};

/// `[agent]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSection {
    /// Device id used in MQTT topics; letters, digits, `-`, `_`, `.`.
    pub device_id: String,
}

impl Default for AgentSection {
    fn default() -> Self {
        Self {
            device_id: "edge-agent".into(),
        }
    }
}

impl AgentSection {
    /// Checks the values the schema cannot; keys are relative to `[agent]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        let id_ok = !self.device_id.is_empty()
            && self
                .device_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !id_ok {
            return Err(SectionError::new(
                "device_id",
                format!(
                    "{:?} must be non-empty ASCII letters, digits, '-', '_' or '.' (it is part of MQTT topics)",
                    self.device_id
                ),
            ));
        }
        Ok(())
    }
}
