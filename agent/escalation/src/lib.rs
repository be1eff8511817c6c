//! Escalation: an utterance that both local intent tiers rejected is sent to a remote
//! OpenAI-compatible chat endpoint (`POST {url}/chat/completions`), and the answer is held
//! to the same [`IntentSchema`] as the local language model. A remote model can therefore
//! never produce an intent, slot or slot value that the installed skills do not declare.
//!
//! Privacy: only the utterance text leaves the device (no device state, no history). The
//! decision *whether* to escalate (`escalation.enabled`, privacy mode) is the daemon's;
//! this crate only performs the call it is asked to make.
//!
//! The HTTP client is `reqwest` over rustls with the aws-lc-rs provider, the provider the
//! MQTT adapter already links. This crate must never depend on the daemon, a bus or a
//! native model library.

mod prompt;

pub use prompt::system_prompt;

use edge_config::EscalationSection;
use edge_core::{Recognition, Tier};
use edge_intent::{IntentSchema, SchemaError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Largest response body read; an answer is a few hundred bytes, anything much larger is
/// not worth the memory of a small device.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Characters of a body or content quoted in an error.
const EXCERPT_CHARS: usize = 200;

/// A client for one configured endpoint. Cheap to share (`&self` methods); the
/// underlying connection pool is reused across calls.
pub struct Escalation {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
}

/// Why an escalation gave no recognition.
#[derive(Debug, thiserror::Error)]
pub enum EscalationError {
    /// `escalation.url` does not make an endpoint URL.
    #[error("escalation.url {url:?} is not a usable URL: {reason}")]
    Url {
        /// The configured base URL.
        url: String,
        /// What the URL parser said.
        reason: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("the HTTP client for escalation could not be set up: {reason}")]
    Client {
        /// The cause, with its chain.
        reason: String,
    },
    /// No complete answer within `escalation.timeout_ms`.
    #[error("the escalation endpoint did not answer within {after_ms} ms")]
    Timeout {
        /// The configured bound.
        after_ms: u64,
    },
    /// The endpoint answered with a non-success HTTP status.
    #[error("the escalation endpoint answered HTTP {status}: {body_excerpt}")]
    Http {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body_excerpt: String,
    },
    /// The request did not get through (connection refused, DNS, TLS, reset).
    #[error("escalation request to {endpoint} failed: {reason}")]
    Transport {
        /// The URL posted to.
        endpoint: String,
        /// The cause, with its chain.
        reason: String,
    },
    /// The endpoint answered, but not with a usable chat completion.
    #[error("the escalation endpoint's answer is unusable: {0}")]
    Answer(#[source] AnswerProblem),
    /// The model's JSON failed the intent schema; the message names the field.
    #[error("the remote model's answer was refused: {0}")]
    Schema(#[source] SchemaError),
}

/// What is wrong with an answer that is not a usable chat completion.
#[derive(Debug, thiserror::Error)]
pub enum AnswerProblem {
    /// The body exceeds [`MAX_BODY_BYTES`].
    #[error("the body is longer than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is not JSON of the OpenAI chat-completion shape.
    #[error("not an OpenAI chat completion ({reason}): {excerpt}")]
    NotCompletion {
        /// What the parser said.
        reason: String,
        /// The start of the body.
        excerpt: String,
    },
    /// `choices[0].message.content` is absent or null.
    #[error("choices[0].message.content is missing")]
    NoContent,
    /// The message content is not JSON (the model answered in prose).
    #[error("choices[0].message.content is not JSON: {excerpt}")]
    ContentNotJson {
        /// The start of the content.
        excerpt: String,
    },
}

impl Escalation {
    /// A client for `config`, with the API key read from the environment variable named
    /// by `api_key_env` (unset or empty: no `Authorization` header). The key never sits
    /// in a config file.
    pub fn new(config: &EscalationSection) -> Result<Self, EscalationError> {
        let key = std::env::var(&config.api_key_env).ok();
        Self::with_api_key(config, key)
    }

    /// A client for `config` with the key given (for tests and for callers that hold the
    /// key elsewhere); an empty key counts as none. `config.api_key_env` is not read.
    pub fn with_api_key(
        config: &EscalationSection,
        api_key: Option<String>,
    ) -> Result<Self, EscalationError> {
        let url_error = |reason: String| EscalationError::Url {
            url: config.url.clone(),
            reason,
        };
        let base = format!("{}/", config.url.trim_end_matches('/'));
        let endpoint = reqwest::Url::parse(&base)
            .and_then(|base| base.join("chat/completions"))
            .map_err(|e| url_error(e.to_string()))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(url_error("the scheme must be http or https".into()));
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("edge-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EscalationError::Client { reason: chain(&e) })?;
        Ok(Self {
            client,
            endpoint,
            model: config.model.clone(),
            api_key: api_key.filter(|k| !k.is_empty()),
            timeout: Duration::from_millis(config.timeout_ms),
        })
    }

    /// The URL requests are posted to (`{url}/chat/completions`).
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// Asks the endpoint which of `schema`'s intents `utterance` is. The whole exchange
    /// (connect, send, read) is bounded by `timeout_ms`. A valid answer has
    /// [`Tier::Remote`] and confidence 1.0 (the endpoint reports none); a `none` answer
    /// is [`Recognition::none`], like the local tiers' none.
    pub async fn recognize(
        &self,
        utterance: &str,
        schema: &IntentSchema,
    ) -> Result<Recognition, EscalationError> {
        let system = system_prompt(schema);
        let request = ChatRequest {
            model: &self.model,
            messages: [
                ChatMessage {
                    role: "system",
                    content: &system,
                },
                ChatMessage {
                    role: "user",
                    content: utterance,
                },
            ],
            temperature: 0.0,
            response_format: ResponseFormat {
                kind: "json_object",
            },
        };
        let content = tokio::time::timeout(self.timeout, self.exchange(&request))
            .await
            .map_err(|_| EscalationError::Timeout {
                after_ms: duration_ms(self.timeout),
            })??;
        let json = unfence(&content);
        if serde_json::from_str::<serde::de::IgnoredAny>(json).is_err() {
            return Err(EscalationError::Answer(AnswerProblem::ContentNotJson {
                excerpt: excerpt(&content),
            }));
        }
        let mut recognition = schema.validate(json).map_err(EscalationError::Schema)?;
        if !recognition.is_none() {
            recognition.tier = Tier::Remote;
        }
        Ok(recognition)
    }

    /// Posts `request` and returns `choices[0].message.content`.
    async fn exchange(&self, request: &ChatRequest<'_>) -> Result<String, EscalationError> {
        let transport = |e: reqwest::Error| EscalationError::Transport {
            endpoint: self.endpoint.to_string(),
            reason: chain(&e.without_url()),
        };
        let mut post = self.client.post(self.endpoint.clone()).json(request);
        if let Some(key) = &self.api_key {
            post = post.bearer_auth(key);
        }
        let mut response = post.send().await.map_err(transport)?;
        let status = response.status();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                body.extend_from_slice(&chunk[..MAX_BODY_BYTES - body.len()]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return Err(EscalationError::Http {
                status: status.as_u16(),
                body_excerpt: excerpt(&text),
            });
        }
        if truncated {
            return Err(EscalationError::Answer(AnswerProblem::TooLarge {
                limit: MAX_BODY_BYTES,
            }));
        }
        let completion: ChatCompletion = serde_json::from_str(&text).map_err(|e| {
            EscalationError::Answer(AnswerProblem::NotCompletion {
                reason: e.to_string(),
                excerpt: excerpt(&text),
            })
        })?;
        completion
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content)
            .ok_or(EscalationError::Answer(AnswerProblem::NoContent))
    }
}

/// The key is never printed.
impl fmt::Debug for Escalation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Escalation")
            .field("endpoint", &self.endpoint.as_str())
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The request body of `POST /chat/completions`.
#[derive(Debug, Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [ChatMessage<'a>; 2],
    temperature: f32,
    response_format: ResponseFormat,
}

#[derive(Debug, Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Debug, Serialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The part of a chat completion that is read; other fields are ignored.
#[derive(Debug, Deserialize)]
struct ChatCompletion {
    choices: Vec<Choice>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Debug, Deserialize)]
struct AnswerMessage {
    content: Option<String>,
}

/// The JSON inside a Markdown code fence (```` ```json ... ``` ````), which chat models
/// add despite being asked not to; other content is returned trimmed.
fn unfence(content: &str) -> &str {
    let trimmed = content.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    // Drop the info string (`json`) up to the end of the opening line.
    let body = rest.split_once('\n').map_or("", |(_, body)| body);
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

/// The first [`EXCERPT_CHARS`] characters of `text`, trimmed.
fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An error and its sources, `: `-separated: reqwest's own message is rarely the cause
/// ("error sending request"), the connection error underneath is.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(url: &str) -> EscalationSection {
        EscalationSection {
            enabled: true,
            url: url.into(),
            model: "m".into(),
            ..EscalationSection::default()
        }
    }

    /// The daemon shares one client and awaits escalations on its multi-threaded runtime.
    #[test]
    fn the_client_is_sync_and_its_future_is_send() {
        fn sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let e = Escalation::with_api_key(&section("http://h/v1"), None).expect("client");
        sync(&e);
        let schema: Option<&IntentSchema> = None;
        if let Some(schema) = schema {
            send(e.recognize("x", schema));
        }
    }

    #[test]
    fn fences_are_removed() {
        let json = r#"{"intent": "none"}"#;
        assert_eq!(unfence(json), json);
        assert_eq!(unfence(&format!("\n ```json\n{json}\n```\n")), json);
        assert_eq!(unfence(&format!("```\n{json}```")), json);
        assert_eq!(unfence(&format!("```json\n{json}")), json);
        assert_eq!(unfence("```"), "");
    }

    #[test]
    fn excerpts_are_cut_on_characters() {
        assert_eq!(excerpt("  short \n"), "short");
        let long = "é".repeat(EXCERPT_CHARS + 5);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn endpoint_is_appended_to_the_base_url() {
        for url in ["http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/"] {
            let e = Escalation::with_api_key(&section(url), None).expect("client");
            assert_eq!(e.endpoint(), "http://127.0.0.1:8080/v1/chat/completions");
        }
        let e =
            Escalation::with_api_key(&section("https://api.example.com"), None).expect("client");
        assert_eq!(e.endpoint(), "https://api.example.com/chat/completions");
        for bad in ["", "not a url", "ftp://host/v1"] {
            let err = Escalation::with_api_key(&section(bad), None).expect_err(bad);
            assert!(matches!(err, EscalationError::Url { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn the_key_is_not_printed_and_empty_keys_are_none() {
        let e = Escalation::with_api_key(&section("http://h/v1"), Some("sk-secret".into()))
            .expect("client");
        let debug = format!("{e:?}");
        assert!(
            !debug.contains("sk-secret") && debug.contains("<redacted>"),
            "{debug}"
        );
        let e =
            Escalation::with_api_key(&section("http://h/v1"), Some(String::new())).expect("client");
        assert!(e.api_key.is_none());
    }
}
