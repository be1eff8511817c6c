//! `edge-agentctl nlu --jsonl FILE`: offline recognition and evaluation.

use anyhow::Context as _;
use edge_config::LoadOptions;
use edge_core::{LoadedManifest, Recognition};
use edge_intent::{Evaluation, Expectation, TemplateEngine, builtin_manifests};
use serde::Serialize;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct NluArgs {
    /// Input: one JSON object per line with at least "text" (`-` for stdin).
    #[arg(long)]
    jsonl: PathBuf,
    /// Lines also carry the expected "intent" and "slots": print accuracy per intent and
    /// command acceptance (intent and all slots right) to stderr.
    #[arg(long)]
    expect: bool,
    /// Skill directories (default: those of the configuration).
    #[arg(long = "skills")]
    skills: Vec<PathBuf>,
    /// Configuration file for entity lists and skill directories (default: the daemon's).
    #[arg(long)]
    config: Option<PathBuf>,
    /// List every utterance that was not accepted (with --expect).
    #[arg(long)]
    misses: bool,
}

#[derive(Debug, Serialize)]
struct OutputLine<'a> {
    text: &'a str,
    intent: &'a str,
    slots: &'a edge_core::Slots,
    confidence: f32,
    tier: edge_core::Tier,
    latency_us: u64,
}

pub fn run(args: &NluArgs) -> anyhow::Result<ExitCode> {
    let config = edge_config::load(&LoadOptions {
        config_path: args.config.clone(),
        env: None,
    })
    .context("loading the configuration")?;
    let dirs = if args.skills.is_empty() {
        config.skills.dirs.clone()
    } else {
        args.skills.clone()
    };
    let (mut manifests, errors) = LoadedManifest::discover(&dirs);
    for e in &errors {
        eprintln!("skipped skill: {e}");
    }
    manifests.extend(builtin_manifests());
    let (engine, errors) =
        TemplateEngine::compile(&manifests, &config.nlu.entities, config.nlu.min_confidence);
    for e in &errors {
        eprintln!("skipped skill: {e}");
    }
    eprintln!(
        "{} skills, {} intents, {} templates",
        manifests.len(),
        engine.intent_names().count(),
        engine.template_count()
    );

    let input: Box<dyn std::io::Read> = if args.jsonl.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.jsonl)
                .with_context(|| format!("{}: cannot open", args.jsonl.display()))?,
        )
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut evaluation = Evaluation::default();
    let mut latencies = Vec::new();
    let mut bad_lines = 0usize;
    for (index, line) in BufReader::new(input).lines().enumerate() {
        let line_no = index + 1;
        let line =
            line.with_context(|| format!("{}:{line_no}: cannot read", args.jsonl.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let expectation: Expectation = match parse_line(&line, args.expect) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{}:{line_no}: {e}", args.jsonl.display());
                bad_lines += 1;
                continue;
            }
        };
        let started = Instant::now();
        let recognition: Recognition = engine.recognize(&expectation.text);
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        latencies.push(latency_us);
        serde_json::to_writer(
            &mut out,
            &OutputLine {
                text: &expectation.text,
                intent: &recognition.intent,
                slots: &recognition.slots,
                confidence: recognition.confidence,
                tier: recognition.tier,
                latency_us,
            },
        )?;
        writeln!(out)?;
        if args.expect {
            evaluation.record(&expectation, &recognition);
        }
    }
    out.flush()?;
    if args.expect {
        eprint!("{}", evaluation.report());
        if args.misses {
            for m in &evaluation.misses {
                eprintln!(
                    "MISS {:?}: expected {} {:?}, got {} {:?}",
                    m.text, m.expected.0, m.expected.1, m.got.0, m.got.1
                );
            }
        }
    }
    if !latencies.is_empty() {
        latencies.sort_unstable();
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        eprintln!(
            "template tier latency: p50 {} us, p99 {} us, max {} us over {} utterances",
            pct(0.5),
            pct(0.99),
            pct(1.0),
            latencies.len()
        );
    }
    if bad_lines > 0 {
        eprintln!("{bad_lines} malformed lines skipped");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_line(line: &str, expect: bool) -> Result<Expectation, String> {
    if expect {
        return serde_json::from_str(line)
            .map_err(|e| format!("expected {{\"text\", \"intent\", \"slots\"}}: {e}"));
    }
    #[derive(serde::Deserialize)]
    struct TextOnly {
        text: String,
    }
    let t: TextOnly =
        serde_json::from_str(line).map_err(|e| format!("expected {{\"text\": ...}}: {e}"))?;
    Ok(Expectation {
        text: t.text,
        intent: String::new(),
        slots: Default::default(),
        kind: None,
    })
}
