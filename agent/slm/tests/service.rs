//! The worker's Wyoming-style conversation on the real SmolLM2 model: describe, load,
//! recognise, and bad requests answered with `error` events naming what was wrong while
//! the connection (and the worker) carries on.

mod common;

use common::model;
use edge_protocol::slm::{IntentPrompt, PromptExample, SlmAnswer, SlmLoad, SlmLoaded, kind};
use edge_protocol::{Event, FrameLimits, read_event, write_event};
use edge_slm::{EngineOptions, IntentEngine, SlmService};
use tokio::io::BufReader;

fn load() -> SlmLoad {
    let intent = |name: &str, description: &str, example: &str| IntentPrompt {
        name: name.into(),
        description: description.into(),
        examples: vec![PromptExample {
            text: example.into(),
            slots: "{}".into(),
        }],
        slot_grammar: None,
    };
    SlmLoad {
        intents: vec![
            intent("media.pause", "Pause playback", "pause the music"),
            intent("media.next", "Skip to the next track", "next song"),
            intent("nav.cancel", "Stop route guidance", "cancel navigation"),
        ],
    }
}

#[tokio::test]
async fn the_service_answers_and_survives_bad_requests() -> anyhow::Result<()> {
    let engine = IntentEngine::load(&model(), EngineOptions::default())?;
    let service = SlmService::start(engine, "smollm2".into());
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(service.serve_connection(theirs));
    let (read, mut write) = tokio::io::split(ours);
    let mut read = BufReader::new(read);
    let mut ask = async |event: Event| -> anyhow::Result<Event> {
        write_event(&mut write, &event).await?;
        read_event(&mut read, FrameLimits::default())
            .await?
            .ok_or_else(|| anyhow::anyhow!("connection closed"))
    };

    let info = ask(Event::new("describe")).await?;
    assert_eq!(info.data["slm"]["model"], "smollm2", "{info:?}");

    let early = ask(Event::new(kind::RECOGNIZE).with("text", "pause")).await?;
    assert_eq!(early.str("code"), Some("not-loaded"), "{early:?}");

    let bad = ask(Event::new(kind::RECOGNIZE).with("txt", "pause")).await?;
    assert_eq!(bad.str("code"), Some("bad-request"), "{bad:?}");
    assert!(bad.str("text").unwrap_or("").contains("text"), "{bad:?}");

    let unknown = ask(Event::new("transcribe")).await?;
    assert_eq!(unknown.str("code"), Some("bad-request"), "{unknown:?}");

    let loaded: SlmLoaded = ask(Event::from_data(kind::LOAD, &load()))
        .await?
        .data_as()?;
    assert_eq!(loaded.intents, 3);
    assert!(loaded.prompt_tokens > 20, "{loaded:?}");

    let answer = ask(Event::new(kind::RECOGNIZE).with("text", "hang on, pause that")).await?;
    assert_eq!(answer.kind, kind::ANSWER, "{answer:?}");
    let answer: SlmAnswer = answer.data_as()?;
    assert_eq!(answer.intent, "media.pause", "{answer:?}");
    assert_eq!(answer.slots, "{}");
    assert!(answer.runner_up.is_some());

    drop(write);
    drop(read);
    server.await??;
    Ok(())
}
