//! The wake word worker's parts: the TensorFlow Lite runtime ([`tflite`]), openWakeWord's
//! streaming pipeline ([`detector`]) and the Wyoming wake server ([`server`]).
//!
//! Why openWakeWord: its features are themselves TFLite models (mel spectrogram, speech
//! embedding), so one runtime file runs everything; microWakeWord's models need the TFLM
//! audio front end (noise reduction, PCAN gain) in native code of its own. Why a worker:
//! the runtime is foreign native code (a crash must not take the daemon down), and the
//! Wyoming wake protocol lets the daemon use any Wyoming wake server instead, as Home
//! Assistant does.

pub mod detector;
pub mod server;
pub mod tflite;

pub use detector::{Detector, SHIPPED_PHRASES, STEP_SAMPLES, Score, WakeError, WakeModels};
pub use server::{Decision, Trigger, WakeService};
pub use tflite::{Runtime, TfliteError};
