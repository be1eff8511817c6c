//! Windows skill: open or close one window or all of them.

use edge_skill_sdk::{Error, Intent, Response, Skill, WriteOutcome, after_write, signals};

struct Windows;

impl Skill for Windows {
    fn handle(intent: &Intent) -> Result<Response, Error> {
        let open = intent.require_text("position")? == "open";
        let window = intent.require_text("window")?;
        let sides: &[(&str, &str)] = match window {
            "driver" => &[("Row1.DriverSide", "driver")],
            "passenger" => &[("Row1.PassengerSide", "passenger")],
            "rear_left" => &[("Row2.DriverSide", "rear left")],
            "rear_right" => &[("Row2.PassengerSide", "rear right")],
            _ => &[
                ("Row1.DriverSide", "driver"),
                ("Row1.PassengerSide", "passenger"),
                ("Row2.DriverSide", "rear left"),
                ("Row2.PassengerSide", "rear right"),
            ],
        };
        let position: i64 = if open { 100 } else { 0 };
        for (side, _) in sides {
            let path = format!("Vehicle.Cabin.Door.{side}.Window.Position");
            if let WriteOutcome::Confirm(q) = signals::set(&path, position)? {
                return Ok(Response::say(q));
            }
        }
        let which = if sides.len() > 1 {
            "All windows".to_owned()
        } else {
            format!("The {} window", sides[0].1)
        };
        let state = if open { "open" } else { "closed" };
        let verb = if sides.len() > 1 { "are" } else { "is" };
        Ok(after_write(
            WriteOutcome::Done,
            format!("{which} {verb} {state}."),
        ))
    }
}

edge_skill_sdk::export!(Windows);
