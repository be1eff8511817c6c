//! TLS and credentials of a broker connection, from its config section (the agent's
//! `[mqtt]` and the HAL's `[hal.mqtt]`).

/// A connection's TLS and credentials from its config section.
pub fn security(
    username: Option<&String>,
    password: Option<&String>,
    tls: Option<&edge_config::MqttTlsSection>,
) -> edge_hal_mqtt::MqttSecurity {
    edge_hal_mqtt::MqttSecurity {
        tls: tls.map(|t| edge_hal_mqtt::TlsFiles {
            ca_file: t.ca_file.clone(),
            client: t.client_cert_file.clone().zip(t.client_key_file.clone()),
        }),
        username: username.cloned(),
        password: password.cloned(),
    }
}
