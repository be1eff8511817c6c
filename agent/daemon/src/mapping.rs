//! The built-in mapping from the example skills' intents to signal writes and reads. It
//! stands in for the WASM skills (next issue), which will own this logic.

use edge_core::{SignalValue, SlotValue, Slots};
use edge_hal::Hal;

/// What an intent asks of the HAL.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Write these signals (through the policy).
    Writes(Vec<(String, SignalValue)>),
    /// Nothing to write; say this (a reading, or why it cannot be read).
    Answer(String),
    /// The intent has no built-in mapping.
    NotMapped,
}

const DRIVER_TEMP: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
const PASSENGER_TEMP: &str = "Vehicle.Cabin.HVAC.Station.Row1.Passenger.Temperature";
const FAN: &str = "Vehicle.Cabin.HVAC.FanLevel";
const AC: &str = "Vehicle.Cabin.HVAC.IsAirConditioningActive";
const NAV_DESTINATION: &str = "Vehicle.Cabin.Infotainment.Navigation.Destination";
const NAV_CANCEL: &str = "Vehicle.Cabin.Infotainment.Navigation.Cancel";
const MEDIA_PLAY: &str = "Vehicle.Cabin.Infotainment.Media.Play";
const MEDIA_PAUSE: &str = "Vehicle.Cabin.Infotainment.Media.Pause";
const MEDIA_NEXT: &str = "Vehicle.Cabin.Infotainment.Media.Next";
const MEDIA_VOLUME: &str = "Vehicle.Cabin.Infotainment.Media.Volume";

fn text<'a>(slots: &'a Slots, name: &str) -> Option<&'a str> {
    match slots.get(name) {
        Some(SlotValue::Text(s)) => Some(s),
        _ => None,
    }
}

fn number(slots: &Slots, name: &str) -> Option<f64> {
    slots.get(name).and_then(SlotValue::as_f64)
}

fn window_path(side: &str) -> String {
    format!("Vehicle.Cabin.Door.{side}.Window.Position")
}

/// `pump-3` -> `Plant.Pump3`.
pub fn machine_path(machine: &str) -> String {
    let segment: String = machine
        .split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("Plant.{segment}")
}

fn spoken_machine(machine: &str) -> String {
    let spoken = machine.replace(['-', '_'], " ");
    let mut chars = spoken.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn unit(hal: &Hal, path: &str) -> String {
    hal.def(path)
        .and_then(|d| d.unit.clone())
        .map(|u| match u.as_str() {
            "celsius" => " °C".to_owned(),
            "percent" => " %".to_owned(),
            other => format!(" {other}"),
        })
        .unwrap_or_default()
}

fn round(value: &SignalValue) -> String {
    match value.as_f64() {
        Some(x) => format!("{}", (x * 10.0).round() / 10.0),
        None => value.to_string(),
    }
}

/// Relative change of a numeric signal, clamped to its range.
async fn adjust(hal: &Hal, path: &str, delta: f64) -> Result<SignalValue, String> {
    let current = hal
        .get(path, false)
        .await
        .map_err(|e| format!("Sorry, I can't read it: {e}."))?;
    let x = current
        .value
        .as_f64()
        .ok_or("Sorry, that is not a number.")?
        + delta;
    let def = hal
        .def(path)
        .ok_or("Sorry, that signal is not configured.")?;
    let x = x.clamp(def.min.unwrap_or(f64::MIN), def.max.unwrap_or(f64::MAX));
    Ok(match current.value {
        SignalValue::Int(_) => SignalValue::Int(x.round() as i64),
        _ => SignalValue::Float(x),
    })
}

/// Maps a recognised intent to what it asks of the HAL.
pub async fn plan(intent: &str, slots: &Slots, hal: &Hal) -> Plan {
    let zones = || match text(slots, "zone") {
        Some("driver") => vec![DRIVER_TEMP],
        Some("passenger") => vec![PASSENGER_TEMP],
        _ => vec![DRIVER_TEMP, PASSENGER_TEMP],
    };
    match intent {
        "climate.set_temperature" => match number(slots, "celsius") {
            Some(c) => Plan::Writes(
                zones()
                    .into_iter()
                    .map(|p| (p.to_owned(), SignalValue::Float(c)))
                    .collect(),
            ),
            None => Plan::NotMapped,
        },
        "climate.adjust_temperature" => {
            let delta = if text(slots, "direction") == Some("warmer") {
                1.0
            } else {
                -1.0
            };
            let mut writes = Vec::new();
            for path in zones() {
                match adjust(hal, path, delta).await {
                    Ok(v) => writes.push((path.to_owned(), v)),
                    Err(answer) => return Plan::Answer(answer),
                }
            }
            Plan::Writes(writes)
        }
        "climate.set_fan" => match number(slots, "level") {
            Some(level) => Plan::Writes(vec![(FAN.into(), SignalValue::Int(level as i64))]),
            None => Plan::NotMapped,
        },
        "climate.ac" => Plan::Writes(vec![(
            AC.into(),
            SignalValue::Bool(text(slots, "state") == Some("on")),
        )]),
        "window.set" => {
            let position = SignalValue::Int(if text(slots, "position") == Some("open") {
                100
            } else {
                0
            });
            let sides: &[&str] = match text(slots, "window") {
                Some("driver") => &["Row1.DriverSide"],
                Some("passenger") => &["Row1.PassengerSide"],
                Some("rear_left") => &["Row2.DriverSide"],
                Some("rear_right") => &["Row2.PassengerSide"],
                _ => &[
                    "Row1.DriverSide",
                    "Row1.PassengerSide",
                    "Row2.DriverSide",
                    "Row2.PassengerSide",
                ],
            };
            Plan::Writes(
                sides
                    .iter()
                    .map(|s| (window_path(s), position.clone()))
                    .collect(),
            )
        }
        "nav.navigate_to" => match text(slots, "destination") {
            Some(d) => Plan::Writes(vec![(
                NAV_DESTINATION.into(),
                SignalValue::String(d.to_owned()),
            )]),
            None => Plan::NotMapped,
        },
        "nav.cancel" => Plan::Writes(vec![(NAV_CANCEL.into(), SignalValue::Bool(true))]),
        "media.play" => Plan::Writes(vec![(
            MEDIA_PLAY.into(),
            SignalValue::String(text(slots, "query").unwrap_or_default().to_owned()),
        )]),
        "media.pause" => Plan::Writes(vec![(MEDIA_PAUSE.into(), SignalValue::Bool(true))]),
        "media.next" => Plan::Writes(vec![(MEDIA_NEXT.into(), SignalValue::Bool(true))]),
        "media.volume" => {
            if let Some(level) = number(slots, "level") {
                return Plan::Writes(vec![(MEDIA_VOLUME.into(), SignalValue::Int(level as i64))]);
            }
            let delta = if text(slots, "direction") == Some("down") {
                -2.0
            } else {
                2.0
            };
            match adjust(hal, MEDIA_VOLUME, delta).await {
                Ok(v) => Plan::Writes(vec![(MEDIA_VOLUME.into(), v)]),
                Err(answer) => Plan::Answer(answer),
            }
        }
        "equipment.start" | "equipment.stop" => match text(slots, "machine") {
            Some(m) => {
                let state = if intent == "equipment.start" {
                    "running"
                } else {
                    "stopped"
                };
                Plan::Writes(vec![(
                    format!("{}.State", machine_path(m)),
                    SignalValue::String(state.into()),
                )])
            }
            None => Plan::NotMapped,
        },
        "equipment.status" => {
            let Some(m) = text(slots, "machine") else {
                return Plan::NotMapped;
            };
            let base = machine_path(m);
            let name = spoken_machine(m);
            let state = match hal.get(&format!("{base}.State"), false).await {
                Ok(r) => r.value.to_string(),
                Err(e) => {
                    return Plan::Answer(format!("Sorry, I can't read the state of {name}: {e}."));
                }
            };
            let pressure = format!("{base}.Pressure");
            Plan::Answer(match (state.as_str(), hal.get(&pressure, false).await) {
                ("running", Ok(p)) => format!(
                    "{name} is running at {}{}.",
                    round(&p.value),
                    unit(hal, &pressure)
                ),
                ("fault", _) => format!("{name} is in fault."),
                (other, _) => format!("{name} is {other}."),
            })
        }
        "equipment.read_sensor" => {
            let (Some(m), Some(sensor)) = (text(slots, "machine"), text(slots, "sensor")) else {
                return Plan::NotMapped;
            };
            let mut chars = sensor.chars();
            let sensor_segment = chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default();
            let path = format!("{}.{sensor_segment}", machine_path(m));
            let name = spoken_machine(m).to_lowercase();
            Plan::Answer(match hal.get(&path, false).await {
                Ok(r) => format!(
                    "The {sensor} of {name} is {}{}.",
                    round(&r.value),
                    unit(hal, &path)
                ),
                Err(e) => format!("Sorry, I can't read the {sensor} of {name}: {e}."),
            })
        }
        _ => Plan::NotMapped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_ids_become_paths() {
        assert_eq!(machine_path("pump-3"), "Plant.Pump3");
        assert_eq!(machine_path("conveyor-1"), "Plant.Conveyor1");
        assert_eq!(spoken_machine("pump-3"), "Pump 3");
    }
}
