//! The engine's mechanics on the real SmolLM2 model (provisioned by
//! `agent/models/provision.sh slm`): every intent's prompt is cached once, a request
//! evaluates only its own tokens for each intent, answers are repeatable, slots follow the
//! grammar. Accuracy is measured by `edge-slm classify` and the daemon tests
//! (docs/BENCHMARKS.md).

mod common;

use common::model;
use edge_protocol::slm::{IntentPrompt, PromptExample};
use edge_slm::{EngineError, EngineOptions, IntentEngine};

fn intents() -> Vec<IntentPrompt> {
    let example = |text: &str, slots: &str| PromptExample {
        text: text.into(),
        slots: slots.into(),
    };
    vec![
        IntentPrompt {
            name: "climate.set_fan".into(),
            description: "Set the fan (blower) level from 0 to 10".into(),
            examples: vec![example("set fan to 5", r#"{"level":5}"#)],
            slot_grammar: Some(
                "root ::= \"{\" ws \"\\\"level\\\"\" ws \":\" ws level ws \"}\"\nlevel ::= (\"0\" | [1-9] [0-9]{0,1})\nws ::= \" \"?\n"
                    .into(),
            ),
        },
        IntentPrompt {
            name: "media.pause".into(),
            description: "Pause playback".into(),
            examples: vec![example("pause the music", "{}")],
            slot_grammar: None,
        },
        IntentPrompt {
            name: "nav.cancel".into(),
            description: "Stop route guidance".into(),
            examples: vec![example("cancel navigation", "{}")],
            slot_grammar: None,
        },
    ]
}

#[test]
fn prompts_are_cached_once_and_answers_are_repeatable() {
    let mut engine = IntentEngine::load(&model(), EngineOptions::default()).expect("load");
    assert!(matches!(
        engine.answer("pause", None),
        Err(EngineError::NotLoaded)
    ));
    engine.set_intents(&intents()).expect("prompts");
    assert_eq!(engine.intents(), 3);
    let cached = engine.prompt_tokens();
    assert!(cached > 30, "{engine:?}");

    let first = engine
        .answer("could you turn the blower up to eight", None)
        .expect("answer");
    assert_eq!(first.intent, "climate.set_fan", "{first:?}");
    // Slots written under the grammar: a JSON object with the level, nothing else.
    let slots: serde_json::Value = serde_json::from_str(&first.slots).expect("slots JSON");
    let level = slots["level"].as_u64().expect("level");
    assert!(level <= 99, "{slots}");
    assert_eq!(slots.as_object().map(|o| o.len()), Some(1), "{slots}");
    assert!(first.tokens_generated > 0);
    // Only the request is evaluated, once per intent and once for the baseline: far less
    // than the cached prompts.
    assert!(first.tokens_scored < 4 * 16, "{first:?}");
    assert!(first.confidence > 0.0 && first.confidence <= 1.0);

    // Another request in between, then the same: every sequence was trimmed back to its
    // prompt, so the answer is identical.
    let other = engine
        .answer("hold the music a second", None)
        .expect("answer");
    assert_eq!(other.intent, "media.pause", "{other:?}");
    assert_eq!(other.slots, "{}");
    let again = engine
        .answer("could you turn the blower up to eight", None)
        .expect("answer");
    assert_eq!(again.intent, first.intent);
    assert_eq!(again.slots, first.slots);
    assert!(
        (again.score - first.score).abs() < 1e-3,
        "{first:?} {again:?}"
    );
    assert_eq!(engine.prompt_tokens(), cached);

    // The previous turn's intent raises its score.
    let follow = engine
        .answer("hold the music a second", Some("media.pause"))
        .expect("answer");
    assert!(follow.score > other.score, "{other:?} {follow:?}");
}

#[test]
fn a_bad_grammar_is_refused_on_load_naming_the_intent() {
    let mut engine = IntentEngine::load(&model(), EngineOptions::default()).expect("load");
    let mut intents = intents();
    intents[0].slot_grammar = Some("root ::= (".into());
    let err = engine.set_intents(&intents).expect_err("bad grammar");
    assert!(err.to_string().contains("climate.set_fan"), "{err}");
}

#[test]
fn a_missing_model_is_a_clear_error() {
    let err = IntentEngine::load(
        std::path::Path::new("/nonexistent/model.gguf"),
        EngineOptions::default(),
    )
    .expect_err("missing model");
    assert!(
        err.to_string()
            .contains("/nonexistent/model.gguf: no such file"),
        "{err}"
    );
}
