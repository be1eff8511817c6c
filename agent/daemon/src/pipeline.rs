//! Text in, recognition and response out, and an event to every API for each utterance.
//! Each utterance belongs to a station's conversation (edge-dialogue): it may answer the
//! open question (a confirmation, a skill's follow-up), cancel it, or be a new command.

use crate::actuator::{ActOutcome, Actuator};
pub use crate::catalog::Catalog;
use crate::language::FreeTextReading;
use crate::skills::Services;
use edge_audit::Origin;
use edge_config::AgentConfig;
use edge_core::{Recognition, Utterance, UtteranceOrigin};
use edge_dialogue::{
    Dialogue, Expect, FollowUp, Open, Route, SessionEvent, SessionReason, SessionState,
    SessionView, TurnKind,
};
use edge_intent::{Doubt, HeardDoubts};
use edge_skill_host::{CallContext, Expected, InvokeError, SkillHost};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
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
    /// The station the utterance came from.
    pub station: String,
    /// The station's conversation.
    pub session_id: String,
    /// What the utterance was to the conversation: `command`, `answer`, `confirmed`,
    /// `declined`, `cancelled`, `reasked`.
    pub turn: TurnKind,
    /// The question now open on the station, if any: the next utterance answers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<String>,
}

/// One utterance on its way through the conversation.
struct Turn<'a> {
    utterance: &'a Utterance,
    recognition: &'a Recognition,
    station: &'a str,
    session_id: &'a str,
}

/// A wake word heard, as the APIs announce it (D-Bus `WakeDetected`, MQTT `events/wake`).
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct WakeEvent {
    /// The phrase (`okay_nabu`).
    pub name: String,
    /// The detector's probability, when the server gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Where in the stream it was heard (ms since listening for it began).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_ms: Option<u64>,
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
    /// The SLM and escalation tiers, asked when the templates reject an utterance.
    language: std::sync::OnceLock<Arc<crate::language::Language>>,
    /// Every station's conversation; a pending write is an actuator token.
    dialogue: Dialogue<u64>,
    session_events: broadcast::Sender<SessionEvent>,
    /// Wake words heard, for the APIs.
    wake_events: broadcast::Sender<WakeEvent>,
    /// What `[metrics]` serves; recorded whether or not it is served (it costs atomics).
    metrics: Arc<edge_metrics::Metrics>,
}

impl Pipeline {
    /// The pipeline over the skills of `config`.
    pub fn from_config(config: &AgentConfig, skill_host: Arc<SkillHost>) -> Self {
        let catalog = Catalog::build(config, &skill_host);
        let (events, _) = broadcast::channel(256);
        let (session_events, _) = broadcast::channel(64);
        let (wake_events, _) = broadcast::channel(16);
        let dialogue = Dialogue::new(edge_dialogue::Timeouts {
            confirmation: Duration::from_secs(config.policy.confirmation_timeout_secs),
            follow_up: Duration::from_secs(config.dialogue.follow_up_timeout_secs),
        });
        Self {
            config: config.clone(),
            catalog: RwLock::new(Arc::new(catalog)),
            reloading: Mutex::new(()),
            events,
            utterances: AtomicU64::new(0),
            actuator: None,
            skill_host,
            language: std::sync::OnceLock::new(),
            dialogue,
            session_events,
            wake_events,
            metrics: Arc::new(edge_metrics::Metrics::new()),
        }
    }

    /// The metrics every part records into.
    pub fn metrics(&self) -> &Arc<edge_metrics::Metrics> {
        &self.metrics
    }

    /// Every change of a conversation (asked, answered, closed and why).
    pub fn subscribe_sessions(&self) -> broadcast::Receiver<SessionEvent> {
        self.session_events.subscribe()
    }

    /// Wake words heard (announced on both APIs).
    pub fn subscribe_wake(&self) -> broadcast::Receiver<WakeEvent> {
        self.wake_events.subscribe()
    }

    /// Announces a wake word to the APIs' subscribers.
    pub fn announce_wake(&self, event: WakeEvent) {
        let _ = self.wake_events.send(event);
    }

    /// The open conversations.
    pub fn sessions(&self) -> Vec<SessionView> {
        self.dialogue.views()
    }

    fn session_event(
        &self,
        station: &str,
        session_id: &str,
        state: SessionState,
        reason: SessionReason,
        open: Option<&Open<u64>>,
    ) {
        let event = SessionEvent {
            station: station.to_owned(),
            session_id: session_id.to_owned(),
            state,
            reason,
            question: open.map(|o| o.question().to_owned()),
            skill: match open {
                Some(Open::FollowUp(f)) => Some(f.skill.clone()),
                _ => None,
            },
        };
        tracing::info!(%station, %session_id, ?state, reason = reason.as_str(), "conversation");
        let _ = self.session_events.send(event);
    }

    /// Opens `question` on the station, dropping (and auditing) a question it replaces.
    fn ask(&self, station: &str, session_id: &str, question: Open<u64>) {
        let reason = match &question {
            Open::Confirmation { .. } => SessionReason::Confirmation,
            Open::FollowUp(_) => SessionReason::FollowUp,
            Open::Clarification(_) => SessionReason::Clarification,
        };
        self.session_event(
            station,
            session_id,
            SessionState::Asked,
            reason,
            Some(&question),
        );
        if let Some(old) = self.dialogue.ask(station, session_id, question) {
            self.drop_question(&old, SessionReason::Superseded);
        }
    }

    /// Ends the station's conversation for `reason` when no question was open.
    fn close_session(&self, station: &str, session_id: &str, reason: SessionReason) {
        self.session_event(station, session_id, SessionState::Closed, reason, None);
    }

    /// A "Did you mean ...?" that a new command replaced.
    fn clarification_superseded(
        &self,
        station: &str,
        session_id: &str,
        asked: edge_dialogue::Clarification,
    ) {
        let open = Open::Clarification(asked);
        self.session_event(
            station,
            session_id,
            SessionState::Closed,
            SessionReason::Superseded,
            Some(&open),
        );
    }

    /// Audits the write a dropped confirmation held.
    fn drop_question(&self, open: &Open<u64>, why: SessionReason) {
        if let (Open::Confirmation { pending, .. }, Some(actuator)) = (open, &self.actuator) {
            actuator.drop_pending(*pending, why.as_str());
        }
    }

    /// A write that the policy wants confirmed, requested outside an utterance (D-Bus
    /// `SetSignal`): the question opens on the default station.
    pub fn hold_confirmation(&self, question: &str, token: u64) {
        let station = self.config.dialogue.station.clone();
        let session_id = self.dialogue.session_id(&station);
        self.ask(
            &station,
            &session_id,
            Open::Confirmation {
                question: question.to_owned(),
                pending: token,
                then: None,
            },
        );
    }

    /// Closes the questions nobody answered in time; their writes are dropped and audited
    /// as `expired`. Called periodically.
    pub fn expire_sessions(&self) {
        for (station, session_id, open) in self.dialogue.expire(Instant::now()) {
            self.drop_question(&open, SessionReason::Expired);
            self.session_event(
                &station,
                &session_id,
                SessionState::Closed,
                SessionReason::Expired,
                Some(&open),
            );
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

    /// What `text` means on its own, as a second opinion on another reading of the same
    /// audio: the template tier's intent, else the one the embedding tier would act on or
    /// ask about (never the SLM or escalation: slow, and a guess is no corroboration). No
    /// dialogue, audit or metrics.
    pub async fn second_opinion(&self, text: &str) -> Option<String> {
        let catalog = self.catalog();
        let recognition = catalog.engine.recognize(text);
        if !recognition.is_none() {
            return Some(recognition.intent);
        }
        self.language.get()?.leaning_intent(&catalog, text).await
    }

    /// Whether the default station has a question open (a confirmation, a "Did you say
    /// ...?", a skill's follow-up) that an utterance now would answer.
    pub fn question_open(&self) -> bool {
        self.dialogue.is_open(&self.config.dialogue.station)
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
    pub fn with_hal(mut self, actuator: crate::actuator::Actuator) -> Self {
        self.actuator = Some(Arc::new(actuator.with_metrics(self.metrics.clone())));
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

    /// Recognises `text` from the default station, acts on it, and publishes the outcome.
    pub async fn handle(
        &self,
        text: &str,
        origin: UtteranceOrigin,
    ) -> Result<Arc<Outcome>, InputError> {
        self.handle_at(text, origin, None).await
    }

    /// Recognises `text` from `station` (the default one when `None`), acts on it within
    /// the station's conversation, and publishes the outcome to every subscriber.
    pub async fn handle_at(
        &self,
        text: &str,
        origin: UtteranceOrigin,
        station: Option<&str>,
    ) -> Result<Arc<Outcome>, InputError> {
        self.handle_heard(text, origin, station, &HeardDoubts::default())
            .await
    }

    /// As [`Self::handle_at`], for a transcript the recogniser had `doubts` about: a command
    /// whose free-text slot (a media query, a destination) holds a word it was unsure of,
    /// or that a rival reading makes another command, is asked about ("Did you say: play
    /// some chairs?", "Did you say: start pump 2?"), never acted on blindly.
    pub async fn handle_heard(
        &self,
        text: &str,
        origin: UtteranceOrigin,
        station: Option<&str>,
        doubts: &HeardDoubts,
    ) -> Result<Arc<Outcome>, InputError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(InputError::TooLong { len: text.len() });
        }
        if text.trim().is_empty() {
            return Err(InputError::Empty);
        }
        let station = station
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.config.dialogue.station)
            .to_owned();
        // Questions that ran out are closed first, so a late "yes" confirms nothing.
        self.expire_sessions();
        let session_id = self.dialogue.session_id(&station);
        let utterance = Utterance {
            id: uuid::Uuid::new_v4().to_string(),
            text: text.to_owned(),
            origin,
        };
        let started = Instant::now();
        let catalog = self.catalog();
        let mut recognition = catalog.engine.recognize(&utterance.text);
        let mut question = None;
        let mut clarification = None;
        let mut slm = None;
        // An answer to an open question is not a command for the SLM to guess at. But an
        // utterance that does not answer the language tier's own question (neither yes nor
        // no, no value for the slot it asked for) is a new command: the question ends.
        let mut answering = self.dialogue.is_open(&station);
        if answering
            && recognition.is_none()
            && let Some(asked) = self.dialogue.clarification(&station)
            && !answers(&catalog, &asked, &utterance.text)
            && let Some(asked) = self.dialogue.take_clarification(&station)
        {
            self.clarification_superseded(&station, &session_id, asked);
            answering = false;
        }
        // A reading that rests on free text ("play {query}") is acted on only when the
        // embedding tier agrees; overruled, it is read as if the templates rejected it.
        let mut overruled = None;
        if !answering
            && catalog.engine.rests_on_free_text(&recognition)
            && let Some(language) = self.language.get()
            && let FreeTextReading::Overruled(answer) = language
                .second_look(&catalog, &utterance.text, &recognition.intent)
                .await
        {
            recognition = Recognition::none();
            overruled = Some(answer);
        }
        if !answering {
            clarification = doubt_heard(&catalog, &recognition, &utterance.text, doubts);
            question = clarification.as_ref().map(|c| c.question.clone());
        }
        if recognition.is_none()
            && !answering
            && let Some(language) = self.language.get()
            && let Some(answer) = match overruled {
                Some(answer) => *answer,
                None => language.recognize(&catalog, &utterance.text).await,
            }
        {
            recognition = answer.recognition;
            question = answer.question;
            clarification = answer.clarification;
            slm = answer.slm;
            // A free-text slot a later tier filled is doubted as the templates' would be.
            if let Some(asked) = doubt_heard(&catalog, &recognition, &utterance.text, doubts) {
                question = Some(asked.question.clone());
                clarification = Some(asked);
            }
        }
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let skill = recognition
            .template
            .as_ref()
            .map(|t| t.skill.clone())
            .or_else(|| catalog.skill_of(&recognition.intent).map(str::to_owned));
        let mut route = self.dialogue.route(
            &station,
            &recognition.intent,
            skill.as_deref(),
            Instant::now(),
        );
        // The answer to the language tier's question: act on what it asked about, or on
        // nothing; a new command ends the question.
        match route {
            Route::Clarified(asked) => {
                let meant = clarified(&catalog, &asked, &recognition, &utterance.text);
                let close = match &meant {
                    Meant::Act(_) | Meant::AskSlot(_) => SessionReason::Clarified,
                    Meant::Otherwise(_) | Meant::Nothing => SessionReason::Declined,
                };
                let open = Open::Clarification(asked);
                self.session_event(
                    &station,
                    &session_id,
                    SessionState::Closed,
                    close,
                    Some(&open),
                );
                match meant {
                    Meant::Act(r) => recognition = r,
                    Meant::AskSlot(next) | Meant::Otherwise(next) => {
                        question = Some(next.question.clone());
                        clarification = Some(next);
                    }
                    Meant::Nothing => {}
                }
                route = Route::Command;
            }
            Route::Unclarified(asked) => {
                self.clarification_superseded(&station, &session_id, asked);
                route = Route::Command;
            }
            _ => {}
        }
        let turn = Turn {
            utterance: &utterance,
            recognition: &recognition,
            station: &station,
            session_id: &session_id,
        };
        let (kind, response, action) = match (question, clarification) {
            // Near the threshold or a slot missing: ask, and act on the answer.
            (Some(question), Some(asked)) => {
                self.ask(&station, &session_id, Open::Clarification(asked));
                (TurnKind::Command, question, None)
            }
            // Unsure: ask, never guess an action.
            (Some(question), None) => (TurnKind::Command, question, None),
            (None, _) => self.converse(&catalog, &turn, route).await,
        };
        if let Some(language) = self.language.get() {
            language.remember(&recognition);
        }
        self.utterances.fetch_add(1, Ordering::Relaxed);
        let awaiting = self.dialogue.open_question(&station);
        let outcome = Arc::new(Outcome {
            utterance_id: utterance.id,
            text: utterance.text,
            origin,
            recognition,
            response,
            action,
            latency_us,
            slm,
            station,
            session_id,
            turn: kind,
            awaiting,
        });
        tracing::info!(
            utterance_id = %outcome.utterance_id,
            origin = ?origin,
            station = %outcome.station,
            intent = %outcome.recognition.intent,
            confidence = outcome.recognition.confidence,
            turn = ?kind,
            latency_us,
            response = %outcome.response,
            "recognised"
        );
        // No subscriber (no API enabled) is not an error.
        let _ = self.events.send(outcome.clone());
        Ok(outcome)
    }

    /// What the utterance does to the station's conversation, and the answer.
    async fn converse(
        &self,
        catalog: &Catalog,
        turn: &Turn<'_>,
        route: Route<u64>,
    ) -> (TurnKind, String, Option<ActOutcome>) {
        let (station, session_id) = (turn.station, turn.session_id);
        match route {
            // The language tier's question was settled before: what remains is a command.
            Route::Command | Route::Clarified(_) | Route::Unclarified(_) => {
                let (text, action) = self.respond(catalog, turn, None).await;
                (TurnKind::Command, text, action)
            }
            Route::NewCommand { superseded } => {
                let kept = superseded.is_none();
                if let Some(open) = &superseded {
                    self.drop_question(open, SessionReason::Superseded);
                    self.session_event(
                        station,
                        session_id,
                        SessionState::Closed,
                        SessionReason::Superseded,
                        Some(open),
                    );
                }
                let (mut text, action) = self.respond(catalog, turn, None).await;
                // The question still open is put again after the answer.
                if kept && let Some(question) = self.dialogue.open_question(station) {
                    text = format!("{text} {question}");
                }
                (TurnKind::Command, text, action)
            }
            Route::Cancelled(open) => {
                self.drop_question(&open, SessionReason::Cancelled);
                self.session_event(
                    station,
                    session_id,
                    SessionState::Closed,
                    SessionReason::Cancelled,
                    Some(&open),
                );
                (TurnKind::Cancelled, "Okay, cancelled.".to_owned(), None)
            }
            Route::Reask(question) => (
                TurnKind::Reasked,
                format!("Please say yes or no. {question}"),
                None,
            ),
            Route::Confirmed { pending, then } => {
                self.session_event(
                    station,
                    session_id,
                    SessionState::Answered,
                    SessionReason::Confirmed,
                    None,
                );
                let Some(actuator) = &self.actuator else {
                    return (
                        TurnKind::Confirmed,
                        "There is nothing to confirm.".to_owned(),
                        None,
                    );
                };
                let Some((outcome, done_text)) = actuator.confirm(pending).await else {
                    return (
                        TurnKind::Confirmed,
                        "There is nothing to confirm.".to_owned(),
                        None,
                    );
                };
                let mut text = answer(&outcome, &done_text);
                if let Some(follow_up) = then {
                    text = format!("{text} {}", follow_up.question);
                    self.ask(station, session_id, Open::FollowUp(follow_up));
                } else {
                    self.close_session(station, session_id, SessionReason::Confirmed);
                }
                (TurnKind::Confirmed, text, Some(outcome))
            }
            Route::Declined { pending, then } => {
                self.session_event(
                    station,
                    session_id,
                    SessionState::Answered,
                    SessionReason::Declined,
                    None,
                );
                if let Some(actuator) = &self.actuator {
                    actuator.drop_pending(pending, SessionReason::Declined.as_str());
                }
                let mut text = "Okay, I won't.".to_owned();
                if let Some(follow_up) = then {
                    text = format!("{text} {}", follow_up.question);
                    self.ask(station, session_id, Open::FollowUp(follow_up));
                } else {
                    self.close_session(station, session_id, SessionReason::Declined);
                }
                (TurnKind::Declined, text, None)
            }
            Route::Answer(follow_up) => {
                self.session_event(
                    station,
                    session_id,
                    SessionState::Answered,
                    SessionReason::FollowUp,
                    None,
                );
                let answer = read_answer(catalog, &follow_up, turn);
                let (text, action) = self.respond(catalog, turn, Some((follow_up, answer))).await;
                (TurnKind::Answer, text, action)
            }
        }
    }

    /// The answer, and what was done. A command goes to the code of the skill that owns
    /// its intent (or, for a skill without code, to its `say` text); an answer to a skill's
    /// question goes back to that skill with its context. A question the skill asks, or a
    /// confirmation one of its writes needs, opens on the station.
    async fn respond(
        &self,
        catalog: &Catalog,
        turn: &Turn<'_>,
        reply: Option<(FollowUp, edge_dialogue::Answer)>,
    ) -> (String, Option<ActOutcome>) {
        let (utterance, recognition) = (turn.utterance, turn.recognition);
        let (station, session_id) = (turn.station, turn.session_id);
        let (skill, intent_name, slots) = match &reply {
            Some((f, _)) => (f.skill.clone(), f.intent.clone(), f.slots.clone()),
            None => {
                if recognition.is_none() {
                    return (CANNOT_HELP.to_owned(), None);
                }
                match recognition.intent.as_str() {
                    edge_dialogue::YES => return ("There is nothing to confirm.".to_owned(), None),
                    edge_dialogue::NO | edge_dialogue::CANCEL => return ("Okay.".to_owned(), None),
                    _ => {}
                }
                let say = catalog
                    .intents
                    .get(&recognition.intent)
                    .and_then(|i| i.render_say(&recognition.slots))
                    .unwrap_or_else(|| format!("Recognised {}", recognition.intent));
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
                (
                    skill.to_owned(),
                    recognition.intent.clone(),
                    recognition.slots.clone(),
                )
            }
        };
        if !self.skill_host.has(&skill) {
            self.close_session(station, session_id, SessionReason::Failed);
            return (
                format!("Sorry, the {skill} skill is no longer installed."),
                None,
            );
        }
        let done_text = if reply.is_some() {
            "Done.".to_owned()
        } else {
            catalog
                .intents
                .get(&intent_name)
                .and_then(|i| i.render_say(&slots))
                .unwrap_or_else(|| "Done.".to_owned())
        };
        let services = Arc::new(Services {
            actuator: self.actuator.clone(),
            language: self
                .language
                .get()
                .map(|l| l.clone() as Arc<dyn crate::skills::Chooser>),
            last_action: std::sync::Mutex::new(None),
        });
        let ctx = CallContext {
            skill: skill.clone(),
            utterance_id: utterance.id.clone(),
            intent: intent_name.clone(),
            done_text,
        };
        let wit = wit_intent(turn, &intent_name, &slots, reply.as_ref());
        let invoked = std::time::Instant::now();
        let result = self
            .skill_host
            .invoke(&skill, wit, ctx, services.clone())
            .await;
        self.metrics.skill(
            &skill,
            match &result {
                Ok(_) => "ok",
                Err(edge_skill_host::InvokeError::Deadline { .. }) => "deadline",
                Err(edge_skill_host::InvokeError::Trap { .. }) => "trap",
                Err(_) => "error",
            },
            invoked.elapsed(),
        );
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
                let follow_up = out.follow_up.map(|q| FollowUp {
                    skill: skill.clone(),
                    intent: intent_name.clone(),
                    slots: slots.clone(),
                    question: q.text,
                    expect: match q.expect {
                        Expected::YesNo => Expect::YesNo,
                        Expected::Value(slot) => Expect::Value(slot),
                        Expected::FreeText => Expect::FreeText,
                    },
                    context: q.context,
                });
                match (&last_action, follow_up) {
                    // The policy's question first; the skill's question after it is settled.
                    (Some(ActOutcome::Confirm { question, token }), then) => self.ask(
                        station,
                        session_id,
                        Open::Confirmation {
                            question: question.clone(),
                            pending: *token,
                            then,
                        },
                    ),
                    (_, Some(follow_up)) => {
                        text = format!("{} {}", text.trim_end(), follow_up.question);
                        self.ask(station, session_id, Open::FollowUp(follow_up));
                    }
                    (_, None) if reply.is_some() => {
                        self.close_session(station, session_id, SessionReason::Concluded);
                    }
                    (_, None) => {}
                }
                (text.trim().to_owned(), last_action)
            }
            Err(e) => {
                if reply.is_some() {
                    self.close_session(station, session_id, SessionReason::Failed);
                }
                match e {
                    InvokeError::Skill {
                        message,
                        denied: true,
                        ..
                    } => (
                        message.clone(),
                        Some(ActOutcome::Denied { reason: message }),
                    ),
                    e => {
                        tracing::warn!(%skill, "{e}");
                        if let Some(actuator) = &self.actuator {
                            actuator.record_event(
                                Origin::Skill {
                                    name: skill.clone(),
                                    utterance_id: utterance.id.clone(),
                                },
                                &intent_name,
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
    }
}

/// The answer as the asking skill gets it: yes/no as the templates read them, a value
/// read for the asked slot, or the words.
/// Whether `said` answers `asked` (when the templates found no intent in it): only with
/// the value of the slot it asked for.
fn answers(catalog: &Catalog, asked: &edge_dialogue::Clarification, said: &str) -> bool {
    match &asked.expect {
        Expect::Value(slot) => catalog
            .engine
            .spot_slots(&asked.intent, said)
            .contains_key(slot),
        _ => false,
    }
}

/// The question to ask instead of acting when the recogniser's doubts make `recognition`
/// doubtful (`TemplateEngine::doubt`): a free-text slot (a destination, a media query) with
/// a word heard unsurely, a lenient tier's reading of a word barely heard, or a rival
/// reading of the audio that is another command ("stop pump 2" nearly as likely as "start
/// pump 2").
fn doubt_heard(
    catalog: &Catalog,
    recognition: &Recognition,
    text: &str,
    doubts: &HeardDoubts,
) -> Option<edge_dialogue::Clarification> {
    let doubt = catalog.engine.doubt(recognition, text, doubts)?;
    let mut asked = did_you_say(recognition, text);
    // A no to the one is a question about the other: the audio said one of the two, and
    // saying it again would be heard the same way.
    if let Doubt::Rival(rival) = &doubt {
        let other = catalog.engine.recognize(rival);
        if !other.is_none() {
            asked.otherwise = Some(Box::new(did_you_say(&other, rival)));
        }
    }
    match doubt {
        Doubt::Rival(rival) => {
            tracing::info!(intent = %recognition.intent, %rival, question = %asked.question, "another command nearly as likely: asking");
        }
        Doubt::FreeText | Doubt::BarelyHeard => {
            tracing::info!(intent = %recognition.intent, ?doubt, question = %asked.question, "unsure of a word heard: asking");
        }
    }
    Some(asked)
}

/// "Did you say ...?" about `recognition`, read from `text`: the words heard, in the
/// listener's words (hesitations and politeness dropped), since the words are the doubt.
fn did_you_say(recognition: &Recognition, text: &str) -> edge_dialogue::Clarification {
    let heard = edge_intent::normalize::normalize(text).join(" ");
    edge_dialogue::Clarification {
        intent: recognition.intent.clone(),
        slots: recognition.slots.clone(),
        question: format!("Did you say: {heard}? Say yes or no."),
        expect: edge_dialogue::Expect::YesNo,
        otherwise: None,
    }
}

/// What an answer to the language tier's question means.
enum Meant {
    /// The intent asked about, with every required slot.
    Act(edge_core::Recognition),
    /// Yes, but a required slot is still missing: ask for it.
    AskSlot(edge_dialogue::Clarification),
    /// No, to a question with another command to ask about: ask that one.
    Otherwise(edge_dialogue::Clarification),
    /// No, or an answer that names no value.
    Nothing,
}

/// What the answer `said` (recognised as `heard`) to `asked` means.
fn clarified(
    catalog: &Catalog,
    asked: &edge_dialogue::Clarification,
    heard: &edge_core::Recognition,
    said: &str,
) -> Meant {
    let mut slots = asked.slots.clone();
    match &asked.expect {
        Expect::Value(slot) => {
            let mut found = catalog.engine.spot_slots(&asked.intent, said);
            let Some(value) = found.remove(slot) else {
                return Meant::Nothing;
            };
            slots.insert(slot.clone(), value);
        }
        _ if heard.intent == edge_dialogue::YES => {}
        _ if heard.intent == edge_dialogue::NO => {
            return asked
                .otherwise
                .as_deref()
                .map_or(Meant::Nothing, |other| Meant::Otherwise(other.clone()));
        }
        _ => return Meant::Nothing,
    }
    let missing = catalog
        .engine
        .required_slots(&asked.intent)
        .into_iter()
        .find(|name| !slots.contains_key(name));
    if let Some(slot) = missing {
        let next = edge_embedding::tier::ask_for_slot(&catalog.engine, &asked.intent, slots, slot);
        return Meant::AskSlot(crate::language::dialogue_question(next));
    }
    Meant::Act(edge_core::Recognition {
        intent: asked.intent.clone(),
        slots,
        confidence: 1.0,
        tier: edge_core::Tier::Embedding,
        ..edge_core::Recognition::none()
    })
}

fn read_answer(catalog: &Catalog, asked: &FollowUp, turn: &Turn<'_>) -> edge_dialogue::Answer {
    use edge_dialogue::Answer;
    match turn.recognition.intent.as_str() {
        edge_dialogue::YES => return Answer::Yes,
        edge_dialogue::NO => return Answer::No,
        _ => {}
    }
    if let Expect::Value(slot) = &asked.expect
        && let Some(spec) = catalog
            .engine
            .schema_with_examples(0)
            .intent(&asked.intent)
            .cloned()
        && let Some(value) = spec.literal_slots(&turn.utterance.text).remove(slot)
    {
        return Answer::Value(value);
    }
    Answer::Text(turn.utterance.text.clone())
}

fn wit_slot(value: &edge_core::SlotValue) -> edge_skill_host::SlotValue {
    use edge_skill_host::SlotValue as WitSlot;
    match value {
        edge_core::SlotValue::Integer(i) => WitSlot::Integer(*i),
        edge_core::SlotValue::Number(n) => WitSlot::Number(*n),
        edge_core::SlotValue::Text(t) => WitSlot::Text(t.clone()),
    }
}

/// The intent as the skill's handler receives it; with the reply when it answers the
/// skill's question.
fn wit_intent(
    turn: &Turn<'_>,
    intent: &str,
    slots: &edge_core::Slots,
    reply: Option<&(FollowUp, edge_dialogue::Answer)>,
) -> edge_skill_host::Intent {
    use edge_skill_host::{Answer as WitAnswer, Reply, Slot};
    edge_skill_host::Intent {
        name: intent.to_owned(),
        slots: slots
            .iter()
            .map(|(name, value)| Slot {
                name: name.clone(),
                value: wit_slot(value),
            })
            .collect(),
        text: turn.utterance.text.clone(),
        utterance_id: turn.utterance.id.clone(),
        session_id: turn.session_id.to_owned(),
        station: turn.station.to_owned(),
        reply: reply.map(|(asked, answer)| Reply {
            question: asked.question.clone(),
            answer: match answer {
                edge_dialogue::Answer::Yes => WitAnswer::Yes,
                edge_dialogue::Answer::No => WitAnswer::No,
                edge_dialogue::Answer::Value(v) => WitAnswer::Value(wit_slot(v)),
                edge_dialogue::Answer::Text(t) => WitAnswer::Text(t.clone()),
            },
            context: asked.context.clone(),
        }),
    }
}

/// What the agent says for an outcome.
fn answer(outcome: &ActOutcome, done_text: &str) -> String {
    match outcome {
        ActOutcome::Done => done_text.to_owned(),
        ActOutcome::Denied { reason } => reason.clone(),
        ActOutcome::Confirm { question, .. } => question.clone(),
        ActOutcome::Failed { error } => format!("Sorry, I couldn't do that: {error}."),
    }
}
