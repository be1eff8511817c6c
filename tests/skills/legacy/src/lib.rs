//! Built against the released `edge:skill@0.1.0` world: reads a granted signal and asks a
//! (0.1.0-style) follow-up, which the agent turns into a free-text question.

wit_bindgen::generate!({ path: "../../../skills/wit/0.1.0", world: "skill" });

use edge::skill::signals;
use edge::skill::types::{Error, Intent, Response, SignalValue};

struct Legacy;

impl exports::edge::skill::handler::Guest for Legacy {
    fn handle(intent: Intent) -> Result<Response, Error> {
        let fan = match signals::get("Vehicle.Cabin.HVAC.FanLevel")? {
            SignalValue::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        };
        Ok(Response {
            say: format!(
                "Hello from 0.1.0; the fan is at {fan}; session {}.",
                intent.session_id
            ),
            follow_up: Some("Anything else?".into()),
            result: None,
        })
    }
}

export!(Legacy);
