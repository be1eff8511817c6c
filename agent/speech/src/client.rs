//! A Wyoming ASR client: `edge-asr` or any Wyoming speech-to-text server.

use edge_protocol::{AudioFormat, Event, FrameLimits, ProtocolError, kind};
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadHalf, WriteHalf};

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
type BoxStream = Pin<Box<dyn Stream>>;

/// What the recogniser heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// Decode time reported by `edge-asr` (absent from other servers).
    pub decode_ms: Option<f64>,
}

/// A request that failed, saying where.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error("speech server URI {uri:?} is invalid: expected unix:///path or tcp://host:port")]
    BadUri { uri: String },
    #[error("cannot connect to the speech server at {uri}: {source}")]
    Connect { uri: String, source: std::io::Error },
    #[error("speech server at {uri}: {source}")]
    Protocol { uri: String, source: ProtocolError },
    #[error(
        "the speech server at {uri} closed the connection during the request (did the worker crash? it is restarted by the supervisor)"
    )]
    Closed { uri: String },
    #[error("the speech server at {uri} refused the request ({code}): {text}")]
    Refused {
        uri: String,
        code: String,
        text: String,
    },
    #[error("the speech server at {uri} did not answer within {timeout:?}")]
    Timeout { uri: String, timeout: Duration },
}

/// One connection to a Wyoming ASR server; requests on it run one after the other.
pub struct AsrClient {
    uri: String,
    reader: BufReader<ReadHalf<BoxStream>>,
    writer: WriteHalf<BoxStream>,
    timeout: Duration,
}

impl std::fmt::Debug for AsrClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsrClient").field("uri", &self.uri).finish()
    }
}

impl AsrClient {
    /// Connects to `unix:///path` or `tcp://host:port`; `timeout` bounds every answer.
    pub async fn connect(uri: &str, timeout: Duration) -> Result<Self, AsrError> {
        let connect_err = |source| AsrError::Connect {
            uri: uri.to_owned(),
            source,
        };
        let stream: BoxStream = if let Some(path) = uri.strip_prefix("unix://") {
            Box::pin(
                tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(connect_err)?,
            )
        } else if let Some(addr) = uri.strip_prefix("tcp://") {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(connect_err)?;
            let _ = stream.set_nodelay(true);
            Box::pin(stream)
        } else {
            return Err(AsrError::BadUri {
                uri: uri.to_owned(),
            });
        };
        let (read, writer) = tokio::io::split(stream);
        Ok(Self {
            uri: uri.to_owned(),
            reader: BufReader::new(read),
            writer,
            timeout,
        })
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Asks the server what it is (`describe` → `info`).
    pub async fn describe(&mut self) -> Result<Event, AsrError> {
        self.send(&Event::new(kind::DESCRIBE)).await?;
        self.expect(kind::INFO).await
    }

    /// Starts an utterance: `transcribe` (with the vocabulary prompt) and `audio-start`.
    pub async fn start(
        &mut self,
        prompt: Option<&str>,
        format: AudioFormat,
    ) -> Result<(), AsrError> {
        let mut transcribe = Event::new(kind::TRANSCRIBE).with("language", "en");
        if let Some(prompt) = prompt {
            transcribe = transcribe.with("prompt", prompt);
        }
        self.send(&transcribe).await?;
        self.send(&format_event(kind::AUDIO_START, format)).await
    }

    /// Streams one chunk of audio while the person is still speaking.
    pub async fn chunk(&mut self, pcm: &[u8], format: AudioFormat) -> Result<(), AsrError> {
        self.send(&format_event(kind::AUDIO_CHUNK, format).with_payload(pcm.to_vec()))
            .await
    }

    /// Ends the utterance and waits for its transcript.
    pub async fn finish(&mut self) -> Result<Transcript, AsrError> {
        self.send(&Event::new(kind::AUDIO_STOP)).await?;
        let event = self.expect(kind::TRANSCRIPT).await?;
        Ok(Transcript {
            text: event.str("text").unwrap_or_default().trim().to_owned(),
            decode_ms: event.data.get("decode_ms").and_then(|v| v.as_f64()),
        })
    }

    /// Transcribes a whole recording, sent in 100 ms chunks as a live stream would be.
    /// Returns the transcript and when the last chunk was sent (the end of the audio, from
    /// which the recogniser's latency counts).
    pub async fn transcribe(
        &mut self,
        pcm: &[u8],
        format: AudioFormat,
        prompt: Option<&str>,
    ) -> Result<(Transcript, std::time::Instant), AsrError> {
        self.start(prompt, format).await?;
        let chunk = (format.rate as usize / 10 * format.frame_bytes()).max(format.frame_bytes());
        for piece in pcm.chunks(chunk) {
            self.chunk(piece, format).await?;
        }
        let end_of_audio = std::time::Instant::now();
        Ok((self.finish().await?, end_of_audio))
    }

    async fn send(&mut self, event: &Event) -> Result<(), AsrError> {
        edge_protocol::write_event(&mut self.writer, event)
            .await
            .map_err(|source| match source {
                ProtocolError::Io(_) => AsrError::Closed {
                    uri: self.uri.clone(),
                },
                source => AsrError::Protocol {
                    uri: self.uri.clone(),
                    source,
                },
            })
    }

    /// Reads until an event of `wanted` type or an `error` arrives.
    async fn expect(&mut self, wanted: &str) -> Result<Event, AsrError> {
        let uri = self.uri.clone();
        let read = async {
            loop {
                match edge_protocol::read_event(&mut self.reader, FrameLimits::default()).await {
                    Ok(Some(event)) if event.is(wanted) => return Ok(event),
                    Ok(Some(event)) if event.is(kind::ERROR) => {
                        return Err(AsrError::Refused {
                            uri: uri.clone(),
                            code: event.str("code").unwrap_or("error").to_owned(),
                            text: event.str("text").unwrap_or_default().to_owned(),
                        });
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(ProtocolError::Truncated) | Err(ProtocolError::Io(_)) => {
                        return Err(AsrError::Closed { uri: uri.clone() });
                    }
                    Err(source) => {
                        return Err(AsrError::Protocol {
                            uri: uri.clone(),
                            source,
                        });
                    }
                }
            }
        };
        tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| AsrError::Timeout {
                uri: self.uri.clone(),
                timeout: self.timeout,
            })?
    }
}

fn format_event(kind: &str, format: AudioFormat) -> Event {
    Event::new(kind)
        .with("rate", format.rate)
        .with("width", format.width)
        .with("channels", format.channels)
}
