//! The transport registry: transports are plug-ins keyed by name. Each one parses its own
//! binding entries in profiles (`NAME = {...}` in a `[[signal]]`) and starts itself for the
//! signals bound to it. This crate never looks inside a binding.

use crate::transport::{Binding, BindingError, BoundSignal, BoxFuture, Transport, UpdateSink};
use edge_core::SignalDef;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A transport that could not start.
#[derive(Debug, thiserror::Error)]
#[error("{transport}: {source}")]
pub struct StartError {
    /// Which transport.
    pub transport: &'static str,
    /// What went wrong (the transport's own error).
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// One transport as a plug-in: it reads its bindings and starts itself.
pub trait TransportPlugin: Send + Sync + fmt::Debug {
    /// The key of its bindings in a `[[signal]]` entry and of its `[hal.NAME]` section.
    fn name(&self) -> &'static str;
    /// Checks one binding entry against the signal it binds; keeps what the transport needs.
    fn parse_binding(
        &self,
        signal: &SignalDef,
        entry: toml::Value,
    ) -> Result<Binding, BindingError>;
    /// Starts the transport for `signals` (all bound to it), reporting what it observes
    /// to `sink`.
    fn start<'a>(
        &'a self,
        signals: Vec<BoundSignal>,
        sink: UpdateSink,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, StartError>>;
}

/// The transports the agent was built with, by name.
#[derive(Debug, Clone, Default)]
pub struct TransportRegistry {
    plugins: BTreeMap<&'static str, Arc<dyn TransportPlugin>>,
}

impl TransportRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a transport (a later one of the same name replaces the earlier).
    pub fn register(mut self, plugin: impl TransportPlugin + 'static) -> Self {
        self.plugins.insert(plugin.name(), Arc::new(plugin));
        self
    }

    /// The transport of this name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn TransportPlugin>> {
        self.plugins.get(name)
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.plugins.keys().copied().collect()
    }

    /// Every plug-in.
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<dyn TransportPlugin>> {
        self.plugins.values()
    }
}
