//! WAV input: any PCM or float layout hound reads, converted to 16 kHz mono 16-bit.

use edge_protocol::{AudioFormat, SAMPLE_RATE};
use std::io::Cursor;
use std::path::Path;

/// Context kept around the speech when a recording is trimmed: Whisper needs a little
/// silence at the edges, and the detector is late on soft onsets.
pub const TRIM_PAD_MS: u32 = 500;

/// 16 kHz mono 16-bit little-endian PCM, the format sent to the recogniser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcm {
    pub bytes: Vec<u8>,
}

impl Pcm {
    pub fn format(&self) -> AudioFormat {
        AudioFormat::SPEECH
    }

    pub fn duration_ms(&self) -> u64 {
        AudioFormat::SPEECH.duration_ms(self.bytes.len())
    }

    /// From mono floats at 16 kHz.
    pub fn from_f32(samples: &[f32]) -> Self {
        let bytes = samples
            .iter()
            .flat_map(|s| ((s * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16).to_le_bytes())
            .collect();
        Self { bytes }
    }

    /// The recording without its leading and trailing non-speech (see
    /// [`crate::endpoint::trim_silence`]), keeping 500 ms around the speech.
    pub fn trimmed(&self, endpoint: &crate::EndpointConfig) -> Self {
        let samples = self.samples();
        let kept = crate::endpoint::trim_silence(&samples, endpoint, TRIM_PAD_MS);
        Self {
            bytes: kept.iter().flat_map(|s| s.to_le_bytes()).collect(),
        }
    }

    /// The samples as i16.
    pub fn samples(&self) -> Vec<i16> {
        self.bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

/// A WAV file that cannot be used, naming the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: empty file (0 bytes), expected a WAV file")]
    Empty { path: String },
    #[error("{path}: not a WAV file: {reason}")]
    NotWav { path: String, reason: String },
    #[error(
        "{path}: truncated: the header announces {declared} samples but only {read} are present"
    )]
    Truncated {
        path: String,
        declared: u32,
        read: usize,
    },
    #[error("{path}: unsupported WAV format: {reason}")]
    Unsupported { path: String, reason: String },
    #[error("{path}: {source}")]
    Convert {
        path: String,
        source: edge_protocol::AudioError,
    },
}

/// Reads a WAV file.
pub fn read_file(path: &Path) -> Result<Pcm, WavError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| WavError::Io {
        path: name.clone(),
        source,
    })?;
    read_bytes(&bytes, &name)
}

/// Reads a WAV file held in memory; `name` is used in errors.
pub fn read_bytes(bytes: &[u8], name: &str) -> Result<Pcm, WavError> {
    let path = || name.to_owned();
    if bytes.is_empty() {
        return Err(WavError::Empty { path: path() });
    }
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| match e {
        hound::Error::Unsupported => WavError::Unsupported {
            path: path(),
            reason: "hound cannot decode this encoding".into(),
        },
        other => WavError::NotWav {
            path: path(),
            reason: other.to_string(),
        },
    })?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 || channels > 8 {
        return Err(WavError::Unsupported {
            path: path(),
            reason: format!("{} channels", spec.channels),
        });
    }
    let declared = reader.len();
    let capacity = sample_capacity(declared, bytes.len(), spec.bits_per_sample);
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            collect(reader.samples::<f32>(), declared, capacity, name)?
        }
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            collect(reader.samples::<i32>(), declared, capacity, name)?
                .into_iter()
                .map(|s| s * scale)
                .collect()
        }
        (format, bits) => {
            return Err(WavError::Unsupported {
                path: path(),
                reason: format!("{bits}-bit {format:?} samples"),
            });
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let at_speech_rate = if spec.sample_rate == SAMPLE_RATE {
        mono
    } else {
        let format = AudioFormat {
            rate: spec.sample_rate,
            width: 2,
            channels: 1,
        };
        format.validate().map_err(|source| WavError::Convert {
            path: path(),
            source,
        })?;
        edge_protocol::resample_to_speech_rate(mono, spec.sample_rate).map_err(|source| {
            WavError::Convert {
                path: path(),
                source,
            }
        })?
    };
    Ok(Pcm::from_f32(&at_speech_rate))
}

/// Samples to reserve room for: what the header declares, but never more than the bytes
/// at hand can hold (a header may claim 4 GB of data; found by fuzzing, `tests/fuzz`).
fn sample_capacity(declared: u32, bytes: usize, bits_per_sample: u16) -> usize {
    let bytes_per_sample = usize::from(bits_per_sample).div_ceil(8).max(1);
    (declared as usize).min(bytes / bytes_per_sample)
}

fn collect<S, I>(
    samples: I,
    declared: u32,
    capacity: usize,
    name: &str,
) -> Result<Vec<f32>, WavError>
where
    S: Into<f64>,
    I: Iterator<Item = hound::Result<S>>,
{
    let mut out = Vec::with_capacity(capacity);
    for sample in samples {
        match sample {
            Ok(s) => out.push(s.into() as f32),
            // hound reports a short data chunk either way, depending on where it ends.
            Err(hound::Error::IoError(e))
                if e.kind() == std::io::ErrorKind::UnexpectedEof
                    || e.to_string().contains("enough bytes") =>
            {
                return Err(WavError::Truncated {
                    path: name.to_owned(),
                    declared,
                    read: out.len(),
                });
            }
            Err(hound::Error::FormatError(m)) if m.contains("enough bytes") => {
                return Err(WavError::Truncated {
                    path: name.to_owned(),
                    declared,
                    read: out.len(),
                });
            }
            Err(e) => {
                return Err(WavError::NotWav {
                    path: name.to_owned(),
                    reason: e.to_string(),
                });
            }
        }
    }
    if out.len() < declared as usize {
        return Err(WavError::Truncated {
            path: name.to_owned(),
            declared,
            read: out.len(),
        });
    }
    Ok(out)
}

/// Writes 16 kHz mono 16-bit PCM as a WAV file (for recordings and tests).
pub fn to_wav_bytes(pcm: &Pcm) -> Vec<u8> {
    let mut out = Vec::with_capacity(pcm.bytes.len() + 44);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    if let Ok(mut writer) = hound::WavWriter::new(Cursor::new(&mut out), spec) {
        for s in pcm.samples() {
            let _ = writer.write_sample(s);
        }
        let _ = writer.finalize();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(spec: hound::WavSpec, samples: &[i32]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = hound::WavWriter::new(Cursor::new(&mut out), spec).expect("writer");
        for s in samples {
            writer.write_sample(*s).expect("sample");
        }
        writer.finalize().expect("finalize");
        out
    }

    fn spec(rate: u32, channels: u16, bits: u16) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn speech_format_passes_through() {
        let bytes = wav(spec(16_000, 1, 16), &[0, 1000, -1000, 32767]);
        let pcm = read_bytes(&bytes, "a.wav").expect("read");
        assert_eq!(pcm.samples(), vec![0, 1000, -1000, 32767]);
    }

    #[test]
    fn stereo_and_other_rates_are_converted() {
        let bytes = wav(spec(32_000, 2, 16), &vec![8000; 32_000 * 2]);
        let pcm = read_bytes(&bytes, "b.wav").expect("read");
        assert!(
            (pcm.duration_ms() as i64 - 1000).abs() <= 5,
            "{}",
            pcm.duration_ms()
        );
    }

    #[test]
    fn bad_files_are_named_with_the_reason() {
        let empty = read_bytes(&[], "empty.wav").expect_err("empty");
        assert!(
            empty.to_string().contains("empty.wav: empty file"),
            "{empty}"
        );
        let text = read_bytes(b"hello, I am not audio at all", "t.wav").expect_err("text");
        assert!(text.to_string().contains("t.wav: not a WAV file"), "{text}");
        let mut cut = wav(spec(16_000, 1, 16), &vec![100; 1600]);
        cut.truncate(cut.len() - 1001);
        let truncated = read_bytes(&cut, "cut.wav").expect_err("truncated");
        assert!(
            truncated
                .to_string()
                .contains("cut.wav: truncated: the header announces 1600 samples"),
            "{truncated}"
        );
    }

    #[test]
    fn a_header_claiming_gigabytes_reserves_only_what_the_file_holds() {
        // Found by fuzzing: a data chunk of 0xfffff380 bytes in a 3 KB file made the
        // reader reserve 8 GB before reading a sample.
        let bytes = include_bytes!("../tests/fuzz-regressions/wav-huge-data-chunk.wav");
        let err = read_bytes(bytes, "huge.wav").expect_err("truncated");
        assert!(err.to_string().contains("huge.wav: truncated"), "{err}");
        assert_eq!(sample_capacity(u32::MAX, bytes.len(), 16), bytes.len() / 2);
        assert_eq!(sample_capacity(1600, 1_000_000, 16), 1600);
        assert_eq!(sample_capacity(10, 100, 0), 10);
    }
}
