//! `edge-slm`: the SLM worker. Serves Wyoming-style events (the daemon supervises it), or
//! evaluates offline: `edge-slm classify --model M.gguf --intents intents.json --jsonl FILE`,
//! `edge-slm --model M.gguf choose --jsonl tests/resources/nlu/choices.jsonl`.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use edge_protocol::slm::{ChoiceAnswer, ChoiceRequest, SlmLoad};
use edge_slm::{EngineOptions, IntentEngine, LiteralPass, SlmService};
use std::io::BufRead as _;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "edge-slm",
    version,
    about = "Small-language-model intent worker (llama.cpp)"
)]
struct Cli {
    /// GGUF language model (e.g. smollm2-135m-instruct.gguf from
    /// `agent/models/provision.sh`): the intent scorer and `slm-choose`.
    #[arg(long, env = "EDGE_SLM_MODEL", required_unless_present = "encoder")]
    model: Option<PathBuf>,
    /// GGUF sentence encoder (all-minilm-l6-v2.gguf from `agent/models/provision.sh
    /// minilm`): `slm-embed` for the embedding tier, on a thread of its own.
    #[arg(long, env = "EDGE_SLM_ENCODER")]
    encoder: Option<PathBuf>,
    /// Threads per request.
    #[arg(long, default_value_t = 1)]
    threads: i32,
    /// Context size in tokens.
    #[arg(long, default_value_t = 4096)]
    context: u32,
    /// Where to listen: unix:///path/to/socket or tcp://host:port.
    #[arg(long, default_value = "unix:///run/edge-agent/slm.sock")]
    listen: String,
    /// Exit when the process that started this worker dies.
    #[arg(long)]
    exit_with_parent: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Answer each line of a JSON-lines file ({"text", "intent"?}) with the intents of an
    /// `slm-load` JSON file (`edge-agentctl schema --slm`); prints one JSON line per input
    /// and, with expected intents, the top-1 accuracy.
    Classify {
        #[arg(long)]
        intents: PathBuf,
        #[arg(long)]
        jsonl: PathBuf,
        /// Decode every intent's prompt again for each request (what the prefix cache
        /// saves), for the benchmark.
        #[arg(long)]
        no_cache: bool,
    },
    /// Answer each line of a JSON-lines file ({"question", "options": [{"id",
    /// "description"}], "answer", "expected": id or null}) with `slm-choose`; prints one
    /// JSON line per input, then the accuracy, the precision of "none" and the latency.
    Choose {
        #[arg(long)]
        jsonl: PathBuf,
        /// The literal pass before the model.
        #[arg(long, value_enum, default_value_t = edge_slm::DEFAULT_LITERAL_PASS)]
        literal: LiteralPass,
        #[arg(long, default_value_t = edge_slm::DEFAULT_CHOICE_MIN_SCORE)]
        min_score: f32,
        #[arg(long, default_value_t = edge_slm::DEFAULT_CHOICE_MIN_CONFIDENCE)]
        min_confidence: f32,
        /// Also print the accuracy for a grid of thresholds (from the same scores).
        #[arg(long)]
        sweep: bool,
    },
}

fn main() -> anyhow::Result<()> {
    edge_worker::init_logging("info");
    let cli = Cli::parse();
    let options = EngineOptions {
        threads: cli.threads.max(1),
        context: cli.context,
    };
    let load_engine = |model: &std::path::Path| -> anyhow::Result<IntentEngine> {
        let started = std::time::Instant::now();
        let engine = IntentEngine::load(model, options.clone())?;
        tracing::info!(
            model = %model.display(),
            load_ms = started.elapsed().as_millis() as u64,
            "model loaded"
        );
        Ok(engine)
    };
    let needs_model = || {
        cli.model
            .clone()
            .context("--model is needed for this command (the encoder alone cannot do it)")
    };
    match cli.command {
        Some(Command::Classify {
            intents,
            jsonl,
            no_cache,
        }) => classify(load_engine(&needs_model()?)?, &intents, &jsonl, no_cache),
        Some(Command::Choose {
            jsonl,
            literal,
            min_score,
            min_confidence,
            sweep,
        }) => choose(
            load_engine(&needs_model()?)?,
            &jsonl,
            literal,
            (min_score, min_confidence),
            sweep,
        ),
        None => {
            let stem = |path: &std::path::Path| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            let engine = cli.model.as_deref().map(load_engine).transpose()?;
            let encoder = match cli.encoder.as_deref() {
                Some(path) => {
                    let started = std::time::Instant::now();
                    let encoder = edge_slm::SentenceEncoder::load(path, options.threads)?;
                    tracing::info!(
                        encoder = %path.display(),
                        dim = encoder.dim(),
                        load_ms = started.elapsed().as_millis() as u64,
                        "sentence encoder loaded"
                    );
                    Some(encoder)
                }
                None => None,
            };
            let names = (
                cli.model.as_deref().map(stem).unwrap_or_default(),
                cli.encoder.as_deref().map(stem).unwrap_or_default(),
            );
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                if cli.exit_with_parent {
                    edge_worker::watch_parent();
                }
                let service = SlmService::start(engine, encoder, names.0, names.1);
                edge_worker::serve(&cli.listen, move |stream| {
                    service.clone().serve_connection(stream)
                })
                .await?;
                Ok(())
            })
        }
    }
}

fn classify(
    mut engine: IntentEngine,
    intents: &std::path::Path,
    jsonl: &std::path::Path,
    no_cache: bool,
) -> anyhow::Result<()> {
    let load: SlmLoad = serde_json::from_slice(
        &std::fs::read(intents).with_context(|| format!("{}", intents.display()))?,
    )
    .with_context(|| format!("{}: expected an slm-load object", intents.display()))?;
    let started = std::time::Instant::now();
    engine.set_intents(&load.intents)?;
    eprintln!(
        "{} intents cached in {} ms ({} prompt tokens)",
        engine.intents(),
        started.elapsed().as_millis(),
        engine.prompt_tokens()
    );
    let file = std::fs::File::open(jsonl).with_context(|| format!("{}", jsonl.display()))?;
    let (mut right, mut total) = (0usize, 0usize);
    let (mut latencies, mut tokens, mut scoring_ms) = (Vec::new(), 0usize, 0.0f64);
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
        let started = std::time::Instant::now();
        if no_cache {
            engine.set_intents(&load.intents)?;
        }
        let answer = engine.answer(text, None)?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        tokens += answer.tokens_scored;
        scoring_ms += answer.scoring_ms;
        if let Some(expected) = value["intent"].as_str() {
            total += 1;
            right += usize::from(expected == answer.intent);
        }
        println!(
            "{}",
            serde_json::json!({"text": text, "expected": value["intent"], "answer": answer})
        );
    }
    if total > 0 {
        eprintln!(
            "{right}/{total} top-1 ({:.1}%) before thresholds",
            100.0 * right as f64 / total as f64
        );
    }
    latencies.sort_by(f64::total_cmp);
    if !latencies.is_empty() {
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        let peak_rss_kib = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0);
        eprintln!(
            "{} requests{}: latency p50 {:.0} ms, p95 {:.0} ms; scoring {:.0} tokens/s; peak RSS {} MiB",
            latencies.len(),
            if no_cache {
                " without the prefix cache"
            } else {
                ""
            },
            pct(0.5),
            pct(0.95),
            tokens as f64 / (scoring_ms / 1000.0).max(1e-9),
            peak_rss_kib / 1024
        );
    }
    Ok(())
}

/// The choice of `answer` under other thresholds than those it was answered with.
fn rechoose(answer: &ChoiceAnswer, min_score: f32, min_confidence: f32) -> Option<String> {
    if answer.literal {
        return answer.choice.clone();
    }
    let top = answer
        .scores
        .iter()
        .map(|s| s.score)
        .fold(f32::MIN, f32::max);
    (top > answer.none_score && top >= min_score && answer.confidence >= min_confidence)
        .then(|| answer.best.clone())
        .flatten()
}

/// (right, total, none precision (right nones, nones answered), none recall (right nones,
/// nones expected)).
fn choice_figures(
    results: &[(Option<String>, Option<String>)],
) -> (usize, usize, usize, usize, usize) {
    let right = results.iter().filter(|(e, a)| e == a).count();
    let answered_none = results.iter().filter(|(_, a)| a.is_none()).count();
    let right_none = results
        .iter()
        .filter(|(e, a)| a.is_none() && e.is_none())
        .count();
    let expected_none = results.iter().filter(|(e, _)| e.is_none()).count();
    (
        right,
        results.len(),
        right_none,
        answered_none,
        expected_none,
    )
}

fn choose(
    mut engine: IntentEngine,
    jsonl: &std::path::Path,
    literal: LiteralPass,
    (min_score, min_confidence): (f32, f32),
    sweep: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(jsonl).with_context(|| format!("{}", jsonl.display()))?;
    let mut answers = Vec::new();
    let mut latencies = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}", jsonl.display(), i + 1))?;
        let mut request: ChoiceRequest = serde_json::from_value(value.clone())
            .with_context(|| format!("{}:{}: not an slm-choose request", jsonl.display(), i + 1))?;
        request.min_score = Some(min_score);
        request.min_confidence = Some(min_confidence);
        request
            .validate()
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", jsonl.display(), i + 1))?;
        let expected = value["expected"].as_str().map(str::to_owned);
        let started = std::time::Instant::now();
        let answer = engine.choose_with(&request, literal)?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        println!(
            "{}",
            serde_json::json!({
                "answer": request.answer,
                "expected": expected,
                "right": expected == answer.choice,
                "choice": answer,
            })
        );
        answers.push((expected, answer));
    }
    let results: Vec<_> = answers
        .iter()
        .map(|(e, a)| (e.clone(), a.choice.clone()))
        .collect();
    let (right, total, right_none, answered_none, expected_none) = choice_figures(&results);
    let literal_count = answers.iter().filter(|(_, a)| a.literal).count();
    eprintln!(
        "{right}/{total} right ({:.1}%); none: precision {right_none}/{answered_none}, recall {right_none}/{expected_none}; {literal_count} decided by the literal pass ({literal:?}); min_score {min_score}, min_confidence {min_confidence}",
        100.0 * right as f64 / total.max(1) as f64
    );
    latencies.sort_by(f64::total_cmp);
    if !latencies.is_empty() {
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        eprintln!(
            "{} requests: latency p50 {:.0} ms, p95 {:.0} ms",
            latencies.len(),
            pct(0.5),
            pct(0.95)
        );
    }
    if sweep {
        for score in [-100.0f32, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0] {
            let row: Vec<String> = [0.0f32, 0.4, 0.5, 0.6, 0.7, 0.8]
                .iter()
                .map(|confidence| {
                    let results: Vec<_> = answers
                        .iter()
                        .map(|(e, a)| (e.clone(), rechoose(a, score, *confidence)))
                        .collect();
                    let (right, _, right_none, answered_none, _) = choice_figures(&results);
                    format!("c{confidence}: {right} ({right_none}/{answered_none})")
                })
                .collect();
            eprintln!("min_score {score:>4}: {}", row.join("  "));
        }
    }
    Ok(())
}
