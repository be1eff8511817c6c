//! Why a worker-backed capability (speech, the SLM and embedding tiers, the wake word)
//! cannot serve: typed, so callers can tell a configuration choice from a missing file or
//! a worker that is not up yet; the text is what the status and the logs show.

use std::path::PathBuf;

use crate::NotReady;

/// Why a capability is off or cannot answer now.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unavailable {
    /// Switched off by the configuration key (`asr.enabled`).
    #[error("disabled in the configuration ({key})")]
    Disabled { key: &'static str },
    /// The model file named by `key` is missing; `hint` says how to get one.
    #[error("{key} {} does not exist ({hint})", path.display())]
    NoModel {
        key: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
    /// A model folder or the runtime library it needs is missing.
    #[error("{key} {} or the runtime {} is missing ({hint})", models.display(), runtime.display())]
    NoModelOrRuntime {
        key: &'static str,
        models: PathBuf,
        runtime: PathBuf,
        hint: &'static str,
    },
    /// The worker binary named by `key` was found neither beside the daemon nor in PATH.
    #[error("{key} {} is neither beside edge-agentd nor in PATH", path.display())]
    NoBinary { key: &'static str, path: PathBuf },
    /// Nothing configured to serve it.
    #[error("not configured")]
    NotConfigured,
    /// The worker exists but did not become ready in time.
    #[error(transparent)]
    NotReady(#[from] NotReady),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkerState;
    use std::time::Duration;

    #[test]
    fn the_reasons_read_as_the_status_and_logs_have_always_shown_them() {
        assert_eq!(
            Unavailable::Disabled { key: "asr.enabled" }.to_string(),
            "disabled in the configuration (asr.enabled)"
        );
        assert_eq!(
            Unavailable::NoModel {
                key: "slm.model",
                path: "/m/x.gguf".into(),
                hint: "run agent/models/provision.sh slm",
            }
            .to_string(),
            "slm.model /m/x.gguf does not exist (run agent/models/provision.sh slm)"
        );
        assert_eq!(
            Unavailable::NoBinary {
                key: "wake.worker",
                path: "edge-wake".into(),
            }
            .to_string(),
            "wake.worker edge-wake is neither beside edge-agentd nor in PATH"
        );
        let late = Unavailable::from(NotReady::Timeout {
            worker: "speech worker".into(),
            after: Duration::from_secs(2),
            state: WorkerState::Starting,
        });
        assert_eq!(
            late.to_string(),
            "the speech worker is not ready after 2s (state: Starting)"
        );
    }
}
