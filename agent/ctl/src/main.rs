//! `edge-agentctl`: the command line of edge-agent.
//!
//! `say` and `status` talk to a running daemon over D-Bus; `nlu` runs the intent engine
//! offline on a JSON-lines file, with no daemon, so integrators can evaluate their skills.

mod audit;
mod nlu;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use edge_core::api::{DBUS_NAME, DBUS_PATH};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "edge-agentctl",
    version,
    about = "Control and evaluate edge-agent"
)]
struct Cli {
    /// Bus the daemon serves on.
    #[arg(long, value_enum, default_value_t = Bus::System, global = true)]
    bus: Bus,
    /// Bus address (with --bus address), e.g. unix:path=/tmp/bus.
    #[arg(long, global = true)]
    address: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Bus {
    System,
    Session,
    Address,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send a text command to the daemon and print the outcome as JSON.
    Say {
        /// The command, e.g. "set the temperature to 22 degrees".
        text: Vec<String>,
    },
    /// Print the daemon's status as JSON.
    Status,
    /// Recognise every line of a JSON-lines file offline (no daemon needed).
    Nlu(nlu::NluArgs),
    /// Read or write a signal through the daemon (writes pass the safety policy and are
    /// audited).
    Signal {
        #[command(subcommand)]
        op: SignalOp,
    },
    /// Print the audit log (from the configuration's audit.path, or --path).
    Audit(audit::AuditArgs),
}

#[derive(Debug, Subcommand)]
enum SignalOp {
    /// Print a signal's value as JSON.
    Get {
        /// VSS-style path, e.g. Vehicle.Speed.
        path: String,
        /// Ask the peer instead of using the last value seen.
        #[arg(long)]
        fresh: bool,
    },
    /// Write a signal: VALUE is JSON (22.5, true, "running") or plain text.
    Set {
        /// VSS-style path.
        path: String,
        /// The new value.
        value: String,
    },
}

#[zbus::proxy(
    interface = "org.edgeagent.Agent1",
    default_service = "org.edgeagent.Agent1",
    default_path = "/org/edgeagent/Agent"
)]
trait Agent {
    fn say(&self, text: &str) -> zbus::Result<String>;
    fn status(&self) -> zbus::Result<String>;
    fn get_signal(&self, path: &str, fresh: bool) -> zbus::Result<String>;
    fn set_signal(&self, path: &str, value: &str) -> zbus::Result<String>;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Nlu(args) => nlu::run(&args),
        Command::Audit(ref args) => audit::run(args),
        Command::Signal {
            op: SignalOp::Get { ref path, fresh },
        } => with_daemon(&cli, |proxy| {
            let path = path.clone();
            Box::pin(async move { Ok(proxy.get_signal(&path, fresh).await?) })
        }),
        Command::Signal {
            op: SignalOp::Set {
                ref path,
                ref value,
            },
        } => with_daemon(&cli, |proxy| {
            let (path, value) = (path.clone(), value.clone());
            Box::pin(async move { Ok(proxy.set_signal(&path, &value).await?) })
        }),
        Command::Say { ref text } => with_daemon(&cli, |proxy| {
            let text = text.join(" ");
            Box::pin(async move { Ok(proxy.say(&text).await?) })
        }),
        Command::Status => with_daemon(&cli, |proxy| {
            Box::pin(async move { Ok(proxy.status().await?) })
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("edge-agentctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

type Call = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<String>>>>;

fn with_daemon(
    cli: &Cli,
    call: impl FnOnce(AgentProxy<'static>) -> Call,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let builder = match cli.bus {
            Bus::System => zbus::connection::Builder::system(),
            Bus::Session => zbus::connection::Builder::session(),
            Bus::Address => {
                let Some(address) = cli.address.as_deref() else {
                    bail!("--bus address needs --address");
                };
                zbus::connection::Builder::address(address)
            }
        };
        let connection = builder.build().await.context("connecting to the bus")?;
        let proxy = AgentProxy::new(&connection)
            .await
            .context("creating the agent proxy")?;
        let out = call(proxy).await.with_context(|| {
            format!("calling {DBUS_NAME} at {DBUS_PATH} (is edge-agentd running?)")
        })?;
        println!("{out}");
        Ok(ExitCode::SUCCESS)
    })
}
