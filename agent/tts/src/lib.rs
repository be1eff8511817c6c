//! Spoken replies: text to a WAV, then to a player process, interruptible at any moment.
//!
//! Two synthesisers, chosen by configuration ([`Backend`]):
//! - a local command (`espeak-ng --stdout -- {text}`, piper, ...) started without a shell,
//!   `{text}` replaced in its arguments (or, without a placeholder, the text on its stdin),
//!   which writes a WAV to stdout;
//! - a [Wyoming](https://github.com/OHF-Voice/wyoming) TTS server (`wyoming-piper`) by URI:
//!   `synthesize`, then `audio-start`, `audio-chunk`s, `audio-stop`, read with the framing
//!   of `edge-protocol`.
//!
//! A [`Player`] pipes the WAV into a command (`aplay -q -`) in its own process group, so
//! [`StopHandle::stop`] (barge-in) kills the player and anything it started. A [`Speaker`]
//! speaks one reply at a time: a newer reply stops the one still synthesising or playing.
//! Every step has a deadline and every error names the command or the URI.
//! [`TtsSection`] is its configuration section, `[tts]`.
//!
//! This crate must never depend on the daemon, a D-Bus or MQTT crate, or native audio
//! libraries: sound leaves through the player command.

mod player;
mod section;
mod speaker;
mod synth;
mod wav;

pub use player::{Playback, Played, Player, StopHandle};
pub use section::{TtsBackend, TtsSection};
pub use speaker::{Reply, Speaker, SpeakerState, SpeakerStatus, TtsConfig};
pub use synth::{Backend, TEXT_PLACEHOLDER};
pub use wav::{Wav, WavError};

use std::path::PathBuf;
use std::time::Duration;

/// A reply that could not be synthesised, played or kept, naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("no {role} configured (the command is empty)")]
    EmptyCommand { role: &'static str },
    #[error("cannot run the {role} `{command}`: {source}")]
    Spawn {
        role: &'static str,
        command: String,
        source: std::io::Error,
    },
    #[error("the {role} `{command}` failed with {status}{}", colon(.stderr))]
    Failed {
        role: &'static str,
        command: String,
        status: std::process::ExitStatus,
        /// First line of its standard error, if any.
        stderr: String,
    },
    #[error("the {role} `{command}` did not finish within {timeout:?} (killed)")]
    CommandTimeout {
        role: &'static str,
        command: String,
        timeout: Duration,
    },
    #[error("the {role} `{command}` wrote no usable WAV to stdout: {source}{}", colon(.stderr))]
    CommandWav {
        role: &'static str,
        command: String,
        source: WavError,
        /// First line of its standard error, if any.
        stderr: String,
    },
    #[error("TTS server URI {uri:?} is invalid: expected unix:///path or tcp://host:port")]
    BadUri { uri: String },
    #[error("cannot connect to the TTS server at {uri}: {source}")]
    Connect { uri: String, source: std::io::Error },
    #[error("TTS server at {uri}: {source}")]
    Protocol {
        uri: String,
        source: edge_protocol::ProtocolError,
    },
    #[error("the TTS server at {uri} closed the connection before audio-stop")]
    Closed { uri: String },
    #[error("the TTS server at {uri} refused the request ({code}): {text}")]
    Refused {
        uri: String,
        code: String,
        text: String,
    },
    #[error("the TTS server at {uri} did not finish within {timeout:?}")]
    ServerTimeout { uri: String, timeout: Duration },
    #[error("the TTS server at {uri} sent unusable audio: {reason}")]
    ServerAudio { uri: String, reason: String },
    #[error("cannot keep the reply in {}: {source}", .path.display())]
    KeepWav {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn colon(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// An argument vector as people write it, for errors and logs.
fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first non-empty line of a process's standard error, shortened.
fn first_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(200).collect()
}
