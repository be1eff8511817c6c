//! Recordings in `nlu --jsonl`: lines with "wav" are transcribed by a Wyoming ASR server
//! (given by URI, or an `edge-asr` worker this command starts) before recognition.

use anyhow::{Context as _, bail};
use edge_config::AgentConfig;
use edge_speech::AsrClient;
use edge_worker::{WorkerConfig, WorkerHandle};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where transcripts come from.
#[derive(Debug)]
pub struct Transcriber {
    runtime: tokio::runtime::Runtime,
    client: AsrClient,
    /// The configured voice-activity thresholds, for trimming recordings.
    endpoint: edge_speech::EndpointConfig,
    // Keeps the worker (when this command started one) alive; dropped last.
    _worker: Option<(WorkerHandle, tempfile::TempDir)>,
}

impl Transcriber {
    /// Connects to `uri`, or starts `edge-asr` on `model`, or falls back to the
    /// configuration's `asr.uri` / `asr.model`.
    pub fn start(
        uri: Option<&str>,
        model: Option<&Path>,
        config: &AgentConfig,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let configured_uri = (!config.asr.uri.is_empty()).then_some(config.asr.uri.as_str());
        let (uri, worker) = match (uri.or(configured_uri), model) {
            (Some(uri), None) => (uri.to_owned(), None),
            (_, model) => {
                // Given, else configured, else what provision.sh put in the user cache.
                let cached = crate::model_cache::cached_model("whisper/ggml-tiny.en-q8_0.bin");
                let model: PathBuf = match model {
                    Some(m) => m.to_owned(),
                    None if config.asr.model.is_file() => config.asr.model.clone(),
                    None if cached.is_file() => {
                        eprintln!(
                            "speech: asr.model {} does not exist; using {} from the user cache",
                            config.asr.model.display(),
                            cached.display()
                        );
                        cached.clone()
                    }
                    None => config.asr.model.clone(),
                };
                if !model.is_file() {
                    bail!(
                        "lines with \"wav\" need a recogniser: --asr URI or --asr-model PATH ({} does not exist, nor {} in the user cache: run agent/models/provision.sh)",
                        model.display(),
                        cached.display()
                    );
                }
                let binary = edge_worker::find_binary(&config.asr.worker).with_context(|| {
                    format!(
                        "{} not found beside edge-agentctl or in PATH",
                        config.asr.worker.display()
                    )
                })?;
                let dir = tempfile::tempdir()?;
                let worker = runtime.block_on(async {
                    let worker = WorkerHandle::spawn(WorkerConfig {
                        name: "speech worker".into(),
                        binary,
                        args: edge_speech::asr_worker_args(
                            &model,
                            config.asr.threads,
                            1,
                            config.asr.max_audio_s,
                        ),
                        socket: dir.path().join("asr.sock"),
                        start_timeout: Duration::from_millis(config.asr.start_timeout_ms),
                        health_interval: Duration::from_secs(5),
                        log_filter: std::env::var("EDGE_ASR_LOG").unwrap_or_else(|_| "warn".into()),
                        backoff_min: Duration::from_millis(250),
                        backoff_max: Duration::from_secs(5),
                    });
                    worker
                        .wait_ready(Duration::from_millis(config.asr.start_timeout_ms))
                        .await?;
                    Ok::<_, anyhow::Error>(worker)
                })?;
                (worker.uri().to_owned(), Some((worker, dir)))
            }
        };
        let timeout = Duration::from_millis(config.asr.request_timeout_ms);
        let client = runtime
            .block_on(AsrClient::connect(&uri, timeout))
            .with_context(|| format!("connecting to the recogniser at {uri}"))?;
        Ok(Self {
            runtime,
            client,
            endpoint: edge_speech::EndpointConfig {
                threshold: config.audio.vad_threshold,
                ..edge_speech::EndpointConfig::default()
            },
            _worker: worker,
        })
    }

    /// Transcribes one recording; returns the transcript and the time from the end of the
    /// audio.
    pub fn transcribe(
        &mut self,
        wav: &Path,
        hints: &edge_speech::RecognitionHints,
    ) -> anyhow::Result<(edge_speech::Transcript, f64)> {
        // As the daemon does with a recording: leading and trailing silence cut first.
        let pcm = edge_speech::wav::read_file(wav)?.trimmed(&self.endpoint);
        let client = &mut self.client;
        self.runtime.block_on(async {
            let (transcript, end) = client.transcribe(&pcm.bytes, pcm.format(), hints).await?;
            Ok((transcript, end.elapsed().as_secs_f64() * 1000.0))
        })
    }
}

/// Word error rate counts: (edits, reference words), over the template tier's tokens
/// (lowercase, no punctuation) with whole numbers as words, so "22" and "twenty two" are
/// the same words (as tests/speech/wer.py counts them).
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let words = |text: &str| -> Vec<String> {
        edge_intent::normalize::tokenize(text)
            .into_iter()
            .flat_map(|t| match t.parse::<u32>() {
                Ok(n) => edge_intent::numbers::number_to_words(n)
                    .split([' ', '-'])
                    .map(str::to_owned)
                    .collect(),
                Err(_) => vec![t],
            })
            .collect()
    };
    let (r, h) = (words(reference), words(hypothesis));
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let substitution = prev[j] + usize::from(rw != hw);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    (prev[h.len()], r.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_errors_count_edits_over_normalised_words() {
        assert_eq!(
            word_errors("set the fan to five", "set the fan to five"),
            (0, 5)
        );
        assert_eq!(
            word_errors("set the fan to five", "Set the fan to 5."),
            (0, 5)
        );
        assert_eq!(word_errors("start pump three", "start bump free"), (2, 3));
        assert_eq!(word_errors("stop", ""), (1, 1));
    }
}
