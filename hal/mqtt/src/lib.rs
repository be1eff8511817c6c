//! MQTT transport of the HAL: values come from state topics (the payload itself, or a
//! JSON pointer into it); writes publish the raw value to the command topic and are done
//! when the state topic shows the new value.
//!
//! Clean session: every (re)connection subscribes to all state topics again, and retained
//! states give the current values at once.

pub mod security;

pub use security::{MqttSecurity, SecurityError, TlsFiles};

use edge_core::{DataType, SignalValue};
use edge_hal::{Binding, BoundSignal, BoxFuture, HalError, Transport, UpdateSink};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

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
        signals: &[&BoundSignal],
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
            if let Binding::Mqtt(m) = &signal.binding
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
        Box::pin(async move {
            self.sink
                .cached(&signal.def.path)
                .map(|r| r.value)
                .ok_or_else(|| {
                    HalError::transport(
                        &signal.def.path,
                        "no value received on its state topic yet",
                    )
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
            let Binding::Mqtt(m) = &signal.binding else {
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
