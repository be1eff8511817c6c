//! `[log]`: the daemon's log filter.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A tracing filter: a level (`info`) or directives (`info,edge_agentd=debug`).
    /// `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

impl LogSection {
    /// Checks the values the schema cannot; keys are relative to `[log]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        let level_ok = !self.level.trim().is_empty()
            && self.level.split(',').all(|d| {
                let level = d.rsplit('=').next().unwrap_or("").trim();
                matches!(level, "trace" | "debug" | "info" | "warn" | "error" | "off")
            });
        if !level_ok {
            return Err(SectionError::new(
                "level",
                format!(
                    "{:?} is not a filter: use trace, debug, info, warn, error or off, optionally per target (edge_agentd=debug)",
                    self.level
                ),
            ));
        }
        Ok(())
    }
}
