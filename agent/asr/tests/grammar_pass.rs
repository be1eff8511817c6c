//! The grammar pass on the real model: starting from what the free pass left in the decoder
//! (the prompt in its cache, a beam's new tokens decoded in one call and the last row of
//! logits read through whisper.cpp's state pointer) gives the same transcripts and scores
//! as decoding everything again one token per call.

mod common;

use common::{engine, repo};
use edge_asr::{DecodeOptions, Grammar, GrammarBias, HypothesisSource, Recognizer, Window};
use std::path::{Path, PathBuf};
use std::process::Command;

fn cache() -> PathBuf {
    std::env::var_os("EDGE_AGENT_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/edge-agent"),
        PathBuf::from,
    )
}

/// The provisioned tiny.en model (`agent/models/provision.sh asr`; tests/run.sh runs it).
fn model() -> PathBuf {
    let model = std::env::var_os("EDGE_AGENT_ASR_MODEL").map_or_else(
        || cache().join("models/whisper/ggml-tiny.en-q8_0.bin"),
        PathBuf::from,
    );
    assert!(
        model.is_file(),
        "no Whisper model at {}: run `bash agent/models/provision.sh asr`",
        model.display()
    );
    model
}

/// The provisioned model, decoding with `options`.
fn recognizer(options: DecodeOptions) -> Recognizer {
    Recognizer::load(&model(), options).expect("model")
}

/// The espeak-ng recordings of tests/speech/commands.jsonl (made once, then cached).
fn recordings() -> Vec<PathBuf> {
    recordings_of(&[])
}

/// The same recordings, mixed with the cabin noise at 12 dB SNR (made once, then cached).
fn noisy_recordings() -> Vec<PathBuf> {
    recordings_of(&["--snr=12"])
}

/// The recordings `generate.sh` makes with `args` (its last stdout line names their
/// directory).
fn recordings_of(args: &[&str]) -> Vec<PathBuf> {
    let out = Command::new("bash")
        .arg(repo().join("tests/speech/generate.sh"))
        .args(args)
        .output()
        .expect("run tests/speech/generate.sh");
    assert!(
        out.status.success(),
        "generate.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let dir = PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("generate.sh names its directory"),
    );
    let manifest = std::fs::read_to_string(dir.join("manifest.jsonl")).expect("manifest");
    manifest
        .lines()
        .map(|l| {
            let line: serde_json::Value = serde_json::from_str(l).expect(l);
            PathBuf::from(line["wav"].as_str().expect("wav"))
        })
        .collect()
}

fn samples(wav: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(wav).expect("a WAV file");
    assert_eq!(reader.spec().sample_rate, 16_000, "{}", wav.display());
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("a sample")) / 32_768.0)
        .collect()
}

fn grammar() -> Grammar {
    Grammar::parse(&engine().recognition_grammar(), "root").expect("the skills' grammar parses")
}

/// The daemon's defaults: penalty 10 (the pass on), 7.5 nats of max drop.
fn bias(grammar: &Grammar, rival_gap: Option<f32>) -> GrammarBias<'_> {
    GrammarBias {
        grammar,
        known: None,
        penalty: 10.0,
        max_drop: Some(7.5),
        rival_gap,
    }
}

/// Two transcriptions of `wav` hold the same readings, from the same sources, scored
/// within `nats` of each other.
fn assert_same_readings(
    a: &edge_asr::Transcription,
    b: &edge_asr::Transcription,
    nats: f32,
    wav: &Path,
) {
    assert_eq!(a.hypotheses.len(), b.hypotheses.len(), "{}", wav.display());
    for (x, y) in a.hypotheses.iter().zip(&b.hypotheses) {
        assert_eq!(
            (&x.text, x.source),
            (&y.text, y.source),
            "{}",
            wav.display()
        );
        assert!(
            (x.logprob - y.logprob).abs() < nats,
            "{}: {} scored {} and {}",
            wav.display(),
            x.text,
            x.logprob,
            y.logprob
        );
    }
}

#[test]
fn the_grammar_pass_from_the_free_pass_state_equals_a_fresh_decode() {
    let grammar = grammar();
    let from_free_pass = recognizer(DecodeOptions::default());
    let fresh = recognizer(DecodeOptions {
        grammar_from_free_pass: false,
        ..DecodeOptions::default()
    });
    let bias = bias(&grammar, None);
    let mut searched = 0;
    // The first 40 lines: many commands whose free transcript is no sentence of the grammar
    // (without the vocabulary prompt the search finds a sentence for 17 of them).
    for wav in recordings().iter().take(40) {
        let audio = samples(wav);
        let a = from_free_pass
            .transcribe(&audio, None, Some(bias))
            .expect("transcribed");
        let b = fresh
            .transcribe(&audio, None, Some(bias))
            .expect("transcribed");
        assert_same_readings(&a, &b, 1e-2, wav);
        searched += usize::from(
            a.hypotheses
                .iter()
                .any(|h| h.source == HypothesisSource::Grammar),
        );
    }
    eprintln!("the grammar pass found a sentence on {searched} of 40 recordings");
    assert!(
        searched >= 8,
        "the grammar pass found a sentence on only {searched} recordings"
    );
}

#[test]
fn rival_readings_swap_one_word_of_a_command_for_one_the_model_nearly_chose() {
    let recognizer = recognizer(DecodeOptions::default());
    let grammar = grammar();
    let bias = bias(&grammar, Some(edge_asr::RIVAL_NATS));
    let words = |text: &str| -> Vec<String> {
        text.split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
            .collect()
    };
    let mut with_rivals = 0;
    for wav in recordings() {
        let heard = recognizer
            .transcribe(&samples(&wav), None, Some(bias))
            .expect("transcribed");
        let free = &heard.hypotheses[0];
        let rivals: Vec<_> = heard
            .hypotheses
            .iter()
            .filter(|h| h.source == HypothesisSource::Rival)
            .collect();
        if free.in_grammar != Some(true) {
            assert!(rivals.is_empty(), "{}: {rivals:?}", wav.display());
            continue;
        }
        assert!(rivals.len() <= edge_asr::MAX_RIVALS, "{}", wav.display());
        with_rivals += usize::from(!rivals.is_empty());
        for rival in rivals {
            let (a, b) = (words(&free.text), words(&rival.text));
            assert_eq!(a.len(), b.len(), "{}: {rival:?}", wav.display());
            let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            assert_eq!(
                differ,
                1,
                "{}: {} vs {}",
                wav.display(),
                free.text,
                rival.text
            );
            assert_eq!(rival.in_grammar, Some(true), "{}", wav.display());
            assert!(
                (free.logprob - rival.logprob).abs() <= edge_asr::RIVAL_NATS + 1e-3,
                "{}: {} vs {}",
                wav.display(),
                free.logprob,
                rival.logprob
            );
        }
    }
    eprintln!("rival readings for {with_rivals} recordings");
    assert!(
        with_rivals >= 3,
        "rival readings for only {with_rivals} recordings"
    );
}

#[test]
fn repairs_put_grammar_words_where_the_free_pass_misheard_and_keep_the_rest() {
    let grammar = grammar();
    let with = recognizer(DecodeOptions::default());
    let without = recognizer(DecodeOptions {
        grammar_repairs: 0,
        ..DecodeOptions::default()
    });
    let bias = bias(&grammar, None);
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let mut repaired = Vec::new();
    for wav in noisy_recordings() {
        let audio = samples(&wav);
        let a = with
            .transcribe(&audio, None, Some(bias))
            .expect("transcribed");
        let b = without
            .transcribe(&audio, None, Some(bias))
            .expect("transcribed");
        // The free pass is the same; a repair is only looked for where the search found
        // nothing, so a search's reading is never replaced.
        assert_eq!(a.hypotheses[0], b.hypotheses[0], "{}", wav.display());
        let grammar_reading = |t: &edge_asr::Transcription| {
            t.hypotheses
                .iter()
                .find(|h| h.source == HypothesisSource::Grammar)
                .cloned()
        };
        match (grammar_reading(&a), grammar_reading(&b)) {
            (Some(x), Some(y)) => assert_eq!(x.text, y.text, "{}", wav.display()),
            (None, Some(y)) => panic!("{}: repairs lost {y:?}", wav.display()),
            (None, None) => {}
            (Some(fixed), None) => {
                let free = &a.hypotheses[0];
                assert_eq!(fixed.in_grammar, Some(true), "{}", wav.display());
                assert!(
                    free.logprob - fixed.logprob <= 7.5 + 1e-3,
                    "{}: {} vs {}",
                    wav.display(),
                    free.logprob,
                    fixed.logprob
                );
                // Some of the words heard stay, in order, around at most three replaced.
                let (heard, said) = (words(&free.text), words(&fixed.text));
                let same_start = heard.iter().zip(&said).take_while(|(x, y)| x == y).count();
                let same_end = heard
                    .iter()
                    .rev()
                    .zip(said.iter().rev())
                    .take_while(|(x, y)| x == y)
                    .count();
                assert!(same_start + same_end >= 1, "{}: {fixed:?}", wav.display());
                assert!(
                    heard.len().saturating_sub(same_start + same_end) <= 3,
                    "{}: {} -> {}",
                    wav.display(),
                    free.text,
                    fixed.text
                );
                repaired.push(format!("{} -> {}", free.text, fixed.text));
            }
        }
    }
    eprintln!("repaired at 12 dB:\n{}", repaired.join("\n"));
    assert!(!repaired.is_empty(), "no recording was repaired");
}

#[test]
fn a_free_pass_ended_at_its_loop_reads_and_scores_as_one_run_to_the_token_limit() {
    let grammar = grammar();
    let stopping = recognizer(DecodeOptions::default());
    let running_on = recognizer(DecodeOptions {
        stop_at_loops: false,
        ..DecodeOptions::default()
    });
    let bias = bias(&grammar, Some(2.0));
    let (mut shorter, mut tokens_stopping, mut tokens_running) = (0, 0, 0);
    for wav in recordings() {
        let audio = samples(&wav);
        let a = stopping
            .transcribe(&audio, None, Some(bias))
            .expect("transcribed");
        let b = running_on
            .transcribe(&audio, None, Some(bias))
            .expect("transcribed");
        // Every reading the same, scored the same: the free transcript by its kept words
        // and the end of text after them, whichever way its decode ended.
        assert_same_readings(&a, &b, 1e-3, &wav);
        let (free_a, free_b) = (&a.hypotheses[0], &b.hypotheses[0]);
        assert!(free_a.tokens <= free_b.tokens, "{}", wav.display());
        shorter += usize::from(free_a.tokens < free_b.tokens);
        tokens_stopping += free_a.tokens;
        tokens_running += free_b.tokens;
    }
    // Loops are common with a window fitted to the audio: the stop saves decoder steps.
    assert!(
        shorter >= 10,
        "{shorter} decodes ended at a loop ({tokens_stopping} tokens vs {tokens_running})"
    );
    println!("{shorter} decodes ended at a loop: {tokens_stopping} tokens vs {tokens_running}");
}

#[test]
fn a_second_listen_encodes_the_whole_window_and_runs_no_grammar_pass() {
    let recognizer = recognizer(DecodeOptions::default());
    let grammar = grammar();
    // As `RecognitionHints::second_listen` asks: penalty 0, rivals wanted.
    let again = GrammarBias {
        penalty: 0.0,
        ..bias(&grammar, Some(2.0))
    };
    for wav in recordings().iter().take(4) {
        let audio = samples(wav);
        let fitted = recognizer
            .transcribe_in(Window::Fitted, &audio, None, Some(bias(&grammar, None)))
            .expect("transcribed");
        let whole = recognizer
            .transcribe_in(Window::Whole, &audio, None, Some(again))
            .expect("transcribed");
        assert!(
            fitted.audio_ctx < 1500,
            "{}: {}",
            wav.display(),
            fitted.audio_ctx
        );
        assert_eq!(whole.audio_ctx, 1500, "{}", wav.display());
        assert!(!whole.text.is_empty(), "{}", wav.display());
        assert!(
            whole.hypotheses[0].in_grammar.is_some(),
            "{}",
            wav.display()
        );
        assert!(
            whole
                .hypotheses
                .iter()
                .all(|h| matches!(h.source, HypothesisSource::Free | HypothesisSource::Rival)),
            "{}: {:?}",
            wav.display(),
            whole.hypotheses
        );
    }
}
