//! The language tiers after the templates: the embedding tier (a sentence encoder in the
//! supervised `edge-slm` worker, [`crate::embedding`]), the local SLM (the same worker's
//! language model) and, optionally, escalation to a remote chat endpoint.
//!
//! The worker caches one prompt per intent; the prompts come from the current catalog's
//! schema and are sent again whenever the catalog changes (skills installed or removed)
//! or the worker restarts. Until they are cached the template tier answers alone.

use crate::catalog::Catalog;
use crate::embedding::EmbeddingStage;
use crate::skills::ChooseError;
use edge_config::AgentConfig;
use edge_core::Recognition;
use edge_escalation::Escalation;
use edge_protocol::ClientError;
use edge_protocol::slm::{ChoiceOption, ChoiceRequest, SlmAnswer, SlmRequest};
use edge_slm_client::{SlmClient, SlmTier, Thresholds, Verdict};
use edge_worker::{Unavailable, WorkerConfig, WorkerHandle, WorkerState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A follow-up within this time gets the previous intent as context.
const FOLLOW_UP_WINDOW: Duration = Duration::from_secs(30);

/// What the language tiers made of an utterance the templates rejected.
#[derive(Debug, Clone)]
pub struct LanguageAnswer {
    pub recognition: Recognition,
    /// A clarifying question to say instead of acting (the SLM was unsure).
    pub question: Option<String>,
    /// What the SLM answered, for the logs and the outcome.
    pub slm: Option<SlmAnswer>,
    /// What the embedding tier would act on once the question is answered.
    pub clarification: Option<edge_dialogue::Clarification>,
}

/// The catalog whose prompts the worker holds.
#[derive(Debug)]
struct Loaded {
    /// The catalog's generation.
    catalog: u64,
    tier: Arc<SlmTier>,
    prompt_tokens: usize,
    load_ms: f64,
    /// The worker that holds these prompts (a replacement has none).
    worker_pid: Option<u32>,
}

/// Marks the prompts as being cached until dropped (also when the load is abandoned).
struct Caching<'a>(&'a AtomicBool);

impl<'a> Caching<'a> {
    fn begin(flag: &'a AtomicBool) -> Self {
        flag.store(true, Ordering::SeqCst);
        Self(flag)
    }
}

impl Drop for Caching<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The SLM worker and the escalation endpoint.
#[derive(Debug)]
pub struct Language {
    worker: Option<WorkerHandle>,
    uri: Option<String>,
    /// Why the worker has no language model (the SLM tier and choices are off).
    unavailable: Option<Unavailable>,
    /// The model is also an intent tier (`slm.intents`); otherwise it only maps answers.
    slm_intents: bool,
    /// The embedding tier, when the worker has the encoder.
    embedding: Option<EmbeddingStage>,
    /// Why the embedding tier is off.
    embedding_unavailable: Option<Unavailable>,
    thresholds: Thresholds,
    examples_per_intent: usize,
    start_timeout: Duration,
    request_timeout: Duration,
    /// The open connection and what it has loaded; one request at a time.
    client: tokio::sync::Mutex<(Option<SlmClient>, Option<Loaded>)>,
    /// Set while the worker caches the intents' prompts (seconds on a slow core), so that
    /// a choice, which needs none of them, says at once that the model is busy.
    caching: AtomicBool,
    /// The tier of the newest catalog (built on first use after a change).
    current: Mutex<Option<(u64, Arc<SlmTier>)>>,
    /// The catalog last prepared, cached again in a worker that replaces a lost one.
    prepared: Mutex<Option<Arc<Catalog>>>,
    /// Set once the task that re-caches prompts after a restart runs.
    watching_restarts: AtomicBool,
    escalation: Option<Escalation>,
    escalation_error: Option<String>,
    privacy: AtomicBool,
    previous: Mutex<Option<(String, Instant)>>,
    last_error: Mutex<Option<String>>,
    runtime: tokio::runtime::Handle,
}

impl Language {
    /// Starts the worker (call inside the runtime) when configured and usable; never fails (the template tier works
    /// alone and the status says why).
    pub fn start(config: &AgentConfig) -> Self {
        let slm = &config.slm;
        let mut language = Self {
            worker: None,
            uri: None,
            unavailable: None,
            slm_intents: slm.intents,
            embedding: None,
            embedding_unavailable: None,
            thresholds: Thresholds::from(slm),
            examples_per_intent: slm.examples_per_intent,
            start_timeout: Duration::from_millis(slm.start_timeout_ms),
            request_timeout: Duration::from_millis(slm.request_timeout_ms),
            client: tokio::sync::Mutex::new((None, None)),
            caching: AtomicBool::new(false),
            current: Mutex::new(None),
            prepared: Mutex::new(None),
            watching_restarts: AtomicBool::new(false),
            escalation: None,
            escalation_error: None,
            privacy: AtomicBool::new(config.escalation.privacy_mode),
            previous: Mutex::new(None),
            last_error: Mutex::new(None),
            runtime: tokio::runtime::Handle::current(),
        };
        if config.escalation.enabled {
            match Escalation::new(&config.escalation) {
                Ok(e) => language.escalation = Some(e),
                Err(e) => {
                    tracing::error!("escalation disabled: {e}");
                    language.escalation_error = Some(e.to_string());
                }
            }
        }
        let embedding = &config.embedding;
        let model_ok = !slm.uri.is_empty() || slm.model.is_file();
        if !slm.enabled {
            language.unavailable = Some(Unavailable::Disabled { key: "slm.enabled" });
        } else if !model_ok {
            language.unavailable = Some(Unavailable::NoModel {
                key: "slm.model",
                path: slm.model.clone(),
                hint: "run agent/models/provision.sh slm, or point slm.model at a GGUF model",
            });
        }
        // A worker run by someone else has the encoder it was started with.
        let encoder_ok = embedding.enabled && (!slm.uri.is_empty() || embedding.encoder.is_file());
        if !embedding.enabled {
            language.embedding_unavailable = Some(Unavailable::Disabled {
                key: "embedding.enabled",
            });
        } else if !encoder_ok {
            language.embedding_unavailable = Some(Unavailable::NoModel {
                key: "embedding.encoder",
                path: embedding.encoder.clone(),
                hint: "run agent/models/provision.sh embed, or point embedding.encoder at a GGUF sentence encoder",
            });
        }
        let model = language
            .unavailable
            .is_none()
            .then_some(slm.model.as_path());
        let encoder = encoder_ok.then_some(embedding.encoder.as_path());
        if model.is_none() && encoder.is_none() {
            // Neither tier: no worker.
        } else if !slm.uri.is_empty() {
            // A worker run by someone else (its own systemd unit): connect, never spawn.
            language.uri = Some(slm.uri.clone());
        } else {
            match edge_worker::find_binary(&slm.worker) {
                Some(binary) => {
                    if let Some(dir) = slm.socket.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    let worker = WorkerHandle::spawn(WorkerConfig {
                        name: "SLM worker".into(),
                        binary,
                        args: edge_slm_client::worker_args(model, encoder, slm),
                        socket: slm.socket.clone(),
                        start_timeout: Duration::from_millis(slm.start_timeout_ms),
                        health_interval: Duration::from_secs(5),
                        log_filter: config.log.level.clone(),
                        backoff_min: Duration::from_millis(250),
                        backoff_max: Duration::from_secs(30),
                    });
                    language.uri = Some(worker.uri().to_owned());
                    language.worker = Some(worker);
                }
                None => {
                    let reason = Unavailable::NoBinary {
                        key: "slm.worker",
                        path: slm.worker.clone(),
                    };
                    language.unavailable.get_or_insert_with(|| reason.clone());
                    language.embedding_unavailable.get_or_insert(reason);
                }
            }
        }
        if let (Some(uri), true) = (&language.uri, language.embedding_unavailable.is_none()) {
            // Vectors cached on disk only for an encoder file this daemon can read.
            let disk = embedding
                .encoder
                .is_file()
                .then(|| (embedding.encoder.clone(), config.skills.cache_dir.clone()));
            language.embedding = Some(EmbeddingStage::new(
                uri.clone(),
                embedding.encoder.display().to_string(),
                embedding,
                disk,
                Duration::from_millis(slm.start_timeout_ms),
                Duration::from_millis(slm.request_timeout_ms),
            ));
        }
        if let Some(reason) = &language.embedding_unavailable {
            tracing::warn!("embedding tier unavailable: {reason}");
        }
        if let Some(reason) = &language.unavailable {
            tracing::warn!("SLM tier unavailable: {reason}");
        }
        language
    }

    /// Privacy mode: while on, nothing is escalated.
    pub fn set_privacy(&self, on: bool) {
        self.privacy.store(on, Ordering::Relaxed);
        tracing::info!(privacy = on, "privacy mode");
    }

    pub fn privacy(&self) -> bool {
        self.privacy.load(Ordering::Relaxed)
    }

    /// Remembers the intent of an utterance that was acted on, for follow-ups.
    pub fn remember(&self, recognition: &Recognition) {
        if !recognition.is_none() {
            *self.previous.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((recognition.intent.clone(), Instant::now()));
        }
    }

    fn tier_for(&self, catalog: &Arc<Catalog>) -> Arc<SlmTier> {
        let id = catalog.generation();
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match current.as_ref() {
            Some((known, tier)) if *known == id => tier.clone(),
            _ => {
                let schema = catalog
                    .engine
                    .schema_with_examples(self.examples_per_intent);
                let tier = Arc::new(SlmTier::new(schema, self.thresholds));
                *current = Some((id, tier.clone()));
                tier
            }
        }
    }

    /// Has the worker cache the prompts of `catalog` now (at start and after a reload),
    /// so no request waits for it.
    pub fn prepare(self: &Arc<Self>, catalog: Arc<Catalog>) {
        if self.uri.is_none() {
            return;
        }
        *self.prepared.lock().unwrap_or_else(|p| p.into_inner()) = Some(catalog.clone());
        if !self.watching_restarts.swap(true, Ordering::SeqCst) {
            self.watch_restarts();
        }
        let language = self.clone();
        // Called from reloads on blocking threads too.
        self.runtime.spawn(async move {
            if let Some(worker) = &language.worker
                && let Err(e) = worker.wait_ready(language.start_timeout).await
            {
                tracing::warn!("SLM worker not ready: {e}");
                return;
            }
            // The encoder has a thread of its own in the worker: both at once.
            let fit = async {
                if let Some(embedding) = &language.embedding {
                    embedding.fit(&catalog).await;
                }
            };
            tokio::join!(fit, language.cache_prompts(&catalog));
        });
    }

    /// Caches the prompts again whenever the supervisor replaces the worker, so that the
    /// first paraphrase after a crash does not pay for the load.
    fn watch_restarts(self: &Arc<Self>) {
        let Some(worker) = &self.worker else {
            return;
        };
        let mut states = worker.subscribe();
        let language = Arc::downgrade(self);
        self.runtime.spawn(async move {
            let mut serving: Option<u32> = None;
            loop {
                let ready = states.borrow_and_update().ready_pid();
                if let Some(pid) = ready
                    && serving.replace(pid).is_some_and(|old| old != pid)
                {
                    // The first worker is prepared by `prepare`; this one replaced it.
                    let Some(language) = language.upgrade() else {
                        return;
                    };
                    let catalog = language
                        .prepared
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                    if let Some(catalog) = catalog {
                        tracing::info!(pid, "SLM worker replaced: caching its prompts");
                        language.cache_prompts(&catalog).await;
                    }
                }
                if states.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Has the worker cache the SLM prompts of `catalog` (when it has the model and it is
    /// an intent tier).
    async fn cache_prompts(&self, catalog: &Arc<Catalog>) {
        if self.unavailable.is_none() && self.slm_intents {
            let mut client = self.client.lock().await;
            if let Err(e) = self.ensure_loaded(&mut client, catalog).await {
                tracing::warn!("SLM prompts not cached: {e}");
                self.note_error(&e);
            }
        }
    }

    fn note_error(&self, e: &ClientError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }

    /// Opens the connection to the worker if there is none. A new connection may be to a
    /// restarted worker: the intents' prompts are loaded again on the next recognition.
    async fn connect(
        &self,
        slot: &mut (Option<SlmClient>, Option<Loaded>),
    ) -> Result<(), ClientError> {
        if slot.0.is_none() {
            let uri = self.uri.as_deref().unwrap_or_default();
            slot.0 = Some(SlmClient::connect(uri, self.request_timeout).await?);
            slot.1 = None;
        }
        Ok(())
    }

    /// The supervised worker's pid while it is ready (`None` for an external worker).
    fn worker_pid(&self) -> Option<u32> {
        self.worker.as_ref()?.state().ready_pid()
    }

    async fn ensure_loaded(
        &self,
        slot: &mut (Option<SlmClient>, Option<Loaded>),
        catalog: &Arc<Catalog>,
    ) -> Result<(), ClientError> {
        let id = catalog.generation();
        let pid = self.worker_pid();
        if slot.1.as_ref().is_some_and(|l| l.worker_pid != pid) {
            // Prompts of a worker that is gone: so is its connection.
            *slot = (None, None);
        }
        self.connect(slot).await?;
        if slot.1.as_ref().is_some_and(|l| l.catalog == id) {
            return Ok(());
        }
        let tier = self.tier_for(catalog);
        // A reload that changed nothing the model sees keeps the cached prompts.
        if let Some(loaded) = slot.1.as_mut()
            && loaded.tier.load_request() == tier.load_request()
        {
            loaded.catalog = id;
            loaded.tier = tier;
            return Ok(());
        }
        let Some(client) = slot.0.as_mut() else {
            return Ok(());
        };
        let caching = Caching::begin(&self.caching);
        let loaded = client.load(tier.load_request(), self.start_timeout).await;
        drop(caching);
        let loaded = loaded.inspect_err(|_| slot.0 = None)?;
        tracing::info!(
            intents = loaded.intents,
            prompt_tokens = loaded.prompt_tokens,
            load_ms = loaded.load_ms,
            "SLM prompts cached"
        );
        slot.1 = Some(Loaded {
            catalog: id,
            tier,
            prompt_tokens: loaded.prompt_tokens,
            load_ms: loaded.load_ms,
            worker_pid: pid,
        });
        Ok(())
    }

    /// The intent the embedding tier would act on or ask about for `text`
    /// (`Judgement::leaning_intent`), asking nothing and changing nothing: a second
    /// opinion on a transcript.
    pub async fn leaning_intent(&self, catalog: &Arc<Catalog>, text: &str) -> Option<String> {
        let judgement = self.embedding.as_ref()?.judge(catalog, text).await?;
        judgement.leaning_intent().map(str::to_owned)
    }

    /// The embedding tier's second look at the templates' reading of `text` as `intent`,
    /// which rests on free text (`TemplateEngine::rests_on_free_text`): it stands when the
    /// tier accepts the same intent or cannot judge (not fitted yet, no encoder);
    /// otherwise the utterance is answered as if the templates had rejected it, from the
    /// same judgement.
    pub async fn second_look(
        &self,
        catalog: &Arc<Catalog>,
        text: &str,
        intent: &str,
    ) -> FreeTextReading {
        match self.judge(catalog, text).await {
            Some(judgement) if judgement.overrules_free_text(intent) => FreeTextReading::Overruled(
                Box::new(self.answer(catalog, text, Some(judgement)).await),
            ),
            _ => FreeTextReading::Stands,
        }
    }

    /// The embedding tier's verdict on `text` (which the templates rejected); if it
    /// found no skill's request, the SLM's; then escalation if the SLM also rejected it.
    /// `None` when no tier could answer at all.
    pub async fn recognize(&self, catalog: &Arc<Catalog>, text: &str) -> Option<LanguageAnswer> {
        let judgement = self.judge(catalog, text).await;
        self.answer(catalog, text, judgement).await
    }

    /// The embedding tier's judgement of `text`, when it has one.
    async fn judge(&self, catalog: &Arc<Catalog>, text: &str) -> Option<edge_embedding::Judgement> {
        self.embedding.as_ref()?.judge(catalog, text).await
    }

    /// The answer to `text` given the embedding tier's `judgement` of it: the tier's
    /// verdict, else the SLM's, else escalation's.
    async fn answer(
        &self,
        catalog: &Arc<Catalog>,
        text: &str,
        judgement: Option<edge_embedding::Judgement>,
    ) -> Option<LanguageAnswer> {
        if let Some(judgement) = judgement {
            use edge_embedding::Verdict;
            match judgement.verdict {
                Verdict::Accept(recognition) => {
                    return Some(LanguageAnswer {
                        recognition,
                        question: None,
                        slm: None,
                        clarification: None,
                    });
                }
                Verdict::Ask(asked) => {
                    return Some(LanguageAnswer {
                        recognition: Recognition::none(),
                        question: Some(asked.question.clone()),
                        slm: None,
                        clarification: Some(dialogue_question(asked)),
                    });
                }
                Verdict::None => {}
            }
        }
        let mut answer = None;
        if self.uri.is_some() && self.unavailable.is_none() && self.slm_intents {
            match self.ask_slm(catalog, text).await {
                Ok(a) => answer = Some(a),
                Err(e) => {
                    tracing::warn!("SLM tier skipped: {e}");
                    self.note_error(&e);
                }
            }
        }
        let rejected = answer
            .as_ref()
            .is_none_or(|a: &LanguageAnswer| a.recognition.is_none() && a.question.is_none());
        if rejected
            && let Some(escalation) = &self.escalation
            && !self.privacy()
        {
            let tier = self.tier_for(catalog);
            match escalation.recognize(text, tier.schema()).await {
                Ok(recognition) => {
                    let slm = answer.and_then(|a| a.slm);
                    return Some(LanguageAnswer {
                        recognition,
                        question: None,
                        slm,
                        clarification: None,
                    });
                }
                Err(e) => tracing::warn!("escalation failed: {e}"),
            }
        }
        answer
    }

    async fn ask_slm(
        &self,
        catalog: &Arc<Catalog>,
        text: &str,
    ) -> Result<LanguageAnswer, ClientError> {
        if let Some(worker) = &self.worker
            && !matches!(worker.state(), WorkerState::Ready { .. })
        {
            return Err(ClientError::Closed {
                role: "SLM worker",
                uri: format!("{} (not ready)", self.uri.as_deref().unwrap_or_default()),
            });
        }
        let mut slot = match tokio::time::timeout(self.request_timeout, self.client.lock()).await {
            Ok(slot) => slot,
            Err(_) => {
                return Err(ClientError::Timeout {
                    role: "SLM worker",
                    uri: self.uri.clone().unwrap_or_default(),
                    timeout: self.request_timeout,
                });
            }
        };
        let previous_intent = self
            .previous
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(_, at)| at.elapsed() < FOLLOW_UP_WINDOW)
            .map(|(intent, _)| intent.clone());
        let request = SlmRequest {
            text: text.to_owned(),
            previous_intent,
        };
        // Once again after a failure: the worker may have restarted and lost its prompts.
        let mut attempt = 0;
        let answer = loop {
            attempt += 1;
            self.ensure_loaded(&mut slot, catalog).await?;
            let Some(client) = slot.0.as_mut() else {
                continue;
            };
            match client.recognize(&request).await {
                Ok(answer) => break answer,
                Err(e) => {
                    slot.0 = None;
                    // A worker that let the request time out is hung, not restarted:
                    // asking it again would only double the wait.
                    if attempt >= 2 || matches!(e, ClientError::Timeout { .. }) {
                        return Err(e);
                    }
                }
            }
        };
        let tier = slot
            .1
            .as_ref()
            .map(|l| l.tier.clone())
            .unwrap_or_else(|| self.tier_for(catalog));
        let verdict = tier.judge(text, &answer);
        tracing::info!(
            intent = %answer.intent,
            score = answer.score,
            confidence = answer.confidence,
            slots = %answer.slots,
            scoring_ms = answer.scoring_ms,
            slots_ms = answer.slots_ms,
            verdict = verdict.name(),
            "SLM answer"
        );
        let (recognition, question) = match verdict {
            Verdict::Accepted(recognition) => (recognition, None),
            Verdict::Unsure { question, .. } => (Recognition::none(), Some(question)),
            Verdict::BadSlots { intent, error } => {
                tracing::warn!(%intent, "SLM slots refused: {error}");
                (Recognition::none(), None)
            }
            Verdict::OutOfDomain { .. } => (Recognition::none(), None),
        };
        Ok(LanguageAnswer {
            recognition,
            question,
            slm: Some(answer),
            clarification: None,
        })
    }

    /// Which of `options` ((id, description) pairs) the free-form `answer` to `question`
    /// means, by the SLM worker: `None` when it means none of them (or the model is not
    /// sure). For skills that ask a question with fixed answers (a troubleshooting step).
    pub async fn choose(
        &self,
        question: &str,
        answer: &str,
        options: &[(String, String)],
    ) -> Result<Option<String>, ChooseError> {
        if self.uri.is_none() || self.unavailable.is_some() {
            return Err(ChooseError::Disabled(
                self.unavailable
                    .clone()
                    .unwrap_or(Unavailable::NotConfigured),
            ));
        }
        // A supervised worker must be ready; one run by someone else (slm.uri) is asked.
        if let Some(worker) = &self.worker {
            let state = worker.state();
            if !matches!(state, WorkerState::Ready { .. }) {
                return Err(ChooseError::NotRunning(state));
            }
        }
        // The worker serves one request at a time: behind the prompts' caching a choice
        // would wait for seconds. The skill asks in words instead.
        if self.caching.load(Ordering::SeqCst) {
            return Err(ChooseError::CachingPrompts);
        }
        let request = ChoiceRequest {
            question: question.to_owned(),
            answer: answer.to_owned(),
            options: options
                .iter()
                .map(|(id, description)| ChoiceOption {
                    id: id.clone(),
                    description: description.clone(),
                })
                .collect(),
            min_score: None,
            min_confidence: None,
        };
        let mut slot = tokio::time::timeout(self.request_timeout, self.client.lock())
            .await
            .map_err(|_| ChooseError::Timeout(self.request_timeout))?;
        // Once again after a lost connection: the worker may have restarted.
        let mut attempt = 0;
        let choice = loop {
            attempt += 1;
            self.connect(&mut slot).await?;
            let Some(client) = slot.0.as_mut() else {
                continue;
            };
            match client.choose(&request).await {
                Ok(choice) => break choice,
                Err(e) => {
                    let refused = matches!(e, ClientError::Refused { .. });
                    // A hung worker is not asked twice: the skill waits once at most.
                    let timed_out = matches!(e, ClientError::Timeout { .. });
                    if !refused {
                        slot.0 = None;
                    }
                    if refused || timed_out || attempt >= 2 {
                        self.note_error(&e);
                        return Err(e.into());
                    }
                }
            }
        };
        tracing::info!(
            choice = ?choice.choice,
            best = ?choice.best,
            confidence = choice.confidence,
            literal = choice.literal,
            elapsed_ms = choice.elapsed_ms,
            "SLM choice"
        );
        Ok(choice.choice)
    }

    /// Status for the APIs.
    pub fn status(&self) -> serde_json::Value {
        let escalation = serde_json::json!({
            "enabled": self.escalation.is_some(),
            "error": self.escalation_error,
            "privacy_mode": self.privacy(),
        });
        // Held while a request is in the worker's hands.
        let client = self.client.try_lock();
        let mut slm = match &self.unavailable {
            Some(reason) => {
                serde_json::json!({"state": "unavailable", "reason": reason.to_string()})
            }
            None => edge_worker::status_json(self.worker.as_ref(), self.uri.as_deref()),
        };
        if !self.slm_intents {
            // Not an intent tier: no prompts to cache, choices are answered at once.
            slm["prompts"] = "off".into();
        } else if self.caching.load(Ordering::SeqCst) {
            slm["prompts"] = "caching".into();
        } else if let Ok(slot) = &client
            && let Some(loaded) = &slot.1
            && loaded.worker_pid == self.worker_pid()
        {
            slm["prompts"] = "cached".into();
            slm["intents"] = loaded.tier.load_request().intents.len().into();
            slm["prompt_tokens"] = loaded.prompt_tokens.into();
            slm["load_ms"] = loaded.load_ms.into();
        }
        slm["busy"] = client.is_err().into();
        drop(client);
        if let Some(e) = self
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            slm["last_error"] = e.clone().into();
        }
        let embedding = match (&self.embedding, &self.embedding_unavailable) {
            (Some(stage), _) => stage.status(),
            (None, reason) => {
                serde_json::json!({"state": "unavailable", "reason": reason.as_ref().map(ToString::to_string)})
            }
        };
        serde_json::json!({"slm": slm, "embedding": embedding, "escalation": escalation})
    }
}

/// What the embedding tier makes of a template reading that rests on free text.
pub enum FreeTextReading {
    /// The tier accepts the same intent, or cannot judge: the templates' reading stands.
    Stands,
    /// Overruled: the answer of the later tiers instead (`None`: no tier could answer).
    Overruled(Box<Option<LanguageAnswer>>),
}

/// The embedding tier's question as the dialogue holds it.
pub fn dialogue_question(asked: edge_embedding::Clarification) -> edge_dialogue::Clarification {
    edge_dialogue::Clarification {
        intent: asked.intent,
        slots: asked.slots,
        question: asked.question,
        expect: match asked.missing_slot {
            Some(slot) => edge_dialogue::Expect::Value(slot),
            None => edge_dialogue::Expect::YesNo,
        },
        otherwise: None,
    }
}

impl crate::skills::Chooser for Language {
    fn choose<'a>(
        &'a self,
        question: &'a str,
        answer: &'a str,
        options: &'a [(String, String)],
    ) -> edge_skill_host::BoxFuture<'a, Result<Option<String>, ChooseError>> {
        Box::pin(Language::choose(self, question, answer, options))
    }
}
