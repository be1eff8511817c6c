//! Misheard speech: `tests/resources/nlu/asr-near-miss.jsonl` holds every distinct misheard
//! Whisper tiny.en transcript of the spoken-command recordings (kind `asr`, with what was
//! said), and out-of-domain sentences that sound like commands (kind `ood`). Prints the
//! accuracy of the exact pass alone and with the near-miss pass; fails below the floors or
//! if any out-of-domain line becomes an action.

mod common;

use common::{labelled, shipped_engine};
use edge_intent::Evaluation;

/// Floor just under the measurement recorded in docs/ARCHITECTURE.md ("Near-miss
/// tolerance"): 18 of the 55 misheard transcripts accepted (32.7%; 4 with the exact pass
/// alone). Raise it when recovery improves; never lower it to make a change pass. It was
/// lowered once, from 0.35 (20 of 55), on purpose: one- and two-word utterances no longer
/// match by sound unless their words are template words (issue 16: a lone "math" muted the
/// media), which costs the two short transcripts whose words were misheard ("cancelled
/// navigation"); the recogniser's grammar pass recovers such commands before the text.
const MIN_ASR_ACCEPTANCE: f64 = 0.32;
/// Every out-of-domain line must stay `none`.
const MIN_OOD_REJECTION: f64 = 1.0;

#[test]
fn near_miss_accuracy_is_above_the_floor() {
    let engine = shipped_engine();
    let lines = labelled("asr-near-miss.jsonl");
    let mut exact = Evaluation::default();
    let mut tolerant = Evaluation::default();
    for expected in &lines {
        let before = engine.recognize_exact(&expected.text);
        let after = engine.recognize(&expected.text);
        if before.intent == "none" && after.intent != "none" {
            // A near miss must say so: never the full confidence of an exact match.
            assert!(
                after.confidence < 1.0,
                "{:?}: near miss with confidence {}",
                expected.text,
                after.confidence
            );
        }
        exact.record(expected, &before);
        tolerant.record(expected, &after);
    }
    println!("exact pass only:\n{}", exact.report());
    println!("exact pass, then near-miss pass:\n{}", tolerant.report());
    for miss in &tolerant.misses {
        println!(
            "MISS {:?}: expected {} {:?}, got {} {:?}",
            miss.text, miss.expected.0, miss.expected.1, miss.got.0, miss.got.1
        );
    }
    let asr = tolerant.per_kind.get("asr").copied().unwrap_or_default();
    let ood = tolerant.per_intent.get("none").copied().unwrap_or_default();
    assert!(asr.total >= 50, "only {} misheard transcripts", asr.total);
    assert!(ood.total >= 30, "only {} out-of-domain lines", ood.total);
    assert!(
        asr.acceptance() >= MIN_ASR_ACCEPTANCE,
        "misheard transcripts accepted {:.3}, floor {MIN_ASR_ACCEPTANCE}",
        asr.acceptance()
    );
    assert!(
        ood.intent_accuracy() >= MIN_OOD_REJECTION,
        "out-of-domain rejection {:.3}, floor {MIN_OOD_REJECTION}",
        ood.intent_accuracy()
    );
    // The near-miss pass only adds: what the exact pass accepted stays accepted.
    assert!(tolerant.overall.accepted >= exact.overall.accepted);
}

/// One- and two-word noise (`short-ood.jsonl`: sound-alikes of command words, lone template
/// words, fragments) acted on through the template tier: 24 of 276 before the short-utterance
/// rule, 2 after ("blower", "degrees": template words on their own, taken for "lower" and
/// "decrease"), none since such words are taken as they are (no substitution in one or two
/// words).

#[test]
fn short_noise_does_not_become_a_command() {
    let engine = shipped_engine();
    let lines = labelled("short-ood.jsonl");
    assert!(lines.len() >= 200, "only {} short utterances", lines.len());
    let acted: Vec<String> = lines
        .iter()
        .filter(|l| l.text.split_whitespace().count() <= 2)
        .filter_map(|l| {
            let r = engine.recognize(&l.text);
            (!r.is_none()).then(|| format!("{:?} -> {}", l.text, r.intent))
        })
        .collect();
    println!("{} of {} acted on: {acted:#?}", acted.len(), lines.len());
    assert!(acted.is_empty(), "short noise acted on: {acted:#?}");
}
