//! Load: concurrent D-Bus callers, and a flood on `cmd/say`, against a real dbus-daemon
//! and mosquitto. Prints the sustained rates, the latency, what happens above the rate
//! (commands refused with a reason on `events/error`, never queued without bound), and
//! the daemon's memory before and after.
//!
//! `cargo build --release --bins && cargo bench -p edge-agent-tests --bench load`

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{Daemon, DaemonSetup, DbusDaemon, Mosquitto, proc_status_kib};
use std::time::{Duration, Instant};

const TEXTS: [&str; 4] = [
    "set the temperature to 21 degrees",
    "start pump three",
    "what's the capital of france",
    "open all windows",
];
const DBUS_SECONDS: u64 = 5;
const FLOOD: usize = 5000;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let daemon = Daemon::start(&DaemonSetup::new(&bus, broker.port))?;
    let pid = u64::from(
        daemon
            .pid()
            .ok_or_else(|| anyhow::anyhow!("daemon not running"))?,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = proc_status_kib(pid, "VmRSS:");

    println!(
        "D-Bus Say, concurrent callers for {DBUS_SECONDS} s each (one connection per caller):"
    );
    println!("| callers | commands/s | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    for callers in [1usize, 4, 16, 64] {
        let deadline = Instant::now() + Duration::from_secs(DBUS_SECONDS);
        let mut tasks = Vec::new();
        for c in 0..callers {
            let conn = bus.connect().await?;
            tasks.push(tokio::spawn(async move {
                let proxy = Agent1Proxy::new(&conn).await?;
                let mut latencies = Vec::new();
                let mut i = c;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let _: String = proxy.say(TEXTS[i % TEXTS.len()]).await?;
                    latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    i += 1;
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        all.sort_by(f64::total_cmp);
        println!(
            "| {callers} | {:.0} | {:.2} | {:.2} | {:.2} |",
            all.len() as f64 / DBUS_SECONDS as f64,
            percentile(&all, 0.5),
            percentile(&all, 0.95),
            all.last().copied().unwrap_or(0.0)
        );
    }
    let after_dbus_rss = proc_status_kib(pid, "VmRSS:");

    // The flood: as fast as one client can publish, QoS 1. Counted from the daemon's own
    // log, one line per command handled ("recognised", origin Mqtt) or refused ("busy"):
    // its events and signals under a flood are bounded and may drop, by design.
    let topics = daemon.topics();
    let mut options = rumqttc::MqttOptions::new("load-flood", "127.0.0.1", broker.port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 1024);
    let pump = tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let count = |log: &str| {
        let handled = log
            .lines()
            .filter(|l| l.contains("recognised") && l.contains("Mqtt"))
            .count();
        let refused = log
            .lines()
            .filter(|l| l.contains("rejected MQTT command: busy"))
            .count();
        (handled, refused)
    };
    let (handled_before, refused_before) = count(&daemon.log());
    let started = Instant::now();
    for i in 0..FLOOD {
        client
            .publish(
                topics.say(),
                rumqttc::QoS::AtLeastOnce,
                false,
                TEXTS[i % TEXTS.len()],
            )
            .await?;
    }
    let published = started.elapsed();
    let (mut done, mut refused) = (0, 0);
    let mut last = started.elapsed();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (h, r) = count(&daemon.log());
        let (h, r) = (h - handled_before, r - refused_before);
        if (h, r) != (done, refused) {
            (done, refused) = (h, r);
            last = started.elapsed();
            quiet_since = Instant::now();
        }
    }
    pump.abort();
    let after_flood_rss = proc_status_kib(pid, "VmRSS:");
    let peak = proc_status_kib(pid, "VmHWM:");

    println!();
    println!("MQTT flood: {FLOOD} cmd/say at QoS 1 from one client:");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| published in | {:.2} s ({:.0}/s) |",
        published.as_secs_f64(),
        FLOOD as f64 / published.as_secs_f64()
    );
    println!(
        "| handled | {done} ({:.0}/s, the last {:.2} s after the first publish) |",
        done as f64 / last.as_secs_f64(),
        last.as_secs_f64()
    );
    println!("| refused with a reason (busy, on events/error) | {refused} |");
    println!(
        "| never reached the agent (the broker's queue for it was full) | {} |",
        FLOOD.saturating_sub(done + refused)
    );
    println!();
    println!("| edge-agentd memory | MiB |");
    println!("|---|---|");
    println!("| RSS idle | {:.1} |", idle_rss as f64 / 1024.0);
    println!(
        "| RSS after the D-Bus runs | {:.1} |",
        after_dbus_rss as f64 / 1024.0
    );
    println!(
        "| RSS after the flood | {:.1} |",
        after_flood_rss as f64 / 1024.0
    );
    println!("| peak RSS (VmHWM) | {:.1} |", peak as f64 / 1024.0);
    Ok(())
}
