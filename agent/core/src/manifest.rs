//! The skill manifest (`skill.toml`): what a skill is called, the intents it owns, their
//! templates and typed slots.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of a skill's manifest inside its directory.
pub const MANIFEST_FILE: &str = "skill.toml";

/// A skill manifest as written in `skill.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillManifest {
    /// Identity of the skill.
    pub skill: SkillInfo,
    /// Named slot types (enums, entity lists) used by the intents' slots.
    #[serde(default)]
    pub types: BTreeMap<String, SlotTypeDef>,
    /// Intents the skill owns, keyed by canonical name (`climate.set_temperature`).
    pub intents: BTreeMap<String, IntentDef>,
    /// What the skill's code may touch. Nothing unless granted.
    #[serde(default)]
    pub permissions: Permissions,
    /// Resource limits of one invocation.
    #[serde(default)]
    pub limits: Limits,
}

/// Capabilities granted to a skill's code; every host call is checked against them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Permissions {
    /// Signal paths the skill may read (globs: `*` matches anything, dots included).
    pub signals_read: Vec<String>,
    /// Signal paths the skill may write (through the safety policy).
    pub signals_write: Vec<String>,
    /// MQTT topics the skill may publish to (globs).
    pub mqtt_publish: Vec<String>,
    /// D-Bus destinations the skill may call.
    pub dbus: Vec<String>,
    /// WASI environment variables passed through (none by default).
    pub env: Vec<String>,
    /// WASI sockets (off by default).
    pub network: bool,
    /// The local language model (`llm.choose`, world 0.2.0), off by default.
    pub llm: bool,
    /// Reports kept on disk (`reports.keep`, world 0.2.0), off by default.
    pub reports: bool,
}

/// Limits of one invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory, in MiB (1 to 512).
    pub memory_mb: u32,
    /// CPU time of one call, in milliseconds (1 to 10000); host calls count too.
    pub timeout_ms: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mb: 16,
            timeout_ms: 250,
        }
    }
}

/// The `[skill]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillInfo {
    /// Unique skill name: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// Semantic version of the skill.
    pub version: String,
    /// One line for people.
    #[serde(default)]
    pub description: String,
}

/// One intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentDef {
    /// One line for people (and the SLM prompt).
    #[serde(default)]
    pub description: String,
    /// Templates in the syntax of `docs/SKILLS.md`.
    #[serde(default)]
    pub templates: Vec<String>,
    /// Slots by name.
    #[serde(default)]
    pub slots: BTreeMap<String, SlotDef>,
    /// What the agent says when it carries the intent out: `{slot}` is replaced by the
    /// slot's value; a `[...]` section is dropped when a slot inside it has no value.
    #[serde(default)]
    pub say: Option<String>,
    /// Free paraphrases a skill author writes for the embedding tier, with the slots the
    /// sentence itself fixes: `{ text = "I'm freezing", slots = { direction = "warmer" } }`.
    #[serde(default)]
    pub examples: Vec<ExampleDef>,
}

/// Longest example sentence, in characters.
pub const MAX_EXAMPLE_CHARS: usize = 200;

/// A paraphrase of an intent, for the embedding tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleDef {
    /// What a person says.
    pub text: String,
    /// The slots that sentence fixes (enum values by their canonical name, numbers).
    #[serde(default)]
    pub slots: BTreeMap<String, ExampleSlot>,
}

/// A slot value in an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExampleSlot {
    /// A number.
    Number(f64),
    /// An enum value, an entity or text.
    Text(String),
}

impl std::fmt::Display for ExampleSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExampleSlot::Number(n) => write!(f, "{n}"),
            ExampleSlot::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// A slot of an intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotDef {
    /// `number`, `integer`, `text`, or the name of a type in `[types]`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Lower bound for `number` and `integer`.
    #[serde(default)]
    pub min: Option<f64>,
    /// Upper bound for `number` and `integer`.
    #[serde(default)]
    pub max: Option<f64>,
    /// `number` only: accept halves ("twenty one and a half", "half").
    #[serde(default)]
    pub half: bool,
    /// `text` only: longest value in words (default 8).
    #[serde(default)]
    pub max_words: Option<usize>,
    /// `text` only: values the recogniser listens for (genres, stations, saved places).
    /// Other text is still accepted; a heard value that is none of them, when one of them
    /// sounds nearly as likely, is asked about ("Did you say: play some jazz?").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known: Vec<String>,
    /// Whether every template of the intent must fill this slot (default true).
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// A named slot type declared by the skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SlotTypeDef {
    /// A closed set of values, each with the phrases that mean it.
    Enum {
        /// Canonical value to spoken synonyms (the value itself, with `_` as a space,
        /// is always a synonym).
        values: BTreeMap<String, Vec<String>>,
    },
    /// Values from an entity list in the agent's configuration (`nlu.entities.NAME`).
    Entity {
        /// Name of the entity list.
        list: String,
    },
}

/// A slot's type, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum SlotKind {
    /// Spoken or written number, optionally bounded, optionally with halves.
    Number {
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
        /// Accept halves.
        half: bool,
    },
    /// Whole number, optionally bounded.
    Integer {
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// Free text of at most this many words.
    Text {
        /// Longest value in words.
        max_words: usize,
        /// Values the recogniser listens for (lowercase).
        known: Vec<String>,
    },
    /// One of a closed set.
    Enum {
        /// Canonical value to synonyms.
        values: BTreeMap<String, Vec<String>>,
    },
    /// One of the configured entity list's values.
    Entity {
        /// Name of the list.
        list: String,
    },
}

/// Default longest free-text slot value, in words.
pub const DEFAULT_TEXT_MAX_WORDS: usize = 8;

/// Why a manifest was refused. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{path}: cannot read skill manifest: {source}")]
    Read {
        /// The manifest file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the manifest schema (the message
    /// names line, column and key).
    #[error("{path}: {source}")]
    Parse {
        /// The manifest file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: Box<toml::de::Error>,
    },
    /// The manifest parsed but is inconsistent.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A manifest together with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedManifest {
    /// Path of `skill.toml` (or a description of where an embedded manifest came from).
    pub path: PathBuf,
    /// The validated manifest.
    pub manifest: SkillManifest,
}

impl LoadedManifest {
    /// Reads, parses and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates manifest text; `path` is used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ManifestError> {
        let manifest: SkillManifest =
            toml::from_str(text).map_err(|source| ManifestError::Parse {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        manifest.validate(path)?;
        Ok(Self {
            path: path.to_owned(),
            manifest,
        })
    }

    /// Loads `*/skill.toml` under each directory, in name order. Returns the manifests that
    /// loaded and an error for each that did not; a missing directory is not an error.
    pub fn discover(dirs: &[PathBuf]) -> (Vec<LoadedManifest>, Vec<ManifestError>) {
        let mut loaded = Vec::new();
        let mut errors = Vec::new();
        for dir in dirs {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    errors.push(ManifestError::Read {
                        path: dir.clone(),
                        source,
                    });
                    continue;
                }
            };
            // Hidden directories are installs in progress (`.NAME.installing`): skipped.
            let mut paths: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path().join(MANIFEST_FILE))
                .filter(|p| p.is_file())
                .collect();
            paths.sort();
            for path in paths {
                match Self::load(&path) {
                    Ok(m) => loaded.push(m),
                    Err(e) => errors.push(e),
                }
            }
        }
        (loaded, errors)
    }
}

impl SkillManifest {
    /// Checks what the schema cannot: names, slot types, bounds, `say` references.
    pub fn validate(&self, path: &Path) -> Result<(), ManifestError> {
        let invalid = |field: String, message: String| ManifestError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        if !is_identifier(&self.skill.name) {
            return Err(invalid(
                "skill.name".into(),
                format!(
                    "{:?} must be non-empty lowercase letters, digits, '-' or '_'",
                    self.skill.name
                ),
            ));
        }
        if !(1..=512).contains(&self.limits.memory_mb) {
            return Err(invalid(
                "limits.memory_mb".into(),
                format!("{} is outside 1 to 512", self.limits.memory_mb),
            ));
        }
        if !(1..=10_000).contains(&self.limits.timeout_ms) {
            return Err(invalid(
                "limits.timeout_ms".into(),
                format!("{} is outside 1 to 10000", self.limits.timeout_ms),
            ));
        }
        if self.intents.is_empty() {
            return Err(invalid(
                "intents".into(),
                "a skill needs at least one intent".into(),
            ));
        }
        for (type_name, def) in &self.types {
            if let SlotTypeDef::Enum { values } = def
                && values.is_empty()
            {
                return Err(invalid(
                    format!("types.{type_name}.values"),
                    "an enum needs at least one value".into(),
                ));
            }
        }
        for (intent_name, intent) in &self.intents {
            let field = |rest: &str| format!("intents.\"{intent_name}\".{rest}");
            let valid_name = intent_name
                .split_once('.')
                .is_some_and(|(a, b)| is_identifier(a) && is_identifier(b));
            if !valid_name {
                return Err(invalid(
                    format!("intents.\"{intent_name}\""),
                    "intent names are `domain.action` in lowercase".into(),
                ));
            }
            for (slot_name, slot) in &intent.slots {
                self.slot_kind(slot)
                    .map_err(|message| invalid(field(&format!("slots.{slot_name}")), message))?;
            }
            for (k, example) in intent.examples.iter().enumerate() {
                self.check_example(intent, example)
                    .map_err(|(at, message)| {
                        invalid(field(&format!("examples[{k}]{at}")), message)
                    })?;
            }
            if let Some(say) = &intent.say {
                for name in placeholders(say) {
                    if !intent.slots.contains_key(name) {
                        return Err(invalid(
                            field("say"),
                            format!("{{{name}}} is not a slot of this intent"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks an example: its text, and that each slot is the intent's and holds a value
    /// of its type. The error: where in the example (`.text`, `.slots.NAME`) and what.
    fn check_example(
        &self,
        intent: &IntentDef,
        example: &ExampleDef,
    ) -> Result<(), (String, String)> {
        let text = example.text.trim();
        if text.is_empty() {
            return Err((".text".into(), "empty".into()));
        }
        let chars = text.chars().count();
        if chars > MAX_EXAMPLE_CHARS {
            return Err((
                ".text".into(),
                format!("{chars} characters, at most {MAX_EXAMPLE_CHARS}"),
            ));
        }
        for (name, value) in &example.slots {
            let at = format!(".slots.{name}");
            let slot = intent
                .slots
                .get(name)
                .ok_or_else(|| (at.clone(), "not a slot of this intent".to_owned()))?;
            let kind = self.slot_kind(slot).map_err(|m| (at.clone(), m))?;
            let fits = match (&kind, value) {
                (
                    SlotKind::Number { min, max, .. } | SlotKind::Integer { min, max },
                    ExampleSlot::Number(n),
                ) => min.is_none_or(|m| *n >= m) && max.is_none_or(|m| *n <= m),
                (SlotKind::Enum { values }, ExampleSlot::Text(v)) => values.contains_key(v),
                (SlotKind::Text { .. } | SlotKind::Entity { .. }, ExampleSlot::Text(v)) => {
                    !v.trim().is_empty()
                }
                _ => false,
            };
            if !fits {
                let expected = match &kind {
                    SlotKind::Enum { values } => format!(
                        "one of {}",
                        values.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    SlotKind::Number { .. } | SlotKind::Integer { .. } => {
                        "a number within the slot's bounds".into()
                    }
                    SlotKind::Text { .. } | SlotKind::Entity { .. } => "a non-empty string".into(),
                };
                return Err((at, format!("{value} is not {expected}")));
            }
        }
        Ok(())
    }

    /// Resolves a slot's declared type.
    pub fn slot_kind(&self, slot: &SlotDef) -> Result<SlotKind, String> {
        let bounds_ok = match (slot.min, slot.max) {
            (Some(min), Some(max)) => min <= max,
            _ => true,
        };
        if !bounds_ok {
            return Err("min is greater than max".into());
        }
        let numeric = matches!(slot.type_name.as_str(), "number" | "integer");
        if !numeric && (slot.min.is_some() || slot.max.is_some()) {
            return Err(format!("min/max do not apply to type {:?}", slot.type_name));
        }
        if slot.half && slot.type_name != "number" {
            return Err("half applies only to type \"number\"".into());
        }
        if slot.max_words.is_some() && slot.type_name != "text" {
            return Err("max_words applies only to type \"text\"".into());
        }
        if !slot.known.is_empty() && slot.type_name != "text" {
            return Err("known applies only to type \"text\"".into());
        }
        Ok(match slot.type_name.as_str() {
            "number" => SlotKind::Number {
                min: slot.min,
                max: slot.max,
                half: slot.half,
            },
            "integer" => SlotKind::Integer {
                min: slot.min,
                max: slot.max,
            },
            "text" => {
                let max_words = match slot.max_words {
                    Some(0) => return Err("max_words must be at least 1".into()),
                    Some(n) => n,
                    None => DEFAULT_TEXT_MAX_WORDS,
                };
                let mut known = Vec::new();
                for (i, value) in slot.known.iter().enumerate() {
                    let words: Vec<&str> = value.split_whitespace().collect();
                    if words.is_empty() || words.len() > max_words {
                        return Err(format!(
                            "known[{i}] {value:?} must have 1 to {max_words} words (max_words)"
                        ));
                    }
                    known.push(words.join(" ").to_lowercase());
                }
                SlotKind::Text { max_words, known }
            }
            other => match self.types.get(other) {
                Some(SlotTypeDef::Enum { values }) => SlotKind::Enum {
                    values: values.clone(),
                },
                Some(SlotTypeDef::Entity { list }) => SlotKind::Entity { list: list.clone() },
                None => {
                    return Err(format!(
                        "unknown type {other:?}: use number, integer, text or a name from [types]"
                    ));
                }
            },
        })
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

impl IntentDef {
    /// The `say` text with slot values filled in; `[...]` sections whose slots have no
    /// value are dropped. `None` when the intent has no `say`.
    pub fn render_say(&self, slots: &crate::Slots) -> Option<String> {
        let say = self.say.as_deref()?;
        let mut out = String::new();
        let mut section: Option<(String, bool)> = None; // (text, all slots present)
        let mut rest = say;
        while let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
            match c {
                '[' => section = Some((String::new(), true)),
                ']' => {
                    if let Some((text, complete)) = section.take()
                        && complete
                    {
                        out.push_str(&text);
                    }
                }
                '{' => {
                    let (name, after) = rest.split_once('}').unwrap_or((rest, ""));
                    rest = after;
                    let value = slots.get(name.trim()).map(spoken_value);
                    match (&mut section, value) {
                        (Some((text, _)), Some(v)) => text.push_str(&v),
                        (Some((_, complete)), None) => *complete = false,
                        (None, Some(v)) => out.push_str(&v),
                        (None, None) => out.push('?'),
                    }
                }
                c => match &mut section {
                    Some((text, _)) => text.push(c),
                    None => out.push(c),
                },
            }
        }
        Some(out)
    }
}

/// A slot value as it is spoken back: ids and enum symbols with spaces (`rear_left` ->
/// "rear left", `pump-3` -> "pump 3").
fn spoken_value(value: &crate::SlotValue) -> String {
    match value {
        crate::SlotValue::Text(s) => s.replace(['_', '-'], " "),
        other => other.to_string(),
    }
}

/// Slot names referenced as `{name}` in a `say` text.
pub fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIMATE: &str = r#"
[skill]
name = "climate"
version = "0.1.0"

[types.zone]
kind = "enum"
values = { driver = ["driver side"], passenger = [] }

[intents."climate.set_temperature"]
templates = ["set [the] temperature to {celsius}"]
say = "Setting the [{zone} ]temperature to {celsius} °C"
slots.celsius = { type = "number", min = 16, max = 30, half = true }
slots.zone = { type = "zone", required = false }
"#;

    #[test]
    fn parses_and_resolves_slot_types() {
        let m = LoadedManifest::parse(Path::new("climate/skill.toml"), CLIMATE).expect("valid");
        let intent = &m.manifest.intents["climate.set_temperature"];
        assert!(intent.slots["celsius"].required);
        assert!(!intent.slots["zone"].required);
        let kind = m.manifest.slot_kind(&intent.slots["zone"]).expect("kind");
        assert!(matches!(kind, SlotKind::Enum { ref values } if values.contains_key("driver")));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = CLIMATE.replace("version = \"0.1.0\"", "version = \"0.1.0\"\nauthor = \"x\"");
        let err = LoadedManifest::parse(Path::new("climate/skill.toml"), &text)
            .expect_err("must be refused");
        let msg = err.to_string();
        assert!(msg.contains("climate/skill.toml"), "{msg}");
        assert!(msg.contains("line 5"), "{msg}");
        assert!(msg.contains("unknown field `author`"), "{msg}");
    }

    #[test]
    fn unknown_slot_type_is_refused_with_field() {
        let text = CLIMATE.replace("type = \"zone\"", "type = \"zones\"");
        let err = LoadedManifest::parse(Path::new("c.toml"), &text).expect_err("must be refused");
        let msg = err.to_string();
        assert!(
            msg.contains("intents.\"climate.set_temperature\".slots.zone"),
            "{msg}"
        );
        assert!(msg.contains("unknown type \"zones\""), "{msg}");
    }

    #[test]
    fn say_must_reference_declared_slots() {
        let text = CLIMATE.replace("to {celsius} °C", "to {degrees} °C");
        let err = LoadedManifest::parse(Path::new("c.toml"), &text).expect_err("must be refused");
        assert!(err.to_string().contains("{degrees} is not a slot"), "{err}");
    }

    #[test]
    fn say_drops_sections_of_missing_slots() {
        let m = LoadedManifest::parse(Path::new("c.toml"), CLIMATE).expect("valid");
        let intent = &m.manifest.intents["climate.set_temperature"];
        let mut slots = crate::Slots::new();
        slots.insert("celsius".into(), crate::SlotValue::Number(22.0));
        assert_eq!(
            intent.render_say(&slots).as_deref(),
            Some("Setting the temperature to 22 °C")
        );
        slots.insert("zone".into(), crate::SlotValue::Text("rear_left".into()));
        assert_eq!(
            intent.render_say(&slots).as_deref(),
            Some("Setting the rear left temperature to 22 °C")
        );
    }

    #[test]
    fn bounds_and_options_are_checked() {
        let text = CLIMATE.replace("min = 16, max = 30", "min = 30, max = 16");
        let err = LoadedManifest::parse(Path::new("c.toml"), &text).expect_err("must be refused");
        assert!(err.to_string().contains("min is greater than max"), "{err}");
    }

    #[test]
    fn known_values_belong_to_text_slots_and_fit_them() {
        let query = |slot: &str| {
            format!(
                "{CLIMATE}\n[intents.\"media.play\"]\ntemplates = [\"play {{query}}\"]\nslots.query = {slot}\n"
            )
        };
        let ok = query(r#"{ type = "text", max_words = 3, known = ["Jazz", "hip  hop"] }"#);
        let m = LoadedManifest::parse(Path::new("m.toml"), &ok).expect("valid");
        let kind = m
            .manifest
            .slot_kind(&m.manifest.intents["media.play"].slots["query"])
            .expect("kind");
        assert_eq!(
            kind,
            SlotKind::Text {
                max_words: 3,
                known: vec!["jazz".into(), "hip hop".into()]
            }
        );
        let long = query(r#"{ type = "text", max_words = 2, known = ["rhythm and blues"] }"#);
        let err = LoadedManifest::parse(Path::new("m.toml"), &long).expect_err("refused");
        assert!(err.to_string().contains("slots.query"), "{err}");
        assert!(
            err.to_string().contains("known[0] \"rhythm and blues\""),
            "{err}"
        );
        let enum_slot = CLIMATE.replace(
            "slots.zone = { type = \"zone\", required = false }",
            "slots.zone = { type = \"zone\", required = false, known = [\"driver\"] }",
        );
        let err = LoadedManifest::parse(Path::new("m.toml"), &enum_slot).expect_err("refused");
        assert!(
            err.to_string()
                .contains("known applies only to type \"text\""),
            "{err}"
        );
    }

    #[test]
    fn examples_are_optional_and_checked_against_the_intent() {
        let m = LoadedManifest::parse(Path::new("c.toml"), CLIMATE).expect("valid");
        assert!(
            m.manifest.intents["climate.set_temperature"]
                .examples
                .is_empty()
        );
        let with = |examples: &str| {
            CLIMATE.replace(
                "slots.zone = { type = \"zone\", required = false }",
                &format!(
                    "slots.zone = {{ type = \"zone\", required = false }}\nexamples = {examples}"
                ),
            )
        };
        let ok = with(
            r#"[{ text = "make it twenty two on my side", slots = { celsius = 22, zone = "driver" } }, { text = "warmer please" }]"#,
        );
        let m = LoadedManifest::parse(Path::new("c.toml"), &ok).expect("valid");
        let examples = &m.manifest.intents["climate.set_temperature"].examples;
        assert_eq!(examples.len(), 2);
        assert_eq!(examples[0].slots["celsius"], ExampleSlot::Number(22.0));
        assert_eq!(
            examples[0].slots["zone"],
            ExampleSlot::Text("driver".into())
        );
        for (examples, needle) in [
            (r#"[{ text = "  " }]"#, "examples[0].text: empty"),
            (
                r#"[{ text = "x", slots = { fan = 3 } }]"#,
                "examples[0].slots.fan: not a slot of this intent",
            ),
            (
                r#"[{ text = "ok" }, { text = "x", slots = { zone = "roof" } }]"#,
                "examples[1].slots.zone: \"roof\" is not one of driver, passenger",
            ),
            (
                r#"[{ text = "x", slots = { celsius = 40 } }]"#,
                "examples[0].slots.celsius: 40 is not a number within the slot's bounds",
            ),
            (r#"[{ text = "x", said = "y" }]"#, "unknown field `said`"),
        ] {
            let err = LoadedManifest::parse(Path::new("c.toml"), &with(examples))
                .expect_err("must be refused");
            assert!(err.to_string().contains(needle), "{err} (wanted {needle})");
        }
    }
}
