//! `[policy]`: how the policy behaves (the rules themselves are in the HAL profiles),
//! defined and checked here; the configuration crate places it.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};

/// `[policy]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    /// How long a confirmation question stays open, in seconds.
    pub confirmation_timeout_secs: u64,
}

impl Default for PolicySection {
    fn default() -> Self {
        Self {
            confirmation_timeout_secs: 15,
        }
    }
}

impl PolicySection {
    /// Checks the values the schema cannot; keys are relative to `[policy]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.confirmation_timeout_secs == 0 {
            return Err(SectionError::new(
                "confirmation_timeout_secs",
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
    fn defaults_pass_and_zero_is_refused() {
        assert_eq!(PolicySection::default().validate(), Ok(()));
        let policy = PolicySection {
            confirmation_timeout_secs: 0,
        };
        assert_eq!(
            policy.validate().map_err(|e| e.to_string()),
            Err("confirmation_timeout_secs: must be at least 1".into())
        );
    }
}
