//! `[dbus]`: the bus the daemon's D-Bus API is served on.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};

/// Which bus the D-Bus API (or a D-Bus transport) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// The system bus (production).
    System,
    /// The session bus of the user (development).
    Session,
    /// The bus at `dbus.address`.
    Address,
}

/// `[dbus]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbusSection {
    /// Serve the D-Bus API.
    pub enabled: bool,
    /// `system`, `session`, or `address`.
    pub bus: BusKind,
    /// Bus address when `bus = "address"` (e.g. `unix:path=/run/dbus/x`).
    pub address: Option<String>,
}

impl Default for DbusSection {
    fn default() -> Self {
        Self {
            enabled: true,
            bus: BusKind::System,
            address: None,
        }
    }
}

impl DbusSection {
    /// Checks the values the schema cannot; keys are relative to `[dbus]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.bus == BusKind::Address && self.address.as_deref().is_none_or(str::is_empty) {
            return Err(SectionError::new(
                "address",
                "required when dbus.bus = \"address\"",
            ));
        }
        Ok(())
    }
}
