//! Acting on the world: the daemon with the demo profiles against the real simulators on a
//! private dbus-daemon and a real mosquitto.

use edge_agent_tests::{
    DbusDaemon, DemoWorld, MqttProbe, WAIT, daemon_sees, say, wait_for_no_sessions,
};
use serde_json::Value;
use std::time::Duration;

const CAR: &str = "org.edgeagent.SimCar";
const CAR_PATH: &str = "/org/edgeagent/SimCar";

type World = DemoWorld;

async fn world_with(extra: &str) -> anyhow::Result<World> {
    DemoWorld::with_extra(extra).await
}

async fn world() -> anyhow::Result<World> {
    world_with("").await
}

/// A property of the simulated car, read by an independent client.
async fn car_property<T>(bus: &DbusDaemon, interface: &str, name: &str) -> anyhow::Result<T>
where
    T: serde::de::DeserializeOwned + zbus::wire::Type,
{
    let conn = bus.connect().await?;
    let proxy = zbus::proxy::Builder::<zbus::Proxy<'_>>::new(&conn)
        .destination(CAR)
        .path(CAR_PATH)
        .interface(interface)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    Ok(proxy.get_property(name).await?)
}

async fn set_car_speed(bus: &DbusDaemon, kmh: f64) -> anyhow::Result<()> {
    let conn = bus.connect().await?;
    let proxy = zbus::Proxy::new(&conn, CAR, CAR_PATH, "org.edgeagent.SimCar.Vehicle").await?;
    proxy.set_property("Speed", kmh).await?;
    Ok(())
}

/// The plant's retained state of a machine.
async fn plant_state(port: u16, machine: &str) -> anyhow::Result<Value> {
    let topic = format!("plant/{machine}/state");
    let mut probe = MqttProbe::connect(port, &topic).await?;
    probe.expect_json(&topic, |_| true).await
}

async fn wait_plant_state(port: u16, machine: &str, state: &str) -> anyhow::Result<()> {
    let topic = format!("plant/{machine}/state");
    let mut probe = MqttProbe::connect(port, &topic).await?;
    probe.expect_json(&topic, |v| v["state"] == state).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoken_commands_change_the_simulated_car_and_are_audited() -> anyhow::Result<()> {
    let w = world().await?;
    let topics = w.daemon.topics();
    let mut probe = MqttProbe::connect(w.broker.port, &topics.all()).await?;

    let outcome = say(&w.agent, "set the driver side to 22 degrees").await?;
    assert_eq!(outcome["action"]["status"], "done", "{outcome}");
    assert_eq!(
        outcome["response"],
        "Temperature set to 22 degrees for the driver side."
    );
    let t: f64 = car_property(&w.bus, "org.edgeagent.SimCar.Climate", "DriverTemperature").await?;
    assert_eq!(t, 22.0);

    say(&w.agent, "open the rear left window").await?;
    let p: i32 = car_property(&w.bus, "org.edgeagent.SimCar.Windows", "RearLeftPosition").await?;
    assert_eq!(p, 100);
    say(&w.agent, "set the fan to level seven").await?;
    let fan: i32 = car_property(&w.bus, "org.edgeagent.SimCar.Climate", "FanLevel").await?;
    assert_eq!(fan, 7);
    // Method bindings: navigation and media.
    say(&w.agent, "navigate to the airport").await?;
    let route: bool =
        car_property(&w.bus, "org.edgeagent.SimCar.Navigation", "RouteActive").await?;
    assert!(route);
    say(&w.agent, "play some jazz").await?;
    let track: String = car_property(&w.bus, "org.edgeagent.SimCar.Media", "Track").await?;
    assert_eq!(track, "jazz");
    // A skill's raw D-Bus call to a granted destination (the car's POI search).
    let nearby = say(&w.agent, "find the nearest charging station").await?;
    assert_eq!(
        nearby["response"],
        "The nearest charging station is City Hall Charging Hub, 1.1 km away."
    );
    say(&w.agent, "cancel the navigation").await?;
    let route: bool =
        car_property(&w.bus, "org.edgeagent.SimCar.Navigation", "RouteActive").await?;
    assert!(!route);

    // Audit: the decision before the write, the result after, on disk and on MQTT.
    let entries = w.daemon.audit();
    let temp: Vec<&Value> = entries
        .iter()
        .filter(|e| e["signal"] == "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature")
        .collect();
    assert_eq!(temp.len(), 2, "{entries:?}");
    assert_eq!(
        (temp[0]["decision"].as_str(), temp[0]["result"].as_str()),
        (Some("allow"), Some("pending"))
    );
    assert_eq!(
        (temp[1]["result"].as_str(), temp[1]["new"].as_f64()),
        (Some("ok"), Some(22.0))
    );
    assert_eq!(temp[1]["old"].as_f64(), Some(21.0));
    // The write was made by the climate skill's code, for this utterance.
    assert_eq!(temp[1]["origin"]["kind"], "skill");
    assert_eq!(temp[1]["origin"]["name"], "climate");
    assert_eq!(temp[1]["origin"]["utterance_id"], outcome["utterance_id"]);
    let event = probe
        .expect_json(
            &format!("edge-agent/{}/events/audit", w.daemon.device_id),
            |v| {
                v["signal"] == "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
                    && v["result"] == "ok"
            },
        )
        .await?;
    assert_eq!(event["new"].as_f64(), Some(22.0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_denies_windows_at_speed_and_ranges() -> anyhow::Result<()> {
    let w = world().await?;
    set_car_speed(&w.bus, 80.0).await?;
    let outcome = say(&w.agent, "open the driver window").await?;
    assert_eq!(outcome["action"]["status"], "denied");
    assert_eq!(
        outcome["response"],
        "I can't open the driver window above 30 km/h."
    );
    let p: i32 = car_property(&w.bus, "org.edgeagent.SimCar.Windows", "DriverPosition").await?;
    assert_eq!(p, 0, "the window must not move");
    // Closing is always allowed.
    assert_eq!(
        say(&w.agent, "close the driver window").await?["action"]["status"],
        "done"
    );
    set_car_speed(&w.bus, 10.0).await?;
    assert_eq!(
        say(&w.agent, "open the driver window").await?["action"]["status"],
        "done"
    );

    // The rule's range is narrower than the signal's.
    let outcome = say(&w.agent, "set the temperature to 29 degrees").await?;
    assert_eq!(
        outcome["response"],
        "I keep the driver temperature between 17 and 28 degrees."
    );
    let denied = w
        .daemon
        .audit()
        .into_iter()
        .filter(|e| e["decision"] == "deny")
        .count();
    assert_eq!(denied, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equipment_needs_yes_and_a_closed_guard() -> anyhow::Result<()> {
    let w = world_with("[policy]\nconfirmation_timeout_secs = 2\n").await?;
    let port = w.broker.port;
    // READY does not wait for the plant's retained state: the policy would find no closed
    // guard yet and refuse (failing closed). Ask once the daemon has seen it.
    daemon_sees(&w.agent, "Plant.Pump2.GuardClosed", true).await?;
    let outcome = say(&w.agent, "start pump two").await?;
    assert_eq!(outcome["response"], "Start pump 2? Say yes to confirm.");
    assert_eq!(plant_state(port, "pump-2").await?["state"], "stopped");
    assert_eq!(say(&w.agent, "no").await?["response"], "Okay, I won't.");
    assert_eq!(
        say(&w.agent, "yes").await?["response"],
        "There is nothing to confirm."
    );
    assert_eq!(plant_state(port, "pump-2").await?["state"], "stopped");

    say(&w.agent, "start pump two").await?;
    let outcome = say(&w.agent, "yes").await?;
    assert_eq!(outcome["action"]["status"], "done", "{outcome}");
    assert_eq!(outcome["response"], "Starting pump 2");
    wait_plant_state(port, "pump-2", "running").await?;
    let status = say(&w.agent, "what's the status of pump two").await?;
    assert!(
        status["response"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Pump 2 is running at 4."),
        "{status}"
    );

    // Timed out question: closed by the agent on time, so a late yes confirms nothing.
    let asked = say(&w.agent, "stop pump two").await?;
    assert!(
        asked["response"]
            .as_str()
            .is_some_and(|r| r.ends_with("Say yes to confirm.")),
        "{asked}"
    );
    wait_for_no_sessions(&w.agent, "the confirmation closed by the agent").await?;
    let outcome = say(&w.agent, "yes").await?;
    assert_eq!(outcome["response"], "There is nothing to confirm.");
    wait_plant_state(port, "pump-2", "running").await?;

    // Guard open: starting is denied even after yes.
    let probe = MqttProbe::connect(port, "plant/pump-3/events").await?;
    probe
        .publish("plant/pump-3/set/guard_closed", "false")
        .await?;
    let topic = "plant/pump-3/state";
    MqttProbe::connect(port, topic)
        .await?
        .expect_json(topic, |v| v["guard_closed"] == false)
        .await?;
    // The broker delivers the state to the daemon's own subscription independently of the
    // probe's: wait until the daemon has seen the guard open.
    daemon_sees(&w.agent, "Plant.Pump3.GuardClosed", false).await?;
    let outcome = say(&w.agent, "start pump three").await?;
    assert_eq!(outcome["action"]["status"], "denied", "{outcome}");
    assert_eq!(
        outcome["response"],
        "I can't start pump 3 while its guard is open."
    );

    let decisions: Vec<String> = w
        .daemon
        .audit()
        .iter()
        .filter(|e| e["signal"] == "Plant.Pump2.State")
        .map(|e| {
            format!(
                "{}:{}",
                e["decision"].as_str().unwrap_or(""),
                e["result"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            "confirm:Start pump 2? Say yes to confirm.",
            "declined:declined",
            "confirm:Start pump 2? Say yes to confirm.",
            "confirmed:pending",
            "confirmed:ok",
            "confirm:Stop pump 2? Say yes to confirm.",
            "declined:expired",
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_get_and_set_over_both_bindings() -> anyhow::Result<()> {
    let w = world().await?;
    let get = |path: &'static str| {
        let agent = w.agent.clone();
        async move {
            let json: String = agent.get_signal(path, false).await?;
            anyhow::Ok(serde_json::from_str::<Value>(&json)?)
        }
    };
    // MQTT, read: the plant's retained state arrives by itself.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(v) = get("Plant.Pump1.Temperature").await {
            assert!(
                v["value"]
                    .as_f64()
                    .is_some_and(|t| (15.0..40.0).contains(&t)),
                "{v}"
            );
            assert_eq!(v["unit"], "celsius");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no plant temperature"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // D-Bus property, write then a change made by someone else arrives by PropertiesChanged.
    let set: String = w
        .agent
        .set_signal("Vehicle.Cabin.HVAC.FanLevel", "4")
        .await?;
    assert_eq!(serde_json::from_str::<Value>(&set)?["status"], "done");
    let conn = w.bus.connect().await?;
    let climate = zbus::Proxy::new(&conn, CAR, CAR_PATH, "org.edgeagent.SimCar.Climate").await?;
    climate.set_property("FanLevel", 9i32).await?;
    let nav = zbus::Proxy::new(&conn, CAR, CAR_PATH, "org.edgeagent.SimCar.Navigation").await?;
    let _: () = nav.call("SetDestination", &("harbour",)).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let fan = get("Vehicle.Cabin.HVAC.FanLevel").await?;
        let destination = get("Vehicle.Cabin.Infotainment.Navigation.Destination").await;
        if fan["value"] == 9 && destination.as_ref().is_ok_and(|d| d["value"] == "harbour") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "changes not observed: {fan} {destination:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // MQTT write through the policy: confirmation, then yes by voice.
    let set: String = w.agent.set_signal("Plant.Pump1.State", "running").await?;
    assert_eq!(serde_json::from_str::<Value>(&set)?["status"], "confirm");
    assert_eq!(say(&w.agent, "yes").await?["action"]["status"], "done");
    wait_plant_state(w.broker.port, "pump-1", "running").await?;

    // Typed errors.
    let err = w
        .agent
        .set_signal("Vehicle.Nope", "1")
        .await
        .expect_err("unknown");
    assert!(
        err.to_string()
            .contains("org.edgeagent.Agent1.Error.Signal")
            && err.to_string().contains("unknown signal"),
        "{err}"
    );
    let set: String = w.agent.set_signal("Plant.Pump1.Pressure", "3").await?;
    assert!(set.contains("is not writable"), "{set}");
    let set: String = w
        .agent
        .set_signal("Vehicle.Cabin.HVAC.FanLevel", "11")
        .await?;
    assert!(set.contains("11 is outside 0 to 10"), "{set}");
    let err = w
        .agent
        .set_signal("Vehicle.Cabin.HVAC.FanLevel", "loud")
        .await
        .expect_err("bad value");
    assert!(err.to_string().contains("InvalidInput"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbus_peer_that_dies_and_comes_back() -> anyhow::Result<()> {
    let mut w = world().await?;
    w.car.stop();
    let outcome = say(&w.agent, "set the fan to level four").await?;
    assert_eq!(outcome["action"]["status"], "failed");
    let error = outcome["action"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("org.freedesktop.DBus.Error.ServiceUnknown"),
        "{error}"
    );
    w.car.resume()?;
    assert_eq!(
        say(&w.agent, "set the fan to level four").await?["action"]["status"],
        "done"
    );
    let fan: i32 = car_property(&w.bus, "org.edgeagent.SimCar.Climate", "FanLevel").await?;
    assert_eq!(fan, 4);
    // Change notifications from the new peer reach the cache.
    let conn = w.bus.connect().await?;
    let climate = zbus::Proxy::new(&conn, CAR, CAR_PATH, "org.edgeagent.SimCar.Climate").await?;
    climate.set_property("FanLevel", 2i32).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let json: String = w
            .agent
            .get_signal("Vehicle.Cabin.HVAC.FanLevel", false)
            .await?;
        if serde_json::from_str::<Value>(&json)?["value"] == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "change after restart not observed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plant_broker_restart() -> anyhow::Result<()> {
    let mut w = world().await?;
    w.broker.stop();
    // With the broker gone the write cannot happen. Which check notices first depends on
    // whether the HAL has seen the connection drop: the policy's fresh read of the guard
    // fails (denied at once, nothing to confirm), or the confirmed write times out.
    let asked = say(&w.agent, "start pump one").await?;
    let outcome = if asked["awaiting"].is_string() {
        say(&w.agent, "yes").await?
    } else {
        asked
    };
    assert!(
        matches!(
            outcome["action"]["status"].as_str(),
            Some("failed" | "denied")
        ),
        "{outcome}"
    );
    w.broker.resume()?;
    w.plant.stop();
    w.plant.resume()?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        say(&w.agent, "start pump one").await?;
        let outcome = say(&w.agent, "yes").await?;
        if outcome["action"]["status"] == "done" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "HAL did not recover: {outcome}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_plant_state(w.broker.port, "pump-1", "running").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_loses_no_acknowledged_entry_on_kill_9() -> anyhow::Result<()> {
    let mut w = world().await?;
    let mut acknowledged = 0;
    for level in (0..=10).cycle().take(40) {
        let set: String = w
            .agent
            .set_signal(
                "Vehicle.Cabin.Infotainment.Media.Volume",
                &level.to_string(),
            )
            .await?;
        let status = serde_json::from_str::<Value>(&set)?["status"].clone();
        if status == "done" {
            acknowledged += 1;
        }
    }
    w.daemon.signal("KILL")?;
    let ok = w
        .daemon
        .audit()
        .iter()
        .filter(|e| e["signal"] == "Vehicle.Cabin.Infotainment.Media.Volume" && e["result"] == "ok")
        .count();
    // The rate limit (10 per 10 s) denies some; every acknowledged write is on disk.
    assert!(acknowledged >= 10, "{acknowledged}");
    assert_eq!(ok, acknowledged);
    Ok(())
}

#[test]
fn bad_profiles_are_rejected_at_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let profile = dir.path().join("car.toml");
    std::fs::write(
        &profile,
        "[[signal]]\npath = \"Vehicle.Speed\"\ndatatype = \"float\"\naccess = \"read-write\"\nmqtt = { state_topic = \"car/speed\" }\n",
    )?;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n[hal]\nprofiles = [{:?}]\n",
            profile.display().to_string()
        ),
    )?;
    let out = std::process::Command::new(edge_agent_tests::binary("edge-agentd")?)
        .arg("--config")
        .arg(&config)
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "car.toml:1: signal[0] (Vehicle.Speed).mqtt: a writable signal needs command_topic"
        ),
        "{err}"
    );
    std::fs::write(
        &profile,
        "[[signal]]\npath = \"Vehicle.Speed\"\ndatatype = \"float\"\nacess = \"read\"\n",
    )?;
    let out = std::process::Command::new(edge_agent_tests::binary("edge-agentd")?)
        .arg("--config")
        .arg(&config)
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("car.toml:4:1: unknown field `acess`"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_signal_and_audit_follow() -> anyhow::Result<()> {
    let w = world().await?;
    let ctl = |args: &[&str]| {
        let mut all = vec!["--bus", "address", "--address", w.bus.address.as_str()];
        all.extend_from_slice(args);
        edge_agent_tests::ctl(&all)
    };
    let audit_path = w.daemon.audit_path();
    let audit_path = audit_path.to_str().unwrap_or_default();
    let mut follow = std::process::Command::new(edge_agent_tests::binary("edge-agentctl")?)
        .args(["audit", "--follow", "--path", audit_path])
        .stdout(std::process::Stdio::piped())
        .spawn()?;

    let (code, out, err) = ctl(&["signal", "set", "Vehicle.Cabin.HVAC.FanLevel", "6"])?;
    assert_eq!((code, out.trim()), (0, r#"{"status":"done"}"#), "{err}");
    let (code, out, err) = ctl(&["signal", "get", "Vehicle.Cabin.HVAC.FanLevel", "--fresh"])?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out)?["value"], 6);
    let (code, _, err) = ctl(&["signal", "get", "Vehicle.Nope"])?;
    assert_eq!(code, 1);
    assert!(err.contains("unknown signal \"Vehicle.Nope\""), "{err}");

    let (code, out, err) = ctl(&["audit", "--path", audit_path])?;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[1]["origin"]["kind"], "cli");

    // --follow prints entries appended later.
    ctl(&["signal", "set", "Vehicle.Cabin.HVAC.FanLevel", "7"])?;
    let stdout = follow
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + WAIT;
    let mut seen_seven = false;
    while !seen_seven && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let v: Value = serde_json::from_str(&line)?;
            seen_seven = v["new"] == 7 && v["result"] == "ok";
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen_seven, "audit --follow did not show the new write");
    Ok(())
}
