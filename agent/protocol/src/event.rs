//! Wyoming event framing: a JSON header line, then optional data and payload bytes.

use serde_json::{Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One Wyoming event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// The event type, e.g. `audio-chunk`.
    pub kind: String,
    /// The event's data object (header `data` merged with the separate data block).
    pub data: Map<String, Value>,
    /// Binary payload (PCM samples for `audio-chunk`).
    pub payload: Option<Vec<u8>>,
}

impl Event {
    /// An event without data or payload.
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            data: Map::new(),
            payload: None,
        }
    }

    /// Adds one data field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// Sets the binary payload.
    pub fn with_payload(mut self, payload: Vec<u8>) -> Self {
        self.payload = Some(payload);
        self
    }

    /// A data field as a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    /// A data field as an unsigned integer.
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.data.get(key).and_then(Value::as_u64)
    }

    /// An event whose data is `value` serialised (it must serialise to an object).
    pub fn from_data<T: serde::Serialize>(kind: &str, value: &T) -> Self {
        let data = match serde_json::to_value(value) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Self {
            kind: kind.to_owned(),
            data,
            payload: None,
        }
    }

    /// The data read as `T`; the error names the field that does not fit.
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(Value::Object(self.data.clone()))
    }

    /// A Wyoming `error` event: `text` for people, `code` for programs.
    pub fn error(code: &str, text: &str) -> Self {
        Self::new(crate::kind::ERROR)
            .with("text", text)
            .with("code", code)
    }

    /// Whether this event is of the given type.
    /// The PCM format an `audio-start` or `audio-chunk` declares (`rate`, `width`,
    /// `channels`), checked; the error names the event and the field.
    pub fn audio_format(&self) -> Result<crate::AudioFormat, String> {
        let field = |name: &str| {
            self.u64(name)
                .ok_or_else(|| format!("{} is missing the integer field \"{name}\"", self.kind))
        };
        let narrow = |name: &str, v: u64| {
            u16::try_from(v).map_err(|_| format!("{}: \"{name}\" = {v} is out of range", self.kind))
        };
        let format = crate::AudioFormat {
            rate: u32::try_from(field("rate")?)
                .map_err(|_| format!("{}: \"rate\" is out of range", self.kind))?,
            width: narrow("width", field("width")?)?,
            channels: narrow("channels", field("channels")?)?,
        };
        format
            .validate()
            .map_err(|e| format!("{}: {e}", self.kind))?;
        Ok(format)
    }

    pub fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }
}

/// Size limits that protect a reader from a hostile or broken peer.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    pub max_header: usize,
    pub max_data: usize,
    pub max_payload: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_header: 64 * 1024,
            max_data: 1024 * 1024,
            // One second of 48 kHz stereo 32-bit audio fits with room to spare.
            max_payload: 4 * 1024 * 1024,
        }
    }
}

/// A frame that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("event header is not valid JSON: {0}")]
    Header(serde_json::Error),
    #[error("event header has no \"type\" string")]
    MissingType,
    #[error("event header field \"{field}\" is invalid: {reason}")]
    Field { field: &'static str, reason: String },
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("event data of \"{kind}\" is not a JSON object: {reason}")]
    Data { kind: String, reason: String },
    #[error("connection closed in the middle of an event")]
    Truncated,
}

/// Reads the next event; `Ok(None)` at a clean end of stream.
pub async fn read_event<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limits: FrameLimits,
) -> Result<Option<Event>, ProtocolError> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut *reader)
            .take(limits.max_header as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        if line.len() > limits.max_header {
            return Err(ProtocolError::TooLarge {
                what: "event header",
                size: line.len(),
                limit: limits.max_header,
            });
        }
        if line.last() != Some(&b'\n') {
            return Err(ProtocolError::Truncated);
        }
        // Tolerate blank lines between events.
        if !line.iter().all(u8::is_ascii_whitespace) {
            break;
        }
    }
    let header: Value = serde_json::from_slice(&line).map_err(ProtocolError::Header)?;
    let Value::Object(mut header) = header else {
        return Err(ProtocolError::MissingType);
    };
    let kind = match header.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => return Err(ProtocolError::MissingType),
    };
    let mut data = match header.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(ProtocolError::Data {
                kind,
                reason: format!("found {other}"),
            });
        }
    };
    let data_length = length_field(&header, "data_length")?;
    let payload_length = length_field(&header, "payload_length")?;
    if data_length > limits.max_data {
        return Err(ProtocolError::TooLarge {
            what: "event data",
            size: data_length,
            limit: limits.max_data,
        });
    }
    if payload_length > limits.max_payload {
        return Err(ProtocolError::TooLarge {
            what: "event payload",
            size: payload_length,
            limit: limits.max_payload,
        });
    }
    if data_length > 0 {
        let bytes = read_exact(reader, data_length).await?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(extra)) => data.extend(extra),
            Ok(other) => {
                return Err(ProtocolError::Data {
                    kind,
                    reason: format!("found {other}"),
                });
            }
            Err(e) => {
                return Err(ProtocolError::Data {
                    kind,
                    reason: e.to_string(),
                });
            }
        }
    }
    let payload = if payload_length > 0 {
        Some(read_exact(reader, payload_length).await?)
    } else {
        None
    };
    Ok(Some(Event {
        kind,
        data,
        payload,
    }))
}

fn length_field(header: &Map<String, Value>, field: &'static str) -> Result<usize, ProtocolError> {
    match header.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(value) => value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ProtocolError::Field {
                field,
                reason: format!("expected a byte count, found {value}"),
            }),
    }
}

async fn read_exact<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    len: usize,
) -> Result<Vec<u8>, ProtocolError> {
    let mut buf = vec![0; len];
    match reader.read_exact(&mut buf).await {
        Ok(_) => Ok(buf),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ProtocolError::Truncated),
        Err(e) => Err(e.into()),
    }
}

/// Writes one event: data goes in a separate block, as current Wyoming peers expect.
pub async fn write_event<W: AsyncWrite + Unpin>(
    writer: &mut W,
    event: &Event,
) -> Result<(), ProtocolError> {
    let mut header = Map::new();
    header.insert("type".into(), Value::String(event.kind.clone()));
    header.insert(
        "version".into(),
        Value::String(crate::WYOMING_VERSION.into()),
    );
    let data = if event.data.is_empty() {
        None
    } else {
        let bytes = serde_json::to_vec(&event.data).map_err(ProtocolError::Header)?;
        header.insert("data_length".into(), bytes.len().into());
        Some(bytes)
    };
    if let Some(payload) = &event.payload {
        header.insert("payload_length".into(), payload.len().into());
    }
    let mut frame = serde_json::to_vec(&header).map_err(ProtocolError::Header)?;
    frame.push(b'\n');
    if let Some(data) = data {
        frame.extend_from_slice(&data);
    }
    if let Some(payload) = &event.payload {
        frame.extend_from_slice(payload);
    }
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Error code of the `error` event sent before hanging up on a malformed frame.
pub const PROTOCOL_ERROR: &str = "protocol";

/// The server side of a connection: the next request, `None` when the peer hung up. A
/// malformed frame is answered with an `error` event (the stream is out of sync after
/// it) and returned as the error, which ends the connection.
pub async fn next_request<R, W>(
    reader: &mut R,
    writer: &mut W,
) -> Result<Option<Event>, ProtocolError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    match read_event(reader, FrameLimits::default()).await {
        Err(ProtocolError::Io(e)) => Err(ProtocolError::Io(e)),
        Err(e) => {
            let _ = write_event(writer, &Event::error(PROTOCOL_ERROR, &e.to_string())).await;
            Err(e)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn roundtrip(event: &Event) -> Event {
        let mut bytes = Vec::new();
        write_event(&mut bytes, event).await.expect("write");
        let mut reader = BufReader::new(bytes.as_slice());
        let back = read_event(&mut reader, FrameLimits::default())
            .await
            .expect("read")
            .expect("one event");
        assert!(
            read_event(&mut reader, FrameLimits::default())
                .await
                .expect("eof")
                .is_none()
        );
        back
    }

    #[tokio::test]
    async fn events_survive_a_roundtrip() {
        let chunk = Event::new("audio-chunk")
            .with("rate", 16000)
            .with("width", 2)
            .with("channels", 1)
            .with_payload(vec![1, 2, 3, 4]);
        assert_eq!(roundtrip(&chunk).await, chunk);
        let bare = Event::new("describe");
        assert_eq!(roundtrip(&bare).await, bare);
    }

    #[tokio::test]
    async fn inline_data_and_data_block_are_merged() {
        let bytes =
            b"{\"type\":\"transcript\",\"data\":{\"a\":1},\"data_length\":9}\n{\"b\":\"x\"}";
        let mut reader = BufReader::new(&bytes[..]);
        let event = read_event(&mut reader, FrameLimits::default())
            .await
            .expect("read")
            .expect("event");
        assert_eq!(event.u64("a"), Some(1));
        assert_eq!(event.str("b"), Some("x"));
    }

    #[tokio::test]
    async fn malformed_frames_are_named() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json\n", "not valid JSON"),
            (b"{\"data\":{}}\n", "no \"type\""),
            (
                b"{\"type\":\"x\",\"payload_length\":-1}\n",
                "payload_length",
            ),
            (
                b"{\"type\":\"x\",\"payload_length\":10}\nabc",
                "in the middle",
            ),
            (
                b"{\"type\":\"x\",\"payload_length\":99999999}\n",
                "exceeds the limit",
            ),
            (
                b"{\"type\":\"x\",\"data_length\":3}\n[1]",
                "not a JSON object",
            ),
        ];
        for (bytes, expected) in cases {
            let mut reader = BufReader::new(*bytes);
            let err = read_event(&mut reader, FrameLimits::default())
                .await
                .expect_err("malformed");
            assert!(
                err.to_string().contains(expected),
                "{:?}: {err}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
