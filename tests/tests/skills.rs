//! WASM skills: the example skills act through grants and policy; hostile skills are
//! contained and audited; bad components are skipped; compiled components are cached.

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, Mosquitto, Simulator, built_skills, built_test_skills,
    copy_skill, say, shared_skill_cache,
};
use serde_json::Value;
use std::path::Path;

struct World {
    _bus: DbusDaemon,
    _broker: Mosquitto,
    _car: Simulator,
    daemon: Daemon,
    agent: Agent1Proxy<'static>,
    bus_address: String,
    _skills: tempfile::TempDir,
}

/// The daemon with the demo profiles and, as skills, `names` from the built skills plus
/// whatever `extra` writes into the skills directory.
async fn world(
    names: &[&str],
    extra: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<World> {
    let skills = tempfile::tempdir()?;
    for name in names {
        let from = if matches!(*name, "hostile" | "future" | "legacy") {
            built_test_skills()?
        } else {
            built_skills()?
        };
        copy_skill(&from, skills.path(), name)?;
    }
    extra(skills.path())?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let car = Simulator::car(&bus)?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.skill_dirs = vec![skills.path().to_owned()];
    let daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    let bus_address = bus.address.clone();
    Ok(World {
        _bus: bus,
        _broker: broker,
        _car: car,
        daemon,
        agent,
        bus_address,
        _skills: skills,
    })
}

fn audit_with(daemon: &Daemon, decision: &str) -> Vec<Value> {
    daemon
        .audit()
        .into_iter()
        .filter(|e| e["decision"] == decision)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_skills_are_contained_and_audited() -> anyhow::Result<()> {
    let w = world(&["climate", "hostile"], |_| Ok(())).await?;

    // Infinite loop: stopped by the deadline; the daemon keeps answering.
    let started = std::time::Instant::now();
    let out = say(&w.agent, "run the infinite loop").await?;
    let text = out["response"].as_str().unwrap_or_default();
    assert!(
        text.contains("skill hostile was stopped after its 100 ms deadline"),
        "{text}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the loop was not stopped"
    );
    assert_eq!(
        say(&w.agent, "set the fan to level three").await?["action"]["status"],
        "done"
    );

    // Waiting in a host call (400 ms, four times the 100 ms deadline) is not CPU time: the
    // skill answers after the wait instead of being stopped.
    let out = say(&w.agent, "wait for the fan").await?;
    let text = out["response"].as_str().unwrap_or_default();
    assert!(text.starts_with("I waited for the fan: "), "{out}");

    // Memory bomb: trapped at its 8 MiB limit.
    let out = say(&w.agent, "run the memory bomb").await?;
    let text = out["response"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("Sorry, I couldn't do that: skill hostile failed"),
        "{text}"
    );

    // Panic: a trap, contained.
    let out = say(&w.agent, "panic now").await?;
    assert!(
        out["response"]
            .as_str()
            .unwrap_or_default()
            .contains("skill hostile failed"),
        "{out}"
    );

    // Huge response: refused.
    let out = say(&w.agent, "give a huge answer").await?;
    assert!(
        out["response"]
            .as_str()
            .unwrap_or_default()
            .contains("response of 100000 bytes exceeds 2000"),
        "{out}"
    );

    // Escape attempts: each refused with not-granted; none reaches the HAL or the bus.
    let out = say(&w.agent, "try to escape").await?;
    let text = out["response"].as_str().unwrap_or_default();
    assert_eq!(text.matches("NotGranted").count(), 6, "{text}");
    let refused: Vec<String> = audit_with(&w.daemon, "refused")
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["signal"].as_str().unwrap_or(""),
                e["result"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            "Vehicle.Speed signals.set: not granted",
            "Plant.Pump1.State signals.get: not granted",
            "plant/pump-1/set/state mqtt.publish: not granted",
            "org.freedesktop.DBus dbus.call: not granted",
            "the local model llm.choose: not granted",
            "loot reports.keep: not granted",
        ]
    );
    assert!(
        audit_with(&w.daemon, "allow")
            .iter()
            .all(|e| e["signal"] != "Vehicle.Speed")
    );

    // Every failure is in the audit log; a granted read still works afterwards.
    let failures = audit_with(&w.daemon, "skill-failed");
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert_eq!(
        say(&w.agent, "read the fan like a good skill").await?["response"],
        "The fan is at 3."
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_components_are_skipped_and_the_rest_serve() -> anyhow::Result<()> {
    let w = world(&["climate", "media", "future"], |dir| {
        // Garbage instead of a component, and a manifest whose intent another skill owns.
        copy_skill(&built_skills()?, dir, "windows")?;
        std::fs::write(dir.join("windows/windows.wasm"), b"\0asm garbage")?;
        Ok(())
    })
    .await?;
    let status: String = w.agent.status().await?;
    let status: Value = serde_json::from_str(&status)?;
    let skipped = status["skipped_skills"].to_string();
    assert!(
        skipped.contains("windows.wasm: not a valid WebAssembly component"),
        "{skipped}"
    );
    let names: Vec<&str> = status["skills"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["climate", "media", "dialog"]);
    assert_eq!(
        say(&w.agent, "open the driver window").await?["intent"],
        "none"
    );
    assert_eq!(
        say(&w.agent, "volume up").await?["action"]["status"],
        "done"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_loads_compiled_skills_from_the_cache() -> anyhow::Result<()> {
    let cache = shared_skill_cache();
    let w = world(&["equipment"], |_| Ok(())).await?;
    drop(w);
    let cached: Vec<_> = std::fs::read_dir(&cache)?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert!(!cached.is_empty(), "nothing in {}", cache.display());
    let w = world(&["equipment"], |_| Ok(())).await?;
    let log = w.daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("skill component loaded") && l.contains("equipment"))
        .unwrap_or_default();
    assert!(
        line.contains("compiled=false")
            || line.contains("compiled\u{1b}[0m\u{1b}[2m=\u{1b}[0mfalse"),
        "{line}"
    );
    let _ = w.bus_address;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_signed_untampered_skills_load_when_signatures_are_required() -> anyhow::Result<()> {
    let keys = tempfile::tempdir()?;
    let key_file = keys.path().join("publisher.key");
    let key_path = key_file.to_str().unwrap_or_default();
    let (code, public, err) = edge_agent_tests::ctl(&["skills", "keygen", "--out", key_path])?;
    assert_eq!(code, 0, "{err}");
    let public = public.trim().to_owned();
    assert_eq!(public.len(), 64);

    let skills = tempfile::tempdir()?;
    for name in ["climate", "windows", "media"] {
        copy_skill(&built_skills()?, skills.path(), name)?;
    }
    for name in ["climate", "windows"] {
        let dir = skills.path().join(name);
        let (code, _, err) = edge_agent_tests::ctl(&[
            "skills",
            "sign",
            "--key",
            key_path,
            dir.to_str().unwrap_or_default(),
        ])?;
        assert_eq!(code, 0, "{err}");
    }
    // Tampering after signing: the windows skill grants itself the vehicle speed.
    let manifest = skills.path().join("windows/skill.toml");
    let text = std::fs::read_to_string(&manifest)?;
    std::fs::write(
        &manifest,
        text.replace("signals_write = [", "signals_write = [\"Vehicle.Speed\", "),
    )?;

    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.skill_dirs = vec![skills.path().to_owned()];
    setup.trusted_keys = vec![public];
    let _daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    let status: String = agent.status().await?;
    let status: Value = serde_json::from_str(&status)?;
    let skipped = status["skipped_skills"].to_string();
    assert!(
        skipped.contains("windows.sig: the signature does not match"),
        "{skipped}"
    );
    assert!(
        skipped.contains("media.sig: unsigned (skills.require_signed is set)"),
        "{skipped}"
    );
    let loaded: Vec<(&str, bool)> = status["skills"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["name"].as_str()?, s["code"].as_bool()?)))
        .collect();
    assert_eq!(loaded, [("climate", true), ("dialog", false)]);
    assert_eq!(
        say(&agent, "set the fan to level two").await?["action"]["status"],
        "done"
    );

    let (code, list, err) = edge_agent_tests::ctl(&[
        "--bus",
        "address",
        "--address",
        &bus.address,
        "skills",
        "list",
    ])?;
    assert_eq!(code, 0, "{err}");
    assert!(
        list.lines()
            .next()
            .unwrap_or_default()
            .starts_with("climate"),
        "{list}"
    );
    assert!(
        list.contains("wasm") && list.contains("skipped: "),
        "{list}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_remove_and_hot_reload() -> anyhow::Result<()> {
    let w = world(&["climate"], |_| Ok(())).await?;
    let skills_dir = w._skills.path().to_owned();
    let dir = skills_dir.to_str().unwrap_or_default().to_owned();
    let ctl = |args: &[&str]| {
        let mut all = vec!["--bus", "address", "--address", w.bus_address.as_str()];
        all.extend_from_slice(args);
        edge_agent_tests::ctl(&all)
    };
    assert_eq!(say(&w.agent, "volume up").await?["intent"], "none");

    // Install: copied atomically, reloaded, served.
    let media = built_skills()?.join("media");
    let (code, out, err) = ctl(&[
        "skills",
        "install",
        media.to_str().unwrap_or_default(),
        "--to",
        &dir,
    ])?;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reloaded: climate, media"), "{out}");
    assert_eq!(
        say(&w.agent, "volume up").await?["action"]["status"],
        "done"
    );

    // Hot reload: a skill dropped into the directory is picked up without being asked.
    copy_skill(&built_skills()?, &skills_dir, "windows")?;
    let deadline = std::time::Instant::now() + edge_agent_tests::WAIT;
    loop {
        let out = say(&w.agent, "close the driver window").await?;
        if out["action"]["status"] == "done" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "windows never loaded: {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Remove.
    let (code, out, err) = ctl(&["skills", "remove", "media", "--to", &dir])?;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reloaded: climate, windows, dialog"), "{out}");
    assert_eq!(say(&w.agent, "volume up").await?["intent"], "none");
    let (code, _, err) = ctl(&["skills", "remove", "media", "--to", &dir])?;
    assert_eq!(code, 1);
    assert!(err.contains("no skill installed there"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_built_for_the_0_1_0_world_still_runs() -> anyhow::Result<()> {
    let w = world(&["equipment", "legacy"], |_| Ok(())).await?;
    let status: String = w.agent.status().await?;
    let status: Value = serde_json::from_str(&status)?;
    let legacy = status["skills"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "legacy")
        .cloned()
        .unwrap_or_default();
    assert_eq!(legacy["code"], true, "{status}");
    // Its granted read goes through the 0.2.0 host; its 0.1.0 follow-up string becomes a
    // free-text question on the station.
    let out = say(&w.agent, "hello from the old world").await?;
    let text = out["response"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("Hello from 0.1.0; the fan is at 3; session ")
            && text.ends_with("Anything else?"),
        "{out}"
    );
    assert_eq!(out["awaiting"], "Anything else?", "{out}");
    assert!(
        text.contains(out["session_id"].as_str().unwrap_or("?")),
        "{out}"
    );
    Ok(())
}
