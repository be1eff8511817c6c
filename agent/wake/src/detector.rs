//! openWakeWord's streaming pipeline: 16 kHz audio → mel spectrogram (a TFLite model) →
//! speech embeddings (a TFLite model over 76 mel frames) → one classifier per wake phrase
//! (a TFLite model over the last few embeddings) → a probability every 80 ms.
//!
//! Every stage is a sliding window over the stream of the stage before it: mel windows of
//! 1760 samples every 1280, embedding windows of 76 mel frames every 8, classifier windows
//! of N embeddings every one. Like the reference implementation, a detector starts from
//! 8 s of silence, so its first probabilities have the context they were trained with.

use crate::tflite::{Interpreter, Model, Runtime, TfliteError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Samples per step: one probability per 80 ms.
pub const STEP_SAMPLES: usize = 1280;
const MEL_WINDOW_SAMPLES: usize = 1760;
const MEL_BANDS: usize = 32;
const EMBEDDING_FRAMES: usize = 76;
const EMBEDDING_STEP_FRAMES: usize = 8;
const EMBEDDING_FEATURES: usize = 96;
/// Silence a fresh detector has "heard" (the reference's warm-up).
const WARM_UP_SAMPLES: usize = 8 * 16_000;

/// The feature models and the wake phrases' classifiers, loaded once and shared by every
/// stream.
#[derive(Debug, Clone)]
pub struct WakeModels {
    melspectrogram: Arc<Model>,
    embedding: Arc<Model>,
    phrases: Vec<(String, Arc<Model>)>,
}

/// What cannot be loaded, naming the file or phrase.
#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    #[error(transparent)]
    Tflite(#[from] TfliteError),
    #[error(
        "wake word model {name:?}: {path} does not exist (agent/models/provision.sh wake puts {known} in the model directory)"
    )]
    UnknownModel {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error("{path}: expected input [1, N, {EMBEDDING_FEATURES}], found {dims:?}")]
    ClassifierShape { path: PathBuf, dims: Vec<i32> },
}

/// The phrases openWakeWord's package ships.
pub const SHIPPED_PHRASES: [&str; 5] = [
    "okay_nabu",
    "hey_jarvis",
    "alexa",
    "hey_mycroft",
    "hey_rhasspy",
];

impl WakeModels {
    /// Loads `melspectrogram.tflite`, `embedding_model.tflite` and each phrase, given by
    /// name (`okay_nabu`: `<dir>/okay_nabu.tflite`) or as a path to a `.tflite` file.
    pub fn load(runtime: &Runtime, dir: &Path, phrases: &[String]) -> Result<Self, WakeError> {
        let mut loaded = Vec::new();
        for phrase in phrases {
            let path = if phrase.ends_with(".tflite") {
                PathBuf::from(phrase)
            } else {
                dir.join(format!("{phrase}.tflite"))
            };
            if !path.is_file() {
                return Err(WakeError::UnknownModel {
                    name: phrase.clone(),
                    path,
                    known: SHIPPED_PHRASES.join(", "),
                });
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| phrase.clone());
            let model = runtime.model(&path)?;
            // Checked now, so a stream never fails on a wrong classifier.
            let probe = Interpreter::new(&model, None)?;
            let dims = probe.input_dims();
            if dims.len() != 3 || dims[2] != EMBEDDING_FEATURES as i32 || dims[1] < 1 {
                return Err(WakeError::ClassifierShape {
                    path,
                    dims: dims.to_vec(),
                });
            }
            loaded.push((name, model));
        }
        Ok(Self {
            melspectrogram: runtime.model(&dir.join("melspectrogram.tflite"))?,
            embedding: runtime.model(&dir.join("embedding_model.tflite"))?,
            phrases: loaded,
        })
    }

    /// The loaded phrases' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.phrases.iter().map(|(name, _)| name.as_str())
    }
}

/// A growing stream of items of `width` floats, read by windows of `window` items every
/// `step` items; what no window can need again is dropped.
#[derive(Debug)]
struct Windows {
    width: usize,
    window: usize,
    step: usize,
    data: Vec<f32>,
    /// Item index (in `data`) where the next window starts.
    next: usize,
}

impl Windows {
    fn new(width: usize, window: usize, step: usize) -> Self {
        Self {
            width,
            window,
            step,
            data: Vec::new(),
            next: 0,
        }
    }

    fn push(&mut self, items: &[f32]) {
        self.data.extend_from_slice(items);
    }

    /// The next full window, if the stream has one yet.
    fn next_window(&mut self) -> Option<&[f32]> {
        let items = self.data.len() / self.width;
        if items < self.next + self.window {
            return None;
        }
        let start = self.next * self.width;
        self.next += self.step;
        Some(&self.data[start..start + self.window * self.width])
    }

    /// Drops the items before the next window.
    fn compact(&mut self) {
        if self.next > 0 {
            self.data.drain(..self.next * self.width);
            self.next = 0;
        }
    }
}

/// One audio stream's detector: push 16 kHz samples, get every phrase's probabilities.
#[derive(Debug)]
pub struct Detector {
    melspectrogram: Interpreter,
    embedding: Interpreter,
    phrases: Vec<(String, Interpreter)>,
    audio: Windows,
    mels: Windows,
    embeddings: Vec<Windows>,
    scratch: Vec<f32>,
}

/// A phrase's probability at a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub name: String,
    pub probability: f32,
}

impl Detector {
    /// A detector for every loaded phrase, warmed up on silence.
    pub fn new(models: &WakeModels) -> Result<Self, WakeError> {
        let melspectrogram = Interpreter::new(
            &models.melspectrogram,
            Some(&[1, MEL_WINDOW_SAMPLES as i32]),
        )?;
        let embedding = Interpreter::new(
            &models.embedding,
            Some(&[1, EMBEDDING_FRAMES as i32, MEL_BANDS as i32, 1]),
        )?;
        let mut phrases = Vec::new();
        let mut embeddings = Vec::new();
        for (name, model) in &models.phrases {
            let interpreter = Interpreter::new(model, None)?;
            let windows = interpreter.input_dims()[1] as usize;
            embeddings.push(Windows::new(EMBEDDING_FEATURES, windows, 1));
            phrases.push((name.clone(), interpreter));
        }
        let mut detector = Self {
            melspectrogram,
            embedding,
            phrases,
            audio: Windows::new(1, MEL_WINDOW_SAMPLES, STEP_SAMPLES),
            mels: Windows::new(MEL_BANDS, EMBEDDING_FRAMES, EMBEDDING_STEP_FRAMES),
            embeddings,
            scratch: Vec::new(),
        };
        detector.push_f32(&vec![0.0; WARM_UP_SAMPLES])?;
        Ok(detector)
    }

    /// Pushes 16-bit samples; returns the probabilities of the steps they completed, in
    /// order (one `Vec` per step, one score per phrase).
    pub fn push(&mut self, samples: &[i16]) -> Result<Vec<Vec<Score>>, TfliteError> {
        let floats: Vec<f32> = samples.iter().map(|&s| f32::from(s)).collect();
        self.push_f32(&floats)
    }

    /// Samples in the 16-bit range, as floats.
    fn push_f32(&mut self, samples: &[f32]) -> Result<Vec<Vec<Score>>, TfliteError> {
        let mut steps = Vec::new();
        self.audio.push(samples);
        while let Some(window) = self.audio.next_window() {
            let window = window.to_vec();
            self.melspectrogram.run(&window, &mut self.scratch)?;
            // The embedding model was trained on mels scaled this way.
            let mels: Vec<f32> = self.scratch.iter().map(|m| m / 10.0 + 2.0).collect();
            self.mels.push(&mels);
            while let Some(frames) = self.mels.next_window() {
                let frames = frames.to_vec();
                self.embedding.run(&frames, &mut self.scratch)?;
                let mut step = Vec::with_capacity(self.phrases.len());
                for ((name, classifier), stream) in
                    self.phrases.iter_mut().zip(self.embeddings.iter_mut())
                {
                    stream.push(&self.scratch);
                    if let Some(window) = stream.next_window() {
                        let window = window.to_vec();
                        let mut probability = Vec::new();
                        classifier.run(&window, &mut probability)?;
                        step.push(Score {
                            name: name.clone(),
                            probability: probability.first().copied().unwrap_or(0.0),
                        });
                    }
                    stream.compact();
                }
                if !step.is_empty() {
                    steps.push(step);
                }
            }
            self.mels.compact();
        }
        self.audio.compact();
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::Windows;

    #[test]
    fn windows_slide_by_their_step_and_forget_what_is_behind() {
        let mut w = Windows::new(2, 3, 2);
        w.push(&[0.0, 0.0, 1.0, 1.0]);
        assert!(w.next_window().is_none());
        w.push(&[2.0, 2.0, 3.0, 3.0, 4.0, 4.0]);
        assert_eq!(w.next_window(), Some(&[0.0, 0.0, 1.0, 1.0, 2.0, 2.0][..]));
        assert_eq!(w.next_window(), Some(&[2.0, 2.0, 3.0, 3.0, 4.0, 4.0][..]));
        assert!(w.next_window().is_none());
        w.compact();
        assert_eq!(w.data, vec![4.0, 4.0]);
        w.push(&[5.0, 5.0, 6.0, 6.0]);
        assert_eq!(w.next_window(), Some(&[4.0, 4.0, 5.0, 5.0, 6.0, 6.0][..]));
    }
}
