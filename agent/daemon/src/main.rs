//! `edge-agentd`: the edge-agent daemon.
//!
//! Loads the configuration and the skills' manifests, compiles the template engine, and
//! serves the D-Bus API and the MQTT command/event topics. Links no ggml: speech and SLM
//! inference run in worker processes (later issues).

mod actuator;
mod catalog;
mod dbus;
mod embedding;
mod fleet;
mod hal;
mod language;
mod listening;
mod logging;
mod metrics;
mod mqtt;
mod mqtt_security;
mod pipeline;
mod skills;
mod speech;
mod status;
mod systemd;
mod voice;
mod wake;
mod watch;

use anyhow::Context as _;
use clap::Parser;
use edge_config::{AgentConfig, LoadOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit code for a configuration that cannot be used.
const EXIT_BAD_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(name = "edge-agentd", version, about = "edge-agent daemon")]
struct Cli {
    /// Main configuration file (default /etc/edge-agent/config.toml; conf.d/ beside it).
    #[arg(long, short = 'c', env = "EDGE_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration and skill manifests, print what would be served, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let load = || {
        edge_config::load(&LoadOptions {
            config_path: cli.config.clone(),
            env: None,
            overlay: None,
        })
    };
    let config = match load() {
        Ok(config) => config,
        Err(e) => {
            // A fleet overlay being tried that breaks the configuration is rolled back.
            let settled = (!cli.check)
                .then(|| fleet::settle_pending_config(cli.config.as_deref(), Some(&e.to_string())))
                .flatten();
            match (settled, load()) {
                (Some(result), Ok(config)) => {
                    keep_fleet_result(&config, &result);
                    config
                }
                _ => {
                    eprintln!("edge-agentd: invalid configuration: {e}");
                    return ExitCode::from(EXIT_BAD_CONFIG);
                }
            }
        }
    };
    logging::init(&config.log.level);
    // The runtime and the signal handlers come first: compiling the skills below can take
    // minutes on a slow core, and a SIGTERM then must still end the daemon with status 0.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edge-agentd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let termination = match Termination::install(&runtime) {
        Ok(termination) => {
            tracing::debug!("SIGTERM and SIGINT handled from here on");
            termination
        }
        Err(e) => {
            eprintln!("edge-agentd: cannot handle SIGTERM and SIGINT: {e}");
            return ExitCode::FAILURE;
        }
    };
    let skill_host = match edge_skill_host::SkillHost::new(
        Some(config.skills.cache_dir.clone()),
        Some(config.skills.state_dir.clone()),
    ) {
        Ok(host) => Arc::new(host),
        Err(e) => {
            eprintln!("edge-agentd: cannot start the skill host: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pipeline = pipeline::Pipeline::from_config(&config, skill_host);
    let transports = hal::transports(&config);
    let catalogue = match edge_hal::Catalogue::load(&config.hal.profiles, &transports) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("edge-agentd: invalid signal profile: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    if cli.check {
        let catalog = pipeline.catalog();
        println!(
            "configuration ok: {} skills, {} intents, {} templates, {} signals, {} rules",
            catalog.skills.len(),
            catalog.engine.intent_names().count(),
            catalog.engine.template_count(),
            catalogue.signals.len(),
            catalogue.rules.len()
        );
        return if catalog.skill_errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            for e in &catalog.skill_errors {
                eprintln!("skipped skill: {e}");
            }
            ExitCode::from(EXIT_BAD_CONFIG)
        };
    }
    let state = config.clone();
    let outcome = runtime.block_on(run(
        config,
        cli.config.clone(),
        pipeline,
        catalogue,
        termination,
    ));
    drop(runtime);
    match outcome {
        Ok(Stop::Exit) => ExitCode::SUCCESS,
        Ok(Stop::Restart) => restart(),
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("edge-agentd: {e:#}");
            // A fleet overlay the daemon cannot run with is rolled back, and it starts again.
            match fleet::settle_pending_config(cli.config.as_deref(), Some(&format!("{e:#}"))) {
                Some(result) => {
                    keep_fleet_result(&state, &result);
                    restart()
                }
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// How the daemon stopped.
enum Stop {
    /// SIGTERM or SIGINT.
    Exit,
    /// A new configuration was applied.
    Restart,
}

/// Starts this program again in this process (same pid, so systemd keeps watching it):
/// everything of the old run has been dropped by now.
fn restart() -> ExitCode {
    use std::os::unix::process::CommandExt as _;
    tracing::info!("restarting to apply the new configuration");
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("edge-agentd: cannot restart: {e}");
            return ExitCode::FAILURE;
        }
    };
    let e = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!("edge-agentd: cannot restart: {e}");
    ExitCode::FAILURE
}

/// Keeps a fleet result for MQTT to publish once connected.
fn keep_fleet_result(config: &AgentConfig, result: &edge_fleet::FleetResult) {
    let path = fleet::pending_result_path(config);
    let _ = std::fs::create_dir_all(&config.skills.state_dir);
    if let Err(e) = std::fs::write(&path, serde_json::to_string(result).unwrap_or_default()) {
        eprintln!("edge-agentd: {}: {e}", path.display());
    }
}

/// What the start set up before the daemon serves.
struct Started {
    pipeline: Arc<pipeline::Pipeline>,
    status: Arc<status::Status>,
    listening: Option<listening::Listening>,
    dbus: Option<dbus::Served>,
    metrics: Arc<edge_metrics::Metrics>,
    // Kept alive while the daemon runs (the pipeline and status hold them too).
    _speech: Arc<speech::Speech>,
    _language: Arc<language::Language>,
    _voice: Arc<voice::Voice>,
}

/// The slow and fallible part of the start: signals, workers, audio and the D-Bus name.
async fn start(
    config: &AgentConfig,
    pipeline: pipeline::Pipeline,
    catalogue: edge_hal::Catalogue,
) -> anyhow::Result<Started> {
    let pipeline = if catalogue.signals.is_empty() {
        pipeline
    } else {
        let actuator = hal::build(config, &catalogue, &hal::transports(config))
            .await
            .context("cannot set up signals, policy and audit")?;
        pipeline.with_hal(actuator)
    };
    let status = Arc::new(status::Status::new(config, &pipeline));
    let pipeline = Arc::new(pipeline);
    let metrics = pipeline.metrics().clone();
    let speech = Arc::new(speech::Speech::start(
        config,
        pipeline.clone(),
        metrics.clone(),
    ));
    status.set_speech(speech.clone());
    let language = Arc::new(language::Language::start(config));
    status.set_language(language.clone());
    pipeline.set_language(language.clone());
    let voice = Arc::new(voice::Voice::start(config, &pipeline));
    status.set_voice(voice.clone());
    let wake = wake::Wake::start(config, pipeline.clone()).map(Arc::new);
    if let Some(wake) = &wake {
        status.set_wake(wake.clone());
    }
    let listening = listening::Listening::spawn(config, speech.clone(), voice.clone(), wake)
        .context("cannot open the audio source")?;
    if let Some(listening) = &listening {
        status.set_listening(listening.clone());
    }

    let dbus = if config.dbus.enabled {
        Some(
            dbus::serve(
                config,
                pipeline.clone(),
                status.clone(),
                speech.clone(),
                listening.clone(),
            )
            .await
            .context("cannot serve the D-Bus API")?,
        )
    } else {
        None
    };
    Ok(Started {
        pipeline,
        status,
        listening,
        dbus,
        metrics,
        _speech: speech,
        _language: language,
        _voice: voice,
    })
}

async fn run(
    config: AgentConfig,
    config_path: Option<PathBuf>,
    pipeline: pipeline::Pipeline,
    catalogue: edge_hal::Catalogue,
    mut termination: Termination,
) -> anyhow::Result<Stop> {
    // From here on a signal stops the daemon in order: the workers it spawns are stopped
    // with it, never left behind.
    termination.stop_in_order();
    let started = tokio::select! {
        started = start(&config, pipeline, catalogue) => started?,
        () = termination.requested() => {
            tracing::info!("stopped while starting");
            return Ok(Stop::Exit);
        }
    };
    let Started {
        pipeline,
        status,
        listening,
        dbus,
        metrics,
        ..
    } = started;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    // Everything that can fail at start is done: a fleet overlay being tried is kept, and
    // its result waits for MQTT.
    if let Some(result) = fleet::settle_pending_config(config_path.as_deref(), None) {
        keep_fleet_result(&config, &result);
    }
    let (restart_tx, mut restart_rx) = tokio::sync::watch::channel(false);
    let fleet = Arc::new(fleet::Fleet::new(
        &config,
        config_path,
        pipeline.clone(),
        restart_tx,
    ));
    let mqtt = config.mqtt.enabled.then(|| {
        mqtt::spawn(
            &config,
            pipeline.clone(),
            status.clone(),
            listening.clone(),
            fleet.clone(),
            shutdown_rx.clone(),
        )
    });

    let metrics_tasks = metrics::spawn(&config, &pipeline, status.clone(), metrics);
    let _watcher = watch::watch_dirs(pipeline.clone(), &config.skills.dirs);
    // Questions nobody answers are closed (and their writes dropped) on time, not only
    // when the station speaks again.
    let session_timer = {
        let pipeline = pipeline.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
            loop {
                tick.tick().await;
                pipeline.expire_sessions();
            }
        })
    };
    systemd::notify_ready();
    let watchdog = systemd::spawn_watchdog();
    tracing::info!(
        device_id = %config.agent.device_id,
        skills = pipeline.catalog().skills.len(),
        templates = pipeline.catalog().engine.template_count(),
        "edge-agentd ready"
    );

    let stop = tokio::select! {
        () = termination.requested() => Stop::Exit,
        _ = restart_rx.changed() => {
            // Let the command's acknowledgement go out first.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            Stop::Restart
        }
    };
    tracing::info!("stopping");
    systemd::notify_stopping();
    let _ = shutdown_tx.send(true);
    if let Some(handle) = mqtt {
        // The MQTT task publishes "offline" and disconnects; do not hang on a dead broker.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), handle).await;
    }
    session_timer.abort();
    for task in metrics_tasks {
        task.abort();
    }
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    drop(dbus);
    Ok(stop)
}

/// SIGTERM and SIGINT, handled from the first moment of the start. Until the daemon
/// spawns anything (loading the configuration, compiling the skills: minutes on a slow
/// core) a signal ends the process at once with status 0, as nothing has been acknowledged
/// to anyone yet; after [`Termination::stop_in_order`] it asks `run` to stop in order.
struct Termination {
    requested: tokio::sync::watch::Receiver<bool>,
    at_once: Arc<std::sync::atomic::AtomicBool>,
}

impl Termination {
    fn install(runtime: &tokio::runtime::Runtime) -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered here, synchronously: from now on the signals' default action (death
        // by signal, a failure for systemd) no longer applies.
        let _runtime = runtime.enter();
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (tx, requested) = tokio::sync::watch::channel(false);
        let at_once = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let exit_at_once = at_once.clone();
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                if exit_at_once.load(std::sync::atomic::Ordering::SeqCst) {
                    tracing::info!("stopped while starting");
                    std::process::exit(0);
                }
                let _ = tx.send(true);
            }
        });
        Ok(Self { requested, at_once })
    }

    /// Signals from now on are handled by [`Termination::requested`].
    fn stop_in_order(&self) {
        self.at_once
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Returns once a signal asked the daemon to stop.
    async fn requested(&mut self) {
        // The sender lives as long as the runtime; an error cannot outlive it.
        let _ = self.requested.wait_for(|stop| *stop).await;
    }
}
