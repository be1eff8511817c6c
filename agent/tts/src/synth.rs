//! Text to WAV: a local command, or a Wyoming TTS server.

use crate::player::spawn_in_group;
use crate::{TtsError, Wav, display_argv, first_line};
use edge_protocol::{
    AudioFormat, Event, FrameLimits, ProtocolError, kind, read_event, write_event,
};
use std::pin::Pin;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};

/// Replaced by the reply's text in the command's arguments.
pub const TEXT_PLACEHOLDER: &str = "{text}";

/// The Wyoming event that asks a TTS server for speech.
const SYNTHESIZE: &str = "synthesize";

/// The most audio accepted from a server for one reply (about 10 minutes at 22 kHz).
const MAX_AUDIO_BYTES: usize = 32 * 1024 * 1024;

/// Where speech comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A command that writes a WAV to stdout. Each argument has [`TEXT_PLACEHOLDER`]
    /// replaced by the text; without a placeholder anywhere the text goes to its stdin.
    /// No shell is involved.
    Command { argv: Vec<String> },
    /// A Wyoming TTS server, `tcp://host:port` or `unix:///path`; `voice` is sent as
    /// `{"voice": {"name": ...}}` when set.
    Wyoming { uri: String, voice: Option<String> },
}

impl Backend {
    /// `command` or `wyoming`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Command { .. } => "command",
            Backend::Wyoming { .. } => "wyoming",
        }
    }

    /// Speech for `text`, within `timeout` (a command still running then is killed).
    pub async fn synthesize(&self, text: &str, timeout: Duration) -> Result<Wav, TtsError> {
        match self {
            Backend::Command { argv } => run_command(argv, text, timeout).await,
            Backend::Wyoming { uri, voice } => {
                tokio::time::timeout(timeout, ask_server(uri, voice.as_deref(), text))
                    .await
                    .map_err(|_| TtsError::ServerTimeout {
                        uri: uri.clone(),
                        timeout,
                    })?
            }
        }
    }
}

const ROLE: &str = "TTS command";

async fn run_command(argv: &[String], text: &str, timeout: Duration) -> Result<Wav, TtsError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(TtsError::EmptyCommand { role: ROLE });
    };
    let command = display_argv(argv);
    let text_on_stdin = !argv.iter().any(|a| a.contains(TEXT_PLACEHOLDER));
    // The group kills whatever the command started too, on every path out of here.
    let (mut child, _group) = spawn_in_group(
        program,
        args.iter().map(|a| a.replace(TEXT_PLACEHOLDER, text)),
        if text_on_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        },
        Stdio::piped(),
        ROLE,
        &command,
    )?;
    let stdin = child.stdin.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A command that exits without reading is judged by its exit status.
            let _ = stdin.write_all(text.as_bytes()).await;
            let _ = stdin.write_all(b"\n").await;
        }
    };
    let run = async { tokio::join!(feed, child.wait_with_output()).1 };
    let output = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| TtsError::CommandTimeout {
            role: ROLE,
            command: command.clone(),
            timeout,
        })?
        .map_err(|source| TtsError::Spawn {
            role: ROLE,
            command: command.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(TtsError::Failed {
            role: ROLE,
            command,
            status: output.status,
            stderr: first_line(&output.stderr),
        });
    }
    Wav::parse(output.stdout).map_err(|source| TtsError::CommandWav {
        role: ROLE,
        command,
        source,
        stderr: first_line(&output.stderr),
    })
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

async fn connect(uri: &str) -> Result<Pin<Box<dyn Stream>>, TtsError> {
    let connect_err = |source| TtsError::Connect {
        uri: uri.to_owned(),
        source,
    };
    if let Some(path) = uri.strip_prefix("unix://") {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(connect_err)?;
        Ok(Box::pin(stream))
    } else if let Some(addr) = uri.strip_prefix("tcp://") {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(connect_err)?;
        let _ = stream.set_nodelay(true);
        Ok(Box::pin(stream))
    } else {
        Err(TtsError::BadUri {
            uri: uri.to_owned(),
        })
    }
}

/// The format an `audio-start` or `audio-chunk` event declares.
fn format_of(event: &Event) -> Option<AudioFormat> {
    Some(AudioFormat {
        rate: u32::try_from(event.u64("rate")?).ok()?,
        width: u16::try_from(event.u64("width")?).ok()?,
        channels: u16::try_from(event.u64("channels")?).ok()?,
    })
}

async fn ask_server(uri: &str, voice: Option<&str>, text: &str) -> Result<Wav, TtsError> {
    let stream = connect(uri).await?;
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    let mut request = Event::new(SYNTHESIZE).with("text", text);
    if let Some(voice) = voice {
        request = request.with("voice", serde_json::json!({ "name": voice }));
    }
    let closed = || TtsError::Closed {
        uri: uri.to_owned(),
    };
    let audio_err = |reason: String| TtsError::ServerAudio {
        uri: uri.to_owned(),
        reason,
    };
    write_event(&mut write, &request)
        .await
        .map_err(|source| match source {
            ProtocolError::Io(_) => closed(),
            source => TtsError::Protocol {
                uri: uri.to_owned(),
                source,
            },
        })?;
    let mut format: Option<AudioFormat> = None;
    let mut pcm = Vec::new();
    loop {
        let event = match read_event(&mut read, FrameLimits::default()).await {
            Ok(Some(event)) => event,
            Ok(None) | Err(ProtocolError::Truncated) | Err(ProtocolError::Io(_)) => {
                return Err(closed());
            }
            Err(source) => {
                return Err(TtsError::Protocol {
                    uri: uri.to_owned(),
                    source,
                });
            }
        };
        match event.kind.as_str() {
            kind::AUDIO_START => format = format_of(&event).or(format),
            kind::AUDIO_CHUNK => {
                let chunk_format = format_of(&event)
                    .or(format)
                    .ok_or_else(|| audio_err("audio-chunk without rate, width, channels".into()))?;
                match format {
                    Some(f) if f != chunk_format && !pcm.is_empty() => {
                        return Err(audio_err(format!(
                            "the format changed from {f:?} to {chunk_format:?} mid-reply"
                        )));
                    }
                    _ => format = Some(chunk_format),
                }
                let payload = event.payload.unwrap_or_default();
                if pcm.len() + payload.len() > MAX_AUDIO_BYTES {
                    return Err(audio_err(format!(
                        "more than {MAX_AUDIO_BYTES} bytes of audio"
                    )));
                }
                pcm.extend_from_slice(&payload);
            }
            kind::AUDIO_STOP => break,
            kind::ERROR => {
                return Err(TtsError::Refused {
                    uri: uri.to_owned(),
                    code: event.str("code").unwrap_or("error").to_owned(),
                    text: event.str("text").unwrap_or_default().to_owned(),
                });
            }
            _ => {}
        }
    }
    let format = format.ok_or_else(|| audio_err("no audio before audio-stop".into()))?;
    Wav::from_pcm(format, &pcm).map_err(|e| audio_err(e.to_string()))
}
