//! Speech in the daemon: the recogniser (a supervised `edge-asr` worker or a Wyoming server
//! by URI), recordings submitted through the APIs, and live listening with endpointing.

use crate::pipeline::{Outcome, Pipeline};
use edge_config::AgentConfig;
use edge_core::UtteranceOrigin;
use edge_speech::{AsrClient, AsrError, Pcm, RecognitionHints, Transcript};
use edge_worker::{Unavailable, WorkerConfig, WorkerHandle, WorkerState};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why speech could not be turned into an outcome.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("speech recognition is unavailable: {0}")]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Audio(#[from] edge_speech::WavError),
    #[error(transparent)]
    Asr(#[from] AsrError),
    #[error("nothing was said (the recording is silent or holds no speech)")]
    NoSpeech,
    #[error("the transcript {text:?} cannot be processed: {source}")]
    Input {
        text: String,
        source: crate::pipeline::InputError,
    },
}

/// The result of one spoken command.
#[derive(Debug, Clone, Serialize)]
pub struct SpokenOutcome {
    pub transcript: String,
    /// Which hypothesis the command was taken from: `free`, or `grammar` when the
    /// transcript biased toward the skills' grammar won (see `asr.grammar`).
    pub transcript_source: String,
    /// The free transcript, when the grammar-biased one was taken instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_transcript: Option<String>,
    /// The grammar-biased transcript held free text, and the free transcript, understood on
    /// its own, named the same command: acted on without asking "Did you say ...?" first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub transcript_corroborated: bool,
    /// The first listen's free transcript, when the command it was torn about (another
    /// command nearly as likely) was settled by a second listen in Whisper's whole window
    /// (`asr.second_listen`); `transcript` is then the second listen's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_listen: Option<String>,
    /// Audio duration.
    pub audio_ms: u64,
    /// The audio decoded: a recording without its leading and trailing silence.
    pub speech_ms: u64,
    /// From the end of the audio to the transcript.
    pub asr_ms: f64,
    /// From the end of the audio to the response (recognition, skill and action included).
    pub end_to_action_ms: f64,
    #[serde(flatten)]
    pub outcome: Arc<Outcome>,
}

/// The recogniser as configured.
#[derive(Debug)]
pub struct Speech {
    uri: Option<String>,
    unavailable: Option<Unavailable>,
    worker: Option<WorkerHandle>,
    request_timeout: Duration,
    prompt_words: Vec<String>,
    vocabulary_prompt: bool,
    grammar: bool,
    grammar_penalty: f32,
    grammar_max_drop: f32,
    free_text_min_p: f32,
    request_word_min_p: f32,
    rival_max_gap: f32,
    second_listen: bool,
    /// Voice-activity thresholds, for trimming recordings.
    endpoint: edge_speech::EndpointConfig,
    pipeline: Arc<Pipeline>,
    metrics: Arc<edge_metrics::Metrics>,
}

impl Speech {
    /// Starts the worker (or notes the external server). Never fails: without a model the
    /// daemon still serves text, and speech requests say why they cannot be served.
    pub fn start(
        config: &AgentConfig,
        pipeline: Arc<Pipeline>,
        metrics: Arc<edge_metrics::Metrics>,
    ) -> Self {
        let asr = &config.asr;
        let mut speech = Self {
            uri: None,
            unavailable: None,
            worker: None,
            request_timeout: Duration::from_millis(asr.request_timeout_ms),
            prompt_words: asr.prompt_words.clone(),
            vocabulary_prompt: asr.vocabulary_prompt,
            grammar: asr.grammar,
            grammar_penalty: asr.grammar_penalty,
            grammar_max_drop: asr.grammar_max_drop,
            free_text_min_p: asr.free_text_min_p,
            request_word_min_p: asr.request_word_min_p,
            rival_max_gap: asr.rival_max_gap,
            second_listen: asr.second_listen,
            endpoint: edge_speech::EndpointConfig {
                threshold: config.audio.vad_threshold,
                ..edge_speech::EndpointConfig::default()
            },
            metrics,
            pipeline,
        };
        if !asr.enabled {
            speech.unavailable = Some(Unavailable::Disabled { key: "asr.enabled" });
        } else if !asr.uri.is_empty() {
            speech.uri = Some(asr.uri.clone());
        } else if !asr.model.is_file() {
            let reason = Unavailable::NoModel {
                key: "asr.model",
                path: asr.model.clone(),
                hint: "run agent/models/provision.sh, or point asr.model at a whisper.cpp ggml model",
            };
            tracing::error!("{reason}");
            speech.unavailable = Some(reason);
        } else {
            match edge_worker::find_binary(&asr.worker) {
                Some(binary) => {
                    if let Some(dir) = asr.socket.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    let worker = WorkerHandle::spawn(WorkerConfig {
                        name: "speech worker".into(),
                        binary,
                        args: edge_speech::asr_worker_args(
                            &asr.model,
                            asr.threads,
                            asr.max_concurrent,
                            asr.max_audio_s,
                        ),
                        socket: asr.socket.clone(),
                        start_timeout: Duration::from_millis(asr.start_timeout_ms),
                        health_interval: Duration::from_secs(5),
                        log_filter: config.log.level.clone(),
                        backoff_min: Duration::from_millis(250),
                        backoff_max: Duration::from_secs(30),
                    });
                    speech.uri = Some(worker.uri().to_owned());
                    speech.worker = Some(worker);
                }
                None => {
                    let reason = Unavailable::NoBinary {
                        key: "asr.worker",
                        path: asr.worker.clone(),
                    };
                    tracing::error!("{reason}");
                    speech.unavailable = Some(reason);
                }
            }
        }
        speech
    }

    /// Status for the APIs: `{"state", "uri", "pid", "restarts", "reason"}`.
    pub fn status(&self) -> serde_json::Value {
        if let Some(reason) = &self.unavailable {
            return serde_json::json!({"state": "unavailable", "reason": reason.to_string()});
        }
        edge_worker::status_json(self.worker.as_ref(), self.uri.as_deref())
    }

    fn uri(&self) -> Result<&str, SpeechError> {
        match (&self.uri, &self.unavailable) {
            (Some(uri), _) => Ok(uri),
            (None, Some(reason)) => Err(SpeechError::Unavailable(reason.clone())),
            (None, None) => Err(SpeechError::Unavailable(Unavailable::NotConfigured)),
        }
    }

    /// Opens a connection for one utterance.
    pub async fn connect(&self) -> Result<AsrClient, SpeechError> {
        let uri = self.uri()?;
        if let Some(worker) = &self.worker
            && !matches!(worker.state(), WorkerState::Ready { .. })
        {
            // A worker restarting after a crash is usually back within a second.
            worker
                .wait_ready(self.request_timeout)
                .await
                .map_err(|e| SpeechError::Unavailable(e.into()))?;
        }
        Ok(AsrClient::connect(uri, self.request_timeout).await?)
    }

    /// What each request tells the recogniser: the prompt (words of the installed skills,
    /// so Whisper prefers them) and the skills' grammar, with its known-values part.
    pub fn hints(&self) -> RecognitionHints {
        let catalog = self.pipeline.catalog();
        RecognitionHints {
            prompt: if self.vocabulary_prompt {
                edge_speech::vocabulary_prompt(self.pipeline.entity_lists(), &self.prompt_words)
            } else {
                String::new()
            },
            grammar: self.grammar.then(|| catalog.recognition_grammar.clone()),
            known_grammar: catalog.known_values_grammar.clone(),
            grammar_penalty: Some(self.grammar_penalty),
            grammar_max_drop: Some(self.grammar_max_drop),
            rival_max_gap: Some(self.rival_max_gap),
            whole_window: false,
        }
    }

    /// Transcribes a WAV recording and acts on it.
    /// Leading and trailing silence are cut first, as the endpointer does for live audio;
    /// `audio_ms` stays the recording's length, `speech_ms` is what was decoded.
    pub async fn listen_wav(&self, wav: &[u8], name: &str) -> Result<SpokenOutcome, SpeechError> {
        let pcm = edge_speech::wav::read_bytes(wav, name)?;
        let speech = pcm.trimmed(&self.endpoint);
        let mut outcome = self.listen_pcm(&speech).await?;
        outcome.audio_ms = pcm.duration_ms();
        Ok(outcome)
    }

    /// Transcribes 16 kHz mono PCM and acts on it.
    pub async fn listen_pcm(&self, pcm: &Pcm) -> Result<SpokenOutcome, SpeechError> {
        let mut client = self.connect().await?;
        let (transcript, end_of_audio) = client
            .transcribe(&pcm.bytes, pcm.format(), &self.hints())
            .await?;
        self.act(transcript, pcm, end_of_audio).await
    }

    /// Acts on a transcript of `audio` (what was sent to the recogniser), which ended at
    /// `end_of_audio`.
    pub async fn act(
        &self,
        mut transcript: Transcript,
        audio: &Pcm,
        end_of_audio: Instant,
    ) -> Result<SpokenOutcome, SpeechError> {
        let audio_ms = audio.duration_ms();
        let asr = end_of_audio.elapsed();
        self.metrics.stage("transcript", asr);
        let asr_ms = asr.as_secs_f64() * 1000.0;
        if transcript.text.trim().is_empty() {
            return Err(SpeechError::NoSpeech);
        }
        if let Some(e) = &transcript.grammar_error {
            tracing::error!("the recogniser could not read the skills' grammar: {e}");
        }
        let (mut chosen, intent) = {
            let catalog = self.pipeline.catalog();
            let chosen = edge_speech::choose(
                &transcript,
                |text| catalog.engine.command_free_text(text),
                |heard, reading| catalog.engine.names_the_machines_heard(heard, reading),
                self.grammar_max_drop,
            );
            let intent = chosen.confirm.then(|| {
                let mended = catalog
                    .engine
                    .mends_only_by_sound(&transcript.text, &chosen.text);
                (catalog.engine.recognize(&chosen.text).intent, mended)
            });
            (chosen, intent)
        };
        if self.pipeline.question_open() {
            let engine = &self.pipeline.catalog().engine;
            let reading = chosen.text.clone();
            chosen = chosen.as_answer(&transcript.text, |text| {
                engine.recognize(text).intent == edge_dialogue::YES
            });
            if chosen.text != reading {
                tracing::info!(%reading, free = %transcript.text, "a yes only the grammar pass heard answers no question");
            }
        }
        if let Some((intent, mended)) = intent {
            // The grammar mended only how the carrier phrase sounded, beside a machine or
            // number heard in the free transcript too; else the free transcript must name
            // the same command on its own.
            let free_intent = match mended {
                true => Some(intent.clone()),
                false => self.pipeline.second_opinion(&transcript.text).await,
            };
            if chosen.corroborate(&intent, free_intent.as_deref()) {
                tracing::info!(%intent, free = %transcript.text, mended, "the free transcript names the same command");
            }
        }
        let mut first_listen = None;
        if let Some(again) = self.listen_again(&transcript, &chosen, audio).await {
            first_listen = Some(std::mem::replace(&mut transcript, again).text);
            let catalog = self.pipeline.catalog();
            chosen = edge_speech::choose(
                &transcript,
                |text| catalog.engine.command_free_text(text),
                |heard, reading| catalog.engine.names_the_machines_heard(heard, reading),
                self.grammar_max_drop,
            );
        }
        let mut unsure_words =
            edge_speech::doubted_words(&transcript, &chosen, self.free_text_min_p);
        if !chosen.confirm {
            unsure_words = self
                .pipeline
                .catalog()
                .engine
                .unsure_beyond_known(&chosen.text, unsure_words);
        }
        let doubts = edge_intent::HeardDoubts {
            rivals: edge_speech::rival_readings(&transcript, &chosen, self.rival_max_gap),
            barely_heard: edge_speech::words_below(&transcript, &chosen, self.request_word_min_p),
            unsure_words,
        };
        let outcome = self
            .pipeline
            .handle_heard(&chosen.text, UtteranceOrigin::Voice, None, &doubts)
            .await
            .map_err(|source| SpeechError::Input {
                text: chosen.text.clone(),
                source,
            })?;
        let end_to_action = end_of_audio.elapsed();
        self.metrics.stage("end_to_action", end_to_action);
        let end_to_action_ms = end_to_action.as_secs_f64() * 1000.0;
        tracing::info!(
            utterance_id = %outcome.utterance_id,
            audio_ms,
            asr_ms,
            end_to_action_ms,
            transcript = %chosen.text,
            source = %chosen.source,
            "spoken command"
        );
        Ok(SpokenOutcome {
            free_transcript: (chosen.source != "free").then(|| transcript.text.clone()),
            transcript_corroborated: chosen.corroborated,
            first_listen,
            transcript: chosen.text,
            transcript_source: chosen.source,
            audio_ms,
            speech_ms: audio_ms,
            asr_ms,
            end_to_action_ms,
            outcome,
        })
    }

    /// A command heard torn between two readings that are different commands ("Start pump
    /// 2," with "Stop pump 2," close behind) is listened to again: the same audio in
    /// Whisper's whole 30 s window. Its transcript replaces the first when it is one of
    /// the two (`asr.second_listen`); otherwise, or on an error, the first stands and the
    /// rival is asked about.
    async fn listen_again(
        &self,
        transcript: &Transcript,
        chosen: &edge_speech::Chosen,
        audio: &Pcm,
    ) -> Option<Transcript> {
        // An answer to an open question is never doubted: nothing to settle.
        if !self.second_listen || self.pipeline.question_open() {
            return None;
        }
        let readings = {
            let catalog = self.pipeline.catalog();
            edge_speech::torn_readings(transcript, chosen, self.rival_max_gap, |rivals| {
                let recognition = catalog.engine.recognize(&chosen.text);
                catalog
                    .engine
                    .rival_command(&chosen.text, &recognition, rivals)
                    .map(str::to_owned)
            })?
        };
        let started = Instant::now();
        let again = async {
            let mut client = self.connect().await?;
            let (again, _) = client
                .transcribe(&audio.bytes, audio.format(), &self.hints().second_listen())
                .await?;
            Ok::<_, SpeechError>(again)
        }
        .await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match again {
            Ok(again)
                if edge_speech::second_listen_settles(&readings, &again, self.rival_max_gap) =>
            {
                tracing::info!(first = %transcript.text, again = %again.text, ?readings, ms, "a second listen settled a command torn between two readings");
                Some(again)
            }
            Ok(again) => {
                tracing::info!(first = %transcript.text, again = %again.text, ?readings, ms, "a second listen did not settle the readings");
                None
            }
            Err(e) => {
                tracing::warn!(?readings, "second listen failed: {e}");
                None
            }
        }
    }
}
