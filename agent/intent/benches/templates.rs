//! Template tier latency and accuracy over the dev set, side by side with hassil (Home
//! Assistant's template matcher) on equivalent templates, in the same run; then the
//! near-miss pass alone, on misheard transcripts the exact pass rejects.
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
    let dev = common::labelled("dev.jsonl");

    let (ours, eval) = measure(
        &dev,
        format!("edge-intent {}", env!("CARGO_PKG_VERSION")),
        engine.template_count(),
        |text| engine.recognize(text),
    );
    // The exact pass alone, as before near-miss tolerance: what a recognised command costs.
    let (exact, _) = measure(
        &dev,
        "  exact pass only".to_owned(),
        engine.template_count(),
        |text| engine.recognize_exact(text),
    );

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
    for row in [&ours, &exact].into_iter().chain(hassil.as_ref()) {
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
    near_miss(&engine);
}

/// Accuracy and latency of one way to recognise, over the dev set.
fn measure(
    dev: &[edge_intent::Expectation],
    engine: String,
    templates: usize,
    recognize: impl Fn(&str) -> edge_core::Recognition,
) -> (Row, Evaluation) {
    let mut eval = Evaluation::default();
    for e in dev {
        eval.record(e, &recognize(&e.text));
    }
    let mut times_us = Vec::with_capacity(dev.len() * PASSES);
    for _ in 0..PASSES {
        for e in dev {
            let t = Instant::now();
            black_box(recognize(black_box(&e.text)));
            times_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    times_us.sort_by(f64::total_cmp);
    let row = Row {
        engine,
        templates,
        intent: eval.overall.intent_accuracy() * 100.0,
        accepted: eval.overall.acceptance() * 100.0,
        p50: percentile(&times_us, 50.0),
        p99: percentile(&times_us, 99.0),
        mean: times_us.iter().sum::<f64>() / times_us.len() as f64,
    };
    (row, eval)
}

/// Latency of utterances that need the near-miss pass (the exact pass rejects them), and of
/// one typical near miss, "start bump free".
fn near_miss(engine: &edge_intent::TemplateEngine) {
    let lines = common::labelled("asr-near-miss.jsonl");
    let rejected: Vec<&str> = lines
        .iter()
        .map(|e| e.text.as_str())
        .filter(|t| engine.recognize_exact(t).intent == "none")
        .collect();
    let time = |texts: &[&str]| {
        let mut us = Vec::with_capacity(texts.len() * PASSES);
        for _ in 0..PASSES {
            for text in texts {
                let t = Instant::now();
                black_box(engine.recognize(black_box(text)));
                us.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        us.sort_by(f64::total_cmp);
        let mean = us.iter().sum::<f64>() / us.len() as f64;
        (percentile(&us, 50.0), percentile(&us, 99.0), mean)
    };
    println!(
        "near-miss pass (exact pass, then tolerant pass), {} passes:",
        PASSES
    );
    println!(
        "| {:<40} | {:>5} | {:>9} | {:>9} | {:>9} |",
        "utterances", "n", "p50 us", "p99 us", "mean us"
    );
    println!(
        "|{:-<42}|{:->7}|{:->11}|{:->11}|{:->11}|",
        "", "", "", "", ""
    );
    for (name, texts) in [
        ("asr-near-miss.jsonl, exact pass rejects", rejected.clone()),
        ("\"start bump free\"", vec!["start bump free"]),
    ] {
        let (p50, p99, mean) = time(&texts);
        println!(
            "| {name:<40} | {:>5} | {p50:>9.1} | {p99:>9.1} | {mean:>9.1} |",
            texts.len()
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
