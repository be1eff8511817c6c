//! One reply at a time: synthesise, keep, play; a newer reply or a barge-in stops the
//! current one.

use crate::{Backend, Played, Player, StopHandle, TtsError};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// What a [`Speaker`] needs.
#[derive(Debug, Clone)]
pub struct TtsConfig {
    /// Where speech comes from.
    pub backend: Backend,
    /// The player command (WAV on stdin); empty: no playback (only `keep_last_wav`).
    pub player: Vec<String>,
    /// Time allowed for synthesis, and beyond the audio's duration for playback.
    pub timeout: Duration,
    /// Where each reply's WAV is written (replaced atomically) before it plays.
    pub keep_last_wav: Option<PathBuf>,
}

/// What the speaker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeakerState {
    Idle,
    Synthesizing,
    Speaking,
}

/// A snapshot of the speaker, for status reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpeakerStatus {
    /// `command` or `wyoming`.
    pub backend: &'static str,
    pub state: SpeakerState,
    /// The player's process id while speaking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player_pid: Option<u32>,
    /// Replies played to the end (or kept, without a player).
    pub spoken: u64,
    /// Replies stopped by [`Speaker::stop`] (barge-in).
    pub interrupted: u64,
    /// Replies stopped because a newer one came.
    pub replaced: u64,
    /// Replies that failed.
    pub failed: u64,
    /// The last failure.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Current {
    generation: u64,
    stop: StopHandle,
    state: SpeakerState,
    pid: Option<u32>,
}

#[derive(Debug, Default)]
struct Shared {
    generation: u64,
    current: Option<Current>,
    spoken: u64,
    interrupted: u64,
    replaced: u64,
    failed: u64,
    last_error: Option<String>,
}

#[derive(Debug)]
struct Inner {
    config: TtsConfig,
    player: Option<Player>,
    shared: Mutex<Shared>,
}

/// Speaks replies one at a time. Cheap to clone; needs a tokio runtime.
#[derive(Debug, Clone)]
pub struct Speaker {
    inner: Arc<Inner>,
}

/// The end of one reply.
#[derive(Debug)]
pub struct Reply(oneshot::Receiver<Result<Played, TtsError>>);

impl Reply {
    /// Waits until the reply was played, stopped, or failed.
    pub async fn finished(self) -> Result<Played, TtsError> {
        self.0.await.unwrap_or(Ok(Played::Stopped))
    }
}

impl Speaker {
    pub fn new(config: TtsConfig) -> Self {
        let player =
            (!config.player.is_empty()).then(|| Player::new(config.player.clone(), config.timeout));
        Self {
            inner: Arc::new(Inner {
                config,
                player,
                shared: Mutex::new(Shared::default()),
            }),
        }
    }

    /// Speaks `text` in the background, stopping the reply still in progress.
    pub fn say(&self, text: &str) -> Reply {
        let stop = StopHandle::new();
        let generation = {
            let mut shared = self.inner.lock();
            if let Some(old) = shared.current.take() {
                old.stop.stop();
                shared.replaced += 1;
            }
            shared.generation += 1;
            shared.current = Some(Current {
                generation: shared.generation,
                stop: stop.clone(),
                state: SpeakerState::Synthesizing,
                pid: None,
            });
            shared.generation
        };
        let (done, reply) = oneshot::channel();
        let inner = self.inner.clone();
        let text = text.to_owned();
        tokio::spawn(async move {
            let result = inner.speak(generation, &text, stop).await;
            inner.finish(generation, &result);
            let _ = done.send(result);
        });
        Reply(reply)
    }

    /// Barge-in: stops the reply being synthesised or played (its player is killed).
    /// Returns whether there was one.
    pub fn stop(&self) -> bool {
        let mut shared = self.inner.lock();
        match shared.current.take() {
            Some(current) => {
                current.stop.stop();
                shared.interrupted += 1;
                true
            }
            None => false,
        }
    }

    /// What the speaker is doing and has done.
    pub fn status(&self) -> SpeakerStatus {
        let shared = self.inner.lock();
        let current = shared.current.as_ref();
        SpeakerStatus {
            backend: self.inner.config.backend.name(),
            state: current.map_or(SpeakerState::Idle, |c| c.state),
            player_pid: current.and_then(|c| c.pid),
            spoken: shared.spoken,
            interrupted: shared.interrupted,
            replaced: shared.replaced,
            failed: shared.failed,
            last_error: shared.last_error.clone(),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The lock is never held across a panic point that leaves the counters invalid.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn speak(
        &self,
        generation: u64,
        text: &str,
        stop: StopHandle,
    ) -> Result<Played, TtsError> {
        let wav = tokio::select! {
            biased;
            _ = stop.stopped() => return Ok(Played::Stopped),
            wav = self.config.backend.synthesize(text, self.config.timeout) => wav?,
        };
        if stop.is_stopped() {
            return Ok(Played::Stopped);
        }
        if let Some(path) = &self.config.keep_last_wav
            && let Err(source) = keep(path, wav.bytes()).await
        {
            let e = TtsError::KeepWav {
                path: path.clone(),
                source,
            };
            tracing::warn!("{e}");
            self.lock().last_error = Some(e.to_string());
        }
        let Some(player) = &self.player else {
            return Ok(Played::Finished);
        };
        let playback = player.play_with(&wav, stop)?;
        tracing::debug!(
            pid = playback.pid(),
            duration_ms = wav.duration().as_millis() as u64,
            "speaking"
        );
        {
            let mut shared = self.lock();
            if let Some(current) = shared
                .current
                .as_mut()
                .filter(|c| c.generation == generation)
            {
                current.state = SpeakerState::Speaking;
                current.pid = playback.pid();
            }
        }
        playback.wait().await
    }

    fn finish(&self, generation: u64, result: &Result<Played, TtsError>) {
        let mut shared = self.lock();
        match result {
            Ok(Played::Finished) => shared.spoken += 1,
            Ok(Played::Stopped) => {}
            Err(e) => {
                tracing::warn!("spoken reply failed: {e}");
                shared.failed += 1;
                shared.last_error = Some(e.to_string());
            }
        }
        if shared
            .current
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            shared.current = None;
        }
    }
}

/// Writes `bytes` to `path` through a temporary file beside it, so readers never see half.
async fn keep(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}
