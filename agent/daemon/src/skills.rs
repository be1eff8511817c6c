//! Skills with code: loading their components and the agent's side of their host calls.

use crate::actuator::{ActOutcome, Actuator};
use edge_audit::Origin;
use edge_core::{LoadedManifest, SignalValue};
use edge_hal::HalError;
use edge_skill_host::{
    BoxFuture, CallContext, HostCallError, HostServices, SkillHost, WriteResult,
};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The component of a skill: `NAME.wasm` beside its `skill.toml`.
pub fn component_path(manifest: &LoadedManifest) -> Option<PathBuf> {
    let dir = manifest.path.parent()?;
    let wasm = dir.join(format!("{}.wasm", manifest.manifest.skill.name));
    wasm.is_file().then_some(wasm)
}

/// Checks a skill's signature: required by `require_signed`, and always checked when a
/// `NAME.sig` is present (a signature that does not verify means tampering).
fn check_signature(
    m: &LoadedManifest,
    wasm: &std::path::Path,
    require: bool,
    trusted: &[String],
) -> Result<(), String> {
    let sig = wasm.with_extension("sig");
    if !sig.is_file() {
        return if require {
            Err(format!(
                "{}: unsigned (skills.require_signed is set)",
                sig.display()
            ))
        } else {
            Ok(())
        };
    }
    edge_signing::verify(trusted, &m.path, wasm, &sig).map_err(|e| e.to_string())
}

/// Loads the components of `manifests` into `host` (after checking signatures); returns
/// the names of skills whose component failed to load, with the error.
pub fn load_components(
    host: &SkillHost,
    manifests: &[LoadedManifest],
    require_signed: bool,
    trusted_keys: &[String],
) -> Vec<(String, String)> {
    let mut failed = Vec::new();
    for m in manifests {
        // A manifest without code runs nothing: no signature needed.
        let Some(wasm) = component_path(m) else {
            continue;
        };
        if let Err(e) = check_signature(m, &wasm, require_signed, trusted_keys) {
            failed.push((m.manifest.skill.name.clone(), e));
            continue;
        }
        match host.load(&m.manifest, &wasm) {
            Ok(report) => tracing::info!(
                skill = %report.skill,
                compiled = report.compiled,
                load_ms = report.load_time.as_secs_f64() * 1e3,
                "skill component loaded"
            ),
            Err(e) => failed.push((m.manifest.skill.name.clone(), e.to_string())),
        }
    }
    failed
}

/// Why a [`Chooser`] could not map an answer to an option (the SLM worker's reasons).
#[derive(Debug, thiserror::Error)]
pub enum ChooseError {
    /// No SLM worker: disabled, no model or no binary.
    #[error("the SLM tier is unavailable: {0}")]
    Disabled(edge_worker::Unavailable),
    /// The worker is configured but not ready (starting, restarting or failed).
    #[error("the SLM worker is not running ({0:?})")]
    NotRunning(edge_worker::WorkerState),
    /// The worker is busy caching the intents' prompts; a choice would wait for that.
    #[error("the SLM worker is not ready: it is caching the intent prompts")]
    CachingPrompts,
    #[error("the SLM worker did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The worker refused the request or the connection failed.
    #[error("SLM worker: {0}")]
    Worker(edge_protocol::ClientError),
}

impl From<edge_protocol::ClientError> for ChooseError {
    fn from(e: edge_protocol::ClientError) -> Self {
        match e {
            edge_protocol::ClientError::Timeout { timeout, .. } => ChooseError::Timeout(timeout),
            e => ChooseError::Worker(e),
        }
    }
}

/// Maps a free-form answer to one of a question's options (the SLM tier implements it;
/// a trait so the skills' services do not depend on the language tiers).
pub trait Chooser: Send + Sync + std::fmt::Debug {
    /// Which of `options` (id, description) `answer` means; `None` when none.
    fn choose<'a>(
        &'a self,
        question: &'a str,
        answer: &'a str,
        options: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<Option<String>, ChooseError>>;
}

/// What the agent offers skills. One per invocation, so it can remember the last write.
#[derive(Debug)]
pub struct Services {
    pub actuator: Option<Arc<Actuator>>,
    /// The local language model, for skills granted `llm`.
    pub language: Option<Arc<dyn Chooser>>,
    /// The outcome of the last write the skill made.
    pub last_action: Mutex<Option<ActOutcome>>,
}

fn no_signals() -> HostCallError {
    HostCallError::Failed("no signal profiles are configured".into())
}

fn hal_error(e: HalError) -> HostCallError {
    match e {
        HalError::UnknownSignal { .. }
        | HalError::NotReadable { .. }
        | HalError::NotWritable { .. }
        | HalError::Value { .. } => HostCallError::Invalid(e.to_string()),
        _ => HostCallError::Failed(e.to_string()),
    }
}

impl HostServices for Services {
    fn get_signal<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<SignalValue, HostCallError>> {
        Box::pin(async move {
            let actuator = self.actuator.as_ref().ok_or_else(no_signals)?;
            actuator
                .hal()
                .get(path, true)
                .await
                .map(|r| r.value)
                .map_err(hal_error)
        })
    }

    fn set_signal<'a>(
        &'a self,
        ctx: &'a CallContext,
        path: &'a str,
        value: SignalValue,
    ) -> BoxFuture<'a, Result<WriteResult, HostCallError>> {
        Box::pin(async move {
            let actuator = self.actuator.as_ref().ok_or_else(no_signals)?;
            let origin = Origin::Skill {
                name: ctx.skill.clone(),
                utterance_id: ctx.utterance_id.clone(),
            };
            let outcome = actuator
                .act(
                    origin,
                    vec![(path.to_owned(), value)],
                    &ctx.done_text,
                    false,
                )
                .await;
            *self.last_action.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome.clone());
            match outcome {
                ActOutcome::Done => Ok(WriteResult::Done),
                ActOutcome::Confirm { question, .. } => Ok(WriteResult::Confirm(question)),
                ActOutcome::Denied { reason } => Err(HostCallError::Denied(reason)),
                ActOutcome::Failed { error } => Err(HostCallError::Failed(error)),
            }
        })
    }

    fn next_change<'a>(
        &'a self,
        path: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<SignalValue, HostCallError>> {
        Box::pin(async move {
            let actuator = self.actuator.as_ref().ok_or_else(no_signals)?;
            if actuator.hal().def(path).is_none() {
                return Err(HostCallError::Invalid(format!("unknown signal {path:?}")));
            }
            let mut updates = actuator.hal().subscribe();
            let wait = async {
                loop {
                    match updates.recv().await {
                        Ok(u) if u.path == path => return Ok(u.value),
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(e) => return Err(HostCallError::Failed(e.to_string())),
                    }
                }
            };
            tokio::time::timeout(timeout, wait).await.map_err(|_| {
                HostCallError::Failed(format!("{path} did not change within {timeout:?}"))
            })?
        })
    }

    fn mqtt_publish<'a>(
        &'a self,
        topic: &'a str,
        payload: Vec<u8>,
        retain: bool,
    ) -> BoxFuture<'a, Result<(), HostCallError>> {
        Box::pin(async move {
            let mqtt = self
                .actuator
                .as_ref()
                .and_then(|a| {
                    a.hal()
                        .transport_as::<edge_hal_mqtt::MqttTransport>(edge_hal_mqtt::NAME)
                })
                .ok_or_else(|| HostCallError::Failed("no plant broker is configured".into()))?;
            mqtt.publish(topic, payload, retain)
                .map_err(HostCallError::Failed)
        })
    }

    fn dbus_call<'a>(
        &'a self,
        destination: &'a str,
        path: &'a str,
        interface: &'a str,
        method: &'a str,
        args: Vec<serde_json::Value>,
    ) -> BoxFuture<'a, Result<Vec<serde_json::Value>, HostCallError>> {
        Box::pin(async move {
            let bus = self
                .actuator
                .as_ref()
                .and_then(|a| {
                    a.hal()
                        .transport_as::<edge_hal_dbus::DbusTransport>(edge_hal_dbus::NAME)
                })
                .ok_or_else(|| HostCallError::Failed("no vehicle bus is configured".into()))?;
            bus.call_json(destination, path, interface, method, &args)
                .await
                .map_err(|e| match e {
                    edge_hal_dbus::RawCallError::Argument(m) => HostCallError::Invalid(m),
                    edge_hal_dbus::RawCallError::Bus(m) => HostCallError::Failed(m),
                })
        })
    }

    fn choose<'a>(
        &'a self,
        question: &'a str,
        answer: &'a str,
        choices: Vec<(String, String)>,
    ) -> BoxFuture<'a, Result<Option<String>, HostCallError>> {
        Box::pin(async move {
            let language = self.language.as_ref().ok_or_else(|| {
                HostCallError::Failed("no local language model is running".into())
            })?;
            language
                .choose(question, answer, &choices)
                .await
                // The skill sees the reason in words; the type stays on the agent's side.
                .map_err(|e| HostCallError::Failed(e.to_string()))
        })
    }

    fn refused(&self, ctx: &CallContext, call: &str, target: &str) {
        tracing::warn!(skill = %ctx.skill, %call, %target, "host call refused: not granted");
        if let Some(actuator) = &self.actuator {
            actuator.record_event(
                Origin::Skill {
                    name: ctx.skill.clone(),
                    utterance_id: ctx.utterance_id.clone(),
                },
                target,
                "refused",
                format!("{call}: not granted"),
            );
        }
    }
}
