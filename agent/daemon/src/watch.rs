//! Hot reload: the skill directories are watched and the pipeline reloads on changes.

use crate::pipeline::Pipeline;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Reloads the skills when files in their directories change (debounced: a burst of
/// writes, such as an install, causes one reload after it settles). Keep the returned
/// watcher alive.
pub fn watch_dirs(pipeline: Arc<Pipeline>, dirs: &[PathBuf]) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher =
        match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reading the manifests on reload opens them: access events must not cause
            // another reload.
            if let Ok(event) = event
                && !matches!(event.kind, notify::EventKind::Access(_))
            {
                let _ = tx.send(());
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("skill directories are not watched: {e}");
                return None;
            }
        };
    let mut watching = false;
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        match watcher.watch(dir, notify::RecursiveMode::Recursive) {
            Ok(()) => watching = true,
            Err(e) => tracing::warn!("{}: not watched: {e}", dir.display()),
        }
    }
    if !watching {
        return None;
    }
    let spawned = std::thread::Builder::new()
        .name("skill-reload".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Let the burst settle.
                while rx.recv_timeout(Duration::from_millis(500)).is_ok() {}
                pipeline.reload();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("skill directories are not watched: {e}");
        return None;
    }
    Some(watcher)
}
