//! `[mqtt]`: the daemon's own broker connection, and the TLS settings it shares with
//! `[hal.mqtt]`. (The MQTT crate's TLS stack links native code, so these stay here.)

use edge_core::SectionError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[mqtt]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSection {
    /// Connect to a broker at all.
    pub enabled: bool,
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id; empty means `edge-agent-{device_id}`. Must be stable across restarts
    /// for the persistent session to survive.
    pub client_id: String,
    /// Keep-alive interval in seconds (at least 5).
    pub keep_alive_secs: u64,
    /// First delay before reconnecting, in milliseconds.
    pub reconnect_min_ms: u64,
    /// Longest delay between reconnects, in milliseconds.
    pub reconnect_max_ms: u64,
    /// Topic prefix; topics are `{topic_prefix}/{device_id}/...`.
    pub topic_prefix: String,
    /// Outgoing messages buffered while the broker is away; beyond it events are dropped
    /// (and logged) so the D-Bus path never waits on MQTT.
    pub queue_capacity: usize,
    /// `cmd/say` commands handled at once (each may wait on a skill or a peer); more are
    /// refused on `events/error` with a reason, so a flood costs bounded memory.
    pub max_commands_in_flight: usize,
    /// User name, if the broker needs one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// TLS to the broker (absent: plain TCP).
    pub tls: Option<MqttTlsSection>,
}

impl Default for MqttSection {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "localhost".into(),
            port: 1883,
            client_id: String::new(),
            keep_alive_secs: 30,
            reconnect_min_ms: 500,
            reconnect_max_ms: 30_000,
            topic_prefix: "edge-agent".into(),
            queue_capacity: 256,
            max_commands_in_flight: 64,
            username: None,
            password: None,
            tls: None,
        }
    }
}

impl MqttSection {
    /// Checks the values the schema cannot; keys are relative to `[mqtt]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.enabled {
            if self.host.trim().is_empty() {
                return Err(SectionError::new("host", "must not be empty"));
            }
            if self.port == 0 {
                return Err(SectionError::new("port", "must be 1 to 65535"));
            }
        }
        if let Some(tls) = &self.tls {
            tls.validate().map_err(|e| e.within("tls"))?;
        }
        if self.keep_alive_secs < 5 {
            return Err(SectionError::new(
                "keep_alive_secs",
                format!("{} is below the minimum of 5", self.keep_alive_secs),
            ));
        }
        if self.reconnect_min_ms == 0 {
            return Err(SectionError::new("reconnect_min_ms", "must be at least 1"));
        }
        if self.reconnect_max_ms < self.reconnect_min_ms {
            return Err(SectionError::new(
                "reconnect_max_ms",
                format!(
                    "{} is below mqtt.reconnect_min_ms ({})",
                    self.reconnect_max_ms, self.reconnect_min_ms
                ),
            ));
        }
        if self.topic_prefix.is_empty() || self.topic_prefix.contains(['+', '#']) {
            return Err(SectionError::new(
                "topic_prefix",
                "must be non-empty without '+' or '#'",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(SectionError::new("queue_capacity", "must be at least 1"));
        }
        if self.max_commands_in_flight == 0 {
            return Err(SectionError::new(
                "max_commands_in_flight",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// `[mqtt.tls]` and `[hal.mqtt.tls]`: PEM files. The broker's certificate must chain to
/// `ca_file` and name the host; a client certificate and key go together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTlsSection {
    pub ca_file: PathBuf,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

impl MqttTlsSection {
    /// Checks the CA and the pairing of client certificate and key; keys are relative to
    /// the `tls` table.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.ca_file.as_os_str().is_empty() {
            return Err(SectionError::new("ca_file", "must not be empty"));
        }
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(_), None) => Err(SectionError::new(
                "client_key_file",
                "required with client_cert_file",
            )),
            (None, Some(_)) => Err(SectionError::new(
                "client_cert_file",
                "required with client_key_file",
            )),
            _ => Ok(()),
        }
    }
}
