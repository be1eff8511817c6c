//! The transport registry: transports are plug-ins keyed by name. Each one parses its own
//! binding entries in profiles (`NAME = {...}` in a `[[signal]]`) and starts itself for the
//! signals bound to it. This crate never looks inside a binding.

use crate::catalogue::BoundSignal;
use crate::hal::{BoxFuture, Transport, UpdateSink};
use edge_core::SignalDef;
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// How a signal reaches the world: the name of its transport and that transport's own
/// description of the way (opaque here; the transport downcasts it with [`Binding::spec`]).
#[derive(Clone)]
pub struct Binding {
    transport: &'static str,
    spec: Arc<dyn Any + Send + Sync>,
    /// The spec's `Debug` text, kept because `dyn Any` has none.
    shown: Arc<str>,
}

impl Binding {
    /// A binding of `transport` described by `spec`.
    pub fn new<T: Any + Send + Sync + fmt::Debug>(transport: &'static str, spec: T) -> Self {
        Self {
            transport,
            shown: format!("{spec:?}").into(),
            spec: Arc::new(spec),
        }
    }

    /// The name of the transport (the key of the binding in the profile).
    pub fn transport(&self) -> &'static str {
        self.transport
    }

    /// The transport's description, if it is a `T`.
    pub fn spec<T: Any>(&self) -> Option<&T> {
        self.spec.downcast_ref()
    }
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.transport, self.shown)
    }
}

/// Why a binding entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// Not the transport's schema (unknown key, wrong type); reported at the binding's line.
    #[error("{0}")]
    Schema(String),
    /// The schema fits but the entry does not make sense for the signal; `field` is the
    /// binding key it is about (`pointer`, `int_type`; empty for the whole binding).
    #[error("{field}: {message}")]
    Invalid {
        /// Which key of the binding.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl BindingError {
    /// An entry that does not fit the signal; `field` may be empty.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        BindingError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// Deserialises a binding entry into the transport's schema type.
    pub fn parse<T: serde::de::DeserializeOwned>(entry: toml::Value) -> Result<T, Self> {
        T::deserialize(entry).map_err(|e| BindingError::Schema(e.message().trim().to_owned()))
    }
}

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
