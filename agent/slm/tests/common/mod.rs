//! What the SLM tests share.

use std::path::PathBuf;

/// SmolLM2-135M-Instruct in the model cache (`agent/models/provision.sh slm`).
pub fn model() -> PathBuf {
    let cache = std::env::var_os("EDGE_AGENT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edge-agent")))
        .unwrap_or_default();
    let model = cache.join("models/slm/smollm2-135m-instruct.gguf");
    assert!(
        model.is_file(),
        "{} missing: run `bash agent/models/provision.sh slm`",
        model.display()
    );
    model
}
