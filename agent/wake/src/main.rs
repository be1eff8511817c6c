//! `edge-wake`: the Wyoming wake word worker.

use clap::Parser;
use edge_wake::{Decision, Runtime, WakeModels, WakeService};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "edge-wake",
    version,
    about = "Wyoming wake word worker (openWakeWord on TensorFlow Lite)"
)]
struct Cli {
    /// Directory with melspectrogram.tflite, embedding_model.tflite and the phrases
    /// (`agent/models/provision.sh wake`).
    #[arg(long, env = "EDGE_WAKE_MODELS")]
    models: PathBuf,
    /// A wake phrase: a name in the directory (okay_nabu) or a .tflite path; repeatable.
    #[arg(long = "model", default_value = "okay_nabu")]
    phrases: Vec<String>,
    /// The TensorFlow Lite C runtime (default: <models>/<arch>/libtensorflowlite_c.so).
    #[arg(long, env = "EDGE_WAKE_TFLITE")]
    runtime: Option<PathBuf>,
    /// Probability at which a phrase is detected (a client's `detect` may set its own).
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// No second detection of a phrase within this time (ms of audio).
    #[arg(long, default_value_t = 2_000)]
    refractory_ms: u64,
    /// Where to listen: unix:///path/to/socket or tcp://host:port.
    #[arg(long, default_value = "unix:///run/edge-agent/wake.sock")]
    listen: String,
    /// Exit when the process that started this worker dies (set by the daemon's supervisor).
    #[arg(long)]
    exit_with_parent: bool,
    /// Instead of serving: run these recordings (16 kHz mono 16-bit WAV) through the
    /// detector and print one JSON line each: its detections and the highest probability.
    #[arg(long = "file", value_name = "WAV")]
    files: Vec<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    edge_worker::init_logging("info");
    let cli = Cli::parse();
    anyhow::ensure!(
        (0.0..=1.0).contains(&cli.threshold),
        "--threshold {} must be from 0 to 1",
        cli.threshold
    );
    let runtime_path = cli.runtime.clone().unwrap_or_else(|| {
        cli.models
            .join(std::env::consts::ARCH)
            .join("libtensorflowlite_c.so")
    });
    let started = std::time::Instant::now();
    let runtime = Runtime::open(&runtime_path)?;
    let models = WakeModels::load(&runtime, &cli.models, &cli.phrases)?;
    if !cli.files.is_empty() {
        for file in &cli.files {
            println!(
                "{}",
                score_file(&models, file, cli.threshold, cli.refractory_ms)?
            );
        }
        return Ok(());
    }
    // A first detector now: a model the runtime cannot run fails here, not on a stream.
    edge_wake::Detector::new(&models)?;
    tracing::info!(
        phrases = %models.names().collect::<Vec<_>>().join(","),
        runtime = %runtime_path.display(),
        load_ms = started.elapsed().as_millis() as u64,
        "models loaded"
    );
    if cli.exit_with_parent {
        edge_worker::watch_parent();
    }
    let decision = Decision {
        threshold: cli.threshold,
        refractory_ms: cli.refractory_ms,
    };
    let service = Arc::new(WakeService::new(models, decision));
    edge_worker::serve(&cli.listen, move |stream| {
        service.clone().serve_connection(stream)
    })
    .await?;
    Ok(())
}

/// A recording's detections (as the server would send them) and each phrase's peak.
fn score_file(
    models: &WakeModels,
    file: &std::path::Path,
    threshold: f32,
    refractory_ms: u64,
) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context as _;
    let mut reader = hound::WavReader::open(file)
        .with_context(|| format!("{}: not a WAV file", file.display()))?;
    let spec = reader.spec();
    anyhow::ensure!(
        spec.sample_rate == 16_000 && spec.channels == 1 && spec.bits_per_sample == 16,
        "{}: {} Hz, {} channels, {} bits; expected 16 kHz mono 16-bit (sox IN -r 16000 -c 1 -b 16 OUT)",
        file.display(),
        spec.sample_rate,
        spec.channels,
        spec.bits_per_sample
    );
    let samples = reader
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: unreadable samples", file.display()))?;
    let mut detector = edge_wake::Detector::new(models)?;
    let mut detections = Vec::new();
    let mut peaks: Vec<(String, f32, u64)> = Vec::new();
    let decision = Decision {
        threshold,
        refractory_ms,
    };
    let mut trigger = edge_wake::Trigger::default();
    for (i, frame) in samples.chunks(edge_wake::STEP_SAMPLES).enumerate() {
        let at_ms = ((i * edge_wake::STEP_SAMPLES + frame.len()) / 16) as u64;
        for step in detector.push(frame)? {
            for score in step {
                match peaks.iter_mut().find(|(n, _, _)| *n == score.name) {
                    Some(peak) if peak.1 >= score.probability => {}
                    Some(peak) => *peak = (score.name.clone(), score.probability, at_ms),
                    None => peaks.push((score.name.clone(), score.probability, at_ms)),
                }
                if trigger.fires(&decision, &score, at_ms * 16) {
                    detections.push(serde_json::json!({
                        "name": score.name, "audio_ms": at_ms, "probability": score.probability,
                    }));
                }
            }
        }
    }
    let peaks: Vec<_> = peaks
        .iter()
        .map(|(name, p, at)| serde_json::json!({"name": name, "probability": p, "audio_ms": at}))
        .collect();
    Ok(serde_json::json!({
        "file": file.display().to_string(),
        "audio_ms": samples.len() / 16,
        "detections": detections,
        "peaks": peaks,
    }))
}
