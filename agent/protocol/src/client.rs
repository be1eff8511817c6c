//! The client side of a worker connection: connect by URI, send events, wait for the
//! answer of one type (or the peer's `error`) within a timeout.

use crate::{Event, FrameLimits, ProtocolError, kind, read_event, write_event};
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadHalf, WriteHalf};

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
type BoxStream = Pin<Box<dyn Stream>>;

/// A request that failed, saying which server and where.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{role} URI {uri:?} is invalid: expected unix:///path or tcp://host:port")]
    BadUri { role: &'static str, uri: String },
    #[error("cannot connect to the {role} at {uri}: {source}")]
    Connect {
        role: &'static str,
        uri: String,
        source: std::io::Error,
    },
    #[error("{role} at {uri}: {source}")]
    Protocol {
        role: &'static str,
        uri: String,
        source: ProtocolError,
    },
    #[error(
        "the {role} at {uri} closed the connection during the request (did the worker crash? it is restarted by the supervisor)"
    )]
    Closed { role: &'static str, uri: String },
    #[error("the {role} at {uri} refused the request ({code}): {text}")]
    Refused {
        role: &'static str,
        uri: String,
        code: String,
        text: String,
    },
    #[error("the {role} at {uri} did not answer within {timeout:?}")]
    Timeout {
        role: &'static str,
        uri: String,
        timeout: Duration,
    },
}

/// One connection to a worker (or any Wyoming server); requests run one after the other.
pub struct Connection {
    role: &'static str,
    uri: String,
    reader: BufReader<ReadHalf<BoxStream>>,
    writer: WriteHalf<BoxStream>,
    timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("uri", &self.uri)
            .finish()
    }
}

impl Connection {
    /// Connects to `unix:///path` or `tcp://host:port`; `timeout` bounds every answer.
    /// `role` names the server in errors ("speech server").
    pub async fn connect(
        role: &'static str,
        uri: &str,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let connect_err = |source| ClientError::Connect {
            role,
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
            return Err(ClientError::BadUri {
                role,
                uri: uri.to_owned(),
            });
        };
        let (read, writer) = tokio::io::split(stream);
        Ok(Self {
            role,
            uri: uri.to_owned(),
            reader: BufReader::new(read),
            writer,
            timeout,
        })
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Changes the time allowed for each answer.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Changes the time allowed for each answer; returns the previous one.
    pub fn replace_timeout(&mut self, timeout: Duration) -> Duration {
        std::mem::replace(&mut self.timeout, timeout)
    }

    pub async fn send(&mut self, event: &Event) -> Result<(), ClientError> {
        send(self.role, &self.uri, &mut self.writer, event).await
    }

    /// The next event of any type (an `error` included), within the timeout.
    pub async fn receive(&mut self) -> Result<Event, ClientError> {
        tokio::time::timeout(
            self.timeout,
            receive(self.role, &self.uri, &mut self.reader),
        )
        .await
        .map_err(|_| self.timed_out())?
    }

    /// The error of an answer that did not come within the timeout.
    fn timed_out(&self) -> ClientError {
        ClientError::Timeout {
            role: self.role,
            uri: self.uri.clone(),
            timeout: self.timeout,
        }
    }

    /// Splits the connection for a stream whose answers come while it is sent (wake word
    /// detections): events are read on one side, with no timeout, and sent on the other.
    pub fn split(self) -> (EventReader, EventWriter) {
        (
            EventReader {
                role: self.role,
                uri: self.uri.clone(),
                reader: self.reader,
            },
            EventWriter {
                role: self.role,
                uri: self.uri,
                writer: self.writer,
            },
        )
    }

    /// Reads until an event of `wanted` type or an `error` arrives.
    pub async fn expect(&mut self, wanted: &str) -> Result<Event, ClientError> {
        let (role, uri) = (self.role, self.uri.clone());
        let read = async {
            loop {
                let event = receive(role, &uri, &mut self.reader).await?;
                if event.is(wanted) {
                    return Ok(event);
                }
                if event.is(kind::ERROR) {
                    return Err(ClientError::Refused {
                        role,
                        uri: uri.clone(),
                        code: event.str("code").unwrap_or("error").to_owned(),
                        text: event.str("text").unwrap_or_default().to_owned(),
                    });
                }
            }
        };
        let answer = tokio::time::timeout(self.timeout, read).await;
        answer.map_err(|_| self.timed_out())?
    }

    /// Sends `event` and waits for the answer of type `wanted`.
    pub async fn request(&mut self, event: &Event, wanted: &str) -> Result<Event, ClientError> {
        self.send(event).await?;
        self.expect(wanted).await
    }
}

/// The reading side of a split [`Connection`].
pub struct EventReader {
    role: &'static str,
    uri: String,
    reader: BufReader<ReadHalf<BoxStream>>,
}

/// The sending side of a split [`Connection`].
pub struct EventWriter {
    role: &'static str,
    uri: String,
    writer: WriteHalf<BoxStream>,
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("uri", &self.uri)
            .finish()
    }
}

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter")
            .field("uri", &self.uri)
            .finish()
    }
}

impl EventReader {
    /// The next event, however long it takes (not cancel-safe: keep it on its own task).
    pub async fn receive(&mut self) -> Result<Event, ClientError> {
        receive(self.role, &self.uri, &mut self.reader).await
    }
}

impl EventWriter {
    pub async fn send(&mut self, event: &Event) -> Result<(), ClientError> {
        send(self.role, &self.uri, &mut self.writer, event).await
    }
}

async fn send(
    role: &'static str,
    uri: &str,
    writer: &mut WriteHalf<BoxStream>,
    event: &Event,
) -> Result<(), ClientError> {
    write_event(writer, event)
        .await
        .map_err(|source| match source {
            ProtocolError::Io(_) => ClientError::Closed {
                role,
                uri: uri.to_owned(),
            },
            source => ClientError::Protocol {
                role,
                uri: uri.to_owned(),
                source,
            },
        })
}

async fn receive(
    role: &'static str,
    uri: &str,
    reader: &mut BufReader<ReadHalf<BoxStream>>,
) -> Result<Event, ClientError> {
    match read_event(reader, FrameLimits::default()).await {
        Ok(Some(event)) => Ok(event),
        Ok(None) | Err(ProtocolError::Truncated) | Err(ProtocolError::Io(_)) => {
            Err(ClientError::Closed {
                role,
                uri: uri.to_owned(),
            })
        }
        Err(source) => Err(ClientError::Protocol {
            role,
            uri: uri.to_owned(),
            source,
        }),
    }
}
