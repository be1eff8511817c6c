//! Building the HAL (transports for the loaded profiles), the policy and the audit log.

use crate::actuator::Actuator;
use anyhow::Context as _;
use edge_audit::AuditLog;
use edge_config::{AgentConfig, BusKind};
use edge_hal::{Catalogue, Hal, TransportKind};
use edge_hal_mqtt::{MqttSettings, MqttTransport};
use edge_policy::Policy;
use std::sync::Arc;
use std::time::Duration;

/// The actuator and the raw connections skills may use (granted D-Bus calls, MQTT topics).
#[derive(Debug)]
pub struct HalParts {
    /// Policy, audit and HAL.
    pub actuator: Actuator,
    /// The vehicle bus, when D-Bus signals are configured and it was reachable.
    pub dbus: Option<zbus::Connection>,
    /// The plant broker's client, when MQTT signals are configured.
    pub mqtt: Option<Arc<MqttTransport>>,
}

/// The actuator over the catalogue's signals. A vehicle bus that cannot be reached at start
/// is logged and its signals answer with a transport error; the broker is retried.
pub async fn build(config: &AgentConfig, catalogue: &Catalogue) -> anyhow::Result<HalParts> {
    let mut dbus_connection = None;
    let mut mqtt_transport = None;
    let mut hal = Hal::new(catalogue, Duration::from_millis(config.hal.set_timeout_ms));
    let dbus_signals = catalogue.bound_to(false);
    if !dbus_signals.is_empty() {
        let builder = match config.hal.dbus.bus {
            BusKind::System => zbus::connection::Builder::system(),
            BusKind::Session => zbus::connection::Builder::session(),
            BusKind::Address => zbus::connection::Builder::address(
                config.hal.dbus.address.as_deref().unwrap_or_default(),
            ),
        };
        match builder.build().await {
            Ok(connection) => {
                dbus_connection = Some(connection.clone());
                let transport =
                    edge_hal_dbus::DbusTransport::new(connection, &dbus_signals, hal.sink())
                        .await
                        .context("watching D-Bus signals")?;
                hal.set_transport(TransportKind::Dbus, Arc::new(transport));
            }
            Err(e) => tracing::error!("HAL D-Bus: cannot connect to the vehicle bus: {e}"),
        }
    }
    let mqtt_signals = catalogue.bound_to(true);
    if !mqtt_signals.is_empty() {
        let settings = MqttSettings {
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
        match MqttTransport::new(&settings, &mqtt_signals, hal.sink()) {
            Ok(transport) => {
                let transport = Arc::new(transport);
                mqtt_transport = Some(transport.clone());
                hal.set_transport(TransportKind::Mqtt, transport);
            }
            // Signals bound to MQTT then fail with "no transport", never in plain text.
            Err(e) => tracing::error!("HAL MQTT off: {e}"),
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
    Ok(HalParts {
        actuator: Actuator::new(Arc::new(hal), policy, audit),
        dbus: dbus_connection,
        mqtt: mqtt_transport,
    })
}
