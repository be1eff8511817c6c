//! `edge-asr`: the Wyoming speech worker.

use anyhow::{Context as _, bail};
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
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,whisper_rs=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    whisper_rs::install_logging_hooks();
    let cli = Cli::parse();
    let options = DecodeOptions {
        threads: cli.threads.max(1),
        fit_audio_ctx: !cli.full_window,
        audio_ctx_pad_ms: cli.audio_ctx_pad_ms,
        max_audio_s: cli.max_audio_s,
        flash_attn: cli.flash_attn,
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
        watch_parent();
    }
    let service = Arc::new(AsrService::new(recognizer, cli.max_concurrent));
    serve(&cli.listen, service).await
}

async fn serve(uri: &str, service: Arc<AsrService>) -> anyhow::Result<()> {
    if let Some(path) = uri.strip_prefix("unix://") {
        let path = PathBuf::from(path);
        if path.exists() {
            // A socket left by a worker that died; nothing else may own this path.
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
        }
        let listener = tokio::net::UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        ready(uri);
        loop {
            let (stream, _) = listener.accept().await?;
            spawn_connection(service.clone(), stream);
        }
    } else if let Some(addr) = uri.strip_prefix("tcp://") {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        ready(&format!("tcp://{}", listener.local_addr()?));
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            spawn_connection(service.clone(), stream);
        }
    } else {
        bail!("--listen {uri:?}: expected unix:///path or tcp://host:port")
    }
}

/// A worker whose parent died is re-parented: exit then, since nobody supervises it.
fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if std::os::unix::process::parent_id() != parent {
                tracing::warn!(parent, "supervisor is gone; exiting");
                std::process::exit(0);
            }
        }
    });
}

fn ready(uri: &str) {
    tracing::info!(%uri, "listening");
    // The supervisor (or systemd, when the worker runs as its own unit) waits for this line.
    println!("READY {uri}");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

fn spawn_connection<S>(service: Arc<AsrService>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = service.serve_connection(stream).await {
            tracing::warn!("connection ended: {e}");
        }
    });
}
