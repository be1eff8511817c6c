//! The dialogue manager: one conversation per station (a car cabin, a machine's operator
//! panel), each with at most one open question, either the safety policy's confirmation of
//! a write or a skill's follow-up question. It decides what an utterance is to the
//! conversation ([`Route`]): an answer, a cancel, a new command; and it expires questions
//! nobody answered. Pure and synchronous: the daemon performs writes, calls skills and
//! publishes the [`SessionEvent`]s.
//!
//! Rule for a new command while a question is open (docs/ARCHITECTURE.md):
//! - a confirmation is superseded by any other recognised command (its write is dropped
//!   and audited), so a later "yes" can never confirm something the person moved on from;
//!   anything unrecognised gets the question again;
//! - a skill's question stays open across a command of another skill, recognised exactly
//!   by the templates ("what is the vibration on pump 3" in the middle of troubleshooting);
//!   a command of the asking skill itself starts over; everything else is the answer.
//!
//! [`DialogueSection`] is its configuration section, `[dialogue]`.
//!
//! Must not depend on the transports, the HAL or the skill host.

mod section;

pub use section::DialogueSection;

use edge_core::intent::NONE_INTENT as NONE;
use edge_core::{SlotValue, Slots};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The intents of the built-in dialog skill.
pub const YES: &str = "dialog.yes";
/// "no".
pub const NO: &str = "dialog.no";
/// "cancel", "never mind".
pub const CANCEL: &str = "dialog.cancel";

/// How a skill's question is to be answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "type", rename_all = "kebab-case")]
pub enum Expect {
    /// Yes or no.
    YesNo,
    /// A value for the asking intent's slot of this name.
    Value(String),
    /// Anything.
    FreeText,
}

/// A skill's open question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowUp {
    /// The skill that asked; the answer goes to it.
    pub skill: String,
    /// The intent that asked, handed back with the answer.
    pub intent: String,
    /// Its slots.
    pub slots: Slots,
    /// What was asked.
    pub question: String,
    /// How to read the answer.
    pub expect: Expect,
    /// The skill's state, handed back.
    #[serde(skip)]
    pub context: String,
}

/// A language tier's question before it acts: "Did you mean: start a machine, pump 3?"
/// (yes or no) or "Which machine?" (the missing slot's value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clarification {
    /// The intent it would act on.
    pub intent: String,
    /// With these slots.
    pub slots: Slots,
    /// What was asked.
    pub question: String,
    /// How to read the answer: [`Expect::YesNo`] or [`Expect::Value`] of the missing slot.
    pub expect: Expect,
    /// Asked next when the answer is no: the other command the audio nearly said ("Did
    /// you say: stop pump 2?" after "Did you say: start pump 2?" was answered no).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<Box<Clarification>>,
}

/// The open question of a conversation. `P` is the daemon's pending write.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Open<P> {
    /// The safety policy asks before a write.
    Confirmation {
        /// "Stop pump 4? Say yes to confirm."
        question: String,
        /// The write waiting for yes.
        #[serde(skip)]
        pending: P,
        /// A skill's question to ask once the confirmation is settled.
        #[serde(skip_serializing_if = "Option::is_none")]
        then: Option<FollowUp>,
    },
    /// A skill asks.
    FollowUp(FollowUp),
    /// A language tier asks what was meant before acting.
    Clarification(Clarification),
}

impl<P> Open<P> {
    /// What was asked.
    pub fn question(&self) -> &str {
        match self {
            Open::Confirmation { question, .. } => question,
            Open::FollowUp(f) => &f.question,
            Open::Clarification(c) => &c.question,
        }
    }
}

/// What the answer to a skill's question was.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Yes.
    Yes,
    /// No.
    No,
    /// A value read from the utterance.
    Value(SlotValue),
    /// The words.
    Text(String),
}

/// What an utterance is to its station's conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Route<P> {
    /// Nothing is open: an ordinary command.
    Command,
    /// A new command while a question is open; `superseded` is the question it ended
    /// (a confirmation, or the asking skill's own question), `None` when the question
    /// stays open.
    NewCommand {
        /// The question dropped, if any.
        superseded: Option<Open<P>>,
    },
    /// "Cancel": the question is dropped and the conversation ends.
    Cancelled(Open<P>),
    /// Yes to a confirmation.
    Confirmed {
        /// The write to perform.
        pending: P,
        /// A skill's question to ask next.
        then: Option<FollowUp>,
    },
    /// No to a confirmation.
    Declined {
        /// The write to drop.
        pending: P,
        /// A skill's question to ask next.
        then: Option<FollowUp>,
    },
    /// Neither yes nor no to a confirmation: ask again (the question stays open).
    Reask(String),
    /// The answer to a skill's question; the question is closed until the skill asks
    /// again.
    Answer(FollowUp),
    /// The answer to a language tier's question (the question is closed): yes, no or the
    /// missing value to act on, or anything else, which acts on nothing.
    Clarified(Clarification),
    /// A new recognised command instead of an answer to a language tier's question,
    /// which it ends.
    Unclarified(Clarification),
}

/// What an utterance was to its station's conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TurnKind {
    /// A new request.
    Command,
    /// The answer to a skill's follow-up question.
    Answer,
    /// Yes to a confirmation.
    Confirmed,
    /// No to a confirmation.
    Declined,
    /// Cancel.
    Cancelled,
    /// Neither yes nor no: the question was asked again.
    Reasked,
}

/// What a conversation event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    /// A question was opened.
    Asked,
    /// A confirmation was answered (the write follows).
    Answered,
    /// The conversation ended.
    Closed,
}

/// Why: what kind of question was asked, how a confirmation was answered, or why the
/// conversation closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionReason {
    /// Asked: the policy wants a write confirmed.
    Confirmation,
    /// Asked: a skill asked a follow-up question.
    FollowUp,
    /// Asked: the tier that recognised it wants to be sure ("Did you mean ...?").
    Clarification,
    /// Closed: the person said what they meant (a clarification answered).
    Clarified,
    /// Closed: the skill finished.
    Concluded,
    /// Closed: the person cancelled.
    Cancelled,
    /// Closed: nobody answered in time.
    Expired,
    /// Closed: another command or question took its place.
    Superseded,
    /// Answered or closed: yes.
    Confirmed,
    /// Answered or closed: no.
    Declined,
    /// Closed: the skill or the write failed.
    Failed,
}

impl SessionReason {
    /// The name the APIs and the audit log use.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionReason::Confirmation => "confirmation",
            SessionReason::FollowUp => "follow-up",
            SessionReason::Clarification => "clarification",
            SessionReason::Clarified => "clarified",
            SessionReason::Concluded => "concluded",
            SessionReason::Cancelled => "cancelled",
            SessionReason::Expired => "expired",
            SessionReason::Superseded => "superseded",
            SessionReason::Confirmed => "confirmed",
            SessionReason::Declined => "declined",
            SessionReason::Failed => "failed",
        }
    }
}

/// What happened to a conversation, for D-Bus and MQTT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionEvent {
    /// The station.
    pub station: String,
    /// The conversation.
    pub session_id: String,
    /// `asked`, `answered`, `closed`.
    pub state: SessionState,
    /// Why it closed (`concluded`, `cancelled`, `expired`, `superseded`, `confirmed`,
    /// `declined`, `failed`), how a confirmation was answered, or what kind of question
    /// was asked (`confirmation`, `follow-up`, `clarification`).
    pub reason: SessionReason,
    /// The question, when one is open or was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The skill asking, for a follow-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
}

/// A station's conversation as shown on the APIs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionView {
    /// The station.
    pub station: String,
    /// The conversation.
    pub session_id: String,
    /// Utterances so far.
    pub turns: u32,
    /// When it started (ms since the Unix epoch).
    pub started_ms: u64,
    /// The open question.
    pub open: Option<serde_json::Value>,
    /// Time left to answer, in ms.
    pub expires_in_ms: u64,
}

#[derive(Debug)]
struct Session<P> {
    id: String,
    turns: u32,
    started_ms: u64,
    open: Option<Open<P>>,
    deadline: Instant,
}

/// How long questions stay open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For the policy's confirmations.
    pub confirmation: Duration,
    /// For skills' questions.
    pub follow_up: Duration,
}

/// Every station's conversation.
#[derive(Debug)]
pub struct Dialogue<P> {
    timeouts: Timeouts,
    sessions: Mutex<BTreeMap<String, Session<P>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl<P: Clone + std::fmt::Debug> Dialogue<P> {
    /// No conversations yet.
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
            timeouts,
            sessions: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Session<P>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The conversation id of `station`: the open one, or a new one for a fresh command.
    pub fn session_id(&self, station: &str) -> String {
        self.lock()
            .get(station)
            .map(|s| s.id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    }

    /// What `intent` (the templates' answer, `none` when they found nothing; `exact` when
    /// the exact pass found it) is to `station`'s conversation at `now`. Takes the open
    /// question out unless it stays open ([`Route::Reask`], a kept follow-up).
    pub fn route(
        &self,
        station: &str,
        intent: &str,
        skill: Option<&str>,
        now: Instant,
    ) -> Route<P> {
        let mut sessions = self.lock();
        let Some(session) = sessions.get_mut(station) else {
            return Route::Command;
        };
        session.turns += 1;
        if session.deadline <= now {
            // Expired but not yet swept: the caller's sweep reports it; this is a command.
            return Route::Command;
        }
        let Some(open) = session.open.take() else {
            return Route::Command;
        };
        let route = match (open, intent) {
            (open, CANCEL) => Route::Cancelled(open),
            (Open::Confirmation { pending, then, .. }, YES) => Route::Confirmed { pending, then },
            (Open::Confirmation { pending, then, .. }, NO) => Route::Declined { pending, then },
            (
                Open::Confirmation {
                    question,
                    pending,
                    then,
                },
                NONE,
            ) => {
                session.open = Some(Open::Confirmation {
                    question: question.clone(),
                    pending,
                    then,
                });
                Route::Reask(question)
            }
            (open @ Open::Confirmation { .. }, _) => Route::NewCommand {
                superseded: Some(open),
            },
            (Open::FollowUp(f), i) if i == YES || i == NO || i == NONE => Route::Answer(f),
            (Open::FollowUp(f), _) if skill == Some(f.skill.as_str()) => Route::NewCommand {
                superseded: Some(Open::FollowUp(f)),
            },
            (Open::FollowUp(f), _) => {
                session.open = Some(Open::FollowUp(f));
                Route::NewCommand { superseded: None }
            }
            (Open::Clarification(c), i) if i == YES || i == NO || i == NONE => Route::Clarified(c),
            (Open::Clarification(c), _) => Route::Unclarified(c),
        };
        if session.open.is_none() {
            sessions.remove(station);
        }
        route
    }

    /// Opens `question` on `station` (replacing any open one, which is returned).
    pub fn ask(&self, station: &str, session_id: &str, question: Open<P>) -> Option<Open<P>> {
        let timeout = match &question {
            Open::Confirmation { .. } => self.timeouts.confirmation,
            Open::FollowUp(_) | Open::Clarification(_) => self.timeouts.follow_up,
        };
        let mut sessions = self.lock();
        let session = sessions
            .entry(station.to_owned())
            .or_insert_with(|| Session {
                id: session_id.to_owned(),
                turns: 0,
                started_ms: now_ms(),
                open: None,
                deadline: Instant::now(),
            });
        session.id = session_id.to_owned();
        session.deadline = Instant::now() + timeout;
        session.open.replace(question)
    }

    /// The question open on `station`, if any.
    pub fn open_question(&self, station: &str) -> Option<String> {
        self.lock()
            .get(station)
            .and_then(|s| s.open.as_ref())
            .map(|o| o.question().to_owned())
    }

    /// The language tier's question open on `station`, if that is what is open.
    pub fn clarification(&self, station: &str) -> Option<Clarification> {
        match self.lock().get(station).and_then(|s| s.open.as_ref()) {
            Some(Open::Clarification(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// Takes out the language tier's question open on `station` (the conversation ends),
    /// when that is what is open.
    pub fn take_clarification(&self, station: &str) -> Option<Clarification> {
        let mut sessions = self.lock();
        let session = sessions.get_mut(station)?;
        if !matches!(session.open, Some(Open::Clarification(_))) {
            return None;
        }
        let Some(Open::Clarification(c)) = session.open.take() else {
            return None;
        };
        sessions.remove(station);
        Some(c)
    }

    /// Whether `station` has an open question.
    pub fn is_open(&self, station: &str) -> bool {
        self.lock().get(station).is_some_and(|s| s.open.is_some())
    }

    /// Takes out every question whose time ran out by `now`, with its station and session.
    pub fn expire(&self, now: Instant) -> Vec<(String, String, Open<P>)> {
        let mut sessions = self.lock();
        let expired: Vec<String> = sessions
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(station, _)| station.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|station| {
                let s = sessions.remove(&station)?;
                s.open.map(|open| (station, s.id, open))
            })
            .collect()
    }

    /// The open conversations.
    pub fn views(&self) -> Vec<SessionView> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(station, s)| SessionView {
                station: station.clone(),
                session_id: s.id.clone(),
                turns: s.turns,
                started_ms: s.started_ms,
                open: s.open.as_ref().and_then(|o| serde_json::to_value(o).ok()),
                expires_in_ms: s.deadline.saturating_duration_since(now).as_millis() as u64,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialogue() -> Dialogue<u32> {
        Dialogue::new(Timeouts {
            confirmation: Duration::from_secs(10),
            follow_up: Duration::from_secs(30),
        })
    }

    fn follow_up(skill: &str) -> FollowUp {
        FollowUp {
            skill: skill.into(),
            intent: format!("{skill}.start"),
            slots: Slots::new(),
            question: "Squealing or grinding?".into(),
            expect: Expect::FreeText,
            context: "{}".into(),
        }
    }

    fn clarification(expect: Expect) -> Open<u32> {
        Open::Clarification(Clarification {
            intent: "equipment.start".into(),
            slots: Slots::new(),
            question: "Which machine?".into(),
            expect,
            otherwise: None,
        })
    }

    #[test]
    fn a_clarification_is_answered_once_or_ended_by_a_new_command() {
        let d = dialogue();
        let now = Instant::now();
        for answer in [YES, NO, NONE] {
            d.ask(
                "panel",
                "s1",
                clarification(Expect::Value("machine".into())),
            );
            let route = d.route("panel", answer, None, now);
            assert!(
                matches!(route, Route::Clarified(ref c) if c.intent == "equipment.start"),
                "{answer}: {route:?}"
            );
            assert!(!d.is_open("panel"), "{answer}");
        }
        d.ask("panel", "s1", clarification(Expect::YesNo));
        assert_eq!(d.open_question("panel").as_deref(), Some("Which machine?"));
        assert!(matches!(
            d.route("panel", "window.set", Some("windows"), now),
            Route::Unclarified(_)
        ));
        assert_eq!(d.route("panel", YES, None, now), Route::Command);
        d.ask("panel", "s1", clarification(Expect::YesNo));
        assert!(matches!(
            d.route("panel", CANCEL, None, now),
            Route::Cancelled(_)
        ));
    }

    fn confirmation(n: u32) -> Open<u32> {
        Open::Confirmation {
            question: "Stop pump 4? Say yes to confirm.".into(),
            pending: n,
            then: None,
        }
    }

    #[test]
    fn yes_and_no_settle_a_confirmation_once() {
        let d = dialogue();
        let now = Instant::now();
        d.ask("panel", "s1", confirmation(7));
        assert_eq!(
            d.route("panel", YES, None, now),
            Route::Confirmed {
                pending: 7,
                then: None
            }
        );
        assert_eq!(d.route("panel", YES, None, now), Route::Command);
        d.ask("panel", "s2", confirmation(8));
        assert_eq!(
            d.route("panel", NO, None, now),
            Route::Declined {
                pending: 8,
                then: None
            }
        );
        assert!(!d.is_open("panel"));
    }

    #[test]
    fn stations_do_not_share_questions() {
        let d = dialogue();
        d.ask("cabin", "s1", confirmation(1));
        assert_eq!(d.route("panel", YES, None, Instant::now()), Route::Command);
        assert!(d.is_open("cabin"));
    }

    #[test]
    fn unclear_answer_to_a_confirmation_asks_again_and_a_command_supersedes_it() {
        let d = dialogue();
        let now = Instant::now();
        d.ask("panel", "s1", confirmation(1));
        assert_eq!(
            d.route("panel", NONE, None, now),
            Route::Reask("Stop pump 4? Say yes to confirm.".into())
        );
        assert!(matches!(
            d.route("panel", "equipment.status", Some("equipment"), now),
            Route::NewCommand {
                superseded: Some(Open::Confirmation { pending: 1, .. })
            }
        ));
        assert_eq!(d.route("panel", YES, None, now), Route::Command);
    }

    #[test]
    fn a_follow_up_gets_the_answer_survives_other_skills_and_ends_on_cancel() {
        let d = dialogue();
        let now = Instant::now();
        d.ask("panel", "s1", Open::FollowUp(follow_up("troubleshoot")));
        assert_eq!(
            d.route("panel", "equipment.read_sensor", Some("equipment"), now),
            Route::NewCommand { superseded: None }
        );
        assert!(d.is_open("panel"));
        assert_eq!(
            d.route("panel", NONE, None, now),
            Route::Answer(follow_up("troubleshoot"))
        );
        assert!(!d.is_open("panel"));
        d.ask("panel", "s1", Open::FollowUp(follow_up("troubleshoot")));
        assert!(matches!(
            d.route("panel", CANCEL, None, now),
            Route::Cancelled(Open::FollowUp(_))
        ));
        d.ask("panel", "s1", Open::FollowUp(follow_up("troubleshoot")));
        assert!(matches!(
            d.route("panel", "troubleshoot.start", Some("troubleshoot"), now),
            Route::NewCommand {
                superseded: Some(_)
            }
        ));
    }

    #[test]
    fn questions_expire() {
        let d = dialogue();
        d.ask("panel", "s1", confirmation(3));
        d.ask("cabin", "s2", Open::FollowUp(follow_up("troubleshoot")));
        let later = Instant::now() + Duration::from_secs(11);
        let expired = d.expire(later);
        assert_eq!(expired.len(), 1);
        assert_eq!(
            (expired[0].0.as_str(), expired[0].1.as_str()),
            ("panel", "s1")
        );
        assert_eq!(d.route("panel", YES, None, later), Route::Command);
        assert_eq!(d.views().len(), 1);
        assert_eq!(
            d.route("cabin", YES, None, Instant::now() + Duration::from_secs(31)),
            Route::Command
        );
    }

    #[test]
    fn the_session_id_lasts_while_a_question_is_open() {
        let d = dialogue();
        let first = d.session_id("panel");
        assert_ne!(first, d.session_id("panel"));
        d.ask("panel", &first, Open::FollowUp(follow_up("troubleshoot")));
        assert_eq!(d.session_id("panel"), first);
        let views = d.views();
        assert_eq!(
            views[0].open.as_ref().map(|o| o["kind"].clone()),
            Some("follow-up".into())
        );
    }
}
