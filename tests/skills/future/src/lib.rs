//! Exports `edge:skill/handler@9.9.0`, which this agent does not serve.

wit_bindgen::generate!({ path: "wit", world: "skill" });

struct Future;

impl exports::edge::skill::handler::Guest for Future {
    fn handle(intent: String) -> String {
        intent
    }
}

export!(Future);
