//! Test harness: a private `dbus-daemon --session`, a `mosquitto` on a free loopback port,
//! and `edge-agentd` started with a generated configuration, waited for through a real
//! `NOTIFY_SOCKET` (so READY is tested too). Everything is killed on drop.
//!
//! The binaries are found next to the test executable's directory (`target/<profile>/`),
//! or in `EDGE_AGENT_BIN_DIR`; build them first with `cargo build --workspace --bins`.

use anyhow::{Context as _, bail};
use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use edge_agent_client::Agent1Proxy;

/// How long any wait in the harness may take before a test fails. Generous: these machines
/// are loaded; nothing here measures speed.
pub const WAIT: Duration = Duration::from_secs(20);

/// Directory holding `edge-agentd` and `edge-agentctl`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EDGE_AGENT_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<test-exe>
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Path of one of the project's binaries, or a clear error if it was not built.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = bin_dir().join(name);
    if !path.is_file() {
        bail!(
            "{} not found: run `cargo build --workspace --bins` first (or set EDGE_AGENT_BIN_DIR)",
            path.display()
        );
    }
    Ok(path)
}

/// Root of the repository: from the manifest directory cargo gives the running test or
/// bench (a build reused from a checkout elsewhere keeps that checkout's compile-time path).
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("..")
}

/// The skills built by `skills/build.sh` (components and manifests), next to the binaries.
pub fn built_skills() -> anyhow::Result<PathBuf> {
    let dir = bin_dir().join("../skills");
    if !dir.join("climate/climate.wasm").is_file() {
        bail!(
            "{} has no built skills: run `bash skills/build.sh` first",
            dir.display()
        );
    }
    Ok(dir)
}

/// The test skills (hostile, future) built by `skills/build.sh`.
pub fn built_test_skills() -> anyhow::Result<PathBuf> {
    let dir = bin_dir().join("../test-skills");
    if !dir.join("hostile/hostile.wasm").is_file() {
        bail!(
            "{} has no built test skills: run `bash skills/build.sh` first",
            dir.display()
        );
    }
    Ok(dir)
}

/// Compiled-skill cache shared by the tests' daemons (a restart must not recompile).
pub fn shared_skill_cache() -> PathBuf {
    bin_dir().join("../skill-cache")
}

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A private session bus.
#[derive(Debug)]
pub struct DbusDaemon {
    child: Child,
    /// Its address, for `dbus.address` and clients.
    pub address: String,
}

impl DbusDaemon {
    /// Starts `dbus-daemon --session` and reads its address.
    pub fn start() -> anyhow::Result<Self> {
        Self::spawn("--session")
    }

    /// Starts `dbus-daemon` with `config` (`--session` or `--config-file=...`) and reads
    /// the address it prints.
    fn spawn(config: &str) -> anyhow::Result<Self> {
        let mut child = Command::new("dbus-daemon")
            .args([config, "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dbus-daemon (apt install dbus-daemon)")?;
        let stdout = child.stdout.take().context("dbus-daemon stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let address = line.trim().to_owned();
        if address.is_empty() {
            kill(&mut child);
            bail!("dbus-daemon {config} printed no address");
        }
        Ok(Self { child, address })
    }

    /// A bus with the system bus's rules (`<type>system</type>`, socket-credential auth,
    /// and the default policy of Debian's `system.conf`: nobody owns a name or calls a
    /// method unless a policy allows it), plus the given policy files. Its socket is
    /// reachable by every user, so callers can run as other accounts.
    pub fn start_system_like(policies: &[String]) -> anyhow::Result<(Self, tempfile::TempDir)> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let mut includes = String::new();
        for (i, policy) in policies.iter().enumerate() {
            let path = dir.path().join(format!("policy-{i}.conf"));
            std::fs::write(&path, policy)?;
            includes.push_str(&format!("  <include>{}</include>\n", path.display()));
        }
        let config = dir.path().join("system-like.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={}/system_bus_socket</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
{includes}</busconfig>
"#,
                dir.path().display()
            ),
        )?;
        let bus = Self::spawn(&format!("--config-file={}", config.display()))?;
        Ok((bus, dir))
    }

    /// A client connection to this bus.
    pub async fn connect(&self) -> anyhow::Result<zbus::Connection> {
        Ok(zbus::connection::Builder::address(self.address.as_str())
            .build()
            .await?)
    }

    /// The agent's D-Bus API (`org.edgeagent.Agent1`) over a new connection.
    pub async fn agent(&self) -> anyhow::Result<Agent1Proxy<'static>> {
        let conn = self.connect().await?;
        Ok(Agent1Proxy::new(&conn).await?)
    }
}

impl Drop for DbusDaemon {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A mosquitto broker on a loopback port, which can be stopped and started again.
#[derive(Debug)]
pub struct Mosquitto {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Sessions and queued messages saved across a (graceful) restart.
    persistent: bool,
    /// Its port.
    pub port: u16,
}

impl Mosquitto {
    /// Starts a broker on a free port.
    pub fn start() -> anyhow::Result<Self> {
        let mut broker = Self {
            child: None,
            dir: tempfile::tempdir()?,
            persistent: false,
            port: free_port()?,
        };
        broker.resume()?;
        Ok(broker)
    }

    /// A broker that keeps sessions, subscriptions and queued QoS 1 messages on disk
    /// across [`Mosquitto::stop_gracefully`] and [`Mosquitto::resume`], as a deployed one
    /// does.
    pub fn start_persistent() -> anyhow::Result<Self> {
        let mut broker = Self {
            child: None,
            dir: tempfile::tempdir()?,
            persistent: true,
            port: free_port()?,
        };
        broker.resume()?;
        Ok(broker)
    }

    /// Starts (again) on the same port; waits until it accepts connections.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n{}",
                self.port,
                if self.persistent {
                    // As root, mosquitto would switch to its own account, which cannot
                    // write the test's directory: it runs as whoever started it.
                    format!(
                        "user {}\npersistence true\npersistence_location {}/\n",
                        current_user(),
                        self.dir.path().display()
                    )
                } else {
                    "persistence false\n".to_owned()
                }
            ),
        )?;
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log"))?;
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting mosquitto (apt install mosquitto)")?;
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!("mosquitto did not listen on port {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Stops the broker as a service manager does (SIGTERM: it saves its state first).
    pub fn stop_gracefully(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Stops the broker (SIGKILL: like a crash or a pulled cable).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }
}

/// The name of the account the tests run as (`id -un`); empty when unknown.
pub fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn mosquitto_binary() -> PathBuf {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("mosquitto"))
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A simulator process (`edge-sim-car`, `edge-sim-plant`) that prints `ready` once serving.
#[derive(Debug)]
pub struct Simulator {
    child: Option<Child>,
    name: String,
    args: Vec<String>,
}

impl Simulator {
    /// Starts `binary` with `args` and waits for its `ready` line.
    pub fn start(binary_name: &str, args: &[String]) -> anyhow::Result<Self> {
        let mut sim = Self {
            child: None,
            name: binary_name.to_owned(),
            args: args.to_vec(),
        };
        sim.resume()?;
        Ok(sim)
    }

    /// The virtual car on the bus at `address`.
    pub fn car(bus: &DbusDaemon) -> anyhow::Result<Self> {
        Self::start(
            "edge-sim-car",
            &[
                "--bus".into(),
                "address".into(),
                "--address".into(),
                bus.address.clone(),
            ],
        )
    }

    /// The virtual plant on the broker at `port`, publishing every 100 ms.
    pub fn plant(port: u16) -> anyhow::Result<Self> {
        Self::start(
            "edge-sim-plant",
            &[
                "--port".into(),
                port.to_string(),
                "--period-ms".into(),
                "100".into(),
            ],
        )
    }

    /// The virtual plant on the broker at `port` that also serves its machines over
    /// Modbus TCP on `modbus_port`.
    pub fn plant_with_modbus(port: u16, modbus_port: u16) -> anyhow::Result<Self> {
        Self::start(
            "edge-sim-plant",
            &[
                "--port".into(),
                port.to_string(),
                "--period-ms".into(),
                "100".into(),
                "--modbus-port".into(),
                modbus_port.to_string(),
            ],
        )
    }

    /// Starts it (again) with the same arguments.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        let mut child = Command::new(binary(&self.name)?)
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("simulator stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let ready = lines
                .next()
                .and_then(Result::ok)
                .is_some_and(|l| l.trim() == "ready");
            let _ = tx.send(ready);
            // Keep draining so the simulator never blocks on a full pipe.
            for _ in lines {}
        });
        let ready = rx.recv_timeout(WAIT).unwrap_or(false);
        self.child = Some(child);
        if !ready {
            self.stop();
            bail!("{} did not print ready", self.name);
        }
        Ok(())
    }

    /// Its process id while it runs (to stop it with `SIGSTOP`: a hung peer).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it (a crash).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `edge-agentd`.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    notify: UnixDatagram,
    /// Directory with its config and logs.
    pub dir: tempfile::TempDir,
    /// Its device id.
    pub device_id: String,
    /// Its standard input, when [`DaemonSetup::stdin_pipe`] is set.
    pub stdin: Option<std::process::ChildStdin>,
    /// Bytes written to it so far.
    stdin_written: u64,
}

/// Settings for a test daemon.
#[derive(Debug, Clone)]
pub struct DaemonSetup {
    /// Bus address.
    pub bus_address: String,
    /// Broker port.
    pub mqtt_port: u16,
    /// Device id.
    pub device_id: String,
    /// Skill directories.
    pub skill_dirs: Vec<PathBuf>,
    /// Extra TOML appended to the config.
    pub extra: String,
    /// Extra environment variables for the daemon.
    pub env: Vec<(String, String)>,
    /// Signal profiles; the HAL uses the same bus and broker.
    pub profiles: Vec<PathBuf>,
    /// Publisher keys; when set, skills must be signed.
    pub trusted_keys: Vec<String>,
    /// Give the daemon a pipe as standard input (live audio with `audio.source = "stdin"`).
    pub stdin_pipe: bool,
    /// Compiled-skill cache (default: [`shared_skill_cache`]).
    pub skill_cache: PathBuf,
    /// A command the daemon is started through (its binary and arguments follow), e.g.
    /// `unshare -m sh -c '...; exec "$0" "$@"'` to give it a mount namespace of its own.
    pub launcher: Vec<String>,
    /// The plant simulator's Modbus TCP port (0: it serves none).
    pub plant_modbus_port: u16,
}

impl DaemonSetup {
    /// The shipped skills on the given bus and broker.
    pub fn new(bus: &DbusDaemon, mqtt_port: u16) -> Self {
        Self {
            bus_address: bus.address.clone(),
            mqtt_port,
            device_id: format!("test-{}", std::process::id()),
            skill_dirs: vec![repo().join("skills")],
            extra: String::new(),
            profiles: Vec::new(),
            env: Vec::new(),
            trusted_keys: Vec::new(),
            stdin_pipe: false,
            skill_cache: shared_skill_cache(),
            launcher: Vec::new(),
            plant_modbus_port: 0,
        }
    }

    /// The shipped demo car and plant profiles, and the example skills' components.
    pub fn with_demo_profiles(mut self) -> anyhow::Result<Self> {
        self.skill_dirs = vec![built_skills()?];
        self.profiles = vec![
            repo().join("hal/profiles/demo-car.toml"),
            repo().join("hal/profiles/demo-plant.toml"),
            repo().join("hal/profiles/demo-presses-mqtt.toml"),
        ];
        Ok(self)
    }

    /// The demo profiles with the presses over Modbus TCP, served by the plant simulator
    /// on [`DaemonSetup::plant_modbus_port`] (see [`Simulator::plant_with_modbus`]).
    pub fn with_modbus_presses(mut self) -> anyhow::Result<Self> {
        let modbus_port = self.plant_modbus_port;
        anyhow::ensure!(modbus_port != 0, "the plant serves no Modbus");
        self = self.with_demo_profiles()?;
        self.profiles[2] = repo().join("hal/profiles/demo-presses-modbus.toml");
        self.extra.push_str(&format!(
            "[hal.modbus]\npoll_ms = 100\n[hal.modbus.devices]\npress-1 = {{ host = \"127.0.0.1\", port = {modbus_port} }}\npress-2 = {{ host = \"127.0.0.1\", port = {modbus_port} }}\n"
        ));
        Ok(self)
    }

    /// Both workers as the daemon runs them (whisper tiny.en, SmolLM2 with intents), their
    /// sockets in `dir`, and info logs (debug lines would fill a long run's disk): the
    /// world of the soak and dashboard benchmarks. Wait with [`wait_for_workers`].
    pub fn with_both_workers(mut self, dir: &Path) -> anyhow::Result<Self> {
        self.extra.push_str(&format!(
            "{}[slm]\nmodel = {:?}\nsocket = {:?}\nintents = true\nstart_timeout_ms = 120000\nrequest_timeout_ms = 60000\n",
            asr_worker_config(&asr_model()?, dir),
            slm_model()?.display().to_string(),
            dir.join("slm.sock").display().to_string(),
        ));
        self.env
            .push(("EDGE_AGENT__LOG__LEVEL".into(), "info".into()));
        Ok(self)
    }

    /// The demo world with only the `climate` skill (copied into `dir`) and fleet commands
    /// on, signed by a new publisher key; returns the key's secret file too.
    pub fn with_fleet(
        mut self,
        dir: &Path,
        heartbeat_secs: u64,
    ) -> anyhow::Result<(Self, PathBuf)> {
        let skills = dir.join("skills");
        copy_skill(&built_skills()?, &skills, "climate")?;
        let (secret, public) = edge_signing::generate_key()?;
        let key = dir.join("publisher.key");
        std::fs::write(&key, secret)?;
        self = self.with_demo_profiles()?;
        self.skill_dirs = vec![skills];
        self.extra.push_str(&format!(
            "[asr]\nenabled = false\n[slm]\nenabled = false\n[fleet]\nenabled = true\npublisher_keys = [{public:?}]\nheartbeat_secs = {heartbeat_secs}\n"
        ));
        Ok((self, key))
    }

    /// The configuration file text; the audit log goes to `audit` (see [`Daemon::audit_path`]).
    pub fn config(&self) -> String {
        let dirs: Vec<String> = self
            .skill_dirs
            .iter()
            .map(|d| format!("{:?}", d.display().to_string()))
            .collect();
        format!(
            "version = 1\n[agent]\ndevice_id = {:?}\n[log]\nlevel = \"debug\"\n[dbus]\nbus = \"address\"\naddress = {:?}\n[mqtt]\nport = {}\nreconnect_min_ms = 50\nreconnect_max_ms = 200\nkeep_alive_secs = 5\n[skills]\ndirs = [{}]\ncache_dir = {:?}\n{}[hal]\nprofiles = [{}]\nset_timeout_ms = 2000\n[hal.dbus]\nbus = \"address\"\naddress = {:?}\n[hal.mqtt]\nport = {}\n{}",
            self.device_id,
            self.bus_address,
            self.mqtt_port,
            dirs.join(", "),
            self.skill_cache.display().to_string(),
            if self.trusted_keys.is_empty() {
                String::new()
            } else {
                format!(
                    "require_signed = true\ntrusted_keys = {:?}\n",
                    self.trusted_keys
                )
            },
            self.profiles
                .iter()
                .map(|p| format!("{:?}", p.display().to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            self.bus_address,
            self.mqtt_port,
            self.extra
        )
    }
}

impl Daemon {
    /// Starts the daemon and waits for READY=1 on its notify socket.
    pub fn start(setup: &DaemonSetup) -> anyhow::Result<Self> {
        let mut daemon = Self::spawn(setup)?;
        loop {
            let message = daemon
                .next_notification()
                .with_context(|| format!("no READY=1 from edge-agentd; log:\n{}", daemon.log()))?;
            if message.lines().any(|l| l == "READY=1") {
                break;
            }
        }
        if let Some(status) = daemon.try_status()? {
            bail!("edge-agentd exited with {status}; log:\n{}", daemon.log());
        }
        Ok(daemon)
    }

    /// Starts the daemon without waiting for it to be ready.
    pub fn spawn(setup: &DaemonSetup) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config.toml");
        let audit = dir.path().join("audit.jsonl");
        std::fs::write(
            &config,
            format!(
                "{}\n[audit]\npath = {:?}\n",
                setup.config().replacen(
                    "\n[hal]",
                    &format!(
                        "\nstate_dir = {:?}\n[hal]",
                        dir.path().join("state").display().to_string()
                    ),
                    1
                ),
                audit.display().to_string()
            ),
        )?;
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path)?;
        notify.set_read_timeout(Some(WAIT))?;
        let log = std::fs::File::create(dir.path().join("daemon.log"))?;
        let mut command = match setup.launcher.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary("edge-agentd")?);
                c
            }
            None => Command::new(binary("edge-agentd")?),
        };
        let child = command
            .arg("--config")
            .arg(&config)
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("JOURNAL_STREAM")
            .env_remove("WATCHDOG_USEC")
            .envs(setup.env.iter().map(|(k, v)| (k, v)))
            .stdin(if setup.stdin_pipe {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut child = child;
        let stdin = child.stdin.take();
        Ok(Self {
            child: Some(child),
            notify,
            dir,
            device_id: setup.device_id.clone(),
            stdin,
            stdin_written: 0,
        })
    }

    /// The next sd_notify message the daemon sent (waits up to [`WAIT`]).
    pub fn next_notification(&self) -> anyhow::Result<String> {
        let mut buf = [0u8; 1024];
        let n = self.notify.recv(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// The audit log file.
    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// The daemon's `state_dir` (skills' stores, reports).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The audit log's entries so far.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// The exit status if it has exited.
    pub fn try_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        match &mut self.child {
            Some(child) => Ok(child.try_wait()?),
            None => Ok(None),
        }
    }

    /// Sends a signal and waits for the exit.
    pub fn signal(&mut self, signal: &str) -> anyhow::Result<ExitStatus> {
        let child = self.child.as_mut().context("daemon already stopped")?;
        let pid = child.id().to_string();
        Command::new("kill").args(["-s", signal, &pid]).status()?;
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("edge-agentd did not exit after SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its topics.
    pub fn topics(&self) -> edge_topics::Topics {
        edge_topics::Topics::new(&self.device_id)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }
}

/// Topic names, written out here rather than imported so that the tests check the
/// daemon's public contract.
pub mod edge_topics {
    /// Topics of one device under `edge-agent/`.
    #[derive(Debug, Clone)]
    pub struct Topics {
        base: String,
    }

    impl Topics {
        /// For `device_id`.
        pub fn new(device_id: &str) -> Self {
            Self {
                base: format!("edge-agent/{device_id}"),
            }
        }
        /// Retained status.
        pub fn status(&self) -> String {
            format!("{}/status", self.base)
        }
        /// Recognitions.
        pub fn intent(&self) -> String {
            format!("{}/events/intent", self.base)
        }
        /// Responses.
        pub fn response(&self) -> String {
            format!("{}/events/response", self.base)
        }
        /// Rejected commands.
        pub fn error(&self) -> String {
            format!("{}/events/error", self.base)
        }
        /// Text commands.
        pub fn say(&self) -> String {
            format!("{}/cmd/say", self.base)
        }
        /// Privacy mode (`on`, `off`).
        pub fn privacy(&self) -> String {
            format!("{}/cmd/privacy", self.base)
        }
        /// Conversation changes.
        pub fn session(&self) -> String {
            format!("{}/events/session", self.base)
        }
        /// Retained open conversations.
        pub fn sessions(&self) -> String {
            format!("{}/sessions", self.base)
        }
        /// Everything of the device.
        pub fn all(&self) -> String {
            format!("{}/#", self.base)
        }
    }
}

/// An MQTT test client that records every message on the topics it subscribed to.
#[derive(Debug)]
pub struct MqttProbe {
    client: rumqttc::AsyncClient,
    messages: tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>, bool)>,
    task: tokio::task::JoinHandle<()>,
}

impl MqttProbe {
    /// Connects (clean session) and subscribes to `filter`; returns once subscribed.
    pub async fn connect(port: u16, filter: &str) -> anyhow::Result<Self> {
        let options = Self::options("127.0.0.1", port)?;
        Self::connect_with(options, filter).await
    }

    /// Options for a probe of the broker at `host:port` (a unique client id), to add TLS or
    /// credentials to before [`MqttProbe::connect_with`].
    pub fn options(host: &str, port: u16) -> anyhow::Result<rumqttc::MqttOptions> {
        let id = format!("probe-{}-{}", std::process::id(), free_port()?);
        let mut options = rumqttc::MqttOptions::new(id, host, port);
        options.set_keep_alive(Duration::from_secs(5));
        // Fleet commands carry a skill's component.
        options.set_max_packet_size(16 << 20, 16 << 20);
        Ok(options)
    }

    /// Connects with `options` and subscribes to `filter`; returns once subscribed.
    pub async fn connect_with(options: rumqttc::MqttOptions, filter: &str) -> anyhow::Result<Self> {
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        client.subscribe(filter, rumqttc::QoS::AtLeastOnce).await?;
        let (tx, messages) = tokio::sync::mpsc::unbounded_channel();
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut subscribed = Some(subscribed_tx);
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        if let Some(s) = subscribed.take() {
                            let _ = s.send(());
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec(), p.retain));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, subscribed_rx)
            .await
            .context("no SUBACK from the broker")??;
        Ok(Self {
            client,
            messages,
            task,
        })
    }

    /// Publishes with QoS 1.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) -> anyhow::Result<()> {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.into())
            .await?;
        Ok(())
    }

    /// Waits for the next message on `topic` that satisfies `accept`.
    pub async fn expect(
        &mut self,
        topic: &str,
        mut accept: impl FnMut(&[u8]) -> bool,
    ) -> anyhow::Result<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.messages.recv())
                .await
                .with_context(|| format!("no matching message on {topic}"))?
                .context("probe stopped")?;
            if next.0 == topic && accept(&next.1) {
                return Ok(next.1);
            }
        }
    }

    /// Waits for the next JSON message on `topic` satisfying `accept`.
    pub async fn expect_json(
        &mut self,
        topic: &str,
        mut accept: impl FnMut(&serde_json::Value) -> bool,
    ) -> anyhow::Result<serde_json::Value> {
        let payload = self
            .expect(topic, |p| {
                serde_json::from_slice::<serde_json::Value>(p).is_ok_and(|v| accept(&v))
            })
            .await?;
        Ok(serde_json::from_slice(&payload)?)
    }
}

impl Drop for MqttProbe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `edge-agentctl` with `args`; returns (exit code, stdout, stderr).
pub fn ctl(args: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let out = Command::new(binary("edge-agentctl")?).args(args).output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The cache shared with `agent/models/provision.sh` and `tests/speech/generate.sh`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("EDGE_AGENT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edge-agent")))
        .unwrap_or_else(|| PathBuf::from(".cache/edge-agent"))
}

/// The Whisper model the speech tests use (provisioned by `agent/models/provision.sh asr`).
pub fn asr_model() -> anyhow::Result<PathBuf> {
    let model = std::env::var_os("EDGE_AGENT_ASR_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("models/whisper/ggml-tiny.en-q8_0.bin"));
    if !model.is_file() {
        bail!(
            "no Whisper model at {}: run `bash agent/models/provision.sh asr` (tests/run.sh does)",
            model.display()
        );
    }
    Ok(model)
}

/// The Python with the `wyoming` client (set up by tests/setup.sh).
pub fn tools_python() -> anyhow::Result<PathBuf> {
    let python = cache_dir().join("venv/bin/python");
    if !python.is_file() {
        bail!(
            "no tools virtualenv at {}: run `bash tests/setup.sh`",
            python.display()
        );
    }
    Ok(python)
}

/// The espeak-ng command recordings: generated once per run by `tests/speech/generate.sh`
/// (idempotent, outside the repository). Returns the directory with `manifest.jsonl`.
pub fn speech_fixtures() -> anyhow::Result<PathBuf> {
    static DIR: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("tests/speech/generate.sh"))
            .output()
            .map_err(|e| format!("cannot run tests/speech/generate.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tests/speech/generate.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = stdout.lines().last().unwrap_or_default().trim().to_owned();
        Ok(PathBuf::from(dir))
    })
    .clone()
    .map_err(|e| anyhow::anyhow!(e))
}

/// One recorded command of the speech fixtures.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SpokenCommand {
    pub id: String,
    pub text: String,
    pub intent: String,
    #[serde(default)]
    pub slots: serde_json::Map<String, serde_json::Value>,
    pub wav: PathBuf,
}

/// The recorded commands, in manifest order.
pub fn spoken_commands() -> anyhow::Result<Vec<SpokenCommand>> {
    let manifest = speech_fixtures()?.join("manifest.jsonl");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("{}: {l}", manifest.display())))
        .collect()
}

/// Whether an outcome (JSON with `intent` and `slots`) is the expected command: same intent,
/// and every expected slot present with the same value (numbers compared as numbers).
pub fn outcome_matches(command: &SpokenCommand, outcome: &serde_json::Value) -> bool {
    if outcome["intent"] != command.intent {
        return false;
    }
    command.slots.iter().all(|(name, want)| {
        let got = &outcome["slots"][name];
        match (want.as_f64(), got.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-6,
            _ => got == want,
        }
    })
}

/// Extra configuration for a daemon that runs its own `edge-asr` worker on `model`, with the
/// socket in `dir`.
pub fn asr_worker_config(model: &Path, dir: &Path) -> String {
    format!(
        "[asr]\nmodel = {:?}\nsocket = {:?}\nstart_timeout_ms = 20000\nrequest_timeout_ms = 20000\n",
        model.display().to_string(),
        dir.join("asr.sock").display().to_string()
    )
}

/// CPU time a process has used so far (user + system), in clock ticks (1/100 s on Linux);
/// 0 when unreadable.
pub fn proc_cpu_ticks(pid: u64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces) start after ") ".
            let rest = stat.rsplit_once(") ")?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0)
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`); 0 when unreadable.
pub fn proc_status_kib(pid: u64, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// How long a test waits for a worker to load its model or cache its prompts: a debug
/// worker on a loaded 2-core machine takes tens of seconds. A wait for a state, not a limit
/// on speed.
pub const WORKER_WAIT: Duration = Duration::from_secs(300);

/// Polls the daemon's `Status()` until `done` holds for it; returns that status.
pub async fn wait_for_status(
    agent: &Agent1Proxy<'_>,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + WORKER_WAIT;
    loop {
        let json: String = agent.status().await?;
        let status: serde_json::Value = serde_json::from_str(&json)?;
        if done(&status) {
            return Ok(status);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: not within {WORKER_WAIT:?}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the SLM worker is ready with the intents' prompts cached, or ready when it
/// is no intent tier (`slm.intents` off: no prompts). Until then a skill's `llm.choose` is
/// answered "not ready" and the SLM intent tier is skipped.
pub async fn slm_prompts_cached(agent: &Agent1Proxy<'_>) -> anyhow::Result<serde_json::Value> {
    wait_for_status(agent, "SLM prompts cached", slm_ready).await
}

/// Whether the status shows the SLM worker ready to answer (see [`slm_prompts_cached`]).
pub fn slm_ready(status: &serde_json::Value) -> bool {
    let slm = &status["language"]["slm"];
    let running = slm["state"] == "ready" || slm["state"] == "external";
    slm["prompts"] == "cached" || (slm["prompts"] == "off" && running)
}

/// Waits until the embedding tier is fitted on the skills (until then it is skipped).
pub async fn embedding_fitted(agent: &Agent1Proxy<'_>) -> anyhow::Result<serde_json::Value> {
    wait_for_status(agent, "embedding tier fitted", |s| {
        s["language"]["embedding"]["state"] == "ready"
    })
    .await
}

/// The embedding tier alone (its worker runs the encoder, no language model), the worker's
/// socket in `dir`, with `thresholds` as `[embedding]` keys.
pub fn embedding_config(dir: &Path, thresholds: &str) -> anyhow::Result<String> {
    Ok(format!(
        "[slm]\nenabled = false\nsocket = {:?}\n\n[embedding]\nencoder = {:?}\n{thresholds}\n",
        dir.join("slm.sock").display().to_string(),
        specialised_encoder()?.display().to_string(),
    ))
}

/// The sentence encoder fine-tuned on the example skills (`agent/models/provision.sh
/// tuned`, which tests/run.sh runs after the build).
pub fn specialised_encoder() -> anyhow::Result<PathBuf> {
    cached_model(
        "models/embed/minilm-skills.gguf",
        "tuned --training <(edge-agentctl schema --training --skills skills)",
    )
}

/// `relative` in the model cache, put there by `agent/models/provision.sh ARGS`.
fn cached_model(relative: &str, args: &str) -> anyhow::Result<PathBuf> {
    let model = cache_dir().join(relative);
    if !model.is_file() {
        bail!(
            "{} missing: run `bash agent/models/provision.sh {args}`",
            model.display()
        );
    }
    Ok(model)
}

/// The SmolLM2 model the SLM tests use (provisioned by `agent/models/provision.sh slm`).
pub fn slm_model() -> anyhow::Result<PathBuf> {
    cached_model("models/slm/smollm2-135m-instruct.gguf", "slm")
}

/// What `espeak-ng --stdout` writes for `text`, with the streaming header's sizes made
/// true (as the daemon does before playing).
pub fn espeak_wav(text: &str) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("espeak-ng")
        .args(["--stdout", "--", text])
        .output()?;
    if !out.status.success() {
        bail!("espeak-ng failed for {text:?}");
    }
    let mut wav = out.stdout;
    let len = wav.len();
    wav[4..8].copy_from_slice(&((len - 8) as u32).to_le_bytes());
    wav[40..44].copy_from_slice(&((len - 44) as u32).to_le_bytes());
    Ok(wav)
}

/// A little-endian u32 of a WAV header.
pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl Daemon {
    /// The audit decisions on `signal`, as `decision:result`.
    pub fn decisions(&self, signal: &str) -> Vec<String> {
        self.audit()
            .iter()
            .filter(|e| e["signal"] == signal)
            .map(|e| {
                format!(
                    "{}:{}",
                    e["decision"].as_str().unwrap_or(""),
                    e["result"].as_str().unwrap_or("")
                )
            })
            .collect()
    }
}

/// Starts pump 3 of the plant simulator on the broker at `port` with worn bearings, and
/// waits until the daemon behind `agent` reads its vibration above the 4.5 mm/s alarm
/// level.
pub async fn wear_out_pump_three(port: u16, agent: &Agent1Proxy<'_>) -> anyhow::Result<()> {
    let plant = MqttProbe::connect(port, "plant/pump-3/events").await?;
    plant.publish("plant/pump-3/set/state", "running").await?;
    plant.publish("plant/pump-3/fault", "bearing_wear").await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let json: String = agent.get_signal("Plant.Pump3.Vibration", true).await?;
        let reading: serde_json::Value = serde_json::from_str(&json)?;
        if reading["value"].as_f64().unwrap_or(0.0) > 5.0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("pump 3's vibration stays at {}", reading["value"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Copies the skill directory `from/NAME` to `to/NAME`.
pub fn copy_skill(from: &Path, to: &Path, name: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(to.join(name))?;
    for entry in std::fs::read_dir(from.join(name))? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(name).join(entry.file_name()))?;
    }
    Ok(())
}

/// Waits until the daemon's own cached copy of `signal` (no fresh read) is `value`.
pub async fn daemon_sees(agent: &Agent1Proxy<'_>, signal: &str, value: bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // Before the first state arrives the read may fail: that is "not seen yet".
        let reading: serde_json::Value = match agent.get_signal(signal, false).await {
            Ok(json) => serde_json::from_str(&json)?,
            Err(e) => serde_json::Value::String(e.to_string()),
        };
        if reading["value"] == value {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the daemon never saw {signal} = {value}: {reading}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Prometheus server scraping `target` every second, with its data in `dir`.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    /// Its HTTP API's port.
    pub port: u16,
}

impl Prometheus {
    /// Starts it; it scrapes `target` (`host:port`) every second.
    pub fn start(dir: &std::path::Path, target: &str) -> anyhow::Result<Self> {
        let port = free_port()?;
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: edge-agent\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log"))?)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot run prometheus (tests/setup.sh installs it): {e}")
            })?;
        Ok(Self { child, port })
    }

    /// The result of the instant query `query` (`data.result`: the series), or `None`
    /// while Prometheus is not answering or not ready yet. An invalid query is an error naming it.
    pub async fn query(&self, query: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let url = reqwest::Url::parse_with_params(&url, [("query", query)])?;
        let Ok(response) = reqwest::get(url).await else {
            return Ok(None); // not listening yet
        };
        // While its storage opens, Prometheus listens but answers 503 in plain text.
        if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Ok(None);
        }
        let body: serde_json::Value = response.json().await?;
        anyhow::ensure!(body["status"] == "success", "{query}: {body}");
        Ok(Some(body["data"]["result"].clone()))
    }

    /// The series of the range query `query` from `start` to `end` (Unix seconds) every
    /// `step` seconds: `data.result`, each with `metric` and `values` ([time, "value"]).
    pub async fn range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> anyhow::Result<serde_json::Value> {
        let url = format!("http://127.0.0.1:{}/api/v1/query_range", self.port);
        let (start, end, step) = (start.to_string(), end.to_string(), step.to_string());
        let url = reqwest::Url::parse_with_params(
            &url,
            [
                ("query", query),
                ("start", &start),
                ("end", &end),
                ("step", &step),
            ],
        )?;
        let body: serde_json::Value = reqwest::get(url).await?.json().await?;
        anyhow::ensure!(body["status"] == "success", "{query}: {body}");
        Ok(body["data"]["result"].clone())
    }

    /// The value of the instant query `query`'s first series, if it has one yet.
    pub async fn value(&self, query: &str) -> anyhow::Result<Option<f64>> {
        Ok(self
            .query(query)
            .await?
            .and_then(|result| result[0]["value"][1].as_str().and_then(|v| v.parse().ok())))
    }

    /// Waits until `query` has a value of at least `at_least`.
    pub async fn wait_for(
        &self,
        query: &str,
        at_least: f64,
        log: &std::path::Path,
    ) -> anyhow::Result<f64> {
        // Prometheus starts, then scrapes every second: a wait for a state, generous.
        let deadline = Instant::now() + WAIT * 3;
        loop {
            if let Some(v) = self.value(query).await?
                && v >= at_least
            {
                return Ok(v);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "Prometheus never saw {query} >= {at_least}; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until both workers of [`DaemonSetup::with_both_workers`] are ready (the SLM with
/// its intents' prompts cached), so that a run measures traffic, not model loading.
pub async fn wait_for_workers(agent: &Agent1Proxy<'_>) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let json: String = agent.status().await?;
        let status: serde_json::Value = serde_json::from_str(&json)?;
        if status["asr"]["state"] == "ready"
            && status["language"]["slm"]["intents"].as_u64() > Some(0)
        {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the workers did not get ready: {status}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `Say(text)` on the agent: the outcome.
pub async fn say(agent: &Agent1Proxy<'_>, text: &str) -> anyhow::Result<serde_json::Value> {
    let json: String = agent.say(text).await?;
    Ok(serde_json::from_str(&json)?)
}

/// `SayAt(station, text)` on the agent: the outcome.
pub async fn say_at(
    agent: &Agent1Proxy<'_>,
    station: &str,
    text: &str,
) -> anyhow::Result<serde_json::Value> {
    let json: String = agent.say_at(station, text).await?;
    Ok(serde_json::from_str(&json)?)
}

/// The agent's `Status()`.
pub async fn status(agent: &Agent1Proxy<'_>) -> anyhow::Result<serde_json::Value> {
    let json: String = agent.status().await?;
    Ok(serde_json::from_str(&json)?)
}

/// The agent's open conversations (`Sessions()`).
pub async fn sessions(agent: &Agent1Proxy<'_>) -> anyhow::Result<serde_json::Value> {
    let json: String = agent.sessions().await?;
    Ok(serde_json::from_str(&json)?)
}

/// Polls `Sessions()` until no conversation is open (a question closed by the agent on
/// time, for one): a wait for the event, not a guess at how long it takes.
pub async fn wait_for_no_sessions(agent: &Agent1Proxy<'_>, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = sessions(agent).await?;
        if open.as_array().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: still open: {open}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A signal's value, read fresh from its peer through the agent (`GetSignal(path, true)`).
pub async fn signal(agent: &Agent1Proxy<'_>, path: &str) -> anyhow::Result<serde_json::Value> {
    let json: String = agent.get_signal(path, true).await?;
    let reading: serde_json::Value = serde_json::from_str(&json)?;
    Ok(reading["value"].clone())
}

/// The demo world most integration tests run in: a private bus with the virtual car, a
/// broker with the virtual plant, the daemon on the demo profiles, and its D-Bus proxy.
#[derive(Debug)]
pub struct DemoWorld {
    pub bus: DbusDaemon,
    pub broker: Mosquitto,
    pub car: Simulator,
    pub plant: Simulator,
    pub daemon: Daemon,
    /// The agent's D-Bus proxy.
    pub agent: Agent1Proxy<'static>,
    /// The world's own directory (workers' sockets, files a test writes).
    pub dir: tempfile::TempDir,
}

impl DemoWorld {
    /// Starts it; `configure` finishes the daemon's set-up (extra TOML, a stdin pipe, ...)
    /// given the world's directory.
    pub async fn start(
        configure: impl FnOnce(DaemonSetup, &Path) -> anyhow::Result<DaemonSetup>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let bus = DbusDaemon::start()?;
        let broker = Mosquitto::start()?;
        let car = Simulator::car(&bus)?;
        // The plant also serves Modbus TCP: a test may bind the presses there
        // ([`DaemonSetup::with_modbus_presses`]).
        let modbus_port = free_port()?;
        let plant = Simulator::plant_with_modbus(broker.port, modbus_port)?;
        let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
        setup.plant_modbus_port = modbus_port;
        let setup = configure(setup, dir.path())?;
        let daemon = Daemon::start(&setup)?;
        let agent = bus.agent().await?;
        Ok(Self {
            bus,
            broker,
            car,
            plant,
            daemon,
            agent,
            dir,
        })
    }

    /// Starts it with `extra` TOML in the daemon's configuration.
    pub async fn with_extra(extra: &str) -> anyhow::Result<Self> {
        Self::start(|mut setup, _| {
            setup.extra = extra.to_owned();
            Ok(setup)
        })
        .await
    }
}

/// A worker binary run on its own, as its systemd unit runs it; killed when dropped.
#[derive(Debug)]
pub struct Worker(pub Child);

impl Worker {
    /// Starts the project's binary `name` with `args` and waits for its `READY` line.
    pub fn start<S: AsRef<std::ffi::OsStr>>(name: &str, args: &[S]) -> anyhow::Result<Self> {
        let mut child = Command::new(binary(name)?)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take();
        let worker = Worker(child);
        let mut line = String::new();
        if let Some(out) = stdout {
            BufReader::new(out).read_line(&mut line)?;
        }
        anyhow::ensure!(line.starts_with("READY"), "{name} did not start: {line:?}");
        Ok(worker)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    /// Writes `bytes` to the daemon's stdin pipe (live audio with `audio.source = "stdin"`).
    pub fn write_stdin(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        use std::io::Write as _;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no stdin pipe (set DaemonSetup::stdin_pipe)"))?;
        stdin.write_all(bytes)?;
        stdin.flush()?;
        self.stdin_written += bytes.len() as u64;
        Ok(())
    }

    /// Live audio written to its stdin so far (16 kHz mono 16-bit), in ms.
    pub fn stdin_ms(&self) -> u64 {
        self.stdin_written / 32
    }
}

/// Waits until the daemon has taken `ms` of live audio from its source (the status'
/// `listening.heard_ms`). The source delivers whole 100 ms frames: a partial last frame
/// waits for more audio, so this waits for the whole frames in `ms`.
pub async fn wait_for_heard(agent: &Agent1Proxy<'_>, ms: u64) -> anyhow::Result<serde_json::Value> {
    let whole = ms / 100 * 100;
    wait_for_status(agent, &format!("{whole} ms of live audio taken"), |s| {
        s["listening"]["heard_ms"].as_u64() >= Some(whole)
    })
    .await
}
