//! `edge-sim-plant`: a virtual factory plant (pumps, presses, conveyors) that behaves
//! like a real peer on MQTT, for edge-agent integration tests and the demo.
//!
//! For each machine M it publishes a retained JSON state on `<prefix>/M/state`
//! (every period and after every change) and events on `<prefix>/M/events`, and takes
//! commands on `<prefix>/M/set/state`, `<prefix>/M/set/guard_closed` and
//! `<prefix>/M/fault`. With `--modbus-port` it also serves every machine over Modbus
//! TCP (machine N of `--machines` is unit N; the register map is in [`modbus`]). The
//! behaviour lives in the transport-free [`plant`] module; this file is the thin MQTT
//! adapter around it.

mod modbus;
mod plant;

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, Publish, QoS};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use plant::{Event, Plant};

#[derive(Debug, Parser)]
#[command(version, about = "Virtual factory plant speaking MQTT")]
struct Args {
    /// MQTT broker port.
    #[arg(long)]
    port: u16,
    /// MQTT broker host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Topic prefix.
    #[arg(long, default_value = "plant")]
    prefix: String,
    /// Simulation and publish period in milliseconds.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    period_ms: u64,
    /// Seed of the sensor-noise RNG.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Machine ids; the type comes from the prefix (pump-, press-, conveyor-).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "pump-1,pump-2,pump-3,pump-4,press-1,press-2,conveyor-1"
    )]
    machines: Vec<String>,
    /// User name on a broker that needs one (with `--password`).
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// Password for `--username`.
    #[arg(long, requires = "username")]
    password: Option<String>,
    /// Also serve the machines over Modbus TCP on this port.
    #[arg(long)]
    modbus_port: Option<u16>,
    /// Address the Modbus server listens on.
    #[arg(long, default_value = "127.0.0.1")]
    modbus_host: String,
}

/// What the MQTT event-loop task reports to the main loop.
#[derive(Debug)]
enum Net {
    Connected,
    Subscribed,
    Message(Publish),
    Disconnected(String),
}

/// Publishes without blocking: the event loop drains the queue in its own task.
#[derive(Debug)]
struct Out {
    client: AsyncClient,
    prefix: String,
}

impl Out {
    fn send(&self, topic: String, retain: bool, payload: String) {
        if let Err(e) = self
            .client
            .try_publish(&topic, QoS::AtLeastOnce, retain, payload)
        {
            tracing::warn!(%topic, "publish dropped: {e}");
        }
    }

    fn state(&self, plant: &Plant, id: &str) {
        if let Some(json) = plant.state_json(id) {
            self.send(format!("{}/{id}/state", self.prefix), true, json);
        }
    }

    fn all_states(&self, plant: &Plant) {
        for m in plant.machines() {
            self.state(plant, &m.id);
        }
    }

    fn events(&self, events: &[Event]) {
        for e in events {
            tracing::info!(machine = %e.machine, event = ?e.event, "{}", e.message);
            match serde_json::to_string(e) {
                Ok(json) => self.send(format!("{}/{}/events", self.prefix, e.machine), false, json),
                Err(err) => tracing::error!("cannot encode event: {err}"),
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let shared = Arc::new(Mutex::new(Plant::new(&args.machines)));
    let mut rng = StdRng::seed_from_u64(args.seed);
    let (modbus_tx, mut modbus_writes) = mpsc::unbounded_channel::<modbus::Changed>();
    if let Some(port) = args.modbus_port {
        let listener = tokio::net::TcpListener::bind((args.modbus_host.as_str(), port))
            .await
            .with_context(|| format!("Modbus port {port}"))?;
        let service = Arc::new(modbus::PlantService {
            plant: shared.clone(),
            changed: modbus_tx,
        });
        let on_connected = move |stream, _| {
            let service = service.clone();
            async move { Ok(Some((service, stream))) }
        };
        tokio::spawn(async move {
            let server = tokio_modbus::server::tcp::Server::new(listener);
            if let Err(e) = server
                .serve(&on_connected, |e| tracing::warn!("Modbus connection: {e}"))
                .await
            {
                tracing::error!("Modbus server: {e}");
            }
        });
        tracing::info!(port, "serving Modbus TCP");
    }
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());

    let mut options = MqttOptions::new(
        format!("edge-sim-plant-{}", args.prefix),
        &args.host,
        args.port,
    );
    options
        .set_clean_session(true)
        .set_keep_alive(Duration::from_secs(10));
    if let (Some(user), Some(password)) = (&args.username, &args.password) {
        options.set_credentials(user, password);
    }
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    // Small messages, latency matters: no Nagle delay (~40 ms per hop with delayed ACKs).
    let mut network = eventloop.network_options();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    let out = Out {
        client: client.clone(),
        prefix: args.prefix.clone(),
    };

    let (tx, mut rx) = mpsc::unbounded_channel();
    let net = tokio::spawn(async move {
        loop {
            let report = match eventloop.poll().await {
                Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => Net::Connected,
                Ok(MqttEvent::Incoming(Packet::SubAck(_))) => Net::Subscribed,
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => Net::Message(p),
                Ok(_) => continue,
                Err(e) => {
                    // The broker is down: poll fails at once, and reconnects on the next call.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Net::Disconnected(e.to_string())
                }
            };
            if tx.send(report).is_err() {
                break;
            }
        }
    });

    let mut sigterm = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut ticker = tokio::time::interval(Duration::from_millis(args.period_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let subscription = format!("{}/#", args.prefix);
    let (mut connected, mut ready, mut outage_logged) = (false, false, false);
    tracing::info!(host = %args.host, port = args.port, machines = ?args.machines, "starting");

    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = ticker.tick() => {
                let mut plant = lock();
                let events = plant.tick(&mut rng);
                if connected {
                    out.events(&events);
                    out.all_states(&plant);
                }
            }
            Some((machine, events)) = modbus_writes.recv() => {
                out.events(&events);
                out.state(&lock(), &machine);
            }
            report = rx.recv() => match report.context("mqtt task ended")? {
                Net::Connected => {
                    tracing::info!("connected to broker");
                    (connected, outage_logged) = (true, false);
                    // States go out before the SUBSCRIBE, so the SUBACK proves they are stored.
                    out.all_states(&lock());
                    if let Err(e) = client.try_subscribe(&subscription, QoS::AtLeastOnce) {
                        tracing::warn!("subscribe failed: {e}");
                    }
                }
                Net::Subscribed if !ready => {
                    ready = true;
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "ready").and_then(|()| stdout.flush()).context("stdout")?;
                }
                Net::Subscribed => {}
                Net::Disconnected(e) => {
                    // Warn once per outage; the event loop retries every 200 ms.
                    if outage_logged {
                        tracing::debug!("mqtt: {e}");
                    } else {
                        tracing::warn!("mqtt: {e}; retrying");
                        outage_logged = true;
                    }
                    connected = false;
                }
                Net::Message(p) => on_message(&mut lock(), &out, &p),
            },
        }
    }

    tracing::info!("shutting down");
    if client.try_disconnect().is_ok() {
        // Give the event loop a moment to send the DISCONNECT.
        let _ = tokio::time::timeout(Duration::from_millis(300), async {
            while let Some(Net::Message(_) | Net::Connected | Net::Subscribed) = rx.recv().await {}
        })
        .await;
    }
    net.abort();
    Ok(())
}

/// Handles one incoming PUBLISH below the prefix.
fn on_message(plant: &mut Plant, out: &Out, p: &Publish) {
    let Some(tail) = p.topic.strip_prefix(&format!("{}/", out.prefix)) else {
        return;
    };
    // Our own output echoed back by the `<prefix>/#` subscription.
    if let Some((_, "state" | "events")) = tail.split_once('/') {
        return;
    }
    // A retained command is stale (it was stored before we subscribed): never replay it.
    if p.retain {
        tracing::warn!(topic = %p.topic, "ignoring retained command");
        return;
    }
    tracing::debug!(topic = %p.topic, "command");
    let events = plant.handle(tail, &p.payload);
    out.events(&events);
    let machine = tail.split('/').next().unwrap_or_default();
    out.state(plant, machine);
}
