//! Logical signals (VSS-style paths such as `Vehicle.Speed` or `Plant.Pump3.State`): their
//! definition, their values, and the checks every value must pass.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a signal's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// true / false.
    Bool,
    /// Whole number.
    Int,
    /// Floating point.
    Float,
    /// Free text.
    String,
    /// One of the signal's `values`.
    Enum,
}

/// Who may read or write a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read only (sensors).
    Read,
    /// Write only (triggers such as "next track").
    Write,
    /// Both.
    ReadWrite,
}

impl Access {
    /// Whether the signal can be read.
    pub fn readable(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }

    /// Whether the signal can be written.
    pub fn writable(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }
}

/// A signal value; plain JSON on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SignalValue {
    /// Bool.
    Bool(bool),
    /// Int.
    Int(i64),
    /// Float.
    Float(f64),
    /// String or enum value.
    String(String),
}

impl SignalValue {
    /// The value as a number, when it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SignalValue::Int(i) => Some(*i as f64),
            SignalValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Equality that treats numbers by value (a confirmation of 22 for 22.0 is a match).
    pub fn same_as(&self, other: &SignalValue) -> bool {
        match (self.as_f64(), other.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-6,
            _ => self == other,
        }
    }

    /// Parses text typed by a person (`signal set PATH VALUE`) for `datatype`.
    pub fn parse_for(datatype: DataType, text: &str) -> Result<SignalValue, ValueError> {
        let t = text.trim();
        let wrong = || ValueError::WrongType {
            expected: datatype,
            got: t.to_owned(),
        };
        Ok(match datatype {
            DataType::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "on" | "1" | "yes" => SignalValue::Bool(true),
                "false" | "off" | "0" | "no" => SignalValue::Bool(false),
                _ => return Err(wrong()),
            },
            DataType::Int => SignalValue::Int(t.parse().map_err(|_| wrong())?),
            DataType::Float => SignalValue::Float(t.parse().map_err(|_| wrong())?),
            DataType::String | DataType::Enum => SignalValue::String(t.to_owned()),
        })
    }
}

impl fmt::Display for SignalValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalValue::Bool(b) => write!(f, "{b}"),
            SignalValue::Int(i) => write!(f, "{i}"),
            SignalValue::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => write!(f, "{x:.0}"),
            SignalValue::Float(x) => write!(f, "{x}"),
            SignalValue::String(s) => f.write_str(s),
        }
    }
}

/// A value that does not fit a signal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// Wrong type.
    #[error("expected a {expected:?} value, got {got}")]
    WrongType {
        /// The signal's type.
        expected: DataType,
        /// What was given.
        got: String,
    },
    /// Outside min/max.
    #[error("{value} is outside {min} to {max}")]
    OutOfRange {
        /// The value.
        value: f64,
        /// Lower bound.
        min: String,
        /// Upper bound.
        max: String,
    },
    /// Not one of the enum's values.
    #[error("{value:?} is not one of {allowed:?}")]
    NotAllowed {
        /// The value.
        value: String,
        /// Allowed values.
        allowed: Vec<String>,
    },
}

/// A signal as the catalogue defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalDef {
    /// VSS-style path.
    pub path: String,
    /// Value type.
    pub datatype: DataType,
    /// Unit for people ("celsius", "km/h", "bar").
    pub unit: Option<String>,
    /// Lower bound (numbers).
    pub min: Option<f64>,
    /// Upper bound (numbers).
    pub max: Option<f64>,
    /// Allowed values (enums).
    pub values: Vec<String>,
    /// Read, write or both.
    pub access: Access,
    /// How people call it ("pump 3", "driver temperature").
    pub label: String,
}

impl SignalDef {
    /// Checks and coerces `value` (an integer for a float signal becomes a float; a whole
    /// float for an int signal becomes an int).
    pub fn check_value(&self, value: &SignalValue) -> Result<SignalValue, ValueError> {
        let wrong = || ValueError::WrongType {
            expected: self.datatype,
            got: value.to_string(),
        };
        let coerced = match (self.datatype, value) {
            (DataType::Bool, SignalValue::Bool(_)) => value.clone(),
            (DataType::Int, SignalValue::Int(_)) => value.clone(),
            (DataType::Int, SignalValue::Float(f)) if f.fract() == 0.0 => {
                SignalValue::Int(*f as i64)
            }
            (DataType::Float, SignalValue::Float(_)) => value.clone(),
            (DataType::Float, SignalValue::Int(i)) => SignalValue::Float(*i as f64),
            (DataType::String, SignalValue::String(_)) => value.clone(),
            (DataType::Enum, SignalValue::String(s)) => {
                if !self.values.iter().any(|v| v == s) {
                    return Err(ValueError::NotAllowed {
                        value: s.clone(),
                        allowed: self.values.clone(),
                    });
                }
                value.clone()
            }
            _ => return Err(wrong()),
        };
        if let Some(x) = coerced.as_f64() {
            let below = self.min.is_some_and(|m| x < m);
            let above = self.max.is_some_and(|m| x > m);
            if below || above {
                let show = |b: Option<f64>| {
                    b.map_or("-".to_owned(), |v| SignalValue::Float(v).to_string())
                };
                return Err(ValueError::OutOfRange {
                    value: x,
                    min: show(self.min),
                    max: show(self.max),
                });
            }
        }
        Ok(coerced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(datatype: DataType) -> SignalDef {
        SignalDef {
            path: "Vehicle.X".into(),
            datatype,
            unit: None,
            min: Some(16.0),
            max: Some(30.0),
            values: vec!["running".into(), "stopped".into()],
            access: Access::ReadWrite,
            label: "x".into(),
        }
    }

    #[test]
    fn values_are_checked_and_coerced() {
        let f = def(DataType::Float);
        assert_eq!(
            f.check_value(&SignalValue::Int(22)),
            Ok(SignalValue::Float(22.0))
        );
        assert!(matches!(
            f.check_value(&SignalValue::Float(31.0)),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            f.check_value(&SignalValue::Bool(true)),
            Err(ValueError::WrongType { .. })
        ));
        let e = def(DataType::Enum);
        assert!(
            e.check_value(&SignalValue::String("running".into()))
                .is_ok()
        );
        assert!(matches!(
            e.check_value(&SignalValue::String("flying".into())),
            Err(ValueError::NotAllowed { .. })
        ));
        let i = def(DataType::Int);
        assert_eq!(
            i.check_value(&SignalValue::Float(20.0)),
            Ok(SignalValue::Int(20))
        );
        assert!(i.check_value(&SignalValue::Float(20.5)).is_err());
    }

    #[test]
    fn parse_and_compare() {
        assert_eq!(
            SignalValue::parse_for(DataType::Bool, "on"),
            Ok(SignalValue::Bool(true))
        );
        assert!(SignalValue::parse_for(DataType::Int, "x").is_err());
        assert!(SignalValue::Int(22).same_as(&SignalValue::Float(22.0)));
        assert_eq!(SignalValue::Float(4.0).to_string(), "4");
    }
}
