//! `edge-slm`: the small-language-model tier of intent recognition, in its own process
//! (llama.cpp's ggml cannot share a binary with whisper.cpp's).
//!
//! - [`engine`]: chooses the intent by the likelihood of the utterance after each intent's
//!   cached prompt (the "noisy channel"), then writes its slots under the intent's GBNF
//!   grammar.
//! - [`server`]: the worker's Wyoming-style service around one inference thread.

pub mod engine;
pub mod server;

pub use engine::{EngineError, EngineOptions, IntentEngine, NONE_INTENT, intent_prompt};
pub use server::SlmService;
