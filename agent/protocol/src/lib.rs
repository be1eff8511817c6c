//! The wire protocol between the daemon and its inference workers.
//!
//! Workers speak the [Wyoming protocol](https://github.com/OHF-Voice/wyoming): each event is
//! one JSON header line (`type`, optional `data`, `data_length`, `payload_length`), followed by
//! `data_length` bytes of JSON data and `payload_length` bytes of binary payload. Speaking the
//! public protocol lets Home Assistant and Rhasspy clients use `edge-asr`, and lets the daemon
//! use any Wyoming ASR server instead of its own worker.

mod audio;
mod client;
mod event;
pub mod slm;

pub use audio::{
    AudioError, AudioFormat, SAMPLE_RATE, decode_mono, resample_to_speech_rate, to_mono_f32,
};
pub use client::{ClientError, Connection, EventReader, EventWriter};
pub use event::{
    Event, FrameLimits, PROTOCOL_ERROR, ProtocolError, next_request, read_event, write_event,
};

/// Event types of the Wyoming ASR conversation.
pub mod kind {
    pub const DESCRIBE: &str = "describe";
    pub const INFO: &str = "info";
    pub const TRANSCRIBE: &str = "transcribe";
    pub const AUDIO_START: &str = "audio-start";
    pub const AUDIO_CHUNK: &str = "audio-chunk";
    pub const AUDIO_STOP: &str = "audio-stop";
    pub const TRANSCRIPT: &str = "transcript";
    pub const ERROR: &str = "error";
    pub const PING: &str = "ping";
    pub const PONG: &str = "pong";
}

/// The Wyoming protocol version this crate writes in headers.
pub const WYOMING_VERSION: &str = "1.8.0";
