//! Tier 1 of intent recognition: templates from the skills' manifests, matched against
//! normalised ASR output in well under a millisecond.
//!
//! A second, tolerant pass recovers misheard speech ("start bump free") when the exact
//! pass finds nothing; see [`engine::near_miss`].
//!
//! For the language-model tier it also describes the intents as a schema, generates the
//! GBNF grammar that constrains the model's answer, and validates that answer; see
//! [`schema`] and [`grammar`]. The model itself runs elsewhere (a worker process).
//!
//! [`NluSection`] is its configuration section, `[nlu]` (threshold and entity lists).
//!
//! Depends on `edge-core`, two pure-Rust text crates (`rphonetic` for phonetic codes,
//! `strsim` for string distances) and `serde_json` (the model answers in JSON); never on a
//! transport, runtime or native library.

pub mod engine;
pub mod evaluation;
pub mod grammar;
pub mod normalize;
pub mod numbers;
pub mod phonetic;
pub mod recognition_grammar;
mod render;
pub mod schema;
mod section;
pub mod spotter;
pub mod template;

pub use engine::{CompileError, TemplateEngine};
pub use evaluation::{Evaluation, Expectation};
pub use render::spoken_value;
pub use schema::{IntentSchema, SchemaError, SlotProblem, TrainingSentence, TrainingSource};
pub use section::NluSection;
pub use spotter::{Doubt, HeardDoubts};

use edge_core::LoadedManifest;
use std::path::Path;

/// Manifests that are part of the agent itself (dialogue answers), always installed.
pub fn builtin_manifests() -> Vec<LoadedManifest> {
    const DIALOG: &str = include_str!("../builtin/dialog.toml");
    match LoadedManifest::parse(Path::new("<built-in>/dialog.toml"), DIALOG) {
        Ok(m) => vec![m],
        Err(e) => unreachable!("built-in manifest is checked by tests: {e}"),
    }
}

/// The negative set the embedding tier's `none` class is fitted on: requests no skill owns
/// (chit-chat, questions, other domains, and near misses such as "turn on the seat
/// heating"). Written by hand before any tuning; never overlapping the held-out set
/// (`tests/resources/nlu/README.md`). One sentence a line, `#` comments.
pub fn builtin_negatives() -> Vec<&'static str> {
    const NEGATIVES: &str = include_str!("../builtin/negatives.txt");
    NEGATIVES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}
