//! The system prompt: the local intent schema in words, so that a general chat model
//! answers in exactly the JSON that [`IntentSchema::validate`] accepts.

use edge_intent::IntentSchema;
use serde_json::json;
use std::fmt::Write as _;

/// Examples shown per intent; the schema has more, but each costs prompt tokens on
/// every request.
const EXAMPLES_PER_INTENT: usize = 2;

/// The system message for `schema`: every intent with its description, slots (type,
/// allowed values, bounds, whether required) and a few example answers, then the answer
/// format. Deterministic for a given schema, so an endpoint can cache it as a prefix.
pub fn system_prompt(schema: &IntentSchema) -> String {
    let mut out = String::from(
        "You map one utterance, said to a voice assistant on a device, to one of the intents \
         listed below.\n\
         Answer with only a JSON object and nothing else: \
         {\"intent\": \"<intent name or none>\", \"slots\": {\"<slot name>\": <value>}}.\n\
         Use only the intents and slots listed here. Give numbers as JSON numbers and other \
         values as strings, using the listed values exactly. Leave out optional slots the \
         utterance does not mention. If no intent fits, or a required slot is not said, answer \
         {\"intent\": \"none\", \"slots\": {}}.\n\nIntents:\n",
    );
    for intent in schema.intents() {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "- {}: {}", intent.name, intent.description);
        for slot in &intent.slots {
            let need = if slot.required {
                "required"
            } else {
                "optional"
            };
            let _ = writeln!(out, "  slot {} ({need}): {}", slot.name, slot.kind);
        }
        for example in intent.examples.iter().take(EXAMPLES_PER_INTENT) {
            let answer = json!({"intent": intent.name, "slots": example.slots});
            let _ = writeln!(out, "  example: {:?} -> {answer}", example.text);
        }
    }
    out
}
