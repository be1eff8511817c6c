//! The contract between the HAL and its transports: a signal with its opaque binding, the
//! `Transport` a plug-in starts, the sink it reports observed values to, and the errors of
//! reads and writes. Everything else in this crate builds on these; they build on nothing
//! of it.

use edge_core::{SignalDef, SignalValue, ValueError};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// A boxed future, so transports can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What goes wrong with signals. Messages are for people debugging a vehicle or machine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HalError {
    /// Not in the catalogue.
    #[error("unknown signal {path:?}")]
    UnknownSignal {
        /// The path.
        path: String,
    },
    /// Write-only signal read.
    #[error("{path} is not readable")]
    NotReadable {
        /// The path.
        path: String,
    },
    /// Read-only signal written.
    #[error("{path} is not writable")]
    NotWritable {
        /// The path.
        path: String,
    },
    /// Wrong type or out of range.
    #[error("{path}: {source}")]
    Value {
        /// The path.
        path: String,
        /// What is wrong.
        source: ValueError,
    },
    /// The peer failed; `message` carries the transport's own reason (an error name, a
    /// device and register).
    #[error("{path}: {message}")]
    Transport {
        /// The path.
        path: String,
        /// The transport's error.
        message: String,
    },
    /// The peer did not answer a read, or confirm a write, in time.
    #[error("{path}: the peer did not answer within {after:?}")]
    Timeout {
        /// The path.
        path: String,
        /// The timeout.
        after: Duration,
    },
    /// The signal's transport is not configured.
    #[error("{path}: its {transport} transport is not configured")]
    NoTransport {
        /// The path.
        path: String,
        /// The transport's name.
        transport: String,
    },
}

impl HalError {
    /// A transport failure of `path`; `e` should name the transport's reason.
    pub fn transport(path: &str, e: impl std::fmt::Display) -> Self {
        HalError::Transport {
            path: path.to_owned(),
            message: e.to_string(),
        }
    }
}

/// A value and how old it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The value.
    pub value: SignalValue,
    /// Time since it was observed.
    pub age: Duration,
}

/// An observed change.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// Signal path.
    pub path: String,
    /// New value.
    pub value: SignalValue,
}

#[derive(Debug)]
struct Shared {
    cache: RwLock<HashMap<String, (SignalValue, Instant)>>,
    updates: broadcast::Sender<Update>,
}

/// Where transports report what they observe. Cloneable.
#[derive(Debug, Clone)]
pub struct UpdateSink {
    shared: Arc<Shared>,
}

impl UpdateSink {
    /// An empty cache and an update channel; the HAL makes one.
    pub(crate) fn new() -> Self {
        let (updates, _) = broadcast::channel(1024);
        Self {
            shared: Arc::new(Shared {
                cache: RwLock::new(HashMap::new()),
                updates,
            }),
        }
    }

    /// Records a value of `path` and tells subscribers.
    pub fn report(&self, path: &str, value: SignalValue) {
        self.shared
            .cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_owned(), (value.clone(), Instant::now()));
        let _ = self.shared.updates.send(Update {
            path: path.to_owned(),
            value,
        });
    }

    /// The last value of `path` with its age.
    pub fn cached(&self, path: &str) -> Option<Reading> {
        self.shared
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
            .map(|(value, at)| Reading {
                value: value.clone(),
                age: at.elapsed(),
            })
    }

    /// Every later update.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.shared.updates.subscribe()
    }

    /// The value of `path`: the cached one, or else the first reported (a transport whose
    /// peer only pushes states, such as MQTT's retained ones right after connecting). The
    /// caller bounds the wait (the HAL's reads have its peer timeout); None only if the
    /// sink is gone.
    pub async fn value(&self, path: &str) -> Option<SignalValue> {
        // Subscribed before looking, so that a value reported in between is not missed.
        let mut updates = self.subscribe();
        loop {
            if let Some(reading) = self.cached(path) {
                return Some(reading.value);
            }
            match updates.recv().await {
                Ok(update) if update.path == path => return Some(update.value),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// A way to reach signals, started by its [`crate::TransportPlugin`]. `Any`, so that
/// code which knows a transport's type (the skills' raw bus calls) can reach it.
pub trait Transport: Any + Send + Sync + std::fmt::Debug {
    /// Reads the current value from the peer.
    fn read<'a>(&'a self, signal: &'a BoundSignal) -> BoxFuture<'a, Result<SignalValue, HalError>>;
    /// Writes and returns once the peer confirmed (method returned, state topic echoed).
    fn write<'a>(
        &'a self,
        signal: &'a BoundSignal,
        value: &'a SignalValue,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), HalError>>;
}

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

/// A signal with its binding.
#[derive(Debug, Clone)]
pub struct BoundSignal {
    /// The definition.
    pub def: SignalDef,
    /// The binding.
    pub binding: Binding,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_not_yet_reported_is_waited_for() {
        let sink = UpdateSink::new();
        sink.report("Plant.Pump1.Running", SignalValue::Bool(false));
        assert_eq!(
            sink.value("Plant.Pump1.Running").await,
            Some(SignalValue::Bool(false)),
            "a cached value at once"
        );
        let reporter = sink.clone();
        let report = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            reporter.report("Plant.Pump2.Running", SignalValue::Bool(true));
            reporter.report("Plant.Pump2.GuardClosed", SignalValue::Bool(true));
        });
        // Another signal's report does not answer; the signal's own does.
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            sink.value("Plant.Pump2.GuardClosed"),
        )
        .await
        .expect("answered once reported");
        assert_eq!(waited, Some(SignalValue::Bool(true)));
        report.await.expect("reporter");
        // Never reported: the caller's bound ends the wait.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), sink.value("Plant.Nope"))
                .await
                .is_err()
        );
    }
}
