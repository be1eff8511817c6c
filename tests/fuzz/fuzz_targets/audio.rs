//! WAV files (the D-Bus `Listen` argument, `edge-agentctl listen`, batch `nlu`; and what
//! a TTS back end writes, whose sizes the agent repairs) and raw Wyoming audio chunks in
//! any declared format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = edge_tts::Wav::parse(data.to_vec());
    if let Ok(pcm) = edge_speech::wav::read_bytes(data, "fuzz.wav") {
        let _ = pcm.duration_ms();
        let _ = pcm.trimmed(&edge_speech::EndpointConfig::default());
    }
    if let [rate_hi, rate_lo, width, channels, rest @ ..] = data {
        let format = edge_protocol::AudioFormat {
            rate: u32::from(u16::from_be_bytes([*rate_hi, *rate_lo])),
            width: u16::from(*width),
            channels: u16::from(*channels),
        };
        if let Ok(samples) = edge_protocol::decode_mono(rest, format) {
            let _ = edge_protocol::resample_to_speech_rate(samples, format.rate);
        }
    }
});
