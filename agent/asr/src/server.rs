//! The Wyoming ASR server: many connections, many requests per connection.

use crate::grammar::Grammar;
use crate::recognizer::{
    GrammarBias, Hypothesis, HypothesisSource, KnownValues, Recognizer, Transcription, Window,
};
use edge_protocol::{AudioFormat, Event, ProtocolError, decode_mono, kind};
use serde_json::json;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::Semaphore;

/// Shared by every connection: the model and the limit on concurrent decodes.
#[derive(Debug)]
pub struct AsrService {
    recognizer: Arc<Recognizer>,
    decode_slots: Arc<Semaphore>,
    version: &'static str,
    /// Recently used grammars by a hash of their text and start rule, so a client may send its grammar
    /// with every request and it is read only once.
    grammars: Mutex<Vec<(u64, Arc<Grammar>)>>,
}

/// Grammars kept parsed (three per skill set a client uses: the commands, and the
/// known-values grammar from both its start rules; a few clients at most).
const GRAMMARS_KEPT: usize = 9;

/// Penalty for leaving the grammar when a request does not give one.
pub const DEFAULT_GRAMMAR_PENALTY: f32 = 10.0;

/// Extension fields of `transcribe` (plain Wyoming clients send neither):
/// `grammar` (GBNF text, start rule `root`), `grammar_penalty` (a number),
/// `grammar_max_drop` (nats: no biased transcript further below the free one is wanted) and
/// `grammar_known` (GBNF of the commands whose free text is held to its known values:
/// searched when the free transcript is a sentence of `grammar` but not of this one) and
/// `grammar_rival_gap` (nats: rival readings of a free transcript that is a sentence of
/// `grammar`, at most this far behind, are scored and sent; none when absent or 0); and
/// `whole_window` (true: encode Whisper's whole 30 s window, not one fitted to the audio;
/// a client's second listen to a command torn between readings).
pub mod field {
    pub const GRAMMAR: &str = "grammar";
    pub const GRAMMAR_KNOWN: &str = "grammar_known";
    pub const GRAMMAR_PENALTY: &str = "grammar_penalty";
    pub const GRAMMAR_MAX_DROP: &str = "grammar_max_drop";
    pub const GRAMMAR_RIVAL_GAP: &str = "grammar_rival_gap";
    pub const WHOLE_WINDOW: &str = "whole_window";
}

/// Error codes sent in Wyoming `error` events, so a client can tell them apart.
pub mod error_code {
    pub const AUDIO_FORMAT: &str = "audio-format";
    pub const AUDIO_TOO_LONG: &str = "audio-too-long";
    pub const NO_AUDIO_START: &str = "no-audio-start";
    pub const PROTOCOL: &str = edge_protocol::PROTOCOL_ERROR;
    pub const DECODE: &str = "decode";
}

/// A request's grammar and how it is applied.
#[derive(Debug, Clone)]
struct RequestGrammar {
    grammar: Arc<Grammar>,
    /// The known-values grammar (start rules `root` and `carrier`), when the request sent
    /// one that could be read.
    known: Option<(Arc<Grammar>, Arc<Grammar>)>,
    penalty: f32,
    max_drop: Option<f32>,
    rival_gap: Option<f32>,
}

/// One utterance being received.
#[derive(Debug, Default)]
struct Utterance {
    prompt: Option<String>,
    /// Encode Whisper's whole window for this utterance (`whole_window`).
    whole_window: bool,
    /// The request's grammar, or why it could not be read.
    grammar: Option<Result<RequestGrammar, String>>,
    format: Option<AudioFormat>,
    samples: Vec<f32>,
    /// Set after a format error: the rest of this utterance's audio is ignored.
    rejected: bool,
}

impl AsrService {
    pub fn new(recognizer: Recognizer, max_concurrent: usize) -> Self {
        Self {
            recognizer: Arc::new(recognizer),
            decode_slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            version: env!("CARGO_PKG_VERSION"),
            grammars: Mutex::new(Vec::new()),
        }
    }

    /// The parsed grammar of a request from its start rule `start`, from the cache when its
    /// text was seen before.
    fn grammar(&self, text: &str, start: &str) -> Result<Arc<Grammar>, String> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut hasher);
        start.hash(&mut hasher);
        let key = hasher.finish();
        if let Ok(mut cache) = self.grammars.lock()
            && let Some(i) = cache.iter().position(|(k, _)| *k == key)
        {
            let entry = cache.remove(i);
            let grammar = entry.1.clone();
            cache.push(entry);
            return Ok(grammar);
        }
        let started = Instant::now();
        let grammar = Arc::new(Grammar::parse(text, start).map_err(|e| e.to_string())?);
        tracing::info!(
            bytes = text.len(),
            parse_ms = started.elapsed().as_secs_f64() * 1000.0,
            "grammar read"
        );
        if let Ok(mut cache) = self.grammars.lock() {
            if cache.len() >= GRAMMARS_KEPT {
                cache.remove(0);
            }
            cache.push((key, grammar.clone()));
        }
        Ok(grammar)
    }

    /// The `info` answer to `describe`.
    pub fn info(&self) -> Event {
        let attribution =
            json!({"name": "edge-agent", "url": "https://example.invalid/edge-agent"});
        let model = json!({
            "name": self.recognizer.model_name(),
            "description": format!("Whisper {} (whisper.cpp {})", self.recognizer.model_name(), whisper_rs::WHISPER_CPP_VERSION),
            "attribution": {"name": "OpenAI Whisper", "url": "https://github.com/openai/whisper"},
            "installed": true,
            "version": whisper_rs::WHISPER_CPP_VERSION,
            "languages": ["en"],
        });
        Event::new(kind::INFO).with(
            "asr",
            json!([{
                "name": "edge-asr",
                "description": "edge-agent speech worker (whisper.cpp, tuned for short commands)",
                "attribution": attribution,
                "installed": true,
                "version": self.version,
                "models": [model],
                "supports_transcript_streaming": false,
            }]),
        )
    }

    /// Serves one connection until the peer closes it or sends a malformed frame.
    pub async fn serve_connection<S>(self: Arc<Self>, stream: S) -> Result<(), ProtocolError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (read, mut write) = tokio::io::split(stream);
        let mut reader = BufReader::new(read);
        let mut utterance = Utterance::default();
        while let Some(event) = edge_protocol::next_request(&mut reader, &mut write).await? {
            let replies = self.handle(event, &mut utterance).await;
            for reply in replies {
                edge_protocol::write_event(&mut write, &reply).await?;
            }
        }
        Ok(())
    }

    async fn handle(&self, event: Event, utterance: &mut Utterance) -> Vec<Event> {
        match event.kind.as_str() {
            kind::DESCRIBE => vec![self.info()],
            kind::PING => vec![Event::new(kind::PONG)],
            kind::TRANSCRIBE => {
                let number = |name: &str| match event.data.get(name) {
                    None => Ok(None),
                    Some(v) => v
                        .as_f64()
                        .filter(|p| p.is_finite() && *p >= 0.0)
                        .map(|p| Some(p as f32))
                        .ok_or_else(|| format!("\"{name}\" must be a number >= 0, found {v}")),
                };
                let grammar = event.str(field::GRAMMAR).map(|text| {
                    let penalty =
                        number(field::GRAMMAR_PENALTY)?.unwrap_or(DEFAULT_GRAMMAR_PENALTY);
                    let max_drop = number(field::GRAMMAR_MAX_DROP)?;
                    let rival_gap = number(field::GRAMMAR_RIVAL_GAP)?;
                    let known = event
                        .str(field::GRAMMAR_KNOWN)
                        .map(|known| -> Result<_, String> {
                            Ok((
                                self.grammar(known, "root")?,
                                self.grammar(known, "carrier")?,
                            ))
                        })
                        .transpose()
                        .map_err(|e| format!("transcribe \"{}\": {e}", field::GRAMMAR_KNOWN))?;
                    self.grammar(text, "root")
                        .map(|grammar| RequestGrammar {
                            grammar,
                            known,
                            penalty,
                            max_drop,
                            rival_gap,
                        })
                        .map_err(|e| format!("transcribe \"{}\": {e}", field::GRAMMAR))
                });
                if let Some(Err(e)) = &grammar {
                    tracing::warn!(error = %e, "request grammar ignored");
                }
                let whole_window = match event.data.get(field::WHOLE_WINDOW) {
                    None => false,
                    Some(value) => value.as_bool().unwrap_or_else(|| {
                        tracing::warn!(
                            found = %value,
                            "transcribe \"{}\" must be true or false; the fitted window is used",
                            field::WHOLE_WINDOW
                        );
                        false
                    }),
                };
                *utterance = Utterance {
                    prompt: event.str("prompt").map(str::to_owned),
                    whole_window,
                    grammar,
                    ..Utterance::default()
                };
                vec![]
            }
            kind::AUDIO_START => {
                utterance.samples.clear();
                utterance.rejected = false;
                match event.audio_format() {
                    Ok(format) => {
                        utterance.format = Some(format);
                        vec![]
                    }
                    Err(message) => {
                        utterance.rejected = true;
                        vec![Event::error(error_code::AUDIO_FORMAT, &message)]
                    }
                }
            }
            kind::AUDIO_CHUNK => self.append_chunk(&event, utterance),
            kind::AUDIO_STOP => {
                let done = std::mem::take(utterance);
                if done.rejected {
                    return vec![];
                }
                let Some(format) = done.format else {
                    return vec![Event::error(
                        error_code::NO_AUDIO_START,
                        "audio-stop without audio-start: send audio-start with rate, width and channels first",
                    )];
                };
                vec![
                    self.finish(
                        done.samples,
                        format.rate,
                        done.prompt,
                        done.grammar,
                        done.whole_window,
                    )
                    .await,
                ]
            }
            other => {
                tracing::debug!(event = other, "ignoring event");
                vec![]
            }
        }
    }

    fn append_chunk(&self, event: &Event, utterance: &mut Utterance) -> Vec<Event> {
        if utterance.rejected {
            return vec![];
        }
        // A chunk carries its own format; a client may skip audio-start (older satellites).
        let format = match event.audio_format() {
            Ok(format) => format,
            Err(message) => {
                utterance.rejected = true;
                return vec![Event::error(error_code::AUDIO_FORMAT, &message)];
            }
        };
        if let Some(started) = utterance.format
            && started != format
        {
            utterance.rejected = true;
            return vec![Event::error(
                error_code::AUDIO_FORMAT,
                &format!(
                    "audio-chunk format {}/{}/{} differs from audio-start's {}/{}/{} (rate/width/channels)",
                    format.rate,
                    format.width,
                    format.channels,
                    started.rate,
                    started.width,
                    started.channels
                ),
            )];
        }
        utterance.format = Some(format);
        let payload = event.payload.as_deref().unwrap_or_default();
        match decode_mono(payload, format) {
            Ok(samples) => {
                let limit = self.recognizer.options().max_audio_s as usize * format.rate as usize;
                if utterance.samples.len() + samples.len() > limit {
                    utterance.rejected = true;
                    return vec![Event::error(
                        error_code::AUDIO_TOO_LONG,
                        &format!(
                            "audio exceeds the limit of {} s",
                            self.recognizer.options().max_audio_s
                        ),
                    )];
                }
                utterance.samples.extend(samples);
                vec![]
            }
            Err(e) => {
                utterance.rejected = true;
                vec![Event::error(error_code::AUDIO_FORMAT, &e.to_string())]
            }
        }
    }

    async fn finish(
        &self,
        samples: Vec<f32>,
        rate: u32,
        prompt: Option<String>,
        grammar: Option<Result<RequestGrammar, String>>,
        whole_window: bool,
    ) -> Event {
        let Ok(_slot) = self.decode_slots.clone().acquire_owned().await else {
            return Event::error(error_code::DECODE, "the worker is shutting down");
        };
        let recognizer = self.recognizer.clone();
        let started = Instant::now();
        let cpu_before = process_cpu_ms();
        let (grammar, grammar_error) = match grammar {
            Some(Ok(g)) => (Some(g), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let result = tokio::task::spawn_blocking(move || {
            let bias = grammar.as_ref().map(|g| GrammarBias {
                grammar: &g.grammar,
                known: g
                    .known
                    .as_ref()
                    .map(|(values, carrier)| KnownValues { values, carrier }),
                penalty: g.penalty,
                max_drop: g.max_drop,
                rival_gap: g.rival_gap,
            });
            let samples = edge_protocol::resample_to_speech_rate(samples, rate)
                .map_err(|e| (error_code::AUDIO_FORMAT, e.to_string()))?;
            let window = if whole_window {
                Window::Whole
            } else {
                Window::Fitted
            };
            recognizer
                .transcribe_in(window, &samples, prompt.as_deref(), bias)
                .map_err(|e| match e {
                    crate::recognizer::RecognizerError::TooLong { .. } => {
                        (error_code::AUDIO_TOO_LONG, e.to_string())
                    }
                    other => (error_code::DECODE, other.to_string()),
                })
        })
        .await;
        let decode_ms = started.elapsed().as_secs_f64() * 1000.0;
        // The process's CPU over the request: with one decode at a time, the decode's.
        let cpu_ms = process_cpu_ms()
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        match result {
            Ok(Ok(Transcription {
                text,
                hypotheses,
                audio_ms,
                audio_ctx,
                silent,
            })) => {
                let biased = hypotheses
                    .iter()
                    .find(|h| {
                        matches!(
                            h.source,
                            HypothesisSource::Grammar | HypothesisSource::Known
                        )
                    })
                    .map_or("", |h| h.text.as_str());
                tracing::info!(audio_ms, decode_ms, ?cpu_ms, audio_ctx, silent, %text, biased, "transcribed");
                let mut event = Event::new(kind::TRANSCRIPT)
                    .with("text", text)
                    .with("language", "en")
                    .with("audio_ms", audio_ms)
                    .with("decode_ms", (decode_ms * 10.0).round() / 10.0)
                    .with("cpu_ms", cpu_ms.map(|ms| (ms * 10.0).round() / 10.0))
                    .with(
                        "hypotheses",
                        hypotheses.iter().map(hypothesis_json).collect::<Vec<_>>(),
                    );
                if let Some(e) = grammar_error {
                    event = event.with("grammar_error", e);
                }
                event
            }
            Ok(Err((code, message))) => Event::error(code, &message),
            Err(e) => Event::error(error_code::DECODE, &format!("decoder task failed: {e}")),
        }
    }
}

/// User and system CPU time of this process so far, ms (None if the kernel will not say).
fn process_cpu_ms() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a whole `rusage` into the pointer on success.
    #[allow(unsafe_code)]
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    Some(ms(usage.ru_utime) + ms(usage.ru_stime))
}

/// A hypothesis in the `transcript` event (an extension field plain clients ignore).
fn hypothesis_json(h: &Hypothesis) -> serde_json::Value {
    let round = |x: f32| (f64::from(x) * 1000.0).round() / 1000.0;
    json!({
        "text": h.text,
        "source": h.source.as_str(),
        "logprob": round(h.logprob),
        "tokens": h.tokens,
        "in_grammar": h.in_grammar,
        "words": h.words.iter().map(|w| json!({"word": w.word, "p": round(w.probability)})).collect::<Vec<_>>(),
    })
}
