//! Supervision of the `edge-asr` worker: spawn, wait for readiness, health checks, restart
//! with exponential backoff.

use crate::client::AsrClient;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How to run the worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub binary: PathBuf,
    pub model: PathBuf,
    /// Unix socket the worker listens on.
    pub socket: PathBuf,
    pub threads: usize,
    pub max_concurrent: usize,
    pub max_audio_s: u32,
    /// Time allowed for loading the model.
    pub start_timeout: Duration,
    pub health_interval: Duration,
    /// The worker's log filter (`RUST_LOG`), normally the daemon's own level.
    pub log_filter: String,
    /// Restart delays grow from `backoff_min` to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl WorkerConfig {
    pub fn uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

/// What the supervisor knows about the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    Starting,
    Ready {
        pid: u32,
    },
    /// The worker exited or failed its health check; it is restarted after a delay.
    Restarting {
        restarts: u32,
        reason: String,
    },
}

/// A running supervisor; dropping it stops the worker.
#[derive(Debug)]
pub struct WorkerHandle {
    uri: String,
    state: watch::Receiver<WorkerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        // The child is spawned with kill_on_drop: aborting the task kills it.
        self.task.abort();
    }
}

impl WorkerHandle {
    /// Starts supervising; returns at once.
    pub fn spawn(config: WorkerConfig) -> Self {
        let (tx, rx) = watch::channel(WorkerState::Starting);
        let uri = config.uri();
        let task = tokio::spawn(supervise(config, tx));
        Self {
            uri,
            state: rx,
            task,
        }
    }

    /// The URI clients connect to.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn state(&self) -> WorkerState {
        self.state.borrow().clone()
    }

    /// Waits until the worker is ready (or the timeout passes).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<u32, String> {
        let mut rx = self.state.clone();
        let wait = async {
            loop {
                if let WorkerState::Ready { pid } = *rx.borrow_and_update() {
                    return Ok(pid);
                }
                if rx.changed().await.is_err() {
                    return Err("the supervisor stopped".to_owned());
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the speech worker is not ready after {timeout:?} (state: {:?})",
                self.state()
            )),
        }
    }
}

async fn supervise(config: WorkerConfig, state: watch::Sender<WorkerState>) {
    let mut restarts = 0u32;
    loop {
        let _ = state.send(WorkerState::Starting);
        let started = Instant::now();
        let reason = match run_once(&config, &state).await {
            Ok(reason) | Err(reason) => reason,
        };
        // A worker that ran a while gets a fresh backoff; a crash loop backs off.
        if started.elapsed() > Duration::from_secs(60) {
            restarts = 0;
        }
        restarts += 1;
        let delay = config
            .backoff_min
            .saturating_mul(1 << restarts.min(16).saturating_sub(1))
            .min(config.backoff_max);
        tracing::warn!(
            restarts,
            ?delay,
            "speech worker stopped: {reason}; restarting"
        );
        let _ = state.send(WorkerState::Restarting { restarts, reason });
        tokio::time::sleep(delay).await;
    }
}

/// Runs the worker until it exits or fails its health check; returns why it stopped.
async fn run_once(
    config: &WorkerConfig,
    state: &watch::Sender<WorkerState>,
) -> Result<String, String> {
    let mut child = Command::new(&config.binary)
        .arg("--model")
        .arg(&config.model)
        .arg("--listen")
        .arg(config.uri())
        .arg("--threads")
        .arg(config.threads.to_string())
        .arg("--max-concurrent")
        .arg(config.max_concurrent.to_string())
        .arg("--max-audio-s")
        .arg(config.max_audio_s.to_string())
        .arg("--exit-with-parent")
        .env("RUST_LOG", &config.log_filter)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", config.binary.display()))?;
    let pid = child.id().unwrap_or_default();
    let stdout = child.stdout.take().ok_or("worker has no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(config.start_timeout, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("READY ") {
                return true;
            }
        }
        false
    })
    .await;
    match ready {
        Ok(true) => {}
        Ok(false) => return Err(exit_reason(&mut child, "exited while starting").await),
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!(
                "not ready within {:?} (model {})",
                config.start_timeout,
                config.model.display()
            ));
        }
    }
    tracing::info!(pid, uri = %config.uri(), "speech worker ready");
    let _ = state.send(WorkerState::Ready { pid });
    // Keep draining stdout so the worker never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let mut failures = 0;
    let mut interval = tokio::time::interval(config.health_interval);
    interval.tick().await;
    loop {
        tokio::select! {
            status = child.wait() => {
                return Ok(match status {
                    Ok(status) => format!("exited ({status})"),
                    Err(e) => format!("cannot be waited for: {e}"),
                });
            }
            _ = interval.tick() => {
                if health_check(&config.uri()).await {
                    failures = 0;
                } else {
                    failures += 1;
                    if failures >= 3 {
                        let _ = child.kill().await;
                        return Ok("failed three health checks in a row; killed".into());
                    }
                }
            }
        }
    }
}

async fn health_check(uri: &str) -> bool {
    match AsrClient::connect(uri, Duration::from_secs(2)).await {
        Ok(mut client) => client.describe().await.is_ok(),
        Err(_) => false,
    }
}

async fn exit_reason(child: &mut Child, what: &str) -> String {
    match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(status)) => format!("{what} ({status})"),
        _ => {
            let _ = child.kill().await;
            what.to_owned()
        }
    }
}

/// Finds a worker binary: a path as given; a bare name beside the running executable, then
/// in PATH.
pub fn find_binary(name: &std::path::Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_owned());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    let in_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    beside.into_iter().chain(in_path).find(|p| p.is_file())
}
