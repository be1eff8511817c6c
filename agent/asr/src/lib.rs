//! `edge-asr`: the speech worker. Loads a whisper.cpp model and serves the Wyoming ASR
//! protocol, tuned for short commands (encoder window fitted to the audio, greedy decoding,
//! no timestamps, a vocabulary prompt from the installed skills).

pub mod recognizer;
pub mod server;

pub use recognizer::{DecodeOptions, Recognizer, RecognizerError, Transcription};
pub use server::AsrService;
