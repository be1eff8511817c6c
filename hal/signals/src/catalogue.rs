//! Profiles: TOML files listing `[[signal]]`s with their binding and the `[[rule]]`s of
//! the safety policy. A new car or machine is a new profile, not new code.

use edge_core::{Access, DataType, SignalDef};
use edge_policy::RuleSpec;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A D-Bus binding: a property, or methods, of one object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbusBinding {
    /// Bus name of the peer.
    pub destination: String,
    /// Object path.
    pub path: String,
    /// Interface.
    pub interface: String,
    /// Property read with Get, written with Set, changes from PropertiesChanged.
    #[serde(default)]
    pub property: Option<String>,
    /// Method returning the value (instead of a property).
    #[serde(default)]
    pub get_method: Option<String>,
    /// Method that writes; see `set_args`.
    #[serde(default)]
    pub set_method: Option<String>,
    /// Arguments of `set_method`: `"$value"` is the value, anything else a literal string.
    #[serde(default = "value_arg")]
    pub set_args: Vec<String>,
    /// Signal of the interface whose first argument is the new value.
    #[serde(default)]
    pub change_signal: Option<String>,
    /// D-Bus type of integer values: `i` (int32, default), `x` (int64), `u`, `y`.
    #[serde(default = "int32")]
    pub int_type: String,
}

fn value_arg() -> Vec<String> {
    vec!["$value".into()]
}

fn int32() -> String {
    "i".into()
}

/// An MQTT binding: a state topic to read, a command topic to write.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttBinding {
    /// Topic carrying the current value.
    #[serde(default)]
    pub state_topic: Option<String>,
    /// JSON pointer into the state payload (`/pressure`); none: the payload is the value.
    #[serde(default)]
    pub pointer: Option<String>,
    /// Topic taking the new value as its payload (raw text).
    #[serde(default)]
    pub command_topic: Option<String>,
    /// QoS of commands (0, 1 or 2).
    #[serde(default = "qos1")]
    pub qos: u8,
    /// Retain commands.
    #[serde(default)]
    pub retain: bool,
}

fn qos1() -> u8 {
    1
}

/// How a signal reaches the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// Over D-Bus.
    Dbus(DbusBinding),
    /// Over MQTT.
    Mqtt(MqttBinding),
}

/// A signal with its binding.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundSignal {
    /// The definition.
    pub def: SignalDef,
    /// The binding.
    pub binding: Binding,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalEntry {
    path: String,
    datatype: DataType,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    values: Vec<String>,
    access: Access,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    dbus: Option<DbusBinding>,
    #[serde(default)]
    mqtt: Option<MqttBinding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    signal: Vec<Spanned<SignalEntry>>,
    #[serde(default)]
    rule: Vec<Spanned<RuleSpec>>,
}

/// A profile that cannot be used. Every variant names the file; most the line and field.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// Unreadable file.
    #[error("{path}: cannot read profile: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// Not TOML, or not the schema.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// Parsed but inconsistent.
    #[error("{path}:{line}: {field}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line of the entry.
        line: usize,
        /// Which entry and field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Every signal and rule of the loaded profiles.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Signals by path.
    pub signals: BTreeMap<String, BoundSignal>,
    /// Policy rules, in file order.
    pub rules: Vec<RuleSpec>,
}

fn line_of(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    (
        before.matches('\n').count() + 1,
        before.rsplit('\n').next().map_or(0, str::len) + 1,
    )
}

impl Catalogue {
    /// Loads profiles in order; a signal path may be defined once across all of them.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CatalogueError> {
        let mut catalogue = Catalogue::default();
        let mut rule_lines = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
                path: path.clone(),
                source,
            })?;
            catalogue.add(path, &text, &mut rule_lines)?;
        }
        let known: Vec<&str> = catalogue.signals.keys().map(String::as_str).collect();
        if let Err(e) = edge_policy::Policy::new(catalogue.rules.clone(), &known) {
            let rule_name = match &e {
                edge_policy::PolicyError::NoMatch { rule, .. }
                | edge_policy::PolicyError::UnknownSignal { rule, .. }
                | edge_policy::PolicyError::Duplicate { rule } => rule.clone(),
            };
            let (path, line) = rule_lines
                .iter()
                .rev()
                .find(|(_, _, name)| *name == rule_name)
                .map(|(p, l, _)| (p.clone(), *l))
                .unwrap_or_default();
            return Err(CatalogueError::Invalid {
                path,
                line,
                field: "[[rule]]".into(),
                message: e.to_string(),
            });
        }
        Ok(catalogue)
    }

    fn add(
        &mut self,
        path: &Path,
        text: &str,
        rule_lines: &mut Vec<(PathBuf, usize, String)>,
    ) -> Result<(), CatalogueError> {
        let file: ProfileFile = toml::from_str(text).map_err(|e| {
            let (line, column) = line_of(text, e.span().map_or(0, |s| s.start));
            CatalogueError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        for (index, entry) in file.signal.into_iter().enumerate() {
            let line = line_of(text, entry.span().start).0;
            let entry = entry.into_inner();
            let invalid = |what: &str, message: String| CatalogueError::Invalid {
                path: path.to_owned(),
                line,
                field: format!("signal[{index}] ({}){what}", entry.path),
                message,
            };
            let bound = check_entry(&entry).map_err(|(what, msg)| invalid(what, msg))?;
            if self.signals.contains_key(&entry.path) {
                return Err(invalid("", "this path is defined twice".into()));
            }
            self.signals.insert(entry.path.clone(), bound);
        }
        for rule in file.rule {
            let line = line_of(text, rule.span().start).0;
            let rule = rule.into_inner();
            rule_lines.push((path.to_owned(), line, rule.name.clone()));
            self.rules.push(rule);
        }
        Ok(())
    }

    /// The signals bound to one transport.
    pub fn bound_to(&self, mqtt: bool) -> Vec<&BoundSignal> {
        self.signals
            .values()
            .filter(|s| matches!(s.binding, Binding::Mqtt(_)) == mqtt)
            .collect()
    }
}

fn check_entry(e: &SignalEntry) -> Result<BoundSignal, (&'static str, String)> {
    let valid_path = !e.path.is_empty()
        && e.path.split('.').all(|seg| {
            !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if !valid_path {
        return Err((
            ".path",
            "segments of letters, digits and '_' separated by '.'".into(),
        ));
    }
    if let (Some(min), Some(max)) = (e.min, e.max)
        && min > max
    {
        return Err((".min", "min is greater than max".into()));
    }
    let numeric = matches!(e.datatype, DataType::Int | DataType::Float);
    if !numeric && (e.min.is_some() || e.max.is_some()) {
        return Err((".min", "min/max apply only to int and float".into()));
    }
    if (e.datatype == DataType::Enum) == e.values.is_empty() {
        return Err((
            ".values",
            "an enum needs values; other types take none".into(),
        ));
    }
    let binding = match (&e.dbus, &e.mqtt) {
        (Some(d), None) => {
            let by_property = d.property.is_some();
            let by_methods = d.get_method.is_some() || d.set_method.is_some();
            if by_property == by_methods {
                return Err((
                    ".dbus",
                    "give either property or get_method/set_method".into(),
                ));
            }
            if e.access.readable() && !by_property && d.get_method.is_none() {
                return Err((
                    ".dbus",
                    "a readable signal needs property or get_method".into(),
                ));
            }
            if e.access.writable() && !by_property && d.set_method.is_none() {
                return Err((
                    ".dbus",
                    "a writable signal needs property or set_method".into(),
                ));
            }
            if !matches!(d.int_type.as_str(), "i" | "x" | "u" | "y") {
                return Err((
                    ".dbus.int_type",
                    format!("{:?}: use i, x, u or y", d.int_type),
                ));
            }
            Binding::Dbus(d.clone())
        }
        (None, Some(m)) => {
            if e.access.readable() && m.state_topic.is_none() {
                return Err((".mqtt", "a readable signal needs state_topic".into()));
            }
            if e.access.writable() && m.command_topic.is_none() {
                return Err((".mqtt", "a writable signal needs command_topic".into()));
            }
            if m.pointer.as_deref().is_some_and(|p| !p.starts_with('/')) {
                return Err((".mqtt.pointer", "a JSON pointer starts with '/'".into()));
            }
            if m.qos > 2 {
                return Err((".mqtt.qos", format!("{} is not 0, 1 or 2", m.qos)));
            }
            for t in [&m.state_topic, &m.command_topic].into_iter().flatten() {
                if t.is_empty() || t.contains(['+', '#']) {
                    return Err((".mqtt", format!("{t:?} is not a topic name")));
                }
            }
            Binding::Mqtt(m.clone())
        }
        _ => return Err(("", "needs exactly one binding: dbus or mqtt".into())),
    };
    let label = e.label.clone().unwrap_or_else(|| {
        e.path
            .rsplit('.')
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" ")
    });
    Ok(BoundSignal {
        def: SignalDef {
            path: e.path.clone(),
            datatype: e.datatype,
            unit: e.unit.clone(),
            min: e.min,
            max: e.max,
            values: e.values.clone(),
            access: e.access,
            label,
        },
        binding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[signal]]
path = "Vehicle.Speed"
datatype = "float"
unit = "km/h"
min = 0
max = 250
access = "read-write"
dbus = { destination = "org.x", path = "/x", interface = "org.x.V", property = "Speed" }

[[signal]]
path = "Plant.Pump3.State"
datatype = "enum"
values = ["running", "stopped", "fault"]
access = "read-write"
label = "pump 3"
mqtt = { state_topic = "plant/pump-3/state", pointer = "/state", command_topic = "plant/pump-3/set/state" }

[[rule]]
name = "confirm"
signals = ["Plant.*.State"]
confirm = true
"#;

    fn load(text: &str) -> Result<Catalogue, CatalogueError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).expect("write");
        Catalogue::load(&[path])
    }

    #[test]
    fn loads_signals_and_rules() {
        let c = load(GOOD).expect("valid");
        assert_eq!(c.signals.len(), 2);
        assert_eq!(c.signals["Vehicle.Speed"].def.label, "Vehicle Speed");
        assert_eq!(c.signals["Plant.Pump3.State"].def.label, "pump 3");
        assert_eq!(c.rules.len(), 1);
        assert_eq!(c.bound_to(true).len(), 1);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = load(&GOOD.replace(
            "property = \"Speed\"",
            "property = \"Speed\", get_method = \"G\"",
        ))
        .expect_err("bad");
        let msg = err.to_string();
        assert!(
            msg.contains("p.toml:2: signal[0] (Vehicle.Speed).dbus: give either"),
            "{msg}"
        );
        let err =
            load(&GOOD.replace("unit = \"km/h\"", "unit = \"km/h\"\nscale = 2")).expect_err("bad");
        assert!(
            err.to_string()
                .contains("p.toml:6:1: unknown field `scale`"),
            "{err}"
        );
        let err = load(&GOOD.replace("\"Plant.*.State\"", "\"Plant.*.Nope\"")).expect_err("bad");
        assert!(
            err.to_string().contains(
                "p.toml:19: [[rule]]: rule \"confirm\": signals: \"Plant.*.Nope\" matches no signal"
            ),
            "{err}"
        );
        let err =
            load(&GOOD.replace("pointer = \"/state\"", "pointer = \"state\"")).expect_err("bad");
        assert!(
            err.to_string().contains("(Plant.Pump3.State).mqtt.pointer"),
            "{err}"
        );
        let twice = format!(
            "{GOOD}\n[[signal]]\npath = \"Vehicle.Speed\"\ndatatype = \"float\"\naccess = \"read\"\ndbus = {{ destination = \"o.x\", path = \"/x\", interface = \"o.x\", property = \"S\" }}\n"
        );
        assert!(
            load(&twice)
                .expect_err("dup")
                .to_string()
                .contains("defined twice")
        );
    }
}
