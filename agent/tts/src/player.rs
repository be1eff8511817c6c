//! Playback through a player command that reads a WAV on stdin, stoppable at once.

use crate::{TtsError, Wav, display_argv, first_line};
use rustix::process::{Pid, Signal, kill_process_group};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Child;
use tokio::sync::watch;

const ROLE: &str = "player";

/// Stops a reply: shared by whoever may interrupt it (barge-in, a newer reply).
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl Default for StopHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl StopHandle {
    /// A handle not yet stopped.
    pub fn new() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }

    /// Stops now: a playback waiting on this handle kills its player.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once stopped.
    pub async fn stopped(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`, so this only returns when stopped.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

/// How a playback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Played {
    /// The player played it all and exited successfully.
    Finished,
    /// Stopped before the end; the player was killed.
    Stopped,
}

/// A player command; the WAV goes to its stdin.
#[derive(Debug, Clone)]
pub struct Player {
    argv: Vec<String>,
    margin: Duration,
}

impl Player {
    /// `argv` (no shell); a playback may last the audio's duration plus `margin`.
    pub fn new(argv: Vec<String>, margin: Duration) -> Self {
        Self { argv, margin }
    }

    /// The command as people write it.
    pub fn command(&self) -> String {
        display_argv(&self.argv)
    }

    /// Starts playing `wav`; stoppable through [`Playback::stop_handle`].
    pub fn play(&self, wav: &Wav) -> Result<Playback, TtsError> {
        self.play_with(wav, StopHandle::new())
    }

    /// Starts playing `wav`, stopped when `stop` is (also if it already is).
    pub fn play_with(&self, wav: &Wav, stop: StopHandle) -> Result<Playback, TtsError> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(TtsError::EmptyCommand { role: ROLE });
        };
        let command = self.command();
        let (mut child, group) =
            spawn_in_group(program, args, Stdio::piped(), Stdio::null(), ROLE, &command)?;
        if let Some(mut stdin) = child.stdin.take() {
            let bytes = wav.bytes().to_vec();
            tokio::spawn(async move {
                // A player that exits early (or is killed) closes the pipe: not an error
                // of its own; its exit status says what happened.
                let _ = stdin.write_all(&bytes).await;
            });
        }
        let stderr = child.stderr.take().map(|mut err| {
            tokio::spawn(async move {
                let mut bytes = Vec::new();
                let _ = (&mut err).take(64 * 1024).read_to_end(&mut bytes).await;
                // Keep draining so a chatty player never blocks on a full pipe.
                let _ = tokio::io::copy(&mut err, &mut tokio::io::sink()).await;
                bytes
            })
        });
        Ok(Playback {
            child,
            group,
            stop,
            stderr,
            limit: wav.duration() + self.margin,
            command,
        })
    }
}

/// A player process running.
#[derive(Debug)]
pub struct Playback {
    child: Child,
    group: Group,
    stop: StopHandle,
    stderr: Option<tokio::task::JoinHandle<Vec<u8>>>,
    limit: Duration,
    command: String,
}

impl Playback {
    /// The player's process id (also its process group).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// A handle that stops this playback from anywhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops now (barge-in): [`wait`](Self::wait) kills the player and returns.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Waits for the end: the player's exit, a stop, or the time limit (the audio's
    /// duration plus the margin), after which the player is killed.
    pub async fn wait(mut self) -> Result<Played, TtsError> {
        let stop = self.stop.clone();
        let status = tokio::select! {
            biased;
            _ = stop.stopped() => {
                self.kill().await;
                return Ok(Played::Stopped);
            }
            status = self.child.wait() => status,
            _ = tokio::time::sleep(self.limit) => {
                self.kill().await;
                return Err(TtsError::CommandTimeout {
                    role: ROLE,
                    command: self.command,
                    timeout: self.limit,
                });
            }
        };
        let status = status.map_err(|source| TtsError::Spawn {
            role: ROLE,
            command: self.command.clone(),
            source,
        })?;
        if status.success() {
            return Ok(Played::Finished);
        }
        let stderr = match self.stderr.take() {
            Some(task) => tokio::time::timeout(Duration::from_millis(500), task)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Err(TtsError::Failed {
            role: ROLE,
            command: self.command,
            status,
            stderr: first_line(&stderr),
        })
    }

    async fn kill(&mut self) {
        self.group.kill();
        let _ = self.child.kill().await;
    }
}

/// Spawns `program` with `args` (no shell) as the leader of its own process group, with
/// stderr piped and killed on drop; the group is killed when the returned [`Group`] drops,
/// so nothing the command starts outlives it. `role` and `command` name it in errors.
pub(crate) fn spawn_in_group<I, A>(
    program: &str,
    args: I,
    stdin: Stdio,
    stdout: Stdio,
    role: &'static str,
    command: &str,
) -> Result<(Child, Group), TtsError>
where
    I: IntoIterator<Item = A>,
    A: AsRef<std::ffi::OsStr>,
{
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| TtsError::Spawn {
            role,
            command: command.to_owned(),
            source,
        })?;
    let group = Group::of(&child);
    Ok((child, group))
}

/// A child's process group (it was started as its leader), killed on drop so nothing it
/// started outlives the reply.
#[derive(Debug)]
pub(crate) struct Group(Option<Pid>);

impl Group {
    pub(crate) fn of(child: &Child) -> Self {
        Self(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                // Never signal group 1 (kill(-1) means every process).
                .filter(|&id| id > 1)
                .and_then(Pid::from_raw),
        )
    }

    pub(crate) fn kill(&self) {
        if let Some(pid) = self.0 {
            // ESRCH: the group is gone already.
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}
