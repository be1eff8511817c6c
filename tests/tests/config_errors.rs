//! Bad configuration and bad skills: clear errors, exit code 2, nothing else broken.

use edge_agent_tests::Agent1Proxy;
use edge_agent_tests::{Daemon, DaemonSetup, DbusDaemon, Mosquitto, binary, repo};
use std::process::Command;

fn run_daemon(config: &str, env: &[(&str, &str)]) -> anyhow::Result<(i32, String)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config)?;
    let out = Command::new(binary("edge-agentd")?)
        .arg("--config")
        .arg(&path)
        .envs(env.iter().copied())
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn unknown_key_exits_2_naming_file_line_and_key() -> anyhow::Result<()> {
    let (code, err) = run_daemon("version = 1\n[mqtt]\nhost = \"x\"\nprot = 1883\n", &[])?;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config.toml:4:1: mqtt.prot: unknown field `prot`"),
        "{err}"
    );
    Ok(())
}

#[test]
fn wrong_type_and_bad_values_exit_2() -> anyhow::Result<()> {
    let (code, err) = run_daemon("version = 1\n[dbus]\nenabled = \"yes\"\n", &[])?;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config.toml:3:11: dbus.enabled: invalid type"),
        "{err}"
    );

    let (code, err) = run_daemon("version = 1\n[nlu]\nmin_confidence = 1.5\n", &[])?;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config.toml:3: nlu.min_confidence: 1.5 is outside 0.0 to 1.0"),
        "{err}"
    );

    let (code, err) = run_daemon("version = 1\n", &[("EDGE_AGENT__MQTT__PORT", "0")])?;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("environment variable EDGE_AGENT__MQTT__PORT: mqtt.port"),
        "{err}"
    );

    let (code, err) = run_daemon("version = 1\n[dbus\n", &[])?;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("config.toml:2:"), "{err}");
    Ok(())
}

#[test]
fn missing_config_file_exits_2() -> anyhow::Result<()> {
    let out = Command::new(binary("edge-agentd")?)
        .args(["--config", "/nonexistent/edge-agent.toml"])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/edge-agent.toml: cannot read configuration"),
        "{err}"
    );
    Ok(())
}

#[test]
fn example_config_passes_check() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("config.toml");
    let example = std::fs::read_to_string(repo().join("agent/config/edge-agent.toml"))?;
    let skills = repo().join("skills");
    std::fs::write(
        &path,
        example.replace(
            "dirs = [\"/usr/lib/edge-agent/skills\", \"/var/lib/edge-agent/skills\"]",
            &format!("dirs = [{:?}]", skills.display().to_string()),
        ),
    )?;
    let out = Command::new(binary("edge-agentd")?)
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("7 skills, 20 intents"), "{stdout}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_skills_are_skipped_and_the_rest_serve() -> anyhow::Result<()> {
    let skills = tempfile::tempdir()?;
    let copy = |name: &str| -> anyhow::Result<()> {
        std::fs::create_dir_all(skills.path().join(name))?;
        std::fs::copy(
            repo().join("skills").join(name).join("skill.toml"),
            skills.path().join(name).join("skill.toml"),
        )?;
        Ok(())
    };
    copy("media")?;
    // A syntax error in a template, a manifest with an unknown key, and a skill that claims
    // an intent another skill owns.
    std::fs::create_dir_all(skills.path().join("broken"))?;
    std::fs::write(
        skills.path().join("broken/skill.toml"),
        "[skill]\nname = \"broken\"\nversion = \"0.1.0\"\n[intents.\"broken.x\"]\ntemplates = [\"open [the door\"]\n",
    )?;
    std::fs::create_dir_all(skills.path().join("typo"))?;
    std::fs::write(
        skills.path().join("typo/skill.toml"),
        "[skill]\nname = \"typo\"\nversion = \"0.1.0\"\nauthr = \"me\"\n[intents.\"typo.x\"]\ntemplates = [\"x\"]\n",
    )?;
    std::fs::create_dir_all(skills.path().join("thief"))?;
    std::fs::write(
        skills.path().join("thief/skill.toml"),
        "[skill]\nname = \"thief\"\nversion = \"0.1.0\"\n[intents.\"media.pause\"]\ntemplates = [\"hush\"]\n",
    )?;

    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let mut setup = DaemonSetup::new(&bus, broker.port);
    setup.skill_dirs = vec![skills.path().to_owned()];
    let daemon = Daemon::start(&setup)?;
    let conn = bus.connect().await?;
    let proxy = Agent1Proxy::new(&conn).await?;
    let status: String = proxy.status().await?;
    let status: serde_json::Value = serde_json::from_str(&status)?;
    let skipped = status["skipped_skills"].to_string();
    assert!(
        skipped.contains("broken/skill.toml: intents.\\\"broken.x\\\".templates[0]"),
        "{skipped}"
    );
    assert!(skipped.contains("missing closing ']'"), "{skipped}");
    assert!(
        skipped.contains("typo/skill.toml") && skipped.contains("unknown field `authr`"),
        "{skipped}"
    );
    assert!(
        skipped.contains(
            "thief/skill.toml: intent \\\"media.pause\\\" is already owned by skill \\\"media\\\""
        ),
        "{skipped}"
    );
    let names: Vec<&str> = status["skills"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["media", "dialog"]);
    let outcome: String = proxy.say("pause the music").await?;
    assert!(outcome.contains("\"intent\":\"media.pause\""), "{outcome}");
    assert!(daemon.log().contains("skill skipped"), "{}", daemon.log());
    Ok(())
}
