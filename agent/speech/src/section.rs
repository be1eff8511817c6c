//! `[asr]` (the recogniser: worker or server, decoding limits, prompt and grammar) and
//! `[audio]` (live capture and endpointing), defined and checked here; the configuration
//! crate places them and checks the one rule between them (a command fits the recogniser).

use edge_core::SectionError;
use edge_core::section::{check_uri, list_or_comma_separated};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[asr]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsrSection {
    /// Recognise speech. Without a usable model or server the text APIs still work and
    /// speech requests fail with an error naming the cause.
    pub enabled: bool,
    /// A Wyoming ASR server to use (`tcp://host:port` or `unix:///path`). Empty: spawn and
    /// supervise the `edge-asr` worker.
    pub uri: String,
    /// The worker binary; a bare name is looked up beside `edge-agentd`, then in PATH.
    pub worker: PathBuf,
    /// whisper.cpp ggml model for the worker.
    pub model: PathBuf,
    /// Unix socket the worker listens on.
    pub socket: PathBuf,
    /// Threads per decode (ggml threads spin: leave cores for the rest).
    pub threads: usize,
    /// Decodes at once in the worker.
    pub max_concurrent: usize,
    /// Longest utterance in seconds.
    pub max_audio_s: u32,
    /// Time allowed for the worker to load its model.
    pub start_timeout_ms: u64,
    /// Time allowed for one transcript after the end of the audio.
    pub request_timeout_ms: u64,
    /// Bias recognition with a prompt of the entity names (machines) and `prompt_words`.
    pub vocabulary_prompt: bool,
    /// Words added to the recognition prompt beside the entity names.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub prompt_words: Vec<String>,
    /// Send the installed skills' commands as a grammar: a transcript that is not a command
    /// is decoded a second time biased toward them, and that one is taken when it is a
    /// command the model nearly believed (`grammar_max_drop`).
    pub grammar: bool,
    /// Subtracted from the logit of every token that leaves the grammar in the biased pass.
    pub grammar_penalty: f32,
    /// Largest loss of log-probability (nats, over the whole transcript) for which the
    /// biased transcript is taken over the free one.
    pub grammar_max_drop: f32,
    /// A free-text slot value (media query, destination) with a word the recogniser gave a
    /// lower probability than this is asked about instead of acted on (0 turns it off).
    pub free_text_min_p: f32,
    /// A command that a lenient tier (the embedding tier, the SLM) chose from a transcript
    /// with a word the recogniser gave a lower probability than this (function words
    /// aside) is asked about instead of acted on: the word may be the one that chose it
    /// ("Travel shoot pump 1, it is leaking oil" read as starting pump 1). 0 turns it off.
    pub request_word_min_p: f32,
    /// A command heard with a rival reading (one word the recogniser nearly chose instead,
    /// making another command: "stop pump 2" for "start pump 2") at most this many nats
    /// less likely is asked about instead of acted on (0 turns it off).
    pub rival_max_gap: f32,
    /// Before asking about such a rival, listen again: the same audio decoded in Whisper's
    /// whole 30 s window (about 7x a fitted window's CPU, on those commands only). A free
    /// transcript there that is one of the two readings is taken, its own rivals doubted
    /// as any transcript's are.
    pub second_listen: bool,
}

/// The default of `asr.request_word_min_p`, chosen on the three voice sets
/// (docs/BENCHMARKS.md).
pub const REQUEST_WORD_MIN_P: f32 = 0.1;
/// The default of `asr.rival_max_gap`, chosen on the dev voice (docs/BENCHMARKS.md).
pub const RIVAL_MAX_GAP: f32 = 2.0;
/// `edge-asr` reports rival readings up to this many nats behind (its `RIVAL_NATS`).
pub const MAX_RIVAL_GAP: f32 = 3.0;

impl Default for AsrSection {
    fn default() -> Self {
        Self {
            enabled: true,
            uri: String::new(),
            worker: "edge-asr".into(),
            model: "/usr/share/edge-agent/models/ggml-tiny.en-q8_0.bin".into(),
            socket: "/run/edge-agent/asr.sock".into(),
            threads: 1,
            max_concurrent: 1,
            max_audio_s: 30,
            start_timeout_ms: 30_000,
            request_timeout_ms: 10_000,
            vocabulary_prompt: true,
            prompt_words: Vec::new(),
            grammar: true,
            grammar_penalty: 10.0,
            grammar_max_drop: 7.5,
            free_text_min_p: 0.5,
            request_word_min_p: REQUEST_WORD_MIN_P,
            rival_max_gap: RIVAL_MAX_GAP,
            second_listen: true,
        }
    }
}

impl AsrSection {
    /// Checks the values the schema cannot; keys are relative to `[asr]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        check_uri("uri", &self.uri)?;
        if self.threads == 0 || self.threads > 64 {
            return Err(SectionError::new(
                "threads",
                format!("{} is outside 1 to 64", self.threads),
            ));
        }
        if !(self.grammar_penalty.is_finite() && (0.0..=1000.0).contains(&self.grammar_penalty)) {
            return Err(SectionError::new(
                "grammar_penalty",
                format!("{} is outside 0 to 1000", self.grammar_penalty),
            ));
        }
        if !(self.grammar_max_drop.is_finite() && (0.0..=100.0).contains(&self.grammar_max_drop)) {
            return Err(SectionError::new(
                "grammar_max_drop",
                format!("{} is outside 0 to 100", self.grammar_max_drop),
            ));
        }
        if !(0.0..=1.0).contains(&self.free_text_min_p) {
            return Err(SectionError::new(
                "free_text_min_p",
                format!("{} is outside 0 to 1", self.free_text_min_p),
            ));
        }
        if !(0.0..=1.0).contains(&self.request_word_min_p) {
            return Err(SectionError::new(
                "request_word_min_p",
                format!("{} is outside 0 to 1", self.request_word_min_p),
            ));
        }
        if !(0.0..=MAX_RIVAL_GAP).contains(&self.rival_max_gap) {
            return Err(SectionError::new(
                "rival_max_gap",
                format!(
                    "{} is outside 0 to {MAX_RIVAL_GAP} (the recogniser reports no rival further behind)",
                    self.rival_max_gap
                ),
            ));
        }
        if self.max_concurrent == 0 {
            return Err(SectionError::new("max_concurrent", "must be at least 1"));
        }
        if !(1..=300).contains(&self.max_audio_s) {
            return Err(SectionError::new(
                "max_audio_s",
                format!("{} is outside 1 to 300", self.max_audio_s),
            ));
        }
        for (key, value) in [
            ("start_timeout_ms", self.start_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
        ] {
            if value == 0 {
                return Err(SectionError::new(key, "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// Where live audio comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AudioSource {
    /// No live audio: WAV files through the API only.
    None,
    /// Raw 16 kHz mono 16-bit little-endian PCM on standard input.
    Stdin,
    /// ALSA capture from `audio.device`.
    Alsa,
}

/// When live audio is turned into commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListenMode {
    /// Between StartListening and StopListening (D-Bus or MQTT); the endpointer may end a
    /// command earlier.
    PushToTalk,
    /// Always: every stretch of speech the endpointer finds is a command.
    Continuous,
}

/// `[audio]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioSection {
    pub source: AudioSource,
    /// ALSA device name (`default`, `plughw:CARD=Mic,DEV=0`).
    pub device: String,
    pub mode: ListenMode,
    /// VAD score (0.0 to 1.0) from which a 16 ms frame counts as speech.
    pub vad_threshold: f32,
    /// Silence after speech that ends a command.
    pub trailing_silence_ms: u32,
    /// A command is cut at this length.
    pub max_utterance_ms: u32,
    /// Push-to-talk gives up when nobody speaks for this long.
    pub no_speech_timeout_ms: u32,
}

impl Default for AudioSection {
    fn default() -> Self {
        Self {
            source: AudioSource::None,
            device: "default".into(),
            mode: ListenMode::PushToTalk,
            vad_threshold: 0.5,
            trailing_silence_ms: 700,
            max_utterance_ms: 10_000,
            no_speech_timeout_ms: 5_000,
        }
    }
}

impl AudioSection {
    /// Checks the values the schema cannot; keys are relative to `[audio]`. Whether
    /// `max_utterance_ms` fits `asr.max_audio_s` spans both sections: the configuration
    /// crate checks it.
    pub fn validate(&self) -> Result<(), SectionError> {
        if !(0.0..=1.0).contains(&self.vad_threshold) {
            return Err(SectionError::new(
                "vad_threshold",
                format!("{} is outside 0.0 to 1.0", self.vad_threshold),
            ));
        }
        if self.trailing_silence_ms < 100 {
            return Err(SectionError::new(
                "trailing_silence_ms",
                format!("{} is below the minimum of 100", self.trailing_silence_ms),
            ));
        }
        if self.source == AudioSource::Alsa && self.device.trim().is_empty() {
            return Err(SectionError::new("device", "must name an ALSA device"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_errors_name_the_key() {
        assert_eq!(AsrSection::default().validate(), Ok(()));
        assert_eq!(AudioSection::default().validate(), Ok(()));
        let asr = AsrSection {
            uri: "http://x".into(),
            ..AsrSection::default()
        };
        assert_eq!(asr.validate().map_err(|e| e.key), Err("uri".into()));
        let asr = AsrSection {
            request_word_min_p: 1.5,
            ..AsrSection::default()
        };
        assert_eq!(
            asr.validate().map_err(|e| e.to_string()),
            Err("request_word_min_p: 1.5 is outside 0 to 1".into())
        );
        let audio = AudioSection {
            source: AudioSource::Alsa,
            device: " ".into(),
            ..AudioSection::default()
        };
        assert_eq!(
            audio.validate().map_err(|e| e.to_string()),
            Err("device: must name an ALSA device".into())
        );
    }
}
