//! Packaging: the systemd units in `systemd/` keep their hardening (offline exposure scores no
//! higher than `systemd/exposure-scores.txt`), pass `systemd-analyze verify` with their
//! binaries installed in a scratch root, the sysusers/tmpfiles files create the account and
//! directories, the workers' config drop-in is accepted by the daemon, and the Yocto crates
//! includes match the Cargo.lock files.

use anyhow::{Context as _, bail};
use edge_agent_tests::{bin_dir, binary, repo};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The units the packages install, with the binary each one starts.
const UNITS: [(&str, &str); 4] = [
    ("edge-agentd.service", "edge-agentd"),
    ("edge-asr.service", "edge-asr"),
    ("edge-slm.service", "edge-slm"),
    ("edge-wake.service", "edge-wake"),
];

fn systemd_dir() -> PathBuf {
    repo().join("systemd")
}

/// `systemd/exposure-scores.txt`: `UNIT SCORE` per line, `#` comments.
fn recorded_scores() -> anyhow::Result<BTreeMap<String, f64>> {
    let path = systemd_dir().join("exposure-scores.txt");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut scores = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(unit), Some(score), None) = (fields.next(), fields.next(), fields.next()) else {
            bail!("{}:{}: expected `UNIT SCORE`", path.display(), n + 1);
        };
        let score: f64 = score
            .parse()
            .with_context(|| format!("{}:{}: score {score:?}", path.display(), n + 1))?;
        scores.insert(unit.to_owned(), score);
    }
    Ok(scores)
}

/// The overall exposure `systemd-analyze security --offline=yes` gives a unit file.
fn exposure(unit: &Path) -> anyhow::Result<f64> {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit)
        .output()
        .context("systemd-analyze (package systemd) not found")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level for"))
        .with_context(|| {
            format!(
                "no overall exposure for {}: {stdout}{}",
                unit.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    // "→ Overall exposure level for edge-asr.service: 0.2 SAFE 😀"
    let score = line
        .rsplit_once(": ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .with_context(|| format!("cannot read {line:?}"))?;
    score
        .parse()
        .with_context(|| format!("cannot read {line:?}"))
}

#[test]
fn exposure_scores_do_not_regress() -> anyhow::Result<()> {
    let recorded = recorded_scores()?;
    let mut units: Vec<String> = std::fs::read_dir(systemd_dir())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".service"))
        .collect();
    units.sort();
    assert_eq!(
        units,
        recorded.keys().cloned().collect::<Vec<_>>(),
        "every unit in systemd/ needs a recorded score in systemd/exposure-scores.txt"
    );
    let mut regressed = Vec::new();
    for unit in &units {
        let score = exposure(&systemd_dir().join(unit))?;
        let max = recorded[unit];
        eprintln!("{unit}: exposure {score:.1} (recorded {max:.1})");
        // Scores are printed with one decimal.
        if score > max + 0.05 {
            regressed.push(format!("{unit} scores {score:.1}, recorded {max:.1}"));
        }
    }
    assert!(regressed.is_empty(), "hardening regressed: {regressed:?}");
    Ok(())
}

/// A scratch root for `systemd-analyze verify --root`: the host's unit directory (for
/// sysinit.target and the other default dependencies), the units under test in
/// /etc/systemd/system and the built binaries at /usr/bin (hard links into a directory
/// beside them, so nothing large is copied).
struct VerifyRoot {
    dir: tempfile::TempDir,
}

impl VerifyRoot {
    fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir_in(bin_dir())?;
        let root = dir.path();
        let host_units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("sysinit.target").is_file())
            .context("no host unit directory with sysinit.target")?;
        std::fs::create_dir_all(root.join("usr/lib/systemd"))?;
        let status = Command::new("cp")
            .arg("-a")
            .arg(host_units)
            .arg(root.join("usr/lib/systemd/system"))
            .status()?;
        anyhow::ensure!(status.success(), "cp -a {} failed", host_units.display());
        std::fs::create_dir_all(root.join("usr/bin"))?;
        for (_, bin) in UNITS {
            let built = binary(bin)?;
            let installed = root.join("usr/bin").join(bin);
            if std::fs::hard_link(&built, &installed).is_err() {
                std::fs::copy(&built, &installed)?;
            }
        }
        std::fs::create_dir_all(root.join("etc/systemd/system"))?;
        for (unit, _) in UNITS {
            std::fs::copy(
                systemd_dir().join(unit),
                root.join("etc/systemd/system").join(unit),
            )?;
        }
        Ok(Self { dir })
    }

    fn add_unit(&self, name: &str, text: &str) -> anyhow::Result<()> {
        std::fs::write(self.dir.path().join("etc/systemd/system").join(name), text)?;
        Ok(())
    }

    /// Every diagnostic `systemd-analyze verify` prints for these units: verify exits 0 on
    /// an unknown key or a bad value (it logs "ignoring"), so any output counts as failure.
    fn verify(&self, units: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", self.dir.path().display()))
            .arg("--man=no")
            .args(units)
            .output()
            .context("systemd-analyze (package systemd) not found")?;
        let mut diagnostics = String::from_utf8_lossy(&out.stdout).into_owned();
        diagnostics.push_str(&String::from_utf8_lossy(&out.stderr));
        if !out.status.success() && diagnostics.is_empty() {
            diagnostics = format!("verify exited with {}", out.status);
        }
        Ok(diagnostics)
    }
}

#[test]
fn units_pass_systemd_analyze_verify() -> anyhow::Result<()> {
    let root = VerifyRoot::new()?;
    let units: Vec<&str> = UNITS.iter().map(|(unit, _)| *unit).collect();
    let diagnostics = root.verify(&units)?;
    assert!(
        diagnostics.trim().is_empty(),
        "systemd-analyze verify: {diagnostics}"
    );
    eprintln!("systemd-analyze verify: {} clean", units.join(", "));
    Ok(())
}

#[test]
fn verify_catches_a_broken_unit() -> anyhow::Result<()> {
    let root = VerifyRoot::new()?;
    let good = std::fs::read_to_string(systemd_dir().join("edge-asr.service"))?;
    let broken = [
        (
            "typo-key.service",
            good.replace("ProtectSystem=strict", "ProtectSytem=strict"),
            "Unknown key",
        ),
        (
            "bad-value.service",
            good.replace("Type=notify", "Type=notfy"),
            "Failed to parse service type",
        ),
        (
            "no-binary.service",
            good.replace("/usr/bin/edge-asr", "/usr/bin/edge-asr-missing"),
            "is not executable",
        ),
    ];
    for (name, text, expected) in &broken {
        assert_ne!(&good, text, "{name}: the edit did not apply");
        root.add_unit(name, text)?;
        let diagnostics = root.verify(&[name])?;
        assert!(
            diagnostics.contains(expected),
            "{name}: expected {expected:?} from verify, got {diagnostics:?}"
        );
    }
    Ok(())
}

#[test]
fn sysusers_and_tmpfiles_create_the_account_and_directories() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let r = root.path();
    for dir in ["etc", "usr/lib/sysusers.d", "usr/lib/tmpfiles.d"] {
        std::fs::create_dir_all(r.join(dir))?;
    }
    std::fs::copy(
        systemd_dir().join("edge-agent.sysusers"),
        r.join("usr/lib/sysusers.d/edge-agent.conf"),
    )?;
    std::fs::copy(
        systemd_dir().join("edge-agent.tmpfiles"),
        r.join("usr/lib/tmpfiles.d/edge-agent.conf"),
    )?;
    let root_arg = format!("--root={}", r.display());
    let out = Command::new("systemd-sysusers")
        .arg(&root_arg)
        .arg("edge-agent.conf")
        .output()
        .context("systemd-sysusers not found")?;
    assert!(
        out.status.success(),
        "systemd-sysusers: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passwd = std::fs::read_to_string(r.join("etc/passwd"))?;
    let account = passwd
        .lines()
        .find(|l| l.starts_with("edge-agent:"))
        .with_context(|| format!("no edge-agent account in {passwd:?}"))?;
    let uid: u32 = account.split(':').nth(2).unwrap_or_default().parse()?;
    // The groups the D-Bus policy (org.edgeagent.Agent1.conf) grants calls to.
    let group = std::fs::read_to_string(r.join("etc/group"))?;
    for name in ["edge-agent-users", "edge-agent-admin"] {
        assert!(
            group.lines().any(|l| l.starts_with(&format!("{name}:"))),
            "no {name} group in {group:?}"
        );
    }
    let policy = std::fs::read_to_string(systemd_dir().join("org.edgeagent.Agent1.conf"))?;
    for name in [
        "user=\"edge-agent\"",
        "group=\"edge-agent-users\"",
        "group=\"edge-agent-admin\"",
    ] {
        assert!(policy.contains(name), "the D-Bus policy names {name}");
    }

    // Creating directories owned by another user needs root (CI runs as root).
    if std::fs::metadata("/proc/self")?.uid() != 0 {
        eprintln!("not root: tmpfiles --create skipped");
        return Ok(());
    }
    let out = Command::new("systemd-tmpfiles")
        .arg(&root_arg)
        .arg("--create")
        .arg("edge-agent.conf")
        .output()
        .context("systemd-tmpfiles not found")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-tmpfiles: {stderr}"
    );
    for dir in [
        "run/edge-agent",
        "var/lib/edge-agent",
        "var/lib/edge-agent/skills",
        "var/lib/edge-agent/skill-state",
        "var/cache/edge-agent/skills",
    ] {
        let meta = std::fs::metadata(r.join(dir)).with_context(|| dir.to_owned())?;
        assert!(meta.is_dir(), "{dir}");
        assert_eq!(meta.uid(), uid, "{dir} owner");
        assert_eq!(meta.mode() & 0o777, 0o750, "{dir} mode");
    }
    Ok(())
}

/// The drop-in the packages install as /etc/edge-agent/conf.d/10-workers.toml is a valid
/// configuration layer (`edge-agentd --check` rejects unknown keys with exit code 2).
#[test]
fn workers_dropin_is_accepted_by_the_daemon() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("conf.d"))?;
    let skills = dir.path().join("skills");
    std::fs::create_dir_all(&skills)?;
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "version = 1\n[skills]\ndirs = [{:?}]\ncache_dir = {:?}\nstate_dir = {:?}\n",
            skills,
            dir.path().join("cache"),
            dir.path().join("state"),
        ),
    )?;
    std::fs::copy(
        systemd_dir().join("edge-agent-workers.toml"),
        dir.path().join("conf.d/10-workers.toml"),
    )?;
    let out = Command::new(binary("edge-agentd")?)
        .arg("--check")
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .output()?;
    assert!(
        out.status.success(),
        "edge-agentd --check with 10-workers.toml: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The Yocto layer's crates includes list exactly the crates of the Cargo.lock files.
#[test]
fn yocto_crates_includes_match_cargo_lock() -> anyhow::Result<()> {
    let out = Command::new("python3")
        .arg(repo().join("yocto/generate-crates-inc.py"))
        .arg("--check")
        .output()
        .context("python3 not found")?;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}
