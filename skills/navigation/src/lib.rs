//! Navigation skill: route guidance, nearby places (through the vehicle's navigation
//! service over D-Bus), cancelling.

use edge_skill_sdk::{Error, Intent, Response, Skill, after_write, dbus, signals, spoken};

struct Navigation;

impl Skill for Navigation {
    fn handle(intent: &Intent) -> Result<Response, Error> {
        match intent.name.as_str() {
            "nav.navigate_to" => {
                let destination = intent.require_text("destination")?;
                let outcome = signals::set(
                    "Vehicle.Cabin.Infotainment.Navigation.Destination",
                    destination,
                )?;
                Ok(after_write(
                    outcome,
                    format!("Starting route guidance to {destination}."),
                ))
            }
            "nav.cancel" => {
                let outcome = signals::set("Vehicle.Cabin.Infotainment.Navigation.Cancel", true)?;
                Ok(after_write(outcome, "Route guidance cancelled."))
            }
            "nav.find_nearby" => {
                let category = intent.require_text("category")?;
                let reply = dbus::call(
                    "org.edgeagent.SimCar",
                    "/org/edgeagent/SimCar",
                    "org.edgeagent.SimCar.Navigation",
                    "FindNearby",
                    &format!("[\"{category}\"]"),
                )?;
                // The reply is a JSON array: [name, distance_km].
                let parts: Vec<&str> = reply.trim_matches(['[', ']']).splitn(2, ',').collect();
                let name = parts
                    .first()
                    .map(|s| s.trim().trim_matches('"'))
                    .unwrap_or("");
                let km = parts.get(1).map(|s| s.trim()).unwrap_or("?");
                Ok(Response::say(format!(
                    "The nearest {} is {name}, {km} km away.",
                    spoken(category)
                )))
            }
            other => Err(Error::Invalid(format!(
                "navigation does not handle {other}"
            ))),
        }
    }
}

edge_skill_sdk::export!(Navigation);
