//! Live listening: audio from the configured source, endpointed by voice activity and
//! streamed to the recogniser while the person speaks, so only the tail is left to decode
//! when the command ends. Push-to-talk (D-Bus StartListening/StopListening, MQTT
//! `cmd/listen`), continuous, or after the wake word (`[wake]`).

use crate::pipeline::WakeEvent;
use crate::speech::{Speech, SpeechError};
use crate::voice::Voice;
use crate::wake::{Wake, WakeError, WakeStream};
use edge_config::{AgentConfig, AudioSource, ListenMode};
use edge_protocol::AudioFormat;
use edge_speech::source::LiveAudio;
use edge_speech::{AsrClient, Endpoint, EndpointConfig, Endpointer};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Speech kept from before the endpointer was sure someone speaks (continuous mode).
const PREROLL_FRAMES: usize = 3;

/// Controls the listening task.
#[derive(Debug, Clone)]
pub struct Listening {
    control: mpsc::Sender<Request>,
    source: String,
    /// Stopped when push-to-talk starts (barge-in).
    voice: Arc<Voice>,
    progress: Arc<Progress>,
}

/// What the listening task has done so far, for the status: callers (and tests) wait for
/// it instead of guessing how long the task takes.
#[derive(Debug, Default)]
struct Progress {
    /// Whether a command is being listened to now.
    active: AtomicBool,
    /// Samples taken from the source.
    samples: AtomicU64,
    /// Whether a stream to the wake word server is open.
    wake_stream: AtomicBool,
}

impl Progress {
    /// The frames the source has queued by now, counted as taken (the status' `heard_ms`
    /// tells a caller its audio was taken, whether or not it became a command).
    fn take_queued(&self, frames: &mut mpsc::Receiver<Vec<i16>>) -> Vec<Vec<i16>> {
        let mut queued = Vec::new();
        while let Ok(frame) = frames.try_recv() {
            self.took(&frame);
            queued.push(frame);
        }
        queued
    }

    fn took(&self, frame: &[i16]) {
        self.samples
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
    }
}

/// Push-to-talk pressed (`true`) or released, answered once the task has acted on it.
type Request = (bool, oneshot::Sender<Result<(), ListenError>>);

/// Why listening cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("no live audio: audio.source is \"none\" (submit recordings with Listen instead)")]
    NoSource,
    #[error("the audio source has ended")]
    SourceEnded,
    #[error(transparent)]
    Recogniser(#[from] SpeechError),
}

impl Listening {
    /// Opens the configured source and starts the task; `Ok(None)` without a source.
    pub fn spawn(
        config: &AgentConfig,
        speech: Arc<Speech>,
        voice: Arc<Voice>,
        wake: Option<Arc<Wake>>,
    ) -> anyhow::Result<Option<Self>> {
        let audio = match config.audio.source {
            AudioSource::None => return Ok(None),
            AudioSource::Stdin => edge_speech::source::stdin(),
            AudioSource::Alsa => edge_speech::source::alsa(&config.audio.device)?,
        };
        let endpoint = EndpointConfig {
            threshold: config.audio.vad_threshold,
            trailing_silence_ms: config.audio.trailing_silence_ms,
            max_utterance_ms: config.audio.max_utterance_ms,
            no_speech_timeout_ms: config.audio.no_speech_timeout_ms,
            ..EndpointConfig::default()
        };
        let (control, requests) = mpsc::channel(8);
        let progress = Arc::new(Progress::default());
        let source = audio.name.clone();
        tracing::info!(source = %source, mode = ?config.audio.mode, wake = wake.is_some(), "listening for speech");
        tokio::spawn(run(
            audio,
            config.audio.mode,
            endpoint,
            speech,
            requests,
            progress.clone(),
            wake.map(|wake| WakeWatch {
                wake,
                voice: voice.clone(),
                progress: progress.clone(),
                stream: None,
                sent_ms: 0,
                recent: VecDeque::new(),
                retry_at: Instant::now(),
            }),
        ));
        Ok(Some(Self {
            control,
            source,
            voice,
            progress,
        }))
    }

    /// Push-to-talk pressed: a spoken reply stops at once (barge-in), then listen until
    /// released or the endpointer ends the command. Returns once audio is being streamed
    /// to the recogniser.
    pub async fn start(&self) -> Result<(), ListenError> {
        self.voice.stop();
        self.request(true).await
    }

    /// Push-to-talk released: the command ends now.
    pub async fn stop(&self) -> Result<(), ListenError> {
        self.request(false).await
    }

    async fn request(&self, start: bool) -> Result<(), ListenError> {
        let (reply, answer) = oneshot::channel();
        self.control
            .send((start, reply))
            .await
            .map_err(|_| ListenError::SourceEnded)?;
        answer.await.map_err(|_| ListenError::SourceEnded)?
    }

    /// `{"listening": bool, "source": ...}` for the APIs.
    pub fn state_json(&self) -> String {
        serde_json::json!({
            "listening": self.progress.active.load(Ordering::Relaxed),
            "source": self.source,
        })
        .to_string()
    }

    /// For the status: listening or not, the source, the audio taken from it so far and
    /// whether a wake word stream is open.
    pub fn status(&self) -> serde_json::Value {
        let samples = self.progress.samples.load(Ordering::Relaxed);
        serde_json::json!({
            "listening": self.progress.active.load(Ordering::Relaxed),
            "source": self.source,
            "heard_ms": samples * 1000 / u64::from(edge_protocol::SAMPLE_RATE),
            "wake_stream": self.progress.wake_stream.load(Ordering::Relaxed),
        })
    }
}

/// One command being heard.
struct Session {
    client: AsrClient,
    endpointer: Endpointer,
    /// Audio taken since the session opened.
    samples: usize,
    /// Audio sent to the recogniser, kept for a second listen (`Speech::act`).
    sent: Vec<u8>,
    lead: Lead,
}

/// The silence between a press (or the wake word) and the speech is not decoded, as it is
/// cut from a recording in batch mode: the figures measured on trimmed recordings hold for
/// live audio, and the encoder runs on the speech only. The last frames before the onset
/// are kept, as [`edge_speech::wav::TRIM_PAD_MS`] is around a recording's speech.
#[derive(Debug)]
struct Lead {
    frames: VecDeque<Vec<i16>>,
    max_frames: usize,
}

impl Lead {
    fn new() -> Self {
        let frame_ms =
            edge_speech::source::FRAME_SAMPLES as u32 * 1000 / edge_protocol::SAMPLE_RATE;
        Self {
            frames: VecDeque::new(),
            max_frames: edge_speech::wav::TRIM_PAD_MS.div_ceil(frame_ms) as usize,
        }
    }

    /// The frames to send now: none before the speech (the frame is kept), then the kept
    /// frames and this one.
    fn pass(&mut self, frame: &[i16], speech_started: bool) -> Vec<Vec<i16>> {
        self.frames.push_back(frame.to_vec());
        if speech_started {
            return self.frames.drain(..).collect();
        }
        if self.frames.len() > self.max_frames {
            self.frames.pop_front();
        }
        Vec::new()
    }
}

async fn open(speech: &Speech, endpoint: &EndpointConfig) -> Result<Session, ListenError> {
    let connected = async {
        let mut client = speech.connect().await?;
        client
            .start(&speech.hints(), AudioFormat::SPEECH)
            .await
            .map_err(SpeechError::from)?;
        Ok::<_, SpeechError>(client)
    };
    match connected.await {
        Ok(client) => Ok(Session {
            client,
            endpointer: Endpointer::new(endpoint.clone()),
            samples: 0,
            sent: Vec::new(),
            lead: Lead::new(),
        }),
        Err(e) => {
            tracing::error!("cannot listen: {e}");
            Err(e.into())
        }
    }
}

/// Takes one frame and streams it once speech has started; returns the endpointer's
/// decision (or `NoSpeech` after an ASR error).
async fn feed(session: &mut Session, frame: &[i16]) -> Endpoint {
    session.samples += frame.len();
    let decision = session.endpointer.push(frame);
    for frame in session.lead.pass(frame, session.endpointer.heard_speech()) {
        let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
        if let Err(e) = session.client.chunk(&bytes, AudioFormat::SPEECH).await {
            tracing::error!("speech stream broken: {e}");
            return Endpoint::NoSpeech;
        }
        session.sent.extend_from_slice(&bytes);
    }
    decision
}

async fn finish(speech: &Speech, mut session: Session, heard: bool) {
    let end_of_audio = Instant::now();
    let ms = |samples: usize| (samples as u64 * 1000) / u64::from(edge_protocol::SAMPLE_RATE);
    let sent = edge_speech::Pcm {
        bytes: std::mem::take(&mut session.sent),
    };
    let (audio_ms, speech_ms) = (ms(session.samples), sent.duration_ms());
    if !heard {
        // Nothing was sent: nothing to decode.
        tracing::info!(audio_ms, "nothing was said");
        return;
    }
    let transcript = match session.client.finish().await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("speech recognition failed: {e}");
            return;
        }
    };
    tracing::debug!(audio_ms, speech_ms, "command heard");
    match speech.act(transcript, &sent, end_of_audio).await {
        Ok(spoken) => tracing::debug!(end_to_action_ms = spoken.end_to_action_ms, "acted"),
        Err(e) => tracing::info!("spoken command not acted on: {e}"),
    }
}

/// Frames kept after being sent to the wake word server, for the command that follows:
/// the detection comes back after the frames that follow the phrase were sent, and a
/// source faster than real time (a file on stdin) may be seconds ahead of the detector.
const WAKE_RECENT_FRAMES: usize = 100;
/// Wait before connecting again after the wake word server failed.
const WAKE_RETRY: Duration = Duration::from_secs(2);

/// Between commands with `[wake]`: the live audio goes to the wake word server.
struct WakeWatch {
    wake: Arc<Wake>,
    voice: Arc<Voice>,
    progress: Arc<Progress>,
    /// The open stream (a fresh one after each command).
    stream: Option<WakeStream>,
    /// Audio sent on the stream so far, in ms.
    sent_ms: u64,
    /// The last frames sent, with where each starts in the stream (ms).
    recent: VecDeque<(u64, Vec<i16>)>,
    retry_at: Instant,
}

impl WakeWatch {
    fn set_stream(&mut self, stream: Option<WakeStream>) {
        self.progress
            .wake_stream
            .store(stream.is_some(), Ordering::Relaxed);
        self.stream = stream;
    }

    /// Sends a frame, opening a stream first when none is open.
    async fn send(&mut self, frame: &[i16]) {
        if self.stream.is_none() {
            if Instant::now() < self.retry_at {
                return;
            }
            match self.wake.open().await {
                Ok(stream) => {
                    self.set_stream(Some(stream));
                    self.sent_ms = 0;
                    self.recent.clear();
                }
                Err(e) => {
                    tracing::error!("cannot listen for the wake word: {e}");
                    self.retry_at = Instant::now() + WAKE_RETRY;
                    return;
                }
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if let Err(e) = stream.send(frame).await {
            tracing::error!("wake word stream broken: {e}");
            self.set_stream(None);
            self.retry_at = Instant::now() + WAKE_RETRY;
            return;
        }
        self.recent.push_back((self.sent_ms, frame.to_vec()));
        if self.recent.len() > WAKE_RECENT_FRAMES {
            self.recent.pop_front();
        }
        self.sent_ms += (frame.len() as u64 * 1000) / u64::from(edge_protocol::SAMPLE_RATE);
    }

    /// Announces a detection and closes the stream; returns the frames sent after the
    /// point where the phrase was heard (the start of the command).
    fn detected(&mut self, event: WakeEvent) -> Vec<Vec<i16>> {
        let heard_at = event.audio_ms.unwrap_or(self.sent_ms);
        self.wake.announce(event);
        self.voice.say(&self.wake.acknowledgement);
        self.set_stream(None);
        self.recent
            .drain(..)
            .filter(|(start, frame)| {
                let end =
                    start + (frame.len() as u64 * 1000) / u64::from(edge_protocol::SAMPLE_RATE);
                end > heard_at
            })
            .map(|(_, frame)| frame)
            .collect()
    }
}

/// The next detection of the open stream; pending while there is none.
async fn next_detection(watch: &mut Option<WakeWatch>) -> Result<WakeEvent, WakeError> {
    match watch.as_mut().and_then(|w| w.stream.as_mut()) {
        Some(stream) => match stream.detections.recv().await {
            Some(item) => item,
            None => Err(WakeError::Ended),
        },
        None => std::future::pending().await,
    }
}

async fn run(
    mut audio: LiveAudio,
    mode: ListenMode,
    endpoint: EndpointConfig,
    speech: Arc<Speech>,
    mut requests: mpsc::Receiver<Request>,
    progress: Arc<Progress>,
    mut wake: Option<WakeWatch>,
) {
    let mut session: Option<Session> = None;
    // Continuous mode: an endpointer watching for speech before a session exists.
    let idle_config = EndpointConfig {
        no_speech_timeout_ms: u32::MAX,
        max_utterance_ms: u32::MAX,
        ..endpoint.clone()
    };
    let mut watcher = Endpointer::new(idle_config.clone());
    let mut preroll: VecDeque<Vec<i16>> = VecDeque::new();
    loop {
        tokio::select! {
            // Requests first: audio written right after StartListening returned belongs to
            // the new command.
            biased;
            request = requests.recv() => match request {
                Some((true, reply)) => {
                    let result = if session.is_some() {
                        Ok(())
                    } else {
                        // Audio captured before the button was pressed is not the command.
                        progress.take_queued(&mut audio.frames);
                        open(&speech, &endpoint).await.map(|s| session = Some(s))
                    };
                    progress.active.store(session.is_some(), Ordering::Relaxed);
                    let _ = reply.send(result);
                }
                Some((false, reply)) => {
                    if let Some(mut s) = session.take() {
                        // Frames already queued were captured before the release: on a
                        // loaded board they are the end of the command, not to be cut.
                        for frame in progress.take_queued(&mut audio.frames) {
                            if let Endpoint::Ended | Endpoint::MaxLength | Endpoint::NoSpeech =
                                feed(&mut s, &frame).await
                            {
                                break;
                            }
                        }
                        let heard = s.endpointer.heard_speech();
                        finish(&speech, s, heard).await;
                    }
                    progress.active.store(false, Ordering::Relaxed);
                    let _ = reply.send(Ok(()));
                }
                None => return,
            },
            detection = next_detection(&mut wake), if session.is_none() => {
                let Some(watch) = wake.as_mut() else { continue };
                match detection {
                    Ok(event) => {
                        let after = watch.detected(event);
                        if let Ok(mut s) = open(&speech, &endpoint).await {
                            for frame in after {
                                feed(&mut s, &frame).await;
                            }
                            session = Some(s);
                            progress.active.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        tracing::error!("wake word stream: {e}");
                        watch.set_stream(None);
                        watch.retry_at = Instant::now() + WAKE_RETRY;
                    }
                }
            }
            frame = audio.frames.recv() => {
                let Some(frame) = frame else {
                    if let Some(s) = session.take() {
                        let heard = s.endpointer.heard_speech();
                        finish(&speech, s, heard).await;
                    }
                    progress.active.store(false, Ordering::Relaxed);
                    tracing::info!(source = %audio.name, "audio source ended");
                    // Keep answering requests so callers get a clear error.
                    while let Some((_, reply)) = requests.recv().await {
                        let _ = reply.send(Err(ListenError::SourceEnded));
                    }
                    return;
                };
                progress.took(&frame);
                if session.is_none()
                    && let Some(watch) = wake.as_mut()
                {
                    watch.send(&frame).await;
                    continue;
                }
                if session.is_none() && mode == ListenMode::Continuous {
                    preroll.push_back(frame.clone());
                    if preroll.len() > PREROLL_FRAMES {
                        preroll.pop_front();
                    }
                    if watcher.push(&frame) == Endpoint::Speaking {
                        // Speech started: stream what led up to it, then follow it live.
                        if let Ok(mut s) = open(&speech, &endpoint).await {
                            for earlier in preroll.drain(..) {
                                feed(&mut s, &earlier).await;
                            }
                            session = Some(s);
                            progress.active.store(true, Ordering::Relaxed);
                        }
                        watcher = Endpointer::new(idle_config.clone());
                    }
                    continue;
                }
                let Some(s) = session.as_mut() else { continue };
                match feed(s, &frame).await {
                    Endpoint::Waiting | Endpoint::Speaking => {}
                    Endpoint::Ended | Endpoint::MaxLength => {
                        if let Some(s) = session.take() {
                            finish(&speech, s, true).await;
                        }
                        progress.active.store(false, Ordering::Relaxed);
                    }
                    Endpoint::NoSpeech => {
                        if let Some(s) = session.take() {
                            finish(&speech, s, false).await;
                        }
                        progress.active.store(false, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: i16) -> Vec<i16> {
        vec![value; edge_speech::source::FRAME_SAMPLES]
    }

    #[test]
    fn silence_before_the_speech_is_held_back_and_only_its_last_half_second_is_sent() {
        let mut lead = Lead::new();
        assert_eq!(lead.max_frames, 5, "500 ms of 100 ms frames");
        for i in 0..20 {
            assert!(
                lead.pass(&frame(i), false).is_empty(),
                "frame {i} sent before speech"
            );
        }
        let sent = lead.pass(&frame(100), true);
        let firsts: Vec<i16> = sent.iter().map(|f| f[0]).collect();
        assert_eq!(firsts, vec![15, 16, 17, 18, 19, 100]);
        // Once speech has started every frame goes at once.
        assert_eq!(lead.pass(&frame(101), true), vec![frame(101)]);
    }

    #[test]
    fn speech_from_the_first_frame_is_sent_at_once() {
        let mut lead = Lead::new();
        assert_eq!(lead.pass(&frame(7), true), vec![frame(7)]);
    }
}
