//! The embedding tier in the daemon: the sentence encoder runs in the `edge-slm` worker
//! (its own thread there, its own connection here, so prompt caching or a long SLM answer
//! never holds it up); the classifier is fitted here whenever the catalog changes.
//!
//! Vectors are cached by sentence text, in memory and on disk (`skills.cache_dir`, one file
//! per encoder, named by a hash of the encoder file's content): a restart embeds nothing,
//! a reload only the sentences it has not seen (a new skill's), and refitting takes
//! milliseconds. Until the first fit is done the tier is skipped and the status says
//! `fitting`.

use crate::catalog::Catalog;
use edge_config::EmbeddingSection;
use edge_embedding::{EmbeddingTier, Judgement, Method, Thresholds, TrainingSet};
use edge_protocol::ClientError;
use edge_slm_client::SlmClient;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tier fitted on one catalog.
#[derive(Debug)]
struct Fitted {
    /// The catalog's generation.
    catalog: u64,
    tier: Arc<EmbeddingTier>,
    sentences: usize,
    embedded: usize,
    embed_ms: f64,
    fit_ms: f64,
}

/// Where the tier is.
#[derive(Debug, Clone)]
enum State {
    /// Embedding the training sentences of a new catalog.
    Fitting,
    Ready,
    /// The last fit failed; the previous fit, if any, still answers.
    Failed(Arc<FitFailure>),
}

/// Why a catalog's tier could not be fitted.
#[derive(Debug, thiserror::Error)]
enum FitFailure {
    /// The worker could not embed the training sentences.
    #[error(transparent)]
    Encoder(#[from] ClientError),
    #[error("the encoder answered too few vectors")]
    TooFewVectors,
    #[error(transparent)]
    Fit(#[from] edge_embedding::FitError),
}

/// The embedding tier of the daemon.
#[derive(Debug)]
pub struct EmbeddingStage {
    uri: String,
    encoder: String,
    method: Method,
    thresholds: Thresholds,
    start_timeout: Duration,
    request_timeout: Duration,
    client: tokio::sync::Mutex<Option<SlmClient>>,
    /// Sentence vectors by text.
    vectors: Mutex<HashMap<String, Vec<f32>>>,
    /// The encoder file (for the disk cache's name) and the cache directory; `None` for a
    /// worker run by someone else.
    disk: Option<(PathBuf, PathBuf)>,
    /// The disk cache file, once the encoder is hashed.
    cache_file: tokio::sync::OnceCell<Option<PathBuf>>,
    /// Vectors read from the disk cache at the first fit.
    from_disk: Mutex<usize>,
    fitted: Mutex<Option<Fitted>>,
    state: Mutex<State>,
}

impl EmbeddingStage {
    /// The tier on the worker at `uri` (whose `--encoder` is `encoder`).
    pub fn new(
        uri: String,
        encoder: String,
        section: &EmbeddingSection,
        disk: Option<(PathBuf, PathBuf)>,
        start_timeout: Duration,
        request_timeout: Duration,
    ) -> Self {
        Self {
            uri,
            encoder,
            method: Method::from(section),
            thresholds: Thresholds::from(section),
            start_timeout,
            request_timeout,
            client: tokio::sync::Mutex::new(None),
            vectors: Mutex::new(HashMap::new()),
            disk,
            cache_file: tokio::sync::OnceCell::new(),
            from_disk: Mutex::new(0),
            fitted: Mutex::new(None),
            state: Mutex::new(State::Fitting),
        }
    }

    fn set_state(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }

    /// Embeds `texts`, once again on a new connection if the first attempt failed (the
    /// worker may have restarted).
    async fn embed(
        &self,
        texts: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<Vec<f32>>, ClientError> {
        let mut slot = self.client.lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if slot.is_none() {
                *slot = Some(SlmClient::connect(&self.uri, self.request_timeout).await?);
            }
            let Some(client) = slot.as_mut() else {
                continue;
            };
            match client.embed(texts, timeout).await {
                Ok(answer) => return Ok(answer.vectors),
                Err(e) => {
                    *slot = None;
                    let refused = matches!(e, ClientError::Refused { .. });
                    if refused || attempt >= 2 {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Fits the tier on `catalog`'s sentences (embedding only those not seen before).
    pub async fn fit(&self, catalog: &Arc<Catalog>) {
        let id = catalog.generation();
        if self.fitted_for(id).is_some() {
            return;
        }
        self.set_state(State::Fitting);
        let cache_file = self
            .cache_file
            .get_or_init(|| self.open_disk_cache())
            .await
            .clone();
        let set = TrainingSet::new(&catalog.engine, &edge_intent::builtin_negatives());
        let texts = set.texts();
        let missing: Vec<String> = {
            let known = self.vectors.lock().unwrap_or_else(|p| p.into_inner());
            let mut seen = std::collections::HashSet::new();
            texts
                .iter()
                .filter(|t| !known.contains_key(*t) && seen.insert(*t))
                .cloned()
                .collect()
        };
        let started = Instant::now();
        if !missing.is_empty() {
            match self.embed(&missing, Some(self.start_timeout)).await {
                Ok(vectors) => {
                    let snapshot = {
                        let mut known = self.vectors.lock().unwrap_or_else(|p| p.into_inner());
                        known.extend(missing.iter().cloned().zip(vectors));
                        cache_file.as_ref().map(|_| known.clone())
                    };
                    if let (Some(file), Some(vectors)) = (cache_file, snapshot) {
                        let written =
                            tokio::task::spawn_blocking(move || write_cache(&file, &vectors)).await;
                        if let Ok(Err(e)) = written {
                            tracing::warn!("embedding cache not written: {e}");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("embedding tier not fitted: {e}");
                    self.set_state(State::Failed(Arc::new(e.into())));
                    return;
                }
            }
        }
        let embed_ms = started.elapsed().as_secs_f64() * 1e3;
        let vectors: Option<Vec<Vec<f32>>> = {
            let known = self.vectors.lock().unwrap_or_else(|p| p.into_inner());
            texts.iter().map(|t| known.get(t).cloned()).collect()
        };
        let Some(vectors) = vectors else {
            self.set_state(State::Failed(Arc::new(FitFailure::TooFewVectors)));
            return;
        };
        let started = Instant::now();
        let sentences = texts.len();
        match EmbeddingTier::fit(set, vectors, self.method, self.thresholds) {
            Ok(tier) => {
                let fit_ms = started.elapsed().as_secs_f64() * 1e3;
                tracing::info!(
                    sentences,
                    embedded = missing.len(),
                    embed_ms,
                    fit_ms,
                    "embedding tier fitted"
                );
                *self.fitted.lock().unwrap_or_else(|p| p.into_inner()) = Some(Fitted {
                    catalog: id,
                    tier: Arc::new(tier),
                    sentences,
                    embedded: missing.len(),
                    embed_ms,
                    fit_ms,
                });
                self.set_state(State::Ready);
            }
            Err(e) => {
                tracing::warn!("embedding tier not fitted: {e}");
                self.set_state(State::Failed(Arc::new(e.into())));
            }
        }
    }

    /// Names the disk cache after the encoder's content and reads what it holds.
    async fn open_disk_cache(&self) -> Option<PathBuf> {
        let (encoder, dir) = self.disk.clone()?;
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let hash = content_hash(&encoder)?;
            let file = dir.join(format!("embedding-{hash:016x}.json"));
            let vectors = read_cache(&file);
            Ok((file, vectors))
        })
        .await;
        match read {
            Ok(Ok((file, vectors))) => {
                *self.from_disk.lock().unwrap_or_else(|p| p.into_inner()) = vectors.len();
                self.vectors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(vectors);
                Some(file)
            }
            Ok(Err(e)) => {
                tracing::warn!("embedding cache off: the encoder cannot be read: {e}");
                None
            }
            Err(e) => {
                tracing::warn!("embedding cache off: {e}");
                None
            }
        }
    }

    fn fitted_for(&self, catalog: u64) -> Option<Arc<EmbeddingTier>> {
        self.fitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|f| f.catalog == catalog)
            .map(|f| f.tier.clone())
    }

    /// The tier's judgement of `text`; `None` while it is not fitted on `catalog` (the
    /// next tier answers) or when the worker fails.
    pub async fn judge(&self, catalog: &Arc<Catalog>, text: &str) -> Option<Judgement> {
        let tier = self.fitted_for(catalog.generation())?;
        let started = Instant::now();
        let vector = match self.embed(&[text.to_owned()], None).await {
            Ok(mut vectors) if vectors.len() == 1 => vectors.remove(0),
            Ok(vectors) => {
                tracing::warn!(
                    "embedding tier skipped: {} vectors for one text",
                    vectors.len()
                );
                return None;
            }
            Err(e) => {
                tracing::warn!("embedding tier skipped: {e}");
                return None;
            }
        };
        let mut judgement = tier.judge(&catalog.engine, text, &vector);
        let clauses = tier.clauses_to_judge(text, &judgement);
        if !clauses.is_empty() {
            match self.embed(&clauses, None).await {
                Ok(vectors) if vectors.len() == clauses.len() => {
                    judgement = tier.judge_clauses(&catalog.engine, judgement, &clauses, &vectors);
                }
                Ok(vectors) => tracing::warn!(
                    "clauses not judged alone: {} vectors for {} clauses",
                    vectors.len(),
                    clauses.len()
                ),
                Err(e) => tracing::warn!("clauses not judged alone: {e}"),
            }
        }
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(
            best = %judgement.ranking.best.intent,
            score = judgement.ranking.best.score,
            runner_up = ?judgement.ranking.runner_up,
            none = ?judgement.ranking.none,
            decision = ?judgement.decision,
            elapsed_ms,
            "embedding tier"
        );
        Some(judgement)
    }

    /// Status for the APIs.
    pub fn status(&self) -> serde_json::Value {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut status = match state {
            State::Fitting => serde_json::json!({"state": "fitting"}),
            State::Ready => serde_json::json!({"state": "ready"}),
            State::Failed(reason) => {
                serde_json::json!({"state": "failed", "reason": reason.to_string()})
            }
        };
        status["encoder"] = self.encoder.clone().into();
        status["cached_on_disk"] =
            (*self.from_disk.lock().unwrap_or_else(|p| p.into_inner())).into();
        if let Some(f) = self
            .fitted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            status["catalog"] = f.catalog.into();
            status["sentences"] = f.sentences.into();
            status["embedded"] = f.embedded.into();
            status["embed_ms"] = f.embed_ms.into();
            status["fit_ms"] = f.fit_ms.into();
        }
        status
    }
}

/// A hash of the file's content (SipHash: a cache name, not a signature).
fn content_hash(path: &Path) -> std::io::Result<u64> {
    use std::hash::Hasher as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.write(&buffer[..n]);
    }
}

/// The cached vectors; an unreadable or malformed cache is empty (it is written anew).
fn read_cache(file: &Path) -> HashMap<String, Vec<f32>> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return HashMap::new();
    };
    serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::warn!(
            "{}: not an embedding cache ({e}); embedding anew",
            file.display()
        );
        HashMap::new()
    })
}

/// Writes the vectors to `file` atomically (a temporary file renamed over it).
fn write_cache(file: &Path, vectors: &HashMap<String, Vec<f32>>) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(vectors).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, file)
}
