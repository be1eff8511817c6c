//! `edge-asr`: the Wyoming speech worker.

use clap::Parser;
use edge_asr::{AsrService, DecodeOptions, Recognizer};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "edge-asr",
    version,
    about = "Wyoming speech-to-text worker (whisper.cpp)"
)]
struct Cli {
    /// whisper.cpp ggml model (e.g. ggml-tiny.en.bin from `agent/models/provision.sh`).
    #[arg(long, env = "EDGE_ASR_MODEL")]
    model: PathBuf,
    /// Where to listen: unix:///path/to/socket or tcp://host:port.
    #[arg(long, default_value = "unix:///run/edge-agent/asr.sock")]
    listen: String,
    /// Threads per decode.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Decodes run at once; further requests wait.
    #[arg(long, default_value_t = 1)]
    max_concurrent: usize,
    /// Longest utterance accepted, in seconds.
    #[arg(long, default_value_t = 30)]
    max_audio_s: u32,
    /// Encode Whisper's whole 30 s window instead of only the audio present.
    #[arg(long)]
    full_window: bool,
    /// Audio appended to the encoder window when it is fitted to the utterance, in ms.
    /// (500 ms measured best: 0 loses words at the end, 1500 costs time and accuracy.)
    #[arg(long, default_value_t = 500)]
    audio_ctx_pad_ms: u32,
    /// Exit when the process that started this worker dies (set by the daemon's
    /// supervisor, so a killed daemon never leaves a worker behind).
    #[arg(long)]
    exit_with_parent: bool,
    /// Flash attention. Measured slower and less accurate with a fitted window on CPU.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    flash_attn: bool,
    /// Beams of the grammar-biased pass (1: greedy).
    #[arg(long, env = "EDGE_ASR_GRAMMAR_BEAM", default_value_t = edge_asr::GRAMMAR_BEAM_SIZE)]
    grammar_beam: usize,
    /// Decoder evaluations a repair of the free transcript may take where the grammar pass
    /// found nothing (0: no repairs).
    #[arg(long, env = "EDGE_ASR_GRAMMAR_REPAIRS", default_value_t = edge_asr::GRAMMAR_REPAIRS)]
    grammar_repairs: usize,
    /// End a transcript where the decoder starts looping ("next song, next song, ..."),
    /// instead of at the token limit; the loop is cut from the text either way.
    #[arg(long, env = "EDGE_ASR_STOP_AT_LOOPS", default_value_t = true, action = clap::ArgAction::Set)]
    stop_at_loops: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    edge_worker::init_logging("info,whisper_rs=warn");
    whisper_rs::install_logging_hooks();
    let cli = Cli::parse();
    let options = DecodeOptions {
        threads: cli.threads.max(1),
        fit_audio_ctx: !cli.full_window,
        audio_ctx_pad_ms: cli.audio_ctx_pad_ms,
        max_audio_s: cli.max_audio_s,
        flash_attn: cli.flash_attn,
        grammar_beam_size: cli.grammar_beam.max(1),
        grammar_repairs: cli.grammar_repairs,
        stop_at_loops: cli.stop_at_loops,
        ..DecodeOptions::default()
    };
    let started = std::time::Instant::now();
    let recognizer = Recognizer::load(&cli.model, options)?;
    tracing::info!(
        model = %cli.model.display(),
        load_ms = started.elapsed().as_millis() as u64,
        "model loaded"
    );
    if cli.exit_with_parent {
        edge_worker::watch_parent();
    }
    let service = Arc::new(AsrService::new(recognizer, cli.max_concurrent));
    edge_worker::serve(&cli.listen, move |stream| {
        service.clone().serve_connection(stream)
    })
    .await?;
    Ok(())
}
