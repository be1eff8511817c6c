//! The detector against the reference implementation, and the worker over Wyoming, on the
//! provisioned models (`agent/models/provision.sh wake`) and the test recordings in
//! tests/resources/wake (espeak-ng; reference.json from agent/models/wake_reference.py).

use edge_protocol::{AudioFormat, Connection, Event, kind};
use edge_wake::{Detector, Runtime, STEP_SAMPLES, WakeModels};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn models_dir() -> PathBuf {
    let cache = std::env::var_os("EDGE_AGENT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edge-agent")))
        .unwrap_or_default();
    let dir = cache.join("models/wake");
    assert!(
        dir.join("melspectrogram.tflite").is_file(),
        "{} has no models: run `bash agent/models/provision.sh wake`",
        dir.display()
    );
    dir
}

fn resources() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        )
        .join("../../tests/resources/wake")
}

fn samples(name: &str) -> Vec<i16> {
    let mut reader = hound::WavReader::open(resources().join(name)).expect("test recording");
    reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect()
}

fn load(phrases: &[&str]) -> WakeModels {
    let dir = models_dir();
    let runtime = Runtime::open(
        &dir.join(std::env::consts::ARCH)
            .join("libtensorflowlite_c.so"),
    )
    .expect("runtime");
    let phrases: Vec<String> = phrases.iter().map(|p| p.to_string()).collect();
    WakeModels::load(&runtime, &dir, &phrases).expect("models")
}

#[test]
fn the_detector_reproduces_the_reference_implementation() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(resources().join("reference.json")).expect("reference.json"),
    )
    .expect("json");
    let models = load(&["okay_nabu", "hey_jarvis"]);
    for recording in ["okay_nabu_open_window.wav", "no_wake_word.wav"] {
        let mut detector = Detector::new(&models).expect("detector");
        let mut steps = Vec::new();
        for chunk in samples(recording).chunks_exact(STEP_SAMPLES) {
            let mut completed = detector.push(chunk).expect("inference");
            assert_eq!(completed.len(), 1, "one step per 80 ms chunk");
            steps.push(completed.remove(0));
        }
        for (p, phrase) in ["okay_nabu", "hey_jarvis"].iter().enumerate() {
            let expected: Vec<f64> = reference[recording][phrase]
                .as_array()
                .expect("steps")
                .iter()
                .map(|v| v.as_f64().expect("number"))
                .collect();
            assert_eq!(steps.len(), expected.len(), "{recording}");
            for (i, (step, want)) in steps.iter().zip(&expected).enumerate() {
                assert_eq!(step[p].name, *phrase);
                let got = f64::from(step[p].probability);
                assert!(
                    (got - want).abs() < 1e-3,
                    "{recording} {phrase} step {i}: {got} vs reference {want}"
                );
            }
        }
    }
}

#[test]
fn an_unknown_phrase_is_named_with_the_shipped_ones() {
    let dir = models_dir();
    let runtime = Runtime::open(
        &dir.join(std::env::consts::ARCH)
            .join("libtensorflowlite_c.so"),
    )
    .expect("runtime");
    let err = WakeModels::load(&runtime, &dir, &["okay_computer".to_owned()])
        .expect_err("no such phrase");
    let text = err.to_string();
    assert!(
        text.contains("okay_computer") && text.contains("okay_nabu"),
        "{text}"
    );
    let err = Runtime::open(&dir.join("no-such-runtime.so")).expect_err("no such file");
    assert!(err.to_string().contains("no-such-runtime.so"), "{err}");
}

/// The worker binary on a Unix socket in a temporary directory.
struct Worker {
    child: Child,
    uri: String,
    _dir: tempfile::TempDir,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_worker() -> Worker {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = format!("unix://{}", dir.path().join("wake.sock").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-wake"))
        .arg("--models")
        .arg(models_dir())
        .args([
            "--model",
            "okay_nabu",
            "--model",
            "hey_jarvis",
            "--listen",
            &uri,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("edge-wake");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("READY line");
    assert!(line.starts_with("READY"), "{line}");
    Worker {
        child,
        uri,
        _dir: dir,
    }
}

fn audio_start() -> Event {
    let f = AudioFormat::SPEECH;
    Event::new(kind::AUDIO_START)
        .with("rate", f.rate)
        .with("width", f.width)
        .with("channels", f.channels)
}

/// Streams `recording` in 100 ms chunks; returns the detections and whether
/// `not-detected` ended the stream.
async fn stream(connection: &mut Connection, recording: &str) -> (Vec<Event>, bool) {
    let f = AudioFormat::SPEECH;
    connection.send(&audio_start()).await.expect("audio-start");
    for chunk in samples(recording).chunks(1600) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
        let event = Event::new(kind::AUDIO_CHUNK)
            .with("rate", f.rate)
            .with("width", f.width)
            .with("channels", f.channels)
            .with_payload(bytes);
        connection.send(&event).await.expect("audio-chunk");
    }
    connection
        .send(&Event::new(kind::AUDIO_STOP))
        .await
        .expect("audio-stop");
    // A ping's pong marks the end of what the worker had to say about this stream.
    connection
        .send(&Event::new(kind::PING))
        .await
        .expect("ping");
    let mut detections = Vec::new();
    let mut not_detected = false;
    loop {
        let event = connection.receive().await.expect("event");
        match event.kind.as_str() {
            "detection" => detections.push(event),
            "not-detected" => not_detected = true,
            "pong" => return (detections, not_detected),
            other => panic!("unexpected {other}: {event:?}"),
        }
    }
}

#[tokio::test]
async fn the_worker_detects_the_phrase_where_it_is_said_and_only_there() {
    let worker = start_worker();
    let mut connection = Connection::connect("wake worker", &worker.uri, Duration::from_secs(30))
        .await
        .expect("connect");
    let info = connection
        .request(&Event::new(kind::DESCRIBE), kind::INFO)
        .await
        .expect("info");
    let models = &info.data["wake"][0]["models"];
    assert_eq!(models[0]["name"], "okay_nabu", "{info:?}");
    assert_eq!(models[1]["name"], "hey_jarvis", "{info:?}");

    connection
        .send(&Event::new("detect").with("names", serde_json::json!(["okay_nabu"])))
        .await
        .expect("detect");
    let (detections, not_detected) = stream(&mut connection, "okay_nabu_open_window.wav").await;
    assert_eq!(detections.len(), 1, "{detections:?}");
    assert!(!not_detected);
    let detection = &detections[0];
    assert_eq!(detection.str("name"), Some("okay_nabu"));
    // "okay nabu" is said from 0.5 s to about 1.5 s of the recording.
    let at = detection.u64("timestamp").expect("timestamp");
    assert!((1_000..=2_500).contains(&at), "detected at {at} ms");
    assert!(detection.data["probability"].as_f64().expect("probability") >= 0.5);

    let (detections, not_detected) = stream(&mut connection, "no_wake_word.wav").await;
    assert!(detections.is_empty(), "{detections:?}");
    assert!(not_detected);

    // A stricter threshold than the phrase ever reaches: nothing.
    connection
        .send(&Event::new("detect").with("threshold", 0.99))
        .await
        .expect("detect");
    let (detections, not_detected) = stream(&mut connection, "okay_nabu_open_window.wav").await;
    assert!(detections.is_empty() && not_detected, "{detections:?}");
}

#[tokio::test]
async fn bad_requests_get_named_errors_and_the_connection_serves_on() {
    let worker = start_worker();
    let mut connection = Connection::connect("wake worker", &worker.uri, Duration::from_secs(30))
        .await
        .expect("connect");
    let chunk = Event::new(kind::AUDIO_CHUNK)
        .with("rate", 16000)
        .with("width", 2)
        .with("channels", 1)
        .with_payload(vec![0; 3200]);
    for (request, words) in [
        (chunk, vec!["audio-chunk before audio-start"]),
        (
            Event::new("detect").with("names", serde_json::json!(["okay_computer"])),
            vec!["okay_computer", "okay_nabu"],
        ),
        (
            Event::new("detect").with("threshold", 2),
            vec!["threshold", "0 to 1"],
        ),
        (
            Event::new(kind::AUDIO_START)
                .with("rate", 16000)
                .with("width", 9)
                .with("channels", 1),
            vec!["width"],
        ),
    ] {
        connection.send(&request).await.expect("send");
        let answer = connection.receive().await.expect("answer");
        assert_eq!(answer.kind, "error", "{answer:?}");
        let text = answer.str("text").unwrap_or_default();
        for word in words {
            assert!(text.contains(word), "{text} lacks {word}");
        }
    }
    let info = connection
        .request(&Event::new(kind::DESCRIBE), kind::INFO)
        .await
        .expect("still serving");
    assert!(info.data["wake"].is_array());
}
