//! Conversation turns through the whole daemon (D-Bus `SayAt`, templates, dialogue, skill,
//! policy, audit, the plant simulator over MQTT): a plain command, a skill's question
//! opened (troubleshooting starts), the answer going back to the skill with its context,
//! a cancel, and a confirmation asked and accepted. Compare rows of one run: the machine is
//! shared and noisy.
//!
//! `cargo build --release --bins && bash skills/build.sh && cargo bench -p edge-agent-tests --bench dialogue`

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{Daemon, DaemonSetup, DbusDaemon, Mosquitto, Simulator};
use std::time::Instant;

const N: usize = 100;

fn row(name: &str, mut us: Vec<f64>, base: f64) -> f64 {
    us.sort_by(f64::total_cmp);
    let p = |q: f64| us[((us.len() as f64 * q).ceil() as usize).clamp(1, us.len()) - 1];
    let p50 = p(0.5);
    println!(
        "| {name:<52} | {:>4} | {:>7.0} | {:>7.0} | {:>5.2}x |",
        us.len(),
        p50,
        p(0.99),
        if base > 0.0 { p50 / base } else { 1.0 }
    );
    p50
}

async fn turn(agent: &Agent1Proxy<'_>, text: &str, expect: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    let json: String = agent.say_at("bench-panel", text).await?;
    let us = t.elapsed().as_secs_f64() * 1e6;
    let outcome: serde_json::Value = serde_json::from_str(&json)?;
    let response = outcome["response"].as_str().unwrap_or_default();
    anyhow::ensure!(response.contains(expect), "{text:?} answered {response:?}");
    Ok(us)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let _plant = Simulator::plant(broker.port)?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.extra = "[asr]\nenabled = false\n[slm]\nenabled = false\n".into();
    let daemon = Daemon::start(&setup)?;
    let conn = bus.connect().await?;
    let agent = Agent1Proxy::new(&conn).await?;

    let (mut plain, mut opened, mut answered, mut cancelled, mut asked, mut confirmed) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    // Warm-up: caches, first instances.
    for _ in 0..5 {
        turn(&agent, "what's the status of pump one", "Pump 1").await?;
    }
    for i in 0..N {
        plain.push(turn(&agent, "what's the status of pump one", "Pump 1").await?);
        opened.push(turn(&agent, "troubleshoot pump one", "What is wrong with pump 1").await?);
        // The answer goes back to the skill: it reads the pump's state (and pressure) and
        // concludes, keeping the report.
        answered.push(turn(&agent, "there is no pressure", "I saved the report.").await?);
        turn(&agent, "troubleshoot pump one", "What is wrong").await?;
        cancelled.push(turn(&agent, "never mind", "cancelled").await?);
        let (ask, answer) = if i % 2 == 0 {
            ("start pump one", "Starting pump 1")
        } else {
            ("stop pump one", "Stopping pump 1")
        };
        asked.push(turn(&agent, ask, "Say yes to confirm").await?);
        confirmed.push(turn(&agent, "yes", answer).await?);
    }
    println!("dialogue turns through edge-agentd (D-Bus SayAt), N = {N} each, µs:\n");
    println!(
        "| turn                                                 |    n |     p50 |     p99 | vs plain |"
    );
    println!("|---|---|---|---|---|");
    let base = row(
        "plain command (equipment.status, 1 signal read)",
        plain,
        0.0,
    );
    row("question opened (troubleshoot.start)", opened, base);
    row(
        "answer back to the skill (context, check, conclusion, report)",
        answered,
        base,
    );
    row("cancel", cancelled, base);
    row(
        "confirmation asked (start/stop pump, policy + audit)",
        asked,
        base,
    );
    row(
        "yes: write performed (2 fsynced audit lines, MQTT set)",
        confirmed,
        base,
    );
    drop(daemon);
    Ok(())
}
