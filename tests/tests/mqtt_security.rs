//! MQTT security against a real mosquitto with a TLS listener: certificates made by the test
//! (openssl), client certificates required, passwords, and the shipped ACL
//! (`systemd/mosquitto-edge-agent.acl`). The agent connects over TLS with its certificate
//! and password; an operator's `cmd/say` is acted on; a viewer's is dropped by the broker
//! and never reaches the agent; the HAL reaches the plant over TLS with its own account;
//! unreadable TLS material keeps the agent off MQTT instead of falling back to plain text.

use anyhow::{Context as _, bail};
use edge_agent_tests::{
    DaemonSetup, DbusDaemon, MqttProbe, Simulator, current_user, daemon_sees, free_port, repo,
};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn run(program: &str, args: &[&str], dir: &Path) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A CA, a server certificate for localhost/127.0.0.1 and client certificates, in `dir`.
fn make_certificates(dir: &Path) -> anyhow::Result<()> {
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=edge-agent test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        dir,
    )?;
    // Version 3 certificates throughout (rustls refuses version 1).
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )?;
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n")?;
    for (name, ext) in [
        ("server", "server.ext"),
        ("agent", "client.ext"),
        ("operator", "client.ext"),
        ("viewer", "client.ext"),
    ] {
        run(
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
            dir,
        )?;
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &*format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &*format!("{name}.pem"),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(["-extfile".to_owned(), ext.to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run("openssl", &args, dir)?;
    }
    Ok(())
}

/// mosquitto with the shipped configuration (a TLS listener that requires a client
/// certificate and a password) and the shipped ACL; a second, plain listener (password only) for the plant simulator,
/// which stands for a PLC gateway without TLS.
struct SecureBroker {
    child: Child,
    port: u16,
    plain_port: u16,
}

impl SecureBroker {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        let passwords = dir.join("passwords");
        let users = [
            "edge-agent",
            "edge-agent-hal",
            "operator",
            "viewer",
            "plant-sim",
        ];
        for (i, user) in users.iter().enumerate() {
            let mut args = vec!["-b"];
            if i == 0 {
                args.push("-c");
            }
            let file = passwords.display().to_string();
            args.extend([file.as_str(), user, "secret"]);
            run("mosquitto_passwd", &args, dir)?;
        }
        let (port, plain_port) = (free_port()?, free_port()?);
        // The shipped ACL, and the simulated plant's own account.
        let acl = dir.join("acl");
        std::fs::write(
            &acl,
            format!(
                "{}\nuser plant-sim\ntopic readwrite plant/#\n",
                std::fs::read_to_string(repo().join("systemd/mosquitto-edge-agent.acl"))?
            ),
        )?;
        // The shipped configuration, its paths and port replaced by the test's.
        let mut text = std::fs::read_to_string(repo().join("systemd/mosquitto-edge-agent.conf"))?;
        for (from, to) in [
            (
                "/etc/mosquitto/certs/".to_owned(),
                format!("{}/", dir.display()),
            ),
            (
                "/etc/mosquitto/edge-agent.passwd".to_owned(),
                passwords.display().to_string(),
            ),
            (
                "/etc/mosquitto/edge-agent.acl".to_owned(),
                acl.display().to_string(),
            ),
            (
                "listener 8883".to_owned(),
                format!("listener {port} 127.0.0.1"),
            ),
        ] {
            anyhow::ensure!(
                text.contains(&from),
                "the shipped mosquitto configuration lost {from}"
            );
            text = text.replace(&from, &to);
        }
        // Run as whoever started it: as root, mosquitto would switch to its own account,
        // which cannot read the test's files.
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "user {}\n{text}\nlistener {plain_port} 127.0.0.1\n",
                current_user()
            ),
        )?;
        let log = dir.join("mosquitto.log");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting mosquitto")?;
        let deadline = Instant::now() + edge_agent_tests::WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", plain_port)).is_err()
        {
            if Instant::now() > deadline {
                bail!(
                    "mosquitto did not listen on {port}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            child,
            port,
            plain_port,
        })
    }
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(dir: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(dir.join(name)).with_context(|| name.to_owned())
}

/// A probe that logs in as `user` with its certificate.
async fn probe(dir: &Path, port: u16, user: &str, filter: &str) -> anyhow::Result<MqttProbe> {
    let mut options = MqttProbe::options("localhost", port)?;
    options.set_transport(rumqttc::Transport::tls(
        read(dir, "ca.pem")?,
        Some((
            read(dir, &format!("{user}.pem"))?,
            read(dir, &format!("{user}.key"))?,
        )),
        None,
    ));
    options.set_credentials(user, "secret");
    MqttProbe::connect_with(options, filter).await
}

/// The agent on `port` with its certificate, password and the given CA file.
fn agent_setup(bus: &DbusDaemon, port: u16, dir: &Path, ca_file: &Path) -> DaemonSetup {
    let mut setup = DaemonSetup::new(bus, port);
    setup.env.extend([
        ("EDGE_AGENT__MQTT__HOST".to_owned(), "localhost".to_owned()),
        (
            "EDGE_AGENT__MQTT__USERNAME".to_owned(),
            "edge-agent".to_owned(),
        ),
        ("EDGE_AGENT__MQTT__PASSWORD".to_owned(), "secret".to_owned()),
    ]);
    setup.extra = format!(
        "[mqtt.tls]\nca_file = {:?}\nclient_cert_file = {:?}\nclient_key_file = {:?}\n",
        ca_file.display().to_string(),
        dir.join("agent.pem").display().to_string(),
        dir.join("agent.key").display().to_string(),
    );
    setup
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_over_tls_only_from_clients_the_acl_lets_write() -> anyhow::Result<()> {
    let certs = tempfile::tempdir()?;
    make_certificates(certs.path())?;
    let broker = SecureBroker::start(certs.path())?;
    let bus = DbusDaemon::start()?;
    let daemon = edge_agent_tests::Daemon::start(&agent_setup(
        &bus,
        broker.port,
        certs.path(),
        &certs.path().join("ca.pem"),
    ))?;
    let topics = daemon.topics();

    // The agent is online over TLS (its retained status, read by an operator).
    let mut operator = probe(certs.path(), broker.port, "operator", &topics.all()).await?;
    operator
        .expect(&topics.status(), |p| p == b"online")
        .await
        .with_context(|| format!("agent not online over TLS; log:\n{}", daemon.log()))?;

    // A viewer may read but not command: the broker drops its cmd/say. mosquitto_pub
    // returns once the broker has acknowledged it (QoS 1), so had the broker passed it on,
    // it would reach the agent before the operator's command below.
    let d = certs.path();
    let file = |name: &str| d.join(name).display().to_string();
    let published = Command::new("mosquitto_pub")
        .args(["-h", "localhost", "-p", &broker.port.to_string(), "-q", "1"])
        .args(["--cafile", &file("ca.pem"), "--cert", &file("viewer.pem")])
        .args(["--key", &file("viewer.key"), "-u", "viewer", "-P", "secret"])
        .args(["-t", &topics.say(), "-m", "start pump three"])
        .output()?;
    assert!(
        published.status.success(),
        "mosquitto_pub: {}",
        String::from_utf8_lossy(&published.stderr)
    );
    // An operator's command, sent after it, is acted on; the viewer's never appears.
    operator
        .publish(&topics.say(), "what's the vibration on pump 3")
        .await?;
    let event = operator
        .expect_json(&topics.intent(), |v| v["origin"] == "mqtt")
        .await?;
    assert_eq!(
        event["intent"], "equipment.read_sensor",
        "the first command the agent heard must be the operator's, not the viewer's: {event}"
    );
    Ok(())
}

/// The HAL's own connection to the plant's broker over TLS, with its own account
/// (`edge-agent-hal` in the shipped ACL): an operator's "start pump three", confirmed with
/// "yes", is written to the plant and confirmed by the plant's state, both through that
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hal_reaches_the_plant_over_tls() -> anyhow::Result<()> {
    let certs = tempfile::tempdir()?;
    let d = certs.path();
    make_certificates(d)?;
    let broker = SecureBroker::start(d)?;
    let _plant = Simulator::start(
        "edge-sim-plant",
        &[
            "--port".into(),
            broker.plain_port.to_string(),
            "--period-ms".into(),
            "100".into(),
            "--username".into(),
            "plant-sim".into(),
            "--password".into(),
            "secret".into(),
        ],
    )?;
    let bus = DbusDaemon::start()?;
    let mut setup = agent_setup(&bus, broker.port, d, &d.join("ca.pem")).with_demo_profiles()?;
    setup.env.extend([
        (
            "EDGE_AGENT__HAL__MQTT__HOST".to_owned(),
            "localhost".to_owned(),
        ),
        (
            "EDGE_AGENT__HAL__MQTT__USERNAME".to_owned(),
            "edge-agent-hal".to_owned(),
        ),
        (
            "EDGE_AGENT__HAL__MQTT__PASSWORD".to_owned(),
            "secret".to_owned(),
        ),
    ]);
    setup.extra.push_str(&format!(
        "[hal.mqtt.tls]\nca_file = {:?}\nclient_cert_file = {:?}\nclient_key_file = {:?}\n",
        d.join("ca.pem").display().to_string(),
        d.join("agent.pem").display().to_string(),
        d.join("agent.key").display().to_string(),
    ));
    let daemon = edge_agent_tests::Daemon::start(&setup)?;
    let topics = daemon.topics();
    let mut operator = probe(d, broker.port, "operator", &topics.all()).await?;
    operator
        .expect(&topics.status(), |p| p == b"online")
        .await
        .with_context(|| format!("agent not online over TLS; log:\n{}", daemon.log()))?;
    // The plant's state reaches the HAL over TLS (the policy needs pump 3's guard closed).
    let agent = bus.agent().await?;
    daemon_sees(&agent, "Plant.Pump3.GuardClosed", true).await?;
    operator.publish(&topics.say(), "start pump three").await?;
    let event = operator
        .expect_json(&topics.intent(), |v| v["origin"] == "mqtt")
        .await?;
    assert_eq!(event["intent"], "equipment.start", "{event}");
    assert_eq!(event["action"]["status"], "confirm", "{event}");
    operator.publish(&topics.say(), "yes").await?;
    let event = operator
        .expect_json(&topics.intent(), |v| v["text"] == "yes")
        .await
        .with_context(|| daemon.log())?;
    assert_eq!(
        event["action"]["status"],
        "done",
        "the plant should confirm over the HAL's TLS connection: {event}\n{}",
        daemon.log()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_tls_material_keeps_the_agent_off_mqtt_and_says_why() -> anyhow::Result<()> {
    let certs = tempfile::tempdir()?;
    make_certificates(certs.path())?;
    let broker = SecureBroker::start(certs.path())?;
    let bus = DbusDaemon::start()?;
    let missing = certs.path().join("no-such-ca.pem");
    let daemon =
        edge_agent_tests::Daemon::start(&agent_setup(&bus, broker.port, certs.path(), &missing))?;
    // D-Bus works on; MQTT is off and the log names the file.
    let reply = bus.agent().await?.status().await?;
    assert!(reply.contains("device_id"), "{reply}");
    let log = daemon.log();
    assert!(
        log.contains("MQTT off") && log.contains("no-such-ca.pem"),
        "the log should say why MQTT is off:\n{log}"
    );
    Ok(())
}
