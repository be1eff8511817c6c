//! `edge-slm`: the SLM worker. This first piece evaluates the intent choice offline:
//! `edge-slm classify --model M.gguf --intents intents.json --jsonl dev.jsonl`.

use anyhow::Context as _;
use clap::Parser;
use edge_slm::{Candidate, Classifier, ClassifierOptions};
use std::io::BufRead as _;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "edge-slm",
    version,
    about = "Small-language-model intent tier (llama.cpp)"
)]
enum Cli {
    /// Choose the intent of each line of a JSON-lines file ({"text", "intent"?}); prints one
    /// JSON line per input and, with expected intents, the accuracy.
    Classify {
        #[arg(long)]
        model: PathBuf,
        /// JSON list of {"name", "description"}.
        #[arg(long)]
        intents: PathBuf,
        #[arg(long)]
        jsonl: PathBuf,
        #[arg(long, default_value_t = 1)]
        threads: i32,
        /// labels or likelihood.
        #[arg(long, default_value = "labels")]
        method: String,
    },
}

fn main() -> anyhow::Result<()> {
    let Cli::Classify {
        model,
        intents,
        jsonl,
        threads,
        method,
    } = Cli::parse();
    let method = match method.as_str() {
        "labels" => edge_slm::Method::Labels,
        "likelihood" => edge_slm::Method::Likelihood,
        other => anyhow::bail!("--method {other:?}: expected labels or likelihood"),
    };
    let candidates: Vec<Candidate> = serde_json::from_slice(
        &std::fs::read(&intents).with_context(|| format!("{}", intents.display()))?,
    )
    .with_context(|| {
        format!(
            "{}: expected [{{\"name\", \"description\"}}]",
            intents.display()
        )
    })?;
    let started = std::time::Instant::now();
    let mut classifier = Classifier::load(
        &model,
        &candidates,
        &ClassifierOptions {
            threads,
            method,
            ..ClassifierOptions::default()
        },
    )?;
    eprintln!(
        "loaded in {} ms, prefix {} tokens cached",
        started.elapsed().as_millis(),
        classifier.prefix_tokens()
    );
    let file = std::fs::File::open(&jsonl).with_context(|| format!("{}", jsonl.display()))?;
    let (mut right, mut total, mut latencies) = (0usize, 0usize, Vec::new());
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}", jsonl.display(), i + 1))?;
        let Some(text) = value["text"].as_str() else {
            anyhow::bail!("{}:{}: no \"text\"", jsonl.display(), i + 1);
        };
        let choice = classifier.classify(text)?;
        latencies.push(choice.latency_ms);
        if let Some(expected) = value["intent"].as_str() {
            total += 1;
            right += usize::from(expected == choice.intent);
        }
        println!(
            "{}",
            serde_json::json!({"text": text, "expected": value["intent"], "choice": choice})
        );
    }
    latencies.sort_by(f64::total_cmp);
    if !latencies.is_empty() {
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        eprintln!(
            "{right}/{total} right ({:.1}%), latency p50 {:.0} ms, p95 {:.0} ms",
            100.0 * right as f64 / total.max(1) as f64,
            pct(0.5),
            pct(0.95)
        );
    }
    Ok(())
}
