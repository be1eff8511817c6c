//! End-to-end: the simulator against a real mosquitto broker, driven by an MQTT client.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tokio::sync::mpsc;

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// Kills and reaps the child process when dropped, also when a test panics.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

fn start_broker(dir: &tempfile::TempDir, port: u16) -> Killed {
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
    )
    .expect("write mosquitto.conf");
    let child = Command::new(MOSQUITTO)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let broker = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    broker
}

fn start_simulator(port: u16) -> Killed {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-sim-plant"))
        .args(["--port", &port.to_string(), "--period-ms", "100"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start edge-sim-plant");
    let stdout = child.stdout.take().expect("piped stdout");
    let sim = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("simulator prints a line");
    assert_eq!(line, "ready");
    sim
}

/// A received message: topic, retain flag, JSON payload.
type Msg = (String, bool, Value);

async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    what: &str,
    pred: impl Fn(&str, &Value) -> bool,
) -> Msg {
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(msg) = rx.recv().await {
            if pred(&msg.0, &msg.2) {
                return Some(msg);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(msg)) => msg,
        _ => panic!("timed out waiting for {what}"),
    }
}

fn is_state(topic: &str) -> bool {
    topic == "plant/pump-3/state"
}

fn is_event(topic: &str, v: &Value, event: &str) -> bool {
    topic == "plant/pump-3/events" && v["event"] == event && v["machine"] == "pump-3"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_speaks_the_mqtt_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _broker = start_broker(&dir, port);
    let mut sim = start_simulator(port);

    let mut options = MqttOptions::new("sim-plant-test", "127.0.0.1", port);
    options.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, 32);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let net = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let json = serde_json::from_slice(&p.payload).expect("payload is JSON");
                    if tx.send((p.topic, p.retain, json)).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    let set = |sub: &'static str, payload: &'static str| {
        let client = client.clone();
        async move {
            client
                .publish(
                    format!("plant/pump-3/{sub}"),
                    QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .await
                .expect("publish command");
        }
    };
    for topic in ["plant/pump-3/state", "plant/pump-3/events"] {
        client
            .subscribe(topic, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
    }

    // The retained state is there as soon as the simulator says `ready`.
    let (_, retained, s) = wait_for(&mut rx, "retained state", |t, _| is_state(t)).await;
    assert!(retained, "first state message is the retained one");
    assert_eq!(s["state"], "stopped");
    assert_eq!(s["guard_closed"], true);
    assert!(s["fault"].is_null());

    set("set/state", "running").await;
    let (_, _, s) = wait_for(&mut rx, "running with pressure", |t, v| {
        is_state(t) && v["state"] == "running" && v["pressure"].as_f64() > Some(3.0)
    })
    .await;
    assert!(s["speed"].as_f64() > Some(1000.0));

    set("set/guard_closed", "false").await;
    let (_, _, e) = wait_for(&mut rx, "interlock event", |t, v| {
        is_event(t, v, "interlock")
    })
    .await;
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    wait_for(&mut rx, "stopped by interlock", |t, v| {
        is_state(t) && v["state"] == "stopped" && v["guard_closed"] == false
    })
    .await;

    set("set/guard_closed", "true").await;
    set("set/state", "start").await;
    wait_for(&mut rx, "restarted", |t, v| {
        is_state(t) && v["state"] == "running" && v["guard_closed"] == true
    })
    .await;
    set("fault", "bearing_wear").await;
    let (_, _, s) = wait_for(&mut rx, "vibration above 4", |t, v| {
        is_state(t) && v["vibration"].as_f64() > Some(4.0)
    })
    .await;
    assert_eq!(s["state"], "running");
    assert_eq!(s["fault"], "bearing_wear");

    set("set/state", "banana").await;
    let (_, retained, e) = wait_for(&mut rx, "error event", |t, v| is_event(t, v, "error")).await;
    assert!(!retained, "events are not retained");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("banana")));

    // SIGTERM ends the simulator cleanly.
    let pid = sim.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.expect("run kill").success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = sim.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "simulator did not exit on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit, got {status}");
    net.abort();
}
