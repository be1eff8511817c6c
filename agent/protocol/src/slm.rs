//! The SLM worker's conversation, in Wyoming-style events:
//!
//! - `slm-load` (data: [`SlmLoad`]) → `slm-loaded` (data: [`SlmLoaded`]): the intents to
//!   choose from. The worker caches one prompt per intent; sent again when skills change.
//! - `slm-recognize` (data: [`SlmRequest`]) → `slm-answer` (data: [`SlmAnswer`]).
//! - Any failure → `error` (`text`, `code`).

use serde::{Deserialize, Serialize};

/// Event types of the SLM conversation.
pub mod kind {
    pub const LOAD: &str = "slm-load";
    pub const LOADED: &str = "slm-loaded";
    pub const RECOGNIZE: &str = "slm-recognize";
    pub const ANSWER: &str = "slm-answer";
}

/// One intent the model may choose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentPrompt {
    pub name: String,
    pub description: String,
    /// Utterances the templates answer with this intent, each with its slots as a JSON
    /// object (the answer format the model continues).
    pub examples: Vec<PromptExample>,
    /// GBNF grammar of the intent's slots object; absent when it has no slots.
    pub slot_grammar: Option<String>,
}

/// An example utterance and its slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptExample {
    pub text: String,
    /// Compact JSON object.
    pub slots: String,
}

/// `slm-load`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlmLoad {
    pub intents: Vec<IntentPrompt>,
}

/// `slm-loaded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlmLoaded {
    pub intents: usize,
    /// Tokens of all cached prompts.
    pub prompt_tokens: usize,
    pub load_ms: f64,
}

/// `slm-recognize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlmRequest {
    pub text: String,
    /// The intent of the previous turn, for follow-ups ("warmer" after a temperature
    /// command): its score gets a bonus of this many nats.
    #[serde(default)]
    pub previous_intent: Option<String>,
}

/// `slm-answer`: the model's best intent and its slots; the caller decides, by `score` and
/// `confidence`, whether to act on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlmAnswer {
    pub intent: String,
    /// Compact JSON object written under the intent's slot grammar (`{}` without slots).
    pub slots: String,
    /// How much likelier (nats) the utterance is after this intent's prompt than after a
    /// prompt naming no intent: low for requests no intent covers.
    pub score: f32,
    /// Probability of this intent among all (softmax of the scores).
    pub confidence: f32,
    /// The runner-up and its probability.
    pub runner_up: Option<(String, f32)>,
    /// Tokens evaluated to score the intents, and generated for the slots.
    pub tokens_scored: usize,
    pub tokens_generated: usize,
    pub scoring_ms: f64,
    pub slots_ms: f64,
}
