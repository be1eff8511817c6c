//! The Modbus TCP transport against an independent server (pymodbus, from PyPI), and a
//! press on Modbus through the daemon against the plant simulator: started, read and
//! troubleshot by what a technician says.

use edge_agent_tests::{
    DemoWorld, MqttProbe, WAIT, daemon_sees, free_port, repo, say, tools_python,
};
use edge_core::SignalValue;
use edge_hal::{Catalogue, Hal, HalError, TransportRegistry};
use edge_hal_modbus::{ModbusPlugin, ModbusSection};
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;
use tokio_modbus::client::{Reader as _, Writer as _};

/// `tests/modbus/server.py`: pymodbus serving a fixed map on `port`; killed when dropped.
struct PyModbus {
    child: Child,
}

impl PyModbus {
    fn start(port: u16) -> anyhow::Result<Self> {
        let mut child = Command::new(tools_python()?)
            .arg(repo().join("tests/modbus/server.py"))
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let line = BufReader::new(stdout).lines().next();
            let _ = tx.send(line.and_then(Result::ok).is_some_and(|l| l == "ready"));
        });
        let ready = rx.recv_timeout(Duration::from_secs(60)).unwrap_or(false);
        anyhow::ensure!(
            ready,
            "pymodbus did not start (is it in the tools venv? bash tests/setup.sh)"
        );
        Ok(Self { child })
    }
}

impl Drop for PyModbus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PROFILE: &str = r#"
[[signal]]
path = "Machine.Count"
datatype = "float"
access = "read"
modbus = { device = "plc", table = "holding", address = 0, scale = 0.1 }

[[signal]]
path = "Machine.Total"
datatype = "int"
access = "read"
modbus = { device = "plc", table = "holding", address = 1, type = "i32" }

[[signal]]
path = "Machine.Setpoint"
datatype = "float"
min = 0
max = 1000
access = "read-write"
modbus = { device = "plc", table = "holding", address = 10, scale = 0.5 }

[[signal]]
path = "Machine.Temperature"
datatype = "float"
access = "read"
modbus = { device = "plc", table = "input", address = 0, type = "f32", word_order = "little" }

[[signal]]
path = "Machine.Lamp"
datatype = "bool"
access = "read-write"
modbus = { device = "plc", table = "coil", address = 0 }

[[signal]]
path = "Machine.Door"
datatype = "bool"
access = "read"
modbus = { device = "plc", table = "discrete", address = 0 }

[[signal]]
path = "Machine.Missing"
datatype = "int"
access = "read"
modbus = { device = "plc", table = "holding", address = 11 }

[[signal]]
path = "Machine.Elsewhere"
datatype = "int"
access = "read"
modbus = { device = "plc", unit = 2, table = "holding", address = 0 }
"#;

async fn value(hal: &Hal, path: &str) -> Result<SignalValue, HalError> {
    hal.get(path, true).await.map(|r| r.value)
}

fn float(v: Result<SignalValue, HalError>) -> f64 {
    match v {
        Ok(SignalValue::Float(f)) => f,
        other => panic!("not a float: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_transport_against_an_independent_server() -> anyhow::Result<()> {
    let port = free_port()?;
    let mut server = PyModbus::start(port)?;
    let section: ModbusSection = toml::from_str(&format!(
        "poll_ms = 50\ntimeout_ms = 1000\n[devices.plc]\nhost = \"127.0.0.1\"\nport = {port}\n"
    ))?;
    let transports = TransportRegistry::new().register(ModbusPlugin::new(section.clone()));
    let dir = tempfile::tempdir()?;
    let profile = dir.path().join("machine.toml");
    std::fs::write(&profile, PROFILE)?;
    let catalogue = Catalogue::load(std::slice::from_ref(&profile), &transports)?;
    let mut hal = Hal::new(&catalogue, Duration::from_secs(3));
    let plugin = transports.get("modbus").expect("registered");
    hal.set_transport(
        "modbus",
        plugin
            .start(catalogue.bound_to("modbus"), hal.sink())
            .await?,
    );
    let mut updates = hal.subscribe();

    // Every layout, read from a server that is not ours.
    assert!((float(value(&hal, "Machine.Count").await) - 123.4).abs() < 1e-9);
    assert_eq!(
        value(&hal, "Machine.Total").await,
        Ok(SignalValue::Int(-70_000))
    );
    assert_eq!(
        value(&hal, "Machine.Temperature").await,
        Ok(SignalValue::Float(21.5))
    );
    assert_eq!(
        value(&hal, "Machine.Door").await,
        Ok(SignalValue::Bool(true))
    );
    assert_eq!(
        value(&hal, "Machine.Lamp").await,
        Ok(SignalValue::Bool(true))
    );

    // Writes are confirmed by reading back; an independent client sees them.
    assert_eq!(
        hal.set("Machine.Setpoint", &SignalValue::Float(42.5)).await,
        Ok(SignalValue::Float(42.5))
    );
    assert_eq!(
        hal.set("Machine.Lamp", &SignalValue::Bool(false)).await,
        Ok(SignalValue::Bool(false))
    );
    let mut other = tokio_modbus::client::tcp::connect_slave(
        format!("127.0.0.1:{port}").parse()?,
        tokio_modbus::Slave(1),
    )
    .await?;
    assert_eq!(other.read_holding_registers(10, 1).await??, vec![85]);
    assert_eq!(other.read_coils(0, 1).await??.first(), Some(&false));

    // A change made by someone else arrives as an update (polling with change detection).
    other.write_single_register(0, 2000).await??;
    let deadline = Instant::now() + WAIT;
    loop {
        let update = tokio::time::timeout_at(deadline, updates.recv()).await??;
        // Earlier reads were reported too; wait for the new value.
        if update.path == "Machine.Count"
            && matches!(update.value, SignalValue::Float(f) if (f - 200.0).abs() < 1e-9)
        {
            break;
        }
    }

    // Errors name the device, its address, the unit and the register.
    let missing = value(&hal, "Machine.Missing")
        .await
        .expect_err("no register 11");
    assert!(
        missing.to_string().contains(&format!(
            "Machine.Missing: modbus plc (127.0.0.1:{port}) unit 1 holding register 11: the device answered:"
        )),
        "{missing}"
    );
    let elsewhere = value(&hal, "Machine.Elsewhere")
        .await
        .expect_err("no unit 2");
    assert!(
        elsewhere.to_string().contains("unit 2 holding register 0"),
        "{elsewhere}"
    );
    // An exception keeps the connection: the next read works at once.
    assert_eq!(
        value(&hal, "Machine.Door").await,
        Ok(SignalValue::Bool(true))
    );

    // The server goes away: reads fail naming the device; it comes back (a new process,
    // its map as at start): the transport reconnects by itself.
    drop(server);
    let gone = value(&hal, "Machine.Count").await.expect_err("server down");
    assert!(
        gone.to_string().contains("modbus plc (127.0.0.1:"),
        "{gone}"
    );
    server = PyModbus::start(port)?;
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(v) = value(&hal, "Machine.Count").await {
            assert!((float(Ok(v)) - 123.4).abs() < 1e-9);
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "no reconnection");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);

    // A binding naming a device the configuration lacks is refused at load, with its place.
    let unknown = PROFILE.replacen("device = \"plc\"", "device = \"plc-9\"", 1);
    std::fs::write(&profile, unknown)?;
    let err = Catalogue::load(&[profile], &transports).expect_err("unknown device");
    assert!(
        err.to_string().contains(
            "machine.toml:2: signal[0] (Machine.Count).modbus.device: \"plc-9\" is not a device of [hal.modbus.devices]"
        ),
        "{err}"
    );
    Ok(())
}

fn response(outcome: &serde_json::Value) -> &str {
    outcome["response"].as_str().unwrap_or_default()
}

async fn wait_press_state(port: u16, press: &str, state: &str) -> anyhow::Result<()> {
    let topic = format!("plant/{press}/state");
    MqttProbe::connect(port, &topic)
        .await?
        .expect_json(&topic, |v| v["state"] == state)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_on_modbus_is_started_read_and_troubleshot() -> anyhow::Result<()> {
    let w = DemoWorld::start(|setup, _| setup.with_modbus_presses()).await?;
    let port = w.broker.port;
    // The guard comes from the press' coil over Modbus.
    daemon_sees(&w.agent, "Plant.Press1.GuardClosed", true).await?;

    let asked = say(&w.agent, "start press one").await?;
    assert_eq!(
        response(&asked),
        "Start press 1? Say yes to confirm.",
        "{asked}"
    );
    let done = say(&w.agent, "yes").await?;
    assert_eq!(done["action"]["status"], "done", "{done}");
    assert_eq!(response(&done), "Starting press 1");
    // The simulator itself reports the press running (on MQTT, which the agent does not
    // use for presses here).
    wait_press_state(port, "press-1", "running").await?;
    let audit = w.daemon.audit();
    assert!(
        audit.iter().any(|e| e["signal"] == "Plant.Press1.State"
            && e["new"] == "running"
            && e["result"] == "ok"),
        "{audit:?}"
    );

    // Read over Modbus: the f32 pressure of a running press (180 bar +- noise).
    let pressure = say(&w.agent, "what's the pressure of press one").await?;
    let bar: f64 = response(&pressure)
        .split_whitespace()
        .rev()
        .find_map(|w| w.trim_end_matches(['.', ',']).parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no number in {pressure}"))?;
    assert!((170.0..=190.0).contains(&bar), "{pressure}");

    // Troubleshot: running with good pressure, so the tree asks about the stroke.
    let session = say(&w.agent, "troubleshoot press one").await?;
    assert!(
        response(&session).starts_with(
            "Let's troubleshoot press 1: a hydraulic fault. The state of press 1 is running."
        ),
        "{session}"
    );
    assert_eq!(
        session["awaiting"], "Is the stroke slower or jerkier than usual?",
        "{session}"
    );
    let concluded = say(&w.agent, "yes").await?;
    assert!(
        response(&concluded).contains("return filter"),
        "{concluded}"
    );

    // A press in fault does not take the start: the read-back shows it and the agent says so.
    // The probe lives until the fault is seen: dropped at once, its publish may never leave.
    let injector = MqttProbe::connect(port, "plant/press-2/events").await?;
    injector.publish("plant/press-2/fault", "trip").await?;
    wait_press_state(port, "press-2", "fault").await?;
    drop(injector);
    say(&w.agent, "start press two").await?;
    let refused = say(&w.agent, "yes").await?;
    assert_ne!(refused["action"]["status"], "done", "{refused}");
    let audit = w.daemon.audit();
    let failed = audit
        .iter()
        .rev()
        .find(|e| e["signal"] == "Plant.Press2.State")
        .ok_or_else(|| anyhow::anyhow!("no audit line for press 2: {audit:?}"))?;
    let detail = failed.to_string();
    assert!(
        detail.contains("modbus press-2 (127.0.0.1:")
            && detail.contains("unit 6 holding register 0")
            && detail.contains("the device holds fault"),
        "{detail}"
    );
    Ok(())
}
