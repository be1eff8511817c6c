//! What the crate's tests share: the repository and the template engine of the example
//! skills (whose recognition grammar the recogniser reads).

use edge_core::LoadedManifest;
use edge_intent::{TemplateEngine, builtin_manifests};
use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The template engine of the example skills and the built-in intents, as the daemon
/// compiles it with the default configuration.
pub fn engine() -> TemplateEngine {
    let config = edge_config::load(&edge_config::LoadOptions::default()).expect("default config");
    let (mut manifests, errors) = LoadedManifest::discover(&[repo().join("skills")]);
    assert!(errors.is_empty(), "{errors:?}");
    manifests.extend(builtin_manifests());
    let (engine, errors) =
        TemplateEngine::compile(&manifests, &config.nlu.entities, config.nlu.min_confidence);
    assert!(errors.is_empty(), "{errors:?}");
    engine
}
