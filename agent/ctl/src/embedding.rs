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
use edge_core::Recognition;
use edge_embedding::{
    Decision, EmbeddingTier, Judgement, Method, NONE, Ranking, Thresholds, TrainingSet, Verdict,
};
use edge_intent::TemplateEngine;
use edge_slm_client::SlmClient;
use edge_worker::WorkerHandle;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the tier made of one utterance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmbeddingAnswer {
    pub ranking: Ranking,
    pub decision: Decision,
    /// The question asked instead of acting (near the threshold, or a required slot
    /// found neither in the utterance nor in a close example).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    pub embed_ms: f64,
}

/// Writes the training set to stdout as JSON lines: the skills' sentences
/// ([`edge_embedding::tier::SENTENCES_PER_TEMPLATE`] write-outs per template, descriptions, examples), then the
/// built-in negatives as intent [`NONE`] with source `negative`.
pub fn print_training_set(engine: &TemplateEngine) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let set = TrainingSet::new(engine, &edge_intent::builtin_negatives());
    for sentence in &set.sentences {
        let line = serde_json::json!({
            "text": sentence.text, "intent": sentence.intent, "source": sentence.source,
        });
        writeln!(out, "{line}")?;
    }
    for text in &set.negatives {
        let line = serde_json::json!({"text": text, "intent": NONE, "source": "negative"});
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// A running encoder worker and the fitted classifier.
#[derive(Debug)]
pub struct EmbeddingRunner {
    runtime: tokio::runtime::Runtime,
    client: SlmClient,
    tier: EmbeddingTier,
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
        let started = Instant::now();
        let set = TrainingSet::new(engine, negatives);
        let set_ms = started.elapsed().as_secs_f64() * 1e3;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let start_timeout = Duration::from_millis(config.slm.start_timeout_ms);
        let (worker, dir, mut client) = runtime.block_on(crate::slm::start_worker(
            "encoder worker",
            edge_slm_client::worker_args(None, Some(encoder), &config.slm),
            config,
        ))?;
        let texts = set.texts();
        let started = Instant::now();
        let embedded = runtime.block_on(client.embed(&texts, Some(start_timeout)))?;
        let embed_ms = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let tier = EmbeddingTier::fit(set, embedded.vectors, method, thresholds)?;
        let fit_ms = started.elapsed().as_secs_f64() * 1e3;
        let sizes = tier.classifier().class_sizes();
        eprintln!(
            "embedding tier: encoder {}; {} training sentences ({} intents, {} negatives) written out with where their free text lies in {set_ms:.1} ms, embedded in {embed_ms:.0} ms, fitted ({method:?}) in {fit_ms:.1} ms",
            encoder.display(),
            texts.len(),
            sizes.iter().filter(|(c, _)| c != NONE).count(),
            negatives.len(),
        );
        Ok(Self {
            runtime,
            client,
            tier,
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
        let judgement = self.judgement(engine, text)?;
        Ok(self.answer(judgement, started))
    }

    /// The tier's second look at the templates' reading of `text` as `intent`, which
    /// rests on free text (as the daemon: `Language::second_look`): `None` when it stands
    /// (the tier accepts the same intent; not counted in the report), else the tier's own
    /// answer, from the same judgement.
    pub fn second_look(
        &mut self,
        engine: &TemplateEngine,
        text: &str,
        intent: &str,
    ) -> anyhow::Result<Option<(Recognition, EmbeddingAnswer)>> {
        let started = Instant::now();
        let judgement = self.judgement(engine, text)?;
        Ok(judgement
            .overrules_free_text(intent)
            .then(|| self.answer(judgement, started)))
    }

    /// `judgement` as a recognition and a report line, counted in the report.
    fn answer(&mut self, judgement: Judgement, started: Instant) -> (Recognition, EmbeddingAnswer) {
        let (recognition, question) = match judgement.verdict {
            Verdict::Accept(recognition) => (recognition, None),
            Verdict::Ask(clarification) => (Recognition::none(), Some(clarification.question)),
            Verdict::None => (Recognition::none(), None),
        };
        let mut answer = EmbeddingAnswer {
            ranking: judgement.ranking,
            decision: judgement.decision,
            question,
            embed_ms: 0.0,
        };
        answer.embed_ms = started.elapsed().as_secs_f64() * 1e3;
        self.latencies.push(answer.embed_ms);
        let kind = match (&answer.decision, answer.question.is_some()) {
            (Decision::Accept(_), false) => "accepted",
            (Decision::Accept(_), true) => "missing a slot",
            (Decision::Ask(_), _) => "asked",
            (Decision::None, _) => "none",
        };
        *self.counts.entry(kind).or_default() += 1;
        (recognition, answer)
    }

    /// The intent the tier would act on or ask about for `text`
    /// (`Judgement::leaning_intent`), not counted in the report: a second opinion on a
    /// transcript, as the daemon's.
    pub fn leaning_intent(
        &mut self,
        engine: &TemplateEngine,
        text: &str,
    ) -> anyhow::Result<Option<String>> {
        Ok(self
            .judgement(engine, text)?
            .leaning_intent()
            .map(str::to_owned))
    }

    /// The tier's judgement of `text`, its clauses judged alone where the tier wants
    /// them (as the daemon does).
    fn judgement(&mut self, engine: &TemplateEngine, text: &str) -> anyhow::Result<Judgement> {
        let vector = self
            .vectors(&[text.to_owned()])?
            .pop()
            .context("the encoder answered no vector")?;
        let whole = self.tier.judge(engine, text, &vector);
        let clauses = self.tier.clauses_to_judge(text, &whole);
        if clauses.is_empty() {
            return Ok(whole);
        }
        let vectors = self.vectors(&clauses)?;
        Ok(self.tier.judge_clauses(engine, whole, &clauses, &vectors))
    }

    /// The encoder's vectors of `texts`, from the worker.
    fn vectors(&mut self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let embedded = self.runtime.block_on(self.client.embed(texts, None))?;
        anyhow::ensure!(
            embedded.vectors.len() == texts.len(),
            "the encoder answered {} vectors for {} texts",
            embedded.vectors.len(),
            texts.len()
        );
        Ok(embedded.vectors)
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
