//! The user's model cache, where `agent/models/provision.sh` puts the models: the batch
//! commands fall back to it on a developer machine, where the configured paths (under
//! /usr/share) do not exist.

use std::path::PathBuf;

/// `relative` in the user's model cache (`agent/models/provision.sh`).
pub fn cached_model(relative: &str) -> PathBuf {
    std::env::var_os("EDGE_AGENT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edge-agent")))
        .unwrap_or_default()
        .join("models")
        .join(relative)
}
