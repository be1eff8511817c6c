//! The D-Bus API: `org.edgeagent.Agent1` at `/org/edgeagent/Agent`.
//!
//! Domain errors become D-Bus errors here and nowhere else.

use crate::listening::{ListenError, Listening};
use crate::pipeline::{InputError, Pipeline};
use crate::speech::{Speech, SpeechError};
use crate::status::Status;
use edge_config::{AgentConfig, BusKind};
use edge_core::UtteranceOrigin;
use edge_core::api::{DBUS_NAME, DBUS_PATH};
use std::sync::Arc;
use zbus::object_server::SignalEmitter;

/// Errors returned to D-Bus callers, named `org.edgeagent.Agent1.Error.*`.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.edgeagent.Agent1.Error")]
pub enum AgentError {
    /// Transport failure.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// An argument was rejected; the text says which and why.
    InvalidInput(String),
    /// A signal could not be read or written (unknown, not writable, out of range,
    /// transport error, timeout); the text says which.
    Signal(String),
    /// No signal profiles are configured.
    NoSignals(String),
    /// Speech could not be recognised: the recogniser is unavailable or failed; the text
    /// says why.
    Speech(String),
    /// The recording holds no speech.
    NoSpeech(String),
}

impl From<SpeechError> for AgentError {
    fn from(e: SpeechError) -> Self {
        match e {
            SpeechError::Audio(_) => AgentError::InvalidInput(format!("argument `wav`: {e}")),
            SpeechError::NoSpeech => AgentError::NoSpeech(e.to_string()),
            other => AgentError::Speech(other.to_string()),
        }
    }
}

impl From<InputError> for AgentError {
    fn from(e: InputError) -> Self {
        AgentError::InvalidInput(format!("argument `text`: {e}"))
    }
}

struct Agent {
    pipeline: Arc<Pipeline>,
    status: Arc<Status>,
    speech: Arc<Speech>,
    listening: Option<Listening>,
}

impl Agent {
    fn listening(&self) -> Result<&Listening, AgentError> {
        self.listening
            .as_ref()
            .ok_or_else(|| AgentError::InvalidInput(ListenError::NoSource.to_string()))
    }

    fn actuator(&self) -> Result<&Arc<crate::actuator::Actuator>, AgentError> {
        self.pipeline.actuator().ok_or_else(|| {
            AgentError::NoSignals("no signal profiles are configured (hal.profiles)".into())
        })
    }
}

#[zbus::interface(name = "org.edgeagent.Agent1")]
impl Agent {
    /// Recognises `text` as if it had been spoken; returns the outcome as JSON.
    async fn say(&self, text: &str) -> Result<String, AgentError> {
        let outcome = self.pipeline.handle(text, UtteranceOrigin::Dbus).await?;
        serde_json::to_string(&*outcome)
            .map_err(|e| AgentError::ZBus(zbus::Error::Failure(e.to_string())))
    }

    /// Like `Say`, from `station` (a car cabin, a machine's operator panel): the utterance
    /// answers that station's open question, if any. Returns the outcome as JSON.
    async fn say_at(&self, station: &str, text: &str) -> Result<String, AgentError> {
        if station.len() > 64 {
            return Err(AgentError::InvalidInput(format!(
                "argument `station` is {} bytes long; the limit is 64",
                station.len()
            )));
        }
        let outcome = self
            .pipeline
            .handle_at(text, UtteranceOrigin::Dbus, Some(station))
            .await?;
        serde_json::to_string(&*outcome)
            .map_err(|e| AgentError::ZBus(zbus::Error::Failure(e.to_string())))
    }

    /// Barge-in: stops the spoken reply now playing; returns the `tts` status as JSON.
    async fn stop_speaking(&self) -> String {
        self.status.stop_speaking()
    }

    /// The open conversations as a JSON array: station, session id, turns, the open
    /// question (kind, question, skill, expected answer) and the time left to answer.
    async fn sessions(&self) -> String {
        serde_json::to_string(&self.pipeline.sessions()).unwrap_or_else(|_| "[]".into())
    }

    /// Recognises a spoken command in a WAV file (any PCM layout; converted to 16 kHz mono)
    /// and acts on it. Returns JSON: the outcome plus `transcript`, `audio_ms`, `asr_ms`
    /// and `end_to_action_ms`.
    async fn listen(&self, wav: Vec<u8>) -> Result<String, AgentError> {
        let spoken = self.speech.listen_wav(&wav, "wav").await?;
        serde_json::to_string(&spoken)
            .map_err(|e| AgentError::ZBus(zbus::Error::Failure(e.to_string())))
    }

    /// Privacy mode: while on, no utterance is escalated off the device, whatever the
    /// configuration. Returns the escalation status as JSON.
    async fn set_privacy(&self, on: bool) -> Result<String, AgentError> {
        let language = self
            .pipeline
            .language()
            .ok_or_else(|| AgentError::InvalidInput("the language tiers are not running".into()))?;
        language.set_privacy(on);
        Ok(language.status()["escalation"].to_string())
    }

    /// Push-to-talk pressed: listen to the live source until StopListening or until the
    /// endpointer hears the command end. Returns `{"listening", "source"}`.
    async fn start_listening(&self) -> Result<String, AgentError> {
        let listening = self.listening()?;
        listening
            .start()
            .await
            .map_err(|e| AgentError::Speech(e.to_string()))?;
        Ok(listening.state_json())
    }

    /// Push-to-talk released: the command ends now and is recognised.
    async fn stop_listening(&self) -> Result<String, AgentError> {
        let listening = self.listening()?;
        listening
            .stop()
            .await
            .map_err(|e| AgentError::Speech(e.to_string()))?;
        Ok(listening.state_json())
    }

    /// Reads a signal (`fresh`: ask the peer rather than the cache). JSON
    /// `{"path", "value", "age_ms", "unit"}`.
    async fn get_signal(&self, path: &str, fresh: bool) -> Result<String, AgentError> {
        let actuator = self.actuator()?;
        let reading = actuator
            .hal()
            .get(path, fresh)
            .await
            .map_err(|e| AgentError::Signal(e.to_string()))?;
        let unit = actuator.hal().def(path).and_then(|d| d.unit.clone());
        Ok(serde_json::json!({
            "path": path,
            "value": reading.value,
            "age_ms": reading.age.as_millis() as u64,
            "unit": unit,
        })
        .to_string())
    }

    /// Writes a signal through the policy and the audit log, as a person debugging the
    /// vehicle would. `value` is JSON (`22.5`, `true`, `"running"`) or plain text.
    /// Returns JSON `{"status": "done" | "denied" | "confirm" | "failed", ...}`.
    async fn set_signal(&self, path: &str, value: &str) -> Result<String, AgentError> {
        let actuator = self.actuator()?;
        let def = actuator
            .hal()
            .def(path)
            .ok_or_else(|| AgentError::Signal(format!("unknown signal {path:?}")))?;
        let parsed = serde_json::from_str::<edge_core::SignalValue>(value)
            .or_else(|_| edge_core::SignalValue::parse_for(def.datatype, value))
            .map_err(|e| AgentError::InvalidInput(format!("argument `value`: {e}")))?;
        let outcome = actuator
            .act(
                edge_audit::Origin::Cli,
                vec![(path.to_owned(), parsed)],
                "done",
                false,
            )
            .await;
        // The question opens on the default station: "yes" from there performs the write.
        if let crate::actuator::ActOutcome::Confirm { question, token } = &outcome {
            self.pipeline.hold_confirmation(question, *token);
        }
        serde_json::to_string(&outcome)
            .map_err(|e| AgentError::ZBus(zbus::Error::Failure(e.to_string())))
    }

    /// Status of the daemon as JSON.
    async fn status(&self) -> String {
        self.status.to_json(&self.pipeline)
    }

    /// Loads the skill directories again (new, changed and removed skills); returns the
    /// status JSON afterwards. Utterances are served by the old skills until the new ones
    /// are compiled.
    async fn reload_skills(&self) -> Result<String, AgentError> {
        let pipeline = self.pipeline.clone();
        tokio::task::spawn_blocking(move || pipeline.reload())
            .await
            .map_err(|e| AgentError::ZBus(zbus::Error::Failure(e.to_string())))?;
        Ok(self.status.to_json(&self.pipeline))
    }

    /// Version of the daemon.
    #[zbus(property)]
    async fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// An utterance was recognised (any origin); the argument is the outcome as JSON.
    #[zbus(signal)]
    async fn intent_recognized(emitter: &SignalEmitter<'_>, outcome: &str) -> zbus::Result<()>;

    /// A conversation changed: a question was asked or answered, or the session closed
    /// (and why). The argument is JSON.
    #[zbus(signal)]
    async fn session_changed(emitter: &SignalEmitter<'_>, event: &str) -> zbus::Result<()>;

    /// A wake word was heard; the argument is JSON (`name`, `probability`, `audio_ms`).
    #[zbus(signal)]
    async fn wake_detected(emitter: &SignalEmitter<'_>, event: &str) -> zbus::Result<()>;

    /// The agent answered an utterance.
    #[zbus(signal)]
    async fn response(
        emitter: &SignalEmitter<'_>,
        utterance_id: &str,
        text: &str,
    ) -> zbus::Result<()>;
}

/// Errors setting up the D-Bus API.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Connecting to the bus or owning the name failed.
    #[error("{bus}: {source}")]
    Bus {
        /// Which bus.
        bus: String,
        /// zbus' error.
        source: zbus::Error,
    },
}

/// A served D-Bus API; dropping it releases the name.
#[derive(Debug)]
pub struct Served {
    _connection: zbus::Connection,
    forwarder: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

/// Connects to the configured bus, owns `org.edgeagent.Agent1` and serves the agent object.
/// Every outcome of the pipeline (from any API) is emitted as signals.
pub async fn serve(
    config: &AgentConfig,
    pipeline: Arc<Pipeline>,
    status: Arc<Status>,
    speech: Arc<Speech>,
    listening: Option<Listening>,
) -> Result<Served, ServeError> {
    let (builder, bus) = match config.dbus.bus {
        BusKind::System => (zbus::connection::Builder::system(), "system bus".to_owned()),
        BusKind::Session => (
            zbus::connection::Builder::session(),
            "session bus".to_owned(),
        ),
        BusKind::Address => {
            let address = config.dbus.address.clone().unwrap_or_default();
            (
                zbus::connection::Builder::address(address.as_str()),
                format!("bus at {address}"),
            )
        }
    };
    let mut events = pipeline.subscribe();
    let mut session_events = pipeline.subscribe_sessions();
    let mut wake_events = pipeline.subscribe_wake();
    let agent = Agent {
        pipeline,
        status,
        speech,
        listening,
    };
    let connection = builder
        .name(DBUS_NAME)
        .serve_at(DBUS_PATH, agent)
        .build()
        .await
        .map_err(|source| ServeError::Bus {
            bus: bus.clone(),
            source,
        })?;
    let emitter = SignalEmitter::new(&connection, DBUS_PATH)
        .map_err(|source| ServeError::Bus {
            bus: bus.clone(),
            source,
        })?
        .into_owned();
    let forwarder = tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                outcome = events.recv() => outcome,
                event = wake_events.recv() => {
                    match event {
                        Ok(event) => {
                            let json = serde_json::to_string(&event).unwrap_or_default();
                            if let Err(e) = Agent::wake_detected(&emitter, &json).await {
                                tracing::warn!("emitting WakeDetected: {e}");
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!("D-Bus signals lagged; {n} wake events not signalled");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                    continue;
                }
                event = session_events.recv() => {
                    match event {
                        Ok(event) => {
                            let json = serde_json::to_string(&event).unwrap_or_default();
                            if let Err(e) = Agent::session_changed(&emitter, &json).await {
                                tracing::warn!("emitting SessionChanged: {e}");
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!("D-Bus signals lagged; {n} session events not signalled");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                    continue;
                }
            };
            let outcome = match received {
                Ok(o) => o,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("D-Bus signals lagged; {n} events not signalled");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let json = serde_json::to_string(&*outcome).unwrap_or_default();
            if let Err(e) = Agent::intent_recognized(&emitter, &json).await {
                tracing::warn!("emitting IntentRecognized: {e}");
            }
            if let Err(e) =
                Agent::response(&emitter, &outcome.utterance_id, &outcome.response).await
            {
                tracing::warn!("emitting Response: {e}");
            }
        }
    });
    tracing::info!("D-Bus API {DBUS_NAME} at {DBUS_PATH} on the {bus}");
    Ok(Served {
        _connection: connection,
        forwarder,
    })
}
