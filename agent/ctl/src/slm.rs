//! The SLM tier in `nlu --jsonl --slm`: utterances the templates reject go to an
//! `edge-slm` worker this command starts, and are judged as the daemon judges them.

use anyhow::Context as _;
use edge_config::AgentConfig;
use edge_core::Recognition;
use edge_protocol::slm::{SlmAnswer, SlmRequest};
use edge_slm_client::{SlmClient, SlmTier, Verdict};
use edge_worker::{WorkerConfig, WorkerHandle};
use std::path::Path;
use std::time::Duration;

/// Starts an `edge-slm` worker with `args` (found beside edge-agentctl or in PATH) on a
/// socket in a new directory, waits until it is ready and connects. The worker lives as
/// long as the handle, its socket as long as the directory.
pub async fn start_worker(
    name: &str,
    args: Vec<std::ffi::OsString>,
    config: &AgentConfig,
) -> anyhow::Result<(WorkerHandle, tempfile::TempDir, SlmClient)> {
    let binary = edge_worker::find_binary(&config.slm.worker).with_context(|| {
        format!(
            "{} not found beside edge-agentctl or in PATH",
            config.slm.worker.display()
        )
    })?;
    let dir = tempfile::tempdir()?;
    let start_timeout = Duration::from_millis(config.slm.start_timeout_ms);
    let worker = WorkerHandle::spawn(WorkerConfig {
        name: name.into(),
        binary,
        args,
        socket: dir.path().join("worker.sock"),
        start_timeout,
        health_interval: Duration::from_secs(5),
        log_filter: "warn".into(),
        backoff_min: Duration::from_millis(250),
        backoff_max: Duration::from_secs(5),
    });
    worker.wait_ready(start_timeout).await?;
    let client = SlmClient::connect(
        worker.uri(),
        Duration::from_millis(config.slm.request_timeout_ms),
    )
    .await?;
    Ok((worker, dir, client))
}

/// A running worker with the tier's prompts cached.
#[derive(Debug)]
pub struct SlmRunner {
    runtime: tokio::runtime::Runtime,
    client: SlmClient,
    tier: SlmTier,
    _worker: (WorkerHandle, tempfile::TempDir),
    /// Verdicts so far, by kind.
    pub counts: std::collections::BTreeMap<&'static str, usize>,
    /// Milliseconds per answer (scoring + slots).
    pub latencies: Vec<f64>,
}

impl SlmRunner {
    /// Starts `edge-slm` on `model` and caches `tier`'s prompts.
    pub fn start(model: &Path, tier: SlmTier, config: &AgentConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            model.is_file(),
            "{} does not exist (run agent/models/provision.sh slm)",
            model.display()
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let start_timeout = Duration::from_millis(config.slm.start_timeout_ms);
        let (worker, dir, client) = runtime.block_on(async {
            let (worker, dir, mut client) = start_worker(
                "SLM worker",
                edge_slm_client::worker_args(Some(model), None, &config.slm),
                config,
            )
            .await?;
            let loaded = client.load(tier.load_request(), start_timeout).await?;
            eprintln!(
                "SLM: {} intents cached ({} prompt tokens) in {:.0} ms",
                loaded.intents, loaded.prompt_tokens, loaded.load_ms
            );
            Ok::<_, anyhow::Error>((worker, dir, client))
        })?;
        Ok(Self {
            runtime,
            client,
            tier,
            _worker: (worker, dir),
            counts: Default::default(),
            latencies: Vec::new(),
        })
    }

    /// The tier's recognition of `text` (none unless accepted) and the raw answer.
    pub fn recognize(&mut self, text: &str) -> anyhow::Result<(Recognition, SlmAnswer)> {
        let request = SlmRequest {
            text: text.to_owned(),
            previous_intent: None,
        };
        let answer = self.runtime.block_on(self.client.recognize(&request))?;
        self.latencies.push(answer.scoring_ms + answer.slots_ms);
        let verdict = self.tier.judge(text, &answer);
        *self.counts.entry(verdict.name()).or_default() += 1;
        let recognition = match verdict {
            Verdict::Accepted(r) => r,
            _ => Recognition::none(),
        };
        Ok((recognition, answer))
    }

    /// One line for stderr.
    pub fn report(&mut self) -> String {
        crate::tier_report::line(
            "SLM tier",
            &self.counts,
            &mut self.latencies,
            "scoring and slots",
        )
    }
}
