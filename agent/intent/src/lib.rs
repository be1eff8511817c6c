//! Tier 1 of intent recognition: templates from the skills' manifests, matched against
//! normalised ASR output in well under a millisecond.
//!
//! A second, tolerant pass recovers misheard speech ("start bump free") when the exact
//! pass finds nothing; see [`engine::near_miss`].
//!
//! Depends on `edge-core` and two pure-Rust text crates (`rphonetic` for phonetic codes,
//! `strsim` for string distances); never on a transport, runtime or native library.

pub mod engine;
pub mod evaluation;
pub mod normalize;
pub mod numbers;
pub mod phonetic;
pub mod template;

pub use engine::{CompileError, TemplateEngine};
pub use evaluation::{Evaluation, Expectation};

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
