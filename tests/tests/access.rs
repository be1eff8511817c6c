//! D-Bus access control on a system-like bus (the system bus's default policy: no name owned
//! and no method called unless a policy allows it) with the shipped policy,
//! `systemd/org.edgeagent.Agent1.conf`. Callers are real accounts, run with `setpriv`:
//! root, `nobody` and `daemon`. The policy's names are mapped onto accounts every Debian
//! machine has: the service account `edge-agent` onto root (the daemon here),
//! `edge-agent-users` onto `nogroup` (the group of `nobody`), `edge-agent-admin` onto root's
//! group; `daemon` is in neither.

use edge_agent_tests::{DaemonSetup, DbusDaemon, Mosquitto, repo};
use std::process::Command;

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The shipped policy with its account names mapped onto this machine's.
fn shipped_policy() -> anyhow::Result<String> {
    let text = std::fs::read_to_string(repo().join("systemd/org.edgeagent.Agent1.conf"))?;
    Ok(text
        .replace("user=\"edge-agent\"", "user=\"root\"")
        .replace("group=\"edge-agent-users\"", "group=\"nogroup\"")
        .replace("group=\"edge-agent-admin\"", "group=\"root\""))
}

/// Who calls.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Root,
    /// `nobody`, in `nogroup` (edge-agent-users here).
    User,
    /// `daemon`: an account in neither group.
    Stranger,
}

/// Calls `member` on the agent as `caller`; returns whether it succeeded and what it printed.
fn call(bus: &DbusDaemon, caller: Caller, member: &str, args: &[&str]) -> (bool, String) {
    let mut command = match caller {
        Caller::Root => Command::new("dbus-send"),
        Caller::User | Caller::Stranger => {
            let id = if matches!(caller, Caller::User) {
                65534
            } else {
                1
            };
            let mut c = Command::new("setpriv");
            c.args([
                format!("--reuid={id}"),
                format!("--regid={id}"),
                "--init-groups".to_owned(),
                "dbus-send".to_owned(),
            ]);
            c
        }
    };
    let output = command
        .arg(format!("--bus={}", bus.address))
        .args([
            "--print-reply",
            "--reply-timeout=20000",
            "--dest=org.edgeagent.Agent1",
            "/org/edgeagent/Agent",
        ])
        .arg(format!("org.edgeagent.Agent1.{member}"))
        .args(args)
        .output()
        .expect("dbus-send and setpriv are installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn denied(result: &(bool, String)) -> bool {
    !result.0 && result.1.contains("org.freedesktop.DBus.Error.AccessDenied")
}

#[test]
fn the_daemon_owns_its_name_on_a_system_bus_only_through_the_shipped_policy() -> anyhow::Result<()>
{
    if !running_as_root() {
        eprintln!("skipped: needs root to run callers as other accounts");
        return Ok(());
    }
    let broker = Mosquitto::start()?;
    let (bare, _dir) = DbusDaemon::start_system_like(&[])?;
    let refused = edge_agent_tests::Daemon::start(&DaemonSetup::new(&bare, broker.port));
    let error = format!(
        "{:#}",
        refused.expect_err("owned the name without a policy")
    );
    assert!(
        error.contains("org.edgeagent.Agent1") && error.contains("AccessDenied"),
        "the daemon should say it may not own its name: {error}"
    );
    let (bus, _dir) = DbusDaemon::start_system_like(&[shipped_policy()?])?;
    let _daemon = edge_agent_tests::Daemon::start(&DaemonSetup::new(&bus, broker.port))?;
    Ok(())
}

#[test]
fn callers_get_what_their_group_allows_and_no_more() -> anyhow::Result<()> {
    if !running_as_root() {
        eprintln!("skipped: needs root to run callers as other accounts");
        return Ok(());
    }
    let broker = Mosquitto::start()?;
    let (bus, _dir) = DbusDaemon::start_system_like(&[shipped_policy()?])?;
    let _daemon = edge_agent_tests::Daemon::start(&DaemonSetup::new(&bus, broker.port))?;

    // A user asks and reads.
    let status = call(&bus, Caller::User, "Status", &[]);
    assert!(status.0, "a user reads the status: {}", status.1);
    let said = call(&bus, Caller::User, "Say", &["string:what can you do"]);
    assert!(said.0, "a user speaks to the agent: {}", said.1);
    // ... but writes no signal, reloads no skill and turns no privacy switch.
    for (member, args) in [
        ("SetSignal", vec!["string:cabin.temperature", "string:21"]),
        ("ReloadSkills", vec![]),
        ("SetPrivacy", vec!["boolean:true"]),
    ] {
        let result = call(&bus, Caller::User, member, &args);
        assert!(denied(&result), "{member} by a user: {}", result.1);
    }
    // Someone in neither group gets nothing, not even the status.
    let stranger = call(&bus, Caller::Stranger, "Status", &[]);
    assert!(denied(&stranger), "status by a stranger: {}", stranger.1);
    // An administrator reaches the daemon: the write is the daemon's to judge (no such
    // signal here), not the bus's.
    let write = call(
        &bus,
        Caller::Root,
        "SetSignal",
        &["string:cabin.temperature", "string:21"],
    );
    assert!(
        !write.1.contains("AccessDenied") && write.1.contains("org.edgeagent.Agent1.Error"),
        "SetSignal by root: {}",
        write.1
    );
    let reload = call(&bus, Caller::Root, "ReloadSkills", &[]);
    assert!(reload.0, "ReloadSkills by root: {}", reload.1);
    Ok(())
}
