//! The HAL's middle: the signal catalogue, the cache of last values, and the router that
//! sends reads and writes to the transport a signal is bound to.
//!
//! Transports are plug-ins ([`TransportPlugin`]) in their own crates, collected in a
//! [`TransportRegistry`] by name: each parses its own binding entries, starts a
//! [`Transport`] and reports every value it observes through an [`UpdateSink`]. This
//! crate knows no transport.

mod catalogue;
mod hal;
mod registry;
mod transport;

pub use catalogue::{Catalogue, CatalogueError};
pub use hal::Hal;
pub use registry::{StartError, TransportPlugin, TransportRegistry};
pub use transport::{
    Binding, BindingError, BoundSignal, BoxFuture, HalError, Reading, Transport, Update, UpdateSink,
};

/// A transport for unit tests: `wire = { channel = "..." }` bindings, never started.
#[cfg(test)]
pub(crate) mod test_wire {
    use crate::{
        Binding, BindingError, BoundSignal, BoxFuture, StartError, Transport, TransportPlugin,
        TransportRegistry, UpdateSink,
    };
    use std::sync::Arc;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct WireBinding {
        pub channel: String,
    }

    #[derive(Debug)]
    pub struct Wire(pub &'static str);

    impl TransportPlugin for Wire {
        fn name(&self) -> &'static str {
            self.0
        }
        fn parse_binding(
            &self,
            _signal: &edge_core::SignalDef,
            entry: toml::Value,
        ) -> Result<Binding, BindingError> {
            let wire: WireBinding = BindingError::parse(entry)?;
            if wire.channel.is_empty() {
                return Err(BindingError::invalid("channel", "must not be empty"));
            }
            Ok(Binding::new(self.0, wire))
        }
        fn start<'a>(
            &'a self,
            _signals: Vec<BoundSignal>,
            _sink: UpdateSink,
        ) -> BoxFuture<'a, Result<Arc<dyn Transport>, StartError>> {
            Box::pin(async move {
                Err(StartError {
                    transport: self.0,
                    source: "a test wire never starts".into(),
                })
            })
        }
    }

    /// Two test transports: `bus` and `wire`.
    pub fn registry() -> TransportRegistry {
        TransportRegistry::new()
            .register(Wire("bus"))
            .register(Wire("wire"))
    }
}
