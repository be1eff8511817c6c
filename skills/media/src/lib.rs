//! Media skill: play, pause, next track, volume.

use edge_skill_sdk::{Error, Intent, Response, Skill, after_write, signals};

const VOLUME: &str = "Vehicle.Cabin.Infotainment.Media.Volume";

struct Media;

impl Skill for Media {
    fn handle(intent: &Intent) -> Result<Response, Error> {
        match intent.name.as_str() {
            "media.play" => {
                let query = intent.text("query").unwrap_or_default();
                let outcome = signals::set("Vehicle.Cabin.Infotainment.Media.Play", query)?;
                let track = signals::get("Vehicle.Cabin.Infotainment.Media.Track")?.spoken();
                Ok(after_write(outcome, format!("Playing {track}.")))
            }
            "media.pause" => Ok(after_write(
                signals::set("Vehicle.Cabin.Infotainment.Media.Pause", true)?,
                "Paused.",
            )),
            "media.next" => {
                let outcome = signals::set("Vehicle.Cabin.Infotainment.Media.Next", true)?;
                let track = signals::get("Vehicle.Cabin.Infotainment.Media.Track")?.spoken();
                Ok(after_write(outcome, format!("Next up: {track}.")))
            }
            "media.volume" => {
                let level = match intent.integer("level") {
                    Some(level) => level,
                    None => {
                        let step = if intent.text("direction") == Some("down") {
                            -2
                        } else {
                            2
                        };
                        (signals::get_f64(VOLUME)? as i64 + step).clamp(0, 10)
                    }
                };
                let outcome = signals::set(VOLUME, level)?;
                Ok(after_write(outcome, format!("Volume {level}.")))
            }
            other => Err(Error::Invalid(format!("media does not handle {other}"))),
        }
    }
}

edge_skill_sdk::export!(Media);
