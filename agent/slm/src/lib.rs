//! `edge-slm`: the small-language-model tier of intent recognition, in its own process
//! (llama.cpp's ggml cannot share a binary with whisper.cpp's).
//!
//! - [`engine`]: chooses the intent by the likelihood of the utterance after each intent's
//!   cached prompt (the "noisy channel"), then writes its slots under the intent's GBNF
//!   grammar; and chooses among a question's options for a free-form answer
//!   (`slm-choose`), or none.
//! - [`encoder`]: unit-length sentence vectors from a BERT-style encoder (all-MiniLM-L6-v2)
//!   for the embedding intent tier.
//! - [`server`]: the worker's Wyoming-style service around one inference thread.

pub mod encoder;
pub mod engine;
pub mod server;

pub use encoder::{SentenceEncoder, cosine, unit_length};
pub use engine::{
    DEFAULT_CHOICE_MIN_CONFIDENCE, DEFAULT_CHOICE_MIN_SCORE, DEFAULT_LITERAL_PASS, EngineError,
    EngineOptions, IntentEngine, LiteralPass, MAX_INTENTS, NONE_INTENT, choice_option_line,
    choice_question, intent_prompt, literal_choice,
};
pub use server::SlmService;
