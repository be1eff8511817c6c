//! `[skills]`: where skills are installed and whose signatures are trusted.

use edge_core::SectionError;
use edge_core::section::{check_public_keys, list_or_comma_separated};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[skills]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SkillsSection {
    /// Directories holding one sub-directory per skill (with `skill.toml`), searched in
    /// order. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub dirs: Vec<PathBuf>,
    /// Compiled skills, keyed by engine and component, so a restart does not recompile.
    pub cache_dir: PathBuf,
    /// Each skill's key-value store.
    pub state_dir: PathBuf,
    /// Load a skill's code only with a valid `NAME.sig` from a trusted key.
    pub require_signed: bool,
    /// Publishers' ed25519 public keys, hex. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_keys: Vec<String>,
}

impl Default for SkillsSection {
    fn default() -> Self {
        Self {
            dirs: vec![
                "/usr/lib/edge-agent/skills".into(),
                "/var/lib/edge-agent/skills".into(),
            ],
            cache_dir: "/var/cache/edge-agent/skills".into(),
            state_dir: "/var/lib/edge-agent/skill-state".into(),
            require_signed: false,
            trusted_keys: Vec::new(),
        }
    }
}

impl SkillsSection {
    /// Checks the values the schema cannot; keys are relative to `[skills]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.require_signed && self.trusted_keys.is_empty() {
            return Err(SectionError::new(
                "trusted_keys",
                "skills.require_signed needs at least one trusted key",
            ));
        }
        check_public_keys("trusted_keys", &self.trusted_keys)
    }
}
