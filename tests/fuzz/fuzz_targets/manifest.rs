//! Skill manifests (`skill.toml`), which come from whoever wrote the skill.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = edge_core::LoadedManifest::parse(std::path::Path::new("fuzz/skill.toml"), text);
    }
});
