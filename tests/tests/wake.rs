//! The wake word end to end: live audio on the daemon's stdin, the real `edge-wake` worker
//! (openWakeWord's TFLite models from `agent/models/provision.sh wake`), the real `edge-asr`
//! worker, the skills and the simulated car. Speech before the wake word is not a command;
//! "okay nabu" is announced on both APIs and the command after it is acted on.

use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, Mosquitto, MqttProbe, Simulator, asr_model, asr_worker_config,
    cache_dir, wait_for_status,
};
use serde_json::Value;
use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

/// 16 kHz mono s16le PCM of `text` spoken by espeak-ng (resampled by sox).
fn spoken(text: &str, voice: &str) -> anyhow::Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let wav = dir.path().join("said.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()?;
    anyhow::ensure!(status.success(), "espeak-ng failed on {text:?}");
    let out = Command::new("sox")
        .arg(&wav)
        .args([
            "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-",
        ])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "sox: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

fn silence(ms: usize) -> Vec<u8> {
    vec![0; ms * 32]
}

fn wake_config(models: &std::path::Path, dir: &std::path::Path) -> String {
    format!(
        "[audio]\nsource = \"stdin\"\nmode = \"push-to-talk\"\ntrailing_silence_ms = 600\n\
         [wake]\nenabled = true\nmodels = {:?}\nsocket = {:?}\nacknowledgement = \"Yes?\"\n",
        models.display().to_string(),
        dir.join("wake.sock").display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okay_nabu_then_a_command_opens_the_window_and_other_speech_does_nothing()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.extra = format!(
        "{}{}",
        asr_worker_config(&asr_model()?, dir.path()),
        wake_config(&cache_dir().join("models/wake"), dir.path())
    );
    setup.stdin_pipe = true;
    let mut daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    let base = format!("edge-agent/{}", daemon.device_id);
    let mut probe = MqttProbe::connect(broker.port, &format!("{base}/events/#")).await?;
    wait_for_status(&agent, "both workers ready", |s| {
        s["asr"]["state"] == "ready" && s["wake"]["state"] == "ready"
    })
    .await?;

    // D-Bus WakeDetected, watched from before the audio.
    let conn = bus.connect().await?;
    let agent_signals = zbus::Proxy::new(
        &conn,
        "org.edgeagent.Agent1",
        "/org/edgeagent/Agent",
        "org.edgeagent.Agent1",
    )
    .await?;
    let mut wake_signals = agent_signals.receive_signal("WakeDetected").await?;

    let mut audio = silence(800);
    audio.extend(spoken("open the driver window", "en-gb")?);
    audio.extend(silence(1500));
    audio.extend(spoken("okay nabu", "en-us")?);
    audio.extend(silence(700));
    audio.extend(spoken("open the driver window", "en-us")?);
    audio.extend(silence(1500));
    let stdin = daemon
        .stdin
        .as_mut()
        .ok_or_else(|| anyhow::anyhow!("no stdin pipe"))?;
    stdin.write_all(&audio)?;
    stdin.flush()?;

    let wake = probe
        .expect_json(&format!("{base}/events/wake"), |_| true)
        .await?;
    assert_eq!(wake["name"], "okay_nabu", "{wake}");
    assert!(wake["probability"].as_f64().unwrap_or(0.0) >= 0.5, "{wake}");
    // Heard after the first command's audio, in the stream's own time.
    assert!(wake["audio_ms"].as_u64().unwrap_or(0) > 3_000, "{wake}");
    let signal = tokio::time::timeout(Duration::from_secs(10), futures_next(&mut wake_signals))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no WakeDetected signal"))?;
    let body: String = signal.body().deserialize()?;
    assert!(body.contains("okay_nabu"), "{body}");

    let outcome = probe
        .expect_json(&format!("{base}/events/intent"), |o| o["origin"] == "voice")
        .await
        .map_err(|e| e.context(daemon.log()))?;
    assert_eq!(outcome["intent"], "window.set", "{outcome}");
    assert_eq!(outcome["slots"]["window"], "driver", "{outcome}");
    assert_eq!(outcome["slots"]["position"], "open", "{outcome}");
    let json: String = agent
        .call(
            "GetSignal",
            &("Vehicle.Cabin.Door.Row1.DriverSide.Window.Position", true),
        )
        .await?;
    let reading: Value = serde_json::from_str(&json)?;
    assert_eq!(reading["value"], 100, "{reading}");

    // One wake word, one command: the speech before it was never heard as one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status: Value = serde_json::from_str(&agent.call::<_, _, String>("Status", &()).await?)?;
    assert_eq!(status["wake"]["detections"], 1, "{status}");
    assert_eq!(status["utterances"], 1, "{status}");
    Ok(())
}

async fn futures_next(
    signals: &mut zbus::proxy::SignalStream<'_>,
) -> Option<zbus::message::Message> {
    use futures_util::StreamExt as _;
    signals.next().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wake_models_are_named_and_the_daemon_serves_on() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let mut setup = DaemonSetup::new(&bus, broker.port);
    setup.extra = wake_config(&dir.path().join("no-models"), dir.path());
    setup.stdin_pipe = true;
    let _daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    let status = wait_for_status(&agent, "wake status", |s| s["wake"].is_object()).await?;
    assert_eq!(status["wake"]["state"], "unavailable", "{status}");
    let reason = status["wake"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no-models") && reason.contains("provision.sh wake"),
        "{reason}"
    );
    let outcome: String = agent.call("Say", &("set the temperature to 21",)).await?;
    assert!(outcome.contains("climate.set_temperature"), "{outcome}");
    Ok(())
}
