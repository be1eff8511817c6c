//! The fault matrix, rows about the audit log: a write that cannot be audited is not
//! performed (fail closed), and the caller is told why. Against the real car simulator on a
//! private bus; the disk is made full with `/dev/full` (every write fails with ENOSPC) and
//! read-only with a tmpfs in the daemon's own mount namespace, mounted read-only before it
//! starts (Linux refuses to remount a file system read-only under an open writer). See
//! docs/RELIABILITY.md.

use edge_agent_tests::{Daemon, DaemonSetup, DbusDaemon, Mosquitto, Simulator};
use serde_json::Value;

const IFACE: &str = "org.edgeagent.Agent1";
const PATH: &str = "/org/edgeagent/Agent";
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
    let conn = bus.connect().await?;
    let agent = zbus::Proxy::new(&conn, IFACE, PATH, IFACE).await?;
    let reply: String = agent.call("SetSignal", &(FAN, wanted.to_string())).await?;
    let reply: Value = serde_json::from_str(&reply)?;
    assert_eq!(reply["status"], "failed", "{reply}; log:\n{}", daemon.log());
    assert!(
        reply.to_string().contains(why),
        "the failure should say {why:?}: {reply}"
    );
    // A spoken or typed command takes the same path.
    let said: String = agent
        .call("Say", &(format!("set the fan to level {wanted}"),))
        .await?;
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
    let conn = bus.connect().await?;
    let agent = zbus::Proxy::new(&conn, IFACE, PATH, IFACE).await?;
    let said: String = agent.call("Say", &("set the fan to level 5",)).await?;
    let said: Value = serde_json::from_str(&said)?;
    assert_eq!(said["action"]["status"], "done", "{said}");
    assert_eq!(car_fan(&bus).await?, 5);
    Ok(())
}
