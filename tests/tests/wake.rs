//! The wake word end to end: live audio on the daemon's stdin, the real `edge-wake` worker
//! (openWakeWord's TFLite models from `agent/models/provision.sh wake`), the real `edge-asr`
//! worker, the skills and the simulated car. Speech before the wake word is not a command;
//! "okay nabu" is announced on both APIs and the command after it is acted on.

use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, DemoWorld, Mosquitto, MqttProbe, Worker, asr_model,
    asr_worker_config, cache_dir, status, wait_for_heard, wait_for_status,
};
use serde_json::Value;
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
    // -R: sox's dither is seeded afresh on each run otherwise, so the same text would give
    // slightly different audio (and Whisper tiny a different transcript) from run to run.
    let out = Command::new("sox")
        .arg("-R")
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
    let mut w = DemoWorld::start(|mut setup, dir| {
        // Spoken replies to a player that notes each one it gets: the acknowledgement and
        // the command's answer.
        setup.extra = format!(
            "{}{}[tts]\nbackend = \"command\"\ncommand = [\"espeak-ng\", \"--stdout\", \"--\", \"{{text}}\"]\nplayer = [\"sh\", \"-c\", \"cat > /dev/null; echo played >> \\\"$0\\\"\", {:?}]\n",
            asr_worker_config(&asr_model()?, dir),
            wake_config(&cache_dir().join("models/wake"), dir),
            dir.join("played").display().to_string()
        );
        setup.stdin_pipe = true;
        Ok(setup)
    })
    .await?;
    let played = w.dir.path().join("played");
    let agent = w.agent.clone();
    let base = format!("edge-agent/{}", w.daemon.device_id);
    let mut probe = MqttProbe::connect(w.broker.port, &format!("{base}/events/#")).await?;
    wait_for_status(&agent, "both workers ready", |s| {
        s["asr"]["state"] == "ready" && s["wake"]["state"] == "ready"
    })
    .await?;

    // D-Bus WakeDetected, watched from before the audio.
    let agent_signals = w.bus.agent().await?;
    let mut wake_signals = agent_signals.receive_wake_detected().await?;

    let mut audio = silence(800);
    audio.extend(spoken("open the driver window", "en-gb")?);
    audio.extend(silence(1500));
    audio.extend(spoken("okay nabu", "en-us")?);
    audio.extend(silence(700));
    audio.extend(spoken("open the driver window", "en-us")?);
    audio.extend(silence(1500));
    w.daemon.write_stdin(&audio)?;

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
    let body = signal.args()?.event().to_string();
    assert!(body.contains("okay_nabu"), "{body}");

    let outcome = probe
        .expect_json(&format!("{base}/events/intent"), |o| o["origin"] == "voice")
        .await
        .map_err(|e| e.context(w.daemon.log()))?;
    assert_eq!(outcome["intent"], "window.set", "{outcome}");
    assert_eq!(outcome["slots"]["window"], "driver", "{outcome}");
    assert_eq!(outcome["slots"]["position"], "open", "{outcome}");
    let json: String = agent
        .get_signal("Vehicle.Cabin.Door.Row1.DriverSide.Window.Position", true)
        .await?;
    let reading: Value = serde_json::from_str(&json)?;
    assert_eq!(reading["value"], 100, "{reading}");

    // One wake word, one command: the speech before it was never heard as one, nor
    // anything after it (once the daemon has taken all the audio).
    wait_for_heard(&agent, w.daemon.stdin_ms()).await?;
    let status: Value = serde_json::from_str(&agent.status().await?)?;
    assert_eq!(status["wake"]["detections"], 1, "{status}");
    assert_eq!(status["utterances"], 1, "{status}");
    // "Yes?" on the wake word, then the answer: two replies played.
    let tts = wait_for_status(&agent, "two replies played", |s| {
        s["tts"]["spoken"].as_u64().unwrap_or(0) + s["tts"]["replaced"].as_u64().unwrap_or(0) >= 2
    })
    .await?;
    assert_eq!(tts["tts"]["failed"], 0, "{tts}");
    let lines = std::fs::read_to_string(&played).unwrap_or_default();
    assert!(lines.lines().count() >= 1, "{tts}");
    Ok(())
}

async fn futures_next(
    signals: &mut edge_agent_client::WakeDetectedStream,
) -> Option<edge_agent_client::WakeDetected> {
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
    let outcome: String = agent.say("set the temperature to 21").await?;
    assert!(outcome.contains("climate.set_temperature"), "{outcome}");
    Ok(())
}

/// `edge-wake` on a TCP port, killed when dropped.
fn start_wake_server(port: u16) -> anyhow::Result<Worker> {
    Worker::start(
        "edge-wake",
        &[
            "--models".into(),
            cache_dir().join("models/wake").into_os_string(),
            "--listen".into(),
            format!("tcp://127.0.0.1:{port}").into(),
        ] as &[std::ffi::OsString],
    )
}

/// Home Assistant's side of the protocol: the PyPI `wyoming` package's client, with its own
/// event classes, against `edge-wake`; a 44.1 kHz stereo recording is converted.
#[test]
fn wyoming_client_from_pypi_detects_through_edge_wake() -> anyhow::Result<()> {
    let port = edge_agent_tests::free_port()?;
    let _server = start_wake_server(port)?;
    let python = edge_agent_tests::tools_python()?;
    let client = edge_agent_tests::repo().join("tests/speech/wyoming_wake_client.py");
    let uri = format!("tcp://127.0.0.1:{port}");
    let out = Command::new(&python)
        .args([client.as_os_str(), uri.as_ref(), "describe".as_ref()])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(info["wake"][0]["models"][0]["name"], "okay_nabu", "{info}");

    let dir = tempfile::tempdir()?;
    let resources = edge_agent_tests::repo().join("tests/resources/wake");
    let said = resources.join("okay_nabu_open_window.wav");
    let stereo = dir.path().join("stereo-44k.wav");
    let status = Command::new("sox")
        .arg("-R")
        .arg(&said)
        .args(["-r", "44100", "-c", "2"])
        .arg(&stereo)
        .status()?;
    anyhow::ensure!(status.success(), "sox failed");
    let out = Command::new(&python)
        .args([
            client.as_os_str(),
            uri.as_ref(),
            "detect".as_ref(),
            "okay_nabu".as_ref(),
        ])
        .arg(&said)
        .arg(resources.join("no_wake_word.wav"))
        .arg(&stereo)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 3, "{lines:?}");
    for heard in [&lines[0], &lines[2]] {
        assert_eq!(heard["detections"][0]["name"], "okay_nabu", "{heard}");
        let at = heard["detections"][0]["timestamp"].as_u64().unwrap_or(0);
        assert!((1_000..=2_500).contains(&at), "{heard}");
        assert_eq!(heard["not_detected"], false, "{heard}");
    }
    assert_eq!(
        lines[1]["detections"],
        serde_json::json!([]),
        "{}",
        lines[1]
    );
    assert_eq!(lines[1]["not_detected"], true, "{}", lines[1]);
    Ok(())
}

/// Any Wyoming wake server by `wake.uri` (here an `edge-wake` the daemon did not start):
/// the detection is announced the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_wake_server_by_uri_is_used() -> anyhow::Result<()> {
    let port = edge_agent_tests::free_port()?;
    let _server = start_wake_server(port)?;
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let mut setup = DaemonSetup::new(&bus, broker.port);
    setup.extra = format!(
        "[asr]\nenabled = false\n{}uri = \"tcp://127.0.0.1:{port}\"\n",
        wake_config(&dir.path().join("unused"), dir.path())
    );
    setup.stdin_pipe = true;
    let mut daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    let base = format!("edge-agent/{}", daemon.device_id);
    let mut probe = MqttProbe::connect(broker.port, &format!("{base}/events/wake")).await?;
    let status = wait_for_status(&agent, "wake status", |s| s["wake"].is_object()).await?;
    assert_eq!(status["wake"]["state"], "external", "{status}");
    let mut audio = silence(500);
    audio.extend(spoken("okay nabu", "en-us")?);
    audio.extend(silence(1500));
    daemon.write_stdin(&audio)?;
    let wake = probe
        .expect_json(&format!("{base}/events/wake"), |_| true)
        .await
        .map_err(|e| e.context(daemon.log()))?;
    assert_eq!(wake["name"], "okay_nabu", "{wake}");
    Ok(())
}

/// The wake worker killed: the supervisor starts a new one, the listening task reconnects,
/// and the next "okay nabu" is heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_wake_worker_is_replaced_and_heard_again() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let mut setup = DaemonSetup::new(&bus, broker.port);
    setup.extra = format!(
        "[asr]\nenabled = false\n{}",
        wake_config(&cache_dir().join("models/wake"), dir.path())
    );
    setup.stdin_pipe = true;
    let mut daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    let base = format!("edge-agent/{}", daemon.device_id);
    let mut probe = MqttProbe::connect(broker.port, &format!("{base}/events/wake")).await?;
    let ready = wait_for_status(&agent, "wake worker ready", |s| {
        s["wake"]["state"] == "ready"
    })
    .await?;
    let first = ready["wake"]["pid"].as_u64().unwrap_or(0);
    // Streaming, then the worker dies under it.
    daemon.write_stdin(&silence(1000))?;
    wait_for_status(&agent, "streaming to the wake worker", |s| {
        s["listening"]["wake_stream"] == true && s["listening"]["heard_ms"].as_u64() >= Some(1000)
    })
    .await?;
    let killed = Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()?;
    anyhow::ensure!(killed.success(), "kill {first}");
    let replaced = wait_for_status(&agent, "a new wake worker", |s| {
        s["wake"]["state"] == "ready" && s["wake"]["pid"].as_u64().is_some_and(|p| p != first)
    })
    .await?;
    assert!(
        replaced["wake"]["stops"].as_u64().unwrap_or(0) >= 1,
        "{replaced}"
    );
    // The broken stream closes; a new one opens on live audio once its retry delay (2 s)
    // has passed (silence at real time until then), and hears the phrase.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut closed = false;
    loop {
        let listening = status(&agent).await?["listening"].clone();
        closed |= listening["wake_stream"] == false;
        if closed && listening["wake_stream"] == true {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no new wake stream: {listening}"
        );
        daemon.write_stdin(&silence(100))?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut audio = silence(500);
    audio.extend(spoken("okay nabu", "en-us")?);
    audio.extend(silence(1500));
    daemon.write_stdin(&audio)?;
    let wake = probe
        .expect_json(&format!("{base}/events/wake"), |_| true)
        .await?;
    assert_eq!(wake["name"], "okay_nabu", "{wake}");
    Ok(())
}
