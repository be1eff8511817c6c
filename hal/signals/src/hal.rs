//! The router: checks, cache, and dispatch to transports.

use crate::catalogue::Catalogue;
use crate::transport::{BoundSignal, HalError, Reading, Transport, Update, UpdateSink};
use edge_core::{SignalDef, SignalValue};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Logical signals over their transports.
#[derive(Debug)]
pub struct Hal {
    signals: BTreeMap<String, BoundSignal>,
    /// Running transports by name.
    transports: BTreeMap<String, Arc<dyn Transport>>,
    sink: UpdateSink,
    /// How long a peer may take to answer a read or confirm a write.
    peer_timeout: Duration,
}

impl Hal {
    /// A HAL over `catalogue` with no transports yet, and the sink transports report to.
    pub fn new(catalogue: &Catalogue, peer_timeout: Duration) -> Self {
        Self {
            signals: catalogue.signals.clone(),
            transports: BTreeMap::new(),
            sink: UpdateSink::new(),
            peer_timeout,
        }
    }

    /// The sink transports report to.
    pub fn sink(&self) -> UpdateSink {
        self.sink.clone()
    }

    /// Installs the running transport named `name` (a signal's binding names it).
    pub fn set_transport(&mut self, name: &str, transport: Arc<dyn Transport>) {
        self.transports.insert(name.to_owned(), transport);
    }

    /// The running transport named `name`, if it is a `T`.
    pub fn transport_as<T: Transport>(&self, name: &str) -> Option<&T> {
        let transport: &dyn Any = self.transports.get(name)?.as_ref();
        transport.downcast_ref()
    }

    /// The definition of a signal.
    pub fn def(&self, path: &str) -> Option<&SignalDef> {
        self.signals.get(path).map(|s| &s.def)
    }

    /// All signal definitions.
    pub fn defs(&self) -> impl Iterator<Item = &SignalDef> {
        self.signals.values().map(|s| &s.def)
    }

    fn bound(&self, path: &str) -> Result<&BoundSignal, HalError> {
        self.signals
            .get(path)
            .ok_or_else(|| HalError::UnknownSignal {
                path: path.to_owned(),
            })
    }

    fn transport(&self, signal: &BoundSignal) -> Result<&Arc<dyn Transport>, HalError> {
        let name = signal.binding.transport();
        self.transports
            .get(name)
            .ok_or_else(|| HalError::NoTransport {
                path: signal.def.path.clone(),
                transport: name.to_owned(),
            })
    }

    /// The last value seen, without asking the peer.
    pub fn cached(&self, path: &str) -> Option<Reading> {
        self.sink.cached(path)
    }

    /// The value: the cached one when `fresh` is false and one is known, otherwise an
    /// active read from the peer.
    pub async fn get(&self, path: &str, fresh: bool) -> Result<Reading, HalError> {
        let signal = self.bound(path)?;
        if !signal.def.access.readable() {
            return Err(HalError::NotReadable {
                path: path.to_owned(),
            });
        }
        if !fresh && let Some(reading) = self.sink.cached(path) {
            return Ok(reading);
        }
        // A peer that hangs must not hold the caller (and a skill, and a command slot)
        // for ever: reads are bounded like writes.
        let read = self.transport(signal)?.read(signal);
        let value = tokio::time::timeout(self.peer_timeout, read)
            .await
            .map_err(|_| HalError::Timeout {
                path: path.to_owned(),
                after: self.peer_timeout,
            })??;
        self.sink.report(path, value.clone());
        Ok(Reading {
            value,
            age: Duration::ZERO,
        })
    }

    /// Checks the value against the signal and writes it; returns the value written
    /// (coerced to the signal's type) once the peer confirmed it.
    pub fn check(
        &self,
        path: &str,
        value: &SignalValue,
    ) -> Result<(&SignalDef, SignalValue), HalError> {
        let signal = self.bound(path)?;
        if !signal.def.access.writable() {
            return Err(HalError::NotWritable {
                path: path.to_owned(),
            });
        }
        let checked = signal
            .def
            .check_value(value)
            .map_err(|source| HalError::Value {
                path: path.to_owned(),
                source,
            })?;
        Ok((&signal.def, checked))
    }

    /// Writes a value already passed through [`Hal::check`] (and the policy).
    pub async fn set(&self, path: &str, value: &SignalValue) -> Result<SignalValue, HalError> {
        let (_, checked) = self.check(path, value)?;
        let signal = self.bound(path)?;
        let transport = self.transport(signal)?;
        let timeout = self.peer_timeout;
        match tokio::time::timeout(timeout, transport.write(signal, &checked, timeout)).await {
            Ok(Ok(())) => {
                if signal.def.access.readable() {
                    self.sink.report(path, checked.clone());
                }
                Ok(checked)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(HalError::Timeout {
                path: path.to_owned(),
                after: timeout,
            }),
        }
    }

    /// Every observed change.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.sink.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxFuture;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct FakeTransport {
        written: Mutex<Vec<(String, SignalValue)>>,
        fail: bool,
        /// Never answers (a peer stopped with SIGSTOP).
        hang: bool,
    }

    impl Transport for FakeTransport {
        fn read<'a>(
            &'a self,
            _signal: &'a BoundSignal,
        ) -> BoxFuture<'a, Result<SignalValue, HalError>> {
            Box::pin(async move {
                if self.hang {
                    std::future::pending::<()>().await;
                }
                Ok(SignalValue::Float(42.0))
            })
        }
        fn write<'a>(
            &'a self,
            signal: &'a BoundSignal,
            value: &'a SignalValue,
            _t: Duration,
        ) -> BoxFuture<'a, Result<(), HalError>> {
            Box::pin(async move {
                if self.hang {
                    std::future::pending::<()>().await;
                }
                if self.fail {
                    return Err(HalError::Transport {
                        path: signal.def.path.clone(),
                        message: "org.x.Error.Failed: no".into(),
                    });
                }
                self.written
                    .lock()
                    .expect("lock")
                    .push((signal.def.path.clone(), value.clone()));
                Ok(())
            })
        }
    }

    fn catalogue() -> Catalogue {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            r#"
[[signal]]
path = "Vehicle.Speed"
datatype = "float"
min = 0
max = 250
access = "read-write"
bus = { channel = "speed" }
[[signal]]
path = "Plant.Pump3.Pressure"
datatype = "float"
access = "read"
wire = { channel = "pump-3" }
"#,
        )
        .expect("write");
        Catalogue::load(&[path], &crate::test_wire::registry()).expect("valid")
    }

    #[tokio::test]
    async fn a_hung_peer_times_reads_and_writes_out() {
        let mut hal = Hal::new(&catalogue(), Duration::from_millis(50));
        let fake = Arc::new(FakeTransport {
            hang: true,
            ..FakeTransport::default()
        });
        hal.set_transport("bus", fake);
        let timeout = HalError::Timeout {
            path: "Vehicle.Speed".into(),
            after: Duration::from_millis(50),
        };
        assert_eq!(
            hal.get("Vehicle.Speed", true).await.err(),
            Some(timeout.clone())
        );
        assert_eq!(
            hal.set("Vehicle.Speed", &SignalValue::Int(80)).await.err(),
            Some(timeout)
        );
    }

    #[tokio::test]
    async fn routes_checks_and_caches() {
        let mut hal = Hal::new(&catalogue(), Duration::from_secs(1));
        let fake = Arc::new(FakeTransport::default());
        hal.set_transport("bus", fake.clone());
        assert!(hal.transport_as::<FakeTransport>("bus").is_some());
        assert!(hal.transport_as::<FakeTransport>("wire").is_none());
        assert_eq!(
            hal.set("Vehicle.Speed", &SignalValue::Int(80)).await,
            Ok(SignalValue::Float(80.0))
        );
        assert_eq!(fake.written.lock().expect("lock").len(), 1);
        assert_eq!(
            hal.cached("Vehicle.Speed").map(|r| r.value),
            Some(SignalValue::Float(80.0))
        );
        assert!(matches!(
            hal.set("Vehicle.Speed", &SignalValue::Int(300)).await,
            Err(HalError::Value { .. })
        ));
        assert!(matches!(
            hal.set("Vehicle.Nope", &SignalValue::Int(1)).await,
            Err(HalError::UnknownSignal { .. })
        ));
        assert!(matches!(
            hal.set("Plant.Pump3.Pressure", &SignalValue::Int(1)).await,
            Err(HalError::NotWritable { .. })
        ));
        assert!(matches!(
            hal.get("Plant.Pump3.Pressure", true).await,
            Err(HalError::NoTransport { ref transport, .. }) if transport == "wire"
        ));
        assert_eq!(
            hal.get("Vehicle.Speed", true).await.map(|r| r.value),
            Ok(SignalValue::Float(42.0))
        );
        let mut updates = hal.subscribe();
        hal.sink()
            .report("Plant.Pump3.Pressure", SignalValue::Float(4.2));
        assert_eq!(
            updates.recv().await.map(|u| u.path),
            Ok("Plant.Pump3.Pressure".to_owned())
        );
        assert_eq!(
            hal.get("Plant.Pump3.Pressure", false)
                .await
                .map(|r| r.value),
            Ok(SignalValue::Float(4.2))
        );
    }

    #[tokio::test]
    async fn transport_errors_pass_through() {
        let mut hal = Hal::new(&catalogue(), Duration::from_secs(1));
        hal.set_transport(
            "bus",
            Arc::new(FakeTransport {
                fail: true,
                ..Default::default()
            }),
        );
        let err = hal
            .set("Vehicle.Speed", &SignalValue::Int(10))
            .await
            .expect_err("fails");
        assert_eq!(err.to_string(), "Vehicle.Speed: org.x.Error.Failed: no");
    }
}
