//! The wake word: the listening task streams the live source to the `edge-wake` worker (or
//! any Wyoming wake server, `wake.uri`) while no command is being heard; a detection is
//! announced on both APIs, optionally acknowledged aloud, and starts a command.

use crate::pipeline::{Pipeline, WakeEvent};
use edge_config::AgentConfig;
use edge_protocol::ClientError;
use edge_protocol::{AudioFormat, Event, EventWriter, kind};
use edge_worker::{Unavailable, WorkerConfig, WorkerHandle, WorkerState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Why the wake word cannot be listened for, or a stream ended.
#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Connection(#[from] ClientError),
    /// The server answered the stream with an `error` event (its text).
    #[error("the wake word server refused the stream: {0}")]
    Refused(String),
    #[error("the wake word stream ended")]
    Ended,
}

/// The configured wake word service.
#[derive(Debug)]
pub struct Wake {
    uri: Option<String>,
    unavailable: Option<Unavailable>,
    worker: Option<WorkerHandle>,
    phrase: String,
    threshold: f32,
    refractory_ms: u64,
    start_timeout: Duration,
    /// Said on a detection when a voice is configured.
    pub acknowledgement: String,
    detections: AtomicU64,
    pipeline: Arc<Pipeline>,
}

impl Wake {
    /// Starts the worker (or notes the external server); `None` when `wake.enabled` is off.
    /// Never fails: a missing model leaves the daemon serving, the status saying why.
    pub fn start(config: &AgentConfig, pipeline: Arc<Pipeline>) -> Option<Self> {
        let w = &config.wake;
        if !w.enabled {
            return None;
        }
        let mut wake = Self {
            uri: None,
            unavailable: None,
            worker: None,
            phrase: w.model.clone(),
            threshold: w.threshold,
            refractory_ms: w.refractory_ms,
            start_timeout: Duration::from_millis(w.start_timeout_ms),
            acknowledgement: w.acknowledgement.clone(),
            detections: AtomicU64::new(0),
            pipeline,
        };
        let runtime = if w.runtime.as_os_str().is_empty() {
            w.models
                .join(std::env::consts::ARCH)
                .join("libtensorflowlite_c.so")
        } else {
            w.runtime.clone()
        };
        if !w.uri.is_empty() {
            wake.uri = Some(w.uri.clone());
        } else if !w.models.join("melspectrogram.tflite").is_file() || !runtime.is_file() {
            wake.unavailable = Some(Unavailable::NoModelOrRuntime {
                key: "wake.models",
                models: w.models.clone(),
                runtime,
                hint: "run agent/models/provision.sh wake",
            });
        } else if let Some(binary) = edge_worker::find_binary(&w.worker) {
            if let Some(dir) = w.socket.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let worker = WorkerHandle::spawn(WorkerConfig {
                name: "wake worker".into(),
                binary,
                args: vec![
                    "--models".into(),
                    w.models.clone().into(),
                    "--runtime".into(),
                    runtime.into(),
                    "--model".into(),
                    w.model.clone().into(),
                    "--threshold".into(),
                    w.threshold.to_string().into(),
                    "--refractory-ms".into(),
                    w.refractory_ms.to_string().into(),
                ],
                socket: w.socket.clone(),
                start_timeout: wake.start_timeout,
                health_interval: Duration::from_secs(5),
                log_filter: config.log.level.clone(),
                backoff_min: Duration::from_millis(250),
                backoff_max: Duration::from_secs(30),
            });
            wake.uri = Some(worker.uri().to_owned());
            wake.worker = Some(worker);
        } else {
            wake.unavailable = Some(Unavailable::NoBinary {
                key: "wake.worker",
                path: w.worker.clone(),
            });
        }
        if let Some(reason) = &wake.unavailable {
            tracing::error!("no wake word: {reason}");
        }
        Some(wake)
    }

    /// Status for the APIs: the worker's state, the phrase and the detections so far.
    pub fn status(&self) -> serde_json::Value {
        let mut json = match &self.unavailable {
            Some(reason) => {
                serde_json::json!({"state": "unavailable", "reason": reason.to_string()})
            }
            None => edge_worker::status_json(self.worker.as_ref(), self.uri.as_deref()),
        };
        json["phrase"] = self.phrase.clone().into();
        json["threshold"] = f64::from(self.threshold).into();
        json["detections"] = self.detections.load(Ordering::Relaxed).into();
        json
    }

    /// Starts a stream: `detect` with the phrase and decision, then `audio-start`.
    /// Detections (or the error that ended the stream) arrive on the stream's receiver.
    pub async fn open(&self) -> Result<WakeStream, WakeError> {
        let uri = match (&self.uri, &self.unavailable) {
            (Some(uri), _) => uri.clone(),
            (None, reason) => {
                return Err(reason.clone().unwrap_or(Unavailable::NotConfigured).into());
            }
        };
        if let Some(worker) = &self.worker
            && !matches!(worker.state(), WorkerState::Ready { .. })
        {
            worker
                .wait_ready(self.start_timeout)
                .await
                .map_err(Unavailable::from)?;
        }
        let connection =
            edge_protocol::Connection::connect("wake word server", &uri, self.start_timeout)
                .await?;
        let (mut reader, mut writer) = connection.split();
        let format = AudioFormat::SPEECH;
        let detect = Event::new("detect")
            .with("names", serde_json::json!([self.phrase_name()]))
            .with("threshold", f64::from(self.threshold))
            .with("refractory_ms", self.refractory_ms);
        let start = Event::new(kind::AUDIO_START)
            .with("rate", format.rate)
            .with("width", format.width)
            .with("channels", format.channels);
        for event in [detect, start] {
            writer.send(&event).await?;
        }
        let (tx, detections) = mpsc::channel(8);
        let reader_task = tokio::spawn(async move {
            loop {
                let item = match reader.receive().await {
                    Ok(event) if event.is("detection") => Ok(WakeEvent {
                        name: event.str("name").unwrap_or_default().to_owned(),
                        probability: event.data.get("probability").and_then(|p| p.as_f64()),
                        audio_ms: event.u64("timestamp"),
                    }),
                    Ok(event) if event.is(kind::ERROR) => Err(WakeError::Refused(
                        event.str("text").unwrap_or_default().to_owned(),
                    )),
                    Ok(_) => continue,
                    Err(e) => Err(WakeError::Connection(e)),
                };
                let ended = item.is_err();
                if tx.send(item).await.is_err() || ended {
                    return;
                }
            }
        });
        Ok(WakeStream {
            writer,
            detections,
            reader_task,
        })
    }

    /// The phrase's name as a server lists it (a path's file stem).
    fn phrase_name(&self) -> String {
        std::path::Path::new(&self.phrase)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.phrase.clone())
    }

    /// Counts and announces a detection.
    pub fn announce(&self, event: WakeEvent) {
        self.detections.fetch_add(1, Ordering::Relaxed);
        self.pipeline.metrics().wake_detected(&event.name);
        tracing::info!(name = %event.name, probability = ?event.probability, "wake word heard");
        self.pipeline.announce_wake(event);
    }
}

/// One stream of live audio to the wake word server.
#[derive(Debug)]
pub struct WakeStream {
    writer: EventWriter,
    /// Detections in order; an `Err` ends the stream (connection lost, refused).
    pub detections: mpsc::Receiver<Result<WakeEvent, WakeError>>,
    reader_task: tokio::task::JoinHandle<()>,
}

impl WakeStream {
    /// Sends one frame of 16 kHz mono samples.
    pub async fn send(&mut self, frame: &[i16]) -> Result<(), ClientError> {
        let format = AudioFormat::SPEECH;
        let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
        let chunk = Event::new(kind::AUDIO_CHUNK)
            .with("rate", format.rate)
            .with("width", format.width)
            .with("channels", format.channels)
            .with_payload(bytes);
        self.writer.send(&chunk).await
    }
}

impl Drop for WakeStream {
    fn drop(&mut self) {
        self.reader_task.abort();
    }
}
