//! MQTT security against a real mosquitto with a TLS listener: certificates made by the test
//! (openssl), client certificates required, passwords, and the shipped ACL
//! (`systemd/mosquitto-edge-agent.acl`). The agent connects over TLS with its certificate
//! and password; an operator's `cmd/say` is acted on; a viewer's is dropped by the broker
//! and never reaches the agent; unreadable TLS material keeps the agent off MQTT instead of
//! falling back to plain text.

use anyhow::{Context as _, bail};
use edge_agent_tests::{DaemonSetup, DbusDaemon, MqttProbe, current_user, free_port, repo};
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

/// mosquitto with a TLS listener that requires a client certificate and a password, and
/// the shipped ACL.
struct SecureBroker {
    child: Child,
    port: u16,
}

impl SecureBroker {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        let passwords = dir.join("passwords");
        for (i, user) in ["edge-agent", "operator", "viewer"].iter().enumerate() {
            let mut args = vec!["-b"];
            if i == 0 {
                args.push("-c");
            }
            let file = passwords.display().to_string();
            args.extend([file.as_str(), user, "secret"]);
            run("mosquitto_passwd", &args, dir)?;
        }
        let port = free_port()?;
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                // Run as whoever started it: as root, mosquitto would switch to its own
                // account, which cannot read the test's files.
                "user {}\nper_listener_settings false\nallow_anonymous false\npassword_file {}\nacl_file {}\n\
                 listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\n\
                 keyfile {d}/server.key\nrequire_certificate true\n",
                current_user(),
                passwords.display(),
                repo().join("systemd/mosquitto-edge-agent.acl").display(),
                d = dir.display()
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
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "mosquitto did not listen on {port}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { child, port })
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
    let conn = bus.connect().await?;
    let reply: String = conn
        .call_method(
            Some("org.edgeagent.Agent1"),
            "/org/edgeagent/Agent",
            Some("org.edgeagent.Agent1"),
            "Status",
            &(),
        )
        .await?
        .body()
        .deserialize()?;
    assert!(reply.contains("device_id"), "{reply}");
    let log = daemon.log();
    assert!(
        log.contains("MQTT off") && log.contains("no-such-ca.pem"),
        "the log should say why MQTT is off:\n{log}"
    );
    Ok(())
}
