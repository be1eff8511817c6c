//! The daemon's side of the SLM tier (the model runs in the `edge-slm` worker).
//!
//! - [`SlmTier`]: turns the intent schema into the prompts the worker caches, and decides
//!   whether an answer is acted on: the score must show the utterance fits an intent at
//!   all (out-of-domain requests score low), the intent must clearly beat the runner-up
//!   (else a clarifying question, never a guessed action), and the slots must pass the
//!   schema's validation, which normalises them with the template tier's code.
//! - [`SlmClient`]: one connection to the worker.
//! - [`SlmSection`]: its configuration section, `[slm]`.

mod section;

pub use section::SlmSection;

use edge_core::{Recognition, Tier};
use edge_intent::IntentSchema;
use edge_protocol::slm::{
    ChoiceAnswer, ChoiceRequest, IntentPrompt, PromptExample, SlmAnswer, SlmLoad, SlmLoaded,
    SlmRequest, kind,
};
use edge_protocol::{ClientError, Connection, Event};
use std::time::Duration;

/// When an answer is acted on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Least score (nats of likelihood over the prompt naming no intent).
    pub min_score: f32,
    /// Least probability of the best intent among all.
    pub min_confidence: f32,
}

impl From<&SlmSection> for Thresholds {
    fn from(slm: &SlmSection) -> Self {
        Self {
            min_score: slm.min_score,
            min_confidence: slm.min_confidence,
        }
    }
}

/// The `edge-slm` arguments for a supervised worker with the language `model`, the
/// sentence `encoder` or both (the supervisor adds `--listen`), with the threads and
/// context of `slm`.
pub fn worker_args(
    model: Option<&std::path::Path>,
    encoder: Option<&std::path::Path>,
    slm: &SlmSection,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "--threads".into(),
        slm.threads.to_string().into(),
        "--context".into(),
        slm.context.to_string().into(),
    ];
    if let Some(model) = model {
        args.extend(["--model".into(), model.into()]);
    }
    if let Some(encoder) = encoder {
        args.extend(["--encoder".into(), encoder.into()]);
    }
    args
}

/// What the tier concluded about an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Act on it (tier `Slm`, the model's confidence).
    Accepted(Recognition),
    /// The utterance fits no intent well enough.
    OutOfDomain { best: String, score: f32 },
    /// Two intents are close: ask which one was meant instead of guessing.
    Unsure {
        best: String,
        runner_up: String,
        confidence: f32,
        /// "Did you mean: set the fan level, or change the volume?"
        question: String,
    },
    /// The model chose an intent but its slots fail the schema.
    BadSlots { intent: String, error: String },
}

impl Verdict {
    /// A short name for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Accepted(_) => "accepted",
            Verdict::OutOfDomain { .. } => "out of domain",
            Verdict::Unsure { .. } => "unsure (asks)",
            Verdict::BadSlots { .. } => "bad slots",
        }
    }
}

/// The schema and thresholds of the SLM tier.
#[derive(Debug, Clone)]
pub struct SlmTier {
    schema: IntentSchema,
    load: SlmLoad,
    thresholds: Thresholds,
}

impl SlmTier {
    /// The prompts for every intent of `schema` (not `none`: the baseline prompt and the
    /// score threshold stand for it).
    pub fn new(schema: IntentSchema, thresholds: Thresholds) -> Self {
        let intents = schema
            .intents()
            .iter()
            .filter(|i| i.name != edge_core::intent::NONE_INTENT)
            .map(|intent| IntentPrompt {
                name: intent.name.clone(),
                description: intent.description.clone(),
                examples: intent
                    .examples
                    .iter()
                    .map(|e| PromptExample {
                        text: e.text.clone(),
                        slots: serde_json::to_string(&e.slots).unwrap_or_else(|_| "{}".into()),
                    })
                    .collect(),
                slot_grammar: if intent.slots.is_empty() {
                    None
                } else {
                    schema.slot_grammar(&intent.name).ok()
                },
            })
            .collect();
        Self {
            schema,
            load: SlmLoad { intents },
            thresholds,
        }
    }

    /// What the worker is asked to cache.
    pub fn load_request(&self) -> &SlmLoad {
        &self.load
    }

    pub fn schema(&self) -> &IntentSchema {
        &self.schema
    }

    /// Decides whether `answer` (to the utterance `text`) is acted on.
    pub fn judge(&self, text: &str, answer: &SlmAnswer) -> Verdict {
        if answer.intent == edge_core::intent::NONE_INTENT
            || answer.score < self.thresholds.min_score
        {
            return Verdict::OutOfDomain {
                best: answer.intent.clone(),
                score: answer.score,
            };
        }
        if answer.confidence < self.thresholds.min_confidence {
            let runner_up = answer
                .runner_up
                .as_ref()
                .map(|(name, _)| name.clone())
                .unwrap_or_default();
            let describe = |name: &str| {
                self.schema
                    .intent(name)
                    .map(|i| lowercase_first(i.description.trim()))
                    .unwrap_or_else(|| name.to_owned())
            };
            return Verdict::Unsure {
                question: format!(
                    "Did you mean: {}, or {}?",
                    describe(&answer.intent),
                    describe(&runner_up)
                ),
                best: answer.intent.clone(),
                runner_up,
                confidence: answer.confidence,
            };
        }
        let mut slots = match serde_json::from_str::<serde_json::Value>(&answer.slots) {
            Ok(serde_json::Value::Object(map)) => map,
            _ if answer.slots.trim().is_empty() => serde_json::Map::new(),
            Err(e) => {
                return Verdict::BadSlots {
                    intent: answer.intent.clone(),
                    error: format!("the slots are not JSON ({e}): {}", answer.slots),
                };
            }
            Ok(_) => {
                return Verdict::BadSlots {
                    intent: answer.intent.clone(),
                    error: format!("the slots are not an object: {}", answer.slots),
                };
            }
        };
        // What was said word for word wins over what the model wrote.
        if let Some(spec) = self.schema.intent(&answer.intent) {
            for (name, value) in spec.literal_slots(text) {
                if let Ok(value) = serde_json::to_value(&value) {
                    slots.insert(name, value);
                }
            }
        }
        let json = serde_json::json!({"intent": answer.intent, "slots": slots}).to_string();
        match self.schema.validate(&json) {
            Ok(mut recognition) => {
                recognition.tier = Tier::Slm;
                recognition.confidence = answer.confidence;
                Verdict::Accepted(recognition)
            }
            Err(e) => Verdict::BadSlots {
                intent: answer.intent.clone(),
                error: format!("{e} (slots written: {})", answer.slots),
            },
        }
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One connection to the `edge-slm` worker.
#[derive(Debug)]
pub struct SlmClient {
    connection: Connection,
}

/// Sentences per `slm-embed` request: well inside the frame limits (1 MiB of data, 4 MiB of
/// payload at 384 floats a vector).
const EMBED_CHUNK: usize = 256;

impl SlmClient {
    /// Connects to `unix:///path` or `tcp://host:port`; `timeout` bounds every answer.
    pub async fn connect(uri: &str, timeout: Duration) -> Result<Self, ClientError> {
        Ok(Self {
            connection: Connection::connect("SLM worker", uri, timeout).await?,
        })
    }

    /// Has the worker cache the intents' prompts (slow: allow the start timeout).
    pub async fn load(
        &mut self,
        load: &SlmLoad,
        timeout: Duration,
    ) -> Result<SlmLoaded, ClientError> {
        self.call(
            &Event::from_data(kind::LOAD, load),
            kind::LOADED,
            Some(timeout),
        )
        .await
    }

    /// The model's answer for one utterance.
    pub async fn recognize(&mut self, request: &SlmRequest) -> Result<SlmAnswer, ClientError> {
        self.call(
            &Event::from_data(kind::RECOGNIZE, request),
            kind::ANSWER,
            None,
        )
        .await
    }

    /// Which option of a question a free-form answer means (`None`: none of them). Needs
    /// no `load`.
    pub async fn choose(&mut self, request: &ChoiceRequest) -> Result<ChoiceAnswer, ClientError> {
        self.call(&Event::from_data(kind::CHOOSE, request), kind::CHOICE, None)
            .await
    }

    /// Unit-length sentence vectors of `texts` from the worker's encoder, in order; sent in
    /// chunks that fit the frame limits. `timeout` bounds each chunk (training sets are
    /// large), the connection's own timeout when `None`.
    pub async fn embed(
        &mut self,
        texts: &[String],
        timeout: Option<Duration>,
    ) -> Result<edge_protocol::slm::EmbedAnswer, ClientError> {
        let mut all = edge_protocol::slm::EmbedAnswer {
            vectors: Vec::with_capacity(texts.len()),
            dim: 0,
            elapsed_ms: 0.0,
        };
        for chunk in texts.chunks(EMBED_CHUNK) {
            let request = edge_protocol::slm::EmbedRequest {
                texts: chunk.to_vec(),
            };
            let previous = timeout.map(|t| self.connection.replace_timeout(t));
            let result = self
                .connection
                .request(&Event::from_data(kind::EMBED, &request), kind::EMBEDDING)
                .await;
            if let Some(previous) = previous {
                self.connection.set_timeout(previous);
            }
            let answer = edge_protocol::slm::EmbedAnswer::from_event(&result?).map_err(|text| {
                ClientError::Refused {
                    role: "SLM worker",
                    uri: self.connection.uri().to_owned(),
                    code: "bad-answer".into(),
                    text,
                }
            })?;
            all.dim = answer.dim;
            all.elapsed_ms += answer.elapsed_ms;
            all.vectors.extend(answer.vectors);
        }
        Ok(all)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &mut self,
        event: &Event,
        wanted: &str,
        timeout: Option<Duration>,
    ) -> Result<T, ClientError> {
        let previous = timeout.map(|t| self.connection.replace_timeout(t));
        let result = self.connection.request(event, wanted).await;
        if let Some(previous) = previous {
            self.connection.set_timeout(previous);
        }
        let answer = result?;
        answer.data_as().map_err(|e| ClientError::Refused {
            role: "SLM worker",
            uri: self.connection.uri().to_owned(),
            code: "bad-answer".into(),
            text: format!("{wanted}: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_core::SlotValue;

    fn tier() -> SlmTier {
        let skills = "../../skills";
        let (mut manifests, errors) = edge_core::LoadedManifest::discover(&[skills.into()]);
        assert!(errors.is_empty(), "{errors:?}");
        manifests.extend(edge_intent::builtin_manifests());
        let nlu = edge_intent::NluSection::default();
        let (engine, errors) =
            edge_intent::TemplateEngine::compile(&manifests, &nlu.entities, nlu.min_confidence);
        assert!(errors.is_empty(), "{errors:?}");
        SlmTier::new(
            engine.schema(),
            Thresholds {
                min_score: 6.0,
                min_confidence: 0.5,
            },
        )
    }

    fn answer(intent: &str, slots: &str, score: f32, confidence: f32) -> SlmAnswer {
        SlmAnswer {
            intent: intent.into(),
            slots: slots.into(),
            score,
            confidence,
            runner_up: Some(("media.volume".into(), 1.0 - confidence)),
            tokens_scored: 0,
            tokens_generated: 0,
            scoring_ms: 0.0,
            slots_ms: 0.0,
        }
    }

    #[test]
    fn prompts_cover_every_intent_but_none_with_grammars_for_slots() {
        let tier = tier();
        let load = tier.load_request();
        assert!(load.intents.iter().all(|i| i.name != "none"));
        let fan = load
            .intents
            .iter()
            .find(|i| i.name == "climate.set_fan")
            .expect("set_fan");
        assert!(fan.slot_grammar.as_deref().unwrap_or("").contains("level"));
        assert!(!fan.examples.is_empty());
        let pause = load
            .intents
            .iter()
            .find(|i| i.name == "media.pause")
            .expect("pause");
        assert_eq!(pause.slot_grammar, None);
    }

    #[test]
    fn what_was_said_overrides_the_slots_the_model_copied() {
        let verdict = tier().judge(
            "um can you put it at twenty six on the passenger side",
            &answer(
                "climate.set_temperature",
                r#"{"celsius":23,"zone":"driver"}"#,
                12.0,
                0.9,
            ),
        );
        let Verdict::Accepted(recognition) = verdict else {
            panic!("{verdict:?}");
        };
        assert_eq!(recognition.tier, Tier::Slm);
        assert_eq!(recognition.confidence, 0.9);
        assert_eq!(
            recognition.slots.get("celsius").and_then(SlotValue::as_f64),
            Some(26.0)
        );
        assert_eq!(
            recognition.slots.get("zone"),
            Some(&SlotValue::Text("passenger".into()))
        );
    }

    #[test]
    fn low_scores_are_out_of_domain_and_close_calls_ask() {
        let tier = tier();
        assert!(matches!(
            tier.judge("what year is it", &answer("media.pause", "{}", 2.0, 0.9)),
            Verdict::OutOfDomain { .. }
        ));
        let Verdict::Unsure { question, .. } =
            tier.judge("louder", &answer("media.next", "{}", 9.0, 0.4))
        else {
            panic!("expected a question");
        };
        assert!(
            question.starts_with("Did you mean: skip to the next track, or change the volume"),
            "{question}"
        );
    }

    #[test]
    fn slots_outside_the_schema_are_refused_naming_the_slot() {
        let verdict = tier().judge(
            "make it nice",
            &answer("climate.set_fan", r#"{"level":99}"#, 12.0, 0.9),
        );
        let Verdict::BadSlots { error, .. } = verdict else {
            panic!("{verdict:?}");
        };
        assert!(error.contains("level"), "{error}");
    }
}
