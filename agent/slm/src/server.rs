//! The SLM worker's service: connections speak Wyoming-style events; one inference thread
//! owns the language model (a llama.cpp context belongs to one thread) and serves requests
//! in turn; the sentence encoder, when there is one, has a thread of its own, so the
//! embedding tier never waits behind a language-model request.

use crate::encoder::SentenceEncoder;
use crate::engine::{EngineError, IntentEngine};
use edge_protocol::slm::{
    ChoiceAnswer, ChoiceRequest, EmbedAnswer, EmbedRequest, SlmAnswer, SlmLoad, SlmLoaded,
    SlmRequest, kind as slm,
};
use edge_protocol::{Event, ProtocolError, kind};
use serde_json::json;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::{mpsc, oneshot};

/// Error codes in `error` events.
pub mod error_code {
    pub const PROTOCOL: &str = edge_protocol::PROTOCOL_ERROR;
    /// The request's data does not have the documented shape.
    pub const BAD_REQUEST: &str = "bad-request";
    /// A recognition before any `slm-load`.
    pub const NOT_LOADED: &str = "not-loaded";
    /// The worker runs without the model the request needs (`--model` or `--encoder`).
    pub const NO_MODEL: &str = "no-model";
    pub const INFERENCE: &str = "inference";
}

enum Job {
    Load(SlmLoad, oneshot::Sender<Result<SlmLoaded, EngineError>>),
    Recognize(SlmRequest, oneshot::Sender<Result<SlmAnswer, EngineError>>),
    Choose(
        ChoiceRequest,
        oneshot::Sender<Result<ChoiceAnswer, EngineError>>,
    ),
}

type EmbedJob = (
    EmbedRequest,
    oneshot::Sender<Result<EmbedAnswer, EngineError>>,
);

/// Handle to the inference threads, shared by every connection.
#[derive(Debug, Clone)]
pub struct SlmService {
    jobs: Option<mpsc::Sender<Job>>,
    embeds: Option<mpsc::Sender<EmbedJob>>,
    model_name: String,
    encoder_name: String,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Load(..) => "Load",
            Job::Recognize(..) => "Recognize",
            Job::Choose(..) => "Choose",
        })
    }
}

impl SlmService {
    /// Moves `engine` (the language model) and `encoder` (the sentence encoder) onto
    /// threads of their own; a worker may run either or both.
    pub fn start(
        engine: Option<IntentEngine>,
        encoder: Option<SentenceEncoder>,
        model_name: String,
        encoder_name: String,
    ) -> Self {
        let jobs = engine.map(|engine| {
            let (jobs, queue) = mpsc::channel::<Job>(16);
            std::thread::Builder::new()
                .name("slm-inference".into())
                .spawn(move || serve_engine(engine, queue))
                .unwrap_or_else(|e| panic!("cannot start the inference thread: {e}"));
            jobs
        });
        let embeds = encoder.map(|encoder| {
            let (embeds, queue) = mpsc::channel::<EmbedJob>(16);
            std::thread::Builder::new()
                .name("slm-encoder".into())
                .spawn(move || serve_encoder(encoder, queue))
                .unwrap_or_else(|e| panic!("cannot start the encoder thread: {e}"));
            embeds
        });
        Self {
            jobs,
            embeds,
            model_name,
            encoder_name,
        }
    }

    fn info(&self) -> Event {
        Event::new(kind::INFO).with(
            "slm",
            json!({
                "name": "edge-slm",
                "version": env!("CARGO_PKG_VERSION"),
                "model": self.jobs.as_ref().map(|_| &self.model_name),
                "encoder": self.embeds.as_ref().map(|_| &self.encoder_name),
            }),
        )
    }

    /// Serves one connection until the peer closes it or sends a malformed frame.
    pub async fn serve_connection<S>(self, stream: S) -> Result<(), ProtocolError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (read, mut write) = tokio::io::split(stream);
        let mut reader = BufReader::new(read);
        while let Some(event) = edge_protocol::next_request(&mut reader, &mut write).await? {
            let reply = self.handle(event).await;
            edge_protocol::write_event(&mut write, &reply).await?;
        }
        Ok(())
    }

    async fn handle(&self, event: Event) -> Event {
        match event.kind.as_str() {
            kind::DESCRIBE => self.info(),
            kind::PING => Event::new(kind::PONG),
            slm::LOAD => match event.data_as::<SlmLoad>() {
                Ok(load) => match self.run(|reply| Job::Load(load, reply)).await {
                    Ok(loaded) => Event::from_data(slm::LOADED, &loaded),
                    Err(e) => e,
                },
                Err(e) => Event::error(error_code::BAD_REQUEST, &format!("{}: {e}", slm::LOAD)),
            },
            slm::RECOGNIZE => match event.data_as::<SlmRequest>() {
                Ok(request) => match self.run(|reply| Job::Recognize(request, reply)).await {
                    Ok(answer) => Event::from_data(slm::ANSWER, &answer),
                    Err(e) => e,
                },
                Err(e) => {
                    Event::error(error_code::BAD_REQUEST, &format!("{}: {e}", slm::RECOGNIZE))
                }
            },
            slm::CHOOSE => match event
                .data_as::<ChoiceRequest>()
                .map_err(|e| e.to_string())
                .and_then(|request| request.validate().map(|()| request))
            {
                Ok(request) => match self.run(|reply| Job::Choose(request, reply)).await {
                    Ok(choice) => Event::from_data(slm::CHOICE, &choice),
                    Err(e) => e,
                },
                Err(e) => Event::error(error_code::BAD_REQUEST, &format!("{}: {e}", slm::CHOOSE)),
            },
            slm::EMBED => match event
                .data_as::<EmbedRequest>()
                .map_err(|e| e.to_string())
                .and_then(|request| request.validate().map(|()| request))
            {
                Ok(request) => match self.embed(request).await {
                    Ok(answer) => answer.to_event(),
                    Err(e) => e,
                },
                Err(e) => Event::error(error_code::BAD_REQUEST, &format!("{}: {e}", slm::EMBED)),
            },
            other => Event::error(
                error_code::BAD_REQUEST,
                &format!("unknown event type {other:?}"),
            ),
        }
    }

    async fn embed(&self, request: EmbedRequest) -> Result<EmbedAnswer, Event> {
        dispatch(
            self.embeds.as_ref(),
            "this worker has no sentence encoder (start it with --encoder)",
            "the encoder thread has stopped",
            |reply| (request, reply),
        )
        .await
    }

    async fn run<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, EngineError>>) -> Job,
    ) -> Result<T, Event> {
        dispatch(
            self.jobs.as_ref(),
            "this worker has no language model (start it with --model)",
            "the inference thread has stopped",
            job,
        )
        .await
    }
}

/// Hands a job to a model's thread (`None`: the worker runs without that model, `missing`
/// says so) and waits for its answer; errors become `error` events.
async fn dispatch<J, T>(
    queue: Option<&mpsc::Sender<J>>,
    missing: &str,
    stopped: &str,
    job: impl FnOnce(oneshot::Sender<Result<T, EngineError>>) -> J,
) -> Result<T, Event> {
    let queue = queue.ok_or_else(|| Event::error(error_code::NO_MODEL, missing))?;
    let (reply, answer) = oneshot::channel();
    let gone = || Event::error(error_code::INFERENCE, stopped);
    queue.send(job(reply)).await.map_err(|_| gone())?;
    match answer.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(EngineError::NotLoaded)) => Err(Event::error(
            error_code::NOT_LOADED,
            "no intents loaded: send slm-load first",
        )),
        Ok(Err(e)) => Err(Event::error(error_code::INFERENCE, &e.to_string())),
        Err(_) => Err(gone()),
    }
}

/// The language model's thread: requests in turn.
fn serve_engine(mut engine: IntentEngine, mut queue: mpsc::Receiver<Job>) {
    while let Some(job) = queue.blocking_recv() {
        match job {
            Job::Load(load, reply) => {
                let started = Instant::now();
                let result = engine.set_intents(&load.intents).map(|()| SlmLoaded {
                    intents: engine.intents(),
                    prompt_tokens: engine.prompt_tokens(),
                    load_ms: started.elapsed().as_secs_f64() * 1000.0,
                });
                let _ = reply.send(result);
            }
            Job::Recognize(request, reply) => {
                let result = engine.answer(&request.text, request.previous_intent.as_deref());
                let _ = reply.send(result);
            }
            Job::Choose(request, reply) => {
                let _ = reply.send(engine.choose(&request));
            }
        }
    }
}

/// The encoder's thread: sentence vectors in turn.
fn serve_encoder(mut encoder: SentenceEncoder, mut queue: mpsc::Receiver<EmbedJob>) {
    while let Some((request, reply)) = queue.blocking_recv() {
        let started = Instant::now();
        let texts: Vec<&str> = request.texts.iter().map(String::as_str).collect();
        let result = encoder.embed(&texts).map(|vectors| EmbedAnswer {
            vectors,
            dim: encoder.dim(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        });
        let _ = reply.send(result);
    }
}
