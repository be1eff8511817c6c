//! `[hal.modbus]`: the devices and how they are polled. Defined and checked here; the
//! configuration crate only places it.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[hal.modbus]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModbusSection {
    /// How often readable signals are read, in milliseconds; changes become updates.
    pub poll_ms: u64,
    /// How long one request may take before the connection is dropped and made again.
    pub timeout_ms: u64,
    /// Devices by the name bindings use (`devices.press-1 = { host = "10.0.3.21" }`).
    pub devices: BTreeMap<String, ModbusDevice>,
}

impl Default for ModbusSection {
    fn default() -> Self {
        Self {
            poll_ms: 500,
            timeout_ms: 1000,
            devices: BTreeMap::new(),
        }
    }
}

/// `[hal.modbus.devices.NAME]`: a Modbus TCP server (a device, or a gateway to several
/// units).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusDevice {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    #[serde(default = "modbus_port")]
    pub port: u16,
}

fn modbus_port() -> u16 {
    502
}

impl ModbusDevice {
    /// `host:port`, as connected to and named in errors.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl ModbusSection {
    /// Checks the values the schema cannot; keys are relative to `[hal.modbus]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.poll_ms == 0 {
            return Err(SectionError::new("poll_ms", "must be at least 1"));
        }
        if self.timeout_ms == 0 {
            return Err(SectionError::new("timeout_ms", "must be at least 1"));
        }
        for (name, device) in &self.devices {
            if device.host.is_empty() {
                return Err(SectionError::new(
                    format!("devices.{name}.host"),
                    "must not be empty",
                ));
            }
            if device.port == 0 {
                return Err(SectionError::new(
                    format!("devices.{name}.port"),
                    "must be 1 to 65535",
                ));
            }
        }
        Ok(())
    }
}
