//! The language tiers in the daemon: paraphrases the templates miss reach the skills through
//! the real `edge-slm` worker (SmolLM2-135M, provisioned by `agent/models/provision.sh slm`),
//! requests no intent covers stay `none`, and what both local tiers reject is escalated to an
//! OpenAI-compatible endpoint (a real HTTP server in this test) unless privacy mode is on.

use edge_agent_tests::{DemoWorld, MqttProbe, say, signal, slm_model, status, wait_for_status};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One SmolLM2 worker at a time: two tests scoring paraphrases on 2 cores at once made a
/// recognition miss its request timeout (seen in CI), which tests the machine, not the agent.
static ONE_MODEL_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The demo world with the SmolLM2 intent tier (its requests time out after
/// `request_timeout_ms`), no speech, and `more` configuration.
async fn slm_world(request_timeout_ms: u64, more: &str) -> anyhow::Result<DemoWorld> {
    DemoWorld::start(|mut setup, dir| {
        setup.extra = format!(
            "[asr]\nenabled = false\n\n[slm]\nmodel = {:?}\nsocket = {:?}\nintents = true\nstart_timeout_ms = 120000\nrequest_timeout_ms = {request_timeout_ms}\n\n{more}",
            slm_model()?.display().to_string(),
            dir.join("slm.sock").display().to_string(),
        );
        Ok(setup)
    })
    .await
}

/// An OpenAI-compatible endpoint: answers `climate.set_fan` level 3 for "good morning" and
/// `none` for anything else; records every user message.
async fn chat_endpoint() -> anyhow::Result<(u16, Arc<Mutex<Vec<String>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                // Headers, then Content-Length bytes of body.
                let body = loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break request[end + 4..end + 4 + length].to_vec();
                        }
                    }
                };
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let user = body["messages"][1]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                record.lock().expect("requests seen").push(user.clone());
                let content = if user == "good morning" {
                    r#"{"intent": "climate.set_fan", "slots": {"level": 3}}"#
                } else {
                    r#"{"intent": "none", "slots": {}}"#
                };
                let reply = serde_json::json!({
                    "id": "chatcmpl-1", "object": "chat.completion",
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content}}]
                })
                .to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok((port, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paraphrases_reach_skills_through_the_slm_and_the_rest_is_escalated_or_refused()
-> anyhow::Result<()> {
    let _one = ONE_MODEL_AT_A_TIME.lock().await;
    let (chat_port, seen) = chat_endpoint().await?;
    let w = slm_world(
        60_000,
        &format!(
            "[escalation]\nenabled = true\nurl = \"http://127.0.0.1:{chat_port}/v1\"\nmodel = \"test-model\"\ntimeout_ms = 5000\n"
        ),
    )
    .await?;
    let (daemon, broker, agent) = (&w.daemon, &w.broker, w.agent.clone());

    // The worker starts and caches every intent's prompt.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let language = status(&agent).await?["language"].clone();
        if language["slm"]["intents"].as_u64().unwrap_or(0) > 0 {
            assert_eq!(language["slm"]["state"], "ready", "{language}");
            assert_eq!(language["escalation"]["enabled"], true, "{language}");
            assert_eq!(language["escalation"]["privacy_mode"], false, "{language}");
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "SLM prompts never cached: {language}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Paraphrases the templates miss: the SLM tier answers and the skill acts.
    let outcome = say(
        &agent,
        "could you change the cabin temperature to 16 please",
    )
    .await?;
    assert_eq!(outcome["intent"], "climate.set_temperature", "{outcome}");
    assert_eq!(outcome["tier"], "slm", "{outcome}");
    assert_eq!(
        outcome["slots"]["celsius"].as_f64(),
        Some(16.0),
        "{outcome}"
    );
    assert!(outcome["slm"]["score"].as_f64().unwrap_or(0.0) >= 16.0);
    // The write the SLM asked for passes the same safety policy as any other: 16 °C is
    // below the profile's range, so it is denied and nothing changes.
    assert_eq!(outcome["action"]["status"], "denied", "{outcome}");
    assert_eq!(
        signal(&agent, "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature")
            .await?
            .as_f64(),
        Some(21.0),
        "{outcome}"
    );
    let outcome = say(&agent, "what kind of pressure are we seeing on pump one").await?;
    assert_eq!(outcome["intent"], "equipment.read_sensor", "{outcome}");
    assert_eq!(outcome["tier"], "slm", "{outcome}");
    assert_eq!(outcome["slots"]["machine"], "pump-1", "{outcome}");
    assert_eq!(outcome["slots"]["sensor"], "pressure", "{outcome}");
    let outcome = say(
        &agent,
        "I don't need directions anymore, stop the guidance please",
    )
    .await?;
    assert_eq!(outcome["intent"], "nav.cancel", "{outcome}");
    assert_eq!(outcome["tier"], "slm", "{outcome}");

    // Out of domain: the SLM scores it low, the endpoint says none: nothing is done.
    let outcome = say(&agent, "what's the capital of france").await?;
    assert_eq!(outcome["intent"], "none", "{outcome}");
    assert!(
        outcome["slm"]["score"].as_f64().unwrap_or(99.0) < 16.0,
        "{outcome}"
    );
    assert_eq!(outcome["response"], "Sorry, I can't help with that.");
    assert_eq!(
        seen.lock().expect("requests seen").as_slice(),
        ["what's the capital of france"],
        "only what both local tiers rejected is escalated"
    );

    // Escalated and acted on, through the same policy and audit.
    let outcome = say(&agent, "good morning").await?;
    assert_eq!(outcome["intent"], "climate.set_fan", "{outcome}");
    assert_eq!(outcome["tier"], "remote", "{outcome}");
    assert_eq!(
        signal(&agent, "Vehicle.Cabin.HVAC.FanLevel")
            .await?
            .as_f64(),
        Some(3.0)
    );
    let audited = daemon.audit().iter().any(|e| {
        e.to_string().contains("Vehicle.Cabin.HVAC.FanLevel") && e.to_string().contains("3")
    });
    assert!(audited, "{:?}", daemon.audit());

    // Privacy mode over MQTT: nothing leaves the device.
    let probe = MqttProbe::connect(broker.port, "#").await?;
    probe.publish(&daemon.topics().privacy(), "on").await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&agent).await?["language"]["escalation"]["privacy_mode"] != true {
        anyhow::ensure!(Instant::now() < deadline, "privacy mode never on");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outcome = say(&agent, "good morning").await?;
    assert_eq!(outcome["intent"], "none", "{outcome}");
    assert_eq!(
        seen.lock().expect("requests seen").len(),
        2,
        "escalated in privacy mode"
    );
    // And off again over D-Bus.
    let escalation: String = agent.set_privacy(false).await?;
    assert!(
        escalation.contains("\"privacy_mode\":false"),
        "{escalation}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_or_killed_slm_worker_costs_one_request_and_is_replaced_while_templates_answer_on()
-> anyhow::Result<()> {
    let _one = ONE_MODEL_AT_A_TIME.lock().await;
    let w = slm_world(8_000, "").await?;
    let (daemon, agent) = (&w.daemon, w.agent.clone());
    let ready_pid = |not: Option<u64>| {
        let agent = agent.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(180);
            loop {
                let slm = status(&agent).await?["language"]["slm"].clone();
                // Every worker, the first and each replacement, has the prompts cached
                // before it is asked.
                if slm["state"] == "ready"
                    && slm["prompts"] == "cached"
                    && let Some(pid) = slm["pid"].as_u64()
                    && Some(pid) != not
                {
                    return anyhow::Ok(pid);
                }
                anyhow::ensure!(Instant::now() < deadline, "SLM worker not ready: {slm}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let pid = ready_pid(None).await?;
    // The worker stops answering (alive, connected, silent).
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()?;
    assert!(stopped.success());
    // Template commands do not need it.
    let outcome = say(&agent, "set the fan to level 4").await?;
    assert_eq!(outcome["action"]["status"], "done", "{outcome}");
    // A paraphrase waits one request timeout (8 s here; not two: a timed-out request is
    // not retried on the hung worker), then gets no action rather than an error.
    let started = Instant::now();
    let outcome = say(
        &agent,
        "could you change the cabin temperature to 22 please",
    )
    .await?;
    assert!(outcome["action"].is_null(), "{outcome}");
    assert!(
        started.elapsed() < Duration::from_secs(16),
        "the hung worker held the command for {:?}",
        started.elapsed()
    );
    // Its health checks fail; the supervisor kills it and starts another.
    let new_pid = ready_pid(Some(pid)).await?;
    assert_ne!(new_pid, pid);
    let outcome = say(
        &agent,
        "could you change the cabin temperature to 22 please",
    )
    .await?;
    assert_eq!(outcome["tier"], "slm", "{outcome}; log:\n{}", daemon.log());

    // Killed in the middle of a request (stopped first, then SIGKILL once the daemon is
    // waiting on it): that paraphrase gets no action, never an error; the supervisor
    // starts another worker, which answers.
    let signal = |sig: &str, pid: u64| {
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
    };
    assert!(signal("-STOP", new_pid)?.success());
    let request = {
        let agent = agent.clone();
        tokio::spawn(async move { say(&agent, "could you make the fan a bit stronger").await })
    };
    wait_for_status(&agent, "a request in the stopped worker's hands", |s| {
        s["language"]["slm"]["busy"] == true
    })
    .await?;
    assert!(signal("-KILL", new_pid)?.success());
    let outcome = request.await??;
    assert!(outcome["action"].is_null(), "{outcome}");
    let third_pid = ready_pid(Some(new_pid)).await?;
    assert_ne!(third_pid, new_pid);
    let outcome = say(
        &agent,
        "could you change the cabin temperature to 22 please",
    )
    .await?;
    assert_eq!(outcome["tier"], "slm", "{outcome}; log:\n{}", daemon.log());
    Ok(())
}
