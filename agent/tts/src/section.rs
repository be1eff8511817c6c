//! `[tts]`: which synthesiser and player speak the replies, defined and checked here; the
//! configuration crate places it.

use edge_core::SectionError;
use edge_core::section::{check_uri, list_or_comma_separated};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where spoken replies come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TtsBackend {
    /// Replies are text only (D-Bus `Response`, MQTT `events/response`).
    None,
    /// `tts.command` writes a WAV to stdout.
    Command,
    /// A Wyoming TTS server at `tts.uri` (wyoming-piper).
    Wyoming,
}

/// `[tts]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtsSection {
    /// `none`, `command` or `wyoming`.
    pub backend: TtsBackend,
    /// The synthesiser (argv, no shell): `{text}` in an argument is replaced by the reply;
    /// without `{text}` the reply goes to its stdin. It writes a WAV to stdout. From the
    /// environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub command: Vec<String>,
    /// The Wyoming TTS server, `tcp://host:port` or `unix:///path`.
    pub uri: String,
    /// Voice name sent to the Wyoming server; empty: the server's default.
    pub voice: String,
    /// The player (argv, no shell), given the WAV on stdin; empty: no playback. From the
    /// environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub player: Vec<String>,
    /// Time allowed for synthesis, and for playback beyond the reply's duration.
    pub timeout_ms: u64,
    /// Keep the last reply's WAV in this file; empty: off.
    pub keep_last_wav: PathBuf,
}

impl Default for TtsSection {
    fn default() -> Self {
        Self {
            backend: TtsBackend::None,
            command: ["espeak-ng", "--stdout", "--", "{text}"]
                .map(String::from)
                .to_vec(),
            uri: String::new(),
            voice: String::new(),
            player: ["aplay", "-q", "-"].map(String::from).to_vec(),
            timeout_ms: 10_000,
            keep_last_wav: PathBuf::new(),
        }
    }
}

impl TtsSection {
    /// Checks the values the schema cannot; keys are relative to `[tts]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.backend == TtsBackend::Command && self.command.first().is_none_or(String::is_empty)
        {
            return Err(SectionError::new(
                "command",
                "must name a program when tts.backend = \"command\"",
            ));
        }
        if self.backend == TtsBackend::Wyoming && self.uri.is_empty() {
            return Err(SectionError::new(
                "uri",
                "required when tts.backend = \"wyoming\" (tcp://host:port or unix:///path)",
            ));
        }
        check_uri("uri", &self.uri)?;
        if self.player.first().is_some_and(String::is_empty) {
            return Err(SectionError::new(
                "player",
                "must start with a program (or be [] for no playback)",
            ));
        }
        if self.backend != TtsBackend::None
            && self.player.is_empty()
            && self.keep_last_wav.as_os_str().is_empty()
        {
            return Err(SectionError::new(
                "player",
                "is empty and tts.keep_last_wav is not set: replies would go nowhere",
            ));
        }
        if !(1..=600_000).contains(&self.timeout_ms) {
            return Err(SectionError::new(
                "timeout_ms",
                format!("{} is outside 1 to 600000", self.timeout_ms),
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
        assert_eq!(TtsSection::default().validate(), Ok(()));
        let tts = TtsSection {
            backend: TtsBackend::Command,
            command: vec![String::new()],
            ..TtsSection::default()
        };
        assert_eq!(tts.validate().map_err(|e| e.key), Err("command".into()));
    }
}
