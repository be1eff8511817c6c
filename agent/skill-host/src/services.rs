//! What the agent provides to skills, behind the grant checks.

use edge_core::SignalValue;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future, so the services can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who is calling, for the policy and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// Skill name.
    pub skill: String,
    /// The utterance being handled.
    pub utterance_id: String,
    /// The intent being handled.
    pub intent: String,
    /// What to say if a write needs confirmation and the user says yes.
    pub done_text: String,
}

/// What a write came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// Written.
    Done,
    /// The policy asks first; the question was put.
    Confirm(String),
}

/// How the answer to a skill's question is read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "type", rename_all = "kebab-case")]
pub enum Expected {
    /// Yes or no.
    YesNo,
    /// A value for the asking intent's slot of this name.
    Value(String),
    /// Anything.
    FreeText,
}

/// A skill's question for the next turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// What is asked.
    pub text: String,
    /// How the answer is read.
    pub expect: Expected,
    /// Handed back to the skill with the answer.
    pub context: String,
}

/// A host call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostCallError {
    /// The safety policy refused.
    #[error("denied: {0}")]
    Denied(String),
    /// Wrong argument (unknown signal, type, range).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The peer or the agent failed.
    #[error("failed: {0}")]
    Failed(String),
}

/// The agent's side of the host calls. Grants are checked before these are called.
pub trait HostServices: Send + Sync + std::fmt::Debug {
    /// Reads a signal.
    fn get_signal<'a>(&'a self, path: &'a str)
    -> BoxFuture<'a, Result<SignalValue, HostCallError>>;
    /// Writes a signal through the policy and the audit log.
    fn set_signal<'a>(
        &'a self,
        ctx: &'a CallContext,
        path: &'a str,
        value: SignalValue,
    ) -> BoxFuture<'a, Result<WriteResult, HostCallError>>;
    /// The next change of a signal.
    fn next_change<'a>(
        &'a self,
        path: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<SignalValue, HostCallError>>;
    /// Publishes on the plant broker.
    fn mqtt_publish<'a>(
        &'a self,
        topic: &'a str,
        payload: Vec<u8>,
        retain: bool,
    ) -> BoxFuture<'a, Result<(), HostCallError>>;
    /// Calls a D-Bus method with JSON scalar arguments; returns the reply's values.
    fn dbus_call<'a>(
        &'a self,
        destination: &'a str,
        path: &'a str,
        interface: &'a str,
        method: &'a str,
        args: Vec<serde_json::Value>,
    ) -> BoxFuture<'a, Result<Vec<serde_json::Value>, HostCallError>>;
    /// Which of `choices` (id, description) the `answer` to `question` means, by the
    /// local language model; `None` when it fits none.
    fn choose<'a>(
        &'a self,
        question: &'a str,
        answer: &'a str,
        choices: Vec<(String, String)>,
    ) -> BoxFuture<'a, Result<Option<String>, HostCallError>>;
    /// Records a call the grants refused (it never reached the agent).
    fn refused(&self, ctx: &CallContext, call: &str, target: &str);
}
