//! `[slm]`: the language-model tier and its worker, defined and checked here; the
//! configuration crate places it.

use edge_core::SectionError;
use edge_core::section::check_uri;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[slm]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlmSection {
    /// Run the language model (troubleshooting answers: `llm.choose`; and, with
    /// `intents`, intent recognition). Without a usable model the status says why.
    pub enabled: bool,
    /// Also ask the model which intent an utterance means when the templates and the
    /// embedding tier found none. Off by default: beside the embedding tier it added no
    /// accepted command (docs/BENCHMARKS.md), at ~1.3 s per utterance.
    pub intents: bool,
    /// The worker binary; a bare name is looked up beside `edge-agentd`, then in PATH.
    pub worker: PathBuf,
    /// GGUF model for the worker.
    pub model: PathBuf,
    /// Unix socket the worker listens on.
    pub socket: PathBuf,
    /// A running `edge-slm` worker to use (`unix:///path` or `tcp://host:port`, e.g. the
    /// `edge-slm.service` unit's socket). Empty: spawn and supervise one.
    pub uri: String,
    /// Threads per request (ggml threads spin: leave cores for the rest).
    pub threads: usize,
    /// Context size in tokens: every intent's cached prompt and a request must fit.
    pub context: u32,
    /// Examples from the templates shown to the model per intent.
    pub examples_per_intent: usize,
    /// Below this score (how much likelier the utterance is after the best intent's
    /// prompt than after none, in nats) the answer is `none`.
    pub min_score: f32,
    /// Below this probability of the best intent among all, the answer is `none`.
    pub min_confidence: f32,
    /// Time allowed for loading the model and caching the intents' prompts.
    pub start_timeout_ms: u64,
    /// Time allowed for one answer.
    pub request_timeout_ms: u64,
}

impl Default for SlmSection {
    fn default() -> Self {
        Self {
            enabled: true,
            intents: false,
            worker: "edge-slm".into(),
            model: "/usr/share/edge-agent/models/smollm2-135m-instruct.gguf".into(),
            socket: "/run/edge-agent/slm.sock".into(),
            uri: String::new(),
            threads: 1,
            context: 4096,
            examples_per_intent: 3,
            min_score: 16.0,
            min_confidence: 0.7,
            start_timeout_ms: 120_000,
            request_timeout_ms: 10_000,
        }
    }
}

impl SlmSection {
    /// Checks the values the schema cannot; keys are relative to `[slm]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        check_uri("uri", &self.uri)?;
        if self.threads == 0 || self.threads > 64 {
            return Err(SectionError::new(
                "threads",
                format!("{} is outside 1 to 64", self.threads),
            ));
        }
        if !(512..=32768).contains(&self.context) {
            return Err(SectionError::new(
                "context",
                format!("{} is outside 512 to 32768", self.context),
            ));
        }
        if self.examples_per_intent > 10 {
            return Err(SectionError::new(
                "examples_per_intent",
                format!("{} is above the maximum of 10", self.examples_per_intent),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(SectionError::new(
                "min_confidence",
                format!("{} is outside 0.0 to 1.0", self.min_confidence),
            ));
        }
        if !self.min_score.is_finite() {
            return Err(SectionError::new("min_score", "must be a number"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_errors_name_the_key() {
        assert_eq!(SlmSection::default().validate(), Ok(()));
        let slm = SlmSection {
            context: 100,
            ..SlmSection::default()
        };
        let e = slm.validate().expect_err("refused");
        assert_eq!(e.to_string(), "context: 100 is outside 512 to 32768");
    }
}
