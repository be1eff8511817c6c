//! A spoken troubleshooting session: the technician's turns are espeak-ng recordings made
//! at test time, heard by the daemon's own `edge-asr` worker (whisper.cpp, tiny.en), the
//! free-form answer mapped by the real SLM worker, and every reply spoken through the
//! `[tts]` command back end (espeak-ng) to a player that writes the WAV to a file.
//!
//! Whisper tiny.en mishears espeak-ng now and then ("pump free", "travel shoot"); the
//! template tier's near-miss pass recovers many of those. The answers are said as in the
//! text test (dialogue.rs); the opening is not: the phrasings that failed are listed at
//! `OPENING`.

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{
    DemoWorld, MqttProbe, WAIT, asr_model, asr_worker_config, espeak_wav, sessions, signal,
    slm_model, status, u32_at, wear_out_pump_three,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ESPEAK: &str = "/usr/bin/espeak-ng";
/// The station of utterances that name none (`[dialogue] station`, default).
const STATION: &str = "main";

/// What the technician says, turn by turn.
//
// The opening is not the text test's "troubleshoot pump three it is making a strange
// noise": whisper tiny.en hears that espeak-ng recording as "Trumble shoot, pump 3, it is
// making us strange noise." (also with "pump 3" or a comma after "three"); no template
// matches, the SLM tier still picks troubleshoot.start but takes "trumble shoot 3" as the
// symptom, so the skill asks what is wrong instead of checking the vibration. Other
// phrasings that failed the same way (heard as, then no intent from the templates):
// - "help me troubleshoot pump three it is making a strange noise": "Help me, trun'll
//   shoot, pump 3, it is making us strange noise. Help me, trun'll shoot,"
// - "help me fix pump three it is noisy": "Help me fix pump 3 to denoise it."
// - "troubleshoot pump three it is noisy": "Trammel shoot, pump 3, it annoys it."
// - "diagnose pump three it is making a strange noise": "I have no bump, free it is
//   making us strange noise."; "diagnose pump three it is very noisy": "I have no bump,
//   3, it is very noisy."
// "start troubleshooting pump three it is making a strange noise" is heard as "Start
// troubleshooting, pump 3, it is making us strange noise.": the template matches, with
// the symptom "making us strange noise".
const OPENING: &str = "start troubleshooting pump three it is making a strange noise";
const NOISE: &str = "it's kind of squealing";
const GREASED: &str = "yes";
const CONFIRM: &str = "yes";
const SHAFT_PLAY: &str = "no";

const NOISE_QUESTION: &str = "What does the noise sound like: grinding, squealing or knocking?";
const GREASED_QUESTION: &str = "Have the bearings been greased in the last three months?";
const STOP_CONFIRMATION: &str = "Stop pump 3? Say yes to confirm.";

type World = DemoWorld;

fn toml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

fn played(dir: &Path) -> PathBuf {
    dir.join("played.wav")
}

fn kept(dir: &Path) -> PathBuf {
    dir.join("last.wav")
}

/// The demo world (car, plant), with the daemon's own ASR and SLM workers and spoken
/// replies: espeak-ng synthesises, the player writes the WAV to `played.wav`, and the
/// daemon keeps it in `last.wav` too.
async fn world() -> anyhow::Result<World> {
    DemoWorld::start(|mut setup, dir| {
        setup.extra = format!(
            "{}\n[slm]\nmodel = {}\nsocket = {}\nstart_timeout_ms = 120000\nrequest_timeout_ms = 60000\n\n[tts]\nbackend = \"command\"\ncommand = [{ESPEAK:?}, \"--stdout\", \"--\", \"{{text}}\"]\nplayer = [\"sh\", \"-c\", \"cat > \\\"$0\\\"\", {}]\nkeep_last_wav = {}\n",
            asr_worker_config(&asr_model()?, dir),
            toml_path(&slm_model()?),
            toml_path(&dir.join("slm.sock")),
            toml_path(&played(dir)),
            toml_path(&kept(dir)),
        );
        Ok(setup)
    })
    .await
}

/// Waits until the daemon's ASR worker and the SLM worker are ready (until then a skill's
/// `llm.choose` is answered "not ready").
async fn workers_ready(agent: &Agent1Proxy<'_>) -> anyhow::Result<()> {
    edge_agent_tests::wait_for_status(agent, "ASR and SLM workers ready", |s| {
        s["asr"]["state"] == "ready" && edge_agent_tests::slm_ready(s)
    })
    .await?;
    Ok(())
}

/// Polls the status until its `tts` object satisfies `done`; returns that object.
async fn wait_for_tts(
    agent: &Agent1Proxy<'_>,
    what: &str,
    mut done: impl FnMut(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let tts = status(agent).await?["tts"].clone();
        if done(&tts) {
            return Ok(tts);
        }
        anyhow::ensure!(Instant::now() < deadline, "never {what}: {tts}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records `text` with espeak-ng into `dir` (its default voice: 22.05 kHz mono PCM, which
/// the daemon converts).
fn record(dir: &Path, name: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(format!("{name}.wav"));
    let status = Command::new(ESPEAK)
        .arg("-w")
        .arg(&path)
        .arg(text)
        .status()?;
    anyhow::ensure!(status.success(), "espeak-ng -w failed for {text:?}");
    Ok(std::fs::read(&path)?)
}

/// Duration in ms of a RIFF/WAVE file with a canonical 44-byte header, checking that the
/// header is consistent with the file.
fn wav_ms(wav: &[u8]) -> anyhow::Result<u64> {
    anyhow::ensure!(wav.len() > 44, "{} bytes is no WAV", wav.len());
    anyhow::ensure!(
        &wav[0..4] == b"RIFF" && &wav[8..12] == b"WAVE",
        "not RIFF/WAVE"
    );
    anyhow::ensure!(
        &wav[12..16] == b"fmt " && &wav[36..40] == b"data",
        "odd layout"
    );
    anyhow::ensure!(u32_at(wav, 4) as usize == wav.len() - 8, "RIFF size");
    anyhow::ensure!(u32_at(wav, 40) as usize == wav.len() - 44, "data size");
    let byte_rate = u64::from(u32_at(wav, 28));
    anyhow::ensure!(byte_rate > 0, "byte rate 0");
    Ok((wav.len() - 44) as u64 * 1000 / byte_rate)
}

/// One turn: the recording, the outcome, and how long things took.
struct Turn {
    outcome: Value,
    reply_wav: Vec<u8>,
}

/// Says `text` (an espeak-ng recording sent with `Listen`), then waits for the reply to
/// be spoken (the `spoken` counter reaches `turn`); checks the spoken WAV and prints the
/// transcript and the timings.
async fn speak(w: &World, recordings: &Path, turn: u64, text: &str) -> anyhow::Result<Turn> {
    let wav = record(recordings, &format!("turn-{turn}"), text)?;
    let started = Instant::now();
    let json: String = w
        .agent
        .listen(wav.as_slice())
        .await
        .map_err(|e| anyhow::anyhow!("turn {turn} ({text:?}): {e}"))?;
    let listened = started.elapsed();
    let outcome: Value = serde_json::from_str(&json)?;
    let tts = wait_for_tts(&w.agent, &format!("reply {turn} spoken"), |t| {
        t["spoken"].as_u64() >= Some(turn) || t["failed"].as_u64() > Some(0)
    })
    .await?;
    let spoken_after = started.elapsed();
    eprintln!(
        "turn {turn}: said {text:?}\n  heard {:?}\n  reply {:?}\n  audio {} ms, asr {:.0} ms, end to action {:.0} ms, Listen call {} ms, reply spoken after {} ms",
        outcome["transcript"].as_str().unwrap_or_default(),
        outcome["response"].as_str().unwrap_or_default(),
        outcome["audio_ms"],
        outcome["asr_ms"].as_f64().unwrap_or(f64::NAN),
        outcome["end_to_action_ms"].as_f64().unwrap_or(f64::NAN),
        listened.as_millis(),
        spoken_after.as_millis(),
    );
    assert_eq!(tts["spoken"], turn, "turn {turn}: {tts}");
    assert_eq!(tts["failed"], 0, "turn {turn}: {tts}");
    assert_eq!(outcome["origin"], "voice", "{outcome}");
    assert_eq!(outcome["station"], STATION, "{outcome}");

    // The reply was synthesised: the player got a valid WAV of more than a second, the
    // daemon kept the same one, and it is espeak-ng saying exactly the reply.
    let reply_wav = std::fs::read(played(w.dir.path()))?;
    let ms = wav_ms(&reply_wav)?;
    assert!(ms > 1000, "turn {turn}: only {ms} ms of speech");
    assert_eq!(
        std::fs::read(kept(w.dir.path()))?,
        reply_wav,
        "turn {turn}: the kept WAV is not the one played"
    );
    let reply = outcome["response"].as_str().unwrap_or_default();
    assert!(
        reply_wav == espeak_wav(reply)?,
        "turn {turn}: the spoken WAV is not the reply {reply:?}"
    );
    eprintln!("  reply WAV: {} bytes, {ms} ms", reply_wav.len());
    Ok(Turn { outcome, reply_wav })
}

fn response(outcome: &Value) -> &str {
    outcome["response"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_troubleshooting_session_reaches_the_right_conclusion() -> anyhow::Result<()> {
    let setup_started = Instant::now();
    let w = world().await?;
    workers_ready(&w.agent).await?;
    eprintln!(
        "ASR and SLM workers ready after {} ms",
        setup_started.elapsed().as_millis()
    );
    let tts = status(&w.agent).await?["tts"].clone();
    assert_eq!(tts["backend"], "command", "{tts}");
    assert_eq!(tts["spoken"], 0, "{tts}");
    let mut reports = MqttProbe::connect(w.broker.port, "plant/troubleshoot/#").await?;
    wear_out_pump_three(w.broker.port, &w.agent).await?;
    eprintln!(
        "world ready, pump 3 worn out after {} ms",
        setup_started.elapsed().as_millis()
    );
    let recordings = tempfile::tempdir()?;
    let agent = &w.agent;
    let mut previous: Vec<Vec<u8>> = Vec::new();

    // The symptom is in the command; the first step reads the live vibration.
    let first = speak(&w, recordings.path(), 1, OPENING).await?;
    let text = response(&first.outcome);
    assert_eq!(
        first.outcome["intent"], "troubleshoot.start",
        "{}",
        first.outcome
    );
    let prefix = "Let's troubleshoot pump 3: abnormal noise or vibration. Vibration on pump 3 is ";
    assert!(
        text.starts_with(prefix) && text.contains(" mm/s, above the 4.5 alarm level."),
        "{}",
        first.outcome
    );
    let said_vibration: f64 = text[prefix.len()..]
        .split(" mm/s")
        .next()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(said_vibration > 4.5, "{}", first.outcome);
    assert_eq!(
        first.outcome["awaiting"], NOISE_QUESTION,
        "{}",
        first.outcome
    );
    let session_id = first.outcome["session_id"].clone();
    assert!(session_id.is_string(), "{}", first.outcome);
    let open = sessions(agent).await?;
    assert_eq!(open[0]["station"], STATION, "{open}");
    assert_eq!(open[0]["open"]["skill"], "troubleshoot", "{open}");
    previous.push(first.reply_wav);

    // A free-form answer, mapped to the step's choices by the SLM worker.
    let squeal = speak(&w, recordings.path(), 2, NOISE).await?;
    assert_eq!(squeal.outcome["turn"], "answer", "{}", squeal.outcome);
    assert_eq!(
        squeal.outcome["awaiting"], GREASED_QUESTION,
        "{}",
        squeal.outcome
    );
    assert_eq!(squeal.outcome["session_id"], session_id);

    // Yes leads to an action: stopping the pump needs the policy's confirmation first.
    let greased = speak(&w, recordings.path(), 3, GREASED).await?;
    assert!(
        response(&greased.outcome).ends_with(
            "I'll stop Pump 3 so you can check the shaft. Stop pump 3? Say yes to confirm."
        ),
        "{}",
        greased.outcome
    );
    assert_eq!(
        greased.outcome["awaiting"], STOP_CONFIRMATION,
        "{}",
        greased.outcome
    );
    assert_eq!(signal(agent, "Plant.Pump3.State").await?, "running");

    let stopped = speak(&w, recordings.path(), 4, CONFIRM).await?;
    assert_eq!(stopped.outcome["turn"], "confirmed", "{}", stopped.outcome);
    assert_eq!(
        stopped.outcome["action"]["status"], "done",
        "{}",
        stopped.outcome
    );
    assert_eq!(
        response(&stopped.outcome),
        "Done. With the pump stopped, is there play in the shaft when you move it by hand?"
    );
    assert_eq!(signal(agent, "Plant.Pump3.State").await?, "stopped");

    let last = speak(&w, recordings.path(), 5, SHAFT_PLAY).await?;
    assert!(
        response(&last.outcome)
            .starts_with("With tight bearings, a squeal and high vibration point to misalignment.")
            && response(&last.outcome).ends_with("I saved the report."),
        "{}",
        last.outcome
    );
    assert_eq!(last.outcome["awaiting"], Value::Null, "{}", last.outcome);
    assert_eq!(sessions(agent).await?, serde_json::json!([]));

    // Every turn's reply was a new WAV.
    for (i, wav) in [
        &squeal.reply_wav,
        &greased.reply_wav,
        &stopped.reply_wav,
        &last.reply_wav,
    ]
    .into_iter()
    .enumerate()
    {
        assert!(
            previous.last() != Some(wav),
            "reply {} is the same WAV as the one before",
            i + 2
        );
        previous.push(wav.clone());
    }

    // The report on MQTT: the live reading, the answers as heard, the conclusion.
    let report = reports
        .expect_json("plant/troubleshoot/pump-3/report", |_| true)
        .await?;
    eprintln!("report: {report}");
    assert_eq!(report["machine"], "pump-3");
    assert_eq!(report["symptom"], "noise");
    assert_eq!(report["station"], STATION);
    assert_eq!(report["session_id"], session_id);
    assert_eq!(report["conclusion"]["fault"], "misalignment", "{report}");
    let readings = report["readings"].as_array().cloned().unwrap_or_default();
    assert_eq!(readings.len(), 1, "{report}");
    assert_eq!(readings[0]["signal"], "Plant.Pump3.Vibration");
    assert_eq!(readings[0]["alarm"], true);
    let reading = readings[0]["value"].as_f64().unwrap_or(0.0);
    assert!(reading > 4.5, "{report}");
    assert!(
        (reading - said_vibration).abs() < 0.1,
        "the reply said {said_vibration} mm/s, the report has {reading}"
    );
    let answers: Vec<(Value, String, String)> = report["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == "question")
        .map(|s| {
            (
                s["answer"].clone(),
                s["choice"].as_str().unwrap_or("").to_owned(),
                s["mapped_by"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    // The free-form answer is kept as heard; yes and no as the agent understood them.
    let owned = |a: &Value, b: &str, c: &str| (a.clone(), b.to_owned(), c.to_owned());
    assert_eq!(
        answers,
        [
            owned(&squeal.outcome["transcript"], "squealing", "llm"),
            owned(&Value::from("yes"), "yes", "agent"),
            owned(&Value::from("no"), "no", "agent"),
        ],
        "{report}"
    );
    assert!(
        report["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["kind"] == "action" && s["signal"] == "Plant.Pump3.State"),
        "{report}"
    );

    let on_disk: Vec<PathBuf> =
        std::fs::read_dir(w.daemon.state_dir().join("reports/troubleshoot"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
    assert_eq!(on_disk.len(), 1, "{on_disk:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&std::fs::read_to_string(&on_disk[0])?)?,
        report
    );

    // The stop went through the policy's confirmation, like any other write.
    assert_eq!(
        w.daemon.decisions("Plant.Pump3.State"),
        [
            "confirm:Stop pump 3? Say yes to confirm.",
            "confirmed:pending",
            "confirmed:ok",
        ]
    );
    eprintln!(
        "spoken session done in {} ms",
        setup_started.elapsed().as_millis()
    );
    Ok(())
}
