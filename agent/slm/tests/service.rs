//! The worker's Wyoming-style conversation on the real SmolLM2 model: describe, load,
//! recognise, and bad requests answered with `error` events naming what was wrong while
//! the connection (and the worker) carries on.

mod common;

use common::model;
use edge_protocol::slm::{
    ChoiceAnswer, ChoiceOption, ChoiceRequest, IntentPrompt, PromptExample, SlmAnswer, SlmLoad,
    SlmLoaded, kind,
};
use edge_protocol::{Event, FrameLimits, read_event, write_event};
use edge_slm::{EngineOptions, IntentEngine, SlmService};
use tokio::io::BufReader;

/// One connection to the service, as a client would hold it.
struct Client {
    write: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    read: BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
    server: tokio::task::JoinHandle<Result<(), edge_protocol::ProtocolError>>,
}

impl Client {
    fn open(service: SlmService) -> Self {
        // Room for an slm-embedding of a few hundred vectors.
        let (ours, theirs) = tokio::io::duplex(1 << 22);
        let server = tokio::spawn(service.serve_connection(theirs));
        let (read, write) = tokio::io::split(ours);
        Self {
            write,
            read: BufReader::new(read),
            server,
        }
    }

    async fn ask(&mut self, event: Event) -> anyhow::Result<Event> {
        write_event(&mut self.write, &event).await?;
        read_event(&mut self.read, FrameLimits::default())
            .await?
            .ok_or_else(|| anyhow::anyhow!("connection closed"))
    }

    /// Hangs up; the service must end the connection without an error.
    async fn close(self) -> anyhow::Result<()> {
        drop(self.write);
        drop(self.read);
        self.server.await??;
        Ok(())
    }
}

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
    let service = SlmService::start(Some(engine), None, "smollm2".into(), String::new());
    let mut client = Client::open(service);
    let mut ask = async |event: Event| client.ask(event).await;

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

    client.close().await
}

#[tokio::test]
async fn slm_choose_answers_and_refuses_bad_requests() -> anyhow::Result<()> {
    let engine = IntentEngine::load(&model(), EngineOptions::default())?;
    let service = SlmService::start(Some(engine), None, "smollm2".into(), String::new());
    let mut client = Client::open(service);
    let mut ask = async |event: Event| client.ask(event).await;
    let option = |id: &str, description: &str| ChoiceOption {
        id: id.into(),
        description: description.into(),
    };
    let request = |answer: &str| ChoiceRequest {
        question: "What does the pressure gauge read?".into(),
        answer: answer.into(),
        options: vec![
            option("low", "below normal, under the green band"),
            option("normal", "normal, in the green band where it should be"),
            option("zero", "zero, the needle does not move"),
        ],
        min_score: None,
        min_confidence: None,
    };

    // No slm-load needed.
    let reply = ask(Event::from_data(
        kind::CHOOSE,
        &request("the needle isn't moving at all"),
    ))
    .await?;
    assert_eq!(reply.kind, kind::CHOICE, "{reply:?}");
    let choice: ChoiceAnswer = reply.data_as()?;
    assert_eq!(choice.choice.as_deref(), Some("zero"), "{choice:?}");
    assert_eq!(choice.scores.len(), 3);
    assert!(
        choice.confidence > 0.5 && choice.confidence <= 1.0,
        "{choice:?}"
    );

    let reply = ask(Event::from_data(
        kind::CHOOSE,
        &request("who is on shift tomorrow"),
    ))
    .await?;
    let choice: ChoiceAnswer = reply.data_as()?;
    assert_eq!(choice.choice, None, "{choice:?}");

    // Bad requests name the field; the connection carries on.
    let refused = |event: &Event, field: &str| {
        assert_eq!(event.kind, "error", "{event:?}");
        assert_eq!(event.str("code"), Some("bad-request"), "{event:?}");
        let text = event.str("text").unwrap_or("");
        assert!(
            text.contains("slm-choose") && text.contains(field),
            "{event:?}"
        );
    };
    let missing = ask(Event::new(kind::CHOOSE)
        .with("question", "q?")
        .with("answer", "a"))
    .await?;
    refused(&missing, "options");
    let mut many = request("low");
    many.options = (0..17).map(|k| option(&format!("o{k}"), "")).collect();
    refused(
        &ask(Event::from_data(kind::CHOOSE, &many)).await?,
        "options",
    );
    let mut none = request("low");
    none.options.clear();
    refused(
        &ask(Event::from_data(kind::CHOOSE, &none)).await?,
        "options",
    );
    let mut long_id = request("low");
    long_id.options[1].id = "x".repeat(65);
    refused(
        &ask(Event::from_data(kind::CHOOSE, &long_id)).await?,
        "options[1].id",
    );
    let mut twice = request("low");
    twice.options[2].id = "low".into();
    refused(
        &ask(Event::from_data(kind::CHOOSE, &twice)).await?,
        "options[2].id",
    );
    let long_answer = request(&"very ".repeat(100));
    refused(
        &ask(Event::from_data(kind::CHOOSE, &long_answer)).await?,
        "answer",
    );
    let mut long_description = request("low");
    long_description.options[0].description = "d".repeat(201);
    refused(
        &ask(Event::from_data(kind::CHOOSE, &long_description)).await?,
        "options[0].description",
    );

    let reply = ask(Event::from_data(
        kind::CHOOSE,
        &request("right in the green"),
    ))
    .await?;
    assert_eq!(reply.kind, kind::CHOICE, "{reply:?}");

    client.close().await
}

#[tokio::test]
async fn slm_embed_is_served_by_the_encoder_alone() -> anyhow::Result<()> {
    // A worker with the encoder and no language model: the embedding tier's own worker.
    let encoder = edge_slm::SentenceEncoder::load(&common::encoder(), 1)?;
    let service = SlmService::start(None, Some(encoder), String::new(), "minilm".into());
    let mut client = Client::open(service);
    let mut ask = async |event: Event| client.ask(event).await;

    let info = ask(Event::new("describe")).await?;
    assert_eq!(info.data["slm"]["encoder"], "minilm", "{info:?}");
    assert_eq!(
        info.data["slm"]["model"],
        serde_json::Value::Null,
        "{info:?}"
    );

    let request = edge_protocol::slm::EmbedRequest {
        texts: vec!["I'm freezing".into(), "make it warmer".into()],
    };
    let reply = ask(Event::from_data(kind::EMBED, &request)).await?;
    assert_eq!(reply.kind, kind::EMBEDDING, "{reply:?}");
    let answer = edge_protocol::slm::EmbedAnswer::from_event(&reply).map_err(anyhow::Error::msg)?;
    assert_eq!(answer.dim, 384);
    assert_eq!(answer.vectors.len(), 2);
    assert!(answer.vectors.iter().all(|v| v.len() == 384));

    // What the worker cannot do, and bad requests, are errors naming why.
    let no_model = ask(Event::new(kind::RECOGNIZE).with("text", "pause")).await?;
    assert_eq!(no_model.str("code"), Some("no-model"), "{no_model:?}");
    let empty = ask(Event::from_data(
        kind::EMBED,
        &edge_protocol::slm::EmbedRequest { texts: vec![] },
    ))
    .await?;
    assert_eq!(empty.str("code"), Some("bad-request"), "{empty:?}");
    assert!(
        empty.str("text").unwrap_or("").contains("texts"),
        "{empty:?}"
    );
    let long = ask(Event::from_data(
        kind::EMBED,
        &edge_protocol::slm::EmbedRequest {
            texts: vec!["x".repeat(2000)],
        },
    ))
    .await?;
    assert_eq!(long.str("code"), Some("bad-request"), "{long:?}");
    assert!(
        long.str("text").unwrap_or("").contains("texts[0]"),
        "{long:?}"
    );

    // And the connection still serves.
    let again = ask(Event::from_data(kind::EMBED, &request)).await?;
    assert_eq!(again.kind, kind::EMBEDDING, "{again:?}");

    client.close().await
}

#[tokio::test]
async fn slm_embed_without_an_encoder_says_so() -> anyhow::Result<()> {
    let engine = IntentEngine::load(&model(), EngineOptions::default())?;
    let service = SlmService::start(Some(engine), None, "smollm2".into(), String::new());
    let mut client = Client::open(service);
    let reply = client
        .ask(Event::from_data(
            kind::EMBED,
            &edge_protocol::slm::EmbedRequest {
                texts: vec!["hello".into()],
            },
        ))
        .await?;
    assert_eq!(reply.str("code"), Some("no-model"), "{reply:?}");
    assert!(
        reply.str("text").unwrap_or("").contains("--encoder"),
        "{reply:?}"
    );
    client.close().await
}
