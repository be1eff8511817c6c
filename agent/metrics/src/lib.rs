//! The agent's Prometheus metrics: the families an integrator scrapes, the calls that
//! record them, and the text exposition (OpenMetrics) served over HTTP/1 on a local address.
//!
//! Recording is cheap and never fails (atomic counters and histograms); the daemon feeds
//! them from its outcome and audit streams, and refreshes the worker and connection gauges
//! just before each scrape.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// What `GET /metrics` answers with (the encoder writes OpenMetrics text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An utterance's origin and the tier that answered it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UtteranceLabels {
    /// `dbus`, `mqtt`, `voice`, `cli`, ...
    pub origin: String,
    /// `template`, `embedding`, `slm`, `escalation`, `none`.
    pub tier: String,
}

/// A skill and how its invocation ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkillLabels {
    /// The skill's name.
    pub skill: String,
    /// `ok`, `deadline` (stopped at its CPU deadline), `trap`, `error`.
    pub result: String,
}

/// One label: the tier, a status, a decision, a worker or a stage.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Label {
    /// Its value.
    pub name: String,
}

fn label(name: &str) -> Label {
    Label {
        name: name.to_owned(),
    }
}

type Histograms = Family<Label, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.5 ms to about 16 s (a template match to an SLM answer).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The metric families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    utterances: Family<UtteranceLabels, Counter>,
    recognition: Histograms,
    stages: Histograms,
    actions: Family<Label, Counter>,
    decisions: Family<Label, Counter>,
    skills: Family<SkillLabels, Counter>,
    connections: Family<Label, Counter>,
    wake_detections: Family<Label, Counter>,
    worker_ready: Family<Label, Gauge>,
    worker_stops: Family<Label, Gauge>,
    mqtt_connected: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every family registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("edge_agent");
        let utterances = Family::<UtteranceLabels, Counter>::default();
        registry.register(
            "utterances",
            "Utterances handled, by origin and by the tier that answered",
            utterances.clone(),
        );
        let recognition: Histograms = Family::new_with_constructor(latency_histogram);
        registry.register(
            "recognition_seconds",
            "Time to recognise an utterance, by the tier that answered (label name)",
            recognition.clone(),
        );
        let stages: Histograms = Family::new_with_constructor(latency_histogram);
        registry.register(
            "stage_seconds",
            "Time per stage (label name): transcript (end of speech to text), end_to_action (end of speech to the action done), skill (a skill's invocation), audit_write, signal_write (until the peer confirmed)",
            stages.clone(),
        );
        let actions = Family::<Label, Counter>::default();
        registry.register(
            "actions",
            "Actions on signals, by result (label name: done, denied, confirm, failed)",
            actions.clone(),
        );
        let decisions = Family::<Label, Counter>::default();
        registry.register(
            "policy_decisions",
            "Audited policy decisions (label name: allow, deny, confirm, confirmed, declined, expired)",
            decisions.clone(),
        );
        let skills = Family::<SkillLabels, Counter>::default();
        registry.register(
            "skill_invocations",
            "Skill invocations, by skill and result (ok, deadline, trap, error)",
            skills.clone(),
        );
        let connections = Family::<Label, Counter>::default();
        registry.register(
            "connections",
            "Connections made (label name: mqtt), the first and every reconnect",
            connections.clone(),
        );
        let wake_detections = Family::<Label, Counter>::default();
        registry.register(
            "wake_detections",
            "Wake words heard, by phrase (label name: okay_nabu, ...)",
            wake_detections.clone(),
        );
        let worker_ready = Family::<Label, Gauge>::default();
        registry.register(
            "worker_ready",
            "1 while a supervised worker (label name: asr, slm, wake) is ready",
            worker_ready.clone(),
        );
        let worker_stops = Family::<Label, Gauge>::default();
        registry.register(
            "worker_stops",
            "Times a supervised worker stopped (crashed, hung, or failed to start) since the agent started",
            worker_stops.clone(),
        );
        let mqtt_connected = Gauge::default();
        registry.register(
            "mqtt_connected",
            "1 while the agent is connected to its MQTT broker",
            mqtt_connected.clone(),
        );
        Self {
            registry,
            utterances,
            recognition,
            stages,
            actions,
            decisions,
            skills,
            connections,
            wake_detections,
            worker_ready,
            worker_stops,
            mqtt_connected,
        }
    }

    /// An utterance handled: where it came from, which tier answered, how long
    /// recognition took, and what became of its action, if it had one.
    pub fn utterance(&self, origin: &str, tier: &str, recognition: Duration, action: Option<&str>) {
        self.utterances
            .get_or_create(&UtteranceLabels {
                origin: origin.to_owned(),
                tier: tier.to_owned(),
            })
            .inc();
        self.recognition
            .get_or_create(&label(tier))
            .observe(recognition.as_secs_f64());
        if let Some(status) = action {
            self.actions.get_or_create(&label(status)).inc();
        }
    }

    /// Time spent in a stage (`transcript`, `end_to_action`, `skill`, `audit_write`,
    /// `signal_write`).
    pub fn stage(&self, stage: &str, took: Duration) {
        self.stages
            .get_or_create(&label(stage))
            .observe(took.as_secs_f64());
    }

    /// A skill invocation and how it ended.
    pub fn skill(&self, skill: &str, result: &str, took: Duration) {
        self.skills
            .get_or_create(&SkillLabels {
                skill: skill.to_owned(),
                result: result.to_owned(),
            })
            .inc();
        self.stage("skill", took);
    }

    /// A wake word heard.
    pub fn wake_detected(&self, phrase: &str) {
        self.wake_detections.get_or_create(&label(phrase)).inc();
    }

    /// A connection made (`mqtt`).
    pub fn connected(&self, what: &str) {
        self.connections.get_or_create(&label(what)).inc();
    }

    /// A policy decision written to the audit log.
    pub fn decision(&self, decision: &str) {
        self.decisions.get_or_create(&label(decision)).inc();
    }

    /// A worker's state as the supervisor last reported it.
    pub fn worker(&self, worker: &str, ready: bool, stops: u64) {
        self.worker_ready
            .get_or_create(&label(worker))
            .set(i64::from(ready));
        self.worker_stops
            .get_or_create(&label(worker))
            .set(i64::try_from(stops).unwrap_or(i64::MAX));
    }

    /// Whether the agent's MQTT connection is up.
    pub fn mqtt(&self, connected: bool) {
        self.mqtt_connected.set(i64::from(connected));
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The address is taken or not allowed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Binds `addr` (`host:port`) for [`serve`].
pub async fn bind(addr: &str) -> Result<tokio::net::TcpListener, MetricsError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// Answers `GET /metrics` on `listener` until the task is dropped: `refresh` runs first
/// (to update the gauges that are read, not recorded), then the families are rendered.
/// Anything else is 404; a broken connection ends only itself.
pub async fn serve<F>(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, refresh: F)
where
    F: Fn(&Metrics) + Send + Sync + 'static,
{
    let refresh = Arc::new(refresh);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (metrics, refresh) = (metrics.clone(), refresh.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<_>| {
                let answer = answer(&request, &metrics, refresh.as_ref());
                async move { Ok::<_, std::convert::Infallible>(answer) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "metrics connection ended: {e}");
            }
        });
    }
}

fn answer<B>(
    request: &Request<B>,
    metrics: &Metrics,
    refresh: &(dyn Fn(&Metrics) + Send + Sync),
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    if request.method() != hyper::Method::GET || request.uri().path() != "/metrics" {
        *response.status_mut() = StatusCode::NOT_FOUND;
        *response.body_mut() = Full::new(Bytes::from_static(b"only GET /metrics\n"));
        return response;
    }
    refresh(metrics);
    *response.body_mut() = Full::new(Bytes::from(metrics.render()));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_are_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.utterance("dbus", "template", Duration::from_micros(300), Some("done"));
        metrics.utterance("mqtt", "none", Duration::from_micros(100), None);
        metrics.decision("allow");
        metrics.worker("asr", true, 2);
        metrics.stage("transcript", Duration::from_millis(3));
        metrics.skill("climate", "trap", Duration::from_millis(1));
        metrics.connected("mqtt");
        let text = metrics.render();
        for line in [
            "edge_agent_utterances_total{origin=\"dbus\",tier=\"template\"} 1",
            "edge_agent_utterances_total{origin=\"mqtt\",tier=\"none\"} 1",
            "edge_agent_actions_total{name=\"done\"} 1",
            "edge_agent_policy_decisions_total{name=\"allow\"} 1",
            "edge_agent_worker_ready{name=\"asr\"} 1",
            "edge_agent_worker_stops{name=\"asr\"} 2",
            "edge_agent_recognition_seconds_count{name=\"template\"} 1",
            "edge_agent_skill_invocations_total{skill=\"climate\",result=\"trap\"} 1",
            "edge_agent_stage_seconds_count{name=\"skill\"} 1",
            "edge_agent_connections_total{name=\"mqtt\"} 1",
            "edge_agent_stage_seconds_bucket{le=\"0.004\",name=\"transcript\"} 1",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[tokio::test]
    async fn the_endpoint_serves_metrics_and_refreshes_first() {
        let listener = bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = Arc::new(Metrics::new());
        let server = tokio::spawn(serve(listener, metrics, |m: &Metrics| m.mqtt(true)));
        let get = |path: &'static str| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream
                .write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await
                .expect("write");
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.expect("read");
            reply
        };
        let reply = get("/metrics").await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains(CONTENT_TYPE), "{reply}");
        assert!(reply.contains("edge_agent_mqtt_connected 1"), "{reply}");
        assert!(get("/other").await.starts_with("HTTP/1.1 404"));
        server.abort();
    }

    #[tokio::test]
    async fn a_taken_address_is_named() {
        let first = bind("127.0.0.1:0").await.expect("bind");
        let addr = first.local_addr().expect("addr").to_string();
        let error = bind(&addr).await.expect_err("taken");
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot listen on {addr}:")),
            "{error}"
        );
    }
}
