//! Speech input shared by the daemon and the CLI.
//!
//! - [`wav`]: WAV files in any common PCM layout, checked, as 16 kHz mono 16-bit PCM.
//! - [`client`]: a Wyoming ASR client (our `edge-asr` worker or any Wyoming server).
//! - [`supervisor`]: spawns the `edge-asr` worker, waits for it, restarts it with backoff.
//! - [`endpoint`]: voice-activity endpointing, so a command ends by itself after silence.
//! - [`source`]: live audio from standard input or ALSA capture.

pub mod client;
pub mod endpoint;
pub mod prompt;
pub mod source;
pub mod supervisor;
pub mod wav;

pub use client::{AsrClient, AsrError, Transcript};
pub use endpoint::{Endpoint, EndpointConfig, Endpointer};
pub use prompt::vocabulary_prompt;
pub use supervisor::{WorkerConfig, WorkerHandle, WorkerState};
pub use wav::{Pcm, WavError};
