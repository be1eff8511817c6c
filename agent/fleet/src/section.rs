//! `[fleet]`: whether signed fleet commands are accepted, from whom, and the heartbeat,
//! defined and checked here; the configuration crate places it.

use edge_core::SectionError;
use edge_core::section::{check_public_keys, list_or_comma_separated};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[fleet]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetSection {
    /// Accept signed commands on `edge-agent/{device_id}/cmd/fleet` (install, update,
    /// remove skills; configuration overlays). Needs `publisher_keys`.
    pub enabled: bool,
    /// The publishers' ed25519 public keys (hex) whose commands are accepted. From the
    /// environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub publisher_keys: Vec<String>,
    /// Period of the retained heartbeat on `edge-agent/{device_id}/fleet/heartbeat`
    /// (versions of the agent, skills and models); 0: none.
    pub heartbeat_secs: u64,
    /// Where skills installed by the fleet go; empty: the last of `skills.dirs`.
    pub skills_dir: PathBuf,
}

impl Default for FleetSection {
    fn default() -> Self {
        Self {
            enabled: false,
            publisher_keys: Vec::new(),
            heartbeat_secs: 60,
            skills_dir: PathBuf::new(),
        }
    }
}

impl FleetSection {
    /// Checks the values the schema cannot; keys are relative to `[fleet]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.enabled && self.publisher_keys.is_empty() {
            return Err(SectionError::new(
                "publisher_keys",
                "must name at least one publisher key when fleet.enabled is set",
            ));
        }
        check_public_keys("publisher_keys", &self.publisher_keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_errors_name_the_key() {
        assert_eq!(FleetSection::default().validate(), Ok(()));
        let fleet = FleetSection {
            enabled: true,
            ..FleetSection::default()
        };
        assert_eq!(
            fleet.validate().map_err(|e| e.key),
            Err("publisher_keys".into())
        );
    }
}
