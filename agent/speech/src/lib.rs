//! Speech input shared by the daemon and the CLI.
//!
//! - [`wav`]: WAV files in any common PCM layout, checked, as 16 kHz mono 16-bit PCM.
//! - [`client`]: a Wyoming ASR client (our `edge-asr` worker or any Wyoming server).
//! - [`endpoint`]: voice-activity endpointing, so a command ends by itself after silence.
//! - [`source`]: live audio from standard input or ALSA capture.
//! - [`AsrSection`] and [`AudioSection`]: its configuration sections, `[asr]` and `[audio]`.

pub mod client;
pub mod endpoint;
pub mod prompt;
mod section;
pub mod source;
pub mod wav;

pub use client::{
    AsrClient, AsrError, Chosen, Hypothesis, RecognitionHints, Transcript, WordScore, choose,
    doubted_words, rival_readings, second_listen_settles, torn_readings, words_below,
};
pub use endpoint::{Endpoint, EndpointConfig, Endpointer};
pub use prompt::vocabulary_prompt;
pub use section::{
    AsrSection, AudioSection, AudioSource, ListenMode, MAX_RIVAL_GAP, REQUEST_WORD_MIN_P,
    RIVAL_MAX_GAP,
};
pub use wav::{Pcm, WavError};

/// The `edge-asr` arguments for a supervised worker (the supervisor adds `--listen`).
pub fn asr_worker_args(
    model: &std::path::Path,
    threads: usize,
    max_concurrent: usize,
    max_audio_s: u32,
) -> Vec<std::ffi::OsString> {
    vec![
        "--model".into(),
        model.into(),
        "--threads".into(),
        threads.to_string().into(),
        "--max-concurrent".into(),
        max_concurrent.to_string().into(),
        "--max-audio-s".into(),
        max_audio_s.to_string().into(),
    ]
}
