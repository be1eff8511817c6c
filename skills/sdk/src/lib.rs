//! Write an edge-agent skill as a plain Rust function.
//!
//! ```ignore
//! use edge_skill_sdk::{Error, Intent, Response, Skill, signals};
//!
//! struct Fan;
//! impl Skill for Fan {
//!     fn handle(intent: &Intent) -> Result<Response, Error> {
//!         let level = intent.integer("level").ok_or_else(|| Error::Invalid("no level".into()))?;
//!         signals::set("Vehicle.Cabin.HVAC.FanLevel", level)?;
//!         Ok(Response::say(format!("Fan at {level}")))
//!     }
//! }
//! edge_skill_sdk::export!(Fan);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the result is a component for
//! the world `edge:skill@0.2.0` (`skills/wit/0.2.0`).
//!
//! A skill asks a question with [`Response::ask`]; the next utterance of the station comes
//! back to it with [`Intent::reply`] set, carrying the context it handed over.

// The generated code names this crate by path, from inside it too.
extern crate self as edge_skill_sdk;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/0.2.0",
        world: "skill",
        pub_export_macro: true,
        export_macro_name: "__export_skill_bindings",
        default_bindings_module: "edge_skill_sdk::bindings",
        runtime_path: "edge_skill_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::edge::skill::host::{self, LogLevel};
pub use bindings::edge::skill::types::{
    Answer, Error, Expect, FollowUp, Intent, Reply, Response, SignalValue, Slot, SlotValue,
    WriteOutcome,
};
pub use bindings::edge::skill::{dbus, kv, llm, mqtt, reports};

/// A skill: one function from an intent to a response.
pub trait Skill {
    /// Handles one intent the skill owns.
    fn handle(intent: &Intent) -> Result<Response, Error>;
}

/// Exports a [`Skill`] implementation as the component's handler.
#[macro_export]
macro_rules! export {
    ($skill:ty) => {
        #[doc(hidden)]
        pub struct __EdgeSkillExport;
        impl $crate::bindings::exports::edge::skill::handler::Guest for __EdgeSkillExport {
            fn handle(intent: $crate::Intent) -> ::core::result::Result<$crate::Response, $crate::Error> {
                <$skill as $crate::Skill>::handle(&intent)
            }
        }
        $crate::bindings::__export_skill_bindings!(__EdgeSkillExport with_types_in $crate::bindings);
    };
}

impl Intent {
    fn slot(&self, name: &str) -> Option<&SlotValue> {
        self.slots.iter().find(|s| s.name == name).map(|s| &s.value)
    }

    /// A text, enum or entity slot.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.slot(name)? {
            SlotValue::Text(t) => Some(t),
            _ => None,
        }
    }

    /// A number slot (integers too).
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.slot(name)? {
            SlotValue::Number(n) => Some(*n),
            SlotValue::Integer(i) => Some(*i as f64),
            SlotValue::Text(_) => None,
        }
    }

    /// An integer slot.
    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.slot(name)? {
            SlotValue::Integer(i) => Some(*i),
            SlotValue::Number(n) if n.fract() == 0.0 => Some(*n as i64),
            _ => None,
        }
    }

    /// The answer to the skill's question, when this turn is one.
    pub fn reply(&self) -> Option<&Reply> {
        self.reply.as_ref()
    }

    /// A required slot, or an error naming it.
    pub fn require_text(&self, name: &str) -> Result<&str, Error> {
        self.text(name)
            .ok_or_else(|| Error::Invalid(format!("missing slot {name}")))
    }
}

impl Response {
    /// A response that says `text`.
    pub fn say(text: impl Into<String>) -> Self {
        Response {
            say: text.into(),
            follow_up: None,
            result: None,
        }
    }

    /// Says `text`, then asks `question`; the answer comes back with `context`.
    pub fn ask(
        text: impl Into<String>,
        question: impl Into<String>,
        expect: Expect,
        context: impl Into<String>,
    ) -> Self {
        Response {
            say: text.into(),
            follow_up: Some(FollowUp {
                question: question.into(),
                expect,
                context: context.into(),
            }),
            result: None,
        }
    }

    /// With a structured result (JSON).
    pub fn with_result(mut self, json: impl Into<String>) -> Self {
        self.result = Some(json.into());
        self
    }
}

impl From<f64> for SignalValue {
    fn from(v: f64) -> Self {
        SignalValue::Number(v)
    }
}

impl From<i64> for SignalValue {
    fn from(v: i64) -> Self {
        SignalValue::Integer(v)
    }
}

impl From<bool> for SignalValue {
    fn from(v: bool) -> Self {
        SignalValue::Boolean(v)
    }
}

impl From<&str> for SignalValue {
    fn from(v: &str) -> Self {
        SignalValue::Text(v.to_owned())
    }
}

impl SignalValue {
    /// The value as a number, when it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SignalValue::Number(n) => Some(*n),
            SignalValue::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The value as it is spoken ("4.2", "running", "on").
    pub fn spoken(&self) -> String {
        match self {
            SignalValue::Number(n) => {
                let r = (n * 10.0).round() / 10.0;
                if r.fract() == 0.0 {
                    format!("{r:.0}")
                } else {
                    format!("{r}")
                }
            }
            SignalValue::Integer(i) => i.to_string(),
            SignalValue::Boolean(b) => if *b { "on" } else { "off" }.to_owned(),
            SignalValue::Text(t) => t.clone(),
        }
    }
}

/// Signals, with conveniences over the raw interface.
pub mod signals {
    pub use crate::bindings::edge::skill::signals::{get, subscribe_once};
    use crate::{Error, SignalValue, WriteOutcome};

    /// Writes a signal (through the agent's safety policy).
    pub fn set(path: &str, value: impl Into<SignalValue>) -> Result<WriteOutcome, Error> {
        crate::bindings::edge::skill::signals::set(path, &value.into())
    }

    /// Reads a numeric signal.
    pub fn get_f64(path: &str) -> Result<f64, Error> {
        get(path)?
            .as_f64()
            .ok_or_else(|| Error::Invalid(format!("{path} is not a number")))
    }
}

/// An id as it is spoken: `pump-3` -> "pump 3", `rear_left` -> "rear left".
pub fn spoken(id: &str) -> String {
    id.replace(['-', '_'], " ")
}

/// The text to say for a write: `done` when it went through, or the policy's question.
pub fn after_write(outcome: WriteOutcome, done: impl Into<String>) -> Response {
    match outcome {
        WriteOutcome::Done => Response::say(done),
        WriteOutcome::Confirm(question) => Response::say(question),
    }
}
