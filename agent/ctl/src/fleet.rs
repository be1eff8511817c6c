//! `edge-agentctl fleet`: the publisher's side of fleet operations. Builds a command,
//! signs it with the publisher's secret key, publishes it to the device's `cmd/fleet`
//! topic and waits for the device's acknowledgement (or writes the signed envelope to a
//! file with `--out`).

use anyhow::{Context as _, bail};
use edge_fleet::{Body, FleetResult, Operation, Status};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where and how to send.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    op: FleetOp,
    /// The publisher's secret key file (from `edge-agentctl skills keygen`).
    #[arg(long, global = true)]
    key: Option<PathBuf>,
    /// The device (its agent.device_id).
    #[arg(long, global = true)]
    device: Option<String>,
    /// MQTT broker host.
    #[arg(long, global = true, default_value = "localhost")]
    host: String,
    /// MQTT broker port.
    #[arg(long, global = true, default_value_t = 1883)]
    port: u16,
    /// The devices' topic prefix (mqtt.topic_prefix).
    #[arg(long, global = true, default_value = "edge-agent")]
    prefix: String,
    /// How long to wait for the acknowledgement.
    #[arg(long, global = true, default_value_t = 60)]
    timeout_secs: u64,
    /// Write the signed command to this file instead of sending it.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum FleetOp {
    /// Install or update a skill from its directory (skill.toml, NAME.wasm, NAME.sig).
    Install {
        /// The skill directory.
        dir: PathBuf,
    },
    /// Remove an installed skill.
    Remove {
        /// Its name.
        name: String,
    },
    /// Push a configuration overlay (TOML); the device checks it, applies it by
    /// restarting, and rolls it back if it cannot start with it.
    Config {
        /// The overlay file.
        file: PathBuf,
    },
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}

fn operation(op: &FleetOp) -> anyhow::Result<Operation> {
    Ok(match op {
        FleetOp::Install { dir } => {
            let manifest_path = dir.join(edge_core::manifest::MANIFEST_FILE);
            let manifest = read_text(&manifest_path)?;
            let name = edge_core::LoadedManifest::parse(&manifest_path, &manifest)?
                .manifest
                .skill
                .name;
            let wasm = dir.join(format!("{name}.wasm"));
            let sig = dir.join(format!("{name}.sig"));
            Operation::InstallSkill {
                manifest,
                component_base64: wasm
                    .is_file()
                    .then(|| std::fs::read(&wasm).map(|b| edge_fleet::encode_component(&b)))
                    .transpose()
                    .with_context(|| format!("{}: cannot read", wasm.display()))?,
                package_signature: sig
                    .is_file()
                    .then(|| read_text(&sig).map(|s| s.trim().to_owned()))
                    .transpose()?,
            }
        }
        FleetOp::Remove { name } => Operation::RemoveSkill { name: name.clone() },
        FleetOp::Config { file } => Operation::ApplyConfig {
            overlay: read_text(file)?,
        },
    })
}

/// Runs `fleet`; the exit code is 0 only when the device acknowledged `ok`.
pub fn run(args: &FleetArgs) -> anyhow::Result<std::process::ExitCode> {
    let key_path = args.key.as_ref().context("--key is required")?;
    let secret = read_text(key_path)?;
    let device = args.device.clone().context("--device is required")?;
    let body = Body {
        id: uuid::Uuid::new_v4().to_string(),
        device: device.clone(),
        issued_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        operation: operation(&args.op)?,
    };
    let envelope = edge_fleet::sign(secret.trim(), &body)?;
    let payload = serde_json::to_vec(&envelope)?;
    if let Some(out) = &args.out {
        std::fs::write(out, &payload)
            .with_context(|| format!("{}: cannot write", out.display()))?;
        println!("{}", serde_json::json!({"id": body.id, "written": out}));
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let base = format!("{}/{device}", args.prefix);
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(send(args, &base, &body.id, payload))?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(if result.status == Status::Ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

async fn send(
    args: &FleetArgs,
    base: &str,
    id: &str,
    payload: Vec<u8>,
) -> anyhow::Result<FleetResult> {
    let client_id = format!("edge-agentctl-fleet-{}", std::process::id());
    let mut options = rumqttc::MqttOptions::new(client_id, args.host.clone(), args.port);
    options.set_keep_alive(Duration::from_secs(10));
    options.set_max_packet_size(1 << 20, edge_fleet::MAX_COMMAND_BYTES + 64 * 1024);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 16);
    let result_topic = format!("{base}/fleet/result");
    client
        .subscribe(&result_topic, rumqttc::QoS::AtLeastOnce)
        .await?;
    let wait = async {
        let mut sent = false;
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) if !sent => {
                    sent = true;
                    client
                        .publish(
                            format!("{base}/cmd/fleet"),
                            rumqttc::QoS::AtLeastOnce,
                            false,
                            payload.clone(),
                        )
                        .await?;
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))
                    if p.topic == result_topic =>
                {
                    if let Ok(result) = serde_json::from_slice::<FleetResult>(&p.payload)
                        && (result.id.as_deref() == Some(id) || result.id.is_none())
                    {
                        return Ok(result);
                    }
                }
                Ok(_) => {}
                Err(e) => bail!("MQTT {}:{}: {e}", args.host, args.port),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(args.timeout_secs), wait)
        .await
        .with_context(|| {
            format!(
                "no acknowledgement on {result_topic} within {} s",
                args.timeout_secs
            )
        })?
}
