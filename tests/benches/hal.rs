//! Set-to-confirmed latency of signal writes, over D-Bus (property Set, method call), over
//! MQTT (command topic, confirmed when the state topic shows the value) and over Modbus TCP
//! (register write, confirmed by reading it back), against the real simulators; a fresh
//! Modbus read; and the daemon's whole write path (D-Bus call, policy, two fsynced audit
//! entries, HAL) for comparison in the same run.
//!
//! `cargo build --release --bins && cargo bench -p edge-agent-tests --bench hal`

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{Daemon, DaemonSetup, DbusDaemon, Mosquitto, Simulator, free_port, repo};
use edge_core::SignalValue;
use edge_hal::{Catalogue, Hal, TransportRegistry};
use std::time::{Duration, Instant};

const N: usize = 200;

fn summary(name: &str, mut us: Vec<f64>) {
    us.sort_by(f64::total_cmp);
    let p = |q: f64| us[((us.len() as f64 * q).ceil() as usize).clamp(1, us.len()) - 1];
    println!(
        "| {name:<46} | {:>5} | {:>8.0} | {:>8.0} | {:>8.0} |",
        us.len(),
        p(0.5),
        p(0.99),
        us.iter().sum::<f64>() / us.len() as f64
    );
}

async fn time_sets(hal: &Hal, path: &str, values: [SignalValue; 2]) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(N);
    for i in 0..N {
        let t = Instant::now();
        hal.set(path, &values[i % 2]).await?;
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let modbus_port = free_port()?;
    let _plant = Simulator::plant_with_modbus(broker.port, modbus_port)?;
    let modbus: edge_hal_modbus::ModbusSection = toml::from_str(&format!(
        "[devices.press-1]\nhost = \"127.0.0.1\"\nport = {modbus_port}\n[devices.press-2]\nhost = \"127.0.0.1\"\nport = {modbus_port}\n"
    ))?;
    let settings = edge_hal_mqtt::MqttSettings {
        host: "127.0.0.1".into(),
        port: broker.port,
        client_id: "bench-hal".into(),
        keep_alive: Duration::from_secs(10),
        security: edge_hal_mqtt::MqttSecurity::default(),
    };
    let transports = TransportRegistry::new()
        .register(edge_hal_dbus::DbusPlugin::new(
            edge_hal_dbus::DbusBus::Connected(bus.connect().await?),
        ))
        .register(edge_hal_mqtt::MqttPlugin::new(settings))
        .register(edge_hal_modbus::ModbusPlugin::new(modbus));
    let catalogue = Catalogue::load(
        &[
            repo().join("hal/profiles/demo-car.toml"),
            repo().join("hal/profiles/demo-plant.toml"),
            repo().join("hal/profiles/demo-presses-modbus.toml"),
        ],
        &transports,
    )?;
    let mut hal = Hal::new(&catalogue, Duration::from_secs(5));
    for plugin in transports.plugins() {
        let transport = plugin
            .start(catalogue.bound_to(plugin.name()), hal.sink())
            .await?;
        hal.set_transport(plugin.name(), transport);
    }
    // Wait for the plant's retained states.
    let deadline = Instant::now() + Duration::from_secs(20);
    while hal.cached("Plant.Pump1.State").is_none() {
        anyhow::ensure!(Instant::now() < deadline, "no plant state");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let fan = time_sets(
        &hal,
        "Vehicle.Cabin.HVAC.FanLevel",
        [SignalValue::Int(3), SignalValue::Int(4)],
    )
    .await?;
    let nav = time_sets(
        &hal,
        "Vehicle.Cabin.Infotainment.Navigation.Destination",
        [
            SignalValue::String("airport".into()),
            SignalValue::String("harbour".into()),
        ],
    )
    .await?;
    let pump = time_sets(
        &hal,
        "Plant.Pump1.State",
        [
            SignalValue::String("running".into()),
            SignalValue::String("stopped".into()),
        ],
    )
    .await?;

    let press = time_sets(
        &hal,
        "Plant.Press1.State",
        [
            SignalValue::String("running".into()),
            SignalValue::String("stopped".into()),
        ],
    )
    .await?;
    let mut press_reads = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        hal.get("Plant.Press1.Pressure", true).await?;
        press_reads.push(t.elapsed().as_secs_f64() * 1e6);
    }

    // The daemon's whole path for a D-Bus property write.
    let setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    let _daemon = Daemon::start(&setup)?;
    let conn = bus.connect().await?;
    let agent = Agent1Proxy::new(&conn).await?;
    let mut full = Vec::with_capacity(N);
    for i in 0..N {
        let value = if i % 2 == 0 { "21" } else { "22" };
        let t = Instant::now();
        let out: String = agent
            .set_signal("Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature", value)
            .await?;
        full.push(t.elapsed().as_secs_f64() * 1e6);
        anyhow::ensure!(out.contains("done"), "{out}");
    }

    println!("set-to-confirmed latency, {N} writes each, alternating two values (microseconds)");
    println!(
        "| {:<46} | {:>5} | {:>8} | {:>8} | {:>8} |",
        "path", "n", "p50", "p99", "mean"
    );
    println!(
        "|{:-<48}|{:->7}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", ""
    );
    summary("HAL, D-Bus property Set (FanLevel)", fan);
    summary("HAL, D-Bus method (SetDestination)", nav);
    summary("HAL, MQTT command, state topic echo (pump-1)", pump);
    summary("HAL, Modbus write + read-back (press-1)", press);
    summary("HAL, Modbus fresh read, f32 (press-1)", press_reads);
    summary("daemon SetSignal: D-Bus + policy + audit + HAL", full);
    Ok(())
}
