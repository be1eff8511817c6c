//! Building the HAL (the transports of the loaded profiles), the policy and the audit log.

use crate::actuator::Actuator;
use anyhow::Context as _;
use edge_audit::AuditLog;
use edge_config::{AgentConfig, BusKind};
use edge_hal::{Catalogue, Hal, TransportRegistry};
use edge_hal_dbus::{DbusBus, DbusPlugin};
use edge_hal_modbus::ModbusPlugin;
use edge_hal_mqtt::{MqttPlugin, MqttSettings};
use edge_policy::Policy;
use std::sync::Arc;
use std::time::Duration;

/// Every transport the agent has, set up from its section of the configuration. A new
/// transport is one crate and one line here.
pub fn transports(config: &AgentConfig) -> TransportRegistry {
    let bus = match config.hal.dbus.bus {
        BusKind::System => DbusBus::System,
        BusKind::Session => DbusBus::Session,
        BusKind::Address => DbusBus::Address(config.hal.dbus.address.clone().unwrap_or_default()),
    };
    let broker = MqttSettings {
        host: config.hal.mqtt.host.clone(),
        port: config.hal.mqtt.port,
        client_id: config.hal_mqtt_client_id().to_owned(),
        keep_alive: Duration::from_secs(config.mqtt.keep_alive_secs),
        security: crate::mqtt_security::security(
            config.hal.mqtt.username.as_ref(),
            config.hal.mqtt.password.as_ref(),
            config.hal.mqtt.tls.as_ref(),
        ),
    };
    TransportRegistry::new()
        .register(DbusPlugin::new(bus))
        .register(MqttPlugin::new(broker))
        .register(ModbusPlugin::new(config.hal.modbus.clone()))
}

/// The actuator over the catalogue's signals. Each transport with signals bound to it is
/// started; one that cannot start (a vehicle bus that cannot be reached, TLS files that
/// cannot be read) is logged and its signals answer that their transport is not
/// configured. A broker that is down is retried by its transport.
pub async fn build(
    config: &AgentConfig,
    catalogue: &Catalogue,
    transports: &TransportRegistry,
) -> anyhow::Result<Actuator> {
    let mut hal = Hal::new(catalogue, Duration::from_millis(config.hal.set_timeout_ms));
    for plugin in transports.plugins() {
        let signals = catalogue.bound_to(plugin.name());
        if signals.is_empty() {
            continue;
        }
        match plugin.start(signals, hal.sink()).await {
            Ok(transport) => hal.set_transport(plugin.name(), transport),
            Err(e) => tracing::error!("HAL transport off: {e}"),
        }
    }
    let known: Vec<&str> = catalogue.signals.keys().map(String::as_str).collect();
    let policy = Policy::new(catalogue.rules.clone(), &known).context("policy rules")?;
    let audit = AuditLog::open(
        &config.audit.path,
        config.audit.max_bytes,
        config.audit.keep,
    )?;
    tracing::info!(
        signals = catalogue.signals.len(),
        rules = catalogue.rules.len(),
        audit = %config.audit.path.display(),
        "HAL ready"
    );
    Ok(Actuator::new(Arc::new(hal), policy, audit))
}
