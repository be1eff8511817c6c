//! Domain types of edge-agent: what was heard, what it means, and what a skill declares.
//!
//! This crate is the middle of the design: every adapter (D-Bus, MQTT, speech and SLM
//! workers, the WASM host) converts to and from these types. It must never depend on a
//! transport, an async runtime, or native code. [`section`] is what every crate's
//! configuration section shares (its error type and the helpers several sections use).

pub mod api;
pub mod intent;
pub mod manifest;

pub use intent::{Recognition, SlotValue, Slots, TemplateRef, Tier, Utterance, UtteranceOrigin};
pub use manifest::{
    ExampleDef, ExampleSlot, IntentDef, Limits, LoadedManifest, MAX_EXAMPLE_CHARS, ManifestError,
    Permissions, SkillInfo, SkillManifest, SlotDef, SlotKind, SlotTypeDef,
};
pub mod entity;
pub use entity::{EntityList, EntityLists};
pub mod signal;
pub use signal::{Access, DataType, SignalDef, SignalValue, ValueError};
pub mod section;
pub use section::SectionError;
