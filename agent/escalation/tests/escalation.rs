//! Escalation against a real HTTP/1.1 server on loopback, with the intent schema of the
//! repository's skills: what is sent, and what each kind of answer becomes.

use edge_config::EscalationSection;
use edge_core::{LoadedManifest, SlotValue, Tier};
use edge_escalation::{AnswerProblem, Escalation, EscalationError};
use edge_intent::{IntentSchema, SchemaError, TemplateEngine, builtin_manifests};
use serde_json::{Value, json};
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The schema of the shipped skills and built-in intents, with the default entity lists.
static SCHEMA: LazyLock<IntentSchema> = LazyLock::new(|| {
    let repo = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            std::path::PathBuf::from,
        )
        .join("../..");
    let (mut manifests, errors) = LoadedManifest::discover(&[repo.join("skills")]);
    assert!(errors.is_empty(), "shipped manifests: {errors:?}");
    manifests.extend(builtin_manifests());
    let config = edge_config::AgentConfig::defaults();
    let (engine, errors) =
        TemplateEngine::compile(&manifests, &config.nlu.entities, config.nlu.min_confidence);
    assert!(errors.is_empty(), "shipped manifests compile: {errors:?}");
    engine.schema()
});

/// One request as the server read it.
#[derive(Debug)]
struct Seen {
    request_line: String,
    /// Header names lower-cased.
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one HTTP/1.1 request (headers and a `Content-Length` body).
async fn read_request(stream: &mut TcpStream) -> Seen {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.expect("read request");
        assert!(n > 0, "connection closed before the headers ended");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("utf-8 headers");
    let mut lines = head.split("\r\n");
    let request_line = lines.next().expect("request line").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().expect("content-length"));
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    Seen {
        request_line,
        headers,
        body: serde_json::from_slice(&body).expect("request body is JSON"),
    }
}

/// A server that answers one request with `status` and `body`; the handle yields what
/// it saw. Returns the base URL (`http://127.0.0.1:port/v1`).
async fn serve_once(status: &'static str, body: String) -> (String, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let handle = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let seen = read_request(&mut stream).await;
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(response.as_bytes())
            .await
            .expect("write response");
        stream.shutdown().await.expect("shutdown");
        seen
    });
    (url, handle)
}

/// A chat completion whose message content is `content`.
fn completion(content: &str) -> String {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }]
    })
    .to_string()
}

fn section(url: &str, api_key_env: &str) -> EscalationSection {
    EscalationSection {
        enabled: true,
        url: url.to_owned(),
        model: "test-model".into(),
        api_key_env: api_key_env.into(),
        timeout_ms: 5000,
        privacy_mode: false,
    }
}

/// Escalates `utterance` to a server that answers with `status` and `body`.
async fn escalate(
    status: &'static str,
    body: String,
    utterance: &str,
) -> Result<edge_core::Recognition, EscalationError> {
    let (url, server) = serve_once(status, body).await;
    let escalation = Escalation::with_api_key(&section(&url, "UNUSED"), None).expect("client");
    let result = escalation.recognize(utterance, &SCHEMA).await;
    server.await.expect("server");
    result
}

#[tokio::test]
async fn good_answer_is_normalised_and_the_request_carries_only_the_utterance() {
    let answer = r#"{"intent":"climate.set_temperature","slots":{"celsius":"twenty two","zone":"the driver"}}"#;
    let (url, server) = serve_once("200 OK", completion(answer)).await;
    let escalation = Escalation::with_api_key(
        &section(&url, "EDGE_ESCALATION_TEST_KEY_GOOD"),
        Some("sk-test-123".into()),
    )
    .expect("client");
    let utterance = "could you make it twenty two on my side";
    let r = escalation
        .recognize(utterance, &SCHEMA)
        .await
        .expect("recognised");
    assert_eq!(r.intent, "climate.set_temperature");
    assert_eq!(r.tier, Tier::Remote);
    assert_eq!(r.slots["celsius"].as_f64(), Some(22.0));
    assert_eq!(r.slots["zone"], SlotValue::Text("driver".into()));

    let seen = server.await.expect("server");
    assert_eq!(seen.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(seen.header("authorization"), Some("Bearer sk-test-123"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let body = &seen.body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["temperature"].as_f64(), Some(0.0));
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "system prompt and utterance only");
    assert_eq!(messages[1], json!({"role": "user", "content": utterance}));
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().expect("system prompt");
    for intent in SCHEMA.intents() {
        assert!(
            system.contains(&format!("- {}: ", intent.name)),
            "{}",
            intent.name
        );
    }
    assert!(system.contains("slot celsius (required): a number, 16 to 30"));
    assert!(system.contains(r#"slot zone (optional): one of "all", "driver", "passenger""#));
    assert!(system.contains(r#"{"intent": "none", "slots": {}}"#));
}

#[tokio::test]
async fn fenced_answers_and_none_are_accepted_and_no_key_means_no_header() {
    let fenced = "```json\n{\"intent\": \"climate.set_fan\", \"slots\": {\"level\": 4}}\n```";
    let (url, server) = serve_once("200 OK", completion(fenced)).await;
    // `new` reads the key from the named variable; this one is never set.
    let escalation =
        Escalation::new(&section(&url, "EDGE_ESCALATION_TEST_KEY_NEVER_SET")).expect("client");
    let r = escalation
        .recognize("blow a bit more air, level four", &SCHEMA)
        .await
        .expect("recognised");
    assert_eq!(r.intent, "climate.set_fan");
    assert_eq!(r.slots["level"], SlotValue::Integer(4));
    assert_eq!(r.tier, Tier::Remote);
    let seen = server.await.expect("server");
    assert_eq!(seen.header("authorization"), None);

    let r = escalate(
        "200 OK",
        completion(r#"{"intent": "none", "slots": {}}"#),
        "what is the meaning of life",
    )
    .await
    .expect("none is an answer");
    assert!(r.is_none());
}

#[tokio::test]
async fn answers_outside_the_schema_are_refused_naming_the_field() {
    let e = escalate(
        "200 OK",
        completion(r#"{"intent": "climate.set_humidity", "slots": {"percent": 40}}"#),
        "make it less humid",
    )
    .await
    .expect_err("unknown intent");
    assert!(
        matches!(&e, EscalationError::Schema(SchemaError::UnknownIntent { intent }) if intent == "climate.set_humidity"),
        "{e}"
    );
    assert!(e.to_string().contains("climate.set_humidity"), "{e}");

    let e = escalate(
        "200 OK",
        completion(
            r#"{"intent": "climate.set_temperature", "slots": {"celsius": 21, "zone": "roof"}}"#,
        ),
        "21 degrees on the roof",
    )
    .await
    .expect_err("value outside the enum");
    assert!(matches!(&e, EscalationError::Schema(_)), "{e}");
    assert!(e.to_string().contains("slots.zone"), "{e}");

    let e = escalate(
        "200 OK",
        completion(r#"{"intent": "climate.set_temperature", "slots": {"celsius": 45}}"#),
        "make it 45 degrees",
    )
    .await
    .expect_err("out of range");
    assert!(e.to_string().contains("slots.celsius"), "{e}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    // Reads the request, then holds the connection open without answering.
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let _seen = read_request(&mut stream).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(stream);
    });
    let mut config = section(&url, "UNUSED");
    config.timeout_ms = 300;
    let escalation = Escalation::with_api_key(&config, None).expect("client");
    let started = Instant::now();
    let e = escalation
        .recognize("set the temperature to 22", &SCHEMA)
        .await
        .expect_err("no answer");
    assert!(
        matches!(e, EscalationError::Timeout { after_ms: 300 }),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    server.abort();
}

#[tokio::test]
async fn an_http_error_reports_its_status_and_body() {
    let body = json!({"error": {"message": "model overloaded"}}).to_string();
    let e = escalate("500 Internal Server Error", body, "set the fan to 3")
        .await
        .expect_err("HTTP 500");
    let EscalationError::Http {
        status,
        body_excerpt,
    } = &e
    else {
        panic!("{e}");
    };
    assert_eq!(*status, 500);
    assert!(body_excerpt.contains("model overloaded"), "{e}");
    assert!(e.to_string().contains("HTTP 500"), "{e}");
}

#[tokio::test]
async fn answers_that_are_not_chat_completions_are_answer_errors() {
    let e = escalate(
        "200 OK",
        completion("Sure! I will set the temperature to 22 degrees."),
        "set the temperature to 22",
    )
    .await
    .expect_err("prose");
    assert!(
        matches!(&e, EscalationError::Answer(AnswerProblem::ContentNotJson { excerpt }) if excerpt.starts_with("Sure!")),
        "{e}"
    );

    let e = escalate(
        "200 OK",
        json!({"result": "climate.set_fan"}).to_string(),
        "fan 3",
    )
    .await
    .expect_err("not OpenAI shape");
    assert!(
        matches!(
            &e,
            EscalationError::Answer(AnswerProblem::NotCompletion { .. })
        ),
        "{e}"
    );

    let e = escalate("200 OK", "<html>gateway</html>".into(), "fan 3")
        .await
        .expect_err("not JSON");
    assert!(
        matches!(&e, EscalationError::Answer(AnswerProblem::NotCompletion { excerpt, .. }) if excerpt.contains("gateway")),
        "{e}"
    );

    let e = escalate(
        "200 OK",
        json!({"choices": [{"message": {"role": "assistant", "content": null}}]}).to_string(),
        "fan 3",
    )
    .await
    .expect_err("no content");
    assert!(
        matches!(&e, EscalationError::Answer(AnswerProblem::NoContent)),
        "{e}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    drop(listener);
    let escalation = Escalation::with_api_key(&section(&url, "UNUSED"), None).expect("client");
    let e = escalation
        .recognize("fan 3", &SCHEMA)
        .await
        .expect_err("refused");
    let EscalationError::Transport { endpoint, reason } = &e else {
        panic!("{e}");
    };
    assert_eq!(endpoint, &format!("{url}/chat/completions"));
    assert!(!reason.is_empty(), "{e}");
}
