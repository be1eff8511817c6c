//! The embedding tier in `nlu --jsonl`: utterances the templates reject go to a sentence
//! encoder (an `edge-slm` worker this command starts with `--encoder` alone), and a
//! classifier fitted on the skills' own sentences (template write-outs, descriptions, the
//! manifests' examples) and the built-in negative set decides: act, ask, or none.
//!
//! Slots: the template tier's recognisers over the whole utterance
//! ([`TemplateEngine::spot_slots`]); an enum slot the utterance does not name comes from
//! the nearest author-written example of the intent ("I'm freezing" → warmer).

use anyhow::Context as _;
use edge_config::AgentConfig;
use edge_core::{Recognition, SlotValue, Tier};
use edge_embedding::{Classifier, Decision, Method, NONE, Ranking, Thresholds};
use edge_intent::{TemplateEngine, TrainingSentence, TrainingSource};
use edge_slm_client::SlmClient;
use edge_worker::WorkerHandle;
use std::path::Path;
use std::time::{Duration, Instant};

/// Write-outs of each template in the training set.
pub const SENTENCES_PER_TEMPLATE: usize = 6;

/// Least cosine between an utterance and an author's example for the example's enum
/// slots to be taken over.
const EXAMPLE_SLOTS_MIN_COSINE: f32 = 0.6;

/// What the tier made of one utterance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmbeddingAnswer {
    pub ranking: Ranking,
    pub decision: Decision,
    /// A required slot was found neither in the utterance nor in a close example.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_slot: Option<String>,
    pub embed_ms: f64,
}

/// A running encoder worker and the fitted classifier.
#[derive(Debug)]
pub struct EmbeddingRunner {
    runtime: tokio::runtime::Runtime,
    client: SlmClient,
    classifier: Classifier,
    thresholds: Thresholds,
    /// The skills' training sentences, in the classifier's order (the negatives follow
    /// them there).
    training: Vec<TrainingSentence>,
    _worker: (WorkerHandle, tempfile::TempDir),
    /// Decisions so far, by kind.
    pub counts: std::collections::BTreeMap<&'static str, usize>,
    /// Milliseconds per utterance (embedding and classification).
    pub latencies: Vec<f64>,
}

impl EmbeddingRunner {
    /// Starts `edge-slm --encoder` and fits the classifier on `engine`'s skills and
    /// `negatives`. Prints what it used and how long the fit took to stderr.
    pub fn start(
        encoder: &Path,
        engine: &TemplateEngine,
        negatives: &[&str],
        method: Method,
        thresholds: Thresholds,
        config: &AgentConfig,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            encoder.is_file(),
            "{} does not exist (run agent/models/provision.sh minilm)",
            encoder.display()
        );
        let training = engine.training_sentences(SENTENCES_PER_TEMPLATE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let start_timeout = Duration::from_millis(config.slm.start_timeout_ms);
        let (worker, dir, mut client) = runtime.block_on(crate::slm::start_worker(
            "encoder worker",
            vec![
                "--encoder".into(),
                encoder.into(),
                "--threads".into(),
                config.slm.threads.to_string().into(),
            ],
            config,
        ))?;
        // The skills' sentences, then the negatives as the `none` class: a vector's index
        // below `training.len()` is that training sentence's.
        let texts: Vec<String> = training
            .iter()
            .map(|t| t.text.clone())
            .chain(negatives.iter().map(|n| (*n).to_owned()))
            .collect();
        let started = Instant::now();
        let embedded = runtime.block_on(client.embed(&texts, Some(start_timeout)))?;
        let embed_ms = started.elapsed().as_secs_f64() * 1e3;
        let labels: Vec<String> = training
            .iter()
            .map(|t| t.intent.clone())
            .chain(negatives.iter().map(|_| NONE.to_owned()))
            .collect();
        let started = Instant::now();
        let classifier = Classifier::fit(embedded.vectors, &labels, method)?;
        let fit_ms = started.elapsed().as_secs_f64() * 1e3;
        let sizes = classifier.class_sizes();
        eprintln!(
            "embedding tier: encoder {}; {} training sentences ({} intents, {} negatives) embedded in {embed_ms:.0} ms, fitted ({method:?}) in {fit_ms:.1} ms",
            encoder.display(),
            texts.len(),
            sizes.iter().filter(|(c, _)| c != NONE).count(),
            negatives.len(),
        );
        Ok(Self {
            runtime,
            client,
            classifier,
            thresholds,
            training,
            _worker: (worker, dir),
            counts: Default::default(),
            latencies: Vec::new(),
        })
    }

    /// The tier's recognition of `text` (none unless accepted with every required slot)
    /// and how it decided.
    pub fn recognize(
        &mut self,
        engine: &TemplateEngine,
        text: &str,
    ) -> anyhow::Result<(Recognition, EmbeddingAnswer)> {
        let started = Instant::now();
        let embedded = self
            .runtime
            .block_on(self.client.embed(&[text.to_owned()], None))?;
        let vector = embedded
            .vectors
            .into_iter()
            .next()
            .context("the encoder answered no vector")?;
        let ranking = self.classifier.rank(&vector);
        let decision = ranking.decide(&self.thresholds);
        let mut answer = EmbeddingAnswer {
            ranking,
            decision,
            missing_slot: None,
            embed_ms: 0.0,
        };
        let mut recognition = Recognition::none();
        if let Decision::Accept(intent) = &answer.decision {
            let mut slots = engine.spot_slots(intent, text);
            // Relative phrasings: the enum slots of the nearest author-written example.
            if let Some((index, cosine)) = self.classifier.nearest(&vector, intent)
                && cosine >= EXAMPLE_SLOTS_MIN_COSINE
                && let Some(example) = self.training.get(index)
                && example.source == TrainingSource::Example
            {
                for (name, value) in &example.slots {
                    if let SlotValue::Text(_) = value {
                        slots.entry(name.clone()).or_insert_with(|| value.clone());
                    }
                }
            }
            answer.missing_slot = engine
                .required_slots(intent)
                .into_iter()
                .find(|name| !slots.contains_key(name));
            if answer.missing_slot.is_none() {
                recognition = Recognition {
                    intent: intent.clone(),
                    slots,
                    confidence: answer.ranking.best.score,
                    tier: Tier::Embedding,
                    ..Recognition::none()
                };
            }
        }
        answer.embed_ms = started.elapsed().as_secs_f64() * 1e3;
        self.latencies.push(answer.embed_ms);
        let kind = match (&answer.decision, &answer.missing_slot) {
            (Decision::Accept(_), None) => "accepted",
            (Decision::Accept(_), Some(_)) => "missing a slot",
            (Decision::Ask(_), _) => "asked",
            (Decision::None, _) => "none",
        };
        *self.counts.entry(kind).or_default() += 1;
        Ok((recognition, answer))
    }

    /// One line for stderr.
    pub fn report(&mut self) -> String {
        crate::tier_report::line(
            "embedding tier",
            &self.counts,
            &mut self.latencies,
            "embedding through the worker and classification",
        )
    }
}
