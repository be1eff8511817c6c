//! Template tier latency and accuracy over the dev set, side by side with hassil (Home
//! Assistant's template matcher) on equivalent templates, in the same run.
//!
//! `cargo bench -p edge-intent --bench templates` (hassil from `tests/setup.sh --bench`).

#[path = "../tests/common/mod.rs"]
mod common;

use edge_intent::Evaluation;
use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

const PASSES: usize = 50;
const HASSIL_PASSES: usize = 20;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    // Nearest rank, as the hassil script computes it.
    let rank = ((sorted.len() as f64) * p / 100.0).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

struct Row {
    engine: String,
    templates: usize,
    intent: f64,
    accepted: f64,
    p50: f64,
    p99: f64,
    mean: f64,
}

fn main() {
    let started = Instant::now();
    let engine = common::shipped_engine();
    let compile_ms = started.elapsed().as_secs_f64() * 1e3;
    let dev = common::dev_set();

    let mut eval = Evaluation::default();
    for e in &dev {
        eval.record(e, &engine.recognize(&e.text));
    }
    let mut times_us = Vec::with_capacity(dev.len() * PASSES);
    for _ in 0..PASSES {
        for e in &dev {
            let t = Instant::now();
            black_box(engine.recognize(black_box(&e.text)));
            times_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    times_us.sort_by(f64::total_cmp);
    let ours = Row {
        engine: format!("edge-intent {}", env!("CARGO_PKG_VERSION")),
        templates: engine.template_count(),
        intent: eval.overall.intent_accuracy() * 100.0,
        accepted: eval.overall.acceptance() * 100.0,
        p50: percentile(&times_us, 50.0),
        p99: percentile(&times_us, 99.0),
        mean: times_us.iter().sum::<f64>() / times_us.len() as f64,
    };

    let hassil = run_hassil();
    println!(
        "template tier over tests/resources/nlu/dev.jsonl: {} utterances, {} timed passes (hassil {}); engine compiled in {compile_ms:.1} ms",
        dev.len(),
        PASSES,
        HASSIL_PASSES
    );
    println!(
        "| {:<22} | {:>9} | {:>8} | {:>9} | {:>9} | {:>9} | {:>9} |",
        "engine", "templates", "intent %", "accepted %", "p50 us", "p99 us", "mean us"
    );
    println!(
        "|{:-<24}|{:->11}|{:->10}|{:->12}|{:->11}|{:->11}|{:->11}|",
        "", "", "", "", "", "", ""
    );
    for row in std::iter::once(&ours).chain(hassil.as_ref()) {
        println!(
            "| {:<22} | {:>9} | {:>8.1} | {:>10.1} | {:>9.1} | {:>9.1} | {:>9.1} |",
            row.engine, row.templates, row.intent, row.accepted, row.p50, row.p99, row.mean
        );
    }
    match &hassil {
        Some(h) => println!(
            "speed ratio hassil / edge-intent: p50 {:.1}x, p99 {:.1}x, mean {:.1}x",
            h.p50 / ours.p50,
            h.p99 / ours.p99,
            h.mean / ours.mean
        ),
        None => println!("hassil not measured: run `bash tests/setup.sh --bench` first"),
    }
    println!("per kind (edge-intent):");
    for (kind, t) in &eval.per_kind {
        println!(
            "  {kind:<12} n={:<4} intent {:.1}%  accepted {:.1}%",
            t.total,
            t.intent_accuracy() * 100.0,
            t.acceptance() * 100.0
        );
    }
}

fn run_hassil() -> Option<Row> {
    let cache = std::env::var_os("EDGE_AGENT_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/edge-agent"))
        })?;
    let python = cache.join("venv/bin/python");
    if !python.is_file() {
        return None;
    }
    let script = common::repo().join("agent/intent/bench/hassil_compare.py");
    let out = Command::new(python)
        .arg(script)
        .args(["--json", "--repeat", &HASSIL_PASSES.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "hassil_compare failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(Row {
        engine: format!("hassil {}", v["version"].as_str().unwrap_or("?")),
        templates: v["templates"].as_u64().unwrap_or(0) as usize,
        intent: v["intent_accuracy"].as_f64()? * 100.0,
        accepted: v["acceptance"].as_f64()? * 100.0,
        p50: v["p50_us"].as_f64()?,
        p99: v["p99_us"].as_f64()?,
        mean: v["mean_us"].as_f64()?,
    })
}
