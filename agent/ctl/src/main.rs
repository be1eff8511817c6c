//! `edge-agentctl`: the command line of edge-agent.
//!
//! `say` and `status` talk to a running daemon over D-Bus; `nlu` runs the intent engine
//! offline on a JSON-lines file, with no daemon, so integrators can evaluate their skills.

mod audit;
mod embedding;
mod fleet;
mod install;
mod model_cache;
mod nlu;
mod slm;
mod speech;
mod tier_report;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use edge_agent_client::Agent1Proxy;
use edge_core::api::{DBUS_NAME, DBUS_PATH};
use std::path::PathBuf;
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
    /// Send a spoken command in a WAV file to the daemon (transcript, intent, action and
    /// response, as JSON). Any PCM WAV works; it is converted to 16 kHz mono.
    Listen {
        /// The recording.
        wav: PathBuf,
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
    /// Print the intent schema the language-model tier answers in (intents, descriptions,
    /// examples from the templates, slot types) as JSON; `--grammar` prints its GBNF grammar.
    Schema {
        /// Skill directories (default: those of the configuration).
        #[arg(long = "skills")]
        skills: Vec<PathBuf>,
        /// Configuration file for entity lists and skill directories.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the GBNF grammar of the whole answer instead.
        #[arg(long)]
        grammar: bool,
        /// Print what the SLM worker caches instead (an `slm-load` object, the input of
        /// `edge-slm classify --intents`), with slm.examples_per_intent examples.
        #[arg(long, conflicts_with = "grammar")]
        slm: bool,
        /// Print the embedding tier's training set instead, one JSON object per line
        /// (`text`, `intent`, `source`): the skills' sentences, then the built-in negatives
        /// as intent `none` (the input of agent/models/finetune_encoder.py).
        #[arg(long, conflicts_with_all = ["grammar", "slm"])]
        training: bool,
        /// Print the recognition grammar instead: every template as GBNF, what the daemon
        /// sends the speech worker to bias recognition toward the skills (asr.grammar).
        #[arg(long, conflicts_with_all = ["grammar", "slm", "training"])]
        recognition: bool,
    },
    /// Print the audit log (from the configuration's audit.path, or --path).
    Audit(audit::AuditArgs),
    /// Skills: list the loaded ones; keys and signatures for publishers.
    Skills {
        #[command(subcommand)]
        op: SkillsOp,
    },
    /// Fleet operations: signed commands to a device over MQTT (install, update or remove
    /// a skill; push a configuration overlay), acknowledged by the device.
    Fleet(fleet::FleetArgs),
}

#[derive(Debug, Subcommand)]
enum SkillsOp {
    /// List the daemon's skills (name, version, intents) and the skipped ones.
    List,
    /// Create a publisher key: writes the secret (hex) to FILE, prints the public key to
    /// put in skills.trusted_keys.
    Keygen {
        /// Where to write the secret key (created with mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Install a skill directory (skill.toml, NAME.wasm, NAME.sig) into the daemon's
    /// skills directory, replacing an older version atomically, and reload.
    Install {
        /// The skill directory to install.
        dir: PathBuf,
        /// Skills directory to install into (default: the last of skills.dirs).
        #[arg(long)]
        to: Option<PathBuf>,
        /// Configuration file to read skills.dirs from.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Remove an installed skill and reload.
    Remove {
        /// Skill name.
        name: String,
        /// Skills directory (default: the last of skills.dirs).
        #[arg(long)]
        to: Option<PathBuf>,
        /// Configuration file to read skills.dirs from.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Sign a skill directory (skill.toml + NAME.wasm): writes NAME.sig.
    Sign {
        /// The secret key file from `keygen`.
        #[arg(long)]
        key: PathBuf,
        /// The skill directory.
        dir: PathBuf,
    },
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Nlu(args) => nlu::run(&args),
        Command::Fleet(ref args) => fleet::run(args),
        Command::Audit(ref args) => audit::run(args),
        Command::Schema {
            ref skills,
            ref config,
            grammar,
            slm,
            training,
            recognition,
        } => nlu::load_engine(config.as_deref(), skills).and_then(|(config, engine)| {
            if recognition {
                print!("{}", engine.recognition_grammar());
                return Ok(ExitCode::SUCCESS);
            }
            if training {
                embedding::print_training_set(&engine)?;
                return Ok(ExitCode::SUCCESS);
            }
            let schema = engine.schema_with_examples(config.slm.examples_per_intent);
            if slm {
                let tier = nlu::slm_tier(&config, schema);
                println!("{}", serde_json::to_string_pretty(tier.load_request())?);
            } else if grammar {
                println!("{}", schema.grammar());
            } else {
                println!("{}", serde_json::to_string_pretty(&schema)?);
            }
            Ok(ExitCode::SUCCESS)
        }),
        Command::Skills { op: SkillsOp::List } => with_daemon(&cli, |proxy| {
            Box::pin(async move {
                let status: serde_json::Value = serde_json::from_str(&proxy.status().await?)?;
                let mut out = String::new();
                for s in status["skills"].as_array().into_iter().flatten() {
                    let intents: Vec<&str> = s["intents"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|i| i.as_str())
                        .collect();
                    let code = if s["code"].as_bool() == Some(true) {
                        "wasm"
                    } else {
                        "manifest"
                    };
                    out.push_str(&format!(
                        "{:<14} {:<8} {:<9} {}\n",
                        s["name"].as_str().unwrap_or(""),
                        s["version"].as_str().unwrap_or(""),
                        code,
                        intents.join(" ")
                    ));
                }
                for e in status["skipped_skills"].as_array().into_iter().flatten() {
                    out.push_str(&format!("skipped: {}\n", e.as_str().unwrap_or("")));
                }
                Ok(out.trim_end().to_owned())
            })
        }),
        Command::Skills {
            op: SkillsOp::Keygen { ref out },
        } => keygen(out),
        Command::Skills {
            op:
                SkillsOp::Install {
                    ref dir,
                    ref to,
                    ref config,
                },
        } => install::install(dir, to.as_deref(), config.as_deref()).and_then(|path| {
            println!("installed {}", path.display());
            reload(&cli)
        }),
        Command::Skills {
            op:
                SkillsOp::Remove {
                    ref name,
                    ref to,
                    ref config,
                },
        } => install::remove(name, to.as_deref(), config.as_deref()).and_then(|path| {
            println!("removed {}", path.display());
            reload(&cli)
        }),
        Command::Skills {
            op: SkillsOp::Sign { ref key, ref dir },
        } => sign(key, dir),
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
        Command::Listen { ref wav } => match std::fs::read(wav) {
            Ok(bytes) => with_daemon(&cli, |proxy| {
                Box::pin(async move { Ok(proxy.listen(&bytes).await?) })
            }),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", wav.display())),
        },
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

/// Asks the daemon to reload its skills and prints what loaded.
fn reload(cli: &Cli) -> anyhow::Result<ExitCode> {
    with_daemon(cli, |proxy| {
        Box::pin(async move {
            let status: serde_json::Value = serde_json::from_str(&proxy.reload_skills().await?)?;
            let names: Vec<&str> = status["skills"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["name"].as_str())
                .collect();
            let mut out = format!("reloaded: {}", names.join(", "));
            for e in status["skipped_skills"].as_array().into_iter().flatten() {
                out.push_str(&format!("\nskipped: {}", e.as_str().unwrap_or("")));
            }
            Ok(out)
        })
    })
}

fn keygen(out: &std::path::Path) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let (secret, public) = edge_signing::generate_key()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("{}: cannot create the key file", out.display()))?;
    writeln!(file, "{secret}")?;
    println!("{public}");
    Ok(ExitCode::SUCCESS)
}

fn sign(key: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let secret = std::fs::read_to_string(key)
        .with_context(|| format!("{}: cannot read the key", key.display()))?;
    let manifest = dir.join("skill.toml");
    let loaded = edge_core::LoadedManifest::load(&manifest)?;
    let name = &loaded.manifest.skill.name;
    let wasm = dir.join(format!("{name}.wasm"));
    let signature = edge_signing::sign(&secret, &manifest, &wasm)?;
    let sig = dir.join(format!("{name}.sig"));
    std::fs::write(&sig, format!("{signature}\n"))
        .with_context(|| format!("{}: cannot write", sig.display()))?;
    println!("{}", sig.display());
    Ok(ExitCode::SUCCESS)
}

type Call = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<String>>>>;

fn with_daemon(
    cli: &Cli,
    call: impl FnOnce(Agent1Proxy<'static>) -> Call,
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
        let proxy = Agent1Proxy::new(&connection)
            .await
            .context("creating the agent proxy")?;
        let out = call(proxy).await.with_context(|| {
            format!("calling {DBUS_NAME} at {DBUS_PATH} (is edge-agentd running?)")
        })?;
        println!("{out}");
        Ok(ExitCode::SUCCESS)
    })
}
