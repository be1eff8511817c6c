//! Metrics scraped by a real Prometheus (Debian's `prometheus`): the agent serves
//! `GET /metrics`, Prometheus scrapes it every second, and its HTTP API shows the series a
//! command just changed.

use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, Mosquitto, Prometheus, Simulator, WAIT, free_port,
};
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_series_a_command_changes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let metrics_port = free_port()?;
    let mut setup = DaemonSetup::new(&bus, broker.port).with_demo_profiles()?;
    setup.extra = format!(
        "[asr]\nenabled = false\n[slm]\nenabled = false\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:{metrics_port}\"\n"
    );
    let daemon = Daemon::start(&setup)?;
    let prometheus = Prometheus::start(dir.path(), &format!("127.0.0.1:{metrics_port}"))?;
    let log = dir.path().join("prometheus.log");
    prometheus
        .wait_for("up{job=\"edge-agent\"}", 1.0, &log)
        .await?;
    let utterances = "edge_agent_utterances_total{origin=\"dbus\",tier=\"template\"}";
    assert_eq!(
        prometheus.value(utterances).await?,
        None,
        "no command was given yet"
    );

    let agent = bus.agent().await?;
    for text in ["set the fan to level 3", "set the fan to level 4"] {
        let said: String = agent.say(text).await?;
        let said: Value = serde_json::from_str(&said)?;
        assert_eq!(said["action"]["status"], "done", "{said}");
    }
    prometheus.wait_for(utterances, 2.0, &log).await?;
    prometheus
        .wait_for("edge_agent_actions_total{name=\"done\"}", 2.0, &log)
        .await?;
    prometheus
        .wait_for(
            "edge_agent_policy_decisions_total{name=\"allow\"}",
            2.0,
            &log,
        )
        .await?;
    prometheus
        .wait_for(
            "edge_agent_recognition_seconds_count{name=\"template\"}",
            2.0,
            &log,
        )
        .await?;
    prometheus
        .wait_for(
            "edge_agent_skill_invocations_total{skill=\"climate\",result=\"ok\"}",
            2.0,
            &log,
        )
        .await?;
    for stage in ["skill", "signal_write", "audit_write"] {
        let query = format!("edge_agent_stage_seconds_count{{name=\"{stage}\"}}");
        prometheus.wait_for(&query, 2.0, &log).await?;
    }
    prometheus
        .wait_for("edge_agent_mqtt_connected", 1.0, &log)
        .await?;
    prometheus
        .wait_for("edge_agent_connections_total{name=\"mqtt\"}", 1.0, &log)
        .await?;
    // The shipped Grafana dashboard's queries are valid PromQL on these series, and the
    // tier panels show the commands (Grafana's variables replaced as it would).
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(
        edge_agent_tests::repo().join("docs/dashboards/edge-agent.grafana.json"),
    )?)?;
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    assert!(panels.len() >= 8, "{dashboard}");
    for panel in &panels {
        for target in panel["targets"].as_array().cloned().unwrap_or_default() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_default()
                .replace("$instance", ".*")
                .replace("$__rate_interval", "1m")
                .replace("$__range", "5m");
            let tier_panel = panel["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Utterances") || t == "Tier shares");
            // A rate needs two scrapes of a series: the tier panels are waited for.
            let deadline = Instant::now() + WAIT;
            loop {
                let result = prometheus.query(&expr).await?.unwrap_or_default();
                let shows_templates = result
                    .as_array()
                    .is_some_and(|r| r.iter().any(|s| s["metric"]["tier"] == "template"));
                if !tier_panel || shows_templates {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{}: {expr} gave {result}",
                    panel["title"]
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    assert!(daemon.log().contains(&format!(
        "metrics on http://127.0.0.1:{metrics_port}/metrics"
    )));
    Ok(())
}

/// A port already taken keeps metrics off and says why; the daemon serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_is_named_and_the_daemon_serves_on() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?;
    let mut setup = DaemonSetup::new(&bus, broker.port);
    setup.extra = format!("[metrics]\nenabled = true\nlisten = \"{addr}\"\n");
    let daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    let _: String = agent.status().await?;
    let deadline = Instant::now() + WAIT;
    while !daemon
        .log()
        .contains(&format!("metrics off: cannot listen on {addr}"))
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no reason logged:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Without a scraper: the same text, retained on `{prefix}/{device}/metrics` every
/// `metrics.mqtt_summary_secs`, with the HTTP port off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_is_retained_on_mqtt_for_fleets_without_a_scraper() -> anyhow::Result<()> {
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let mut setup = DaemonSetup::new(&bus, broker.port);
    setup.extra = "[metrics]\nmqtt_summary_secs = 1\n".into();
    let daemon = Daemon::start(&setup)?;
    let agent = bus.agent().await?;
    let _: String = agent.say("what's the capital of france").await?;
    let topic = format!("edge-agent/{}/metrics", daemon.device_id);
    // Subscribing after it was published: the retained copy comes first, then one a second.
    let mut probe = edge_agent_tests::MqttProbe::connect(broker.port, &topic).await?;
    let text = probe
        .expect(&topic, |p| {
            String::from_utf8_lossy(p)
                .contains("edge_agent_utterances_total{origin=\"dbus\",tier=\"none\"} 1")
        })
        .await?;
    let text = String::from_utf8(text)?;
    assert!(text.contains("edge_agent_mqtt_connected 1"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    Ok(())
}
