//! Fleet operations through a real mosquitto and `edge-agentd` (release): the time from
//! `edge-agentctl fleet` starting to the device's acknowledgement, for a skill update
//! (sign, send, verify, stage, swap, reload with compile, commit, ack), a refused forged
//! command and a removal. Rows of one run compare; the machine is shared.
//!
//! `cargo build --release --bins && bash skills/build.sh && cargo bench -p edge-agent-tests --bench fleet`

use edge_agent_tests::{Daemon, DaemonSetup, DbusDaemon, Mosquitto, built_skills, copy_skill, ctl};
use std::path::Path;
use std::time::Instant;

const N: usize = 20;

fn row(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "| {name:<44} | {:>3} | {:>7.1} | {:>7.1} |",
        ms.len(),
        p(0.5),
        p(1.0)
    );
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (secret, public) = edge_signing::generate_key()?;
    let (stranger, _) = edge_signing::generate_key()?;
    let key = dir.path().join("publisher.key");
    let forged = dir.path().join("stranger.key");
    std::fs::write(&key, secret)?;
    std::fs::write(&forged, stranger)?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.skill_dirs = vec![dir.path().join("installed")];
    std::fs::create_dir_all(&setup.skill_dirs[0])?;
    setup.extra = format!(
        "[asr]\nenabled = false\n[slm]\nenabled = false\n[fleet]\nenabled = true\npublisher_keys = [{public:?}]\nheartbeat_secs = 0\n"
    );
    let daemon = Daemon::start(&setup)?;
    let port = broker.port.to_string();
    let packages = dir.path().join("packages");
    for name in ["media", "troubleshoot"] {
        copy_skill(&built_skills()?, &packages, name)?;
    }
    let send = |key: &Path, args: &[&str], want: &str| -> anyhow::Result<f64> {
        let key = key.display().to_string();
        let mut all = vec![
            "fleet",
            "--key",
            &key,
            "--device",
            &daemon.device_id,
            "--port",
            &port,
        ];
        all.extend_from_slice(args);
        let t = Instant::now();
        let (_, stdout, stderr) = ctl(&all)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        anyhow::ensure!(stdout.contains(want), "{args:?}: {stdout} {stderr}");
        Ok(ms)
    };
    let (mut media, mut big, mut refused, mut removed) = (vec![], vec![], vec![], vec![]);
    let media_dir = packages.join("media").display().to_string();
    let big_dir = packages.join("troubleshoot").display().to_string();
    for _ in 0..N {
        media.push(send(&key, &["install", &media_dir], "\"status\":\"ok\"")?);
        big.push(send(&key, &["install", &big_dir], "\"status\":\"ok\"")?);
        refused.push(send(
            &forged,
            &["remove", "media"],
            "\"status\":\"rejected\"",
        )?);
        removed.push(send(&key, &["remove", "media"], "\"status\":\"ok\"")?);
    }
    let size = |name: &str| {
        std::fs::metadata(packages.join(name).join(format!("{name}.wasm")))
            .map(|m| m.len() / 1024)
            .unwrap_or(0)
    };
    println!("fleet commands, edge-agentctl start to acknowledgement, N = {N} each, ms:\n");
    println!("| command                                      |   n |     p50 |     max |");
    println!("|---|---|---|---|");
    row(
        &format!("install/update media ({} KiB component)", size("media")),
        media,
    );
    row(
        &format!("install/update troubleshoot ({} KiB)", size("troubleshoot")),
        big,
    );
    row("forged (untrusted key): rejected", refused);
    row("remove media", removed);
    Ok(())
}
