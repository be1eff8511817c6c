//! Fleet command envelopes as they arrive on `cmd/fleet` (size limit, JSON, signature,
//! body, device), and install components' base64.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A publisher key in the format `fleet.publisher_keys` takes (the test key's public half).
const KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

fuzz_target!(|data: &[u8]| {
    let _ = edge_fleet::open(data, &[KEY.to_owned()], "fuzz-device");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = edge_fleet::decode_component(text);
    }
});
