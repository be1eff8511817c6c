//! Names of the daemon's public interfaces, shared by the daemon and its clients.

/// Well-known D-Bus name the daemon owns.
pub const DBUS_NAME: &str = "org.edgeagent.Agent1";
/// D-Bus interface of the agent.
pub const DBUS_INTERFACE: &str = "org.edgeagent.Agent1";
/// Object path of the agent.
pub const DBUS_PATH: &str = "/org/edgeagent/Agent";
/// Prefix of the D-Bus error names the agent returns.
pub const DBUS_ERROR_PREFIX: &str = "org.edgeagent.Agent1.Error";

/// MQTT topics of one device, all under `{prefix}/{device_id}/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTopics {
    base: String,
}

impl DeviceTopics {
    /// Topics for `device_id` under `prefix` (normally `edge-agent`).
    pub fn new(prefix: &str, device_id: &str) -> Self {
        Self {
            base: format!("{prefix}/{device_id}"),
        }
    }

    /// Retained `online`/`offline` status; also the last will.
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }

    /// Every recognition, as JSON.
    pub fn intent_event(&self) -> String {
        format!("{}/events/intent", self.base)
    }

    /// Every response the agent gives, as JSON.
    pub fn response_event(&self) -> String {
        format!("{}/events/response", self.base)
    }

    /// Every policy decision and signal write, as JSON (the audit log's lines).
    pub fn audit_event(&self) -> String {
        format!("{}/events/audit", self.base)
    }

    /// Every change of a station's conversation (asked, answered, closed), as JSON.
    pub fn session_event(&self) -> String {
        format!("{}/events/session", self.base)
    }

    /// Every wake word heard (`{"name", "probability", "audio_ms"}`).
    pub fn wake_event(&self) -> String {
        format!("{}/events/wake", self.base)
    }

    /// Retained: the open conversations, as a JSON array (empty when none).
    pub fn sessions(&self) -> String {
        format!("{}/sessions", self.base)
    }

    /// Signed fleet commands in (edge-fleet envelopes).
    pub fn fleet_command(&self) -> String {
        format!("{}/cmd/fleet", self.base)
    }

    /// The acknowledgement of every fleet command, as JSON.
    pub fn fleet_result(&self) -> String {
        format!("{}/fleet/result", self.base)
    }

    /// Retained heartbeat: versions of the agent, skills and models.
    pub fn fleet_heartbeat(&self) -> String {
        format!("{}/fleet/heartbeat", self.base)
    }

    /// The metrics' exposition text (OpenMetrics), retained, every
    /// `metrics.mqtt_summary_secs`: for fleets without a scraper.
    pub fn metrics(&self) -> String {
        format!("{}/metrics", self.base)
    }

    /// Rejected commands (malformed payloads), as JSON naming the problem.
    pub fn error_event(&self) -> String {
        format!("{}/events/error", self.base)
    }

    /// Text commands in.
    pub fn say_command(&self) -> String {
        format!("{}/cmd/say", self.base)
    }

    /// Push-to-talk in: payload `start` or `stop`.
    pub fn listen_command(&self) -> String {
        format!("{}/cmd/listen", self.base)
    }

    /// Privacy mode in: payload `on` (nothing is escalated off the device) or `off`.
    pub fn privacy_command(&self) -> String {
        format!("{}/cmd/privacy", self.base)
    }

    /// Filter matching every command topic.
    pub fn command_filter(&self) -> String {
        format!("{}/cmd/#", self.base)
    }
}

/// Body of `cmd/say` when sent as JSON.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SayCommand {
    text: String,
    /// The station it comes from; the default station when absent.
    #[serde(default)]
    station: Option<String>,
}

/// The text of a `cmd/say` payload: plain UTF-8 text, or JSON `{"text": "...",
/// "station": "..."}`; and the station, if named. Errors say what is wrong and where
/// (byte offset, JSON line and column), for the `events/error` topic.
pub fn parse_say(payload: &[u8]) -> Result<(String, Option<String>), String> {
    let text = std::str::from_utf8(payload).map_err(|e| {
        format!(
            "payload is not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        )
    })?;
    if text.trim_start().starts_with('{') {
        let command: SayCommand = serde_json::from_str(text)
            .map_err(|e| format!("payload is not a valid say command: {e}"))?;
        if command.station.as_ref().is_some_and(|s| s.len() > 64) {
            return Err("field `station` is longer than 64 bytes".into());
        }
        Ok((command.text, command.station))
    } else {
        Ok((text.to_owned(), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn say_payloads() {
        assert_eq!(
            parse_say(b"start pump three"),
            Ok(("start pump three".into(), None))
        );
        assert_eq!(
            parse_say(br#"{"text": "stop pump 4"}"#),
            Ok(("stop pump 4".into(), None))
        );
        assert_eq!(
            parse_say(br#"{"text": "yes", "station": "press-1-panel"}"#),
            Ok(("yes".into(), Some("press-1-panel".into())))
        );
        let err = parse_say(&[0x66, 0xff, 0x66]).expect_err("must be refused");
        assert!(
            err.contains("not UTF-8") && err.contains("offset 1"),
            "{err}"
        );
        let err = parse_say(br#"{"txt": "x"}"#).expect_err("must be refused");
        assert!(err.contains("unknown field `txt`"), "{err}");
        let err = parse_say(br#"{"text": 5}"#).expect_err("must be refused");
        assert!(err.contains("invalid type"), "{err}");
        let err = parse_say(br#"{"text": "x""#).expect_err("must be refused");
        assert!(err.contains("line 1 column"), "{err}");
    }

    #[test]
    fn topics_are_under_prefix_and_device() {
        let t = DeviceTopics::new("edge-agent", "car-7");
        assert_eq!(t.status(), "edge-agent/car-7/status");
        assert_eq!(t.intent_event(), "edge-agent/car-7/events/intent");
        assert_eq!(t.say_command(), "edge-agent/car-7/cmd/say");
        assert_eq!(t.command_filter(), "edge-agent/car-7/cmd/#");
        assert_eq!(t.listen_command(), "edge-agent/car-7/cmd/listen");
    }
}
