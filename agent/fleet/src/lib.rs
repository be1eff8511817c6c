//! Fleet operations over MQTT, without MQTT: the signed command envelope a publisher sends
//! and a device opens ([`sign`], [`open`]), the operations (install or update a skill,
//! remove one, push a configuration overlay), the acknowledgement ([`FleetResult`]),
//! replay protection ([`ReplayGuard`]) and the skill directory swap with rollback
//! ([`SkillStore`]).
//!
//! The signature covers the command's body exactly as sent (a JSON text inside the
//! envelope), so no canonical JSON is needed: a device verifies the bytes, then parses
//! them. [`FleetSection`] is its configuration section, `[fleet]`. Must not depend on a
//! transport or on the daemon.

mod replay;
mod section;
mod store;

pub use replay::ReplayGuard;
pub use section::FleetSection;
pub use store::{SkillStore, StoreError, Swap};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Domain separation: a fleet signature never verifies as a skill package's or anything
/// else's.
const CONTEXT: &[u8] = b"edge-agent fleet command v1\n";
/// Largest command accepted (a skill's component travels inside, base64).
pub const MAX_COMMAND_BYTES: usize = 8 << 20;

/// What a signed command asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Operation {
    /// Installs a skill, or updates it when one of that name is installed.
    InstallSkill {
        /// The skill's `skill.toml`.
        manifest: String,
        /// `NAME.wasm`, base64; absent for a skill without code.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        component_base64: Option<String>,
        /// `NAME.sig` (the package signature, hex), for devices with
        /// `skills.require_signed`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        package_signature: Option<String>,
    },
    /// Removes an installed skill.
    RemoveSkill {
        /// Its name.
        name: String,
    },
    /// Replaces the fleet's configuration overlay (`conf.d/90-fleet.toml`).
    ApplyConfig {
        /// TOML, layered over the device's own files.
        overlay: String,
    },
}

impl Operation {
    /// The operation's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::InstallSkill { .. } => "install-skill",
            Operation::RemoveSkill { .. } => "remove-skill",
            Operation::ApplyConfig { .. } => "apply-config",
        }
    }
}

/// The signed part of a command. (Unknown fields are refused by the operation: serde
/// cannot deny them on a struct with a flattened field.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// Unique id; the acknowledgement names it.
    pub id: String,
    /// The device it is for (its `agent.device_id`).
    pub device: String,
    /// When the publisher issued it (ms since the Unix epoch); each device accepts only
    /// increasing values, so a recorded command cannot be replayed.
    pub issued_ms: u64,
    /// What to do.
    #[serde(flatten)]
    pub operation: Operation,
}

/// A command as published: the body's JSON text, the publisher's key and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The [`Body`] as JSON text, signed as it is.
    pub body: String,
    /// The publisher's ed25519 public key (hex).
    pub key: String,
    /// The signature over the body (hex).
    pub signature: String,
}

/// Why a command was refused before anything was done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// Not a command envelope; the message names the field.
    #[error("malformed command: {0}")]
    Malformed(String),
    /// The signature does not verify, or the key is not a configured publisher key.
    #[error("signature refused: {0}")]
    Signature(String),
    /// For another device.
    #[error("command {id} is for device {device:?}, not this one")]
    WrongDevice {
        /// The command.
        id: String,
        /// Whom it names.
        device: String,
    },
    /// Issued no later than a command already accepted.
    #[error(
        "command {id} was issued at {issued_ms}, not after the last accepted command ({last_ms}): replayed or out of order"
    )]
    Replayed {
        /// The command.
        id: String,
        /// Its time.
        issued_ms: u64,
        /// The last accepted time.
        last_ms: u64,
    },
}

/// Signs `body` with the publisher's secret key (hex).
pub fn sign(secret_hex: &str, body: &Body) -> Result<Envelope, edge_signing::SigningError> {
    let text = serde_json::to_string(body).map_err(|e| edge_signing::SigningError::Format {
        what: "body".into(),
        message: e.to_string(),
    })?;
    Ok(Envelope {
        signature: edge_signing::sign_message(secret_hex, CONTEXT, text.as_bytes())?,
        key: edge_signing::public_key(secret_hex)?,
        body: text,
    })
}

/// Opens a published command: parses the envelope, verifies the signature against the
/// `publisher_keys`, then parses the body and checks it is for `device_id`. Replay is
/// checked by the caller with its [`ReplayGuard`].
pub fn open(
    payload: &[u8],
    publisher_keys: &[String],
    device_id: &str,
) -> Result<Body, FleetError> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(FleetError::Malformed(format!(
            "{} bytes; the limit is {MAX_COMMAND_BYTES}",
            payload.len()
        )));
    }
    let envelope: Envelope = serde_json::from_slice(payload)
        .map_err(|e| FleetError::Malformed(format!("envelope: {e}")))?;
    if publisher_keys.is_empty() {
        return Err(FleetError::Signature(
            "no publisher keys are configured (fleet.publisher_keys)".into(),
        ));
    }
    edge_signing::verify_message(
        publisher_keys,
        &envelope.key,
        CONTEXT,
        envelope.body.as_bytes(),
        &envelope.signature,
    )
    .map_err(|e| FleetError::Signature(e.to_string()))?;
    let body: Body = serde_json::from_str(&envelope.body)
        .map_err(|e| FleetError::Malformed(format!("body: {e}")))?;
    if body.device != device_id {
        return Err(FleetError::WrongDevice {
            id: body.id,
            device: body.device,
        });
    }
    Ok(body)
}

/// Decodes an install's component.
pub fn decode_component(base64_text: &str) -> Result<Vec<u8>, FleetError> {
    base64::engine::general_purpose::STANDARD
        .decode(base64_text.trim())
        .map_err(|e| FleetError::Malformed(format!("component_base64: {e}")))
}

/// Encodes a component for an install.
pub fn encode_component(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Done.
    Ok,
    /// Refused before anything changed (signature, device, replay, invalid content).
    Rejected,
    /// Tried, failed, and the previous state was restored.
    RolledBack,
    /// Tried and failed; the previous state could not be restored (the message says what
    /// is left).
    Failed,
}

/// The acknowledgement of a command, published on the device's result topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetResult {
    /// The command's id (`null` when the envelope could not be read).
    pub id: Option<String>,
    /// The operation.
    pub op: Option<String>,
    /// How it ended.
    pub status: Status,
    /// What happened, for people.
    pub message: String,
    /// The skill concerned, and its version after the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    /// Its version now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(device: &str) -> Body {
        Body {
            id: "c1".into(),
            device: device.into(),
            issued_ms: 5,
            operation: Operation::RemoveSkill {
                name: "media".into(),
            },
        }
    }

    #[test]
    fn a_signed_command_opens_only_untampered_from_a_publisher_key_for_this_device() {
        let (secret, public) = edge_signing::generate_key().expect("key");
        let keys = [public];
        let envelope = sign(&secret, &body("car-1")).expect("sign");
        let bytes = serde_json::to_vec(&envelope).expect("json");
        assert_eq!(open(&bytes, &keys, "car-1").expect("opens"), body("car-1"));

        let mut tampered = envelope.clone();
        tampered.body = tampered.body.replace("media", "climate");
        let err = open(
            &serde_json::to_vec(&tampered).expect("json"),
            &keys,
            "car-1",
        );
        assert!(matches!(err, Err(FleetError::Signature(_))), "{err:?}");

        let (_, stranger) = edge_signing::generate_key().expect("key");
        let err = open(&bytes, &[stranger], "car-1");
        assert!(matches!(err, Err(FleetError::Signature(_))), "{err:?}");
        assert!(matches!(
            open(&bytes, &keys, "car-2"),
            Err(FleetError::WrongDevice { .. })
        ));
        let err = open(b"{\"body\": 1}", &keys, "car-1").expect_err("malformed");
        assert!(
            err.to_string().starts_with("malformed command: envelope:"),
            "{err}"
        );
    }

    #[test]
    fn operations_have_their_wire_names() {
        let json = serde_json::to_value(body("x")).expect("json");
        assert_eq!(json["op"], "remove-skill");
        assert_eq!(json["name"], "media");
        assert_eq!(encode_component(b"\0asm").len(), 8);
        assert_eq!(
            decode_component(&encode_component(b"\0asm")).expect("b64"),
            b"\0asm"
        );
    }
}
