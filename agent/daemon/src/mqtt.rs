//! The MQTT side: status with last will, intent/response/error events, text commands.
//!
//! Persistent session (`clean_session = false`) so QoS 1 commands sent while the agent was
//! away are delivered when it is back; subscriptions are renewed when the broker lost the
//! session. A broker that is down never blocks the rest of the daemon: publishing uses
//! `try_publish` and reconnects back off exponentially.

use crate::listening::Listening;
use crate::pipeline::{Outcome, Pipeline};
use crate::status::{MqttState, Status};
use edge_config::AgentConfig;
use edge_core::UtteranceOrigin;
use edge_core::api::DeviceTopics;
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, Publish, QoS};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Starts the MQTT task.
pub fn spawn(
    config: &AgentConfig,
    pipeline: Arc<Pipeline>,
    status: Arc<Status>,
    listening: Option<Listening>,
    fleet: Arc<crate::fleet::Fleet>,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let m = &config.mqtt;
    let topics = DeviceTopics::new(&m.topic_prefix, &config.agent.device_id);
    let mut options = MqttOptions::new(config.mqtt_client_id(), m.host.clone(), m.port);
    options
        .set_keep_alive(Duration::from_secs(m.keep_alive_secs))
        .set_clean_session(false)
        .set_last_will(LastWill::new(
            topics.status(),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    if let Err(e) =
        crate::mqtt_security::security(m.username.as_ref(), m.password.as_ref(), m.tls.as_ref())
            .apply(&mut options)
    {
        // Never fall back to plain text: without its TLS material the agent stays off MQTT
        // (D-Bus works on), and says why.
        tracing::error!("MQTT off: {e}");
        return tokio::spawn(async {});
    }
    // A fleet command carries a skill's component.
    options.set_max_packet_size(edge_fleet::MAX_COMMAND_BYTES + 64 * 1024, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, m.queue_capacity);
    eventloop.set_network_options(no_delay(&eventloop));
    let backoff = Backoff::new(
        Duration::from_millis(m.reconnect_min_ms),
        Duration::from_millis(m.reconnect_max_ms),
    );
    let events = pipeline.subscribe();
    let sessions = pipeline.subscribe_sessions();
    let wake = pipeline.subscribe_wake();
    let audit = pipeline.actuator().map(|a| a.subscribe_audit());
    let task = MqttTask {
        client,
        topics,
        pipeline,
        status,
        backoff,
        listening,
        fleet,
        fleet_enabled: config.fleet.enabled,
        heartbeat: Duration::from_secs(config.fleet.heartbeat_secs),
        metrics_every: Duration::from_secs(config.metrics.mqtt_summary_secs),
        pending_result: crate::fleet::pending_result_path(config),
        max_in_flight: m.max_commands_in_flight,
        in_flight: Arc::new(tokio::sync::Semaphore::new(m.max_commands_in_flight)),
    };
    tokio::spawn(task.run(eventloop, events, sessions, wake, audit, shutdown))
}

/// Commands and events are small and latency matters: no Nagle delay (which with delayed
/// ACKs costs ~40 ms per hop).
fn no_delay(eventloop: &EventLoop) -> rumqttc::NetworkOptions {
    let mut options = eventloop.network_options();
    options.set_tcp_nodelay(true);
    options
}

/// Exponential backoff between failed connection attempts.
#[derive(Debug, Clone)]
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            next: min,
        }
    }

    fn reset(&mut self) {
        self.next = self.min;
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

struct MqttTask {
    client: AsyncClient,
    topics: DeviceTopics,
    pipeline: Arc<Pipeline>,
    status: Arc<Status>,
    backoff: Backoff,
    listening: Option<Listening>,
    fleet: Arc<crate::fleet::Fleet>,
    fleet_enabled: bool,
    /// Heartbeat period; zero: none.
    heartbeat: Duration,
    /// Period of the retained metrics text; zero: none.
    metrics_every: Duration,
    /// A fleet result kept across a restart, published once connected.
    pending_result: std::path::PathBuf,
    /// `cmd/say` commands being handled; beyond the limit a command is refused with a
    /// reason, so a flood costs bounded memory.
    /// Measured in docs/BENCHMARKS.md ("Load").
    in_flight: Arc<tokio::sync::Semaphore>,
    /// The semaphore's size (`mqtt.max_commands_in_flight`), for the refusal's text.
    max_in_flight: usize,
}

impl MqttTask {
    async fn run(
        mut self,
        mut eventloop: EventLoop,
        mut events: broadcast::Receiver<Arc<Outcome>>,
        mut sessions: broadcast::Receiver<edge_dialogue::SessionEvent>,
        mut wake: broadcast::Receiver<crate::pipeline::WakeEvent>,
        mut audit: Option<broadcast::Receiver<edge_audit::AuditEntry>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut heartbeat = tokio::time::interval(if self.heartbeat.is_zero() {
            Duration::from_secs(3600)
        } else {
            self.heartbeat
        });
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut metrics_tick = tokio::time::interval(if self.metrics_every.is_zero() {
            Duration::from_secs(3600)
        } else {
            self.metrics_every
        });
        metrics_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                polled = eventloop.poll() => match polled {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        tracing::info!(session_present = ack.session_present, "MQTT connected");
                        self.backoff.reset();
                        self.status.set_mqtt(MqttState::Connected);
                        self.pipeline.metrics().connected("mqtt");
                        // Subscribed on every connection, session or not: a broker can
                        // report a session whose subscriptions it no longer holds (a
                        // client id taken over), and subscribing again is harmless.
                        // Before "online": the broker handles one connection's packets in
                        // order, so whoever sees "online" can send commands at once.
                        if let Err(e) = self.client.try_subscribe(self.topics.command_filter(), QoS::AtLeastOnce) {
                            tracing::warn!("MQTT subscribe: {e}");
                        }
                        self.publish(self.topics.status(), "online".into(), true);
                        self.publish_heartbeat();
                        if let Ok(result) = std::fs::read_to_string(&self.pending_result) {
                            self.publish(self.topics.fleet_result(), result, false);
                            let _ = std::fs::remove_file(&self.pending_result);
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => self.on_command(&publish),
                    Ok(_) => {}
                    Err(e) => {
                        self.status.set_mqtt(MqttState::Connecting);
                        let delay = self.backoff.next_delay();
                        tracing::warn!("MQTT: {e}; retrying in {delay:?}");
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = shutdown.changed() => return,
                        }
                    }
                },
                event = events.recv() => match event {
                    Ok(outcome) => self.publish_outcome(&outcome),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("MQTT events lagged; {n} events not published");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = heartbeat.tick() => self.publish_heartbeat(),
                _ = metrics_tick.tick() => self.publish_metrics(),
                event = sessions.recv() => match event {
                    Ok(event) => {
                        match serde_json::to_string(&event) {
                            Ok(json) => self.publish(self.topics.session_event(), json, false),
                            Err(e) => tracing::error!("serialising session event: {e}"),
                        }
                        let open = serde_json::to_string(&self.pipeline.sessions())
                            .unwrap_or_else(|_| "[]".into());
                        self.publish(self.topics.sessions(), open, true);
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("MQTT session events lagged; {n} not published");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                event = wake.recv() => match event {
                    Ok(event) => match serde_json::to_string(&event) {
                        Ok(json) => self.publish(self.topics.wake_event(), json, false),
                        Err(e) => tracing::error!("serialising wake event: {e}"),
                    },
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("MQTT wake events lagged; {n} not published");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                entry = recv_audit(&mut audit) => match entry {
                    Ok(entry) => match serde_json::to_string(&entry) {
                        Ok(json) => self.publish(self.topics.audit_event(), json, false),
                        Err(e) => tracing::error!("serialising audit entry: {e}"),
                    },
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("MQTT audit events lagged; {n} not published (the file has them)");
                    }
                    Err(broadcast::error::RecvError::Closed) => audit = None,
                },
                _ = shutdown.changed() => {
                    self.stop(&mut eventloop).await;
                    return;
                }
            }
        }
    }

    /// Publishes "offline" (the will is only for unclean disconnects) and disconnects.
    async fn stop(&mut self, eventloop: &mut EventLoop) {
        self.publish(self.topics.status(), "offline".into(), true);
        let _ = self.client.try_disconnect();
        // Drive the event loop until the disconnect went out (or it fails).
        let drain = async {
            while let Ok(event) = eventloop.poll().await {
                if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    }

    fn publish(&self, topic: String, payload: String, retain: bool) {
        if let Err(e) = self
            .client
            .try_publish(topic.clone(), QoS::AtLeastOnce, retain, payload)
        {
            tracing::warn!(%topic, "MQTT publish dropped: {e}");
        }
    }

    fn publish_outcome(&self, outcome: &Outcome) {
        match serde_json::to_string(outcome) {
            Ok(json) => self.publish(self.topics.intent_event(), json, false),
            Err(e) => tracing::error!("serialising outcome: {e}"),
        }
        let response = serde_json::json!({
            "utterance_id": outcome.utterance_id,
            "text": outcome.response,
        });
        self.publish(self.topics.response_event(), response.to_string(), false);
    }

    fn publish_metrics(&self) {
        if !self.metrics_every.is_zero() {
            let metrics = self.pipeline.metrics();
            crate::metrics::refresh(metrics, &self.status);
            self.publish(self.topics.metrics(), metrics.render(), true);
        }
    }

    fn publish_heartbeat(&self) {
        if !self.heartbeat.is_zero() {
            let beat = self.fleet.heartbeat().to_string();
            self.publish(self.topics.fleet_heartbeat(), beat, true);
        }
    }

    /// A signed fleet command: performed off the event loop, acknowledged on the result
    /// topic whatever happens.
    fn on_fleet(&self, payload: &[u8]) {
        let result_topic = self.topics.fleet_result();
        if !self.fleet_enabled {
            let refused = edge_fleet::FleetResult {
                id: None,
                op: None,
                status: edge_fleet::Status::Rejected,
                message: "fleet commands are disabled on this device (fleet.enabled)".into(),
                skill: None,
                version: None,
            };
            self.publish(
                result_topic,
                serde_json::to_string(&refused).unwrap_or_default(),
                false,
            );
            return;
        }
        let (fleet, client, payload) = (self.fleet.clone(), self.client.clone(), payload.to_vec());
        let heartbeat_topic = self.topics.fleet_heartbeat();
        tokio::spawn(async move {
            let result = fleet.handle(&payload).await;
            tracing::info!(id = ?result.id, status = ?result.status, "fleet: {}", result.message);
            // The retained heartbeat first: the broker takes one client's messages in
            // order, so whoever reads the heartbeat after the result sees the new skills
            // (read the other way round, it could still list a removed skill).
            let beat = fleet.heartbeat().to_string();
            let _ = client.try_publish(heartbeat_topic, QoS::AtLeastOnce, true, beat);
            let json = serde_json::to_string(&result).unwrap_or_default();
            if let Err(e) = client.try_publish(result_topic, QoS::AtLeastOnce, false, json) {
                tracing::warn!("MQTT publish of a fleet result dropped: {e}");
            }
        });
    }

    fn publish_error(&self, topic: &str, error: String) {
        tracing::warn!(%topic, "rejected MQTT command: {error}");
        let body = serde_json::json!({ "topic": topic, "error": error });
        self.publish(self.topics.error_event(), body.to_string(), false);
    }

    fn on_command(&self, publish: &Publish) {
        let topic = publish.topic.as_str();
        if topic == self.topics.listen_command() {
            self.on_listen(topic, &publish.payload);
            return;
        }
        if topic == self.topics.privacy_command() {
            self.on_privacy(topic, &publish.payload);
            return;
        }
        if topic == self.topics.fleet_command() {
            self.on_fleet(&publish.payload);
            return;
        }
        if topic != self.topics.say_command() {
            self.publish_error(
                topic,
                format!(
                    "unknown command topic; known: {}, {}, {}, {}",
                    self.topics.say_command(),
                    self.topics.listen_command(),
                    self.topics.privacy_command(),
                    self.topics.fleet_command()
                ),
            );
            return;
        }
        match edge_core::api::parse_say(&publish.payload) {
            Ok((text, station)) => {
                let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                    self.publish_error(
                        topic,
                        format!(
                            "busy: {} commands are being handled; this one was dropped, \
                             send it again later",
                            self.max_in_flight
                        ),
                    );
                    return;
                };
                // Acting may wait for a peer: never in the event loop. The outcome reaches
                // MQTT (and D-Bus) through the event channel.
                let (pipeline, client, topics, topic) = (
                    self.pipeline.clone(),
                    self.client.clone(),
                    self.topics.clone(),
                    topic.to_owned(),
                );
                tokio::spawn(async move {
                    let _permit = permit;
                    let handled = pipeline
                        .handle_at(&text, UtteranceOrigin::Mqtt, station.as_deref())
                        .await;
                    if let Err(e) = handled {
                        let error = format!("text {e}");
                        tracing::warn!(%topic, "rejected MQTT command: {error}");
                        let body = serde_json::json!({ "topic": topic, "error": error });
                        let _ = client.try_publish(
                            topics.error_event(),
                            QoS::AtLeastOnce,
                            false,
                            body.to_string(),
                        );
                    }
                });
            }
            Err(e) => self.publish_error(topic, e),
        }
    }
}

impl MqttTask {
    /// Privacy mode over MQTT: `on` or `off`.
    fn on_privacy(&self, topic: &str, payload: &[u8]) {
        let on = match std::str::from_utf8(payload).map(str::trim) {
            Ok("on") => true,
            Ok("off") => false,
            _ => {
                self.publish_error(
                    topic,
                    format!(
                        "payload {:?} is not \"on\" or \"off\"",
                        String::from_utf8_lossy(payload)
                    ),
                );
                return;
            }
        };
        match self.pipeline.language() {
            Some(language) => language.set_privacy(on),
            None => self.publish_error(topic, "the language tiers are not running".into()),
        }
    }

    /// Push-to-talk over MQTT: `start` or `stop`.
    fn on_listen(&self, topic: &str, payload: &[u8]) {
        let start = match std::str::from_utf8(payload).map(str::trim) {
            Ok("start") => true,
            Ok("stop") => false,
            _ => {
                self.publish_error(
                    topic,
                    format!(
                        "payload {:?} is not \"start\" or \"stop\"",
                        String::from_utf8_lossy(payload)
                    ),
                );
                return;
            }
        };
        let Some(listening) = self.listening.clone() else {
            self.publish_error(topic, crate::listening::ListenError::NoSource.to_string());
            return;
        };
        tokio::spawn(async move {
            let result = if start {
                listening.start().await
            } else {
                listening.stop().await
            };
            if let Err(e) = result {
                tracing::warn!("push-to-talk over MQTT: {e}");
            }
        });
    }
}

/// The next audit entry, or never when there is no audit log.
async fn recv_audit(
    audit: &mut Option<broadcast::Receiver<edge_audit::AuditEntry>>,
) -> Result<edge_audit::AuditEntry, broadcast::error::RecvError> {
    match audit {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let delays: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }
}
