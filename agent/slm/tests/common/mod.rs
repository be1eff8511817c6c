//! What the SLM tests share.

use std::path::PathBuf;

/// The model cache (`agent/models/provision.sh`).
fn cache() -> PathBuf {
    std::env::var_os("EDGE_AGENT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edge-agent")))
        .unwrap_or_default()
}

/// SmolLM2-135M-Instruct in the model cache (`agent/models/provision.sh slm`).
#[allow(dead_code)]
pub fn model() -> PathBuf {
    let model = cache().join("models/slm/smollm2-135m-instruct.gguf");
    assert!(
        model.is_file(),
        "{} missing: run `bash agent/models/provision.sh slm`",
        model.display()
    );
    model
}

/// all-MiniLM-L6-v2 converted to GGUF (`agent/models/provision.sh minilm`).
#[allow(dead_code)]
pub fn encoder() -> PathBuf {
    let model = cache().join("models/embed/all-minilm-l6-v2.gguf");
    assert!(
        model.is_file(),
        "{} missing: run `bash agent/models/provision.sh minilm`",
        model.display()
    );
    model
}
