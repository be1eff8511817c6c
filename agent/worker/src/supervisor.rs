//! Supervision of a worker: spawn, wait for readiness, health checks, restart with
//! exponential backoff.

use edge_protocol::{Event, FrameLimits, kind, read_event, write_event};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How to run the worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// What the logs and errors call it ("speech worker").
    pub name: String,
    pub binary: PathBuf,
    /// The worker's own arguments; `--listen URI --exit-with-parent` are added.
    pub args: Vec<OsString>,
    /// Unix socket the worker listens on.
    pub socket: PathBuf,
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

impl WorkerState {
    /// The worker's pid when it is ready.
    pub fn ready_pid(&self) -> Option<u32> {
        match self {
            WorkerState::Ready { pid } => Some(*pid),
            _ => None,
        }
    }
}

/// Why [`WorkerHandle::wait_ready`] gave up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotReady {
    #[error("the supervisor stopped")]
    SupervisorStopped,
    #[error("the {worker} is not ready after {after:?} (state: {state:?})")]
    Timeout {
        worker: String,
        after: Duration,
        state: WorkerState,
    },
}

/// A running supervisor; dropping it stops the worker.
#[derive(Debug)]
pub struct WorkerHandle {
    uri: String,
    name: String,
    state: watch::Receiver<WorkerState>,
    /// Times the worker stopped (exited, failed its health check, or failed to start)
    /// since the supervisor started: unlike `restarts`, never reset.
    stops: Arc<AtomicU64>,
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
        let name = config.name.clone();
        let stops = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(supervise(config, tx, stops.clone()));
        Self {
            uri,
            name,
            state: rx,
            stops,
            task,
        }
    }

    /// Times the worker stopped since the supervisor started.
    pub fn stops(&self) -> u64 {
        self.stops.load(Ordering::Relaxed)
    }

    /// The URI clients connect to.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    pub fn state(&self) -> WorkerState {
        self.state.borrow().clone()
    }

    /// Every change of state from now on (a new `Ready` pid is a replaced worker).
    pub fn subscribe(&self) -> watch::Receiver<WorkerState> {
        self.state.clone()
    }

    /// Waits until the worker is ready (or the timeout passes).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<u32, NotReady> {
        let mut rx = self.state.clone();
        let wait = async {
            loop {
                if let Some(pid) = rx.borrow_and_update().ready_pid() {
                    return Ok(pid);
                }
                if rx.changed().await.is_err() {
                    return Err(NotReady::SupervisorStopped);
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(NotReady::Timeout {
                worker: self.name.clone(),
                after: timeout,
                state: self.state(),
            }),
        }
    }
}

async fn supervise(config: WorkerConfig, state: watch::Sender<WorkerState>, stops: Arc<AtomicU64>) {
    let mut restarts = 0u32;
    loop {
        let _ = state.send(WorkerState::Starting);
        let started = Instant::now();
        let reason = match run_once(&config, &state).await {
            Ok(reason) | Err(reason) => reason,
        };
        stops.fetch_add(1, Ordering::Relaxed);
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
            "{} stopped: {reason}; restarting",
            config.name
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
        .args(&config.args)
        .arg("--listen")
        .arg(config.uri())
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
            return Err(format!("not ready within {:?}", config.start_timeout));
        }
    }
    tracing::info!(pid, uri = %config.uri(), "{} ready", config.name);
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

/// A worker is healthy when it answers `describe` with `info` on a new connection.
async fn health_check(uri: &str) -> bool {
    let Some(path) = uri.strip_prefix("unix://") else {
        return false;
    };
    let check = async {
        let stream = tokio::net::UnixStream::connect(path).await.ok()?;
        let (read, mut write) = stream.into_split();
        write_event(&mut write, &Event::new(kind::DESCRIBE))
            .await
            .ok()?;
        let mut read = tokio::io::BufReader::new(read);
        let event = read_event(&mut read, FrameLimits::default()).await.ok()??;
        event.is(kind::INFO).then_some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), check).await,
        Ok(Some(()))
    )
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

/// A supervised worker's state for the APIs: `{"state", "uri", "pid", "restarts",
/// "reason", "stops"}`; without a supervisor (`None`), an external server.
pub fn status_json(worker: Option<&WorkerHandle>, uri: Option<&str>) -> serde_json::Value {
    let mut json = match worker.map(WorkerHandle::state) {
        None => serde_json::json!({"state": "external", "uri": uri}),
        Some(WorkerState::Starting) => serde_json::json!({"state": "starting", "uri": uri}),
        Some(WorkerState::Ready { pid }) => {
            serde_json::json!({"state": "ready", "uri": uri, "pid": pid})
        }
        Some(WorkerState::Restarting { restarts, reason }) => serde_json::json!({
            "state": "restarting", "uri": uri, "restarts": restarts, "reason": reason
        }),
    };
    if let Some(worker) = worker {
        json["stops"] = worker.stops().into();
    }
    json
}
