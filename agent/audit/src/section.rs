//! `[audit]`: where the log is written and how it is rotated, defined and checked here;
//! the configuration crate places it.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[audit]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// The JSON-lines file.
    pub path: PathBuf,
    /// Size at which the file is rotated, in bytes.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: usize,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            path: "/var/lib/edge-agent/audit.jsonl".into(),
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

impl AuditSection {
    /// Checks the values the schema cannot; keys are relative to `[audit]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.max_bytes < 1024 {
            return Err(SectionError::new(
                "max_bytes",
                format!("{} is below the minimum of 1024", self.max_bytes),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_a_tiny_file_is_refused() {
        assert_eq!(AuditSection::default().validate(), Ok(()));
        let audit = AuditSection {
            max_bytes: 10,
            ..AuditSection::default()
        };
        assert_eq!(
            audit.validate().map_err(|e| e.to_string()),
            Err("max_bytes: 10 is below the minimum of 1024".into())
        );
    }
}
