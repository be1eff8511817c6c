//! The fault matrix (docs/RELIABILITY.md), against the real car simulator on a private bus.
//! The audit log: a write that cannot be audited is not performed (fail closed), and the
//! caller is told why; the disk is made full with `/dev/full` (every write fails with
//! ENOSPC) and read-only with a tmpfs in the daemon's own mount namespace, mounted
//! read-only before it starts (Linux refuses to remount a file system read-only under an
//! open writer). A corrupt compiled-skill cache. A peer that hangs (`SIGSTOP`) filling the
//! bound on `cmd/say` commands in flight. The daemon's wall clock jumping back a day
//! (libfaketime).

use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, Mosquitto, MqttProbe, Simulator, WAIT, built_skills,
    copy_skill, ctl,
};
use serde_json::Value;

const FAN: &str = "Vehicle.Cabin.HVAC.FanLevel";

/// The simulator's own fan level (not the daemon's copy).
async fn car_fan(bus: &DbusDaemon) -> anyhow::Result<i32> {
    let conn = bus.connect().await?;
    let climate = zbus::Proxy::new(
        &conn,
        "org.edgeagent.SimCar",
        "/org/edgeagent/SimCar",
        "org.edgeagent.SimCar.Climate",
    )
    .await?;
    Ok(climate.get_property("FanLevel").await?)
}

/// Asks for a fan level the car does not have and checks the write failed, naming `why`,
/// and the car was not touched.
async fn write_is_refused(bus: &DbusDaemon, daemon: &Daemon, why: &str) -> anyhow::Result<()> {
    let before = car_fan(bus).await?;
    let wanted = if before == 6 { 7 } else { 6 };
    let agent = bus.agent().await?;
    let reply: String = agent.set_signal(FAN, &wanted.to_string()).await?;
    let reply: Value = serde_json::from_str(&reply)?;
    assert_eq!(reply["status"], "failed", "{reply}; log:\n{}", daemon.log());
    assert!(
        reply.to_string().contains(why),
        "the failure should say {why:?}: {reply}"
    );
    // A spoken or typed command takes the same path.
    let said: String = agent.say(&format!("set the fan to level {wanted}")).await?;
    let said: Value = serde_json::from_str(&said)?;
    assert_eq!(said["action"]["status"], "failed", "{said}");
    assert_eq!(
        car_fan(bus).await?,
        before,
        "the car was changed without an audit"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_audit_log_fails_writes_closed() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup
        .env
        .push(("EDGE_AGENT__AUDIT__PATH".into(), "/dev/full".into()));
    let daemon = Daemon::start(&setup)?;
    write_is_refused(&bus, &daemon, "No space left on device").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_audit_file_system_fails_writes_closed() -> anyhow::Result<()> {
    if std::process::Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .map_or(true, |s| !s.success())
    {
        eprintln!("skipped: needs root for a mount namespace (unshare -m)");
        return Ok(());
    }
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let audit_dir = tempfile::tempdir()?;
    let dir = audit_dir.path().display().to_string();
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.env.push((
        "EDGE_AGENT__AUDIT__PATH".into(),
        format!("{dir}/audit.jsonl"),
    ));
    // The daemon's own view: a file system holding yesterday's audit log, read-only (as
    // after an error remount). Linux refuses to remount a file system read-only while a
    // file on it is open for writing, so it is read-only from the start.
    setup.launcher = vec![
        "unshare".into(),
        "-m".into(),
        "sh".into(),
        "-c".into(),
        format!(
            "mount -t tmpfs -o size=1m tmpfs {dir} && echo > {dir}/audit.jsonl && \
             mount -o remount,ro {dir} && exec \"$0\" \"$@\""
        ),
    ];
    // The audit log cannot be opened for appending: the daemon does not start (it could
    // not audit a single write) and says why; systemd restarts it and the journal shows it.
    let initial = car_fan(&bus).await?;
    let mut daemon = Daemon::spawn(&setup)?;
    let deadline = std::time::Instant::now() + edge_agent_tests::WAIT;
    let status = loop {
        if let Some(status) = daemon.try_status()? {
            break status;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "edge-agentd kept running on a read-only audit log:\n{}",
            daemon.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success(), "{status}");
    let log = daemon.log();
    assert!(
        log.contains(&format!("audit log {dir}/audit.jsonl"))
            && log.contains("Read-only file system"),
        "the daemon should name the audit log and the cause:\n{log}"
    );
    assert_eq!(car_fan(&bus).await?, initial, "the car was touched");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_compiled_skill_cache_is_compiled_again_not_run() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let cache = tempfile::tempdir()?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.skill_cache = cache.path().to_owned();
    drop(Daemon::start(&setup)?);
    // Flip bytes in the middle of every compiled skill (its header stays valid, so only
    // the digest can tell).
    let mut corrupted = 0;
    for entry in std::fs::read_dir(cache.path())? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "cwasm") {
            let mut bytes = std::fs::read(&path)?;
            let middle = bytes.len() / 2;
            for b in &mut bytes[middle..middle + 64] {
                *b ^= 0xa5;
            }
            std::fs::write(&path, bytes)?;
            corrupted += 1;
        }
    }
    assert!(corrupted >= 3, "only {corrupted} compiled skills cached");
    let daemon = Daemon::start(&setup)?;
    let log = daemon.log();
    assert!(
        log.contains("does not match its digest"),
        "the corrupt artifacts should be named:\n{log}"
    );
    // The skills work, from fresh compilations.
    let agent = bus.agent().await?;
    let said: String = agent.say("set the fan to level 5").await?;
    let said: Value = serde_json::from_str(&said)?;
    assert_eq!(said["action"]["status"], "done", "{said}");
    assert_eq!(car_fan(&bus).await?, 5);
    Ok(())
}

/// Stops (`SIGSTOP`) or continues (`SIGCONT`) a process: a peer that hangs, then recovers.
fn send_signal(pid: Option<u32>, signal: &str) -> anyhow::Result<()> {
    let pid = pid.ok_or_else(|| anyhow::anyhow!("the process is not running"))?;
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill {signal} {pid} failed");
    Ok(())
}

/// A peer that stops answering holds the `cmd/say` commands waiting on it; beyond
/// `mqtt.max_commands_in_flight` a command is refused at once with a reason on
/// `events/error` (memory stays bounded), and once the peer answers again commands work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_beyond_the_in_flight_bound_are_refused_with_a_reason() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let car = Simulator::car(&bus)?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.env.push((
        "EDGE_AGENT__MQTT__MAX_COMMANDS_IN_FLIGHT".into(),
        "2".into(),
    ));
    let daemon = Daemon::start(&setup)?;
    let topics = daemon.topics();
    let mut probe = MqttProbe::connect(broker.port, &topics.all()).await?;
    probe.expect(&topics.status(), |p| p == b"online").await?;

    send_signal(car.pid(), "-STOP")?;
    // Both wait on the car (up to hal.set_timeout_ms, 2 s) and fill the bound of 2.
    probe
        .publish(&topics.say(), "set the fan to level 2")
        .await?;
    probe
        .publish(&topics.say(), "set the fan to level 3")
        .await?;
    probe
        .publish(&topics.say(), "set the fan to level 4")
        .await?;
    let refused = probe
        .expect_json(&topics.error(), |v| {
            v["error"].as_str().is_some_and(|e| e.starts_with("busy"))
        })
        .await?;
    assert_eq!(
        refused["error"],
        "busy: 2 commands are being handled; this one was dropped, send it again later",
        "{refused}"
    );
    assert_eq!(refused["topic"], topics.say());
    send_signal(car.pid(), "-CONT")?;

    // The two held commands end (the car answers late, or the write timed out), and
    // commands are acted on again.
    for _ in 0..2 {
        probe
            .expect_json(&topics.intent(), |v| v["origin"] == "mqtt")
            .await?;
    }
    probe
        .publish(&topics.say(), "set the fan to level 5")
        .await?;
    let event = probe
        .expect_json(&topics.intent(), |v| v["origin"] == "mqtt")
        .await?;
    assert_eq!(event["action"]["status"], "done", "{event}");
    assert_eq!(car_fan(&bus).await?, 5);
    Ok(())
}

/// libfaketime's preload library for threaded programs, which Debian's `faketime` package
/// installs.
fn libfaketime() -> anyhow::Result<std::path::PathBuf> {
    for arch in ["x86_64-linux-gnu", "aarch64-linux-gnu"] {
        let path = std::path::PathBuf::from(format!("/usr/lib/{arch}/faketime/libfaketimeMT.so.1"));
        if path.is_file() {
            return Ok(path);
        }
    }
    anyhow::bail!("libfaketime not found: install the faketime package (tests/setup.sh does)")
}

/// The `time` of the audit log's last entry.
fn last_audit_time(daemon: &Daemon) -> anyhow::Result<std::time::SystemTime> {
    let entries = daemon.audit();
    let time = entries
        .last()
        .and_then(|e| e["time"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no audit entry with a time: {entries:?}"))?;
    Ok(humantime::parse_rfc3339(time)?)
}

/// The daemon's wall clock jumps back a day while it runs (libfaketime, read again on every
/// call). Nothing that guards or times out follows the wall clock: the fleet replay guard
/// compares the publisher's own times, so a replayed command is still refused and a new
/// one accepted; a write to a hung peer still times out after `hal.set_timeout_ms` (the
/// monotonic clock); the uptime does not go back. The audit log's times follow the wall
/// clock (which shows the jump happened) and no entry is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_jumping_back_opens_no_replay_and_breaks_no_timeout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = dir.path().join("faketime");
    std::fs::write(&clock, "+0\n")?;

    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let car = Simulator::car(&bus)?;
    let (mut setup, key) = DaemonSetup::new(&bus, broker.port).with_fleet(dir.path(), 60)?;
    setup.env.extend([
        ("LD_PRELOAD".into(), libfaketime()?.display().to_string()),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            clock.display().to_string(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]);
    let daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    let set_fan = |level: i32| {
        let agent = agent.clone();
        async move {
            let level = level.to_string();
            let reply: String = tokio::time::timeout(WAIT, agent.set_signal(FAN, &level)).await??;
            anyhow::Ok(serde_json::from_str::<Value>(&reply)?)
        }
    };

    // Two signed commands, the second issued after the first (by the publisher's clock).
    let mut package = dir.path().join("package");
    copy_skill(&built_skills()?, &package, "media")?;
    package.push("media");
    let signed = |args: &[&str], out: &str| -> anyhow::Result<Vec<u8>> {
        let out = dir.path().join(out);
        let port = broker.port.to_string();
        let mut all = vec!["fleet"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "--out",
            out.to_str().unwrap_or_default(),
            "--key",
            key.to_str().unwrap_or_default(),
            "--device",
            &daemon.device_id,
            "--port",
            &port,
        ]);
        let (code, stdout, stderr) = ctl(&all)?;
        anyhow::ensure!(code == 0, "{stdout} {stderr}");
        Ok(std::fs::read(out)?)
    };
    let install = signed(
        &["install", package.to_str().unwrap_or_default()],
        "install.json",
    )?;
    // The second is issued once the publisher's clock has passed the first's time.
    let envelope: Value = serde_json::from_slice(&install)?;
    let body: Value = serde_json::from_str(envelope["body"].as_str().unwrap_or_default())?;
    let first_issued = body["issued_ms"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no issued_ms in {body}"))?;
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        <= u128::from(first_issued)
    {
        std::thread::yield_now();
    }
    let remove = signed(&["remove", "media"], "remove.json")?;
    let fleet = format!("edge-agent/{}/cmd/fleet", daemon.device_id);
    let result_topic = format!("edge-agent/{}/fleet/result", daemon.device_id);
    let mut results = MqttProbe::connect(broker.port, &result_topic).await?;
    results.publish(&fleet, install.clone()).await?;
    let accepted = results.expect_json(&result_topic, |_| true).await?;
    assert_eq!(accepted["status"], "ok", "{accepted}");

    assert_eq!(set_fan(2).await?["status"], "done");
    let before = last_audit_time(&daemon)?;
    let entries_before = daemon.audit().len();

    // The jump: a day back.
    std::fs::write(&clock, "-1d\n")?;
    assert_eq!(set_fan(3).await?["status"], "done");
    let after = last_audit_time(&daemon)?;
    let back = before.duration_since(after).unwrap_or_default();
    assert!(
        back > std::time::Duration::from_secs(23 * 3600),
        "the daemon's clock did not jump ({before:?} then {after:?}): is libfaketime working?"
    );

    // The replay guard: the same install again is refused, the later command accepted.
    results.publish(&fleet, install).await?;
    let replayed = results.expect_json(&result_topic, |_| true).await?;
    assert_eq!(replayed["status"], "rejected", "{replayed}");
    assert!(
        replayed["message"]
            .as_str()
            .unwrap_or("")
            .contains("replayed"),
        "{replayed}"
    );
    results.publish(&fleet, remove).await?;
    let removed = results.expect_json(&result_topic, |_| true).await?;
    assert_eq!(removed["status"], "ok", "{removed}");

    // A write to a hung car still times out (hal.set_timeout_ms = 2000 in the harness),
    // neither at once nor a day later; the harness's wait bounds the call.
    send_signal(car.pid(), "-STOP")?;
    let hung = set_fan(4).await?;
    send_signal(car.pid(), "-CONT")?;
    assert_eq!(hung["status"], "failed", "{hung}");
    assert!(hung.to_string().contains("did not answer within"), "{hung}");
    assert_eq!(set_fan(5).await?["status"], "done");

    // Uptime follows the monotonic clock.
    let status: String = agent.status().await?;
    let status: Value = serde_json::from_str(&status)?;
    assert!(
        status["uptime_s"].as_u64().is_some_and(|s| s < 3600),
        "{status}"
    );
    // No audit entry lost across the jump: each write is recorded before and after.
    let entries = daemon.audit();
    assert!(
        entries.len() >= entries_before + 4,
        "{} entries before the jump, {} after",
        entries_before,
        entries.len()
    );
    assert!(entries.iter().all(|e| e["time"].is_string()));
    Ok(())
}
