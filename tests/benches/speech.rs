//! Speech end to end: from the end of the audio to the action, through the daemon, its
//! `edge-asr` worker, the skills and the simulators, for every espeak-ng recording; and the
//! resident memory of the daemon and of the worker.
//!
//! `cargo bench -p edge-agent-tests --bench speech` (set EDGE_AGENT_BIN_DIR to use binaries
//! of another profile; whisper.cpp is compiled optimised in every profile).

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, Mosquitto, Simulator, asr_model, asr_worker_config,
    proc_status_kib, spoken_commands,
};
use serde_json::Value;
use std::time::{Duration, Instant};

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let commands = spoken_commands()?;
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let _plant = Simulator::plant(broker.port)?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.extra = asr_worker_config(&asr_model()?, dir.path());
    let daemon = Daemon::start(&setup)?;
    let conn = bus.connect().await?;
    let agent = Agent1Proxy::new(&conn).await?;
    let worker_pid = loop {
        let status: String = agent.status().await?;
        let status: Value = serde_json::from_str(&status)?;
        if let Some(pid) = status["asr"]["pid"].as_u64() {
            break pid;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let daemon_pid = u64::from(daemon.pid().unwrap_or_default());
    let idle = (
        proc_status_kib(daemon_pid, "VmRSS:"),
        proc_status_kib(worker_pid, "VmRSS:"),
    );

    // One warm-up, then every recording.
    let _: Result<String, _> = agent.listen(&std::fs::read(&commands[0].wav)?).await;
    let (mut end_to_action, mut asr, mut call) = (vec![], vec![], vec![]);
    let (mut short, mut medium, mut long) = (vec![], vec![], vec![]);
    // Commands and out-of-domain recordings apart: only a transcript that is no command
    // is decoded a second time, biased toward the skills' grammar (asr.grammar).
    let (mut in_domain, mut out_of_domain) = (vec![], vec![]);
    for command in &commands {
        let wav = std::fs::read(&command.wav)?;
        let started = Instant::now();
        let reply: Result<String, zbus::Error> = agent.listen(&wav).await;
        let Ok(reply) = reply else { continue };
        call.push(started.elapsed().as_secs_f64() * 1e3);
        let outcome: Value = serde_json::from_str(&reply)?;
        let e2a = outcome["end_to_action_ms"].as_f64().unwrap_or(f64::NAN);
        end_to_action.push(e2a);
        asr.push(outcome["asr_ms"].as_f64().unwrap_or(f64::NAN));
        if command.intent == "none" {
            out_of_domain.push(e2a);
        } else {
            in_domain.push(e2a);
        }
        let audio_ms = outcome["audio_ms"].as_u64().unwrap_or(0);
        match audio_ms {
            0..1_500 => short.push(e2a),
            1_500..2_500 => medium.push(e2a),
            _ => long.push(e2a),
        }
    }
    for v in [
        &mut end_to_action,
        &mut asr,
        &mut call,
        &mut short,
        &mut medium,
        &mut long,
        &mut in_domain,
        &mut out_of_domain,
    ] {
        v.sort_by(f64::total_cmp);
    }
    println!("| measure (ms) | n | p50 | p95 | max |\n|---|---|---|---|---|");
    for (name, v) in [
        ("end of speech → action, all recordings", &end_to_action),
        ("end of speech → action, commands", &in_domain),
        (
            "end of speech → action, out-of-domain recordings",
            &out_of_domain,
        ),
        ("end of speech → action, recordings under 1.5 s", &short),
        ("end of speech → action, recordings of 1.5-2.5 s", &medium),
        (
            "end of speech → action, recordings of 2.5 s and more",
            &long,
        ),
        ("end of speech → transcript (ASR tail)", &asr),
        ("Listen call, WAV upload to reply", &call),
    ] {
        println!(
            "| {name} | {} | {:.0} | {:.0} | {:.0} |",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.95),
            pct(v, 1.0)
        );
    }
    println!("\n| process | RSS idle (MiB) | RSS after (MiB) | peak (MiB) |\n|---|---|---|---|");
    for (name, pid, idle) in [
        ("edge-agentd", daemon_pid, idle.0),
        ("edge-asr (tiny.en)", worker_pid, idle.1),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            idle as f64 / 1024.0,
            proc_status_kib(pid, "VmRSS:") as f64 / 1024.0,
            proc_status_kib(pid, "VmHWM:") as f64 / 1024.0
        );
    }
    Ok(())
}
