//! The HAL's middle: the signal catalogue, the cache of last values, and the router that
//! sends reads and writes to the transport a signal is bound to.
//!
//! Transports (D-Bus in `edge-hal-dbus`, MQTT in `edge-hal-mqtt`) implement [`Transport`]
//! and report every value they observe through an [`UpdateSink`]. This crate depends on
//! neither zbus nor rumqttc.

mod catalogue;
mod hal;

pub use catalogue::{Binding, BoundSignal, Catalogue, CatalogueError, DbusBinding, MqttBinding};
pub use hal::{BoxFuture, Hal, HalError, Reading, Transport, TransportKind, Update, UpdateSink};
