//! Template syntax (a skill author's `templates`), and any utterance against the shipped
//! skills' compiled templates (every tier-1 path: exact, near miss, spotting).
#![no_main]

use edge_core::LoadedManifest;
use edge_intent::{TemplateEngine, builtin_manifests};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn engine() -> &'static TemplateEngine {
    static ENGINE: OnceLock<TemplateEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let skills = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../skills");
        let (mut manifests, errors) = LoadedManifest::discover(&[skills]);
        assert!(errors.is_empty(), "{errors:?}");
        manifests.extend(builtin_manifests());
        let config = edge_config::AgentConfig::defaults();
        TemplateEngine::compile(&manifests, &config.nlu.entities, config.nlu.min_confidence).0
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = edge_intent::template::parse(text);
    let engine = engine();
    let _ = engine.recognize(text);
    let _ = engine.command_free_text(text);
});
