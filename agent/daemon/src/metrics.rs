//! Prometheus metrics (`[metrics]`): outcomes and audited decisions are recorded from the
//! pipeline's streams, the speech stages by the speech front end, and the worker and MQTT
//! gauges are read from the status just before each scrape.

use crate::pipeline::Pipeline;
use crate::status::Status;
use edge_config::AgentConfig;
use edge_metrics::Metrics;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// A label's text from a value serde writes as a string (`"dbus"`, `"template"`).
fn label<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// Updates the gauges that are read rather than recorded: MQTT and the workers.
pub fn refresh(metrics: &Metrics, status: &Status) {
    metrics.mqtt(status.mqtt_connected());
    for (worker, ready, stops) in status.workers() {
        metrics.worker(worker, ready, stops);
    }
}

/// Records every outcome and audited decision into `metrics`, and serves them when
/// `metrics.enabled`. A port that cannot be bound keeps metrics off and says why; the
/// daemon runs on.
pub fn spawn(
    config: &AgentConfig,
    pipeline: &Pipeline,
    status: Arc<Status>,
    metrics: Arc<Metrics>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let mut outcomes = pipeline.subscribe();
    let recorder = metrics.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            match outcomes.recv().await {
                Ok(outcome) => {
                    let action = outcome
                        .action
                        .as_ref()
                        .and_then(|a| serde_json::to_value(a).ok())
                        .and_then(|v| v["status"].as_str().map(str::to_owned));
                    recorder.utterance(
                        &label(&outcome.origin),
                        &label(&outcome.recognition.tier),
                        std::time::Duration::from_micros(outcome.latency_us),
                        action.as_deref(),
                    );
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    }));
    if let Some(mut audit) = pipeline.actuator().map(|a| a.subscribe_audit()) {
        let recorder = metrics.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match audit.recv().await {
                    Ok(entry) => {
                        // An allowed write is logged twice (before, "pending", and its
                        // result): its decision counts once.
                        let result_of_write =
                            matches!(entry.decision.as_str(), "allow" | "confirmed")
                                && entry.result != "pending";
                        if !result_of_write {
                            recorder.decision(&entry.decision);
                        }
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                }
            }
        }));
    }
    if config.metrics.enabled {
        let listen = config.metrics.listen.clone();
        tasks.push(tokio::spawn(async move {
            let listener = match edge_metrics::bind(&listen).await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::error!("metrics off: {e}");
                    return;
                }
            };
            tracing::info!("metrics on http://{listen}/metrics");
            edge_metrics::serve(listener, metrics, move |m: &Metrics| refresh(m, &status)).await;
        }));
    }
    tasks
}
