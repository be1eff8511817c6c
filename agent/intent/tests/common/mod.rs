//! The engine as shipped: the repository's skills, the built-in dialog intents and the
//! default configuration's entity lists. Shared by the tests and the benchmark.

use edge_core::LoadedManifest;
use edge_intent::{Expectation, TemplateEngine, builtin_manifests};
use std::path::PathBuf;

/// Root of the repository.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        )
        .join("../..")
}

/// The engine compiled from the shipped manifests; panics if any fails to load.
pub fn shipped_engine() -> TemplateEngine {
    let (mut manifests, errors) = LoadedManifest::discover(&[repo().join("skills")]);
    assert!(errors.is_empty(), "shipped manifests: {errors:?}");
    manifests.extend(builtin_manifests());
    let nlu = edge_intent::NluSection::default();
    let (engine, errors) = TemplateEngine::compile(&manifests, &nlu.entities, nlu.min_confidence);
    assert!(errors.is_empty(), "shipped manifests compile: {errors:?}");
    engine
}

/// A labelled JSON-lines file under `tests/resources/nlu/` (the dev set is `dev.jsonl`).
pub fn labelled(name: &str) -> Vec<Expectation> {
    let path = repo().join("tests/resources/nlu").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", n + 1))
        })
        .collect()
}
