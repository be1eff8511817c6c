//! The classifier's mechanics on the real SmolLM2 model (provisioned by
//! `agent/models/provision.sh slm`): the prompt prefix is decoded once and reused, each
//! request evaluates only its own tokens, and trimming the cache makes answers repeatable.
//! Accuracy is measured with `edge-slm classify` (docs/BENCHMARKS.md), not asserted here.

use edge_slm::{Candidate, Classifier, ClassifierOptions};
use std::path::PathBuf;

fn model() -> PathBuf {
    let cache = std::env::var_os("EDGE_AGENT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edge-agent")))
        .unwrap_or_default();
    cache.join("models/slm/smollm2-135m-instruct.gguf")
}

fn candidates() -> Vec<Candidate> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/resources/intents.json");
    serde_json::from_slice(&std::fs::read(path).expect("intents.json")).expect("candidates")
}

#[test]
fn the_prefix_is_cached_and_answers_are_repeatable() {
    let model = model();
    assert!(
        model.is_file(),
        "{} missing: run `bash agent/models/provision.sh slm`",
        model.display()
    );
    let candidates = candidates();
    let mut classifier =
        Classifier::load(&model, &candidates, &ClassifierOptions::default()).expect("load");
    // The listing of 20 intents is far longer than any request.
    assert!(classifier.prefix_tokens() > 150, "{classifier:?}");
    let names: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
    let first = classifier
        .classify("I'm freezing in here")
        .expect("classify");
    assert!(
        first.intent == "none" || names.contains(&first.intent.as_str()),
        "{first:?}"
    );
    assert!(
        first.confidence > 0.0 && first.confidence <= 1.0,
        "{first:?}"
    );
    // Only "Request: ...\nAnswer:" is evaluated, not the cached listing.
    assert!(first.tokens < 20, "{first:?}");
    // Another request in between, then the same one: the cache was trimmed back to the
    // prefix each time, so the answer is the same.
    classifier
        .classify("pump three is making a grinding noise")
        .expect("classify");
    let again = classifier
        .classify("I'm freezing in here")
        .expect("classify");
    assert_eq!(again.intent, first.intent);
    assert!(
        (again.confidence - first.confidence).abs() < 1e-4,
        "{first:?} {again:?}"
    );
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let err = Classifier::load(
        std::path::Path::new("/nonexistent/model.gguf"),
        &candidates(),
        &ClassifierOptions::default(),
    )
    .expect_err("missing model");
    assert!(
        err.to_string()
            .contains("/nonexistent/model.gguf: no such file"),
        "{err}"
    );
}
