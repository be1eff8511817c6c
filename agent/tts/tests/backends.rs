//! The synthesisers and the player against real processes: `espeak-ng` (command back end
//! and behind an in-test Wyoming TTS server speaking `edge-protocol`), `sh` players.

use edge_protocol::{Event, kind, next_request, write_event};
use edge_tts::{
    Backend, Played, Player, Speaker, SpeakerState, StopHandle, TtsConfig, TtsError, Wav,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};

const ESPEAK: &str = "/usr/bin/espeak-ng";
const TIMEOUT: Duration = Duration::from_secs(20);

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn espeak() -> Backend {
    Backend::Command {
        argv: argv(&[ESPEAK, "--stdout", "--", "{text}"]),
    }
}

/// Checks the header by hand (not through `Wav`): RIFF/WAVE, sizes, 16-bit mono PCM.
fn assert_valid_wav(bytes: &[u8], rate: u32, min_ms: u64) {
    assert!(bytes.len() > 44, "{} bytes", bytes.len());
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().expect("2 bytes"));
    assert_eq!(u32_at(4) as usize, bytes.len() - 8, "RIFF size");
    assert_eq!(&bytes[12..16], b"fmt ");
    assert_eq!(u16_at(20), 1, "PCM");
    assert_eq!(u16_at(22), 1, "mono");
    assert_eq!(u32_at(24), rate, "sample rate");
    assert_eq!(u16_at(34), 16, "bits");
    assert_eq!(&bytes[36..40], b"data");
    let data = u32_at(40) as usize;
    assert_eq!(data, bytes.len() - 44, "data size");
    let ms = data as u64 * 1000 / (u64::from(rate) * 2);
    assert!(ms >= min_ms, "only {ms} ms of audio");
    let loud = bytes[44..]
        .chunks_exact(2)
        .filter(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > 1000)
        .count();
    assert!(
        loud > 1000,
        "the audio is (nearly) silent: {loud} loud samples"
    );
}

#[tokio::test]
async fn espeak_ng_command_writes_a_valid_wav() {
    let wav = espeak()
        .synthesize("The cabin temperature is now twenty one degrees.", TIMEOUT)
        .await
        .expect("espeak-ng speaks");
    assert_valid_wav(wav.bytes(), 22050, 1500);
    assert_eq!(wav.format().rate, 22050);
    assert!(wav.duration() > Duration::from_millis(1500), "{wav:?}");
}

#[tokio::test]
async fn without_a_placeholder_the_text_goes_to_stdin() {
    let text = "Pump three is running.";
    let on_stdin = Backend::Command {
        argv: argv(&[ESPEAK, "--stdout"]),
    }
    .synthesize(text, TIMEOUT)
    .await
    .expect("espeak-ng reads stdin");
    assert_valid_wav(on_stdin.bytes(), 22050, 700);
    // A text that looks like an option is spoken, not parsed (argv, `--`, no shell).
    let dashed = espeak()
        .synthesize("-5 degrees; rm -rf /tmp/x", TIMEOUT)
        .await
        .expect("spoken");
    assert_valid_wav(dashed.bytes(), 22050, 700);
}

#[tokio::test]
async fn bad_commands_are_named_with_their_status_and_stderr() {
    let err = Backend::Command {
        argv: argv(&[ESPEAK, "--stdout", "-v", "nosuchvoice", "{text}"]),
    }
    .synthesize("hello", TIMEOUT)
    .await
    .expect_err("unknown voice");
    assert!(matches!(err, TtsError::Failed { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the TTS command `/usr/bin/espeak-ng --stdout -v nosuchvoice {text}` failed with \
         exit status: 1: Error: The specified espeak-ng voice does not exist."
    );

    // espeak-ng exits 0 after a bad option: the missing WAV and its stderr tell.
    let err = Backend::Command {
        argv: argv(&[ESPEAK, "--no-such-option", "{text}"]),
    }
    .synthesize("hello", TIMEOUT)
    .await
    .expect_err("bad option");
    assert_eq!(
        err.to_string(),
        "the TTS command `/usr/bin/espeak-ng --no-such-option {text}` wrote no usable WAV to \
         stdout: no RIFF/WAVE header (0 bytes of output): /usr/bin/espeak-ng: unrecognized option \
         '--no-such-option'"
    );

    let err = Backend::Command {
        argv: argv(&["sh", "-c", "echo 'voice not found: xx' >&2; exit 4"]),
    }
    .synthesize("hello", TIMEOUT)
    .await
    .expect_err("fails");
    assert!(
        err.to_string()
            .ends_with("failed with exit status: 4: voice not found: xx"),
        "{err}"
    );

    let err = Backend::Command {
        argv: argv(&["/nonexistent/tts", "{text}"]),
    }
    .synthesize("hello", TIMEOUT)
    .await
    .expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("cannot run the TTS command `/nonexistent/tts {text}`"),
        "{err}"
    );

    let err = Backend::Command {
        argv: argv(&["echo", "{text}"]),
    }
    .synthesize("not audio", TIMEOUT)
    .await
    .expect_err("not a wav");
    assert!(
        err.to_string()
            .contains("`echo {text}` wrote no usable WAV to stdout: no RIFF/WAVE header"),
        "{err}"
    );

    let err = Backend::Command { argv: Vec::new() }
        .synthesize("x", TIMEOUT)
        .await
        .expect_err("empty");
    assert_eq!(
        err.to_string(),
        "no TTS command configured (the command is empty)"
    );
}

/// Whether a process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Live (non-zombie) processes in process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, rest) = stat.rsplit_once(") ")?;
                    let fields: Vec<&str> = rest.split(' ').collect();
                    // state ppid pgrp
                    Some(fields.first()? != &"Z" && fields.get(2)?.parse::<u32>().ok()? == pgid)
                })
                .unwrap_or(false)
        })
        .collect()
}

async fn read_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_slow_command_times_out_and_is_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pid");
    let started = Instant::now();
    let err = Backend::Command {
        argv: argv(&[
            "sh",
            "-c",
            "echo $$ > \"$0\"; sleep 30",
            pidfile.to_str().expect("utf-8"),
        ]),
    }
    .synthesize("hello", Duration::from_millis(500))
    .await
    .expect_err("too slow");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        err.to_string()
            .contains("did not finish within 500ms (killed)"),
        "{err}"
    );
    let pid = read_pid(&pidfile).await;
    // The shell and its `sleep` child: the whole group is killed.
    wait_until("the command's group to die", || {
        group_members(pid).is_empty()
    })
    .await;
}

/// How the in-test Wyoming server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// espeak-ng speaks the text, streamed as audio-chunk events.
    Speak,
    /// An `error` event.
    Refuse,
    /// Nothing (the client must time out).
    Hang,
}

/// One Wyoming TTS conversation: reads `synthesize`, answers, returns the request.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, answer: Answer) -> Event {
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    let request = next_request(&mut read, &mut write)
        .await
        .expect("a frame")
        .expect("a request");
    assert_eq!(request.kind, "synthesize");
    match answer {
        Answer::Speak => {
            let text = request.str("text").expect("text").to_owned();
            let voice = request
                .data
                .get("voice")
                .and_then(|v| v.get("name"))
                .and_then(|v| v.as_str())
                .unwrap_or("en")
                .to_owned();
            let out = tokio::process::Command::new(ESPEAK)
                .args(["--stdout", "-v", &voice, "--", &text])
                .output()
                .await
                .expect("espeak-ng runs");
            assert!(out.status.success());
            let wav = Wav::parse(out.stdout).expect("espeak-ng wav");
            let f = wav.format();
            let format = |kind: &str| {
                Event::new(kind)
                    .with("rate", f.rate)
                    .with("width", f.width)
                    .with("channels", f.channels)
            };
            write_event(&mut write, &format(kind::AUDIO_START))
                .await
                .expect("write");
            for chunk in wav.pcm().chunks(2048) {
                write_event(
                    &mut write,
                    &format(kind::AUDIO_CHUNK).with_payload(chunk.to_vec()),
                )
                .await
                .expect("write");
            }
            write_event(&mut write, &Event::new(kind::AUDIO_STOP))
                .await
                .expect("write");
        }
        Answer::Refuse => write_event(&mut write, &Event::error("no-voice", "voice xx not found"))
            .await
            .expect("write"),
        Answer::Hang => tokio::time::sleep(Duration::from_secs(60)).await,
    }
    request
}

async fn tcp_server(answer: Answer) -> (String, tokio::task::JoinHandle<Event>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let uri = format!("tcp://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        serve(stream, answer).await
    });
    (uri, task)
}

#[tokio::test]
async fn wyoming_server_audio_becomes_a_wav() {
    let (uri, server) = tcp_server(Answer::Speak).await;
    let text = "Window opened.";
    let wav = Backend::Wyoming {
        uri,
        voice: Some("en-us".into()),
    }
    .synthesize(text, TIMEOUT)
    .await
    .expect("synthesised");
    let request = server.await.expect("server");
    assert_eq!(request.str("text"), Some(text));
    assert_eq!(request.data["voice"]["name"], "en-us");
    assert_valid_wav(wav.bytes(), 22050, 500);
    // The same samples espeak-ng writes itself.
    let direct = Backend::Command {
        argv: argv(&[ESPEAK, "--stdout", "-v", "en-us", "--", "{text}"]),
    }
    .synthesize(text, TIMEOUT)
    .await
    .expect("direct");
    assert_eq!(wav.pcm(), direct.pcm());
}

#[tokio::test]
async fn wyoming_over_a_unix_socket_without_a_voice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("tts.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        serve(stream, Answer::Speak).await
    });
    let wav = Backend::Wyoming {
        uri: format!("unix://{}", path.display()),
        voice: None,
    }
    .synthesize("Done.", TIMEOUT)
    .await
    .expect("synthesised");
    let request = server.await.expect("server");
    assert!(!request.data.contains_key("voice"), "{request:?}");
    assert_valid_wav(wav.bytes(), 22050, 200);
}

#[tokio::test]
async fn wyoming_failures_name_the_uri() {
    let (uri, _server) = tcp_server(Answer::Refuse).await;
    let err = Backend::Wyoming {
        uri: uri.clone(),
        voice: Some("xx".into()),
    }
    .synthesize("hello", TIMEOUT)
    .await
    .expect_err("refused");
    assert_eq!(
        err.to_string(),
        format!("the TTS server at {uri} refused the request (no-voice): voice xx not found")
    );

    let (uri, _server) = tcp_server(Answer::Hang).await;
    let started = Instant::now();
    let err = Backend::Wyoming {
        uri: uri.clone(),
        voice: None,
    }
    .synthesize("hello", Duration::from_millis(300))
    .await
    .expect_err("timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err.to_string(),
        format!("the TTS server at {uri} did not finish within 300ms")
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let uri = format!("tcp://127.0.0.1:{port}");
    let err = Backend::Wyoming {
        uri: uri.clone(),
        voice: None,
    }
    .synthesize("hello", TIMEOUT)
    .await
    .expect_err("nobody listens");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to the TTS server at {uri}:")),
        "{err}"
    );

    let err = Backend::Wyoming {
        uri: "http://x".into(),
        voice: None,
    }
    .synthesize("hello", TIMEOUT)
    .await
    .expect_err("bad uri");
    assert!(err.to_string().contains("\"http://x\" is invalid"), "{err}");
}

fn short_wav() -> Wav {
    let pcm: Vec<u8> = (0..1600i16)
        .flat_map(|i| ((i % 100) * 300).to_le_bytes())
        .collect();
    Wav::from_pcm(edge_protocol::AudioFormat::SPEECH, &pcm).expect("wav")
}

#[tokio::test]
async fn the_player_gets_the_wav_on_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("played.wav");
    let wav = short_wav();
    let player = Player::new(
        argv(&["sh", "-c", "cat > \"$0\"", out.to_str().expect("utf-8")]),
        TIMEOUT,
    );
    let played = player.play(&wav).expect("starts").wait().await;
    assert_eq!(played.expect("plays"), Played::Finished);
    assert_eq!(std::fs::read(&out).expect("written"), wav.bytes());

    let err = Player::new(
        argv(&[
            "sh",
            "-c",
            "cat >/dev/null; echo 'cannot open audio device' >&2; exit 3",
        ]),
        TIMEOUT,
    )
    .play(&wav)
    .expect("starts")
    .wait()
    .await
    .expect_err("fails");
    assert!(
        err.to_string()
            .ends_with("failed with exit status: 3: cannot open audio device"),
        "{err}"
    );
    assert!(err.to_string().starts_with("the player `sh -c"), "{err}");

    let err = Player::new(argv(&["/nonexistent/aplay", "-"]), TIMEOUT)
        .play(&wav)
        .expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("cannot run the player `/nonexistent/aplay -`"),
        "{err}"
    );
}

#[tokio::test]
async fn stop_kills_the_player_and_what_it_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pid");
    let player = Player::new(
        argv(&[
            "sh",
            "-c",
            "echo $$ > \"$0\"; cat > /dev/null; sleep 30",
            pidfile.to_str().expect("utf-8"),
        ]),
        TIMEOUT,
    );
    let playback = player.play(&short_wav()).expect("starts");
    let pid = playback.pid().expect("pid");
    assert_eq!(read_pid(&pidfile).await, pid);
    wait_until("the player's sleep", || group_members(pid).len() == 2).await;
    let stop = playback.stop_handle();
    let waiting = tokio::spawn(playback.wait());
    let stopped_at = Instant::now();
    stop.stop();
    let played = waiting.await.expect("joined").expect("stopped");
    assert_eq!(played, Played::Stopped);
    assert!(stopped_at.elapsed() < Duration::from_secs(2));
    assert!(!alive(pid), "player {pid} still alive");
    wait_until("the player's group to die", || {
        group_members(pid).is_empty()
    })
    .await;

    // A handle stopped before playback starts stops it at once.
    let stop = StopHandle::new();
    stop.stop();
    let played = player
        .play_with(&short_wav(), stop)
        .expect("starts")
        .wait()
        .await
        .expect("stopped");
    assert_eq!(played, Played::Stopped);
}

#[tokio::test]
async fn a_player_that_hangs_is_killed_after_the_audio_and_the_margin() {
    let wav = short_wav(); // 100 ms
    let started = Instant::now();
    let err = Player::new(
        argv(&["sh", "-c", "cat > /dev/null; exec sleep 30"]),
        Duration::from_millis(300),
    )
    .play(&wav)
    .expect("starts")
    .wait()
    .await
    .expect_err("times out");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        err.to_string()
            .contains("did not finish within 400ms (killed)"),
        "{err}"
    );
}

#[tokio::test]
async fn the_speaker_replaces_a_reply_and_stops_on_barge_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pid");
    let kept = dir.path().join("last.wav");
    let speaker = Speaker::new(TtsConfig {
        backend: espeak(),
        player: argv(&[
            "sh",
            "-c",
            "echo $$ > \"$0\"; cat > /dev/null; sleep 30",
            pidfile.to_str().expect("utf-8"),
        ]),
        timeout: TIMEOUT,
        keep_last_wav: Some(kept.clone()),
    });
    assert_eq!(speaker.status().state, SpeakerState::Idle);
    assert!(!speaker.stop(), "nothing to stop yet");

    let first = speaker.say("The first reply, which is long enough to be interrupted.");
    let first_pid = read_pid(&pidfile).await;
    wait_until("speaking", || {
        speaker.status().state == SpeakerState::Speaking
            && speaker.status().player_pid == Some(first_pid)
    })
    .await;
    std::fs::remove_file(&pidfile).expect("rm pid");

    let second = speaker.say("The second reply.");
    assert_eq!(first.finished().await.expect("stopped"), Played::Stopped);
    assert!(!alive(first_pid), "first player still alive");
    let second_pid = read_pid(&pidfile).await;
    assert_ne!(first_pid, second_pid);
    wait_until("speaking again", || {
        speaker.status().player_pid == Some(second_pid)
    })
    .await;
    let direct = espeak()
        .synthesize("The second reply.", TIMEOUT)
        .await
        .expect("direct");
    assert_eq!(std::fs::read(&kept).expect("kept"), direct.bytes());

    assert!(speaker.stop(), "barge-in");
    assert_eq!(second.finished().await.expect("stopped"), Played::Stopped);
    assert!(!alive(second_pid), "second player still alive");
    let status = speaker.status();
    assert_eq!(status.state, SpeakerState::Idle);
    assert_eq!(
        (
            status.spoken,
            status.replaced,
            status.interrupted,
            status.failed
        ),
        (0, 1, 1, 0),
        "{status:?}"
    );
    assert_eq!(status.backend, "command");
}

#[tokio::test]
async fn the_speaker_counts_spoken_and_failed_replies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.wav");
    let speaker = Speaker::new(TtsConfig {
        backend: espeak(),
        player: argv(&["sh", "-c", "cat > \"$0\"", out.to_str().expect("utf-8")]),
        timeout: TIMEOUT,
        keep_last_wav: None,
    });
    let played = speaker.say("Hello there.").finished().await;
    assert_eq!(played.expect("spoken"), Played::Finished);
    assert_valid_wav(&std::fs::read(&out).expect("played"), 22050, 300);
    assert_eq!(speaker.status().spoken, 1);

    let speaker = Speaker::new(TtsConfig {
        backend: Backend::Command {
            argv: argv(&["/nonexistent/tts"]),
        },
        player: Vec::new(),
        timeout: TIMEOUT,
        keep_last_wav: None,
    });
    speaker
        .say("Hello there.")
        .finished()
        .await
        .expect_err("fails");
    let status = speaker.status();
    assert_eq!((status.spoken, status.failed), (0, 1));
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("/nonexistent/tts")),
        "{status:?}"
    );
}
