//! `[hal]`: the signal profiles and the transports' sections. The Modbus transport owns
//! `[hal.modbus]`; `[hal.dbus]` and `[hal.mqtt]` stay here because their crates link zbus
//! and rumqttc's TLS stack, too much for the configuration crate to carry.

use super::dbus::BusKind;
use super::mqtt::MqttTlsSection;
use edge_core::SectionError;
use edge_core::section::list_or_comma_separated;
use edge_hal_modbus::ModbusSection;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[hal]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HalSection {
    /// Profile files (`[[signal]]` and `[[rule]]`), loaded in order. From the environment:
    /// comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub profiles: Vec<PathBuf>,
    /// How long a write may take until the peer confirms it, and an active read until the
    /// peer answers, in milliseconds.
    pub set_timeout_ms: u64,
    /// The bus of D-Bus-bound signals.
    pub dbus: HalDbusSection,
    /// The broker of MQTT-bound signals.
    pub mqtt: HalMqttSection,
    /// The devices of Modbus-bound signals (the Modbus transport's own section).
    pub modbus: ModbusSection,
}

impl Default for HalSection {
    fn default() -> Self {
        Self {
            profiles: Vec::new(),
            set_timeout_ms: 3000,
            dbus: HalDbusSection::default(),
            mqtt: HalMqttSection::default(),
            modbus: ModbusSection::default(),
        }
    }
}

impl HalSection {
    /// Checks its own values and each transport's section; keys are relative to `[hal]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.set_timeout_ms == 0 {
            return Err(SectionError::new("set_timeout_ms", "must be at least 1"));
        }
        self.dbus.validate().map_err(|e| e.within("dbus"))?;
        self.mqtt.validate().map_err(|e| e.within("mqtt"))?;
        self.modbus.validate().map_err(|e| e.within("modbus"))
    }
}

/// `[hal.dbus]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HalDbusSection {
    /// `system`, `session` or `address`.
    pub bus: BusKind,
    /// Bus address when `bus = "address"`.
    pub address: Option<String>,
}

impl Default for HalDbusSection {
    fn default() -> Self {
        Self {
            bus: BusKind::System,
            address: None,
        }
    }
}

impl HalDbusSection {
    /// Checks the values the schema cannot; keys are relative to `[hal.dbus]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.bus == BusKind::Address && self.address.as_deref().is_none_or(str::is_empty) {
            return Err(SectionError::new(
                "address",
                "required when hal.dbus.bus = \"address\"",
            ));
        }
        Ok(())
    }
}

/// `[hal.mqtt]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HalMqttSection {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Client id; empty means `edge-agent-hal-{device_id}`.
    pub client_id: String,
    /// User name, if the broker needs one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// TLS to the broker (absent: plain TCP).
    pub tls: Option<MqttTlsSection>,
}

impl Default for HalMqttSection {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 1883,
            client_id: String::new(),
            username: None,
            password: None,
            tls: None,
        }
    }
}

impl HalMqttSection {
    /// Checks the values the schema cannot; keys are relative to `[hal.mqtt]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.port == 0 {
            return Err(SectionError::new("port", "must be 1 to 65535"));
        }
        match &self.tls {
            Some(tls) => tls.validate().map_err(|e| e.within("tls")),
            None => Ok(()),
        }
    }
}
