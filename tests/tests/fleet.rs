//! Fleet operations against a real mosquitto: the heartbeat; a signed skill installed,
//! updated, rolled back when the new version does not load, and removed with
//! `edge-agentctl fleet`; tampered, replayed and foreign-key commands refused; a
//! configuration overlay refused when invalid, applied by a restart, and rolled back when
//! the daemon cannot start with it. Every command is acknowledged on the result topic.

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, Mosquitto, MqttProbe, Simulator, built_skills, copy_skill, ctl,
};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct World {
    bus: DbusDaemon,
    broker: Mosquitto,
    _car: Simulator,
    daemon: Daemon,
    key: PathBuf,
    dir: tempfile::TempDir,
}

async fn world() -> anyhow::Result<World> {
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let car = Simulator::car(&bus)?;
    let (setup, key) = DaemonSetup::new(&bus, broker.port).with_fleet(dir.path(), 1)?;
    let daemon = Daemon::start(&setup)?;
    // Commands only after "online": the daemon publishes it once subscribed to its
    // command topics (READY on D-Bus can come first, and a command sent then is lost).
    let status = format!("edge-agent/{}/status", daemon.device_id);
    MqttProbe::connect(broker.port, &status)
        .await?
        .expect(&status, |p| p == b"online")
        .await?;
    Ok(World {
        bus,
        broker,
        _car: car,
        daemon,
        key,
        dir,
    })
}

impl World {
    /// Runs `edge-agentctl fleet ARGS` against this device; returns the acknowledgement.
    fn fleet(&self, args: &[&str]) -> anyhow::Result<Value> {
        let port = self.broker.port.to_string();
        let key = self.key.display().to_string();
        let mut all = vec![
            "fleet",
            "--key",
            &key,
            "--device",
            &self.daemon.device_id,
            "--port",
            &port,
        ];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = ctl(&all)?;
        eprintln!("fleet {args:?}: {}", stdout.trim());
        let result: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
            anyhow::anyhow!(
                "{e}: exit {code}, stdout {stdout:?}, stderr {stderr:?}\n{}",
                self.daemon.log()
            )
        })?;
        assert_eq!(code == 0, result["status"] == "ok", "{result} {stderr}");
        Ok(result)
    }

    async fn agent(&self) -> anyhow::Result<Agent1Proxy<'static>> {
        let conn = self.bus.connect().await?;
        Ok(Agent1Proxy::new(&conn).await?)
    }

    async fn say(&self, text: &str) -> anyhow::Result<Value> {
        let json: String = self.agent().await?.say(text).await?;
        Ok(serde_json::from_str(&json)?)
    }

    fn topic(&self, tail: &str) -> String {
        format!("edge-agent/{}/{tail}", self.daemon.device_id)
    }

    /// A copy of the built `media` skill with `version`, and `wasm` as its component
    /// when given.
    fn media_package(&self, version: &str, wasm: Option<&[u8]>) -> anyhow::Result<PathBuf> {
        let out = self.dir.path().join(format!("package-{version}"));
        copy_skill(&built_skills()?, &out, "media")?;
        let manifest = out.join("media/skill.toml");
        let text = std::fs::read_to_string(&manifest)?;
        std::fs::write(
            &manifest,
            text.replacen("version = \"0.1.0\"", &format!("version = {version:?}"), 1),
        )?;
        if let Some(wasm) = wasm {
            std::fs::write(out.join("media/media.wasm"), wasm)?;
        }
        Ok(out.join("media"))
    }
}

/// The skills in the newest heartbeat, as `name@version`.
async fn heartbeat_skills(w: &World) -> anyhow::Result<Vec<String>> {
    let mut probe = MqttProbe::connect(w.broker.port, &w.topic("fleet/heartbeat")).await?;
    let beat = probe
        .expect_json(&w.topic("fleet/heartbeat"), |_| true)
        .await?;
    assert_eq!(beat["agent_version"], env!("CARGO_PKG_VERSION"), "{beat}");
    assert_eq!(beat["device_id"], w.daemon.device_id.as_str());
    Ok(beat["skills"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{}@{}",
                s["name"].as_str().unwrap_or(""),
                s["version"].as_str().unwrap_or("")
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_skills_roll_out_and_back_and_forged_commands_are_refused() -> anyhow::Result<()> {
    let w = world().await?;
    assert_eq!(
        heartbeat_skills(&w).await?,
        ["climate@0.1.0", "dialog@0.1.0"]
    );
    assert_eq!(w.say("volume up").await?["intent"], "none");

    // Install.
    let v1 = w.media_package("0.1.0", None)?;
    let installed = w.fleet(&["install", &v1.display().to_string()])?;
    assert_eq!(installed["status"], "ok", "{installed}");
    assert_eq!(
        (installed["skill"].as_str(), installed["version"].as_str()),
        (Some("media"), Some("0.1.0"))
    );
    assert_eq!(w.say("volume up").await?["action"]["status"], "done");
    assert!(
        heartbeat_skills(&w)
            .await?
            .contains(&"media@0.1.0".to_owned())
    );

    // Update.
    let v2 = w.media_package("0.2.0", None)?;
    let updated = w.fleet(&["install", &v2.display().to_string()])?;
    assert_eq!(updated["version"], "0.2.0", "{updated}");

    // An update whose component does not load: rolled back, the old version serves.
    let broken = w.media_package("0.3.0", Some(b"\0asm broken"))?;
    let rolled = w.fleet(&["install", &broken.display().to_string()])?;
    assert_eq!(rolled["status"], "rolled-back", "{rolled}");
    assert!(
        rolled["message"]
            .as_str()
            .unwrap_or("")
            .contains("not a valid WebAssembly component"),
        "{rolled}"
    );
    assert_eq!(rolled["version"], "0.2.0", "{rolled}");
    assert_eq!(w.say("volume up").await?["action"]["status"], "done");

    // A tampered command: signed, then its body changed in transit.
    let signed = w.dir.path().join("signed.json");
    let v4 = w.media_package("0.4.0", None)?;
    let port = w.broker.port.to_string();
    let key = w.key.display().to_string();
    let (code, stdout, stderr) = ctl(&[
        "fleet",
        "install",
        &v4.display().to_string(),
        "--out",
        &signed.display().to_string(),
        "--key",
        &key,
        "--device",
        &w.daemon.device_id,
        "--port",
        &port,
    ])?;
    assert_eq!(code, 0, "{stdout} {stderr}");
    let envelope: Value = serde_json::from_slice(&std::fs::read(&signed)?)?;
    let mut tampered = envelope.clone();
    tampered["body"] = Value::String(
        envelope["body"]
            .as_str()
            .unwrap_or("")
            .replace("signals_write = [", "signals_write = [\"Vehicle.*\", "),
    );
    assert_ne!(tampered, envelope);
    let mut results = MqttProbe::connect(w.broker.port, &w.topic("fleet/result")).await?;
    results
        .publish(&w.topic("cmd/fleet"), serde_json::to_vec(&tampered)?)
        .await?;
    let refused = results
        .expect_json(&w.topic("fleet/result"), |_| true)
        .await?;
    assert_eq!(refused["status"], "rejected", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("signature refused"),
        "{refused}"
    );

    // The untampered command is accepted once; the same bytes again are a replay.
    results
        .publish(&w.topic("cmd/fleet"), std::fs::read(&signed)?)
        .await?;
    let accepted = results
        .expect_json(&w.topic("fleet/result"), |_| true)
        .await?;
    assert_eq!(
        (accepted["status"].as_str(), accepted["version"].as_str()),
        (Some("ok"), Some("0.4.0")),
        "{accepted}"
    );
    results
        .publish(&w.topic("cmd/fleet"), std::fs::read(&signed)?)
        .await?;
    let replayed = results
        .expect_json(&w.topic("fleet/result"), |_| true)
        .await?;
    assert_eq!(replayed["status"], "rejected", "{replayed}");
    assert!(
        replayed["message"]
            .as_str()
            .unwrap_or("")
            .contains("replayed"),
        "{replayed}"
    );

    // A key the device does not trust.
    let (stranger, _) = edge_signing::generate_key()?;
    let stranger_key = w.dir.path().join("stranger.key");
    std::fs::write(&stranger_key, stranger)?;
    let (code, stdout, _) = ctl(&[
        "fleet",
        "remove",
        "media",
        "--key",
        &stranger_key.display().to_string(),
        "--device",
        &w.daemon.device_id,
        "--port",
        &port,
    ])?;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("not a trusted publisher key"), "{stdout}");
    assert!(
        heartbeat_skills(&w)
            .await?
            .contains(&"media@0.4.0".to_owned())
    );

    // Remove.
    let removed = w.fleet(&["remove", "media"])?;
    assert_eq!(removed["status"], "ok", "{removed}");
    assert_eq!(w.say("volume up").await?["intent"], "none");
    assert_eq!(
        heartbeat_skills(&w).await?,
        ["climate@0.1.0", "dialog@0.1.0"]
    );
    Ok(())
}

/// Waits until the daemon answers on D-Bus again with `station` as its default station.
async fn serving_with_station(w: &World, station: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(outcome) = w.say("volume up").await
            && outcome["station"] == station
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "never served with station {station}\n{}",
            w.daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_overlays_are_checked_applied_and_rolled_back() -> anyhow::Result<()> {
    let w = world().await?;
    let pid = w.daemon.pid();
    let overlay = |name: &str, text: &str| -> anyhow::Result<String> {
        let path = w.dir.path().join(name);
        std::fs::write(&path, text)?;
        Ok(path.display().to_string())
    };

    // Invalid: refused, naming the file, line and key; nothing changes.
    let bad = overlay(
        "bad.toml",
        "[dialogue]\nfollow_up_timeout_secs = \"soon\"\n",
    )?;
    let refused = w.fleet(&["config", &bad])?;
    assert_eq!(refused["status"], "rejected", "{refused}");
    let message = refused["message"].as_str().unwrap_or("");
    assert!(
        message.contains("90-fleet.toml:2") && message.contains("follow_up_timeout_secs"),
        "{refused}"
    );

    // Valid: written, then the daemon restarts (same process) with it.
    let good = overlay("good.toml", "[dialogue]\nstation = \"line-2-panel\"\n")?;
    let applied = w.fleet(&["config", &good])?;
    assert_eq!(applied["status"], "ok", "{applied}");
    let mut results = MqttProbe::connect(w.broker.port, &w.topic("fleet/result")).await?;
    serving_with_station(&w, "line-2-panel").await?;
    assert_eq!(w.daemon.pid(), pid);
    let kept = results
        .expect_json(&w.topic("fleet/result"), |r| r["id"] == applied["id"])
        .await?;
    assert_eq!(
        (kept["status"].as_str(), kept["message"].as_str()),
        (Some("ok"), Some("configuration applied")),
        "{kept}"
    );

    // Valid, but the daemon cannot start with it (no such sound card): rolled back to the
    // previous overlay, and the daemon serves again.
    let broken = overlay(
        "alsa.toml",
        "[audio]\nsource = \"alsa\"\ndevice = \"hw:99,0\"\n",
    )?;
    let tried = w.fleet(&["config", &broken])?;
    assert_eq!(tried["status"], "ok", "{tried}");
    let rolled = results
        .expect_json(&w.topic("fleet/result"), |r| {
            r["id"] == tried["id"] && r["status"] != "ok"
        })
        .await?;
    assert_eq!(rolled["status"], "rolled-back", "{rolled}");
    assert!(
        rolled["message"]
            .as_str()
            .unwrap_or("")
            .contains("audio source"),
        "{rolled}"
    );
    serving_with_station(&w, "line-2-panel").await?;
    let conf_d = w
        .daemon
        .state_dir()
        .parent()
        .map(|d| d.join("conf.d"))
        .unwrap_or_default();
    assert_eq!(
        std::fs::read_to_string(conf_d.join("90-fleet.toml"))?,
        "[dialogue]\nstation = \"line-2-panel\"\n"
    );
    Ok(())
}
