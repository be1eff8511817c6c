//! Tier 1 of intent recognition: templates from the skills' manifests, matched against
//! normalised ASR output in well under a millisecond.
//!
//! Depends only on `edge-core`; never on a transport, runtime or native library.

pub mod engine;
pub mod evaluation;
pub mod normalize;
pub mod numbers;
pub mod template;

pub use engine::{CompileError, TemplateEngine};
pub use evaluation::{Evaluation, Expectation};
