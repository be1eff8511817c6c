//! Skills with code: loading their components and the agent's side of their host calls.

use crate::actuator::{ActOutcome, Actuator};
use edge_audit::Origin;
use edge_core::{LoadedManifest, SignalValue};
use edge_hal::HalError;
use edge_hal_mqtt::MqttTransport;
use edge_skill_host::{
    BoxFuture, CallContext, HostCallError, HostServices, SkillHost, WriteResult,
};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zbus::wire::{Structure, Variant};

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

/// What the agent offers skills. One per invocation, so it can remember the last write.
#[derive(Debug)]
pub struct Services {
    pub actuator: Option<Arc<Actuator>>,
    pub mqtt: Option<Arc<MqttTransport>>,
    pub dbus: Option<zbus::Connection>,
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

fn to_variant(v: &serde_json::Value) -> Result<Variant<'static>, HostCallError> {
    Ok(match v {
        serde_json::Value::Bool(b) => Variant::Bool(*b),
        serde_json::Value::String(s) => Variant::from(s.clone()),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Variant::I32(
                i32::try_from(i)
                    .map_err(|_| HostCallError::Invalid(format!("{i} does not fit int32")))?,
            ),
            (None, Some(f)) => Variant::F64(f),
            _ => return Err(HostCallError::Invalid(format!("bad number {n}"))),
        },
        other => {
            return Err(HostCallError::Invalid(format!(
                "{other} is not a string, number or boolean"
            )));
        }
    })
}

fn to_json(v: &Variant<'_>) -> serde_json::Value {
    match v {
        Variant::Bool(b) => (*b).into(),
        Variant::U8(x) => (*x).into(),
        Variant::I16(x) => (*x).into(),
        Variant::U16(x) => (*x).into(),
        Variant::I32(x) => (*x).into(),
        Variant::U32(x) => (*x).into(),
        Variant::I64(x) => (*x).into(),
        Variant::U64(x) => (*x).into(),
        Variant::F64(x) => (*x).into(),
        Variant::Str(s) => s.to_string().into(),
        Variant::Variant(inner) => to_json(inner),
        other => other.to_string().into(),
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
                ActOutcome::Confirm { question } => Ok(WriteResult::Confirm(question)),
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
                .mqtt
                .as_ref()
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
            let conn = self
                .dbus
                .as_ref()
                .ok_or_else(|| HostCallError::Failed("no vehicle bus is configured".into()))?;
            let failed = |e: zbus::Error| HostCallError::Failed(e.to_string());
            let proxy = zbus::Proxy::new(
                conn,
                destination.to_owned(),
                path.to_owned(),
                interface.to_owned(),
            )
            .await
            .map_err(failed)?;
            let reply = if args.is_empty() {
                proxy.call_method(method, &()).await.map_err(failed)?
            } else {
                let mut builder = Structure::builder();
                for a in &args {
                    builder = builder.append_field(to_variant(a)?);
                }
                let body = builder.build().map_err(failed)?;
                proxy.call_method(method, &body).await.map_err(failed)?
            };
            let body = reply.body();
            if body.signature().to_string().is_empty() {
                return Ok(Vec::new());
            }
            let fields: Structure<'_> = body.deserialize().map_err(failed)?;
            Ok(fields.fields().iter().map(to_json).collect())
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
