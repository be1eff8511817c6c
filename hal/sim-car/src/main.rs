//! `edge-sim-car`: a virtual car that behaves like a real peer on D-Bus.
//!
//! It owns `org.edgeagent.SimCar` (or `--name`) and serves the interfaces
//! `org.edgeagent.SimCar.{Climate,Windows,Navigation,Media,Vehicle}` at the single object
//! `/org/edgeagent/SimCar`. Integration tests and the demo drive it in place of a vehicle.
//! Once the name is owned and every object served it prints `ready` on stdout; it logs to
//! stderr and exits on SIGTERM or SIGINT.

mod car;
mod model;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bus {
    Session,
    System,
    /// The bus at `--address`.
    Address,
}

#[derive(Debug, Parser)]
#[command(name = "edge-sim-car", version, about = "Virtual car on D-Bus")]
struct Cli {
    /// Which bus to connect to.
    #[arg(long, value_enum, default_value_t = Bus::Session)]
    bus: Bus,
    /// D-Bus address, e.g. unix:path=/run/dbus/x (required with `--bus address`).
    #[arg(long, required_if_eq("bus", "address"))]
    address: Option<String>,
    /// Well-known name to own.
    #[arg(long, default_value = "org.edgeagent.SimCar")]
    name: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let builder = match cli.bus {
        Bus::Session => zbus::connection::Builder::session(),
        Bus::System => zbus::connection::Builder::system(),
        Bus::Address => zbus::connection::Builder::address(
            cli.address
                .as_deref()
                .context("--bus address needs --address")?,
        ),
    };
    // zbus requests names with ALLOW_REPLACEMENT | REPLACE_EXISTING by default: a second
    // simulator would silently take the name from a running one. Refuse instead.
    let conn = builder
        .name(cli.name.as_str())
        .allow_name_replacements(false)
        .replace_existing_names(false)
        .serve_at(car::PATH, car::Climate::default())
        .serve_at(car::PATH, car::Windows::default())
        .serve_at(car::PATH, car::Navigation::default())
        .serve_at(car::PATH, car::Media::default())
        .serve_at(car::PATH, car::Vehicle::default())
        .build()
        .await
        .with_context(|| format!("cannot serve {} on the {:?} bus", cli.name, cli.bus))?;
    // Both handlers are in place before `ready`, so no signal can slip past them.
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tracing::info!("serving {} at {}", cli.name, car::PATH);

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    drop(stdout);

    tokio::select! {
        _ = sigterm.recv() => tracing::info!("SIGTERM: exiting"),
        _ = sigint.recv() => tracing::info!("SIGINT: exiting"),
        () = conn.closed() => anyhow::bail!("the bus closed the connection"),
    }
    Ok(())
}
