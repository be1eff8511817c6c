//! `[metrics]`: the Prometheus endpoint. It stays here: `edge-metrics` carries hyper and
//! prometheus-client, too much for the configuration crate.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Serve Prometheus metrics (`GET /metrics`, OpenMetrics text).
    pub enabled: bool,
    /// `host:port` to listen on; keep it local (or behind a firewall): the figures tell
    /// what the vehicle or machine is asked to do.
    pub listen: String,
    /// Also publish the exposition text, retained, on `{topic_prefix}/{device_id}/metrics`
    /// every this many seconds (for fleets without a scraper); 0: never. Works with
    /// `enabled` off (no HTTP port then).
    pub mqtt_summary_secs: u64,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:9464".into(),
            mqtt_summary_secs: 0,
        }
    }
}

impl MetricsSection {
    /// Checks the values the schema cannot; keys are relative to `[metrics]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if self.enabled && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(SectionError::new(
                "listen",
                format!(
                    "{:?} is not host:port (an IP address and a port)",
                    self.listen
                ),
            ));
        }
        Ok(())
    }
}
