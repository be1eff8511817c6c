//! `[dialogue]`: the default station and how long a skill's question stays open, defined
//! and checked here; the configuration crate places it.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};

/// `[dialogue]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialogueSection {
    /// The station of utterances that name none: this device's microphone, D-Bus `Say`,
    /// MQTT `cmd/say` without `station`.
    pub station: String,
    /// How long a skill's question ("What does the noise sound like?") stays open.
    pub follow_up_timeout_secs: u64,
}

impl Default for DialogueSection {
    fn default() -> Self {
        Self {
            station: "main".into(),
            follow_up_timeout_secs: 120,
        }
    }
}

impl DialogueSection {
    /// Checks the values the schema cannot; keys are relative to `[dialogue]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.station.trim().is_empty() || self.station.len() > 64 {
            return Err(SectionError::new("station", "must be 1 to 64 characters"));
        }
        if self.follow_up_timeout_secs == 0 {
            return Err(SectionError::new(
                "follow_up_timeout_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_errors_name_the_key() {
        assert_eq!(DialogueSection::default().validate(), Ok(()));
        let dialogue = DialogueSection {
            station: " ".into(),
            ..DialogueSection::default()
        };
        assert_eq!(
            dialogue.validate().map_err(|e| e.key),
            Err("station".into())
        );
    }
}
