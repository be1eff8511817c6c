//! WAV in memory: checked when a synthesiser writes one, built when a server streams PCM.

use edge_protocol::AudioFormat;
use std::time::Duration;

/// A RIFF/WAVE file of little-endian integer PCM, with a header whose sizes are true.
#[derive(Clone, PartialEq, Eq)]
pub struct Wav {
    bytes: Vec<u8>,
    format: AudioFormat,
    data_offset: usize,
}

impl std::fmt::Debug for Wav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wav")
            .field("format", &self.format)
            .field("bytes", &self.bytes.len())
            .field("duration", &self.duration())
            .finish()
    }
}

/// Bytes that are not a WAV this crate can play, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WavError {
    #[error("no RIFF/WAVE header ({len} bytes of output)")]
    NotWav { len: usize },
    #[error("no \"fmt \" chunk before the audio")]
    NoFormat,
    #[error("no \"data\" chunk")]
    NoData,
    #[error("encoding {0} is not integer PCM")]
    Encoding(u16),
    #[error("{0}")]
    Format(#[from] edge_protocol::AudioError),
    #[error("no audio samples")]
    Empty,
}

impl Wav {
    /// Checks `bytes` and repairs the RIFF and data sizes: streaming writers (`espeak-ng
    /// --stdout`) cannot know them and write placeholders; then the data runs to the end.
    /// Chunks after the data are dropped.
    pub fn parse(mut bytes: Vec<u8>) -> Result<Self, WavError> {
        if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err(WavError::NotWav { len: bytes.len() });
        }
        let mut format: Option<AudioFormat> = None;
        let mut at = 12;
        while at + 8 <= bytes.len() {
            let id = &bytes[at..at + 4];
            let size = u32_at(&bytes, at + 4) as usize;
            let body = at + 8;
            if id == b"data" {
                let format = format.ok_or(WavError::NoFormat)?;
                // A size of 0 or past the end is a streaming writer's placeholder.
                let available = bytes.len() - body;
                let data_len = if size == 0 || size > available {
                    available
                } else {
                    size
                };
                let whole = data_len - data_len % format.frame_bytes();
                if whole == 0 {
                    return Err(WavError::Empty);
                }
                bytes.truncate(body + whole);
                put_u32(&mut bytes, at + 4, whole);
                let riff = bytes.len() - 8;
                put_u32(&mut bytes, 4, riff);
                return Ok(Self {
                    bytes,
                    format,
                    data_offset: body,
                });
            }
            if id == b"fmt " {
                if size < 16 || body + 16 > bytes.len() {
                    return Err(WavError::NoFormat);
                }
                let encoding = u16_at(&bytes, body);
                // 1: PCM; 0xFFFE: extensible, which these writers use for plain PCM too.
                if encoding != 1 && encoding != 0xFFFE {
                    return Err(WavError::Encoding(encoding));
                }
                let parsed = AudioFormat {
                    channels: u16_at(&bytes, body + 2),
                    rate: u32_at(&bytes, body + 4),
                    width: u16_at(&bytes, body + 14).div_ceil(8),
                };
                parsed.validate()?;
                format = Some(parsed);
            }
            // Chunks are padded to an even length.
            at = body.saturating_add(size).saturating_add(size % 2);
        }
        Err(if format.is_some() {
            WavError::NoData
        } else {
            WavError::NoFormat
        })
    }

    /// A WAV of interleaved little-endian `pcm` in `format` (a trailing partial frame is
    /// dropped).
    pub fn from_pcm(format: AudioFormat, pcm: &[u8]) -> Result<Self, WavError> {
        format.validate()?;
        let frame = format.frame_bytes();
        let len = pcm.len() - pcm.len() % frame;
        if len == 0 {
            return Err(WavError::Empty);
        }
        let mut bytes = Vec::with_capacity(44 + len);
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&((36 + len) as u32).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&format.channels.to_le_bytes());
        bytes.extend_from_slice(&format.rate.to_le_bytes());
        bytes.extend_from_slice(&(format.rate * frame as u32).to_le_bytes());
        bytes.extend_from_slice(&(frame as u16).to_le_bytes());
        bytes.extend_from_slice(&(format.width * 8).to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&(len as u32).to_le_bytes());
        bytes.extend_from_slice(&pcm[..len]);
        Ok(Self {
            bytes,
            format,
            data_offset: 44,
        })
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The file, consumed.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Sample rate, width and channels.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// The samples.
    pub fn pcm(&self) -> &[u8] {
        &self.bytes[self.data_offset..]
    }

    /// How long it plays.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.format.duration_ms(self.pcm().len()))
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn put_u32(bytes: &mut [u8], at: usize, value: usize) {
    let value = u32::try_from(value).unwrap_or(u32::MAX);
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONO_16K: AudioFormat = AudioFormat::SPEECH;

    #[test]
    fn built_wav_parses_back() {
        let pcm: Vec<u8> = (0..3200u16).flat_map(|s| s.to_le_bytes()).collect();
        let wav = Wav::from_pcm(MONO_16K, &pcm).expect("wav");
        assert_eq!(wav.bytes().len(), 44 + pcm.len());
        assert_eq!(wav.duration(), Duration::from_millis(200));
        let back = Wav::parse(wav.bytes().to_vec()).expect("parses");
        assert_eq!(back, wav);
        assert_eq!(back.pcm(), &pcm[..]);
    }

    #[test]
    fn streaming_placeholder_sizes_are_repaired() {
        let pcm = vec![0u8; 1001];
        let mut bytes = Wav::from_pcm(MONO_16K, &pcm).expect("wav").into_bytes();
        bytes.push(7); // an odd byte after the last whole frame
        put_u32(&mut bytes, 4, 0x7fff_f024);
        put_u32(&mut bytes, 40, 0x7fff_f000);
        let wav = Wav::parse(bytes).expect("parses");
        assert_eq!(wav.pcm().len(), 1000);
        assert_eq!(u32_at(wav.bytes(), 40), 1000);
        assert_eq!(u32_at(wav.bytes(), 4) as usize, wav.bytes().len() - 8);
    }

    #[test]
    fn bad_wavs_are_named() {
        assert_eq!(
            Wav::parse(b"hello".to_vec()),
            Err(WavError::NotWav { len: 5 })
        );
        let header_only = Wav::from_pcm(MONO_16K, &[0, 0]).expect("wav").bytes()[..44].to_vec();
        assert_eq!(Wav::parse(header_only), Err(WavError::Empty));
        let mut float = Wav::from_pcm(MONO_16K, &[0, 0]).expect("wav").into_bytes();
        float[20] = 3;
        assert_eq!(Wav::parse(float), Err(WavError::Encoding(3)));
        assert_eq!(Wav::from_pcm(MONO_16K, &[1]), Err(WavError::Empty));
    }
}
