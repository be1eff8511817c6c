//! The SLM worker's conversation, in Wyoming-style events:
//!
//! - `slm-load` (data: [`SlmLoad`]) → `slm-loaded` (data: [`SlmLoaded`]): the intents to
//!   choose from. The worker caches one prompt per intent; sent again when skills change.
//! - `slm-recognize` (data: [`SlmRequest`]) → `slm-answer` (data: [`SlmAnswer`]).
//! - `slm-choose` (data: [`ChoiceRequest`]) → `slm-choice` (data: [`ChoiceAnswer`]): which
//!   of a question's options a free-form answer means, or none. Needs no `slm-load`.
//! - `slm-embed` (data: [`EmbedRequest`]) → `slm-embedding` (data: [`EmbedAnswer`]): unit
//!   sentence vectors from the worker's encoder (`--encoder`), for the embedding tier.
//!   Served on the encoder's own thread: never waits behind the language model.
//! - Any failure → `error` (`text`, `code`).

use serde::{Deserialize, Serialize};

/// Event types of the SLM conversation.
pub mod kind {
    pub const LOAD: &str = "slm-load";
    pub const LOADED: &str = "slm-loaded";
    pub const RECOGNIZE: &str = "slm-recognize";
    pub const ANSWER: &str = "slm-answer";
    pub const CHOOSE: &str = "slm-choose";
    pub const CHOICE: &str = "slm-choice";
    pub const EMBED: &str = "slm-embed";
    pub const EMBEDDING: &str = "slm-embedding";
}

/// `text` is at most `max` characters; the error names `field`.
fn check_chars(field: &str, text: &str, max: usize) -> Result<(), String> {
    let n = text.chars().count();
    if n > max {
        Err(format!("{field}: {n} characters, at most {max}"))
    } else {
        Ok(())
    }
}

/// Most sentences in one `slm-embed`.
pub const MAX_EMBED_TEXTS: usize = 512;
/// Longest sentence of an `slm-embed`, in characters.
pub const MAX_EMBED_TEXT_CHARS: usize = 1000;

/// `slm-embed`: the sentence vectors of `texts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedRequest {
    pub texts: Vec<String>,
}

impl EmbedRequest {
    /// Checks the size limits; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.texts.is_empty() {
            return Err("texts: empty, at least one is needed".into());
        }
        if self.texts.len() > MAX_EMBED_TEXTS {
            return Err(format!(
                "texts: {} of them, at most {MAX_EMBED_TEXTS}",
                self.texts.len()
            ));
        }
        for (k, text) in self.texts.iter().enumerate() {
            check_chars(&format!("texts[{k}]"), text, MAX_EMBED_TEXT_CHARS)?;
        }
        Ok(())
    }
}

/// `slm-embedding`: one unit-length vector per sentence, in the request's order. On the
/// wire the data holds `count`, `dim` and `elapsed_ms`, and the payload the vectors as
/// little-endian `f32`s, one after the other (JSON numbers would be 3x larger and slower).
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedAnswer {
    pub vectors: Vec<Vec<f32>>,
    pub dim: usize,
    pub elapsed_ms: f64,
}

#[derive(Serialize, Deserialize)]
struct EmbedHeader {
    count: usize,
    dim: usize,
    elapsed_ms: f64,
}

impl EmbedAnswer {
    /// The `slm-embedding` event.
    pub fn to_event(&self) -> crate::Event {
        let payload: Vec<u8> = self
            .vectors
            .iter()
            .flatten()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        crate::Event::from_data(
            kind::EMBEDDING,
            &EmbedHeader {
                count: self.vectors.len(),
                dim: self.dim,
                elapsed_ms: self.elapsed_ms,
            },
        )
        .with_payload(payload)
    }

    /// Reads an `slm-embedding` event; the error says what does not add up.
    pub fn from_event(event: &crate::Event) -> Result<Self, String> {
        if event.kind != kind::EMBEDDING {
            return Err(format!("expected {}, got {}", kind::EMBEDDING, event.kind));
        }
        let header: EmbedHeader = event
            .data_as()
            .map_err(|e| format!("{}: {e}", kind::EMBEDDING))?;
        let payload = event.payload.as_deref().unwrap_or_default();
        let expected = header.count.saturating_mul(header.dim).saturating_mul(4);
        if payload.len() != expected {
            return Err(format!(
                "{}: {} payload bytes for {} vectors of {} floats",
                kind::EMBEDDING,
                payload.len(),
                header.count,
                header.dim
            ));
        }
        let floats: Vec<f32> = payload
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self {
            vectors: floats
                .chunks(header.dim.max(1))
                .take(header.count)
                .map(<[f32]>::to_vec)
                .collect(),
            dim: header.dim,
            elapsed_ms: header.elapsed_ms,
        })
    }
}

#[cfg(test)]
mod embed_tests {
    use super::*;

    #[test]
    fn embedding_events_carry_the_vectors_exactly() {
        let answer = EmbedAnswer {
            vectors: vec![vec![0.5, -1.25, 3.0], vec![f32::MIN_POSITIVE, 0.0, 1.0]],
            dim: 3,
            elapsed_ms: 1.5,
        };
        let event = answer.to_event();
        assert_eq!(event.payload.as_ref().map(Vec::len), Some(24));
        assert_eq!(EmbedAnswer::from_event(&event), Ok(answer));
    }

    #[test]
    fn a_short_payload_or_another_event_is_refused() {
        let mut event = EmbedAnswer {
            vectors: vec![vec![1.0, 2.0]],
            dim: 2,
            elapsed_ms: 0.0,
        }
        .to_event();
        event.payload = Some(vec![0; 7]);
        let err = EmbedAnswer::from_event(&event).expect_err("must be refused");
        assert!(
            err.contains("7 payload bytes for 1 vectors of 2 floats"),
            "{err}"
        );
        let err =
            EmbedAnswer::from_event(&crate::Event::new(kind::ANSWER)).expect_err("must be refused");
        assert!(err.contains("expected slm-embedding"), "{err}");
    }

    #[test]
    fn embed_requests_are_checked() {
        assert!(EmbedRequest { texts: vec![] }.validate().is_err());
        assert!(
            EmbedRequest {
                texts: vec!["ok".into()]
            }
            .validate()
            .is_ok()
        );
        let err = EmbedRequest {
            texts: vec!["ok".into(), "y".repeat(MAX_EMBED_TEXT_CHARS + 1)],
        }
        .validate()
        .expect_err("must be refused");
        assert!(err.starts_with("texts[1]:"), "{err}");
    }
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

/// Most options in one `slm-choose`.
pub const MAX_CHOICE_OPTIONS: usize = 16;
/// Longest option id, in characters.
pub const MAX_OPTION_ID_CHARS: usize = 64;
/// Longest option description, in characters.
pub const MAX_OPTION_DESCRIPTION_CHARS: usize = 200;
/// Longest question and answer, in characters.
pub const MAX_CHOICE_TEXT_CHARS: usize = 300;

/// One option of an `slm-choose`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceOption {
    /// What the answer names when this option is chosen (e.g. `squealing`).
    pub id: String,
    /// What the option means, in words the answer may use ("high-pitched squeal, screech
    /// or whine").
    pub description: String,
}

/// `slm-choose`: which option of `question` the free-form `answer` means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceRequest {
    pub question: String,
    pub answer: String,
    pub options: Vec<ChoiceOption>,
    /// Least score (nats) of the chosen option; the worker's default when absent. (The
    /// chosen option must also beat the worker's own "none of these" option.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f32>,
    /// Least probability of the chosen option among all; the worker's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_confidence: Option<f32>,
}

impl ChoiceRequest {
    /// Checks the size limits and that the ids are usable; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        check_chars("question", &self.question, MAX_CHOICE_TEXT_CHARS)?;
        check_chars("answer", &self.answer, MAX_CHOICE_TEXT_CHARS)?;
        if self.options.is_empty() {
            return Err("options: empty, at least one is needed".into());
        }
        if self.options.len() > MAX_CHOICE_OPTIONS {
            return Err(format!(
                "options: {} of them, at most {MAX_CHOICE_OPTIONS}",
                self.options.len()
            ));
        }
        for (k, option) in self.options.iter().enumerate() {
            if option.id.trim().is_empty() {
                return Err(format!("options[{k}].id: empty"));
            }
            check_chars(&format!("options[{k}].id"), &option.id, MAX_OPTION_ID_CHARS)?;
            check_chars(
                &format!("options[{k}].description"),
                &option.description,
                MAX_OPTION_DESCRIPTION_CHARS,
            )?;
            if self.options[..k].iter().any(|o| o.id == option.id) {
                return Err(format!("options[{k}].id: {:?} appears twice", option.id));
            }
        }
        for (field, value) in [
            ("min_score", self.min_score),
            ("min_confidence", self.min_confidence),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                return Err(format!("{field}: not a finite number"));
            }
        }
        Ok(())
    }
}

/// One option's score in an `slm-choice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceScore {
    pub id: String,
    /// How much likelier (nats) the answer is after a prompt describing this option than
    /// after one naming none.
    pub score: f32,
}

/// `slm-choice`: the option the answer means, or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceAnswer {
    /// An option id, or `None` when the answer means none of them (or the model is not
    /// sure enough).
    pub choice: Option<String>,
    /// The best option by score, even when below the thresholds.
    pub best: Option<String>,
    /// Every option's score, in the request's order (empty when the literal pass decided).
    pub scores: Vec<ChoiceScore>,
    /// The score of the worker's own "none of these" option: an option must beat it.
    pub none_score: f32,
    /// Probability of the best option among all (softmax of the scores); 1 when the
    /// literal pass decided.
    pub confidence: f32,
    /// The answer named exactly one option word for word; the model was not asked.
    pub literal: bool,
    /// Tokens evaluated by the model.
    pub tokens_scored: usize,
    pub elapsed_ms: f64,
}
