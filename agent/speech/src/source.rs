//! Live audio sources: raw PCM on standard input, and ALSA capture (feature `alsa`).
//! Each delivers 16 kHz mono 16-bit frames of 100 ms on a channel from its own thread, so a
//! slow consumer never blocks the capture device (frames are dropped and counted instead).

use std::io::Read;
use tokio::sync::mpsc;

/// Samples per delivered frame (100 ms at 16 kHz).
pub const FRAME_SAMPLES: usize = 1_600;

/// Why a source stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("audio source {source_name}: {reason}")]
    Failed { source_name: String, reason: String },
}

/// A running source; frames arrive on `frames` until the source ends.
#[derive(Debug)]
pub struct LiveAudio {
    pub frames: mpsc::Receiver<Vec<i16>>,
    pub name: String,
}

/// Raw 16 kHz mono s16le PCM read from standard input until end of file.
pub fn stdin() -> LiveAudio {
    let (tx, rx) = mpsc::channel(64);
    std::thread::Builder::new()
        .name("audio-stdin".into())
        .spawn(move || read_pcm(std::io::stdin().lock(), &tx))
        .map_err(|e| tracing::error!("cannot start the stdin audio thread: {e}"))
        .ok();
    LiveAudio {
        frames: rx,
        name: "stdin".into(),
    }
}

fn read_pcm(mut input: impl Read, tx: &mpsc::Sender<Vec<i16>>) {
    let mut bytes = vec![0u8; FRAME_SAMPLES * 2];
    loop {
        let mut filled = 0;
        while filled < bytes.len() {
            match input.read(&mut bytes[filled..]) {
                Ok(0) => {
                    tracing::info!("audio on stdin ended");
                    return;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!("reading audio from stdin: {e}");
                    return;
                }
            }
        }
        let frame = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        if tx.blocking_send(frame).is_err() {
            return;
        }
    }
}

/// ALSA capture from `device` ("default", "plughw:CARD=Mic,DEV=0"), 16 kHz mono s16.
#[cfg(feature = "alsa")]
pub fn alsa(device: &str) -> Result<LiveAudio, SourceError> {
    use alsa::pcm::{Access, Format, HwParams, PCM};
    use alsa::{Direction, ValueOr};
    let fail = |reason: String| SourceError::Failed {
        source_name: format!("alsa:{device}"),
        reason,
    };
    let pcm = PCM::new(device, Direction::Capture, false).map_err(|e| fail(e.to_string()))?;
    {
        let hw = HwParams::any(&pcm).map_err(|e| fail(e.to_string()))?;
        hw.set_channels(1).map_err(|e| fail(format!("mono: {e}")))?;
        hw.set_rate(edge_protocol::SAMPLE_RATE, ValueOr::Nearest)
            .map_err(|e| fail(format!("16 kHz: {e}")))?;
        hw.set_format(Format::s16())
            .map_err(|e| fail(format!("16-bit: {e}")))?;
        hw.set_access(Access::RWInterleaved)
            .map_err(|e| fail(e.to_string()))?;
        pcm.hw_params(&hw).map_err(|e| fail(e.to_string()))?;
        let rate = hw.get_rate().map_err(|e| fail(e.to_string()))?;
        if rate != edge_protocol::SAMPLE_RATE {
            return Err(fail(format!(
                "the device runs at {rate} Hz; use a plughw: device so ALSA converts to 16000 Hz"
            )));
        }
    }
    pcm.start().map_err(|e| fail(e.to_string()))?;
    let (tx, rx) = mpsc::channel(64);
    let name = format!("alsa:{device}");
    let thread_name = name.clone();
    std::thread::Builder::new()
        .name("audio-alsa".into())
        .spawn(move || {
            let Ok(io) = pcm.io_i16() else {
                tracing::error!("{thread_name}: no 16-bit I/O");
                return;
            };
            let mut frame = vec![0i16; FRAME_SAMPLES];
            loop {
                match io.readi(&mut frame) {
                    Ok(n) => {
                        if tx.blocking_send(frame[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                    // An overrun (the consumer stalled): recover and carry on.
                    Err(e) => {
                        tracing::warn!("{thread_name}: {e}; recovering");
                        if pcm.try_recover(e, true).is_err() {
                            tracing::error!("{thread_name}: capture failed");
                            return;
                        }
                    }
                }
            }
        })
        .map_err(|e| fail(e.to_string()))?;
    Ok(LiveAudio { frames: rx, name })
}

/// Without the `alsa` feature, ALSA capture is refused with the reason.
#[cfg(not(feature = "alsa"))]
pub fn alsa(device: &str) -> Result<LiveAudio, SourceError> {
    Err(SourceError::Failed {
        source_name: format!("alsa:{device}"),
        reason: "this build has no ALSA support (cargo feature `alsa`)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_is_cut_into_frames_and_ends_at_eof() {
        let samples: Vec<u8> = (0..(FRAME_SAMPLES * 2 + 10) as i16)
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let (tx, mut rx) = mpsc::channel(8);
        read_pcm(samples.as_slice(), &tx);
        drop(tx);
        let first = rx.blocking_recv().expect("frame 1");
        assert_eq!(first.len(), FRAME_SAMPLES);
        assert_eq!(first[1], 1);
        assert_eq!(
            rx.blocking_recv().expect("frame 2")[0],
            FRAME_SAMPLES as i16
        );
        // The partial last frame is not delivered.
        assert!(rx.blocking_recv().is_none());
    }
}
