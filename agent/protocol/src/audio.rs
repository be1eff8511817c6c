//! PCM as Wyoming describes it (`rate`, `width`, `channels`) and its conversion to the
//! 16 kHz mono float samples Whisper expects.

use audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

/// The sample rate every recogniser in this project works at.
pub const SAMPLE_RATE: u32 = 16_000;

/// The format of a PCM stream: little-endian signed integers of `width` bytes (1 = unsigned
/// 8-bit), `channels` interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFormat {
    pub rate: u32,
    pub width: u16,
    pub channels: u16,
}

impl AudioFormat {
    /// 16 kHz, 16-bit, mono: what the daemon sends and what needs no conversion.
    pub const SPEECH: AudioFormat = AudioFormat {
        rate: SAMPLE_RATE,
        width: 2,
        channels: 1,
    };

    /// Checks that samples in this format can be converted.
    pub fn validate(&self) -> Result<(), AudioError> {
        if !(1..=4).contains(&self.width) {
            return Err(AudioError::Width(self.width));
        }
        if self.channels == 0 || self.channels > 8 {
            return Err(AudioError::Channels(self.channels));
        }
        if !(4_000..=192_000).contains(&self.rate) {
            return Err(AudioError::Rate(self.rate));
        }
        Ok(())
    }

    /// Bytes per frame (one sample of every channel).
    pub fn frame_bytes(&self) -> usize {
        usize::from(self.width) * usize::from(self.channels)
    }

    /// Duration of `bytes` of audio in this format, in milliseconds.
    pub fn duration_ms(&self, bytes: usize) -> u64 {
        let frames = bytes / self.frame_bytes().max(1);
        (frames as u64 * 1000) / u64::from(self.rate.max(1))
    }
}

/// Audio that cannot be converted, with what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AudioError {
    #[error("unsupported sample width of {0} bytes (supported: 1, 2, 3, 4)")]
    Width(u16),
    #[error("unsupported channel count {0} (supported: 1 to 8)")]
    Channels(u16),
    #[error("unsupported sample rate {0} Hz (supported: 4000 to 192000)")]
    Rate(u32),
    #[error("{len} bytes of audio is not a whole number of {frame}-byte frames")]
    PartialFrame { len: usize, frame: usize },
    #[error("cannot resample from {from} Hz: {reason}")]
    Resample { from: u32, reason: String },
}

/// Decodes interleaved PCM into mono floats in [-1, 1] at the stream's own rate.
pub fn decode_mono(bytes: &[u8], format: AudioFormat) -> Result<Vec<f32>, AudioError> {
    format.validate()?;
    let frame = format.frame_bytes();
    if !bytes.len().is_multiple_of(frame) {
        return Err(AudioError::PartialFrame {
            len: bytes.len(),
            frame,
        });
    }
    let width = usize::from(format.width);
    let channels = usize::from(format.channels);
    let sample = |s: &[u8]| -> f32 {
        match s.len() {
            1 => (f32::from(s[0]) - 128.0) / 128.0,
            2 => f32::from(i16::from_le_bytes([s[0], s[1]])) / 32_768.0,
            3 => (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 8_388_608.0,
            _ => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f32 / 2_147_483_648.0,
        }
    };
    Ok(bytes
        .chunks_exact(frame)
        .map(|f| f.chunks_exact(width).map(sample).sum::<f32>() / channels as f32)
        .collect())
}

/// Converts mono floats at `rate` to [`SAMPLE_RATE`] with a band-limited resampler.
pub fn resample_to_speech_rate(samples: Vec<f32>, rate: u32) -> Result<Vec<f32>, AudioError> {
    if rate == SAMPLE_RATE || samples.is_empty() {
        return Ok(samples);
    }
    let err = |reason: String| AudioError::Resample { from: rate, reason };
    let mut resampler = Fft::<f32>::new(
        rate as usize,
        SAMPLE_RATE as usize,
        1024,
        1,
        FixedSync::Input,
    )
    .map_err(|e| err(e.to_string()))?;
    let len = samples.len();
    let channels = [samples];
    let input = SequentialSliceOfVecs::new(&channels, 1, len).map_err(|e| err(e.to_string()))?;
    let output = resampler
        .process_all(&input, len, None)
        .map_err(|e| err(e.to_string()))?;
    Ok(output.take_data())
}

/// Decodes PCM in any supported format to 16 kHz mono floats.
pub fn to_mono_f32(bytes: &[u8], format: AudioFormat) -> Result<Vec<f32>, AudioError> {
    resample_to_speech_rate(decode_mono(bytes, format)?, format.rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s16(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn speech_format_decodes_without_resampling() {
        let out = to_mono_f32(&s16(&[0, 16384, -32768]), AudioFormat::SPEECH).expect("decode");
        assert_eq!(out, vec![0.0, 0.5, -1.0]);
    }

    #[test]
    fn stereo_is_mixed_down() {
        let format = AudioFormat {
            channels: 2,
            ..AudioFormat::SPEECH
        };
        let out = to_mono_f32(&s16(&[16384, 0, -16384, -16384]), format).expect("decode");
        assert_eq!(out, vec![0.25, -0.5]);
    }

    #[test]
    fn other_rates_are_resampled_keeping_duration_and_pitch() {
        // One second of a 440 Hz tone at 48 kHz becomes one second at 16 kHz, still 440 Hz.
        let rate = 48_000;
        let tone: Vec<i16> = (0..rate)
            .map(|i| {
                let t = f64::from(i) / f64::from(rate);
                ((2.0 * std::f64::consts::PI * 440.0 * t).sin() * 16_000.0) as i16
            })
            .collect();
        let format = AudioFormat {
            rate: rate as u32,
            ..AudioFormat::SPEECH
        };
        let out = to_mono_f32(&s16(&tone), format).expect("resample");
        assert!((out.len() as i64 - 16_000).abs() < 50, "len {}", out.len());
        // Count zero crossings in the steady middle half: 440 Hz gives ~440 per second.
        let mid = &out[4_000..12_000];
        let crossings = mid
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((430..=450).contains(&crossings), "crossings {crossings}");
    }

    #[test]
    fn bad_formats_are_named() {
        let bad_width = AudioFormat {
            width: 5,
            ..AudioFormat::SPEECH
        };
        assert_eq!(to_mono_f32(&[0; 10], bad_width), Err(AudioError::Width(5)));
        assert!(matches!(
            to_mono_f32(&[0; 3], AudioFormat::SPEECH),
            Err(AudioError::PartialFrame { len: 3, frame: 2 })
        ));
        let bad_rate = AudioFormat {
            rate: 100,
            ..AudioFormat::SPEECH
        };
        assert_eq!(to_mono_f32(&[0; 2], bad_rate), Err(AudioError::Rate(100)));
    }
}
