//! Daemon footprint: start to READY=1 (sd_notify) and resident memory when idle and after
//! a burst of commands, against a real dbus-daemon and mosquitto.
//!
//! `cargo build --release --bins && cargo bench -p edge-agent-tests --bench daemon`
//! (the bench profile finds the release binaries next to itself).

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{Daemon, DaemonSetup, DbusDaemon, Mosquitto, proc_status_kib};
use std::time::{Duration, Instant};

const STARTS: usize = 10;
const COMMANDS: usize = 500;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let setup = DaemonSetup::new(&bus, broker.port);

    let mut ready_ms = Vec::new();
    for _ in 0..STARTS {
        let t = Instant::now();
        let daemon = Daemon::start(&setup)?;
        ready_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(daemon);
    }
    ready_ms.sort_by(f64::total_cmp);

    let daemon = Daemon::start(&setup)?;
    let pid = daemon
        .pid()
        .ok_or_else(|| anyhow::anyhow!("daemon not running"))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = proc_status_kib(u64::from(pid), "VmRSS:");
    let conn = bus.connect().await?;
    let proxy = Agent1Proxy::new(&conn).await?;
    let texts = [
        "set the temperature to 21 degrees",
        "start pump three",
        "what's the capital of france",
        "open all windows",
    ];
    let t = Instant::now();
    for i in 0..COMMANDS {
        let _: String = proxy.say(texts[i % texts.len()]).await?;
    }
    let round_trip_us = t.elapsed().as_secs_f64() * 1e6 / COMMANDS as f64;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy_rss = proc_status_kib(u64::from(pid), "VmRSS:");
    let peak = proc_status_kib(u64::from(pid), "VmHWM:");
    let binary = std::fs::metadata(edge_agent_tests::binary("edge-agentd")?)?.len();

    println!(
        "edge-agentd footprint (binary {} KiB, 7 skills, 109 templates, D-Bus + MQTT connected)",
        binary / 1024
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| start to READY=1, median of {STARTS} | {:.1} ms |",
        ready_ms[STARTS / 2]
    );
    println!(
        "| start to READY=1, slowest | {:.1} ms |",
        ready_ms[STARTS - 1]
    );
    println!(
        "| RSS idle (2 s after READY) | {:.1} MiB |",
        idle_rss as f64 / 1024.0
    );
    println!(
        "| RSS after {COMMANDS} Say calls | {:.1} MiB |",
        busy_rss as f64 / 1024.0
    );
    println!("| peak RSS (VmHWM) | {:.1} MiB |", peak as f64 / 1024.0);
    println!("| Say round trip over D-Bus, mean of {COMMANDS} | {round_trip_us:.0} us |");
    Ok(())
}
