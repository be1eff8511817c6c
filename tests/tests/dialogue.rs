//! Conversations: the policy's confirmations (accepted, refused, timed out, superseded, per
//! station), and a technician's troubleshooting session on the plant simulator with an
//! injected fault: live readings, free-form answers mapped by the real SLM worker, a write
//! gated by a confirmation, cancel in the middle, and the report on MQTT and on disk.

use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, DemoWorld, Mosquitto, MqttProbe, Worker, embedding_config,
    embedding_fitted, say_at, sessions, signal, slm_model, wear_out_pump_three,
};
use serde_json::Value;

const PANEL: &str = "pump-3-panel";

type World = DemoWorld;

/// The demo world; `slm` runs the SLM worker too; `extra` is more configuration.
async fn world(slm: bool, extra: &str) -> anyhow::Result<World> {
    let dir = tempfile::tempdir()?;
    let slm_config = if slm {
        format!(
            "[slm]\nmodel = {:?}\nsocket = {:?}\nstart_timeout_ms = 120000\nrequest_timeout_ms = 60000\n",
            slm_model()?.display().to_string(),
            dir.path().join("slm.sock").display().to_string(),
        )
    } else {
        "[slm]\nenabled = false\n".to_owned()
    };
    let w = world_in(dir, &format!("{slm_config}\n{extra}")).await?;
    if slm {
        // The skills' `llm.choose` is answered "not ready" until then.
        edge_agent_tests::slm_prompts_cached(&w.agent).await?;
    }
    Ok(w)
}

/// The demo world in `dir`, speech off, with `extra` configuration (its own `[slm]`).
async fn world_in(dir: tempfile::TempDir, extra: &str) -> anyhow::Result<World> {
    let mut w = DemoWorld::with_extra(&format!("[asr]\nenabled = false\n\n{extra}")).await?;
    // Files `extra` names (sockets) are in `dir`: it lives as long as the world.
    w.dir = dir;
    Ok(w)
}

fn response(outcome: &Value) -> &str {
    outcome["response"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_are_per_station_and_settled_by_yes_no_timeout_or_a_new_command()
-> anyhow::Result<()> {
    // Long enough that the steps before each answer never let a question expire on a
    // loaded machine (several daemons fitting encoders beside this one); the last step
    // waits it out.
    let w = world(false, "[policy]\nconfirmation_timeout_secs = 5\n").await?;
    let device = w.daemon.topics();
    let mut events = MqttProbe::connect(w.broker.port, &device.all()).await?;
    let agent = &w.agent;

    // Accepted, from the station that was asked.
    let asked = say_at(agent, PANEL, "start pump two").await?;
    assert_eq!(response(&asked), "Start pump 2? Say yes to confirm.");
    assert_eq!(
        asked["awaiting"], "Start pump 2? Say yes to confirm.",
        "{asked}"
    );
    assert_eq!(asked["station"], PANEL);
    let open = sessions(agent).await?;
    assert_eq!(open[0]["station"], PANEL, "{open}");
    assert_eq!(open[0]["open"]["kind"], "confirmation", "{open}");
    // A yes from another station confirms nothing.
    let elsewhere = say_at(agent, "cabin", "yes").await?;
    assert_eq!(response(&elsewhere), "There is nothing to confirm.");
    assert_eq!(signal(agent, "Plant.Pump2.State").await?, "stopped");
    // Neither yes nor no: asked again, still open.
    let unclear = say_at(agent, PANEL, "purple elephants").await?;
    assert_eq!(
        response(&unclear),
        "Please say yes or no. Start pump 2? Say yes to confirm."
    );
    let yes = say_at(agent, PANEL, "yes please").await?;
    assert_eq!(yes["turn"], "confirmed", "{yes}");
    assert_eq!(yes["action"]["status"], "done", "{yes}");
    assert_eq!(response(&yes), "Starting pump 2");
    assert_eq!(sessions(agent).await?, serde_json::json!([]));

    // Refused.
    say_at(agent, PANEL, "stop pump two").await?;
    let no = say_at(agent, PANEL, "no").await?;
    assert_eq!(
        (no["turn"].as_str(), response(&no)),
        (Some("declined"), "Okay, I won't.")
    );

    // Superseded by another command: the later yes confirms nothing.
    say_at(agent, PANEL, "stop pump two").await?;
    let other = say_at(agent, PANEL, "what's the status of pump one").await?;
    assert_eq!(other["intent"], "equipment.status", "{other}");
    assert_eq!(other["awaiting"], Value::Null, "{other}");
    assert_eq!(
        response(&say_at(agent, PANEL, "yes").await?),
        "There is nothing to confirm."
    );

    // Timed out: the agent closes the question by itself, without another utterance (the
    // event comes from the sweep, not from a turn).
    say_at(agent, PANEL, "stop pump two").await?;
    let session_topic = device.session();
    let expired = events
        .expect_json(&session_topic, |v| v["reason"] == "expired")
        .await?;
    assert_eq!(expired["station"], PANEL, "{expired}");
    assert_eq!(expired["question"], "Stop pump 2? Say yes to confirm.");
    assert_eq!(
        response(&say_at(agent, PANEL, "yes").await?),
        "There is nothing to confirm."
    );
    assert_eq!(signal(agent, "Plant.Pump2.State").await?, "running");

    // Every step is in the audit log.
    assert_eq!(
        w.daemon.decisions("Plant.Pump2.State"),
        [
            "confirm:Start pump 2? Say yes to confirm.",
            "confirmed:pending",
            "confirmed:ok",
            "confirm:Stop pump 2? Say yes to confirm.",
            "declined:declined",
            "confirm:Stop pump 2? Say yes to confirm.",
            "declined:superseded",
            "confirm:Stop pump 2? Say yes to confirm.",
            "declined:expired",
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_ends_on_cancel_and_on_timeout() -> anyhow::Result<()> {
    // Long enough for the steps between a question and its answer on a loaded machine.
    let w = world(false, "[dialogue]\nfollow_up_timeout_secs = 5\n").await?;
    let device = w.daemon.topics();
    let mut events = MqttProbe::connect(w.broker.port, &device.all()).await?;
    let agent = &w.agent;

    // A slot value as the answer: the machine, read by the template tier's entity reader.
    let which = say_at(agent, PANEL, "start troubleshooting").await?;
    assert_eq!(
        which["awaiting"], "Which machine? For example, pump three.",
        "{which}"
    );
    let open = sessions(agent).await?;
    assert_eq!(
        open[0]["open"]["expect"],
        serde_json::json!({"kind": "value", "type": "machine"}),
        "{open}"
    );
    let asked = say_at(agent, PANEL, "pump one").await?;
    assert_eq!(asked["turn"], "answer", "{asked}");
    assert_eq!(
        asked["awaiting"],
        "What is wrong with pump 1: no pressure, abnormal noise or vibration, or overheating?",
        "{asked}"
    );
    say_at(agent, PANEL, "never mind").await?;

    let asked = say_at(agent, PANEL, "troubleshoot pump one").await?;
    assert_eq!(
        asked["awaiting"],
        "What is wrong with pump 1: no pressure, abnormal noise or vibration, or overheating?",
        "{asked}"
    );
    let open = sessions(agent).await?;
    assert_eq!(open[0]["open"]["kind"], "follow-up", "{open}");
    assert_eq!(open[0]["open"]["skill"], "troubleshoot", "{open}");
    let retained = events
        .expect_json(&device.sessions(), |v| {
            v.as_array().is_some_and(|a| !a.is_empty())
        })
        .await?;
    assert_eq!(retained[0]["station"], PANEL, "{retained}");

    let cancelled = say_at(agent, PANEL, "never mind").await?;
    assert_eq!(cancelled["turn"], "cancelled", "{cancelled}");
    assert_eq!(response(&cancelled), "Okay, cancelled.");
    assert_eq!(sessions(agent).await?, serde_json::json!([]));
    events
        .expect_json(&device.session(), |v| {
            v["reason"] == "cancelled" && v["station"] == PANEL
        })
        .await?;

    // The other machine types' trees: a press that is not running concludes at once; a
    // conveyor is checked (guard, motor temperature) before the technician is asked.
    let press = say_at(agent, PANEL, "troubleshoot press one").await?;
    assert!(
        response(&press).starts_with("Let's troubleshoot press 1: a hydraulic fault. The state of press 1 is stopped. Press 1 is not running.")
            && response(&press).ends_with("I saved the report."),
        "{press}"
    );
    assert_eq!(press["awaiting"], Value::Null, "{press}");
    let conveyor = say_at(agent, PANEL, "what's wrong with conveyor one").await?;
    assert!(
        response(&conveyor).starts_with("Let's troubleshoot conveyor 1: it keeps stopping. The guard of conveyor 1 is closed. Motor temperature on conveyor 1 is "),
        "{conveyor}"
    );
    assert_eq!(
        conveyor["awaiting"],
        "When it stops, is the belt jammed or heavily loaded?"
    );
    let jam = say_at(agent, PANEL, "yes").await?;
    assert!(
        response(&jam).starts_with("Clear the jam and check the belt tracking"),
        "{jam}"
    );

    // Unanswered, the question closes by itself.
    say_at(agent, PANEL, "troubleshoot pump one").await?;
    events
        .expect_json(&device.session(), |v| v["reason"] == "expired")
        .await?;
    assert_eq!(sessions(agent).await?, serde_json::json!([]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technician_troubleshoots_a_pump_with_worn_bearings() -> anyhow::Result<()> {
    let w = world(true, "").await?;
    let agent = &w.agent;
    let mut reports = MqttProbe::connect(w.broker.port, "plant/troubleshoot/#").await?;
    wear_out_pump_three(w.broker.port, &w.agent).await?;

    // The symptom is in the command; the first step reads the live vibration.
    let first = say_at(
        agent,
        PANEL,
        "troubleshoot pump three it is making a strange noise",
    )
    .await?;
    let text = response(&first);
    assert!(
        text.starts_with(
            "Let's troubleshoot pump 3: abnormal noise or vibration. Vibration on pump 3 is "
        ) && text.contains("mm/s, above the 4.5 alarm level."),
        "{first}"
    );
    assert_eq!(
        first["awaiting"], "What does the noise sound like: grinding, squealing or knocking?",
        "{first}"
    );
    let session_id = first["session_id"].clone();

    // Another skill's command in the middle is answered; the question stays open.
    let aside = say_at(agent, PANEL, "what is the temperature of pump three").await?;
    assert_eq!(aside["intent"], "equipment.read_sensor", "{aside}");
    assert!(
        response(&aside).starts_with("The temperature of pump 3 is ")
            && response(&aside)
                .ends_with("What does the noise sound like: grinding, squealing or knocking?"),
        "{aside}"
    );
    assert_eq!(aside["session_id"], session_id);

    // A free-form answer, mapped to the step's choices by the SLM worker.
    let squeal = say_at(agent, PANEL, "it's kind of squealing").await?;
    assert_eq!(squeal["turn"], "answer", "{squeal}");
    assert_eq!(
        squeal["awaiting"], "Have the bearings been greased in the last three months?",
        "{squeal}"
    );
    // Yes leads to an action: stopping the pump needs the policy's confirmation first.
    let greased = say_at(agent, PANEL, "yes").await?;
    assert!(
        response(&greased).ends_with(
            "I'll stop Pump 3 so you can check the shaft. Stop pump 3? Say yes to confirm."
        ),
        "{greased}"
    );
    assert_eq!(
        greased["awaiting"], "Stop pump 3? Say yes to confirm.",
        "{greased}"
    );
    assert_eq!(signal(agent, "Plant.Pump3.State").await?, "running");
    let stopped = say_at(agent, PANEL, "yes").await?;
    assert_eq!(stopped["turn"], "confirmed", "{stopped}");
    assert_eq!(stopped["action"]["status"], "done", "{stopped}");
    assert_eq!(
        response(&stopped),
        "Done. With the pump stopped, is there play in the shaft when you move it by hand?"
    );
    assert_eq!(signal(agent, "Plant.Pump3.State").await?, "stopped");

    let last = say_at(agent, PANEL, "no").await?;
    assert!(
        response(&last)
            .starts_with("With tight bearings, a squeal and high vibration point to misalignment.")
            && response(&last).ends_with("I saved the report."),
        "{last}"
    );
    assert_eq!(last["awaiting"], Value::Null, "{last}");
    assert_eq!(sessions(agent).await?, serde_json::json!([]));

    // The report: on MQTT and on disk, with the steps, answers, readings and conclusion.
    let report = reports
        .expect_json("plant/troubleshoot/pump-3/report", |_| true)
        .await?;
    assert_eq!(report["machine"], "pump-3");
    assert_eq!(report["symptom"], "noise");
    assert_eq!(report["station"], PANEL);
    assert_eq!(report["session_id"], session_id);
    assert_eq!(report["conclusion"]["fault"], "misalignment");
    let readings = report["readings"].as_array().cloned().unwrap_or_default();
    assert_eq!(readings.len(), 1, "{report}");
    assert_eq!(readings[0]["signal"], "Plant.Pump3.Vibration");
    assert_eq!(readings[0]["alarm"], true);
    assert!(
        readings[0]["value"].as_f64().unwrap_or(0.0) > 4.5,
        "{report}"
    );
    let answers: Vec<(String, String, String)> = report["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == "question")
        .map(|s| {
            (
                s["answer"].as_str().unwrap_or("").to_owned(),
                s["choice"].as_str().unwrap_or("").to_owned(),
                s["mapped_by"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let owned = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        answers,
        [
            owned("it's kind of squealing", "squealing", "llm"),
            owned("yes", "yes", "agent"),
            owned("no", "no", "agent"),
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
    let kept: Vec<std::path::PathBuf> =
        std::fs::read_dir(w.daemon.state_dir().join("reports/troubleshoot"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&kept[0])?)?;
    assert_eq!(on_disk, report);

    // The confirmation of the stop is in the audit log like any other write.
    assert_eq!(
        w.daemon.decisions("Plant.Pump3.State"),
        [
            "confirm:Stop pump 3? Say yes to confirm.",
            "confirmed:pending",
            "confirmed:ok",
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_slm_worker_run_as_its_own_service_maps_answers_and_paraphrases() -> anyhow::Result<()> {
    // As under systemd (edge-slm.service): the worker runs on its own; the daemon only
    // connects to it (`slm.uri`), never spawns one.
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("slm.sock");
    let uri = format!("unix://{}", socket.display());
    let worker = own_slm_worker(&socket)?;

    let w = world_in(
        tempfile::tempdir()?,
        &format!("[slm]\nuri = {uri:?}\nintents = true\nstart_timeout_ms = 120000\nrequest_timeout_ms = 60000\n"),
    )
    .await?;
    let agent = &w.agent;
    edge_agent_tests::slm_prompts_cached(agent).await?;

    // A free-form answer to the troubleshoot skill's question, mapped by that worker.
    say_at(agent, PANEL, "troubleshoot pump one").await?;
    let mapped = say_at(agent, PANEL, "it is making a strange noise").await?;
    assert_eq!(mapped["turn"], "answer", "{mapped}");
    assert!(
        response(&mapped).starts_with("Vibration on pump 1 is "),
        "{mapped}\n{}",
        w.daemon.log()
    );
    say_at(agent, PANEL, "never mind").await?;

    // And the intent tier: a paraphrase the templates miss (the prompts are cached).
    let status = edge_agent_tests::slm_prompts_cached(agent).await?;
    assert_eq!(status["language"]["slm"]["pid"], Value::Null, "{status}");
    let paraphrase = say_at(
        agent,
        PANEL,
        "what kind of pressure are we seeing on pump one",
    )
    .await?;
    assert_eq!(paraphrase["tier"], "slm", "{paraphrase}");
    assert_eq!(
        paraphrase["intent"], "equipment.read_sensor",
        "{paraphrase}"
    );
    drop(worker);
    Ok(())
}

/// Starts `edge-slm` on its own (as its systemd unit does) and waits for its READY line.
fn own_slm_worker(socket: &std::path::Path) -> anyhow::Result<Worker> {
    Worker::start(
        "edge-slm",
        &[
            "--model".to_owned(),
            slm_model()?.display().to_string(),
            "--listen".to_owned(),
            format!("unix://{}", socket.display()),
        ],
    )
}

fn signal_worker(worker: &Worker, signal: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-s", signal, &worker.0.id().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -s {signal}: {status}");
    Ok(())
}

/// A troubleshooting session on pump 1 whose symptom ("a strange noise") the skill maps by
/// its own words because `llm.choose` failed (`why` in the daemon's log); then cancelled.
async fn answered_in_words(w: &World, why: &str) -> anyhow::Result<()> {
    let agent = &w.agent;
    say_at(agent, PANEL, "troubleshoot pump one").await?;
    let answer = say_at(agent, PANEL, "it is making a strange noise").await?;
    assert_eq!(answer["turn"], "answer", "{answer}");
    assert!(
        response(&answer).starts_with("Vibration on pump 1 is "),
        "{answer}\n{}",
        w.daemon.log()
    );
    assert!(w.daemon.log().contains(why), "{}", w.daemon.log());
    say_at(agent, PANEL, "never mind").await?;
    Ok(())
}

/// A skill's deadline is its own CPU time, never time spent waiting for the local model:
/// with the worker busy caching the intents' prompts, `llm.choose` says at once that the
/// model is not ready; with the worker hung (stopped), it gives up after the SLM's request
/// timeout (3 s, longer than the troubleshoot skill's 1 s deadline). Both times the skill
/// matches the answer's words itself and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_or_hung_slm_worker_never_costs_a_skill_its_deadline() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("slm.sock");
    let worker = own_slm_worker(&socket)?;
    // Stopped before the daemon connects: the daemon's prompt caching waits on it.
    signal_worker(&worker, "STOP")?;
    let w = world_in(
        tempfile::tempdir()?,
        &format!(
            "[slm]\nuri = \"unix://{}\"\nintents = true\nstart_timeout_ms = 120000\nrequest_timeout_ms = 3000\n",
            socket.display()
        ),
    )
    .await?;
    let agent = &w.agent;
    edge_agent_tests::wait_for_status(agent, "SLM prompts being cached", |s| {
        s["language"]["slm"]["prompts"] == "caching"
    })
    .await?;

    answered_in_words(&w, "caching the intent prompts; matching words only").await?;

    // Running again, the worker caches the prompts; then it hangs.
    signal_worker(&worker, "CONT")?;
    edge_agent_tests::slm_prompts_cached(agent).await?;
    signal_worker(&worker, "STOP")?;
    answered_in_words(&w, "did not answer within 3s; matching words only").await?;
    signal_worker(&worker, "CONT")?;
    drop(worker);
    Ok(())
}

/// The demo world with the embedding tier alone, fitted.
async fn embedding_world(thresholds: &str) -> anyhow::Result<World> {
    let dir = tempfile::tempdir()?;
    let config = embedding_config(dir.path(), thresholds)?;
    let w = world_in(dir, &config).await?;
    embedding_fitted(&w.agent).await?;
    Ok(w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_embeds_nothing_as_the_vectors_are_cached_on_disk() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    // A cache of its own: the shared one holds the vectors of earlier tests.
    setup.skill_cache = dir.path().join("skill-cache");
    setup.extra = format!(
        "[asr]\nenabled = false\n\n{}",
        embedding_config(dir.path(), "")?
    );
    let agent = bus.agent().await?;
    let first = {
        let _daemon = Daemon::start(&setup)?;
        embedding_fitted(&agent).await?["language"]["embedding"].clone()
    };
    let sentences = first["sentences"].as_u64().unwrap_or_default();
    assert!(sentences > 500, "{first}");
    assert_eq!(first["cached_on_disk"], 0, "{first}");
    // Each distinct sentence once.
    let embedded = first["embedded"].as_u64().unwrap_or_default();
    assert!(embedded > 500 && embedded <= sentences, "{first}");
    let again = {
        let _daemon = Daemon::start(&setup)?;
        embedding_fitted(&agent).await?["language"]["embedding"].clone()
    };
    assert_eq!(again["embedded"], 0, "{again}");
    assert_eq!(again["cached_on_disk"].as_u64(), Some(embedded), "{again}");
    assert_eq!(again["sentences"].as_u64(), Some(sentences), "{again}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paraphrases_act_out_of_domain_requests_do_not_and_a_missing_machine_is_asked_for()
-> anyhow::Result<()> {
    let w = embedding_world("").await?;
    let status: String = w.agent.status().await?;
    let status: Value = serde_json::from_str(&status)?;
    let embedding = &status["language"]["embedding"];
    assert!(embedding["sentences"].as_u64() > Some(500), "{embedding}");
    assert_eq!(
        status["language"]["slm"]["state"], "unavailable",
        "{status}"
    );

    // A driver's words, not a template's: the cabin gets warmer.
    let before = signal(
        &w.agent,
        "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
    )
    .await?;
    let cold = say_at(&w.agent, "cabin", "I'm freezing").await?;
    assert_eq!(cold["intent"], "climate.adjust_temperature", "{cold}");
    assert_eq!(cold["tier"], "embedding", "{cold}");
    assert_eq!(cold["slots"]["direction"], "warmer", "{cold}");
    assert_eq!(cold["action"]["status"], "done", "{cold}");
    let after = signal(
        &w.agent,
        "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
    )
    .await?;
    assert!(after.as_f64() > before.as_f64(), "{before} -> {after}");

    // A technician's: the troubleshooting session starts on the right pump.
    let pressure = say_at(&w.agent, PANEL, "pump four won't build pressure").await?;
    assert_eq!(pressure["intent"], "troubleshoot.start", "{pressure}");
    assert_eq!(pressure["slots"]["machine"], "pump-4", "{pressure}");
    let said = response(&pressure);
    assert!(
        said.starts_with("Let's troubleshoot pump 4: no pressure"),
        "{pressure}"
    );

    // Requests no skill owns never become actions.
    for text in [
        "what's the capital of france",
        "order more hydraulic oil",
        "turn on the seat heating",
        "tell me a joke",
    ] {
        let out = say_at(&w.agent, "cabin", text).await?;
        assert_eq!(out["intent"], "none", "{out}");
        assert!(out["action"].is_null(), "{out}");
    }

    // Sure it is a start, but of which machine? Asked, then acted on the answer.
    let asked = say_at(&w.agent, PANEL, "the machine needs to be started").await?;
    assert_eq!(response(&asked), "Which machine?", "{asked}");
    assert!(asked["action"].is_null(), "{asked}");
    let answered = say_at(&w.agent, PANEL, "pump two").await?;
    assert_eq!(answered["intent"], "equipment.start", "{answered}");
    assert_eq!(answered["slots"]["machine"], "pump-2", "{answered}");
    assert!(
        !answered["action"].is_null() || response(&answered).contains("confirm"),
        "{answered}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_threshold_the_tier_asks_and_acts_only_on_yes() -> anyhow::Result<()> {
    // Nothing is sure enough to act on: everything the tier recognises is asked about.
    let w = embedding_world("accept = 0.999\nask = 0.3").await?;
    let path = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
    let before = signal(&w.agent, path).await?;
    let asked = say_at(&w.agent, "cabin", "I'm freezing").await?;
    assert_eq!(asked["intent"], "none", "{asked}");
    // Asked in the skill's own words (its first template, filled in).
    assert!(
        response(&asked).starts_with("Did you mean: make it a bit warmer?"),
        "{asked}"
    );
    assert!(response(&asked).contains("warmer"), "{asked}");
    assert_eq!(signal(&w.agent, path).await?, before);
    // No: nothing happens, and nothing is left open.
    let no = say_at(&w.agent, "cabin", "no").await?;
    assert!(no["action"].is_null(), "{no}");
    assert_eq!(signal(&w.agent, path).await?, before);
    assert_eq!(sessions(&w.agent).await?.as_array().map(Vec::len), Some(0));
    // Yes: acted on, as asked.
    say_at(&w.agent, "cabin", "I'm freezing").await?;
    let yes = say_at(&w.agent, "cabin", "yes").await?;
    assert_eq!(yes["intent"], "climate.adjust_temperature", "{yes}");
    assert_eq!(yes["action"]["status"], "done", "{yes}");
    let after_yes = signal(&w.agent, path).await?;
    assert!(after_yes.as_f64() > before.as_f64());
    // Neither yes nor no: the question ends and the utterance is a new request (asked
    // about in turn here, as nothing is sure enough to act on).
    say_at(&w.agent, "cabin", "I'm freezing").await?;
    let next = say_at(&w.agent, "cabin", "the music is hurting my ears").await?;
    assert!(response(&next).starts_with("Did you mean: "), "{next}");
    assert!(!response(&next).contains("warmer"), "{next}");
    assert_eq!(signal(&w.agent, path).await?.as_f64(), after_yes.as_f64());
    say_at(&w.agent, "cabin", "no").await?;
    // A new command instead of an answer ends the question and is acted on.
    say_at(&w.agent, "cabin", "I'm freezing").await?;
    let other = say_at(&w.agent, "cabin", "volume up").await?;
    assert_eq!(other["intent"], "media.volume", "{other}");
    let late = say_at(&w.agent, "cabin", "yes").await?;
    assert!(late["action"].is_null(), "{late}");
    Ok(())
}

/// A request beside a reason is acted on through its one clause that is the request; a
/// negation keeps the whole a question.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_beside_a_reason_is_acted_on_through_its_clause() -> anyhow::Result<()> {
    // No whole utterance is sure enough for the tier to act on: only a clause that a
    // template writes word for word can make it act.
    let w = embedding_world("accept = 0.999\nask = 0.3").await?;
    let stopped = say_at(&w.agent, PANEL, "stop pump 3, we're going on break").await?;
    assert_eq!(stopped["intent"], "equipment.stop", "{stopped}");
    assert_eq!(stopped["tier"], "embedding", "{stopped}");
    assert_eq!(stopped["slots"]["machine"], "pump-3", "{stopped}");
    // Stopping a machine is confirmed first, as any way of saying it is.
    assert!(response(&stopped).contains("confirm"), "{stopped}");
    let confirmed = say_at(&w.agent, PANEL, "yes").await?;
    assert_eq!(confirmed["action"]["status"], "done", "{confirmed}");
    // Said not to do: no request, refused whole ("don't" would be lost in the clause
    // alone) and nothing asked.
    let negated = say_at(&w.agent, PANEL, "don't stop pump 2, it's running fine").await?;
    assert_eq!(negated["intent"], "none", "{negated}");
    assert!(negated["action"].is_null(), "{negated}");
    assert!(negated["awaiting"].is_null(), "{negated}");
    // Two clauses that are both requests: which one is meant is asked, nothing acted on.
    let two = say_at(&w.agent, PANEL, "stop pump 3, start pump 2").await?;
    assert!(two["action"].is_null(), "{two}");
    Ok(())
}

/// A template whose free text takes any words ("play {query}") is acted on only when the
/// embedding tier agrees; a thing named in a machine's place that is none of the plant's
/// machines opens no session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_all_templates_and_unknown_machines_need_the_tier_to_agree() -> anyhow::Result<()> {
    let w = embedding_world("").await?;
    let jazz = say_at(&w.agent, "cabin", "play some jazz").await?;
    assert_eq!(jazz["intent"], "media.play", "{jazz}");
    assert_eq!(jazz["tier"], "template", "{jazz}");
    assert_eq!(jazz["slots"]["query"], "jazz", "{jazz}");
    assert_eq!(jazz["action"]["status"], "done", "{jazz}");
    // No skill goes back a song: no query "previous song again" is played.
    let previous = say_at(&w.agent, "cabin", "play the previous song again").await?;
    assert_eq!(previous["intent"], "none", "{previous}");
    assert!(previous["action"].is_null(), "{previous}");
    // Not a destination "following track": the next track.
    let next = say_at(&w.agent, "cabin", "go to the following track").await?;
    assert_eq!(next["intent"], "media.next", "{next}");
    assert_eq!(next["tier"], "embedding", "{next}");
    assert_eq!(next["action"]["status"], "done", "{next}");
    let kiln = say_at(&w.agent, PANEL, "troubleshoot the kiln, it keeps tripping").await?;
    assert_eq!(kiln["intent"], "none", "{kiln}");
    assert!(kiln["action"].is_null(), "{kiln}");
    assert!(kiln["awaiting"].is_null(), "{kiln}");
    Ok(())
}

/// Each reload makes a new catalog with the next generation, and the embedding tier is
/// fitted to the one in use, not to an earlier one that happened to share its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_give_new_catalog_generations_and_the_tier_follows_the_last() -> anyhow::Result<()>
{
    let w = embedding_world("").await?;
    let status = |json: String| -> anyhow::Result<Value> { Ok(serde_json::from_str(&json)?) };
    let first = status(w.agent.status().await?)?;
    let mut generation = first["catalog"].as_u64().unwrap_or(0);
    assert!(generation >= 1, "{first}");
    assert_eq!(
        first["language"]["embedding"]["catalog"], generation,
        "{first}"
    );
    for _ in 0..3 {
        let reloaded = status(w.agent.reload_skills().await?)?;
        let next = reloaded["catalog"].as_u64().unwrap_or(0);
        assert!(next > generation, "{next} after {generation}: {reloaded}");
        generation = next;
    }
    let fitted = edge_agent_tests::wait_for_status(&w.agent, "the tier fitted to the last", |s| {
        s["language"]["embedding"]["state"] == "ready"
            && s["language"]["embedding"]["catalog"] == generation
    })
    .await?;
    // Nothing new to embed: the sentences are the same.
    assert_eq!(fitted["language"]["embedding"]["embedded"], 0, "{fitted}");
    let cold = say_at(&w.agent, "cabin", "I'm freezing").await?;
    assert_eq!(cold["tier"], "embedding", "{cold}");
    assert_eq!(cold["intent"], "climate.adjust_temperature", "{cold}");
    Ok(())
}
