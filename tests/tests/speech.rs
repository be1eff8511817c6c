//! Speech end to end: espeak-ng recordings through the real `edge-asr` worker (whisper.cpp
//! on the provisioned tiny.en model), the daemon, the skills and the simulators; the PyPI
//! Wyoming client against `edge-asr`; an external server by URI; a worker killed mid-request;
//! bad recordings.

use anyhow::Context;
use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{
    DemoWorld, SpokenCommand, Worker, asr_model, asr_worker_config, embedding_config,
    embedding_fitted, free_port, outcome_matches, repo, signal, speech_fixtures, spoken_commands,
    status, tools_python, wait_for_heard, wait_for_status,
};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

type World = DemoWorld;

/// Turns for the tests that load both cores for a minute (the end-to-end run with the
/// encoder's first embedding of every training sentence, the batch run) and those that
/// stream live audio (push-to-talk, continuous listening), so that the live-audio tests
/// measure the daemon, not the neighbours. Side by side, push-to-talk waited for ever about
/// one run in four: a press discarded the frames still queued without counting them as
/// taken, so the test waited for audio the daemon had dropped (found with the test alone
/// beside eight busy loops: 1 hang in 6-14 runs before the fix, 0 in 25 after; see
/// `listening.rs`). The other tests still run beside them.
static TURNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The demo world (car on D-Bus, plant on MQTT, example skills) with speech configured by
/// `asr` (extra TOML; `None` runs the daemon's own worker).
async fn world(asr: Option<String>) -> anyhow::Result<World> {
    world_with(
        |dir| match asr {
            Some(extra) => Ok(extra),
            None => Ok(asr_worker_config(&asr_model()?, dir)),
        },
        false,
    )
    .await
}

/// The demo world with the extra TOML `extra` makes (given the world's temporary
/// directory), and a pipe as the daemon's stdin when `stdin_pipe`.
async fn world_with(
    extra: impl FnOnce(&std::path::Path) -> anyhow::Result<String>,
    stdin_pipe: bool,
) -> anyhow::Result<World> {
    DemoWorld::start(|mut setup, dir| {
        setup.extra = extra(dir)?;
        setup.stdin_pipe = stdin_pipe;
        Ok(setup)
    })
    .await
}

async fn listen(agent: &Agent1Proxy<'_>, wav: &[u8]) -> zbus::Result<Value> {
    let json: String = agent.listen(wav).await?;
    Ok(serde_json::from_str(&json).unwrap_or(Value::Null))
}

/// Waits until the daemon reports its worker ready; returns the worker's pid.
async fn worker_ready(agent: &Agent1Proxy<'_>, not_pid: Option<u64>) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let asr = status(agent).await?["asr"].clone();
        if asr["state"] == "ready"
            && let Some(pid) = asr["pid"].as_u64()
            && Some(pid) != not_pid
        {
            return Ok(pid);
        }
        anyhow::ensure!(Instant::now() < deadline, "worker never ready: {asr}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The signal a recognised plant or climate command must have changed, and its value.
fn expected_state(command: &SpokenCommand) -> Option<(String, Value)> {
    let machine_signal = |state: &str| {
        let machine = command.slots.get("machine")?.as_str()?;
        let (kind, number) = machine.split_once('-')?;
        let mut kind = kind.to_owned();
        kind[..1].make_ascii_uppercase();
        Some((format!("Plant.{kind}{number}.State"), Value::from(state)))
    };
    match command.intent.as_str() {
        "climate.set_temperature" => {
            let zone = match command.slots.get("zone").and_then(Value::as_str) {
                Some("passenger") => "Passenger",
                _ => "Driver",
            };
            Some((
                format!("Vehicle.Cabin.HVAC.Station.Row1.{zone}.Temperature"),
                command.slots.get("celsius")?.clone(),
            ))
        }
        "climate.set_fan" => Some((
            "Vehicle.Cabin.HVAC.FanLevel".into(),
            command.slots.get("level")?.clone(),
        )),
        "climate.ac" => Some((
            "Vehicle.Cabin.HVAC.IsAirConditioningActive".into(),
            Value::from(command.slots.get("state")?.as_str()? == "on"),
        )),
        "equipment.stop" => machine_signal("stopped"),
        _ => None,
    }
}

/// `text` spoken by espeak-ng in the demo's voice (en-us, 160 words a minute), as WAV bytes.
fn demo_voice(text: &str) -> anyhow::Result<Vec<u8>> {
    espeak(text, 160)
}

/// `text` spoken by espeak-ng's en-us voice at `speed` words a minute, as WAV bytes.
fn espeak(text: &str, speed: u32) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("espeak-ng")
        .args([
            "-v",
            "en-us",
            "-s",
            &speed.to_string(),
            "--stdout",
            "--",
            text,
        ])
        .output()?;
    anyhow::ensure!(out.status.success(), "espeak-ng failed for {text:?}");
    let mut wav = out.stdout;
    // espeak-ng writes the sizes of a stream it cannot seek back in as unknown.
    let len = wav.len();
    anyhow::ensure!(len > 44, "espeak-ng wrote {len} bytes");
    wav[4..8].copy_from_slice(&((len - 8) as u32).to_le_bytes());
    wav[40..44].copy_from_slice(&((len - 44) as u32).to_le_bytes());
    Ok(wav)
}

/// Pump 2 was stopped (a write the peer confirmed) and never started: every write to it
/// in the audit log sets "stopped".
fn assert_pump_2_stopped_never_started(w: &World) {
    let writes = audit_entries_with(w, "Plant.Pump2.");
    assert!(
        writes
            .iter()
            .any(|e| e.contains(r#""result":"ok""#) && e.contains(r#""new":"stopped""#)),
        "{writes:?}"
    );
    assert!(
        writes.iter().all(|e| e.contains(r#""new":"stopped""#)),
        "{writes:?}"
    );
}

/// The audit log's entries (every write) that mention `needle`.
fn audit_entries_with(w: &World, needle: &str) -> Vec<String> {
    w.daemon
        .audit()
        .iter()
        .map(|e| e.to_string())
        .filter(|e| e.contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_query_heard_as_something_else_is_asked_about_with_the_known_genre()
-> anyhow::Result<()> {
    let w = world(None).await?;
    worker_ready(&w.agent, None).await?;
    // The demo's "play some jazz": Whisper hears "play some chairs," and is sure of
    // "chairs" (p 0.96), so no doubt rule catches it; the reading held to the media skill's
    // known genres ("play some jazz", 4.7 nats behind) is asked about instead.
    let outcome = listen(&w.agent, &demo_voice("play some jazz")?).await?;
    assert_eq!(outcome["transcript_source"], "known", "{outcome}");
    assert!(
        outcome["free_transcript"]
            .as_str()
            .is_some_and(|t| t.to_lowercase().contains("chairs")),
        "{outcome}"
    );
    assert_eq!(
        outcome["response"], "Did you say: play some jazz? Say yes or no.",
        "{outcome}"
    );
    assert!(outcome["action"].is_null(), "{outcome}");
    let yes = edge_agent_tests::say(&w.agent, "yes").await?;
    assert_eq!(yes["intent"], "media.play", "{yes}");
    assert_eq!(yes["slots"]["query"], "jazz", "{yes}");
    assert_eq!(yes["action"]["status"], "done", "{yes}");
    // The car played jazz, never chairs (the audit log has every write).
    let writes = audit_entries_with(&w, "Media.Play");
    assert!(writes.iter().any(|e| e.contains("jazz")), "{writes:?}");
    assert!(!writes.iter().any(|e| e.contains("chairs")), "{writes:?}");
    // A query heard surely that no genre comes near stays as heard: acted on at once.
    let show = listen(&w.agent, &demo_voice("listen to the morning show")?).await?;
    assert_eq!(show["transcript_source"], "free", "{show}");
    assert_eq!(show["slots"]["query"], "morning show", "{show}");
    assert_eq!(show["action"]["status"], "done", "{show}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_heard_with_its_opposite_nearly_as_likely_is_asked_about() -> anyhow::Result<()> {
    // Without the second listen (below), which settles this recording.
    let w = world_with(
        |dir| Ok(asr_worker_config(&asr_model()?, dir) + "second_listen = false\n"),
        false,
    )
    .await?;
    worker_ready(&w.agent, None).await?;
    // The demo voice's "stop pump two": Whisper writes "Start pump 2," with "Stop" the
    // runner-up at that word (0.3 nats behind on this model). Both are commands of the
    // grammar, so no second pass runs; the rival reading is what catches it.
    let outcome = listen(&w.agent, &demo_voice("stop pump two")?).await?;
    assert_eq!(outcome["transcript_source"], "free", "{outcome}");
    assert!(
        outcome["transcript"]
            .as_str()
            .is_some_and(|t| t.to_lowercase().starts_with("start pump 2")),
        "{outcome}"
    );
    assert_eq!(
        outcome["response"], "Did you say: start pump 2? Say yes or no.",
        "{outcome}"
    );
    assert!(outcome["action"].is_null(), "{outcome}");
    // A no asks about the other reading: said again, the command would be heard the same.
    let no = edge_agent_tests::say(&w.agent, "no").await?;
    assert!(no["action"].is_null(), "{no}");
    assert_eq!(
        no["response"], "Did you say: stop pump 2? Say yes or no.",
        "{no}"
    );
    // Nothing was written to pump 2 (the audit log has every write, by signal).
    let writes = audit_entries_with(&w, "Plant.Pump2.");
    assert!(writes.is_empty(), "{writes:?}");
    // Yes to the other: the stop, through the safety policy's own confirmation.
    let yes = edge_agent_tests::say(&w.agent, "yes").await?;
    assert_eq!(yes["intent"], "equipment.stop", "{yes}");
    assert_eq!(yes["slots"]["machine"], "pump-2", "{yes}");
    assert_eq!(yes["action"]["status"], "confirm", "{yes}");
    let confirmed = edge_agent_tests::say(&w.agent, "yes").await?;
    assert_eq!(confirmed["action"]["status"], "done", "{confirmed}");
    // Pump 2 was stopped, and never started.
    assert_pump_2_stopped_never_started(&w);
    // A command heard without a close rival is acted on at once.
    let three = listen(&w.agent, &demo_voice("stop pump three")?).await?;
    assert_eq!(three["intent"], "equipment.stop", "{three}");
    assert!(
        !three["response"]
            .as_str()
            .is_some_and(|r| r.starts_with("Did you say")),
        "{three}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_torn_between_two_readings_is_settled_by_a_second_listen() -> anyhow::Result<()> {
    let w = world(None).await?;
    worker_ready(&w.agent, None).await?;
    // "stop pump two" at the dev voice set's 140 words a minute: the fitted window hears
    // "Start pump 2," with "Stop" close behind, another command, so the audio is decoded
    // again in Whisper's whole window, which hears "stop pump 2" alone: taken, not asked
    // about. (At the demo's 160 the whole window hears "top pump 2.", no command: the
    // question above stands.)
    let outcome = listen(&w.agent, &espeak("stop pump two", 140)?).await?;
    assert!(
        outcome["first_listen"]
            .as_str()
            .is_some_and(|t| t.to_lowercase().starts_with("start pump 2")),
        "{outcome}"
    );
    assert!(
        outcome["transcript"]
            .as_str()
            .is_some_and(|t| t.to_lowercase().starts_with("stop pump 2")),
        "{outcome}"
    );
    assert_eq!(outcome["intent"], "equipment.stop", "{outcome}");
    assert_eq!(outcome["slots"]["machine"], "pump-2", "{outcome}");
    // A stop still passes the safety policy: its own confirmation, then the write.
    assert_eq!(outcome["action"]["status"], "confirm", "{outcome}");
    let confirmed = edge_agent_tests::say(&w.agent, "yes").await?;
    assert_eq!(confirmed["action"]["status"], "done", "{confirmed}");
    assert_pump_2_stopped_never_started(&w);
    // A command heard without a rival that is another command is not listened to again.
    let three = listen(&w.agent, &demo_voice("stop pump three")?).await?;
    assert_eq!(three["intent"], "equipment.stop", "{three}");
    assert!(three["first_listen"].is_null(), "{three}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_troubleshooting_request_misheard_only_in_its_verb_opens_the_session()
-> anyhow::Result<()> {
    let w = world(None).await?;
    worker_ready(&w.agent, None).await?;
    // The demo voice's "troubleshoot pump one, it is leaking oil": Whisper writes "Travel
    // Shoot, pump 1, ..."; the grammar pass hears "troubleshoot". The two differ in one run
    // that sounds alike, and pump 1 is in both, so the session opens without a question.
    let outcome = listen(
        &w.agent,
        &demo_voice("troubleshoot pump one, it is leaking oil")?,
    )
    .await?;
    assert_eq!(outcome["transcript_source"], "grammar", "{outcome}");
    assert!(
        !outcome["free_transcript"]
            .as_str()
            .is_some_and(|t| t.to_lowercase().starts_with("troubleshoot")),
        "the free pass heard the verb right: {outcome}"
    );
    assert_eq!(outcome["intent"], "troubleshoot.start", "{outcome}");
    assert_eq!(outcome["slots"]["machine"], "pump-1", "{outcome}");
    assert_eq!(outcome["slots"]["symptom"], "leaking oil", "{outcome}");
    assert!(
        !outcome["response"]
            .as_str()
            .is_some_and(|r| r.starts_with("Did you say")),
        "{outcome}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoken_commands_drive_the_simulators_end_to_end() -> anyhow::Result<()> {
    let _turn = TURNS.lock().await;
    let commands = spoken_commands()?;
    anyhow::ensure!(commands.len() >= 40, "only {} recordings", commands.len());
    // As the daemon runs by default: the embedding tier after the templates (a second
    // opinion on grammar-made commands, and paraphrases).
    let w = world_with(
        |dir| {
            Ok(format!(
                "{}\n{}",
                asr_worker_config(&asr_model()?, dir),
                embedding_config(dir, "")?
            ))
        },
        false,
    )
    .await?;
    worker_ready(&w.agent, None).await?;
    embedding_fitted(&w.agent).await?;
    let mut accepted = 0;
    let mut ood_rejected = 0;
    let mut ood = 0;
    let mut state_checked = 0;
    let mut misses = Vec::new();
    let mut acted = Vec::new();
    let mut through_grammar = Vec::new();
    let mut asked = Vec::new();
    let mut corroborated = Vec::new();
    for command in &commands {
        let wav = std::fs::read(&command.wav)?;
        let outcome = match listen(&w.agent, &wav).await {
            Ok(outcome) => outcome,
            // A recording heard as nothing at all is a miss, not a failure of the path.
            Err(e) if e.to_string().contains("NoSpeech") => Value::Null,
            Err(e) => anyhow::bail!("{}: {e}; log:\n{}", command.id, w.daemon.log()),
        };
        if command.intent == "none" {
            ood += 1;
            // Asked about ("Did you say: go to afternoon to you?") is not acted on either.
            let asked_only = outcome["response"]
                .as_str()
                .is_some_and(|r| r.starts_with("Did you say"))
                && outcome["action"].is_null();
            if outcome["intent"] == "none" || outcome.is_null() || asked_only {
                ood_rejected += 1;
            } else {
                misses.push(format!(
                    "{} (out of domain): said {:?}, heard {:?} -> {}",
                    command.id, command.text, outcome["transcript"], outcome["intent"]
                ));
            }
            continue;
        }
        if outcome["response"]
            .as_str()
            .is_some_and(|r| r.starts_with("Did you say"))
        {
            // A free-text slot the recogniser was unsure of: asked, not acted on.
            assert!(outcome["action"].is_null(), "{outcome}");
            asked.push(format!("{}: {}", command.id, outcome["response"]));
        }
        if !outcome_matches(command, &outcome) {
            misses.push(format!(
                "{}: said {:?}, heard {:?} -> {}",
                command.id, command.text, outcome["transcript"], outcome["intent"]
            ));
            continue;
        }
        accepted += 1;
        if outcome["transcript_corroborated"] == true {
            // A grammar-made command with free text that the free transcript named too:
            // acted on without asking first.
            assert_eq!(outcome["transcript_source"], "grammar", "{outcome}");
            assert!(
                !outcome["response"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("Did you say")),
                "{outcome}"
            );
            corroborated.push(format!(
                "{}: {:?} (free: {:?})",
                command.id, outcome["transcript"], outcome["free_transcript"]
            ));
        }
        if outcome["transcript_source"] == "grammar" {
            // Heard right only by the pass biased toward the skills' grammar.
            assert!(outcome["free_transcript"].is_string(), "{outcome}");
            through_grammar.push(format!(
                "{}: {:?} (free: {:?})",
                command.id, outcome["transcript"], outcome["free_transcript"]
            ));
        }
        assert_eq!(outcome["origin"], "voice", "{outcome}");
        assert!(outcome["end_to_action_ms"].as_f64().is_some(), "{outcome}");
        if let Some((path, want)) = expected_state(command)
            && outcome["action"]["status"] == "done"
        {
            let got = signal(&w.agent, &path).await?;
            assert_eq!(
                got.as_f64()
                    .map(|g| g.to_string())
                    .unwrap_or(got.to_string()),
                want.as_f64()
                    .map(|g| g.to_string())
                    .unwrap_or(want.to_string()),
                "{}: {path} after {:?}",
                command.id,
                command.text
            );
            state_checked += 1;
            acted.push((
                outcome["utterance_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                outcome.clone(),
            ));
        }
    }
    let in_domain = commands.len() - ood;
    let rate = accepted as f64 / in_domain as f64;
    eprintln!(
        "speech end to end: {accepted}/{in_domain} commands accepted ({:.1}%), {ood_rejected}/{ood} out-of-domain rejected, {state_checked} simulator states checked\nthrough the grammar pass:\n{}\nof them named by the free transcript too:\n{}\nasked about:\n{}\nmisses:\n{}",
        rate * 100.0,
        through_grammar.join("\n"),
        corroborated.join("\n"),
        asked.join("\n"),
        misses.join("\n")
    );
    // Floor under the measured 97% (q8_0 model with the entity-name prompt, the grammar
    // pass, near-miss pass; docs/BENCHMARKS.md); espeak-ng voices are misheard the same way
    // by faster-whisper.
    assert!(
        rate >= 0.75,
        "command acceptance {:.1}% fell below 75%",
        rate * 100.0
    );
    // The grammar pass measurably recovers commands the free transcript lost (8 of 64 on
    // this set when it was chosen).
    assert!(
        through_grammar.len() >= 3,
        "only {} commands recovered by the grammar pass",
        through_grammar.len()
    );
    // A destination or symptom the grammar pass restored is acted on when the free
    // transcript, understood on its own, is the same command (3 on this set in
    // `edge-agentctl nlu`: "take me to the airport", "navigate to munich central station",
    // "troubleshoot pump one it is leaking oil").
    assert!(
        !corroborated.is_empty(),
        "no grammar-made command with free text was corroborated by the free transcript"
    );
    // Free-text slots heard with a word the recogniser doubted are asked about (2 on this
    // set: "play some jazz", and "navigate to the office" heard as "... to turn it off").
    assert!(
        !asked.is_empty(),
        "no doubtful free-text slot was asked about"
    );
    assert_eq!(
        ood_rejected, ood,
        "an out-of-domain recording became an action"
    );
    assert!(
        state_checked >= 3,
        "only {state_checked} simulator states checked"
    );
    // Every spoken command that wrote a signal is in the audit log under its utterance id.
    let audit = w.daemon.audit();
    for (id, outcome) in &acted {
        assert!(
            audit.iter().any(|e| e.to_string().contains(id.as_str())),
            "utterance {id} acted but is not audited: {outcome}\naudit: {audit:?}"
        );
    }
    assert!(!acted.is_empty());
    Ok(())
}

fn start_asr_server(port: u16) -> anyhow::Result<Worker> {
    Worker::start(
        "edge-asr",
        &[
            "--model".into(),
            asr_model()?.into_os_string(),
            "--listen".into(),
            format!("tcp://127.0.0.1:{port}").into(),
        ] as &[std::ffi::OsString],
    )
}

#[test]
fn wyoming_client_from_pypi_transcribes_through_edge_asr() -> anyhow::Result<()> {
    let port = free_port()?;
    let _server = start_asr_server(port)?;
    let python = tools_python()?;
    let client = repo().join("tests/speech/wyoming_client.py");
    let uri = format!("tcp://127.0.0.1:{port}");

    let out = Command::new(&python)
        .arg(&client)
        .arg(&uri)
        .arg("describe")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "describe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(info["asr"][0]["name"], "edge-asr", "{info}");
    assert_eq!(info["asr"][0]["models"][0]["languages"][0], "en", "{info}");

    // Several requests over one connection, plus a convertible 44.1 kHz stereo file.
    let commands = spoken_commands()?;
    let fixtures = speech_fixtures()?;
    let wavs = [
        commands[0].wav.clone(),
        commands[8].wav.clone(),
        fixtures.join("bad/stereo-44k.wav"),
        fixtures.join("bad/silence.wav"),
    ];
    let out = Command::new(&python)
        .arg(&client)
        .arg(&uri)
        .arg("transcribe")
        .args(&wavs)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "transcribe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 4, "{lines:?}");
    let text = |i: usize| lines[i]["text"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        text(0).contains("temperature") && text(0).contains("22"),
        "{:?}",
        lines[0]
    );
    assert!(text(1).contains("fan"), "{:?}", lines[1]);
    assert!(text(2).contains("temperature"), "{:?}", lines[2]);
    assert_eq!(
        text(3),
        "",
        "silence must give an empty transcript: {:?}",
        lines[3]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_model_keeps_speech_off_and_says_why_while_text_works() -> anyhow::Result<()> {
    let model = std::fs::read(asr_model()?)?;
    let w = world_with(
        |dir| {
            // Half the file: the header reads, the tensors end early.
            let truncated = dir.join("ggml-truncated.bin");
            std::fs::write(&truncated, &model[..model.len() / 2])?;
            Ok(asr_worker_config(&truncated, dir)
                .replace("request_timeout_ms = 20000", "request_timeout_ms = 3000"))
        },
        false,
    )
    .await?;
    // The worker fails to load and is retried with backoff; the status says why.
    let deadline = Instant::now() + Duration::from_secs(30);
    let asr = loop {
        let asr = status(&w.agent).await?["asr"].clone();
        if asr["restarts"].as_u64().is_some_and(|r| r >= 1) {
            break asr;
        }
        anyhow::ensure!(Instant::now() < deadline, "no restart reported: {asr}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(asr["state"], "ready", "{asr}");
    // A spoken command fails with a clear error; typed commands work on.
    let commands = spoken_commands()?;
    let err = listen(&w.agent, &std::fs::read(&commands[0].wav)?)
        .await
        .expect_err("no speech worker");
    assert!(err.to_string().contains("speech worker"), "{err}");
    let said: String = w.agent.say("set the fan to level 4").await?;
    let said: Value = serde_json::from_str(&said)?;
    assert_eq!(said["action"]["status"], "done", "{said}");
    assert!(
        w.daemon.log().contains("ggml-truncated.bin"),
        "the log names the model"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_worker_times_the_request_out_and_is_replaced() -> anyhow::Result<()> {
    // A worker that stops answering (SIGSTOP: alive, connected, silent).
    let w = world_with(
        |dir| {
            Ok(asr_worker_config(&asr_model()?, dir)
                .replace("request_timeout_ms = 20000", "request_timeout_ms = 3000"))
        },
        false,
    )
    .await?;
    let pid = worker_ready(&w.agent, None).await?;
    let stopped = Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()?;
    assert!(stopped.success());
    let commands = spoken_commands()?;
    let wav = std::fs::read(&commands[0].wav)?;
    let err = listen(&w.agent, &wav)
        .await
        .expect_err("a silent worker cannot answer");
    assert!(
        err.to_string().contains("did not answer within 3s"),
        "{err}"
    );
    // Its health checks fail; the supervisor kills it and starts another.
    let new_pid = worker_ready(&w.agent, Some(pid)).await?;
    assert_ne!(new_pid, pid);
    let outcome = listen(&w.agent, &wav).await?;
    assert!(outcome_matches(&commands[0], &outcome), "{outcome}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_uses_an_external_wyoming_server_by_uri() -> anyhow::Result<()> {
    let port = free_port()?;
    let _server = start_asr_server(port)?;
    let w = world(Some(format!("[asr]\nuri = \"tcp://127.0.0.1:{port}\"\n"))).await?;
    let asr = status(&w.agent).await?["asr"].clone();
    assert_eq!(asr["state"], "external", "{asr}");
    let commands = spoken_commands()?;
    let outcome = listen(&w.agent, &std::fs::read(&commands[0].wav)?).await?;
    assert!(outcome_matches(&commands[0], &outcome), "{outcome}");
    assert_eq!(
        signal(
            &w.agent,
            "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
        )
        .await?
        .as_f64(),
        Some(22.0)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_request_fails_that_request_clearly_and_is_restarted()
-> anyhow::Result<()> {
    let w = world(None).await?;
    let pid = worker_ready(&w.agent, None).await?;
    // About 25 s of speech keeps the worker busy long enough to be killed mid-decode.
    let commands = spoken_commands()?;
    let mut pcm = Vec::new();
    for command in commands.iter().cycle().take(12) {
        let wav = std::fs::read(&command.wav)?;
        pcm.extend_from_slice(&wav[44..]);
    }
    let long = wav_bytes(&pcm);
    let agent = w.agent.clone();
    let idle = edge_agent_tests::proc_cpu_ticks(pid);
    let request = tokio::spawn(async move { listen(&agent, &long).await });
    // Killed once it is decoding (it has used a fifth of a second of CPU on this request),
    // however slow the machine is to get there.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while edge_agent_tests::proc_cpu_ticks(pid) < idle + 20 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the worker never started decoding"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()?;
    assert!(killed.success());
    let err = request.await?.expect_err("the request must fail");
    assert!(
        err.to_string()
            .contains("closed the connection during the request"),
        "{err}"
    );
    let new_pid = worker_ready(&w.agent, Some(pid)).await?;
    assert_ne!(new_pid, pid);
    assert!(status(&w.agent).await?["asr"]["state"] == "ready");
    let outcome = listen(&w.agent, &std::fs::read(&commands[0].wav)?).await?;
    assert!(outcome_matches(&commands[0], &outcome), "{outcome}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_is_trimmed_to_its_speech_before_decoding() -> anyhow::Result<()> {
    let w = world(None).await?;
    worker_ready(&w.agent, None).await?;
    let commands = spoken_commands()?;
    let command = &commands[0];
    let wav = std::fs::read(&command.wav)?;
    // Four seconds of silence on either side, as an upload from a push-to-talk button
    // held too long would have.
    let silence = vec![0u8; 16_000 * 2 * 4];
    let padded = wav_bytes(&[&silence[..], &wav[44..], &silence[..]].concat());
    let outcome = listen(&w.agent, &padded).await?;
    assert!(outcome_matches(command, &outcome), "{outcome}");
    let audio_ms = outcome["audio_ms"].as_u64().unwrap_or_default();
    let speech_ms = outcome["speech_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(audio_ms >= 8_000, "{outcome}");
    assert!(
        speech_ms + 6_000 < audio_ms,
        "the silence was decoded: {speech_ms} of {audio_ms} ms"
    );
    Ok(())
}

fn wav_bytes(pcm: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pcm.len() + 44);
    let len = pcm.len() as u32;
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&32_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(pcm);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_recordings_get_clear_errors_and_the_daemon_carries_on() -> anyhow::Result<()> {
    let w = world(None).await?;
    worker_ready(&w.agent, None).await?;
    let bad = speech_fixtures()?.join("bad");
    for (file, expected) in [
        ("empty.wav", "empty file (0 bytes)"),
        ("truncated.wav", "truncated"),
        ("not-a-wav.wav", "not a WAV file"),
    ] {
        let err = listen(&w.agent, &std::fs::read(bad.join(file))?)
            .await
            .expect_err(file);
        let text = err.to_string();
        assert!(
            text.contains("InvalidInput") && text.contains(expected),
            "{file}: {text}"
        );
    }
    // Silence is no command, never a hallucinated one.
    let err = listen(&w.agent, &std::fs::read(bad.join("silence.wav"))?)
        .await
        .expect_err("silence");
    assert!(err.to_string().contains("NoSpeech"), "{err}");
    // Float and 44.1 kHz stereo recordings are converted, not refused.
    for file in ["float32.wav", "stereo-44k.wav"] {
        let outcome = listen(&w.agent, &std::fs::read(bad.join(file))?).await?;
        assert!(
            outcome["transcript"]
                .as_str()
                .is_some_and(|t| t.to_lowercase().contains("temperature")),
            "{file}: {outcome}"
        );
    }
    // Still serving.
    let commands = spoken_commands()?;
    let outcome = listen(&w.agent, &std::fs::read(&commands[0].wav)?).await?;
    assert!(outcome_matches(&commands[0], &outcome), "{outcome}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_agentctl_listen_prints_transcript_intent_and_response() -> anyhow::Result<()> {
    let w = world(None).await?;
    worker_ready(&w.agent, None).await?;
    let commands = spoken_commands()?;
    let (code, stdout, stderr) = edge_agent_tests::ctl(&[
        "--bus",
        "address",
        "--address",
        &w.bus.address,
        "listen",
        &commands[0].wav.display().to_string(),
    ])?;
    assert_eq!(code, 0, "{stderr}");
    let outcome: Value = serde_json::from_str(stdout.trim())?;
    assert!(outcome["transcript"].as_str().is_some(), "{outcome}");
    assert_eq!(outcome["intent"], "climate.set_temperature", "{outcome}");
    assert!(
        outcome["response"]
            .as_str()
            .is_some_and(|r| r.contains("22")),
        "{outcome}"
    );
    let (code, _, stderr) = edge_agent_tests::ctl(&[
        "--bus",
        "address",
        "--address",
        &w.bus.address,
        "listen",
        "/nonexistent.wav",
    ])?;
    assert_ne!(code, 0);
    assert!(stderr.contains("/nonexistent.wav"), "{stderr}");
    Ok(())
}

/// A live-audio world: the daemon reads 16 kHz PCM from a pipe on its stdin.
async fn live_world(mode: &str) -> anyhow::Result<(World, edge_agent_tests::MqttProbe)> {
    let world = world_with(
        |dir| {
            Ok(format!(
                "{}[audio]\nsource = \"stdin\"\nmode = \"{mode}\"\ntrailing_silence_ms = 600\n",
                asr_worker_config(&asr_model()?, dir)
            ))
        },
        true,
    )
    .await?;
    let probe =
        edge_agent_tests::MqttProbe::connect(world.broker.port, &world.daemon.topics().intent())
            .await?;
    worker_ready(&world.agent, None).await?;
    Ok((world, probe))
}

fn pcm_of(command: &SpokenCommand) -> anyhow::Result<Vec<u8>> {
    let wav = std::fs::read(&command.wav)?;
    Ok(wav[44..].to_vec())
}

fn silence(ms: usize) -> Vec<u8> {
    vec![0; ms * 32]
}

/// The next spoken command's outcome; the daemon's log when none comes.
async fn voice_outcome(
    probe: &mut edge_agent_tests::MqttProbe,
    topic: &str,
    w: &World,
) -> anyhow::Result<serde_json::Value> {
    probe
        .expect_json(topic, |o| o["origin"] == "voice")
        .await
        .with_context(|| format!("no spoken outcome; daemon log:\n{}", w.daemon.log()))
}

/// A pause before the command, ms.
const LEAD_MS: usize = 2500;

fn write_audio(w: &mut World, pcm: &[u8]) -> anyhow::Result<()> {
    w.daemon.write_stdin(pcm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_listening_ends_each_command_by_trailing_silence() -> anyhow::Result<()> {
    let _turn = TURNS.lock().await;
    let (mut w, mut probe) = live_world("continuous").await?;
    let commands = spoken_commands()?;
    let (first, second) = (&commands[0], &commands[9]);
    let topic = w.daemon.topics().intent();
    let mut audio = silence(800);
    audio.extend(pcm_of(first)?);
    audio.extend(silence(1500));
    audio.extend(pcm_of(second)?);
    audio.extend(silence(1500));
    write_audio(&mut w, &audio)?;
    let one = probe
        .expect_json(&topic, |o| o["origin"] == "voice")
        .await?;
    assert!(outcome_matches(first, &one), "{one}");
    let two = probe
        .expect_json(&topic, |o| o["origin"] == "voice")
        .await?;
    assert!(outcome_matches(second, &two), "{two}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_talk_over_dbus_and_mqtt() -> anyhow::Result<()> {
    let _turn = TURNS.lock().await;
    let (mut w, mut probe) = live_world("push-to-talk").await?;
    let commands = spoken_commands()?;
    let topic = w.daemon.topics().intent();
    // Audio before the button is pressed is not a command.
    write_audio(&mut w, &pcm_of(&commands[13])?)?;
    write_audio(&mut w, &silence(1000))?;
    wait_for_heard(&w.agent, w.daemon.stdin_ms()).await?;

    // D-Bus: pressed, then the endpointer ends the command after trailing silence.
    let state: String = w.agent.start_listening().await?;
    assert!(state.contains("\"listening\":true"), "{state}");
    let mut audio = pcm_of(&commands[0])?;
    audio.extend(silence(1200));
    write_audio(&mut w, &audio)?;
    let heard = voice_outcome(&mut probe, &topic, &w).await?;
    assert!(outcome_matches(&commands[0], &heard), "{heard}");

    // MQTT: pressed and released around the command.
    let mqtt = edge_agent_tests::MqttProbe::connect(w.broker.port, "unused/#").await?;
    let listen = format!("edge-agent/{}/cmd/listen", w.daemon.device_id);
    mqtt.publish(&listen, "start").await?;
    wait_for_status(&w.agent, "listening after cmd/listen start", |s| {
        s["listening"]["listening"] == true
    })
    .await?;
    // A pause after pressing, as people do: the silence before the speech is not decoded.
    let mut audio = silence(LEAD_MS);
    audio.extend(pcm_of(&commands[9])?);
    write_audio(&mut w, &audio)?;
    wait_for_heard(&w.agent, w.daemon.stdin_ms()).await?;
    mqtt.publish(&listen, "stop").await?;
    let heard = voice_outcome(&mut probe, &topic, &w).await?;
    assert!(outcome_matches(&commands[9], &heard), "{heard}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_listening_without_a_source_is_a_clear_error() -> anyhow::Result<()> {
    let w = world(None).await?;
    let err = w.agent.start_listening().await.expect_err("no source");
    assert!(
        err.to_string().contains("audio.source is \"none\""),
        "{err}"
    );
    Ok(())
}

/// `edge-agentctl nlu` on `jsonl` with the example skills and its own edge-asr worker.
fn nlu_with_asr(jsonl: &std::path::Path, extra: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let (jsonl, skills, model) = (
        jsonl.display().to_string(),
        repo().join("skills").display().to_string(),
        asr_model()?.display().to_string(),
    );
    let mut args = vec![
        "nlu",
        "--jsonl",
        &jsonl,
        "--skills",
        &skills,
        "--asr-model",
        &model,
    ];
    args.extend_from_slice(extra);
    edge_agent_tests::ctl(&args)
}

#[test]
fn nlu_batch_transcribes_wav_lines_and_reports_word_error_rate() -> anyhow::Result<()> {
    let _turn = TURNS.blocking_lock();
    let commands = spoken_commands()?;
    let dir = tempfile::tempdir()?;
    let jsonl = dir.path().join("recordings.jsonl");
    let mut lines = String::new();
    for command in commands.iter().take(4) {
        lines.push_str(&serde_json::to_string(&serde_json::json!({
            "wav": command.wav,
            "text": command.text,
            "intent": command.intent,
            "slots": command.slots,
        }))?);
        lines.push('\n');
    }
    // A recording line without a reference transcript, next to a text line.
    lines.push_str(&format!(
        "{{\"wav\": {:?}}}\n",
        commands[8].wav.display().to_string()
    ));
    lines.push_str("{\"text\": \"open all windows\", \"intent\": \"window.set\", \"slots\": {\"position\": \"open\", \"window\": \"all\"}}\n");
    std::fs::write(&jsonl, lines)?;
    let (code, stdout, stderr) = nlu_with_asr(&jsonl, &[])?;
    assert_eq!(code, 0, "{stderr}");
    let out: Vec<Value> = stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(out.len(), 6, "{stdout}");
    assert_eq!(out[0]["reference"], commands[0].text.as_str());
    assert!(out[0]["asr_ms"].as_f64().is_some(), "{}", out[0]);
    // The recogniser's CPU for the recording: the encoder alone costs tens of ms.
    let cpu = out[0]["asr_cpu_ms"].as_f64().unwrap_or(0.0);
    assert!(cpu > 10.0, "{}", out[0]);
    assert_eq!(out[0]["intent"], "climate.set_temperature", "{}", out[0]);
    assert!(out[5].get("wav").is_none());
    assert!(
        stderr.contains("speech: 5 recordings, word error rate")
            && stderr.contains("recogniser CPU per recording mean"),
        "{stderr}"
    );

    // With --expect (every line labelled): accuracy and acceptance beside the WER.
    let labelled = dir.path().join("labelled.jsonl");
    let text = std::fs::read_to_string(&jsonl)?;
    let kept: Vec<&str> = text.lines().filter(|l| l.contains("\"intent\"")).collect();
    std::fs::write(&labelled, kept.join("\n"))?;
    let (code, _, stderr) = nlu_with_asr(&labelled, &["--expect"])?;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("ALL") && stderr.contains("word error rate"),
        "{stderr}"
    );
    Ok(())
}
