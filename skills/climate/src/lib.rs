//! Climate skill: cabin temperature per zone, relative changes, fan and air conditioning.

use edge_skill_sdk::{Error, Intent, Response, Skill, WriteOutcome, after_write, signals};

const DRIVER: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
const PASSENGER: &str = "Vehicle.Cabin.HVAC.Station.Row1.Passenger.Temperature";

fn zones(intent: &Intent) -> (&'static [&'static str], &'static str) {
    match intent.text("zone") {
        Some("driver") => (&[DRIVER], "the driver side"),
        Some("passenger") => (&[PASSENGER], "the passenger side"),
        _ => (&[DRIVER, PASSENGER], "everyone"),
    }
}

/// Writes every path; stops at the first that needs a confirmation.
fn set_all(
    paths: &[&str],
    value: impl Fn(&str) -> Result<f64, Error>,
) -> Result<WriteOutcome, Error> {
    for path in paths {
        if let WriteOutcome::Confirm(q) = signals::set(path, value(path)?)? {
            return Ok(WriteOutcome::Confirm(q));
        }
    }
    Ok(WriteOutcome::Done)
}

struct Climate;

impl Skill for Climate {
    fn handle(intent: &Intent) -> Result<Response, Error> {
        match intent.name.as_str() {
            "climate.set_temperature" => {
                let celsius = intent
                    .number("celsius")
                    .ok_or_else(|| Error::Invalid("missing slot celsius".into()))?;
                let (paths, who) = zones(intent);
                let outcome = set_all(paths, |_| Ok(celsius))?;
                Ok(after_write(
                    outcome,
                    format!("Temperature set to {celsius} degrees for {who}."),
                ))
            }
            "climate.adjust_temperature" => {
                let delta = if intent.text("direction") == Some("warmer") {
                    1.0
                } else {
                    -1.0
                };
                let (paths, who) = zones(intent);
                let outcome = set_all(paths, |p| Ok(signals::get_f64(p)? + delta))?;
                let now = signals::get_f64(paths[0])?;
                let word = if delta > 0.0 { "warmer" } else { "cooler" };
                Ok(after_write(
                    outcome,
                    format!("A bit {word} for {who}: now {now} degrees."),
                ))
            }
            "climate.set_fan" => {
                let level = intent
                    .integer("level")
                    .ok_or_else(|| Error::Invalid("missing slot level".into()))?;
                let outcome = signals::set("Vehicle.Cabin.HVAC.FanLevel", level)?;
                Ok(after_write(outcome, format!("Fan set to level {level}.")))
            }
            "climate.ac" => {
                let on = intent.text("state") == Some("on");
                let outcome = signals::set("Vehicle.Cabin.HVAC.IsAirConditioningActive", on)?;
                Ok(after_write(
                    outcome,
                    format!("Air conditioning {}.", if on { "on" } else { "off" }),
                ))
            }
            other => Err(Error::Invalid(format!("climate does not handle {other}"))),
        }
    }
}

edge_skill_sdk::export!(Climate);
