//! Soak: mixed traffic for a long time against the demo world (car on D-Bus, plant on
//! MQTT, example skills, the speech and SLM workers), sampling the daemon's RSS, open file
//! descriptors, threads and async tasks, and the workers' RSS, every 10 s. Prints the
//! samples and a summary (growth after the warm-up), writes them as CSV and draws them as
//! an SVG picture.
//!
//! `SOAK_SECONDS=1800 cargo bench -p edge-agent-tests --bench soak` (default 1800 s; the
//! picture goes to `SOAK_SVG`, default `soak.svg` under the bench's temporary directory).

use edge_agent_tests::{
    Daemon, DaemonSetup, DbusDaemon, Mosquitto, Simulator, proc_status_kib, spoken_commands,
    wait_for_workers,
};
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Typed commands: template hits that act on the car and the plant, questions, and
/// sentences no skill takes.
const TEXTS: [&str; 8] = [
    "set the temperature to 21 degrees",
    "start pump three",
    "stop pump three",
    "set the fan to level 3",
    "what's the capital of france",
    "open all windows",
    "close all windows",
    "how is pump two doing",
];
/// Paraphrases the templates do not take: the SLM worker is asked.
const PARAPHRASES: [&str; 3] = [
    "could you make it a bit warmer in here",
    "get the third pump going please",
    "i would like some fresh air",
];

#[derive(Debug, Clone, Copy)]
struct Sample {
    seconds: f64,
    rss_kib: u64,
    worker_rss_kib: u64,
    fds: usize,
    threads: u64,
    tasks: u64,
    commands: u64,
    failures: u64,
}

/// The pids of `pid`'s children (its workers), whichever of its threads started them.
fn children(pid: u64) -> Vec<u64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect()
}

fn open_fds(pid: u64) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

#[derive(Default)]
struct Counters {
    commands: AtomicU64,
    failures: AtomicU64,
}

impl Counters {
    fn count<T, E: std::fmt::Display>(&self, what: &str, result: Result<T, E>) {
        self.commands.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = result {
            self.failures.fetch_add(1, Ordering::Relaxed);
            eprintln!("{what}: {e}");
        }
    }
}

/// Runs `step(i)` every `period` until `until`.
async fn every<F, Fut>(period: Duration, until: Instant, mut step: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = 0;
    while Instant::now() < until {
        ticks.tick().await;
        step(i).await;
        i += 1;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1800);
    let svg = std::env::var_os("SOAK_SVG").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("soak.svg"),
        PathBuf::from,
    );
    let dir = tempfile::tempdir()?;
    let bus = DbusDaemon::start()?;
    let broker = Mosquitto::start()?;
    let _car = Simulator::car(&bus)?;
    let _plant = Simulator::plant(broker.port)?;
    let setup = DaemonSetup::new(&bus, broker.port)
        .with_demo_profiles()?
        .with_both_workers(dir.path())?;
    let daemon = Daemon::start(&setup)?;
    let pid = u64::from(
        daemon
            .pid()
            .ok_or_else(|| anyhow::anyhow!("daemon not running"))?,
    );
    let wavs: Vec<Vec<u8>> = spoken_commands()?
        .iter()
        .take(16)
        .map(|c| std::fs::read(&c.wav))
        .collect::<Result<_, _>>()?;
    let status = bus.agent().await?;
    wait_for_workers(&status).await?;

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let counters = Arc::new(Counters::default());
    let mut traffic = Vec::new();
    // Two D-Bus callers, 5 typed commands a second each.
    for caller in 0..2 {
        let (agent, counters) = (bus.agent().await?, counters.clone());
        traffic.push(tokio::spawn(async move {
            every(Duration::from_millis(200), until, |i| {
                let (agent, counters) = (agent.clone(), counters.clone());
                async move {
                    let text = TEXTS[(i * 2 + caller) % TEXTS.len()];
                    counters.count("Say", agent.say(text).await);
                }
            })
            .await;
        }));
    }
    // MQTT: 5 commands a second from one operator.
    {
        let mut options = rumqttc::MqttOptions::new("soak-operator", "127.0.0.1", broker.port);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        traffic.push(tokio::spawn(async move {
            loop {
                if eventloop.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
        let (say, counters) = (daemon.topics().say(), counters.clone());
        traffic.push(tokio::spawn(async move {
            every(Duration::from_millis(200), until, |i| {
                let (client, say, counters) = (client.clone(), say.clone(), counters.clone());
                async move {
                    let text = TEXTS[(i * 3) % TEXTS.len()];
                    counters.count(
                        "MQTT say",
                        client
                            .publish(say, rumqttc::QoS::AtLeastOnce, false, text)
                            .await,
                    );
                }
            })
            .await;
        }));
    }
    // Status and a signal read every second, a direct write every 5 s.
    {
        let (agent, counters) = (bus.agent().await?, counters.clone());
        traffic.push(tokio::spawn(async move {
            every(Duration::from_secs(1), until, |i| {
                let (agent, counters) = (agent.clone(), counters.clone());
                async move {
                    counters.count("Status", agent.status().await);
                    counters.count(
                        "GetSignal",
                        agent.get_signal("Vehicle.Cabin.HVAC.FanLevel", true).await,
                    );
                    if i % 5 == 0 {
                        let level = (i / 5 % 5 + 1).to_string();
                        counters.count(
                            "SetSignal",
                            agent
                                .set_signal("Vehicle.Cabin.HVAC.FanLevel", &level)
                                .await,
                        );
                    }
                }
            })
            .await;
        }));
    }
    // A spoken command every 10 s (the speech worker) and a paraphrase every 15 s (the
    // SLM worker).
    {
        let (agent, listened) = (bus.agent().await?, counters.clone());
        traffic.push(tokio::spawn(async move {
            every(Duration::from_secs(10), until, |i| {
                let (agent, counters, wav) = (
                    agent.clone(),
                    listened.clone(),
                    wavs[i % wavs.len()].clone(),
                );
                async move {
                    counters.count("Listen", agent.listen(&wav).await);
                }
            })
            .await;
        }));
        let (agent, counters) = (bus.agent().await?, counters.clone());
        traffic.push(tokio::spawn(async move {
            every(Duration::from_secs(15), until, |i| {
                let (agent, counters) = (agent.clone(), counters.clone());
                async move {
                    let text = PARAPHRASES[i % PARAPHRASES.len()];
                    counters.count("Say", agent.say(text).await);
                }
            })
            .await;
        }));
    }

    println!("Soak: {seconds} s of mixed traffic, sampled every {SAMPLE_EVERY:?}");
    println!(
        "| s | daemon RSS MiB | workers RSS MiB | fds | threads | tasks | commands | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut samples = Vec::new();
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    loop {
        ticks.tick().await;
        let json: String = status.status().await?;
        let v: serde_json::Value = serde_json::from_str(&json)?;
        let sample = Sample {
            seconds: started.elapsed().as_secs_f64(),
            rss_kib: proc_status_kib(pid, "VmRSS:"),
            worker_rss_kib: children(pid)
                .into_iter()
                .map(|c| proc_status_kib(c, "VmRSS:"))
                .sum(),
            fds: open_fds(pid),
            threads: proc_status_kib(pid, "Threads:"),
            tasks: v["runtime"]["tasks"].as_u64().unwrap_or(0),
            commands: counters.commands.load(Ordering::Relaxed),
            failures: counters.failures.load(Ordering::Relaxed),
        };
        println!(
            "| {:.0} | {:.1} | {:.1} | {} | {} | {} | {} | {} |",
            sample.seconds,
            sample.rss_kib as f64 / 1024.0,
            sample.worker_rss_kib as f64 / 1024.0,
            sample.fds,
            sample.threads,
            sample.tasks,
            sample.commands,
            sample.failures
        );
        samples.push(sample);
        if Instant::now() >= until {
            break;
        }
    }
    for t in traffic {
        t.abort();
    }

    summarize(&samples, seconds);
    let csv = svg.with_extension("csv");
    let mut text =
        "seconds,rss_kib,worker_rss_kib,fds,threads,tasks,commands,failures\n".to_owned();
    for s in &samples {
        text.push_str(&format!(
            "{:.1},{},{},{},{},{},{},{}\n",
            s.seconds,
            s.rss_kib,
            s.worker_rss_kib,
            s.fds,
            s.threads,
            s.tasks,
            s.commands,
            s.failures
        ));
    }
    std::fs::write(&csv, text)?;
    draw(&samples, &svg)?;
    println!("\nsamples: {}\npicture: {}", csv.display(), svg.display());
    Ok(())
}

/// The warm-up is the first sixth of the run (5 minutes of 30); growth compares the mean
/// of the three samples after it with the mean of the last three.
fn summarize(samples: &[Sample], seconds: u64) {
    let warm = seconds as f64 / 6.0;
    let after: Vec<&Sample> = samples.iter().filter(|s| s.seconds >= warm).collect();
    if after.len() < 6 {
        println!("too few samples after the warm-up for a summary");
        return;
    }
    let mean = |xs: &[&Sample], f: fn(&Sample) -> f64| {
        xs.iter().map(|s| f(s)).sum::<f64>() / xs.len() as f64
    };
    let (first, last) = (&after[..3], &after[after.len() - 3..]);
    let row = |name: &str, f: fn(&Sample) -> f64| {
        let (a, b) = (mean(first, f), mean(last, f));
        let max = samples.iter().map(f).fold(f64::MIN, f64::max);
        let growth = if a > 0.0 {
            format!("{:+.1}%", (b - a) / a * 100.0)
        } else {
            "-".to_owned()
        };
        println!("| {name} | {a:.1} | {b:.1} | {growth} | {max:.1} |");
    };
    let done = samples.last().map_or(0, |s| s.commands);
    let failed = samples.last().map_or(0, |s| s.failures);
    println!();
    println!(
        "Summary: {done} requests ({:.1}/s), {failed} failed; after a {:.0} s warm-up:",
        done as f64 / seconds as f64,
        warm
    );
    println!("| measure | after warm-up | at the end | growth | max |");
    println!("|---|---|---|---|---|");
    row("daemon RSS MiB", |s| s.rss_kib as f64 / 1024.0);
    row("workers RSS MiB", |s| s.worker_rss_kib as f64 / 1024.0);
    row("open fds", |s| s.fds as f64);
    row("threads", |s| s.threads as f64);
    row("async tasks", |s| s.tasks as f64);
}

/// One line of a panel: its legend, what it plots, its colour.
type Line = (&'static str, fn(&Sample) -> f64, RGBColor);

/// Three panels over time: memory, file descriptors, threads and tasks.
fn draw(samples: &[Sample], path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let minutes = |s: &Sample| s.seconds / 60.0;
    let end = samples.last().map_or(1.0, minutes).max(1.0);
    let series: [(&str, Vec<Line>); 3] = [
        (
            "RSS (MiB)",
            vec![
                ("edge-agentd", |s| s.rss_kib as f64 / 1024.0, BLUE),
                (
                    "speech + SLM workers",
                    |s| s.worker_rss_kib as f64 / 1024.0,
                    RED,
                ),
            ],
        ),
        (
            "open file descriptors",
            vec![("edge-agentd", |s| s.fds as f64, BLUE)],
        ),
        (
            "threads and async tasks",
            vec![
                ("threads", |s| s.threads as f64, BLUE),
                ("tokio tasks alive", |s| s.tasks as f64, RED),
            ],
        ),
    ];
    for (panel, (title, lines)) in panels.iter().zip(series) {
        let top = lines
            .iter()
            .flat_map(|(_, f, _)| samples.iter().map(f))
            .fold(1.0, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..end, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("minutes")
            .light_line_style(WHITE)
            .draw()?;
        for (name, f, color) in lines {
            chart
                .draw_series(LineSeries::new(
                    samples.iter().map(|s| (minutes(s), f(s))),
                    color.stroke_width(2),
                ))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
