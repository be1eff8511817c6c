//! The configuration schema, its defaults and its validation.

use crate::error::{ConfigError, Origin};
use edge_core::{EntityList, EntityLists};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The configuration format version this build understands.
pub const CONFIG_VERSION: u32 = 1;

/// The whole configuration as written: every key optional, defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    /// Format version; must be 1.
    pub version: u32,
    /// Identity of this device.
    pub agent: AgentSection,
    /// Logging.
    pub log: LogSection,
    /// The D-Bus API.
    pub dbus: DbusSection,
    /// The MQTT connection.
    pub mqtt: MqttSection,
    /// Where skills are installed.
    pub skills: SkillsSection,
    /// Intent recognition.
    pub nlu: NluSection,
    /// Signals, their profiles and transports.
    pub hal: HalSection,
    /// Safety policy behaviour (the rules are in the profiles).
    pub policy: PolicySection,
    /// The audit log.
    pub audit: AuditSection,
    /// Speech recognition.
    pub asr: AsrSection,
    /// Audio capture and endpointing.
    pub audio: AudioSection,
    /// The local small-language-model intent tier.
    pub slm: SlmSection,
    /// The sentence-embedding intent tier.
    pub embedding: EmbeddingSection,
    /// Escalation of rejected utterances to a remote chat endpoint.
    pub escalation: EscalationSection,
    /// Spoken replies.
    pub tts: TtsSection,
    /// Conversations: stations and follow-up questions.
    pub dialogue: DialogueSection,
    /// Fleet operations over MQTT: heartbeat, signed skill and configuration commands.
    pub fleet: FleetSection,
    /// Prometheus metrics on a local address.
    pub metrics: MetricsSection,
    /// A wake word in front of live listening.
    pub wake: WakeSection,
}

impl Default for ConfigFile {
    fn default() -> Self {
        Self {
            version: CONFIG_VERSION,
            agent: AgentSection::default(),
            log: LogSection::default(),
            dbus: DbusSection::default(),
            mqtt: MqttSection::default(),
            skills: SkillsSection::default(),
            nlu: NluSection::default(),
            hal: HalSection::default(),
            policy: PolicySection::default(),
            audit: AuditSection::default(),
            asr: AsrSection::default(),
            audio: AudioSection::default(),
            slm: SlmSection::default(),
            embedding: EmbeddingSection::default(),
            escalation: EscalationSection::default(),
            tts: TtsSection::default(),
            dialogue: DialogueSection::default(),
            fleet: FleetSection::default(),
            metrics: MetricsSection::default(),
            wake: WakeSection::default(),
        }
    }
}

/// `[wake]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WakeSection {
    /// Listen for a wake word on the live source (`audio.source`); the command after it is
    /// heard as in continuous mode. Push-to-talk still starts a command at once.
    pub enabled: bool,
    /// A Wyoming wake server to use (`tcp://host:port` or `unix:///path`). Empty: spawn and
    /// supervise the `edge-wake` worker.
    pub uri: String,
    /// The worker binary; a bare name is looked up beside `edge-agentd`, then in PATH.
    pub worker: PathBuf,
    /// Directory of openWakeWord's TFLite models (`agent/models/provision.sh wake`).
    pub models: PathBuf,
    /// The TensorFlow Lite C runtime; empty: `<models>/<arch>/libtensorflowlite_c.so`.
    pub runtime: PathBuf,
    /// The wake phrase: a model name in `models` (okay_nabu, hey_jarvis, alexa,
    /// hey_mycroft, hey_rhasspy) or a path to a `.tflite` classifier.
    pub model: String,
    /// Unix socket between the daemon and its worker.
    pub socket: PathBuf,
    /// Probability (0 to 1) at which the phrase counts as said.
    pub threshold: f32,
    /// No second detection within this time.
    pub refractory_ms: u64,
    /// Time allowed for the worker to load its models.
    pub start_timeout_ms: u64,
    /// Said through `[tts]` (when a voice is configured) when the wake word is heard; empty:
    /// nothing.
    pub acknowledgement: String,
}

impl Default for WakeSection {
    fn default() -> Self {
        Self {
            enabled: false,
            uri: String::new(),
            worker: "edge-wake".into(),
            models: "/usr/share/edge-agent/models/wake".into(),
            runtime: PathBuf::new(),
            model: "okay_nabu".into(),
            socket: "/run/edge-agent/wake.sock".into(),
            threshold: 0.5,
            refractory_ms: 2_000,
            start_timeout_ms: 10_000,
            acknowledgement: String::new(),
        }
    }
}

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

/// `[fleet]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetSection {
    /// Accept signed commands on `edge-agent/{device_id}/cmd/fleet` (install, update,
    /// remove skills; configuration overlays). Needs `publisher_keys`.
    pub enabled: bool,
    /// The publishers' ed25519 public keys (hex) whose commands are accepted. From the
    /// environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub publisher_keys: Vec<String>,
    /// Period of the retained heartbeat on `edge-agent/{device_id}/fleet/heartbeat`
    /// (versions of the agent, skills and models); 0: none.
    pub heartbeat_secs: u64,
    /// Where skills installed by the fleet go; empty: the last of `skills.dirs`.
    pub skills_dir: PathBuf,
}

impl Default for FleetSection {
    fn default() -> Self {
        Self {
            enabled: false,
            publisher_keys: Vec::new(),
            heartbeat_secs: 60,
            skills_dir: PathBuf::new(),
        }
    }
}

/// `[dialogue]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialogueSection {
    /// The station of utterances that name none: this device's microphone, D-Bus `Say`,
    /// MQTT `cmd/say` without `station`.
    pub station: String,
    /// How long a skill's question ("What does the noise sound like?") stays open.
    pub follow_up_timeout_secs: u64,
}

impl Default for DialogueSection {
    fn default() -> Self {
        Self {
            station: "main".into(),
            follow_up_timeout_secs: 120,
        }
    }
}

/// Where spoken replies come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TtsBackend {
    /// Replies are text only (D-Bus `Response`, MQTT `events/response`).
    None,
    /// `tts.command` writes a WAV to stdout.
    Command,
    /// A Wyoming TTS server at `tts.uri` (wyoming-piper).
    Wyoming,
}

/// `[tts]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtsSection {
    /// `none`, `command` or `wyoming`.
    pub backend: TtsBackend,
    /// The synthesiser (argv, no shell): `{text}` in an argument is replaced by the reply;
    /// without `{text}` the reply goes to its stdin. It writes a WAV to stdout. From the
    /// environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub command: Vec<String>,
    /// The Wyoming TTS server, `tcp://host:port` or `unix:///path`.
    pub uri: String,
    /// Voice name sent to the Wyoming server; empty: the server's default.
    pub voice: String,
    /// The player (argv, no shell), given the WAV on stdin; empty: no playback. From the
    /// environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub player: Vec<String>,
    /// Time allowed for synthesis, and for playback beyond the reply's duration.
    pub timeout_ms: u64,
    /// Keep the last reply's WAV in this file; empty: off.
    pub keep_last_wav: PathBuf,
}

impl Default for TtsSection {
    fn default() -> Self {
        Self {
            backend: TtsBackend::None,
            command: ["espeak-ng", "--stdout", "--", "{text}"]
                .map(String::from)
                .to_vec(),
            uri: String::new(),
            voice: String::new(),
            player: ["aplay", "-q", "-"].map(String::from).to_vec(),
            timeout_ms: 10_000,
            keep_last_wav: PathBuf::new(),
        }
    }
}

/// `[slm]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlmSection {
    /// Run the language model (troubleshooting answers: `llm.choose`; and, with
    /// `intents`, intent recognition). Without a usable model the status says why.
    pub enabled: bool,
    /// Also ask the model which intent an utterance means when the templates and the
    /// embedding tier found none. Off by default: beside the embedding tier it added no
    /// accepted command (docs/BENCHMARKS.md), at ~1.3 s per utterance.
    pub intents: bool,
    /// The worker binary; a bare name is looked up beside `edge-agentd`, then in PATH.
    pub worker: PathBuf,
    /// GGUF model for the worker.
    pub model: PathBuf,
    /// Unix socket the worker listens on.
    pub socket: PathBuf,
    /// A running `edge-slm` worker to use (`unix:///path` or `tcp://host:port`, e.g. the
    /// `edge-slm.service` unit's socket). Empty: spawn and supervise one.
    pub uri: String,
    /// Threads per request (ggml threads spin: leave cores for the rest).
    pub threads: usize,
    /// Context size in tokens: every intent's cached prompt and a request must fit.
    pub context: u32,
    /// Examples from the templates shown to the model per intent.
    pub examples_per_intent: usize,
    /// Below this score (how much likelier the utterance is after the best intent's
    /// prompt than after none, in nats) the answer is `none`.
    pub min_score: f32,
    /// Below this probability of the best intent among all, the answer is `none`.
    pub min_confidence: f32,
    /// Time allowed for loading the model and caching the intents' prompts.
    pub start_timeout_ms: u64,
    /// Time allowed for one answer.
    pub request_timeout_ms: u64,
}

impl Default for SlmSection {
    fn default() -> Self {
        Self {
            enabled: true,
            intents: false,
            worker: "edge-slm".into(),
            model: "/usr/share/edge-agent/models/smollm2-135m-instruct.gguf".into(),
            socket: "/run/edge-agent/slm.sock".into(),
            uri: String::new(),
            threads: 1,
            context: 4096,
            examples_per_intent: 3,
            min_score: 16.0,
            min_confidence: 0.7,
            start_timeout_ms: 120_000,
            request_timeout_ms: 10_000,
        }
    }
}

/// `[embedding]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingSection {
    /// Match utterances the templates reject against the skills' own sentences by
    /// sentence embeddings (a sentence encoder in the `edge-slm` worker of `[slm]`).
    /// Without the encoder file the tier is off and the status says why.
    pub enabled: bool,
    /// GGUF sentence encoder (BERT, mean pooling).
    pub encoder: PathBuf,
    /// `knn` (mean cosine of the `k` nearest sentences of each intent), `prototype`
    /// (cosine of each intent's mean vector), `logreg` (probability under a softmax
    /// regression on the sentence vectors; the thresholds are then probabilities) or
    /// `logreg-veto` (the softmax chooses, `accept`, `margin` and `ask` are probabilities,
    /// and `none_margin` is the lead over `none` the `k` nearest neighbours must give).
    pub method: String,
    /// Neighbours per intent for `knn`.
    pub k: usize,
    /// Least score to act.
    pub accept: f32,
    /// Least lead of the best intent over the runner-up to act.
    pub margin: f32,
    /// Least lead of the best intent over the negative set (`none`) to act.
    pub none_margin: f32,
    /// Least score to ask "Did you mean ...?" instead of refusing.
    pub ask: f32,
}

impl Default for EmbeddingSection {
    fn default() -> Self {
        Self {
            enabled: true,
            encoder: "/usr/share/edge-agent/models/minilm-skills.gguf".into(),
            method: "knn".into(),
            k: 3,
            // Chosen on the dev set for the fine-tuned encoder (docs/BENCHMARKS.md).
            accept: 0.90,
            margin: 0.03,
            none_margin: 0.05,
            ask: 0.80,
        }
    }
}

/// `[escalation]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationSection {
    /// Send utterances that both local tiers reject to `url`. Off by default: nothing
    /// leaves the device unless this is set.
    pub enabled: bool,
    /// Base URL of an OpenAI-compatible API (`https://host/v1`); `/chat/completions` is
    /// appended.
    pub url: String,
    /// Model name sent with each request.
    pub model: String,
    /// Environment variable holding the API key (never the key itself in a file).
    pub api_key_env: String,
    /// Time allowed for one answer.
    pub timeout_ms: u64,
    /// Start in privacy mode (no escalation until it is switched off over D-Bus or MQTT).
    pub privacy_mode: bool,
}

impl Default for EscalationSection {
    fn default() -> Self {
        Self {
            enabled: false,
            url: String::new(),
            model: String::new(),
            api_key_env: "EDGE_AGENT_ESCALATION_KEY".into(),
            timeout_ms: 3000,
            privacy_mode: false,
        }
    }
}

/// `[asr]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsrSection {
    /// Recognise speech. Without a usable model or server the text APIs still work and
    /// speech requests fail with an error naming the cause.
    pub enabled: bool,
    /// A Wyoming ASR server to use (`tcp://host:port` or `unix:///path`). Empty: spawn and
    /// supervise the `edge-asr` worker.
    pub uri: String,
    /// The worker binary; a bare name is looked up beside `edge-agentd`, then in PATH.
    pub worker: PathBuf,
    /// whisper.cpp ggml model for the worker.
    pub model: PathBuf,
    /// Unix socket the worker listens on.
    pub socket: PathBuf,
    /// Threads per decode (ggml threads spin: leave cores for the rest).
    pub threads: usize,
    /// Decodes at once in the worker.
    pub max_concurrent: usize,
    /// Longest utterance in seconds.
    pub max_audio_s: u32,
    /// Time allowed for the worker to load its model.
    pub start_timeout_ms: u64,
    /// Time allowed for one transcript after the end of the audio.
    pub request_timeout_ms: u64,
    /// Bias recognition with a prompt of the entity names (machines) and `prompt_words`.
    pub vocabulary_prompt: bool,
    /// Words added to the recognition prompt beside the entity names.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub prompt_words: Vec<String>,
    /// Send the installed skills' commands as a grammar: a transcript that is not a command
    /// is decoded a second time biased toward them, and that one is taken when it is a
    /// command the model nearly believed (`grammar_max_drop`).
    pub grammar: bool,
    /// Subtracted from the logit of every token that leaves the grammar in the biased pass.
    pub grammar_penalty: f32,
    /// Largest loss of log-probability (nats, over the whole transcript) for which the
    /// biased transcript is taken over the free one.
    pub grammar_max_drop: f32,
    /// A free-text slot value (media query, destination) with a word the recogniser gave a
    /// lower probability than this is asked about instead of acted on (0 turns it off).
    pub free_text_min_p: f32,
}

impl Default for AsrSection {
    fn default() -> Self {
        Self {
            enabled: true,
            uri: String::new(),
            worker: "edge-asr".into(),
            model: "/usr/share/edge-agent/models/ggml-tiny.en-q8_0.bin".into(),
            socket: "/run/edge-agent/asr.sock".into(),
            threads: 1,
            max_concurrent: 1,
            max_audio_s: 30,
            start_timeout_ms: 30_000,
            request_timeout_ms: 10_000,
            vocabulary_prompt: true,
            prompt_words: Vec::new(),
            grammar: true,
            grammar_penalty: 10.0,
            grammar_max_drop: 7.5,
            free_text_min_p: 0.5,
        }
    }
}

/// Where live audio comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AudioSource {
    /// No live audio: WAV files through the API only.
    None,
    /// Raw 16 kHz mono 16-bit little-endian PCM on standard input.
    Stdin,
    /// ALSA capture from `audio.device`.
    Alsa,
}

/// When live audio is turned into commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListenMode {
    /// Between StartListening and StopListening (D-Bus or MQTT); the endpointer may end a
    /// command earlier.
    PushToTalk,
    /// Always: every stretch of speech the endpointer finds is a command.
    Continuous,
}

/// `[audio]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioSection {
    pub source: AudioSource,
    /// ALSA device name (`default`, `plughw:CARD=Mic,DEV=0`).
    pub device: String,
    pub mode: ListenMode,
    /// VAD score (0.0 to 1.0) from which a 16 ms frame counts as speech.
    pub vad_threshold: f32,
    /// Silence after speech that ends a command.
    pub trailing_silence_ms: u32,
    /// A command is cut at this length.
    pub max_utterance_ms: u32,
    /// Push-to-talk gives up when nobody speaks for this long.
    pub no_speech_timeout_ms: u32,
}

impl Default for AudioSection {
    fn default() -> Self {
        Self {
            source: AudioSource::None,
            device: "default".into(),
            mode: ListenMode::PushToTalk,
            vad_threshold: 0.5,
            trailing_silence_ms: 700,
            max_utterance_ms: 10_000,
            no_speech_timeout_ms: 5_000,
        }
    }
}

/// `[hal]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HalSection {
    /// Profile files (`[[signal]]` and `[[rule]]`), loaded in order. From the environment:
    /// comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub profiles: Vec<PathBuf>,
    /// How long a write may take until the peer confirms it, and an active read until the
    /// peer answers, in milliseconds.
    pub set_timeout_ms: u64,
    /// The bus of D-Bus-bound signals.
    pub dbus: HalDbusSection,
    /// The broker of MQTT-bound signals.
    pub mqtt: HalMqttSection,
    /// The devices of Modbus-bound signals (the Modbus transport's own section).
    pub modbus: edge_hal_modbus::ModbusSection,
}

impl Default for HalSection {
    fn default() -> Self {
        Self {
            profiles: Vec::new(),
            set_timeout_ms: 3000,
            dbus: HalDbusSection::default(),
            mqtt: HalMqttSection::default(),
            modbus: edge_hal_modbus::ModbusSection::default(),
        }
    }
}

/// `[hal.dbus]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HalDbusSection {
    /// `system`, `session` or `address`.
    pub bus: BusKind,
    /// Bus address when `bus = "address"`.
    pub address: Option<String>,
}

impl Default for HalDbusSection {
    fn default() -> Self {
        Self {
            bus: BusKind::System,
            address: None,
        }
    }
}

/// `[hal.mqtt]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HalMqttSection {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Client id; empty means `edge-agent-hal-{device_id}`.
    pub client_id: String,
    /// User name, if the broker needs one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// TLS to the broker (absent: plain TCP).
    pub tls: Option<MqttTlsSection>,
}

impl Default for HalMqttSection {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 1883,
            client_id: String::new(),
            username: None,
            password: None,
            tls: None,
        }
    }
}

/// `[mqtt.tls]` and `[hal.mqtt.tls]`: PEM files. The broker's certificate must chain to
/// `ca_file` and name the host; a client certificate and key go together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTlsSection {
    pub ca_file: PathBuf,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

impl MqttTlsSection {
    /// Checks the pairing of client certificate and key; `key` is the section's path.
    fn check(&self, key: &str) -> Result<(), (String, String)> {
        if self.ca_file.as_os_str().is_empty() {
            return Err((format!("{key}.ca_file"), "must not be empty".into()));
        }
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(_), None) => Err((
                format!("{key}.client_key_file"),
                "required with client_cert_file".into(),
            )),
            (None, Some(_)) => Err((
                format!("{key}.client_cert_file"),
                "required with client_key_file".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// `[policy]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    /// How long a confirmation question stays open, in seconds.
    pub confirmation_timeout_secs: u64,
}

impl Default for PolicySection {
    fn default() -> Self {
        Self {
            confirmation_timeout_secs: 15,
        }
    }
}

/// `[audit]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// The JSON-lines file.
    pub path: PathBuf,
    /// Size at which the file is rotated, in bytes.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: usize,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            path: "/var/lib/edge-agent/audit.jsonl".into(),
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// `[agent]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSection {
    /// Device id used in MQTT topics; letters, digits, `-`, `_`, `.`.
    pub device_id: String,
}

impl Default for AgentSection {
    fn default() -> Self {
        Self {
            device_id: "edge-agent".into(),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A tracing filter: a level (`info`) or directives (`info,edge_agentd=debug`).
    /// `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

/// Which bus the D-Bus API is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// The system bus (production).
    System,
    /// The session bus of the user (development).
    Session,
    /// The bus at `dbus.address`.
    Address,
}

/// `[dbus]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbusSection {
    /// Serve the D-Bus API.
    pub enabled: bool,
    /// `system`, `session`, or `address`.
    pub bus: BusKind,
    /// Bus address when `bus = "address"` (e.g. `unix:path=/run/dbus/x`).
    pub address: Option<String>,
}

impl Default for DbusSection {
    fn default() -> Self {
        Self {
            enabled: true,
            bus: BusKind::System,
            address: None,
        }
    }
}

/// `[mqtt]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSection {
    /// Connect to a broker at all.
    pub enabled: bool,
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id; empty means `edge-agent-{device_id}`. Must be stable across restarts
    /// for the persistent session to survive.
    pub client_id: String,
    /// Keep-alive interval in seconds (at least 5).
    pub keep_alive_secs: u64,
    /// First delay before reconnecting, in milliseconds.
    pub reconnect_min_ms: u64,
    /// Longest delay between reconnects, in milliseconds.
    pub reconnect_max_ms: u64,
    /// Topic prefix; topics are `{topic_prefix}/{device_id}/...`.
    pub topic_prefix: String,
    /// Outgoing messages buffered while the broker is away; beyond it events are dropped
    /// (and logged) so the D-Bus path never waits on MQTT.
    pub queue_capacity: usize,
    /// `cmd/say` commands handled at once (each may wait on a skill or a peer); more are
    /// refused on `events/error` with a reason, so a flood costs bounded memory.
    pub max_commands_in_flight: usize,
    /// User name, if the broker needs one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<String>,
    /// TLS to the broker (absent: plain TCP).
    pub tls: Option<MqttTlsSection>,
}

impl Default for MqttSection {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "localhost".into(),
            port: 1883,
            client_id: String::new(),
            keep_alive_secs: 30,
            reconnect_min_ms: 500,
            reconnect_max_ms: 30_000,
            topic_prefix: "edge-agent".into(),
            queue_capacity: 256,
            max_commands_in_flight: 64,
            username: None,
            password: None,
            tls: None,
        }
    }
}

/// `[skills]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SkillsSection {
    /// Directories holding one sub-directory per skill (with `skill.toml`), searched in
    /// order. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub dirs: Vec<PathBuf>,
    /// Compiled skills, keyed by engine and component, so a restart does not recompile.
    pub cache_dir: PathBuf,
    /// Each skill's key-value store.
    pub state_dir: PathBuf,
    /// Load a skill's code only with a valid `NAME.sig` from a trusted key.
    pub require_signed: bool,
    /// Publishers' ed25519 public keys, hex. From the environment: comma-separated.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_keys: Vec<String>,
}

impl Default for SkillsSection {
    fn default() -> Self {
        Self {
            dirs: vec![
                "/usr/lib/edge-agent/skills".into(),
                "/var/lib/edge-agent/skills".into(),
            ],
            cache_dir: "/var/cache/edge-agent/skills".into(),
            state_dir: "/var/lib/edge-agent/skill-state".into(),
            require_signed: false,
            trusted_keys: Vec::new(),
        }
    }
}

/// `[nlu]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NluSection {
    /// Template matches scoring below this (0.0 to 1.0) count as `none`.
    pub min_confidence: f32,
    /// Entity lists by name (`[nlu.entities.machine]`).
    #[serde(deserialize_with = "entity_lists")]
    pub entities: EntityLists,
}

impl Default for NluSection {
    fn default() -> Self {
        let mut machine = EntityList {
            values: [
                "pump-1",
                "pump-2",
                "pump-3",
                "pump-4",
                "press-1",
                "press-2",
                "conveyor-1",
            ]
            .map(String::from)
            .to_vec(),
            synonyms: BTreeMap::new(),
        };
        machine.synonyms.insert(
            "conveyor-1".into(),
            vec![
                "the conveyor".into(),
                "conveyor belt".into(),
                "conveyor".into(),
            ],
        );
        Self {
            min_confidence: 0.5,
            entities: BTreeMap::from([("machine".to_owned(), machine)]),
        }
    }
}

fn list_or_comma_separated<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String> + Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString<T> {
        List(Vec<T>),
        String(String),
    }
    Ok(match ListOrString::<T>::deserialize(de)? {
        ListOrString::List(v) => v,
        ListOrString::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| T::from(s.to_owned()))
            .collect(),
    })
}

/// Entity lists whose `values` may also come from the environment as a comma-separated string.
fn entity_lists<'de, D: Deserializer<'de>>(de: D) -> Result<EntityLists, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        #[serde(default, deserialize_with = "list_or_comma_separated")]
        values: Vec<String>,
        #[serde(default)]
        synonyms: BTreeMap<String, Vec<String>>,
    }
    let raw = BTreeMap::<String, Raw>::deserialize(de)?;
    Ok(raw
        .into_iter()
        .map(|(name, r)| {
            (
                name,
                EntityList {
                    values: r.values,
                    synonyms: r.synonyms,
                },
            )
        })
        .collect())
}

/// A configuration that passed [`ConfigFile::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    file: ConfigFile,
    mqtt_client_id: String,
    hal_mqtt_client_id: String,
}

impl std::ops::Deref for AgentConfig {
    type Target = ConfigFile;
    fn deref(&self) -> &ConfigFile {
        &self.file
    }
}

impl AgentConfig {
    /// The MQTT client id, with the default filled in.
    pub fn mqtt_client_id(&self) -> &str {
        &self.mqtt_client_id
    }

    /// The HAL's MQTT client id, with the default filled in.
    pub fn hal_mqtt_client_id(&self) -> &str {
        &self.hal_mqtt_client_id
    }

    /// The built-in defaults, validated.
    pub fn defaults() -> Self {
        ConfigFile::default()
            .validate(&|_| Origin::Default)
            .unwrap_or_else(|e| unreachable!("built-in defaults are valid: {e}"))
    }
}

impl ConfigFile {
    /// Checks every value; `origin_of` says where a key came from so errors can name it.
    pub fn validate(self, origin_of: &dyn Fn(&str) -> Origin) -> Result<AgentConfig, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin_of(key),
            key: key.to_owned(),
            message,
        };
        if self.version != CONFIG_VERSION {
            return Err(invalid(
                "version",
                format!(
                    "unsupported version {} (this build reads {CONFIG_VERSION})",
                    self.version
                ),
            ));
        }
        let id_ok = !self.agent.device_id.is_empty()
            && self
                .agent
                .device_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !id_ok {
            return Err(invalid(
                "agent.device_id",
                format!(
                    "{:?} must be non-empty ASCII letters, digits, '-', '_' or '.' (it is part of MQTT topics)",
                    self.agent.device_id
                ),
            ));
        }
        let level_ok = !self.log.level.trim().is_empty()
            && self.log.level.split(',').all(|d| {
                let level = d.rsplit('=').next().unwrap_or("").trim();
                matches!(level, "trace" | "debug" | "info" | "warn" | "error" | "off")
            });
        if !level_ok {
            return Err(invalid(
                "log.level",
                format!(
                    "{:?} is not a filter: use trace, debug, info, warn, error or off, optionally per target (edge_agentd=debug)",
                    self.log.level
                ),
            ));
        }
        if self.dbus.bus == BusKind::Address
            && self.dbus.address.as_deref().is_none_or(str::is_empty)
        {
            return Err(invalid(
                "dbus.address",
                "required when dbus.bus = \"address\"".into(),
            ));
        }
        let m = &self.mqtt;
        if m.enabled {
            if m.host.trim().is_empty() {
                return Err(invalid("mqtt.host", "must not be empty".into()));
            }
            if m.port == 0 {
                return Err(invalid("mqtt.port", "must be 1 to 65535".into()));
            }
        }
        for (key, tls) in [("mqtt.tls", &m.tls), ("hal.mqtt.tls", &self.hal.mqtt.tls)] {
            if let Some(Err((key, message))) = tls.as_ref().map(|t| t.check(key)) {
                return Err(invalid(&key, message));
            }
        }
        if m.keep_alive_secs < 5 {
            return Err(invalid(
                "mqtt.keep_alive_secs",
                format!("{} is below the minimum of 5", m.keep_alive_secs),
            ));
        }
        if m.reconnect_min_ms == 0 {
            return Err(invalid(
                "mqtt.reconnect_min_ms",
                "must be at least 1".into(),
            ));
        }
        if m.reconnect_max_ms < m.reconnect_min_ms {
            return Err(invalid(
                "mqtt.reconnect_max_ms",
                format!(
                    "{} is below mqtt.reconnect_min_ms ({})",
                    m.reconnect_max_ms, m.reconnect_min_ms
                ),
            ));
        }
        if m.topic_prefix.is_empty() || m.topic_prefix.contains(['+', '#']) {
            return Err(invalid(
                "mqtt.topic_prefix",
                "must be non-empty without '+' or '#'".into(),
            ));
        }
        if m.queue_capacity == 0 {
            return Err(invalid("mqtt.queue_capacity", "must be at least 1".into()));
        }
        if m.max_commands_in_flight == 0 {
            return Err(invalid(
                "mqtt.max_commands_in_flight",
                "must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.nlu.min_confidence) {
            return Err(invalid(
                "nlu.min_confidence",
                format!("{} is outside 0.0 to 1.0", self.nlu.min_confidence),
            ));
        }
        for (name, list) in &self.nlu.entities {
            if list.values.is_empty() {
                return Err(invalid(
                    &format!("nlu.entities.{name}.values"),
                    "needs at least one value".into(),
                ));
            }
            if let Some(unknown) = list.synonyms.keys().find(|k| !list.values.contains(k)) {
                return Err(invalid(
                    &format!("nlu.entities.{name}.synonyms"),
                    format!("{unknown:?} is not one of the list's values"),
                ));
            }
        }
        if self.skills.require_signed && self.skills.trusted_keys.is_empty() {
            return Err(invalid(
                "skills.trusted_keys",
                "skills.require_signed needs at least one trusted key".into(),
            ));
        }
        if let Some(bad) = self
            .skills
            .trusted_keys
            .iter()
            .find(|k| k.len() != 64 || !k.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(invalid(
                "skills.trusted_keys",
                format!("{bad:?} is not an ed25519 public key (64 hex digits)"),
            ));
        }
        if self.hal.set_timeout_ms == 0 {
            return Err(invalid("hal.set_timeout_ms", "must be at least 1".into()));
        }
        if self.hal.dbus.bus == BusKind::Address
            && self.hal.dbus.address.as_deref().is_none_or(str::is_empty)
        {
            return Err(invalid(
                "hal.dbus.address",
                "required when hal.dbus.bus = \"address\"".into(),
            ));
        }
        if self.hal.mqtt.port == 0 {
            return Err(invalid("hal.mqtt.port", "must be 1 to 65535".into()));
        }
        if let Err(e) = self.hal.modbus.validate() {
            return Err(invalid(&format!("hal.modbus.{}", e.key), e.message));
        }
        if self.fleet.enabled && self.fleet.publisher_keys.is_empty() {
            return Err(invalid(
                "fleet.publisher_keys",
                "must name at least one publisher key when fleet.enabled is set".into(),
            ));
        }
        if let Some(bad) = self
            .fleet
            .publisher_keys
            .iter()
            .find(|k| k.len() != 64 || !k.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(invalid(
                "fleet.publisher_keys",
                format!("{bad:?} is not an ed25519 public key (64 hex digits)"),
            ));
        }
        let wake = &self.wake;
        if wake.enabled && self.audio.source == AudioSource::None {
            return Err(invalid(
                "wake.enabled",
                "needs live audio: set audio.source to \"stdin\" or \"alsa\"".into(),
            ));
        }
        if !(wake.uri.is_empty()
            || wake.uri.starts_with("tcp://")
            || wake.uri.starts_with("unix://"))
        {
            return Err(invalid(
                "wake.uri",
                format!("{:?} must be tcp://host:port or unix:///path", wake.uri),
            ));
        }
        if !(wake.threshold.is_finite() && (0.0..=1.0).contains(&wake.threshold)) {
            return Err(invalid(
                "wake.threshold",
                format!("{} is outside 0 to 1", wake.threshold),
            ));
        }
        if wake.model.trim().is_empty() {
            return Err(invalid(
                "wake.model",
                "must name a wake phrase (okay_nabu, ...)".into(),
            ));
        }
        if self.metrics.enabled && self.metrics.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "metrics.listen",
                format!(
                    "{:?} is not host:port (an IP address and a port)",
                    self.metrics.listen
                ),
            ));
        }
        let slm_uri = &self.slm.uri;
        if !(slm_uri.is_empty() || slm_uri.starts_with("tcp://") || slm_uri.starts_with("unix://"))
        {
            return Err(invalid(
                "slm.uri",
                format!("{slm_uri:?} must be tcp://host:port or unix:///path"),
            ));
        }
        if self.dialogue.station.trim().is_empty() || self.dialogue.station.len() > 64 {
            return Err(invalid(
                "dialogue.station",
                "must be 1 to 64 characters".into(),
            ));
        }
        if self.dialogue.follow_up_timeout_secs == 0 {
            return Err(invalid(
                "dialogue.follow_up_timeout_secs",
                "must be at least 1".into(),
            ));
        }
        if self.policy.confirmation_timeout_secs == 0 {
            return Err(invalid(
                "policy.confirmation_timeout_secs",
                "must be at least 1".into(),
            ));
        }
        if self.audit.max_bytes < 1024 {
            return Err(invalid(
                "audit.max_bytes",
                format!("{} is below the minimum of 1024", self.audit.max_bytes),
            ));
        }
        let asr = &self.asr;
        let uri_ok =
            asr.uri.is_empty() || asr.uri.starts_with("tcp://") || asr.uri.starts_with("unix://");
        if !uri_ok {
            return Err(invalid(
                "asr.uri",
                format!("{:?} must be tcp://host:port or unix:///path", asr.uri),
            ));
        }
        if asr.threads == 0 || asr.threads > 64 {
            return Err(invalid(
                "asr.threads",
                format!("{} is outside 1 to 64", asr.threads),
            ));
        }
        if !(asr.grammar_penalty.is_finite() && (0.0..=1000.0).contains(&asr.grammar_penalty)) {
            return Err(invalid(
                "asr.grammar_penalty",
                format!("{} is outside 0 to 1000", asr.grammar_penalty),
            ));
        }
        if !(asr.grammar_max_drop.is_finite() && (0.0..=100.0).contains(&asr.grammar_max_drop)) {
            return Err(invalid(
                "asr.grammar_max_drop",
                format!("{} is outside 0 to 100", asr.grammar_max_drop),
            ));
        }
        if !(0.0..=1.0).contains(&asr.free_text_min_p) {
            return Err(invalid(
                "asr.free_text_min_p",
                format!("{} is outside 0 to 1", asr.free_text_min_p),
            ));
        }
        if asr.max_concurrent == 0 {
            return Err(invalid("asr.max_concurrent", "must be at least 1".into()));
        }
        if !(1..=300).contains(&asr.max_audio_s) {
            return Err(invalid(
                "asr.max_audio_s",
                format!("{} is outside 1 to 300", asr.max_audio_s),
            ));
        }
        for (key, value) in [
            ("asr.start_timeout_ms", asr.start_timeout_ms),
            ("asr.request_timeout_ms", asr.request_timeout_ms),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        let slm = &self.slm;
        if slm.threads == 0 || slm.threads > 64 {
            return Err(invalid(
                "slm.threads",
                format!("{} is outside 1 to 64", slm.threads),
            ));
        }
        if !(512..=32768).contains(&slm.context) {
            return Err(invalid(
                "slm.context",
                format!("{} is outside 512 to 32768", slm.context),
            ));
        }
        if slm.examples_per_intent > 10 {
            return Err(invalid(
                "slm.examples_per_intent",
                format!("{} is above the maximum of 10", slm.examples_per_intent),
            ));
        }
        if !(0.0..=1.0).contains(&slm.min_confidence) {
            return Err(invalid(
                "slm.min_confidence",
                format!("{} is outside 0.0 to 1.0", slm.min_confidence),
            ));
        }
        if !slm.min_score.is_finite() {
            return Err(invalid("slm.min_score", "must be a number".into()));
        }
        for (key, value) in [
            ("slm.start_timeout_ms", slm.start_timeout_ms),
            ("slm.request_timeout_ms", slm.request_timeout_ms),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        let embedding = &self.embedding;
        if !matches!(
            embedding.method.as_str(),
            "knn" | "prototype" | "logreg" | "logreg-veto"
        ) {
            return Err(invalid(
                "embedding.method",
                format!(
                    "{:?} is not knn, prototype, logreg or logreg-veto",
                    embedding.method
                ),
            ));
        }
        if embedding.k == 0 || embedding.k > 50 {
            return Err(invalid(
                "embedding.k",
                format!("{} is outside 1 to 50", embedding.k),
            ));
        }
        for (key, value) in [
            ("embedding.accept", embedding.accept),
            ("embedding.margin", embedding.margin),
            ("embedding.none_margin", embedding.none_margin),
            ("embedding.ask", embedding.ask),
        ] {
            if !(-1.0..=1.0).contains(&value) {
                return Err(invalid(
                    key,
                    format!("{value} is outside -1.0 to 1.0 (a cosine)"),
                ));
            }
        }
        if embedding.ask > embedding.accept {
            return Err(invalid(
                "embedding.ask",
                format!(
                    "{} is above embedding.accept ({}): the tier would ask about what it accepts",
                    embedding.ask, embedding.accept
                ),
            ));
        }
        let escalation = &self.escalation;
        if escalation.enabled {
            if !(escalation.url.starts_with("http://") || escalation.url.starts_with("https://")) {
                return Err(invalid(
                    "escalation.url",
                    format!(
                        "{:?} must be an http:// or https:// URL when escalation is enabled",
                        escalation.url
                    ),
                ));
            }
            if escalation.model.trim().is_empty() {
                return Err(invalid(
                    "escalation.model",
                    "must name a model when escalation is enabled".into(),
                ));
            }
        }
        if !(1..=60_000).contains(&escalation.timeout_ms) {
            return Err(invalid(
                "escalation.timeout_ms",
                format!("{} is outside 1 to 60000", escalation.timeout_ms),
            ));
        }
        let audio = &self.audio;
        if !(0.0..=1.0).contains(&audio.vad_threshold) {
            return Err(invalid(
                "audio.vad_threshold",
                format!("{} is outside 0.0 to 1.0", audio.vad_threshold),
            ));
        }
        if audio.trailing_silence_ms < 100 {
            return Err(invalid(
                "audio.trailing_silence_ms",
                format!("{} is below the minimum of 100", audio.trailing_silence_ms),
            ));
        }
        if audio.max_utterance_ms < 1000 || audio.max_utterance_ms / 1000 > asr.max_audio_s {
            return Err(invalid(
                "audio.max_utterance_ms",
                format!(
                    "{} must be at least 1000 and at most asr.max_audio_s ({} s)",
                    audio.max_utterance_ms, asr.max_audio_s
                ),
            ));
        }
        if audio.source == AudioSource::Alsa && audio.device.trim().is_empty() {
            return Err(invalid("audio.device", "must name an ALSA device".into()));
        }
        let tts = &self.tts;
        if tts.backend == TtsBackend::Command && tts.command.first().is_none_or(|c| c.is_empty()) {
            return Err(invalid(
                "tts.command",
                "must name a program when tts.backend = \"command\"".into(),
            ));
        }
        if tts.backend == TtsBackend::Wyoming && tts.uri.is_empty() {
            return Err(invalid(
                "tts.uri",
                "required when tts.backend = \"wyoming\" (tcp://host:port or unix:///path)".into(),
            ));
        }
        if !(tts.uri.is_empty() || tts.uri.starts_with("tcp://") || tts.uri.starts_with("unix://"))
        {
            return Err(invalid(
                "tts.uri",
                format!("{:?} must be tcp://host:port or unix:///path", tts.uri),
            ));
        }
        if tts.player.first().is_some_and(String::is_empty) {
            return Err(invalid(
                "tts.player",
                "must start with a program (or be [] for no playback)".into(),
            ));
        }
        if tts.backend != TtsBackend::None
            && tts.player.is_empty()
            && tts.keep_last_wav.as_os_str().is_empty()
        {
            return Err(invalid(
                "tts.player",
                "is empty and tts.keep_last_wav is not set: replies would go nowhere".into(),
            ));
        }
        if !(1..=600_000).contains(&tts.timeout_ms) {
            return Err(invalid(
                "tts.timeout_ms",
                format!("{} is outside 1 to 600000", tts.timeout_ms),
            ));
        }
        let mqtt_client_id = if m.client_id.is_empty() {
            format!("edge-agent-{}", self.agent.device_id)
        } else {
            m.client_id.clone()
        };
        let hal_mqtt_client_id = if self.hal.mqtt.client_id.is_empty() {
            format!("edge-agent-hal-{}", self.agent.device_id)
        } else {
            self.hal.mqtt.client_id.clone()
        };
        Ok(AgentConfig {
            file: self,
            mqtt_client_id,
            hal_mqtt_client_id,
        })
    }
}
