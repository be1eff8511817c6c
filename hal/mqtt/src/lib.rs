//! MQTT transport of the HAL: values come from state topics (the payload itself, or a
//! JSON pointer into it); writes publish the raw value to the command topic and are done
//! when the state topic shows the new value.
//!
//! Clean session: every (re)connection subscribes to all state topics again, and retained
//! states give the current values at once.

pub mod security;

pub use security::{MqttSecurity, SecurityError, TlsFiles};

use edge_core::{DataType, SignalDef, SignalValue};
use edge_hal::{
    Binding, BindingError, BoundSignal, BoxFuture, HalError, StartError, Transport,
    TransportPlugin, UpdateSink,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The transport's name: the key of its bindings in profiles.
pub const NAME: &str = "mqtt";

/// An MQTT binding (`mqtt = { ... }` in a profile): a state topic to read, a command
/// topic to write.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttBinding {
    /// Topic carrying the current value.
    #[serde(default)]
    pub state_topic: Option<String>,
    /// JSON pointer into the state payload (`/pressure`); none: the payload is the value.
    #[serde(default)]
    pub pointer: Option<String>,
    /// Topic taking the new value as its payload (raw text).
    #[serde(default)]
    pub command_topic: Option<String>,
    /// QoS of commands (0, 1 or 2).
    #[serde(default = "qos1")]
    pub qos: u8,
    /// Retain commands.
    #[serde(default)]
    pub retain: bool,
}

fn qos1() -> u8 {
    1
}

impl MqttBinding {
    /// Checks the binding against the signal it binds.
    fn check(&self, signal: &SignalDef) -> Result<(), BindingError> {
        if signal.access.readable() && self.state_topic.is_none() {
            return Err(BindingError::invalid(
                "",
                "a readable signal needs state_topic",
            ));
        }
        if signal.access.writable() && self.command_topic.is_none() {
            return Err(BindingError::invalid(
                "",
                "a writable signal needs command_topic",
            ));
        }
        if self.pointer.as_deref().is_some_and(|p| !p.starts_with('/')) {
            return Err(BindingError::invalid(
                "pointer",
                "a JSON pointer starts with '/'",
            ));
        }
        if self.qos > 2 {
            return Err(BindingError::invalid(
                "qos",
                format!("{} is not 0, 1 or 2", self.qos),
            ));
        }
        for t in [&self.state_topic, &self.command_topic]
            .into_iter()
            .flatten()
        {
            if t.is_empty() || t.contains(['+', '#']) {
                return Err(BindingError::invalid(
                    "",
                    format!("{t:?} is not a topic name"),
                ));
            }
        }
        Ok(())
    }
}

/// The MQTT transport as a registry plug-in.
#[derive(Debug, Clone)]
pub struct MqttPlugin {
    settings: MqttSettings,
}

impl MqttPlugin {
    /// A plug-in that connects to the broker of `settings` when it starts.
    pub fn new(settings: MqttSettings) -> Self {
        Self { settings }
    }
}

impl TransportPlugin for MqttPlugin {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse_binding(
        &self,
        signal: &SignalDef,
        entry: toml::Value,
    ) -> Result<Binding, BindingError> {
        let binding: MqttBinding = BindingError::parse(entry)?;
        binding.check(signal)?;
        Ok(Binding::new(NAME, binding))
    }

    fn start<'a>(
        &'a self,
        signals: Vec<BoundSignal>,
        sink: UpdateSink,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, StartError>> {
        Box::pin(async move {
            let transport =
                MqttTransport::new(&self.settings, &signals, sink).map_err(|e| StartError {
                    transport: NAME,
                    source: Box::new(e),
                })?;
            Ok(Arc::new(transport) as Arc<dyn Transport>)
        })
    }
}

/// Broker settings.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Client id.
    pub client_id: String,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// TLS and credentials.
    pub security: MqttSecurity,
}

struct Waiter {
    path: String,
    value: SignalValue,
    done: oneshot::Sender<()>,
}

/// The MQTT transport.
pub struct MqttTransport {
    client: AsyncClient,
    sink: UpdateSink,
    waiters: Arc<Mutex<Vec<Waiter>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for MqttTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttTransport").finish_non_exhaustive()
    }
}

impl Drop for MqttTransport {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A state payload as the signal's value.
fn decode(payload: &[u8], pointer: Option<&str>, datatype: DataType) -> Option<SignalValue> {
    let text = std::str::from_utf8(payload).ok()?;
    let Some(pointer) = pointer else {
        return SignalValue::parse_for(datatype, text).ok();
    };
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    match (json.pointer(pointer)?, datatype) {
        (serde_json::Value::Bool(b), DataType::Bool) => Some(SignalValue::Bool(*b)),
        (serde_json::Value::Number(n), DataType::Int) => n.as_i64().map(SignalValue::Int),
        (serde_json::Value::Number(n), DataType::Float) => n.as_f64().map(SignalValue::Float),
        (serde_json::Value::String(s), DataType::String | DataType::Enum) => {
            Some(SignalValue::String(s.clone()))
        }
        (serde_json::Value::String(s), _) => SignalValue::parse_for(datatype, s).ok(),
        _ => None,
    }
}

impl MqttTransport {
    /// Connects (in the background; a broker that is down is retried) and starts
    /// decoding the state topics of `signals` into `sink`. Fails only when the TLS
    /// material cannot be read.
    pub fn new(
        settings: &MqttSettings,
        signals: &[BoundSignal],
        sink: UpdateSink,
    ) -> Result<Self, SecurityError> {
        let mut options = MqttOptions::new(
            settings.client_id.clone(),
            settings.host.clone(),
            settings.port,
        );
        options
            .set_keep_alive(settings.keep_alive)
            .set_clean_session(true);
        settings.security.apply(&mut options)?;
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        // Small messages, latency matters: no Nagle delay (~40 ms per hop with delayed ACKs).
        let mut network = eventloop.network_options();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let mut by_topic: BTreeMap<String, Vec<(String, Option<String>, DataType)>> =
            BTreeMap::new();
        for signal in signals {
            if let Some(m) = signal.binding.spec::<MqttBinding>()
                && let Some(topic) = &m.state_topic
            {
                by_topic.entry(topic.clone()).or_default().push((
                    signal.def.path.clone(),
                    m.pointer.clone(),
                    signal.def.datatype,
                ));
            }
        }
        let waiters: Arc<Mutex<Vec<Waiter>>> = Arc::default();
        let (task_client, task_sink, task_waiters) =
            (client.clone(), sink.clone(), waiters.clone());
        let task = tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        failures = 0;
                        tracing::info!("HAL MQTT connected");
                        for topic in by_topic.keys() {
                            if let Err(e) =
                                task_client.try_subscribe(topic.clone(), QoS::AtLeastOnce)
                            {
                                tracing::warn!("HAL MQTT subscribe {topic}: {e}");
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        for (path, pointer, datatype) in
                            by_topic.get(&p.topic).into_iter().flatten()
                        {
                            let Some(value) = decode(&p.payload, pointer.as_deref(), *datatype)
                            else {
                                tracing::warn!(topic = %p.topic, "HAL MQTT: no {datatype:?} value for {path}");
                                continue;
                            };
                            let mut waiters =
                                task_waiters.lock().unwrap_or_else(|e| e.into_inner());
                            let (done, pending): (Vec<Waiter>, Vec<Waiter>) = waiters
                                .drain(..)
                                .partition(|w| w.path == *path && w.value.same_as(&value));
                            *waiters = pending;
                            drop(waiters);
                            for w in done {
                                let _ = w.done.send(());
                            }
                            task_sink.report(path, value);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failures += 1;
                        if failures == 1 {
                            tracing::warn!("HAL MQTT: {e}; retrying");
                        }
                        tokio::time::sleep(Duration::from_millis(
                            200.min(50 * u64::from(failures)),
                        ))
                        .await;
                    }
                }
            }
        });
        Ok(Self {
            client,
            sink,
            waiters,
            task,
        })
    }
}

impl MqttTransport {
    /// Publishes raw bytes (for skills with a granted topic); QoS 1.
    pub fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<(), String> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .map_err(|e| format!("MQTT publish failed: {e}"))
    }
}

impl Transport for MqttTransport {
    fn read<'a>(&'a self, signal: &'a BoundSignal) -> BoxFuture<'a, Result<SignalValue, HalError>> {
        // MQTT has no request/response: the current value is the last state received.
        // Right after connecting the retained states are on their way: a read waits for
        // the first (the HAL bounds it by its peer timeout), so a command in the first
        // moments is not refused for a value the broker is about to deliver.
        Box::pin(async move {
            self.sink.value(&signal.def.path).await.ok_or_else(|| {
                HalError::transport(&signal.def.path, "no value received on its state topic yet")
            })
        })
    }

    fn write<'a>(
        &'a self,
        signal: &'a BoundSignal,
        value: &'a SignalValue,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), HalError>> {
        Box::pin(async move {
            let path = &signal.def.path;
            let Some(m) = signal.binding.spec::<MqttBinding>() else {
                return Err(HalError::transport(path, "not an MQTT signal"));
            };
            let topic = m
                .command_topic
                .clone()
                .ok_or_else(|| HalError::NotWritable { path: path.clone() })?;
            let qos = match m.qos {
                0 => QoS::AtMostOnce,
                2 => QoS::ExactlyOnce,
                _ => QoS::AtLeastOnce,
            };
            let confirmation = m.state_topic.as_ref().map(|_| {
                let (done, wait) = oneshot::channel();
                self.waiters
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Waiter {
                        path: path.clone(),
                        value: value.clone(),
                        done,
                    });
                wait
            });
            self.client
                .try_publish(topic, qos, m.retain, value.to_string())
                .map_err(|e| HalError::transport(path, format!("MQTT publish failed: {e}")))?;
            let Some(wait) = confirmation else {
                return Ok(());
            };
            match tokio::time::timeout(timeout, wait).await {
                Ok(Ok(())) => Ok(()),
                _ => {
                    self.waiters
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .retain(|w| !w.done.is_closed());
                    Err(HalError::Timeout {
                        path: path.clone(),
                        after: timeout,
                    })
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_hal::{Catalogue, TransportRegistry};

    const PUMP: &str = r#"
[[signal]]
path = "Plant.Pump3.State"
datatype = "enum"
values = ["running", "stopped", "fault"]
access = "read-write"
mqtt = { state_topic = "plant/pump-3/state", pointer = "/state", command_topic = "plant/pump-3/set/state" }
"#;

    fn load(text: &str) -> Result<Catalogue, edge_hal::CatalogueError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).expect("write");
        let registry = TransportRegistry::new().register(MqttPlugin::new(MqttSettings {
            host: "localhost".into(),
            port: 1883,
            client_id: "test".into(),
            keep_alive: Duration::from_secs(10),
            security: MqttSecurity::default(),
        }));
        Catalogue::load(&[path], &registry)
    }

    #[test]
    fn bindings_are_checked_against_their_signal() {
        let c = load(PUMP).expect("valid");
        let m = c.signals["Plant.Pump3.State"]
            .binding
            .spec::<MqttBinding>()
            .expect("an MQTT binding");
        assert_eq!((m.pointer.as_deref(), m.qos), (Some("/state"), 1));
        let err =
            load(&PUMP.replace("pointer = \"/state\"", "pointer = \"state\"")).expect_err("bad");
        assert!(
            err.to_string()
                .contains("p.toml:2: signal[0] (Plant.Pump3.State).mqtt.pointer: a JSON pointer"),
            "{err}"
        );
        let err = load(&PUMP.replace(", command_topic = \"plant/pump-3/set/state\"", ""))
            .expect_err("bad");
        assert!(
            err.to_string()
                .contains("a writable signal needs command_topic"),
            "{err}"
        );
        let err = load(&PUMP.replace("plant/pump-3/state", "plant/+/state")).expect_err("bad");
        assert!(err.to_string().contains("is not a topic name"), "{err}");
        let err = load(&PUMP.replace(" }", ", qos = 3 }")).expect_err("bad");
        assert!(
            err.to_string().contains(".mqtt.qos: 3 is not 0, 1 or 2"),
            "{err}"
        );
    }

    #[test]
    fn decodes_raw_and_pointer_payloads() {
        let state = br#"{"state":"running","pressure":4.21,"guard_closed":true,"speed":1450}"#;
        assert_eq!(
            decode(state, Some("/pressure"), DataType::Float),
            Some(SignalValue::Float(4.21))
        );
        assert_eq!(
            decode(state, Some("/state"), DataType::Enum),
            Some(SignalValue::String("running".into()))
        );
        assert_eq!(
            decode(state, Some("/guard_closed"), DataType::Bool),
            Some(SignalValue::Bool(true))
        );
        assert_eq!(
            decode(state, Some("/speed"), DataType::Float),
            Some(SignalValue::Float(1450.0))
        );
        assert_eq!(decode(state, Some("/nope"), DataType::Float), None);
        assert_eq!(
            decode(b"22.5", None, DataType::Float),
            Some(SignalValue::Float(22.5))
        );
        assert_eq!(decode(b"not json", Some("/x"), DataType::Float), None);
        assert_eq!(decode(&[0xff], None, DataType::String), None);
    }
}
