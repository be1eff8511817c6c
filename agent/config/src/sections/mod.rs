//! The sections the daemon itself owns, and those whose capability crate is too heavy for
//! this crate to depend on (zbus, rumqttc with its TLS stack, hyper, reqwest) or is a
//! worker binary's library (`edge-wake`). Every other section is defined and checked by
//! its capability's crate and only placed here.

mod agent;
mod dbus;
mod escalation;
mod hal;
mod log;
mod metrics;
mod mqtt;
mod skills;
mod wake;

pub use agent::AgentSection;
pub use dbus::{BusKind, DbusSection};
pub use escalation::EscalationSection;
pub use hal::{HalDbusSection, HalMqttSection, HalSection};
pub use log::LogSection;
pub use metrics::MetricsSection;
pub use mqtt::{MqttSection, MqttTlsSection};
pub use skills::SkillsSection;
pub use wake::WakeSection;
