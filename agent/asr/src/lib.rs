//! `edge-asr`: the speech worker. Loads a whisper.cpp model and serves the Wyoming ASR
//! protocol, tuned for short commands (encoder window fitted to the audio, greedy decoding,
//! no timestamps, a vocabulary prompt from the installed skills).

pub mod beam;
pub mod bias;
pub mod echo;
pub mod grammar;
pub mod recognizer;
pub mod repair;
pub mod server;

pub use grammar::{Grammar, GrammarError, TextCursor};
pub use recognizer::{
    DecodeOptions, GRAMMAR_BEAM_SIZE, GRAMMAR_REPAIRS, GrammarBias, Hypothesis, HypothesisSource,
    MAX_RIVALS, RIVAL_NATS, Recognizer, RecognizerError, Transcription, Window,
};
pub use server::AsrService;
