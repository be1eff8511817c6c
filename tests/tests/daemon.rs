//! The whole daemon against a real dbus-daemon and a real mosquitto.

use anyhow::Context as _;
use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{Daemon, DaemonSetup, DbusDaemon, Mosquitto, MqttProbe, WAIT, ctl};
use futures_util::StreamExt as _;
use serde_json::Value;

async fn agent_proxy(conn: &zbus::Connection) -> anyhow::Result<Agent1Proxy<'static>> {
    Ok(Agent1Proxy::new(conn).await?)
}

async fn say(proxy: &Agent1Proxy<'_>, text: &str) -> zbus::Result<Value> {
    let json: String = proxy.say(text).await?;
    Ok(serde_json::from_str(&json).expect("Say returns JSON"))
}

struct World {
    bus: DbusDaemon,
    broker: Mosquitto,
    daemon: Daemon,
}

fn world() -> anyhow::Result<World> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let daemon = Daemon::start(&DaemonSetup::new(&bus, broker.port))?;
    Ok(World {
        bus,
        broker,
        daemon,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_via_dbus_reaches_both_sides() -> anyhow::Result<()> {
    let w = world()?;
    let topics = w.daemon.topics();
    let mut probe = MqttProbe::connect(w.broker.port, &topics.all()).await?;
    let conn = w.bus.connect().await?;
    let proxy = agent_proxy(&conn).await?;
    let mut intents = proxy.receive_intent_recognized().await?;
    let mut responses = proxy.receive_response().await?;

    let outcome = say(
        &proxy,
        "Set the driver temperature to twenty-two degrees, please.",
    )
    .await?;
    assert_eq!(outcome["intent"], "climate.set_temperature");
    assert_eq!(outcome["slots"]["celsius"], 22.0);
    assert_eq!(outcome["slots"]["zone"], "driver");
    assert_eq!(outcome["origin"], "dbus");
    assert_eq!(outcome["tier"], "template");
    assert_eq!(
        outcome["response"],
        "Setting the driver temperature to 22 °C"
    );
    let id = outcome["utterance_id"].as_str().expect("id").to_owned();

    let signal = tokio::time::timeout(WAIT, intents.next())
        .await?
        .expect("signal");
    let json = signal.args()?.outcome().to_string();
    let signalled: Value = serde_json::from_str(&json)?;
    assert_eq!(signalled["utterance_id"], id.as_str());
    assert_eq!(signalled["intent"], "climate.set_temperature");
    let signal = tokio::time::timeout(WAIT, responses.next())
        .await?
        .expect("signal");
    let args = signal.args()?;
    let (response_id, text) = (args.utterance_id().to_string(), args.text().to_string());
    assert_eq!(
        (response_id.as_str(), text.as_str()),
        (id.as_str(), "Setting the driver temperature to 22 °C")
    );

    let event = probe
        .expect_json(&topics.intent(), |v| v["utterance_id"] == id.as_str())
        .await?;
    assert_eq!(event["slots"]["zone"], "driver");
    let response = probe
        .expect_json(&topics.response(), |v| v["utterance_id"] == id.as_str())
        .await?;
    assert_eq!(response["text"], "Setting the driver temperature to 22 °C");

    let none = say(&proxy, "what's the capital of france").await?;
    assert_eq!(none["intent"], "none");
    assert_eq!(none["response"], "Sorry, I can't help with that.");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_via_mqtt_reaches_both_sides() -> anyhow::Result<()> {
    let w = world()?;
    let topics = w.daemon.topics();
    let mut probe = MqttProbe::connect(w.broker.port, &topics.all()).await?;
    probe.expect(&topics.status(), |p| p == b"online").await?;
    let conn = w.bus.connect().await?;
    let proxy = agent_proxy(&conn).await?;
    let mut intents = proxy.receive_intent_recognized().await?;

    probe
        .publish(&topics.say(), r#"{"text": "uh start pump three"}"#)
        .await?;
    let event = probe
        .expect_json(&topics.intent(), |v| v["origin"] == "mqtt")
        .await?;
    assert_eq!(event["intent"], "equipment.start");
    assert_eq!(event["slots"]["machine"], "pump-3");
    assert_eq!(event["response"], "Starting pump 3");
    let signal = tokio::time::timeout(WAIT, intents.next())
        .await?
        .expect("signal");
    let json = signal.args()?.outcome().to_string();
    let signalled: Value = serde_json::from_str(&json)?;
    assert_eq!(signalled["utterance_id"], event["utterance_id"]);

    // Plain text payloads work too.
    probe
        .publish(&topics.say(), "what's the vibration on pump 3")
        .await?;
    let event = probe
        .expect_json(&topics.intent(), |v| v["intent"] == "equipment.read_sensor")
        .await?;
    assert_eq!(event["slots"]["sensor"], "vibration");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_retained_and_goes_offline() -> anyhow::Result<()> {
    let mut w = world()?;
    let topics = w.daemon.topics();
    // A client that connects later still sees the retained status.
    let mut probe = MqttProbe::connect(w.broker.port, &topics.status()).await?;
    probe.expect(&topics.status(), |p| p == b"online").await?;

    let status = w.daemon.signal("TERM")?;
    assert!(
        status.success(),
        "SIGTERM exit: {status}; log:\n{}",
        w.daemon.log()
    );
    probe.expect(&topics.status(), |p| p == b"offline").await?;
    let mut late = MqttProbe::connect(w.broker.port, &topics.status()).await?;
    late.expect(&topics.status(), |p| p == b"offline").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_will_marks_a_killed_daemon_offline() -> anyhow::Result<()> {
    let mut w = world()?;
    let topics = w.daemon.topics();
    let mut probe = MqttProbe::connect(w.broker.port, &topics.status()).await?;
    probe.expect(&topics.status(), |p| p == b"online").await?;
    w.daemon.signal("KILL")?;
    probe.expect(&topics.status(), |p| p == b"offline").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_does_not_stop_dbus_and_mqtt_recovers() -> anyhow::Result<()> {
    let mut w = world()?;
    let topics = w.daemon.topics();
    let conn = w.bus.connect().await?;
    let proxy = agent_proxy(&conn).await?;
    {
        let mut probe = MqttProbe::connect(w.broker.port, &topics.status()).await?;
        probe.expect(&topics.status(), |p| p == b"online").await?;
    }

    w.broker.stop();
    // The D-Bus path keeps answering while the broker is away.
    for _ in 0..3 {
        let outcome = say(&proxy, "open the driver side window").await?;
        assert_eq!(outcome["intent"], "window.set");
    }
    let status: String = proxy.status().await?;
    let status: Value = serde_json::from_str(&status)?;
    assert_eq!(status["mqtt"], "connecting");

    // The broker comes back without the session (no persistence): the daemon reconnects,
    // says it is online again and subscribes again, so commands work.
    w.broker.resume()?;
    let mut probe = MqttProbe::connect(w.broker.port, &topics.all()).await?;
    probe.expect(&topics.status(), |p| p == b"online").await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        probe.publish(&topics.say(), "stop pump four").await?;
        let got = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            probe.expect_json(&topics.intent(), |v| v["intent"] == "equipment.stop"),
        )
        .await;
        if let Ok(event) = got {
            assert_eq!(event?["slots"]["machine"], "pump-4");
            break;
        }
        // The re-subscription may race with the first command; try again until the deadline.
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recognition after the broker restarted; log:\n{}",
            w.daemon.log()
        );
    }
    assert!(w.daemon.try_status()?.is_none(), "daemon exited");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_commands_handled_while_the_broker_is_down_arrive_once_it_is_back()
-> anyhow::Result<()> {
    // A broker that keeps its sessions (as deployed), restarted by its service manager.
    let bus = DbusDaemon::start()?;
    let mut broker = Mosquitto::start_persistent()?;
    let daemon = Daemon::start(&DaemonSetup::new(&bus, broker.port))?;
    let topics = daemon.topics();
    // A consumer with a persistent session, subscribed at QoS 1.
    let mut options = MqttProbe::options("127.0.0.1", broker.port)?;
    options.set_client_id(format!("consumer-{}", std::process::id()));
    options.set_clean_session(false);
    let mut consumer = MqttProbe::connect_with(options, &topics.intent()).await?;
    let conn = bus.connect().await?;
    let proxy = agent_proxy(&conn).await?;
    say(&proxy, "next song").await?;
    let before = consumer
        .expect_json(&topics.intent(), |v| v["intent"] == "media.next")
        .await?;
    let before = before["utterance_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    broker.stop_gracefully()?;
    // The D-Bus path answers on; the events wait in the agent's bounded queue.
    let mut ids = Vec::new();
    for text in [
        "open the driver side window",
        "start pump three",
        "volume up",
    ] {
        let outcome = say(&proxy, text).await?;
        ids.push(
            outcome["utterance_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    broker.resume()?;
    // Every one arrives (QoS 1: at least once; a redelivery carries the same utterance id).
    let mut seen: Vec<String> = Vec::new();
    while !ids.iter().all(|id| seen.contains(id)) {
        let event = consumer
            .expect_json(&topics.intent(), |v| v["origin"] == "dbus")
            .await
            .with_context(|| format!("got {seen:?} of {ids:?}; log:\n{}", daemon.log()))?;
        seen.push(
            event["utterance_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let doubles = seen.len() - ids.len();
    eprintln!(
        "{} events after the restart, {doubles} redelivered",
        seen.len()
    );
    // At least once: the event from before the stop may come again too, if the broker
    // had not stored the consumer's acknowledgement when it stopped.
    assert!(
        seen.iter().all(|id| ids.contains(id) || *id == before),
        "{seen:?} vs {ids:?} (and {before} from before the stop)"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_start_is_not_fatal() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let mut broker = Mosquitto::start()?;
    broker.stop();
    let daemon = Daemon::start(&DaemonSetup::new(&bus, broker.port))?;
    let conn = bus.connect().await?;
    let proxy = agent_proxy(&conn).await?;
    assert_eq!(say(&proxy, "next song").await?["intent"], "media.next");

    broker.resume()?;
    let topics = daemon.topics();
    let mut probe = MqttProbe::connect(broker.port, &topics.status()).await?;
    probe.expect(&topics.status(), |p| p == b"online").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_mqtt_payloads_get_error_events() -> anyhow::Result<()> {
    let w = world()?;
    let topics = w.daemon.topics();
    let mut probe = MqttProbe::connect(w.broker.port, &topics.all()).await?;
    probe.expect(&topics.status(), |p| p == b"online").await?;

    let cases: &[(&[u8], &str)] = &[
        (
            &[0x73, 0x74, 0xff, 0xfe],
            "not UTF-8 text (invalid byte at offset 2)",
        ),
        (br#"{"text": "stop pump 4""#, "EOF while parsing"),
        (br#"{"txt": "stop pump 4"}"#, "unknown field `txt`"),
        (br#"{"text": 42}"#, "invalid type: integer `42`"),
        (b"   ", "text is empty"),
    ];
    for (payload, expected) in cases {
        probe.publish(&topics.say(), payload.to_vec()).await?;
        let event = probe.expect_json(&topics.error(), |_| true).await?;
        let error = event["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(expected),
            "payload {payload:?}: error {error:?} should contain {expected:?}"
        );
        assert_eq!(event["topic"], topics.say());
    }
    let long = "a ".repeat(600);
    probe.publish(&topics.say(), long).await?;
    let event = probe.expect_json(&topics.error(), |_| true).await?;
    assert!(
        event["error"]
            .as_str()
            .unwrap_or_default()
            .contains("the limit is 1000"),
        "{event}"
    );

    let unknown = format!("edge-agent/{}/cmd/reboot", w.daemon.device_id);
    probe.publish(&unknown, "now").await?;
    let event = probe.expect_json(&topics.error(), |_| true).await?;
    assert_eq!(event["topic"], unknown.as_str());
    assert!(
        event["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown command topic")
    );

    // Still serving.
    probe.publish(&topics.say(), "pause the music").await?;
    probe
        .expect_json(&topics.intent(), |v| v["intent"] == "media.pause")
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_dbus_arguments_get_dbus_errors() -> anyhow::Result<()> {
    let w = world()?;
    let conn = w.bus.connect().await?;
    let proxy = agent_proxy(&conn).await?;

    let err = say(&proxy, "  ").await.expect_err("empty text refused");
    let zbus::Error::MethodError(name, message, _) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(name.as_str(), "org.edgeagent.Agent1.Error.InvalidInput");
    assert_eq!(message.as_deref(), Some("argument `text`: is empty"));

    let err = say(&proxy, &"x".repeat(5000))
        .await
        .expect_err("long text refused");
    assert!(
        err.to_string()
            .contains("5000 bytes long; the limit is 1000"),
        "{err}"
    );

    // Wrong signature: an integer where a string belongs.
    let err = proxy
        .inner()
        .call::<_, _, String>("Say", &(42i32,))
        .await
        .expect_err("bad signature refused");
    let zbus::Error::FDO(fdo) = &err else {
        panic!("{err:?}")
    };
    let zbus::fdo::Error::InvalidArgs(message) = fdo.as_ref() else {
        panic!("{err:?}")
    };
    assert!(message.contains("got `i`, expected `s`"), "{message}");

    let err = proxy
        .inner()
        .call::<_, _, String>("Reboot", &())
        .await
        .expect_err("unknown method refused");
    let zbus::Error::FDO(fdo) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(fdo.as_ref(), zbus::fdo::Error::UnknownMethod(_)),
        "{err:?}"
    );

    // Still serving.
    assert_eq!(say(&proxy, "turn on the ac").await?["slots"]["state"], "on");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_say_and_status_over_dbus() -> anyhow::Result<()> {
    let w = world()?;
    let (code, out, err) = ctl(&[
        "--bus",
        "address",
        "--address",
        &w.bus.address,
        "say",
        "navigate",
        "to",
        "the",
        "airport",
    ])?;
    assert_eq!(code, 0, "{err}");
    let outcome: Value = serde_json::from_str(&out)?;
    assert_eq!(outcome["intent"], "nav.navigate_to");
    assert_eq!(outcome["slots"]["destination"], "airport");

    let (code, out, err) = ctl(&["--bus", "address", "--address", &w.bus.address, "status"])?;
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&out)?;
    assert_eq!(status["device_id"], w.daemon.device_id.as_str());
    assert_eq!(status["utterances"], 1);
    assert!(
        status["skills"].as_array().is_some_and(|s| s.len() == 7),
        "{status}"
    );

    let (code, _, err) = ctl(&["--bus", "address", "--address", &w.bus.address, "say", ""])?;
    assert_eq!(code, 1);
    assert!(err.contains("InvalidInput"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_delivers_commands_sent_while_away() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let setup = DaemonSetup::new(&bus, broker.port);
    let mut daemon = Daemon::start(&setup)?;
    let topics = daemon.topics();
    let mut probe = MqttProbe::connect(broker.port, &topics.all()).await?;
    probe.expect(&topics.status(), |p| p == b"online").await?;
    daemon.signal("KILL")?;
    probe.expect(&topics.status(), |p| p == b"offline").await?;

    // QoS 1 commands while the agent is away: the broker keeps them in the agent's
    // session, and delivers each once the agent is back (handled concurrently, so their
    // events may come in any order).
    let away = ["start pump two", "stop pump three", "start pump four"];
    for text in away {
        probe.publish(&topics.say(), text).await?;
    }
    let daemon = Daemon::start(&setup)?;
    let mut handled = Vec::new();
    for _ in away {
        let event = probe
            .expect_json(&topics.intent(), |v| v["origin"] == "mqtt")
            .await?;
        handled.push(event["text"].as_str().unwrap_or_default().to_owned());
    }
    handled.sort();
    let mut expected = away.map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(handled, expected, "log:\n{}", daemon.log());
    // None doubled: nothing more arrives within a few seconds. (QoS 1 would allow the
    // redelivery of a message the agent had not acknowledged; after a clean hand-over
    // there is none.)
    let extra = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        probe.expect_json(&topics.intent(), |v| v["origin"] == "mqtt"),
    )
    .await;
    assert!(
        !matches!(extra, Ok(Ok(_))),
        "a command was handled twice: {extra:?}"
    );
    Ok(())
}

#[test]
fn watchdog_is_pinged_when_systemd_asks() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let mut setup = DaemonSetup::new(&bus, edge_agent_tests::free_port()?);
    setup.env.push(("WATCHDOG_USEC".into(), "200000".into()));
    let daemon = Daemon::start(&setup)?;
    let mut pings = 0;
    while pings < 3 {
        let message = daemon.next_notification()?;
        pings += message.lines().filter(|l| *l == "WATCHDOG=1").count();
    }
    assert!(
        daemon.log().contains("systemd watchdog enabled"),
        "{}",
        daemon.log()
    );
    Ok(())
}

/// A SIGTERM at any point of the start ends the daemon with status 0 (systemd counts
/// anything else as a failure) and leaves none of its workers behind: while the skills
/// are compiled (an empty cache), while the speech and SLM workers start, and once ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_any_point_of_the_start_exits_cleanly() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let asr = edge_agent_tests::asr_model()?;
    let slm = edge_agent_tests::slm_model()?;
    // When to send it: as soon as the daemon handles signals (its first log line about
    // them; before that no process can choose what a signal does to it), some
    // milliseconds after the spawn, or once READY.
    #[derive(Debug, Clone, Copy)]
    enum When {
        HandlersInstalled,
        After(u64),
        Ready,
    }
    for when in [
        When::HandlersInstalled,
        When::After(100),
        When::After(700),
        When::After(2500),
        When::Ready,
    ] {
        let cache = tempfile::tempdir()?;
        let workers = tempfile::tempdir()?;
        let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
        setup.skill_cache = cache.path().join("compiled");
        setup.extra = format!(
            "{}[slm]\nmodel = {:?}\nsocket = {:?}\n",
            edge_agent_tests::asr_worker_config(&asr, workers.path()),
            slm.display().to_string(),
            workers.path().join("slm.sock").display().to_string()
        );
        let mut daemon = match when {
            When::HandlersInstalled => {
                let daemon = Daemon::spawn(&setup)?;
                let deadline = std::time::Instant::now() + WAIT;
                while !daemon.log().contains("SIGTERM and SIGINT handled") {
                    anyhow::ensure!(
                        std::time::Instant::now() < deadline,
                        "no log line about signals: {}",
                        daemon.log()
                    );
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                daemon
            }
            When::After(ms) => {
                let daemon = Daemon::spawn(&setup)?;
                std::thread::sleep(std::time::Duration::from_millis(ms));
                daemon
            }
            When::Ready => Daemon::start(&setup)?,
        };
        let status = daemon.signal("TERM")?;
        assert!(
            status.success(),
            "SIGTERM {when:?}: {status}; log:\n{}",
            daemon.log()
        );
        // The workers are the daemon's children, started with their socket in `workers`.
        let pattern = workers.path().display().to_string();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = std::process::Command::new("pgrep")
                .args(["-f", &pattern])
                .output()?;
            if !left.status.success() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "workers left after SIGTERM {when:?}: {}",
                String::from_utf8_lossy(&left.stdout)
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    Ok(())
}
