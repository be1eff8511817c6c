//! The client side of `org.edgeagent.Agent1` at `/org/edgeagent/Agent`, as a typed zbus
//! proxy. The daemon's `agent/daemon/src/dbus.rs` is the other side; every method returns
//! JSON text whose shape that file documents.

/// The agent's D-Bus API. `Agent1Proxy::new(&connection)` reaches the well-known name;
/// `Agent1Proxy::builder(&connection).destination(..)` another one.
#[zbus::proxy(
    interface = "org.edgeagent.Agent1",
    default_service = "org.edgeagent.Agent1",
    default_path = "/org/edgeagent/Agent"
)]
pub trait Agent1 {
    /// Recognises `text` as if it had been spoken and acts on it; the outcome as JSON.
    fn say(&self, text: &str) -> zbus::Result<String>;

    /// Like `say`, from `station`: the utterance answers that station's open question.
    fn say_at(&self, station: &str, text: &str) -> zbus::Result<String>;

    /// Stops the spoken reply now playing; the `tts` status as JSON.
    fn stop_speaking(&self) -> zbus::Result<String>;

    /// The open conversations as a JSON array.
    fn sessions(&self) -> zbus::Result<String>;

    /// Recognises a spoken command in a WAV file and acts on it; the outcome as JSON.
    fn listen(&self, wav: &[u8]) -> zbus::Result<String>;

    /// Privacy mode on or off; the escalation status as JSON.
    fn set_privacy(&self, on: bool) -> zbus::Result<String>;

    /// Push-to-talk: opens the microphone for one command.
    fn start_listening(&self) -> zbus::Result<String>;

    /// Closes the microphone opened by `start_listening`.
    fn stop_listening(&self) -> zbus::Result<String>;

    /// Reads a signal (`fresh`: ask the peer rather than the cache), as JSON.
    fn get_signal(&self, path: &str, fresh: bool) -> zbus::Result<String>;

    /// Writes a signal through the policy and the audit log; `value` is JSON or plain text.
    fn set_signal(&self, path: &str, value: &str) -> zbus::Result<String>;

    /// The daemon's status as JSON.
    fn status(&self) -> zbus::Result<String>;

    /// Loads the skill directories again; the status JSON afterwards.
    fn reload_skills(&self) -> zbus::Result<String>;

    /// The daemon's version.
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;

    /// An utterance was recognised; the outcome as JSON.
    #[zbus(signal)]
    fn intent_recognized(&self, outcome: &str) -> zbus::Result<()>;

    /// A conversation changed (question asked or answered, session closed), as JSON.
    #[zbus(signal)]
    fn session_changed(&self, event: &str) -> zbus::Result<()>;

    /// A wake word was heard, as JSON.
    #[zbus(signal)]
    fn wake_detected(&self, event: &str) -> zbus::Result<()>;

    /// The agent answered an utterance.
    #[zbus(signal)]
    fn response(&self, utterance_id: &str, text: &str) -> zbus::Result<()>;
}
