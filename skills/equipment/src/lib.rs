//! Equipment skill: status, start, stop and sensor readings of plant machines, spoken from
//! live values ("Pump 3 is running at 4.2 bar").

use edge_skill_sdk::{Error, Intent, Response, Skill, after_write, signals, spoken};

/// `pump-3` -> `Plant.Pump3`.
fn machine_path(machine: &str) -> String {
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

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn unit(sensor: &str, machine: &str) -> &'static str {
    match sensor {
        "pressure" => "bar",
        "temperature" => "degrees",
        "vibration" => "millimetres per second",
        _ if machine.starts_with("press") => "strokes per minute",
        _ if machine.starts_with("conveyor") => "metres per second",
        _ => "rpm",
    }
}

struct Equipment;

impl Skill for Equipment {
    fn handle(intent: &Intent) -> Result<Response, Error> {
        let machine = intent.require_text("machine")?;
        let base = machine_path(machine);
        let name = spoken(machine);
        match intent.name.as_str() {
            "equipment.start" | "equipment.stop" => {
                let start = intent.name == "equipment.start";
                let outcome = signals::set(
                    &format!("{base}.State"),
                    if start { "running" } else { "stopped" },
                )?;
                let verb = if start { "started" } else { "stopped" };
                Ok(after_write(
                    outcome,
                    format!("{} {verb}.", capitalised(&name)),
                ))
            }
            "equipment.status" => {
                let state = signals::get(&format!("{base}.State"))?.spoken();
                let say = match state.as_str() {
                    "running" => {
                        let pressure = signals::get(&format!("{base}.Pressure"))?.spoken();
                        format!("{} is running at {pressure} bar.", capitalised(&name))
                    }
                    "fault" => format!("{} is in fault.", capitalised(&name)),
                    other => format!("{} is {other}.", capitalised(&name)),
                };
                Ok(Response::say(say))
            }
            "equipment.read_sensor" => {
                let sensor = intent.require_text("sensor")?;
                let path = format!("{base}.{}", capitalised(sensor));
                let value = signals::get(&path)?.spoken();
                Ok(Response::say(format!(
                    "The {sensor} of {name} is {value} {}.",
                    unit(sensor, machine)
                )))
            }
            other => Err(Error::Invalid(format!("equipment does not handle {other}"))),
        }
    }
}

edge_skill_sdk::export!(Equipment);
