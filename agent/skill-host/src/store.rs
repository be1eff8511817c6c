//! Per-invocation state and the host side of the WIT imports, with grant checks. The
//! latest world (0.2.0) is implemented here; `legacy.rs` serves 0.1.0 skills through it.

use crate::grants::Grants;
use crate::services::{CallContext, HostCallError, HostServices, WriteResult};
use edge_core::SignalValue;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Bindings of the latest world, `edge:skill@0.2.0`.
pub mod latest {
    wasmtime::component::bindgen!({
        path: "../../skills/wit/0.2.0",
        world: "skill",
        imports: { default: async },
        exports: { default: async },
    });
}

use latest::edge;

pub use edge::skill::types::{
    Answer, Error as WitError, Expect, FollowUp, Intent, Reply, Response, SignalValue as WitValue,
    Slot, SlotValue, WriteOutcome,
};

/// Largest report a skill may keep.
const MAX_REPORT_BYTES: usize = 64 * 1024;
/// Reports kept per skill; the oldest go first.
const MAX_REPORTS: usize = 200;
/// Most choices one `llm.choose` may offer.
const MAX_CHOICES: usize = 16;

/// Longest a host call may wait on a peer (a bus, the broker, the local model) before the
/// skill gets an error it can handle. The peers' own timeouts are usually shorter.
pub const HOST_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Most `host.say` calls per invocation, and their total size.
const MAX_SAYS: usize = 8;
const MAX_SAY_BYTES: usize = 4096;
/// Size of one skill's key-value store.
pub const MAX_KV_BYTES: usize = 64 * 1024;

/// A skill's persisted key-value store.
#[derive(Debug, Default)]
pub struct KvStore {
    /// Contents.
    pub map: Mutex<BTreeMap<String, Vec<u8>>>,
    /// File it is saved to, if any.
    pub path: Option<std::path::PathBuf>,
}

impl KvStore {
    /// Loads from `path` (missing: empty).
    pub fn open(path: Option<std::path::PathBuf>) -> Self {
        let map = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self {
            map: Mutex::new(map),
            path,
        }
    }

    fn save(&self, map: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let json = serde_json::to_vec(map).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| e.to_string())
    }
}

/// Everything one invocation's store holds.
pub struct StoreState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub grants: Arc<Grants>,
    pub services: Arc<dyn HostServices>,
    pub ctx: CallContext,
    pub kv: Arc<KvStore>,
    /// What the skill said through `host.say`.
    pub said: Vec<String>,
    /// Where its reports are kept (`STATE/reports/SKILL`), if the agent has a state dir.
    pub reports_dir: Option<PathBuf>,
    /// What the skill's CPU deadline counts.
    pub clock: InvocationClock,
}

/// The time an invocation spent running guest code: wall time since it started less the
/// time it waited in host calls on peers (a slow bus or a busy local model is not the
/// skill's CPU time; those calls have their own timeouts).
#[derive(Debug, Clone, Copy)]
pub struct InvocationClock {
    started: Instant,
    waited: Duration,
}

impl InvocationClock {
    /// Starts counting now.
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
            waited: Duration::ZERO,
        }
    }

    /// Time spent outside host calls that wait on peers.
    pub fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.waited)
    }
}

/// Runs a host call that waits on a peer: its time is taken off the skill's CPU deadline,
/// and after `limit` the skill gets a `failed` error it can handle instead of a trap.
async fn waiting<T>(
    clock: &mut InvocationClock,
    call: &str,
    limit: Duration,
    call_future: impl Future<Output = Result<T, HostCallError>>,
) -> Result<T, WitError> {
    let started = Instant::now();
    let result = tokio::time::timeout(limit, call_future).await;
    clock.waited += started.elapsed();
    match result {
        Ok(result) => result.map_err(to_wit_error),
        Err(_) => Err(WitError::Failed(format!(
            "{call} did not answer within {} ms",
            limit.as_millis()
        ))),
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

pub(crate) fn to_core(v: WitValue) -> SignalValue {
    match v {
        WitValue::Boolean(b) => SignalValue::Bool(b),
        WitValue::Integer(i) => SignalValue::Int(i),
        WitValue::Number(n) => SignalValue::Float(n),
        WitValue::Text(t) => SignalValue::String(t),
    }
}

pub(crate) fn to_wit(v: SignalValue) -> WitValue {
    match v {
        SignalValue::Bool(b) => WitValue::Boolean(b),
        SignalValue::Int(i) => WitValue::Integer(i),
        SignalValue::Float(n) => WitValue::Number(n),
        SignalValue::String(t) => WitValue::Text(t),
    }
}

fn to_wit_error(e: HostCallError) -> WitError {
    match e {
        HostCallError::Denied(m) => WitError::Denied(m),
        HostCallError::Invalid(m) => WitError::Invalid(m),
        HostCallError::Failed(m) => WitError::Failed(m),
    }
}

impl StoreState {
    fn refuse(&self, call: &str, target: &str) -> WitError {
        self.services.refused(&self.ctx, call, target);
        WitError::NotGranted(format!(
            "{call} {target} is not granted to skill {}",
            self.ctx.skill
        ))
    }
}

impl edge::skill::types::Host for StoreState {}

impl edge::skill::signals::Host for StoreState {
    async fn get(&mut self, path: String) -> Result<WitValue, WitError> {
        if !self.grants.can_read(&path) {
            return Err(self.refuse("signals.get", &path));
        }
        waiting(
            &mut self.clock,
            "signals.get",
            HOST_CALL_TIMEOUT,
            self.services.get_signal(&path),
        )
        .await
        .map(to_wit)
    }

    async fn set(&mut self, path: String, value: WitValue) -> Result<WriteOutcome, WitError> {
        if !self.grants.can_write(&path) {
            return Err(self.refuse("signals.set", &path));
        }
        let written = waiting(
            &mut self.clock,
            "signals.set",
            HOST_CALL_TIMEOUT,
            self.services.set_signal(&self.ctx, &path, to_core(value)),
        )
        .await?;
        Ok(match written {
            WriteResult::Done => WriteOutcome::Done,
            WriteResult::Confirm(q) => WriteOutcome::Confirm(q),
        })
    }

    async fn subscribe_once(
        &mut self,
        path: String,
        timeout_ms: u32,
    ) -> Result<WitValue, WitError> {
        if !self.grants.can_read(&path) {
            return Err(self.refuse("signals.subscribe-once", &path));
        }
        let timeout = Duration::from_millis(u64::from(timeout_ms.min(60_000)));
        waiting(
            &mut self.clock,
            "signals.subscribe-once",
            timeout + Duration::from_secs(1),
            self.services.next_change(&path, timeout),
        )
        .await
        .map(to_wit)
    }
}

impl edge::skill::mqtt::Host for StoreState {
    async fn publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<(), WitError> {
        if !self.grants.can_publish(&topic) {
            return Err(self.refuse("mqtt.publish", &topic));
        }
        if payload.len() > 256 * 1024 {
            return Err(WitError::Invalid(format!(
                "payload of {} bytes exceeds 256 KiB",
                payload.len()
            )));
        }
        waiting(
            &mut self.clock,
            "mqtt.publish",
            HOST_CALL_TIMEOUT,
            self.services.mqtt_publish(&topic, payload, retain),
        )
        .await
    }
}

impl edge::skill::dbus::Host for StoreState {
    async fn call(
        &mut self,
        destination: String,
        path: String,
        interface: String,
        method: String,
        args_json: String,
    ) -> Result<String, WitError> {
        if !self.grants.can_call(&destination) {
            return Err(self.refuse("dbus.call", &destination));
        }
        let args: Vec<serde_json::Value> = serde_json::from_str(&args_json)
            .map_err(|e| WitError::Invalid(format!("args-json is not a JSON array: {e}")))?;
        let reply = waiting(
            &mut self.clock,
            "dbus.call",
            HOST_CALL_TIMEOUT,
            self.services
                .dbus_call(&destination, &path, &interface, &method, args),
        )
        .await?;
        Ok(serde_json::Value::Array(reply).to_string())
    }
}

impl edge::skill::host::Host for StoreState {
    async fn say(&mut self, text: String) {
        let total: usize = self.said.iter().map(String::len).sum();
        if self.said.len() < MAX_SAYS && total + text.len() <= MAX_SAY_BYTES {
            self.said.push(text);
        } else {
            tracing::warn!(skill = %self.ctx.skill, "host.say over its limit; dropped");
        }
    }

    async fn log(&mut self, level: edge::skill::host::LogLevel, message: String) {
        use edge::skill::host::LogLevel;
        let message: String = message.chars().take(1000).collect();
        let skill = &self.ctx.skill;
        match level {
            LogLevel::Debug => tracing::debug!(%skill, "{message}"),
            LogLevel::Info => tracing::info!(%skill, "{message}"),
            LogLevel::Warn => tracing::warn!(%skill, "{message}"),
            LogLevel::Error => tracing::error!(%skill, "{message}"),
        }
    }

    async fn now_ms(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

impl edge::skill::kv::Host for StoreState {
    async fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.kv
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), WitError> {
        let mut map = self.kv.map.lock().unwrap_or_else(|p| p.into_inner());
        let others: usize = map
            .iter()
            .filter(|(k, _)| **k != key)
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if others + key.len() + value.len() > MAX_KV_BYTES {
            return Err(WitError::Invalid(format!(
                "the store is limited to {MAX_KV_BYTES} bytes"
            )));
        }
        map.insert(key, value);
        self.kv.save(&map).map_err(WitError::Failed)
    }

    async fn delete(&mut self, key: String) {
        let mut map = self.kv.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.remove(&key).is_some()
            && let Err(e) = self.kv.save(&map)
        {
            tracing::warn!(skill = %self.ctx.skill, "kv: {e}");
        }
    }
}

impl edge::skill::llm::Host for StoreState {
    async fn choose(
        &mut self,
        question: String,
        answer: String,
        choices: Vec<edge::skill::llm::Choice>,
    ) -> Result<Option<String>, WitError> {
        if !self.grants.can_use_llm() {
            return Err(self.refuse("llm.choose", "the local model"));
        }
        if choices.is_empty() || choices.len() > MAX_CHOICES {
            return Err(WitError::Invalid(format!(
                "choices: {} given; 1 to {MAX_CHOICES} allowed",
                choices.len()
            )));
        }
        let choices: Vec<(String, String)> =
            choices.into_iter().map(|c| (c.id, c.description)).collect();
        let chosen = waiting(
            &mut self.clock,
            "llm.choose",
            HOST_CALL_TIMEOUT,
            self.services.choose(&question, &answer, choices.clone()),
        )
        .await?;
        // The output is constrained to the ids offered, whatever the model produced.
        Ok(chosen.filter(|id| choices.iter().any(|(c, _)| c == id)))
    }
}

/// Whether `name` is a safe report file name.
fn valid_report_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl edge::skill::reports::Host for StoreState {
    async fn keep(&mut self, name: String, json: String) -> Result<String, WitError> {
        if !self.grants.can_keep_reports() {
            return Err(self.refuse("reports.keep", &name));
        }
        if !valid_report_name(&name) {
            return Err(WitError::Invalid(format!(
                "report name {name:?}: use 1 to 100 letters, digits, '-', '_' or '.'"
            )));
        }
        if json.len() > MAX_REPORT_BYTES {
            return Err(WitError::Invalid(format!(
                "report of {} bytes exceeds {MAX_REPORT_BYTES}",
                json.len()
            )));
        }
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&json) {
            return Err(WitError::Invalid(format!("report is not JSON: {e}")));
        }
        let Some(dir) = &self.reports_dir else {
            return Err(WitError::Failed("the agent keeps no state on disk".into()));
        };
        let file = dir.join(format!("{}.json", name.trim_end_matches(".json")));
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, &json)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &file)?;
            prune_reports(dir, MAX_REPORTS)
        };
        write().map_err(|e| WitError::Failed(format!("{}: {e}", file.display())))?;
        tracing::info!(skill = %self.ctx.skill, report = %file.display(), "report kept");
        Ok(file.display().to_string())
    }
}

/// Removes the oldest reports beyond `keep`.
fn prune_reports(dir: &std::path::Path, keep: usize) -> std::io::Result<()> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() <= keep {
        return Ok(());
    }
    files.sort();
    for (_, path) in &files[..files.len() - keep] {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::valid_report_name;

    #[test]
    fn report_names_cannot_leave_the_directory() {
        assert!(valid_report_name("pump-3-20261128T170000.json"));
        assert!(!valid_report_name("../etc/passwd"));
        assert!(!valid_report_name("a/b"));
        assert!(!valid_report_name(".hidden"));
        assert!(!valid_report_name(""));
    }
}
