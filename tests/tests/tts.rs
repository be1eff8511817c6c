//! Spoken replies through the real daemon: `espeak-ng` as the `[tts]` command, `sh`
//! players that write what they get to a file or block until killed, push-to-talk over
//! D-Bus and MQTT as barge-in.

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, Mosquitto, MqttProbe, WAIT, binary, espeak_wav, say, u32_at,
};
use futures_util::StreamExt as _;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ESPEAK: &str = "/usr/bin/espeak-ng";
const TEMPERATURE: &str = "Set the driver temperature to twenty-two degrees, please.";
const TEMPERATURE_REPLY: &str = "Setting the driver temperature to 22 °C";

struct World {
    bus: DbusDaemon,
    broker: Mosquitto,
    daemon: Daemon,
    agent: Agent1Proxy<'static>,
    dir: tempfile::TempDir,
}

/// A daemon without speech recognition or SLM (not needed here), with `[tts]` made of
/// `tts` (given the world's temporary directory) and a pipe as audio source.
async fn world(tts: impl FnOnce(&Path) -> String) -> anyhow::Result<World> {
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let mut setup = DaemonSetup::new(&bus, broker.port);
    setup.extra = format!(
        "[asr]\nenabled = false\n[slm]\nenabled = false\n[audio]\nsource = \"stdin\"\n[tts]\n{}",
        tts(dir.path())
    );
    setup.stdin_pipe = true;
    let daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    Ok(World {
        bus,
        broker,
        daemon,
        agent,
        dir,
    })
}

fn toml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

async fn tts_status(agent: &Agent1Proxy<'_>) -> anyhow::Result<Value> {
    let json: String = agent.status().await?;
    let status: Value = serde_json::from_str(&json)?;
    Ok(status["tts"].clone())
}

/// Polls the status until `done` holds for its `tts` object; returns that object.
async fn wait_for_tts(
    agent: &Agent1Proxy<'_>,
    what: &str,
    mut done: impl FnMut(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let tts = tts_status(agent).await?;
        if done(&tts) {
            return Ok(tts);
        }
        anyhow::ensure!(Instant::now() < deadline, "never {what}: {tts}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a process exists and is not a zombie.
/// Whether `pid` is still running after a kill had up to 5 s to land (signals are
/// delivered asynchronously; a loaded machine may take a moment).
async fn still_alive(pid: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if Instant::now() > deadline {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

async fn wait_for_pid(path: &Path) -> anyhow::Result<u64> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return Ok(pid);
        }
        anyhow::ensure!(Instant::now() < deadline, "no pid in {}", path.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_to_say_are_spoken_as_a_wav_to_the_player() -> anyhow::Result<()> {
    let played = |dir: &Path| dir.join("played.wav");
    let w = world(|dir| {
        format!(
            "backend = \"command\"\ncommand = [{ESPEAK:?}, \"--stdout\", \"--\", \"{{text}}\"]\nplayer = [\"sh\", \"-c\", \"cat > \\\"$0\\\"\", {}]\nkeep_last_wav = {}\n",
            toml_path(&played(dir)),
            toml_path(&dir.join("last.wav")),
        )
    })
    .await?;
    let idle = tts_status(&w.agent).await?;
    assert_eq!(idle["backend"], "command", "{idle}");
    assert_eq!(idle["state"], "idle", "{idle}");
    assert_eq!(idle["spoken"], 0, "{idle}");

    let mut responses = w.agent.receive_response().await?;
    let outcome = say(&w.agent, TEMPERATURE).await?;
    assert_eq!(outcome["response"], TEMPERATURE_REPLY, "{outcome}");
    // The text still goes out as before.
    let signal = tokio::time::timeout(WAIT, responses.next())
        .await?
        .expect("Response signal");
    let text = signal.args()?.text().to_string();
    assert_eq!(text, TEMPERATURE_REPLY);

    let tts = wait_for_tts(&w.agent, "spoken", |t| t["spoken"] == 1).await?;
    assert_eq!(tts["state"], "idle", "{tts}");
    assert_eq!(tts["failed"], 0, "{tts}");
    assert_eq!(tts["last_error"], Value::Null, "{tts}");

    let wav = std::fs::read(played(w.dir.path()))?;
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(&wav[8..12], b"WAVE");
    assert_eq!(u32_at(&wav, 4) as usize, wav.len() - 8);
    assert_eq!(u32_at(&wav, 24), 22050, "sample rate");
    assert_eq!(u32_at(&wav, 40) as usize, wav.len() - 44, "data size");
    let ms = (wav.len() - 44) as u64 * 1000 / (22050 * 2);
    assert!(ms > 1000, "only {ms} ms of speech");
    // It is the reply that was spoken, and the same WAV was kept.
    assert_eq!(wav, espeak_wav(TEMPERATURE_REPLY)?);
    assert_eq!(std::fs::read(w.dir.path().join("last.wav"))?, wav);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_talk_and_newer_replies_cut_the_reply_off() -> anyhow::Result<()> {
    let pidfile = |dir: &Path| dir.join("player.pid");
    let w = world(|dir| {
        format!(
            "backend = \"command\"\ncommand = [{ESPEAK:?}, \"--stdout\", \"--\", \"{{text}}\"]\nplayer = [\"sh\", \"-c\", \"echo $$ > \\\"$0\\\"; cat > /dev/null; exec sleep 30\", {}]\n",
            toml_path(&pidfile(dir)),
        )
    })
    .await?;
    let pidfile: PathBuf = pidfile(w.dir.path());

    // A reply plays (the player blocks until killed).
    say(&w.agent, TEMPERATURE).await?;
    let first = wait_for_pid(&pidfile).await?;
    let tts = wait_for_tts(&w.agent, "speaking", |t| t["player_pid"] == first).await?;
    assert_eq!(tts["state"], "speaking", "{tts}");
    std::fs::remove_file(&pidfile)?;

    // A newer reply replaces it.
    say(&w.agent, "pause the music").await?;
    let second = wait_for_pid(&pidfile).await?;
    assert_ne!(first, second);
    let tts = wait_for_tts(&w.agent, "speaking again", |t| t["player_pid"] == second).await?;
    assert_eq!(tts["replaced"], 1, "{tts}");
    assert!(
        !still_alive(first).await,
        "the replaced player {first} still runs"
    );
    std::fs::remove_file(&pidfile)?;

    // Push-to-talk over D-Bus: the player is killed at once. (Without a recogniser the
    // call itself fails after that; the barge-in does not depend on it.)
    let pressed = Instant::now();
    let _ = w.agent.start_listening().await;
    let tts = wait_for_tts(&w.agent, "interrupted", |t| t["interrupted"] == 1).await?;
    assert_eq!(tts["state"], "idle", "{tts}");
    assert!(
        !still_alive(second).await,
        "the player {second} still runs after StartListening"
    );
    assert!(pressed.elapsed() < Duration::from_secs(5));

    // Push-to-talk over MQTT does the same.
    say(&w.agent, TEMPERATURE).await?;
    let third = wait_for_pid(&pidfile).await?;
    wait_for_tts(&w.agent, "speaking", |t| t["player_pid"] == third).await?;
    let mqtt = MqttProbe::connect(w.broker.port, "unused/#").await?;
    mqtt.publish(
        &format!("edge-agent/{}/cmd/listen", w.daemon.device_id),
        "start",
    )
    .await?;
    let tts = wait_for_tts(&w.agent, "interrupted over MQTT", |t| t["interrupted"] == 2).await?;
    assert!(
        !still_alive(third).await,
        "the player {third} still runs after cmd/listen start"
    );
    assert_eq!(
        (&tts["spoken"], &tts["replaced"], &tts["failed"]),
        (&Value::from(0), &Value::from(1), &Value::from(0)),
        "{tts}"
    );
    drop(w.bus);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_tts_command_is_reported_and_text_replies_go_on() -> anyhow::Result<()> {
    let w = world(|dir| {
        format!(
            "backend = \"command\"\ncommand = [\"/nonexistent/piper\", \"{{text}}\"]\nplayer = []\nkeep_last_wav = {}\n",
            toml_path(&dir.join("last.wav"))
        )
    })
    .await?;
    let outcome = say(&w.agent, TEMPERATURE).await?;
    assert_eq!(outcome["response"], TEMPERATURE_REPLY);
    let tts = wait_for_tts(&w.agent, "failed", |t| t["failed"] == 1).await?;
    let error = tts["last_error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("cannot run the TTS command `/nonexistent/piper {text}`"),
        "{tts}"
    );
    assert!(!w.dir.path().join("last.wav").exists());
    assert!(
        w.daemon.log().contains("spoken reply failed"),
        "{}",
        w.daemon.log()
    );
    Ok(())
}

fn run_daemon(config: &str) -> anyhow::Result<(i32, String)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config)?;
    let out = Command::new(binary("edge-agentd")?)
        .arg("--config")
        .arg(&path)
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn bad_tts_config_exits_2_naming_the_key() -> anyhow::Result<()> {
    let (code, err) = run_daemon("version = 1\n[tts]\nbackend = \"piper\"\n")?;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config.toml:3:11: tts.backend: unknown variant `piper`"),
        "{err}"
    );

    let (code, err) = run_daemon("version = 1\n[tts]\nbackend = \"wyoming\"\n")?;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("tts.uri: required when tts.backend = \"wyoming\""),
        "{err}"
    );

    let (code, err) = run_daemon(
        "version = 1\n[tts]\nbackend = \"wyoming\"\nuri = \"http://localhost:10200\"\n",
    )?;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("tts.uri: \"http://localhost:10200\" must be tcp://host:port or unix:///path"),
        "{err}"
    );
    Ok(())
}
