//! `cmd/say` payloads: plain text or JSON `{"text", "station"}`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = edge_core::api::parse_say(data);
});
