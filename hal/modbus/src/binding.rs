//! `modbus = { ... }` bindings and the conversion between signal values and register words.

use edge_core::{DataType, SignalDef, SignalValue};
use edge_hal::BindingError;
use serde::Deserialize;

/// The four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Holding registers: 16-bit words, read-write.
    Holding,
    /// Input registers: 16-bit words, read-only.
    Input,
    /// Coils: bits, read-write.
    Coil,
    /// Discrete inputs: bits, read-only.
    Discrete,
}

impl Table {
    /// Coils and discrete inputs hold single bits.
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coil | Table::Discrete)
    }

    /// Whether a client may write it.
    pub fn writable(self) -> bool {
        matches!(self, Table::Holding | Table::Coil)
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Table::Holding => "holding register",
            Table::Input => "input register",
            Table::Coil => "coil",
            Table::Discrete => "discrete input",
        })
    }
}

/// How a number is laid out in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegisterType {
    /// One word, unsigned (the default).
    #[default]
    U16,
    /// One word, two's complement.
    I16,
    /// Two words, unsigned.
    U32,
    /// Two words, two's complement.
    I32,
    /// Two words, IEEE 754 single precision.
    F32,
}

impl RegisterType {
    /// Registers the value takes.
    pub fn words(self) -> u16 {
        match self {
            RegisterType::U16 | RegisterType::I16 => 1,
            RegisterType::U32 | RegisterType::I32 | RegisterType::F32 => 2,
        }
    }
}

/// Which word of a two-word value comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordOrder {
    /// High word at the lower address (Modbus' own byte order carried to words).
    #[default]
    Big,
    /// Low word first (many PLCs).
    Little,
}

/// A Modbus binding: one value at one address of one unit of a configured device.
///
/// Numbers are `raw * scale + offset`; an enum signal's register holds the index of its
/// value in the signal's `values`; a bool signal on a register is true when non-zero.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusBinding {
    /// A device of `[hal.modbus.devices]`.
    pub device: String,
    /// Unit (slave) id behind that address.
    #[serde(default = "unit1")]
    pub unit: u8,
    /// Which table.
    pub table: Table,
    /// Address in the table (0-based, as on the wire).
    pub address: u16,
    /// Layout of a register value.
    #[serde(default, rename = "type")]
    pub register_type: Option<RegisterType>,
    /// Word order of two-word values.
    #[serde(default)]
    pub word_order: WordOrder,
    /// Engineering value per raw unit.
    #[serde(default = "one")]
    pub scale: f64,
    /// Engineering value at raw zero.
    #[serde(default)]
    pub offset: f64,
}

fn unit1() -> u8 {
    1
}

fn one() -> f64 {
    1.0
}

/// What is on the wire: one bit, or registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    /// A coil or discrete input.
    Bit(bool),
    /// Registers, in address order.
    Words(Vec<u16>),
}

impl ModbusBinding {
    /// The register layout (bits: none).
    pub fn layout(&self) -> RegisterType {
        self.register_type.unwrap_or_default()
    }

    /// How many registers or bits the value spans.
    pub fn count(&self) -> u16 {
        if self.table.is_bits() {
            1
        } else {
            self.layout().words()
        }
    }

    /// Checks the binding against the signal it binds.
    pub fn check(&self, signal: &SignalDef) -> Result<(), BindingError> {
        if self.device.is_empty() {
            return Err(BindingError::invalid("device", "must not be empty"));
        }
        if !self.scale.is_finite() || self.scale == 0.0 {
            return Err(BindingError::invalid(
                "scale",
                "must be a finite number other than 0",
            ));
        }
        if !self.offset.is_finite() {
            return Err(BindingError::invalid("offset", "must be a finite number"));
        }
        if self.table.is_bits() {
            if self.register_type.is_some() {
                return Err(BindingError::invalid(
                    "type",
                    "a coil or discrete input is one bit: give no type",
                ));
            }
            if signal.datatype != DataType::Bool {
                return Err(BindingError::invalid(
                    "table",
                    "a coil or discrete input holds a bool signal",
                ));
            }
        } else if signal.datatype == DataType::String {
            return Err(BindingError::invalid(
                "table",
                "registers hold numbers, bools and enums, not strings",
            ));
        }
        if signal.access.writable() && !self.table.writable() {
            return Err(BindingError::invalid(
                "table",
                "a writable signal needs \"holding\" or \"coil\"",
            ));
        }
        if u32::from(self.address) + u32::from(self.count()) > 0x1_0000 {
            return Err(BindingError::invalid(
                "address",
                format!(
                    "{} registers from {} run past 65535",
                    self.count(),
                    self.address
                ),
            ));
        }
        Ok(())
    }

    /// The signal's value from what the device holds.
    pub fn decode(&self, signal: &SignalDef, raw: &Raw) -> Result<SignalValue, String> {
        let number = match raw {
            Raw::Bit(bit) => return Ok(SignalValue::Bool(*bit)),
            Raw::Words(words) => self.number(words)? * self.scale + self.offset,
        };
        Ok(match signal.datatype {
            DataType::Float => SignalValue::Float(number),
            DataType::Int => SignalValue::Int(number.round() as i64),
            DataType::Bool => SignalValue::Bool(number != 0.0),
            DataType::Enum => {
                let index = number.round();
                let value = (index >= 0.0)
                    .then(|| signal.values.get(index as usize))
                    .flatten()
                    .ok_or_else(|| {
                        format!("{index} is not the index of one of {:?}", signal.values)
                    })?;
                SignalValue::String(value.clone())
            }
            DataType::String => return Err("registers do not hold strings".into()),
        })
    }

    /// What to write for `value` (already checked against the signal).
    pub fn encode(&self, signal: &SignalDef, value: &SignalValue) -> Result<Raw, String> {
        if self.table.is_bits() {
            return match value {
                SignalValue::Bool(b) => Ok(Raw::Bit(*b)),
                other => Err(format!("{other} is not a bool")),
            };
        }
        let number = match value {
            SignalValue::Float(f) => *f,
            SignalValue::Int(i) => *i as f64,
            SignalValue::Bool(b) => f64::from(u8::from(*b)),
            SignalValue::String(s) => signal
                .values
                .iter()
                .position(|v| v == s)
                .ok_or_else(|| format!("{s:?} is not one of {:?}", signal.values))?
                as f64,
        };
        let raw = (number - self.offset) / self.scale;
        let fits = |low: f64, high: f64| {
            let r = raw.round();
            if (low..=high).contains(&r) {
                Ok(r)
            } else {
                Err(format!(
                    "{value} is {raw} raw: does not fit {:?}",
                    self.layout()
                ))
            }
        };
        let two = |high: u16, low: u16| match self.word_order {
            WordOrder::Big => vec![high, low],
            WordOrder::Little => vec![low, high],
        };
        Ok(Raw::Words(match self.layout() {
            RegisterType::U16 => vec![fits(0.0, f64::from(u16::MAX))? as u16],
            RegisterType::I16 => {
                vec![fits(f64::from(i16::MIN), f64::from(i16::MAX))? as i16 as u16]
            }
            RegisterType::U32 => {
                let v = fits(0.0, f64::from(u32::MAX))? as u32;
                two((v >> 16) as u16, v as u16)
            }
            RegisterType::I32 => {
                let v = fits(f64::from(i32::MIN), f64::from(i32::MAX))? as i32 as u32;
                two((v >> 16) as u16, v as u16)
            }
            RegisterType::F32 => {
                let v = (raw as f32).to_bits();
                two((v >> 16) as u16, v as u16)
            }
        }))
    }

    /// The raw number in `words` (before scale and offset).
    fn number(&self, words: &[u16]) -> Result<f64, String> {
        let layout = self.layout();
        if words.len() != usize::from(layout.words()) {
            return Err(format!(
                "{} registers for {layout:?}, which takes {}",
                words.len(),
                layout.words()
            ));
        }
        let joined = || {
            let (high, low) = match self.word_order {
                WordOrder::Big => (words[0], words[1]),
                WordOrder::Little => (words[1], words[0]),
            };
            (u32::from(high) << 16) | u32::from(low)
        };
        Ok(match layout {
            RegisterType::U16 => f64::from(words[0]),
            RegisterType::I16 => f64::from(words[0] as i16),
            RegisterType::U32 => f64::from(joined()),
            RegisterType::I32 => f64::from(joined() as i32),
            RegisterType::F32 => f64::from(f32::from_bits(joined())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_core::Access;

    fn signal(datatype: DataType, values: &[&str]) -> SignalDef {
        SignalDef {
            path: "Plant.Press1.X".into(),
            datatype,
            unit: None,
            min: None,
            max: None,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            access: Access::ReadWrite,
            label: "x".into(),
        }
    }

    fn binding(text: &str) -> ModbusBinding {
        toml::from_str(text).expect("binding")
    }

    #[test]
    fn numbers_round_trip_through_every_layout_and_word_order() {
        let float = signal(DataType::Float, &[]);
        for (layout, order, value) in [
            ("u16", "big", 181.5),
            ("i16", "big", -12.5),
            ("u32", "little", 70_000.0),
            ("i32", "big", -70_000.0),
            ("f32", "little", 4.25),
            ("f32", "big", -0.5),
        ] {
            let b = binding(&format!(
                "device = \"d\"\ntable = \"holding\"\naddress = 7\ntype = \"{layout}\"\nword_order = \"{order}\"\nscale = 0.5\noffset = 10.0\n"
            ));
            let raw = b
                .encode(&float, &SignalValue::Float(value))
                .expect("encode");
            assert_eq!(
                b.decode(&float, &raw),
                Ok(SignalValue::Float(value)),
                "{layout} {order}"
            );
        }
        // The layout on the wire: 1.5 as f32 is 0x3FC0_0000.
        let b = binding("device = \"d\"\ntable = \"input\"\naddress = 0\ntype = \"f32\"\n");
        assert_eq!(
            b.encode(&float, &SignalValue::Float(1.5)),
            Ok(Raw::Words(vec![0x3FC0, 0]))
        );
        let little = binding(
            "device = \"d\"\ntable = \"input\"\naddress = 0\ntype = \"f32\"\nword_order = \"little\"\n",
        );
        assert_eq!(
            little.decode(&float, &Raw::Words(vec![0, 0x3FC0])),
            Ok(SignalValue::Float(1.5))
        );
    }

    #[test]
    fn enums_are_indexes_and_ranges_are_checked() {
        let state = signal(DataType::Enum, &["stopped", "running", "fault"]);
        let b = binding("device = \"d\"\ntable = \"holding\"\naddress = 0\n");
        assert_eq!(
            b.encode(&state, &SignalValue::String("running".into())),
            Ok(Raw::Words(vec![1]))
        );
        assert_eq!(
            b.decode(&state, &Raw::Words(vec![2])),
            Ok(SignalValue::String("fault".into()))
        );
        let err = b
            .decode(&state, &Raw::Words(vec![9]))
            .expect_err("no value 9");
        assert!(err.contains("9 is not the index"), "{err}");
        let int = signal(DataType::Int, &[]);
        let err = b.encode(&int, &SignalValue::Int(-1)).expect_err("u16");
        assert!(err.contains("does not fit U16"), "{err}");
        let bits = binding("device = \"d\"\ntable = \"coil\"\naddress = 3\n");
        let guard = signal(DataType::Bool, &[]);
        assert_eq!(
            bits.encode(&guard, &SignalValue::Bool(true)),
            Ok(Raw::Bit(true))
        );
        assert_eq!(
            bits.decode(&guard, &Raw::Bit(false)),
            Ok(SignalValue::Bool(false))
        );
    }

    #[test]
    fn bindings_that_cannot_work_are_refused() {
        let state = signal(DataType::Enum, &["a", "b"]);
        let refused = |text: &str, def: &SignalDef| {
            binding(text).check(def).expect_err("refused").to_string()
        };
        assert!(
            refused("device = \"d\"\ntable = \"input\"\naddress = 0\n", &state)
                .starts_with("table: a writable signal needs")
        );
        assert!(
            refused("device = \"d\"\ntable = \"coil\"\naddress = 0\n", &state)
                .contains("holds a bool signal")
        );
        assert!(
            refused(
                "device = \"d\"\ntable = \"holding\"\naddress = 65535\ntype = \"u32\"\n",
                &state
            )
            .contains("run past 65535")
        );
        assert!(
            refused(
                "device = \"d\"\ntable = \"holding\"\naddress = 0\nscale = 0\n",
                &state
            )
            .starts_with("scale:")
        );
    }
}
