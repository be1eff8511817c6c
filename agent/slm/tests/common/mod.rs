//! What the SLM tests share.

use std::path::PathBuf;

/// `relative` in the model cache, put there by `agent/models/provision.sh GROUP`.
fn provisioned(relative: &str, group: &str) -> PathBuf {
    let cache = std::env::var_os("EDGE_AGENT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edge-agent")))
        .unwrap_or_default();
    let model = cache.join(relative);
    assert!(
        model.is_file(),
        "{} missing: run `bash agent/models/provision.sh {group}`",
        model.display()
    );
    model
}

/// SmolLM2-135M-Instruct.
#[allow(dead_code)]
pub fn model() -> PathBuf {
    provisioned("models/slm/smollm2-135m-instruct.gguf", "slm")
}

/// all-MiniLM-L6-v2 converted to GGUF.
#[allow(dead_code)]
pub fn encoder() -> PathBuf {
    provisioned("models/embed/all-minilm-l6-v2.gguf", "minilm")
}

/// all-MiniLM-L6-v2 fine-tuned on the example skills' sentences, converted to GGUF.
#[allow(dead_code)]
pub fn specialised_encoder() -> PathBuf {
    provisioned(
        "models/embed/minilm-skills.gguf",
        "tuned --training <(edge-agentctl schema --training)",
    )
}
