//! Modbus TCP transport of the HAL, for plant equipment: signals bound to holding and
//! input registers, coils and discrete inputs (scale, offset, 16/32-bit and float layouts,
//! word order). Readable signals are polled and changes reported; a write is done when
//! reading the address back gives what was written. Each device has one connection, made
//! again with backoff when it fails; errors name the device, unit and address.

mod binding;
mod section;
mod transport;

pub use binding::{ModbusBinding, Raw, RegisterType, Table, WordOrder};
pub use section::{ModbusDevice, ModbusSection};
pub use transport::ModbusTransport;

use edge_core::SignalDef;
use edge_hal::{
    Binding, BindingError, BoundSignal, BoxFuture, StartError, Transport, TransportPlugin,
    UpdateSink,
};
use std::sync::Arc;

/// The transport's name: the key of its bindings in profiles and of `[hal.modbus]`.
pub const NAME: &str = "modbus";

/// The Modbus transport as a registry plug-in, over its `[hal.modbus]` section.
#[derive(Debug, Clone)]
pub struct ModbusPlugin {
    section: ModbusSection,
}

impl ModbusPlugin {
    /// A plug-in for the devices of `section`.
    pub fn new(section: ModbusSection) -> Self {
        Self { section }
    }
}

impl TransportPlugin for ModbusPlugin {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse_binding(
        &self,
        signal: &SignalDef,
        entry: toml::Value,
    ) -> Result<Binding, BindingError> {
        let binding: ModbusBinding = BindingError::parse(entry)?;
        binding.check(signal)?;
        if !self.section.devices.contains_key(&binding.device) {
            return Err(BindingError::invalid(
                "device",
                format!(
                    "{:?} is not a device of [hal.modbus.devices] (known: {:?})",
                    binding.device,
                    self.section.devices.keys().collect::<Vec<_>>()
                ),
            ));
        }
        Ok(Binding::new(NAME, binding))
    }

    fn start<'a>(
        &'a self,
        signals: Vec<BoundSignal>,
        sink: UpdateSink,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, StartError>> {
        Box::pin(async move {
            Ok(
                Arc::new(ModbusTransport::start(&self.section, signals, sink))
                    as Arc<dyn Transport>,
            )
        })
    }
}
