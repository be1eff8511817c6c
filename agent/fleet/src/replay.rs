//! Replay protection: each device accepts a command only if it was issued after the last
//! one it accepted. The last time is kept on disk, so a restart does not reopen the door.

use crate::FleetError;
use std::path::PathBuf;

/// The last accepted command's time, persisted.
#[derive(Debug)]
pub struct ReplayGuard {
    path: Option<PathBuf>,
    last_ms: u64,
}

impl ReplayGuard {
    /// Reads the last accepted time from `path` (missing or unreadable: 0).
    pub fn open(path: Option<PathBuf>) -> Self {
        let last_ms = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        Self { path, last_ms }
    }

    /// Accepts a command issued at `issued_ms`, or says it is replayed. Persists the time
    /// before the command is acted on.
    pub fn accept(&mut self, id: &str, issued_ms: u64) -> Result<(), FleetError> {
        if issued_ms <= self.last_ms {
            return Err(FleetError::Replayed {
                id: id.to_owned(),
                issued_ms,
                last_ms: self.last_ms,
            });
        }
        self.last_ms = issued_ms;
        if let Some(path) = &self.path {
            let tmp = path.with_extension("tmp");
            let written = std::fs::write(&tmp, issued_ms.to_string())
                .and_then(|()| std::fs::rename(&tmp, path));
            if let Err(e) = written {
                return Err(FleetError::Malformed(format!(
                    "cannot record the command time in {}: {e}",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_later_commands_pass_even_after_a_restart() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("fleet-last");
        let mut guard = ReplayGuard::open(Some(path.clone()));
        guard.accept("a", 10).expect("first");
        assert!(guard.accept("a", 10).is_err());
        assert!(guard.accept("b", 9).is_err());
        let mut again = ReplayGuard::open(Some(path));
        assert!(matches!(
            again.accept("a", 10),
            Err(FleetError::Replayed { last_ms: 10, .. })
        ));
        again.accept("c", 11).expect("later");
    }
}
