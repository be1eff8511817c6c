//! The skill host: runs each skill's WebAssembly component (world `edge:skill@0.2.0`, and 0.1.0 through `legacy.rs`) in its
//! own store, from a pooling allocator, with the memory limit and CPU deadline of its
//! manifest, WASI without filesystem, network or environment unless granted, and every host
//! call checked against the manifest's grants before it reaches the agent.
//!
//! The agent's side of the host calls (signals through the policy, MQTT, D-Bus) is the
//! [`HostServices`] trait; this crate knows neither the HAL nor the transports.

mod grants;
mod host;
mod legacy;
mod services;
mod store;

pub use grants::Grants;
pub use host::{
    HostError, InvokeError, LoadReport, SKILL_API_VERSION, SKILL_API_VERSIONS, SkillHost,
    SkillOutput,
};
pub use services::{
    BoxFuture, CallContext, Expected, HostCallError, HostServices, Question, WriteResult,
};
pub use store::{Answer, Intent, Reply, Slot, SlotValue};
