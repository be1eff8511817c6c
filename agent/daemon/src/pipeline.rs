//! Text in, recognition and response out, and an event to every API for each utterance.

use crate::actuator::{ActOutcome, Actuator};
pub use crate::catalog::Catalog;
use crate::hal::HalParts;
use crate::skills::Services;
use edge_audit::Origin;
use edge_config::AgentConfig;
use edge_core::{Recognition, Utterance, UtteranceOrigin};
use edge_skill_host::{CallContext, InvokeError, SkillHost};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::broadcast;

/// Longest text accepted, in bytes: a spoken command, with room to spare.
pub const MAX_TEXT_BYTES: usize = 1000;

/// What the agent says for `none`.
pub const CANNOT_HELP: &str = "Sorry, I can't help with that.";

/// Text that cannot be processed. The message names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Empty or only whitespace.
    #[error("is empty")]
    Empty,
    /// Longer than [`MAX_TEXT_BYTES`].
    #[error("is {len} bytes long; the limit is {MAX_TEXT_BYTES}")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
}

/// The result of one utterance, as sent on every API.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Unique id of the utterance.
    pub utterance_id: String,
    /// The text as received.
    pub text: String,
    /// Where it came from.
    pub origin: UtteranceOrigin,
    /// What it means.
    #[serde(flatten)]
    pub recognition: Recognition,
    /// What the agent answers.
    pub response: String,
    /// What was done on the signals, when the intent acts on them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<ActOutcome>,
    /// Time spent recognising, in microseconds.
    pub latency_us: u64,
    /// What the SLM answered, when it was asked (also when its answer was not acted on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slm: Option<edge_protocol::slm::SlmAnswer>,
}

/// The intent pipeline of the daemon.
#[derive(Debug)]
pub struct Pipeline {
    config: AgentConfig,
    catalog: RwLock<Arc<Catalog>>,
    /// Serialises reloads (a file watcher and a D-Bus call may ask at once).
    reloading: Mutex<()>,
    events: broadcast::Sender<Arc<Outcome>>,
    utterances: AtomicU64,
    actuator: Option<Arc<Actuator>>,
    skill_host: Arc<SkillHost>,
    vehicle_bus: Option<zbus::Connection>,
    plant_broker: Option<Arc<edge_hal_mqtt::MqttTransport>>,
    /// The SLM and escalation tiers, asked when the templates reject an utterance.
    language: std::sync::OnceLock<Arc<crate::language::Language>>,
}

impl Pipeline {
    /// The pipeline over the skills of `config`.
    pub fn from_config(config: &AgentConfig, skill_host: Arc<SkillHost>) -> Self {
        let catalog = Catalog::build(config, &skill_host);
        let (events, _) = broadcast::channel(256);
        Self {
            config: config.clone(),
            catalog: RwLock::new(Arc::new(catalog)),
            reloading: Mutex::new(()),
            events,
            utterances: AtomicU64::new(0),
            actuator: None,
            skill_host,
            vehicle_bus: None,
            plant_broker: None,
            language: std::sync::OnceLock::new(),
        }
    }

    /// The tiers after the templates, once started.
    pub fn language(&self) -> Option<&Arc<crate::language::Language>> {
        self.language.get()
    }

    /// Adds the tiers after the templates and has them prepare for the current catalog.
    pub fn set_language(&self, language: Arc<crate::language::Language>) {
        language.prepare(self.catalog());
        let _ = self.language.set(language);
    }

    /// The current skills and templates.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads the skill directories again and swaps the catalog in one step; utterances
    /// are served by the old catalog until the new one is complete. Blocking (compiles).
    pub fn reload(&self) -> Arc<Catalog> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let catalog = Arc::new(Catalog::build(&self.config, &self.skill_host));
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = catalog.clone();
        if let Some(language) = self.language.get() {
            language.prepare(catalog.clone());
        }
        tracing::info!(
            skills = catalog.skills.len(),
            skipped = catalog.skill_errors.len(),
            "skills reloaded"
        );
        catalog
    }

    /// Whether a skill's component is loaded.
    pub fn has_code(&self, skill: &str) -> bool {
        self.skill_host.has(skill)
    }

    /// Lets skills act on signals through the HAL, the policy and the audit log.
    pub fn with_hal(mut self, parts: HalParts) -> Self {
        self.actuator = Some(Arc::new(parts.actuator));
        self.vehicle_bus = parts.dbus;
        self.plant_broker = parts.mqtt;
        self
    }

    /// The actuator, when signals are configured.
    pub fn actuator(&self) -> Option<&Arc<Actuator>> {
        self.actuator.as_ref()
    }

    /// Utterances handled since start.
    pub fn utterance_count(&self) -> u64 {
        self.utterances.load(Ordering::Relaxed)
    }

    /// The configured entity lists (machine names and the like).
    pub fn entity_lists(&self) -> &edge_core::EntityLists {
        &self.config.nlu.entities
    }

    /// Every outcome, whichever API the utterance came from.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Outcome>> {
        self.events.subscribe()
    }

    /// Recognises `text`, acts on it, and publishes the outcome to every subscriber.
    pub async fn handle(
        &self,
        text: &str,
        origin: UtteranceOrigin,
    ) -> Result<Arc<Outcome>, InputError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(InputError::TooLong { len: text.len() });
        }
        if text.trim().is_empty() {
            return Err(InputError::Empty);
        }
        let utterance = Utterance {
            id: uuid::Uuid::new_v4().to_string(),
            text: text.to_owned(),
            origin,
        };
        let started = Instant::now();
        let catalog = self.catalog();
        let mut recognition = catalog.engine.recognize(&utterance.text);
        let mut question = None;
        let mut slm = None;
        if recognition.is_none()
            && let Some(language) = self.language.get()
            && let Some(answer) = language.recognize(&catalog, &utterance.text).await
        {
            recognition = answer.recognition;
            question = answer.question;
            slm = answer.slm;
        }
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (response, action) = match question {
            // Unsure: ask, never guess an action.
            Some(question) => (question, None),
            None => self.respond(&catalog, &utterance, &recognition).await,
        };
        if let Some(language) = self.language.get() {
            language.remember(&recognition);
        }
        self.utterances.fetch_add(1, Ordering::Relaxed);
        let outcome = Arc::new(Outcome {
            utterance_id: utterance.id,
            text: utterance.text,
            origin,
            recognition,
            response,
            action,
            latency_us,
            slm,
        });
        tracing::info!(
            utterance_id = %outcome.utterance_id,
            origin = ?origin,
            intent = %outcome.recognition.intent,
            confidence = outcome.recognition.confidence,
            latency_us,
            response = %outcome.response,
            "recognised"
        );
        // No subscriber (no API enabled) is not an error.
        let _ = self.events.send(outcome.clone());
        Ok(outcome)
    }

    /// The answer, and what was done. Dialogue answers (yes/no/cancel) go to a pending
    /// confirmation; other intents to the code of the skill that owns them, or, for a skill
    /// without code, to its `say` text.
    async fn respond(
        &self,
        catalog: &Catalog,
        utterance: &Utterance,
        recognition: &Recognition,
    ) -> (String, Option<ActOutcome>) {
        if recognition.is_none() {
            return (CANNOT_HELP.to_owned(), None);
        }
        let say = catalog
            .intents
            .get(&recognition.intent)
            .and_then(|i| i.render_say(&recognition.slots))
            .unwrap_or_else(|| format!("Recognised {}", recognition.intent));
        if let Some(actuator) = &self.actuator {
            let origin = Origin::Utterance {
                id: utterance.id.clone(),
                intent: recognition.intent.clone(),
            };
            match recognition.intent.as_str() {
                "dialog.yes" => {
                    return match actuator.confirm(origin).await {
                        Some((outcome, done_text)) => (answer(&outcome, &done_text), Some(outcome)),
                        None => ("There is nothing to confirm.".to_owned(), None),
                    };
                }
                "dialog.no" | "dialog.cancel" => {
                    let text = if actuator.decline() {
                        "Okay, I won't."
                    } else {
                        "Okay."
                    };
                    return (text.to_owned(), None);
                }
                _ => {}
            }
        }
        // The template names its skill; an SLM or remote answer names only the intent.
        let Some(skill) = recognition
            .template
            .as_ref()
            .map(|t| t.skill.as_str())
            .or_else(|| catalog.skill_of(&recognition.intent))
        else {
            return (say, None);
        };
        if !self.skill_host.has(skill) {
            return (say, None);
        }
        let services = Arc::new(Services {
            actuator: self.actuator.clone(),
            mqtt: self.plant_broker.clone(),
            dbus: self.vehicle_bus.clone(),
            last_action: std::sync::Mutex::new(None),
        });
        let ctx = CallContext {
            skill: skill.to_owned(),
            utterance_id: utterance.id.clone(),
            intent: recognition.intent.clone(),
            done_text: say,
        };
        let result = self
            .skill_host
            .invoke(
                skill,
                wit_intent(utterance, recognition),
                ctx,
                services.clone(),
            )
            .await;
        let last_action = services
            .last_action
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match result {
            Ok(out) => {
                let mut text = out.said_before.join(" ");
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&out.say);
                (text, last_action)
            }
            Err(InvokeError::Skill {
                message,
                denied: true,
                ..
            }) => (
                message.clone(),
                Some(ActOutcome::Denied { reason: message }),
            ),
            Err(e) => {
                tracing::warn!(%skill, "{e}");
                if let Some(actuator) = &self.actuator {
                    actuator.record_event(
                        Origin::Skill {
                            name: skill.to_owned(),
                            utterance_id: utterance.id.clone(),
                        },
                        &recognition.intent,
                        "skill-failed",
                        e.to_string(),
                    );
                }
                (
                    format!("Sorry, I couldn't do that: {e}."),
                    last_action.or(Some(ActOutcome::Failed {
                        error: e.to_string(),
                    })),
                )
            }
        }
    }
}

/// The intent as the skill's handler receives it.
fn wit_intent(utterance: &Utterance, recognition: &Recognition) -> edge_skill_host::Intent {
    use edge_skill_host::{Slot, SlotValue as WitSlot};
    edge_skill_host::Intent {
        name: recognition.intent.clone(),
        slots: recognition
            .slots
            .iter()
            .map(|(name, value)| Slot {
                name: name.clone(),
                value: match value {
                    edge_core::SlotValue::Integer(i) => WitSlot::Integer(*i),
                    edge_core::SlotValue::Number(n) => WitSlot::Number(*n),
                    edge_core::SlotValue::Text(t) => WitSlot::Text(t.clone()),
                },
            })
            .collect(),
        text: utterance.text.clone(),
        utterance_id: utterance.id.clone(),
        session_id: "default".to_owned(),
    }
}

/// What the agent says for an outcome.
fn answer(outcome: &ActOutcome, done_text: &str) -> String {
    match outcome {
        ActOutcome::Done => done_text.to_owned(),
        ActOutcome::Denied { reason } => reason.clone(),
        ActOutcome::Confirm { question } => question.clone(),
        ActOutcome::Failed { error } => format!("Sorry, I couldn't do that: {error}."),
    }
}
