//! `edge-slm`: the small-language-model tier of intent recognition, in its own process
//! (llama.cpp's ggml cannot share a binary with whisper.cpp's).
//!
//! First piece (issue 6): choosing the intent by **multiple-choice labels with distinct
//! first tokens**. The prompt lists every intent under a letter; one forward pass over the
//! utterance gives the next-token distribution, read only at the label tokens. The listing
//! (the prompt's prefix) is decoded once and its KV cache kept: a request evaluates only
//! the utterance and the answer cue. Slot filling under a grammar is the next piece.

pub mod classifier;

pub use classifier::{Candidate, Choice, Classifier, ClassifierError, ClassifierOptions, Method};
