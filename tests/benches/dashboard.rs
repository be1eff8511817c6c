//! The dashboard from a real run: the demo world (car, plant, example skills, the speech and
//! SLM workers) with metrics on, Debian's Prometheus scraping it every second, mixed
//! traffic for a few minutes; then the panels of the shipped Grafana dashboard
//! (`docs/dashboards/edge-agent.grafana.json`) are queried from Prometheus and drawn as an
//! SVG picture (the same queries Grafana runs, Grafana's variables replaced), and the tier
//! shares and stage latencies printed as tables.
//!
//! `DASHBOARD_SECONDS=300 DASHBOARD_SVG=docs/dashboard.svg cargo bench -p edge-agent-tests --bench dashboard`

use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, Mosquitto, Prometheus, Simulator, free_port, repo,
    spoken_commands, wait_for_workers,
};
use plotters::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Template commands, questions and sentences no skill takes.
const TEXTS: [&str; 8] = [
    "set the temperature to 21 degrees",
    "what's the vibration on pump 3",
    "set the fan to level 3",
    "what's the capital of france",
    "open all windows",
    "close all windows",
    "how is pump two doing",
    "tell me a joke",
];
/// Paraphrases the templates do not take: the SLM tier answers (or nobody).
const PARAPHRASES: [&str; 3] = [
    "could you change the cabin temperature to 22 please",
    "what kind of pressure are we seeing on pump one",
    "i would like some fresh air",
];
/// The panels drawn (titles in the dashboard).
const DRAWN: [&str; 4] = [
    "Utterances per minute, by tier",
    "Latency per stage, p95",
    "Recognition latency per tier, p50 and p95",
    "Actions by result, per minute",
];

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A series' legend from Grafana's `legendFormat` (`{{tier}}`, `p95 {{name}}`).
fn legend(format: &str, metric: &Value) -> String {
    let mut text = format.to_owned();
    if let Some(labels) = metric.as_object() {
        for (k, v) in labels {
            text = text.replace(&format!("{{{{{k}}}}}"), v.as_str().unwrap_or_default());
        }
    }
    text
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("DASHBOARD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let svg = std::env::var_os("DASHBOARD_SVG").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.svg"),
        PathBuf::from,
    );
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let _plant = Simulator::plant(broker.port)?;
    let metrics_port = free_port()?;
    let mut setup = DaemonSetup::new(&bus, broker.port)
        .with_demo_profiles()?
        .with_both_workers(dir.path())?;
    setup.extra.push_str(&format!(
        "[metrics]\nenabled = true\nlisten = \"127.0.0.1:{metrics_port}\"\n"
    ));
    let _daemon = Daemon::start(&setup)?;
    let prometheus = Prometheus::start(dir.path(), &format!("127.0.0.1:{metrics_port}"))?;
    let agent = bus.agent().await?;
    let wavs: Vec<Vec<u8>> = spoken_commands()?
        .iter()
        .take(24)
        .map(|c| std::fs::read(&c.wav))
        .collect::<Result<_, _>>()?;
    wait_for_workers(&agent).await?;

    let start = now();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut i = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    // Failed actions by what the text was and why, from the outcomes themselves.
    let mut failed: std::collections::BTreeMap<String, usize> = Default::default();
    let mut note = |what: &str, reply: Result<String, zbus::Error>| {
        let outcome: Value = reply
            .ok()
            .and_then(|r| serde_json::from_str(&r).ok())
            .unwrap_or_default();
        // Listen's answer carries the outcome's fields too (with the transcript's).
        if outcome["action"]["status"] == "failed" {
            let error = outcome["action"]["error"].as_str().unwrap_or("?");
            *failed
                .entry(format!("{what} {:?}: {error}", outcome["text"]))
                .or_default() += 1;
        }
    };
    while Instant::now() < until {
        tick.tick().await;
        // Typed commands twice a second, a spoken one every 5 s, a paraphrase every 5 s.
        note("typed", agent.say(TEXTS[i % TEXTS.len()]).await);
        if i.is_multiple_of(10) {
            let wav = wavs[i / 10 % wavs.len()].clone();
            note("spoken", agent.listen(&wav).await);
        }
        if i % 10 == 5 {
            let text = PARAPHRASES[i / 10 % PARAPHRASES.len()];
            note("paraphrase", agent.say(text).await);
        }
        i += 1;
    }
    // The last scrapes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end = now();

    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(
        repo().join("docs/dashboards/edge-agent.grafana.json"),
    )?)?;
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    let expr = |target: &Value, range: &str| {
        target["expr"]
            .as_str()
            .unwrap_or_default()
            .replace("$instance", ".*")
            .replace("$__rate_interval", "1m")
            .replace("$__range", range)
    };

    // Tables: the shares of the whole run and the stage latencies.
    let whole = format!("{}s", (end - start).ceil() as u64);
    println!("Dashboard run: {seconds} s of traffic ({i} ticks)");
    println!("\n| tier | utterances | share |\n|---|---|---|");
    let shares = prometheus
        .query(&format!(
            "sum by (tier) (increase(edge_agent_utterances_total[{whole}]))"
        ))
        .await?
        .unwrap_or_default();
    let total: f64 = shares
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
        .sum();
    for s in shares.as_array().into_iter().flatten() {
        let n: f64 = s["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        println!(
            "| {} | {n:.0} | {:.1}% |",
            s["metric"]["tier"].as_str().unwrap_or("?"),
            100.0 * n / total.max(1.0)
        );
    }
    println!("\n| failed action | times |\n|---|---|");
    for (what, n) in &failed {
        println!("| {what} | {n} |");
    }
    println!("\n| stage | p50 ms | p95 ms | count |\n|---|---|---|---|");
    let quantile = |q: f64, family: &str, group: &str| {
        format!(
            "histogram_quantile({q}, sum by (le, {group}) (increase({family}_bucket[{whole}])))"
        )
    };
    let p50 = prometheus
        .query(&quantile(0.5, "edge_agent_stage_seconds", "name"))
        .await?
        .unwrap_or_default();
    let p95 = prometheus
        .query(&quantile(0.95, "edge_agent_stage_seconds", "name"))
        .await?
        .unwrap_or_default();
    let counts = prometheus
        .query(&format!(
            "sum by (name) (increase(edge_agent_stage_seconds_count[{whole}]))"
        ))
        .await?
        .unwrap_or_default();
    let of = |result: &Value, name: &str| {
        result
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["metric"]["name"] == name)
            .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    for s in counts.as_array().into_iter().flatten() {
        let name = s["metric"]["name"].as_str().unwrap_or("?");
        println!(
            "| {name} | {:.1} | {:.1} | {:.0} |",
            of(&p50, name) * 1e3,
            of(&p95, name) * 1e3,
            of(&counts, name)
        );
    }

    // The picture: the drawn panels over the run, one point every 5 s.
    let root = SVGBackend::new(&svg, (1000, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((2, 2));
    let palette = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (area, title) in areas.iter().zip(DRAWN) {
        let panel = panels
            .iter()
            .find(|p| p["title"] == title)
            .ok_or_else(|| anyhow::anyhow!("the dashboard has no panel {title:?}"))?;
        let unit = panel["fieldConfig"]["defaults"]["unit"].as_str() == Some("s");
        let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for target in panel["targets"].as_array().cloned().unwrap_or_default() {
            let series = prometheus
                .range(&expr(&target, "5m"), start, end, 5.0)
                .await?;
            for s in series.as_array().into_iter().flatten() {
                let points: Vec<(f64, f64)> = s["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| {
                        let t = v[0].as_f64()?;
                        let y: f64 = v[1].as_str()?.parse().ok()?;
                        y.is_finite()
                            .then_some(((t - start) / 60.0, if unit { y * 1e3 } else { y }))
                    })
                    .collect();
                let name = legend(target["legendFormat"].as_str().unwrap_or(""), &s["metric"]);
                lines.push((name, points));
            }
        }
        let top = lines
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
            .fold(1.0, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{title}{}", if unit { " (ms)" } else { "" }),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..((end - start) / 60.0).max(1.0), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("minutes")
            .light_line_style(WHITE)
            .draw()?;
        for (k, (name, points)) in lines.into_iter().enumerate() {
            let color = palette[k % palette.len()];
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    println!("\npicture: {}", svg.display());
    Ok(())
}
