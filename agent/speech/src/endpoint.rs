//! Voice-activity endpointing with earshot: a command ends by itself after trailing silence.

use earshot::Detector;

/// Samples per VAD frame (16 ms at 16 kHz), fixed by earshot.
pub const FRAME: usize = 256;

/// Endpointing thresholds.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// VAD score at or above which a frame is speech.
    pub threshold: f32,
    /// Speech needed before an utterance counts as started, in ms.
    pub min_speech_ms: u32,
    /// Silence after speech that ends the utterance, in ms.
    pub trailing_silence_ms: u32,
    /// Longest utterance, in ms; the command is cut there.
    pub max_utterance_ms: u32,
    /// How long to wait for speech to start before giving up, in ms.
    pub no_speech_timeout_ms: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_speech_ms: 96,
            trailing_silence_ms: 700,
            max_utterance_ms: 10_000,
            no_speech_timeout_ms: 5_000,
        }
    }
}

/// What the endpointer decided after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Still waiting for speech.
    Waiting,
    /// Inside an utterance.
    Speaking,
    /// Speech followed by enough silence: the command is complete.
    Ended,
    /// The utterance reached the maximum length.
    MaxLength,
    /// Nobody spoke before the timeout.
    NoSpeech,
}

/// Feeds 16 kHz audio frame by frame and tells when the utterance is over.
pub struct Endpointer {
    config: EndpointConfig,
    detector: Box<Detector>,
    pending: Vec<i16>,
    elapsed_ms: u32,
    speech_ms: u32,
    silence_ms: u32,
    started: bool,
    done: Option<Endpoint>,
}

const FRAME_MS: u32 = 16;

impl std::fmt::Debug for Endpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpointer")
            .field("config", &self.config)
            .field("elapsed_ms", &self.elapsed_ms)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Endpointer {
    pub fn new(config: EndpointConfig) -> Self {
        Self {
            config,
            detector: Detector::default_boxed(),
            pending: Vec::with_capacity(FRAME),
            elapsed_ms: 0,
            speech_ms: 0,
            silence_ms: 0,
            started: false,
            done: None,
        }
    }

    /// Whether speech has started.
    pub fn heard_speech(&self) -> bool {
        self.started
    }

    /// Feeds samples of any length; returns the state after the last whole frame.
    pub fn push(&mut self, samples: &[i16]) -> Endpoint {
        if let Some(done) = self.done {
            return done;
        }
        let mut state = if self.started {
            Endpoint::Speaking
        } else {
            Endpoint::Waiting
        };
        for &s in samples {
            self.pending.push(s);
            if self.pending.len() < FRAME {
                continue;
            }
            let score = self.detector.predict_i16(&self.pending);
            self.pending.clear();
            state = self.step(score >= self.config.threshold);
            if matches!(
                state,
                Endpoint::Ended | Endpoint::MaxLength | Endpoint::NoSpeech
            ) {
                self.done = Some(state);
                return state;
            }
        }
        state
    }

    fn step(&mut self, voiced: bool) -> Endpoint {
        self.elapsed_ms += FRAME_MS;
        if voiced {
            self.speech_ms += FRAME_MS;
            self.silence_ms = 0;
            if self.speech_ms >= self.config.min_speech_ms {
                self.started = true;
            }
        } else {
            self.silence_ms += FRAME_MS;
            if !self.started {
                // Isolated clicks before the command do not add up to speech.
                self.speech_ms = 0;
            }
        }
        if self.elapsed_ms >= self.config.max_utterance_ms {
            return if self.started {
                Endpoint::MaxLength
            } else {
                Endpoint::NoSpeech
            };
        }
        if self.started {
            if self.silence_ms >= self.config.trailing_silence_ms {
                Endpoint::Ended
            } else {
                Endpoint::Speaking
            }
        } else if self.elapsed_ms >= self.config.no_speech_timeout_ms {
            Endpoint::NoSpeech
        } else {
            Endpoint::Waiting
        }
    }
}

/// Leading and trailing non-speech of a whole recording, cut before decoding (a file or an
/// upload has no endpointer in front of it). Keeps `pad_ms` of context on either side, and
/// the recording as it is when the detector finds no speech in it (the recogniser's own
/// silence check decides then).
pub fn trim_silence<'a>(samples: &'a [i16], config: &EndpointConfig, pad_ms: u32) -> &'a [i16] {
    let mut detector = Detector::default_boxed();
    let min_frames = (config.min_speech_ms / FRAME_MS).max(1) as usize;
    let (mut first, mut last, mut run) = (None, None, 0usize);
    for (i, frame) in samples.chunks_exact(FRAME).enumerate() {
        if detector.predict_i16(frame) >= config.threshold {
            run += 1;
            if run >= min_frames {
                first.get_or_insert(i + 1 - run);
                last = Some(i);
            }
        } else {
            run = 0;
        }
    }
    let (Some(first), Some(last)) = (first, last) else {
        return samples;
    };
    let pad = pad_ms as usize * 16;
    let start = (first * FRAME).saturating_sub(pad);
    let end = ((last + 1) * FRAME + pad).min(samples.len());
    &samples[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_alone_times_out_without_speech() {
        let mut ep = Endpointer::new(EndpointConfig {
            no_speech_timeout_ms: 1000,
            ..EndpointConfig::default()
        });
        let state = ep.push(&vec![0; 16_000 * 2]);
        assert_eq!(state, Endpoint::NoSpeech);
        assert!(!ep.heard_speech());
    }

    #[test]
    fn state_machine_ends_after_trailing_silence() {
        // The detector's scores are exercised by the speech tests; here the timing rules.
        let mut ep = Endpointer::new(EndpointConfig::default());
        for _ in 0..20 {
            assert_ne!(ep.step(true), Endpoint::Ended);
        }
        assert!(ep.heard_speech());
        let mut state = Endpoint::Speaking;
        let mut silent_frames = 0;
        while state == Endpoint::Speaking {
            state = ep.step(false);
            silent_frames += 1;
        }
        assert_eq!(state, Endpoint::Ended);
        assert_eq!(silent_frames * FRAME_MS, 704);
    }

    #[test]
    fn a_recording_without_speech_is_left_as_it_is() {
        let quiet = vec![0i16; 16_000];
        assert_eq!(
            trim_silence(&quiet, &EndpointConfig::default(), 250).len(),
            16_000
        );
    }

    #[test]
    fn long_speech_is_cut_at_the_maximum() {
        let mut ep = Endpointer::new(EndpointConfig {
            max_utterance_ms: 1600,
            ..EndpointConfig::default()
        });
        let mut state = Endpoint::Waiting;
        for _ in 0..100 {
            state = ep.step(true);
        }
        assert_eq!(state, Endpoint::MaxLength);
    }
}
