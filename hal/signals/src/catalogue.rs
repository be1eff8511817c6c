//! Profiles: TOML files listing `[[signal]]`s with their binding and the `[[rule]]`s of
//! the safety policy. A new car or machine is a new profile, not new code.

use crate::registry::TransportRegistry;
use crate::transport::{BindingError, BoundSignal};
use edge_core::{Access, DataType, SignalDef};
use edge_policy::RuleSpec;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The keys of a `[[signal]]` entry that are the signal's own.
const SIGNAL_FIELDS: &[&str] = &[
    "path", "datatype", "unit", "min", "max", "values", "access", "label",
];

thread_local! {
    /// The binding keys (transport names) of the registry loading profiles on this thread:
    /// serde's key check runs where the parser knows the key's line and column, and has no
    /// other way to learn names known only at run time.
    static BINDING_KEYS: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

/// Sets [`BINDING_KEYS`] for one load and clears them after.
struct BindingKeys;

impl BindingKeys {
    fn set(names: Vec<&'static str>) -> Self {
        BINDING_KEYS.with(|k| *k.borrow_mut() = names);
        BindingKeys
    }
}

impl Drop for BindingKeys {
    fn drop(&mut self) {
        BINDING_KEYS.with(|k| k.borrow_mut().clear());
    }
}

#[derive(Debug, Default)]
struct SignalEntry {
    path: String,
    datatype: Option<DataType>,
    unit: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    values: Vec<String>,
    access: Option<Access>,
    label: Option<String>,
    /// Transport name and its entry, in file order.
    bindings: Vec<(&'static str, toml::Value)>,
}

/// A key of a `[[signal]]` entry: one of the signal's fields or a registered transport.
enum EntryKey {
    Field(&'static str),
    Binding(&'static str),
}

impl<'de> Deserialize<'de> for EntryKey {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = EntryKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a signal field or a transport name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<EntryKey, E> {
                if let Some(field) = SIGNAL_FIELDS.iter().find(|f| **f == key) {
                    return Ok(EntryKey::Field(field));
                }
                BINDING_KEYS.with(|keys| {
                    let keys = keys.borrow();
                    if let Some(name) = keys.iter().find(|n| **n == key) {
                        return Ok(EntryKey::Binding(name));
                    }
                    let expected: Vec<String> = SIGNAL_FIELDS
                        .iter()
                        .chain(keys.iter())
                        .map(|k| format!("`{k}`"))
                        .collect();
                    Err(E::custom(format!(
                        "unknown field `{key}`, expected one of {}",
                        expected.join(", ")
                    )))
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for SignalEntry {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = SignalEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a [[signal]] table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SignalEntry, A::Error> {
                let mut e = SignalEntry::default();
                let mut path = None;
                while let Some(key) = map.next_key::<EntryKey>()? {
                    match key {
                        EntryKey::Field("path") => path = Some(map.next_value()?),
                        EntryKey::Field("datatype") => e.datatype = Some(map.next_value()?),
                        EntryKey::Field("unit") => e.unit = Some(map.next_value()?),
                        EntryKey::Field("min") => e.min = Some(map.next_value()?),
                        EntryKey::Field("max") => e.max = Some(map.next_value()?),
                        EntryKey::Field("values") => e.values = map.next_value()?,
                        EntryKey::Field("access") => e.access = Some(map.next_value()?),
                        EntryKey::Field("label") => e.label = Some(map.next_value()?),
                        EntryKey::Field(other) => {
                            return Err(de::Error::unknown_field(other, SIGNAL_FIELDS));
                        }
                        EntryKey::Binding(name) => e.bindings.push((name, map.next_value()?)),
                    }
                }
                e.path = path.ok_or_else(|| de::Error::missing_field("path"))?;
                if e.datatype.is_none() {
                    return Err(de::Error::missing_field("datatype"));
                }
                if e.access.is_none() {
                    return Err(de::Error::missing_field("access"));
                }
                Ok(e)
            }
        }
        d.deserialize_map(EntryVisitor)
    }
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
    /// Bindings are read by the registry's transports.
    pub fn load(paths: &[PathBuf], transports: &TransportRegistry) -> Result<Self, CatalogueError> {
        let _keys = BindingKeys::set(transports.names());
        let mut catalogue = Catalogue::default();
        let mut rule_lines = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
                path: path.clone(),
                source,
            })?;
            catalogue.add(path, &text, transports, &mut rule_lines)?;
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
        transports: &TransportRegistry,
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
            let bound =
                check_entry(&entry, transports).map_err(|(what, msg)| invalid(&what, msg))?;
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

    /// The signals bound to the transport named `transport`.
    pub fn bound_to(&self, transport: &str) -> Vec<BoundSignal> {
        self.signals
            .values()
            .filter(|s| s.binding.transport() == transport)
            .cloned()
            .collect()
    }
}

fn check_entry(
    e: &SignalEntry,
    transports: &TransportRegistry,
) -> Result<BoundSignal, (String, String)> {
    let fail = |what: &str, message: &str| Err((what.to_owned(), message.to_owned()));
    let valid_path = !e.path.is_empty()
        && e.path.split('.').all(|seg| {
            !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if !valid_path {
        return fail(
            ".path",
            "segments of letters, digits and '_' separated by '.'",
        );
    }
    if let (Some(min), Some(max)) = (e.min, e.max)
        && min > max
    {
        return fail(".min", "min is greater than max");
    }
    let datatype = e.datatype.unwrap_or(DataType::String);
    let numeric = matches!(datatype, DataType::Int | DataType::Float);
    if !numeric && (e.min.is_some() || e.max.is_some()) {
        return fail(".min", "min/max apply only to int and float");
    }
    if (datatype == DataType::Enum) == e.values.is_empty() {
        return fail(".values", "an enum needs values; other types take none");
    }
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
    let def = SignalDef {
        path: e.path.clone(),
        datatype,
        unit: e.unit.clone(),
        min: e.min,
        max: e.max,
        values: e.values.clone(),
        access: e.access.unwrap_or(Access::Read),
        label,
    };
    let [(name, entry)] = e.bindings.as_slice() else {
        return fail(
            "",
            &format!(
                "needs exactly one binding: {}",
                transports.names().join(" or ")
            ),
        );
    };
    let plugin = transports
        .get(name)
        .expect("binding keys come from the registry");
    let binding = plugin
        .parse_binding(&def, entry.clone())
        .map_err(|e| match e {
            BindingError::Schema(message) => (format!(".{name}"), message),
            BindingError::Invalid { field, message } if field.is_empty() => {
                (format!(".{name}"), message)
            }
            BindingError::Invalid { field, message } => (format!(".{name}.{field}"), message),
        })?;
    Ok(BoundSignal { def, binding })
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_wire::{WireBinding, registry};

    const GOOD: &str = r#"
[[signal]]
path = "Vehicle.Speed"
datatype = "float"
unit = "km/h"
min = 0
max = 250
access = "read-write"
bus = { channel = "speed" }

[[signal]]
path = "Plant.Pump3.State"
datatype = "enum"
values = ["running", "stopped", "fault"]
access = "read-write"
label = "pump 3"
wire = { channel = "pump-3" }

[[rule]]
name = "confirm"
signals = ["Plant.*.State"]
confirm = true
"#;

    fn load(text: &str) -> Result<Catalogue, CatalogueError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).expect("write");
        Catalogue::load(&[path], &registry())
    }

    #[test]
    fn loads_signals_and_rules() {
        let c = load(GOOD).expect("valid");
        assert_eq!(c.signals.len(), 2);
        assert_eq!(c.signals["Vehicle.Speed"].def.label, "Vehicle Speed");
        assert_eq!(c.signals["Plant.Pump3.State"].def.label, "pump 3");
        assert_eq!(c.rules.len(), 1);
        let wired = c.bound_to("wire");
        assert_eq!(wired.len(), 1);
        assert_eq!(
            wired[0]
                .binding
                .spec::<WireBinding>()
                .map(|w| w.channel.as_str()),
            Some("pump-3")
        );
        assert_eq!(c.bound_to("bus")[0].def.path, "Vehicle.Speed");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = load(&GOOD.replace(
            "bus = { channel = \"speed\" }",
            "bus = { channel = \"speed\" }\nwire = { channel = \"s\" }",
        ))
        .expect_err("bad");
        let msg = err.to_string();
        assert!(
            msg.contains(
                "p.toml:2: signal[0] (Vehicle.Speed): needs exactly one binding: bus or wire"
            ),
            "{msg}"
        );
        let err =
            load(&GOOD.replace("unit = \"km/h\"", "unit = \"km/h\"\nscale = 2")).expect_err("bad");
        assert!(
            err.to_string()
                .contains("p.toml:6:1: unknown field `scale`, expected one of `path`"),
            "{err}"
        );
        assert!(err.to_string().contains("`bus`, `wire`"), "{err}");
        let err = load(&GOOD.replace("\"Plant.*.State\"", "\"Plant.*.Nope\"")).expect_err("bad");
        assert!(
            err.to_string().contains(
                "p.toml:19: [[rule]]: rule \"confirm\": signals: \"Plant.*.Nope\" matches no signal"
            ),
            "{err}"
        );
        // The transport's own checks and schema, with the binding's key in the field.
        let err = load(&GOOD.replace("\"pump-3\"", "\"\"")).expect_err("bad");
        assert!(
            err.to_string().contains(
                "p.toml:11: signal[1] (Plant.Pump3.State).wire.channel: must not be empty"
            ),
            "{err}"
        );
        let err =
            load(&GOOD.replace("channel = \"pump-3\"", "chanel = \"pump-3\"")).expect_err("bad");
        assert!(
            err.to_string()
                .contains("signal[1] (Plant.Pump3.State).wire: unknown field `chanel`"),
            "{err}"
        );
        let err = load(&GOOD.replace("access = \"read-write\"\nlabel", "label")).expect_err("bad");
        assert!(err.to_string().contains("missing field `access`"), "{err}");
        let twice = format!(
            "{GOOD}\n[[signal]]\npath = \"Vehicle.Speed\"\ndatatype = \"float\"\naccess = \"read\"\nbus = {{ channel = \"s\" }}\n"
        );
        assert!(
            load(&twice)
                .expect_err("dup")
                .to_string()
                .contains("defined twice")
        );
    }
}
