//! End to end: the simulator on a private bus, driven by a zbus client.

use futures_util::StreamExt as _;
use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zbus::proxy::CacheProperties;
use zbus::{Connection, MatchRule, MessageStream, OwnedVariant, Proxy, Variant};

const NAME: &str = "org.edgeagent.SimCar";
const PATH: &str = "/org/edgeagent/SimCar";
const TIMEOUT: Duration = Duration::from_secs(10);

/// A child process, killed and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Starts `cmd` with stdout piped and returns it with the first stdout line `accept`s.
    fn start(cmd: &mut Command, accept: impl Fn(&str) -> bool) -> (Self, String) {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let proc = Self(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if accept(&line) => return (proc, line),
                Ok(_) => {}
                Err(e) => panic!("{cmd:?} printed no expected line: {e}"),
            }
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(mut self) -> ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the simulator did not exit on SIGTERM");
    }
}

async fn proxy(conn: &Connection, interface: &'static str) -> Proxy<'static> {
    zbus::proxy::Builder::new(conn)
        .destination(NAME)
        .path(PATH)
        .interface(interface)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .expect("build proxy")
}

/// The new value of `interface.property` from the next `PropertiesChanged` that carries it.
async fn changed_value(
    stream: &mut MessageStream,
    interface: &str,
    property: &str,
) -> OwnedVariant {
    let wait = async {
        while let Some(msg) = stream.next().await {
            let msg = msg.expect("valid message");
            let (iface, mut changed, _): (String, HashMap<String, OwnedVariant>, Vec<String>) =
                msg.body().deserialize().expect("PropertiesChanged body");
            if let Some(value) = changed.remove(property).filter(|_| iface == interface) {
                return value;
            }
        }
        panic!("PropertiesChanged stream ended");
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| panic!("no PropertiesChanged for {interface}.{property}"))
}

#[tokio::test]
async fn simulator_serves_the_contract() {
    let (_bus, address) = Proc::start(
        // stderr silenced: in containers it warns that it cannot raise its fd limit.
        Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stderr(Stdio::null()),
        |line| !line.trim().is_empty(),
    );
    let address = address.trim().to_owned();
    let (sim, _) = Proc::start(
        Command::new(env!("CARGO_BIN_EXE_edge-sim-car"))
            .args(["--bus", "address", "--address", &address])
            .env("RUST_LOG", "warn"),
        |line| line == "ready",
    );

    let conn = zbus::connection::Builder::address(address.as_str())
        .build()
        .await
        .expect("connect to the private bus");
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(NAME)
        .interface("org.freedesktop.DBus.Properties")
        .member("PropertiesChanged")
        .path(PATH)
        .build()
        .expect("match rule");
    let mut changes = MessageStream::for_match_rule(rule, &conn, None)
        .await
        .expect("subscribe to PropertiesChanged");

    // Climate: Set through org.freedesktop.DBus.Properties, read back, see PropertiesChanged.
    let set = |property: &'static str, value: Variant<'static>| {
        let conn = conn.clone();
        async move {
            conn.call_method(
                Some(NAME),
                PATH,
                Some("org.freedesktop.DBus.Properties"),
                "Set",
                &("org.edgeagent.SimCar.Climate", property, value),
            )
            .await
        }
    };
    set("DriverTemperature", Variant::from(22.5f64))
        .await
        .expect("set DriverTemperature");
    let climate = proxy(&conn, "org.edgeagent.SimCar.Climate").await;
    let driver: f64 = climate
        .get_property("DriverTemperature")
        .await
        .expect("get");
    assert_eq!(driver, 22.5);
    let value = changed_value(
        &mut changes,
        "org.edgeagent.SimCar.Climate",
        "DriverTemperature",
    )
    .await;
    assert_eq!(f64::try_from(value).expect("a double"), 22.5);

    // Out of range: refused with the simulator's own error name, value unchanged.
    match set("FanLevel", Variant::from(11i32)).await {
        Err(zbus::Error::MethodError(name, description, _)) => {
            assert_eq!(name.as_str(), "org.edgeagent.SimCar.Error.OutOfRange");
            let description = description.unwrap_or_default();
            assert!(description.contains("FanLevel") && description.contains("0..=10"));
        }
        other => panic!("FanLevel 11 was not refused: {other:?}"),
    }
    let fan: i32 = climate.get_property("FanLevel").await.expect("get");
    assert_eq!(fan, 3);

    // Navigation: SetDestination starts a route and signals it.
    let nav = proxy(&conn, "org.edgeagent.SimCar.Navigation").await;
    let mut destinations = nav
        .receive_signal("DestinationChanged")
        .await
        .expect("subscribe to DestinationChanged");
    let () = nav
        .call("SetDestination", &("airport",))
        .await
        .expect("SetDestination");
    let active: bool = nav.get_property("RouteActive").await.expect("get");
    assert!(active);
    let signal = tokio::time::timeout(TIMEOUT, destinations.next())
        .await
        .expect("DestinationChanged in time")
        .expect("stream open");
    let destination: String = signal.body().deserialize().expect("signal body");
    assert_eq!(destination, "airport");
    let (poi, km): (String, f64) = nav
        .call("FindNearby", &("charging_station",))
        .await
        .expect("FindNearby");
    assert!(!poi.is_empty() && km > 0.0, "{poi} at {km} km");

    // Media: Play names the track and starts playing.
    let media = proxy(&conn, "org.edgeagent.SimCar.Media").await;
    let () = media.call("Play", &("jazz",)).await.expect("Play");
    let track: String = media.get_property("Track").await.expect("get");
    let playing: bool = media.get_property("Playing").await.expect("get");
    assert_eq!(track, "jazz");
    assert!(playing);
    // A change made by a method is announced too.
    let value = changed_value(&mut changes, "org.edgeagent.SimCar.Media", "Track").await;
    assert_eq!(String::try_from(value).expect("a string"), "jazz");

    assert!(sim.terminate().success(), "the simulator exits cleanly");
}
