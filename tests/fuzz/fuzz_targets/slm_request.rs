//! What the SLM worker decodes from a request event's data: loads (schema and
//! thresholds), recognitions, choices and embeddings.
#![no_main]

use edge_protocol::slm::{ChoiceRequest, EmbedRequest, SlmLoad, SlmRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<SlmLoad>(data);
    let _ = serde_json::from_slice::<SlmRequest>(data);
    let _ = serde_json::from_slice::<ChoiceRequest>(data);
    let _ = serde_json::from_slice::<EmbedRequest>(data);
});
