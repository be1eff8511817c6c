//! Fleet operations on this device: signed commands from `cmd/fleet` (edge-fleet opens
//! and checks them), skills swapped in with a rollback when they do not load, a
//! configuration overlay checked before it is written and rolled back when the daemon
//! cannot start with it, an acknowledgement for every command, and the heartbeat.

use crate::pipeline::Pipeline;
use edge_config::{AgentConfig, LoadOptions};
use edge_fleet::{Body, FleetResult, Operation, ReplayGuard, SkillStore, Status};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The overlay file fleet commands write, in `conf.d`.
const OVERLAY: &str = "90-fleet.toml";
/// Beside it: the overlay it replaced, and the id of the command being tried.
const PREVIOUS: &str = "90-fleet.toml.previous";
const PENDING: &str = ".fleet-pending";

/// The device side of fleet commands.
#[derive(Debug)]
pub struct Fleet {
    device_id: String,
    publisher_keys: Vec<String>,
    store: SkillStore,
    conf_d: PathBuf,
    config_path: Option<PathBuf>,
    guard: Mutex<ReplayGuard>,
    pipeline: Arc<Pipeline>,
    /// Set when a configuration was applied: the daemon restarts to take it up.
    restart: tokio::sync::watch::Sender<bool>,
    started: Instant,
    models: Vec<serde_json::Value>,
}

fn result(body: Option<&Body>, status: Status, message: impl Into<String>) -> FleetResult {
    FleetResult {
        id: body.map(|b| b.id.clone()),
        op: body.map(|b| b.operation.name().to_owned()),
        status,
        message: message.into(),
        skill: None,
        version: None,
    }
}

/// The main configuration file's `conf.d`.
pub fn conf_d(config_path: Option<&Path>) -> PathBuf {
    config_path
        .unwrap_or(Path::new(edge_config::DEFAULT_CONFIG_PATH))
        .parent()
        .unwrap_or(Path::new("."))
        .join("conf.d")
}

impl Fleet {
    /// The fleet side of the daemon; `restart` is raised when a new configuration needs
    /// a restart.
    pub fn new(
        config: &AgentConfig,
        config_path: Option<PathBuf>,
        pipeline: Arc<Pipeline>,
        restart: tokio::sync::watch::Sender<bool>,
    ) -> Self {
        let skills_dir = if config.fleet.skills_dir.as_os_str().is_empty() {
            config.skills.dirs.last().cloned().unwrap_or_default()
        } else {
            config.fleet.skills_dir.clone()
        };
        let models = [("asr", &config.asr.model), ("slm", &config.slm.model)]
            .into_iter()
            .map(|(role, path)| {
                serde_json::json!({
                    "role": role,
                    "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "bytes": std::fs::metadata(path).ok().map(|m| m.len()),
                })
            })
            .collect();
        Self {
            device_id: config.agent.device_id.clone(),
            publisher_keys: config.fleet.publisher_keys.clone(),
            store: SkillStore::new(skills_dir),
            conf_d: conf_d(config_path.as_deref()),
            config_path,
            guard: Mutex::new(ReplayGuard::open(Some(
                config.skills.state_dir.join("fleet-last-command"),
            ))),
            pipeline,
            restart,
            started: Instant::now(),
            models,
        }
    }

    /// The retained heartbeat: versions of the agent, its skills and models.
    pub fn heartbeat(&self) -> serde_json::Value {
        let catalog = self.pipeline.catalog();
        let skills: Vec<serde_json::Value> = catalog
            .skills
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.manifest.skill.name,
                    "version": m.manifest.skill.version,
                    "code": self.pipeline.has_code(&m.manifest.skill.name),
                })
            })
            .collect();
        serde_json::json!({
            "device_id": self.device_id,
            "agent_version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.started.elapsed().as_secs(),
            "time_ms": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            "skills": skills,
            "skipped_skills": catalog.skill_errors,
            "models": self.models,
            "fleet_overlay": self.conf_d.join(OVERLAY).is_file(),
        })
    }

    /// Opens, checks and performs one command; every outcome is a result to publish.
    pub async fn handle(self: &Arc<Self>, payload: &[u8]) -> FleetResult {
        let body = match edge_fleet::open(payload, &self.publisher_keys, &self.device_id) {
            Ok(body) => body,
            Err(e) => return result(None, Status::Rejected, e.to_string()),
        };
        if let Err(e) = self
            .guard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .accept(&body.id, body.issued_ms)
        {
            return result(Some(&body), Status::Rejected, e.to_string());
        }
        tracing::info!(id = %body.id, op = body.operation.name(), "fleet command");
        let this = self.clone();
        let outcome = tokio::task::spawn_blocking(move || this.perform(&body)).await;
        outcome.unwrap_or_else(|e| result(None, Status::Failed, format!("fleet task: {e}")))
    }

    fn perform(&self, body: &Body) -> FleetResult {
        match &body.operation {
            Operation::InstallSkill {
                manifest,
                component_base64,
                package_signature,
            } => self.install(
                body,
                manifest,
                component_base64.as_deref(),
                package_signature.as_deref(),
            ),
            Operation::RemoveSkill { name } => self.remove(body, name),
            Operation::ApplyConfig { overlay } => self.apply_config(body, overlay),
        }
    }

    fn install(
        &self,
        body: &Body,
        manifest: &str,
        component: Option<&str>,
        signature: Option<&str>,
    ) -> FleetResult {
        let parsed = match edge_core::LoadedManifest::parse(Path::new("skill.toml"), manifest) {
            Ok(m) => m.manifest,
            Err(e) => return result(Some(body), Status::Rejected, e.to_string()),
        };
        let name = parsed.skill.name.clone();
        let mut files = vec![("skill.toml".to_owned(), manifest.as_bytes().to_vec())];
        if let Some(component) = component {
            match edge_fleet::decode_component(component) {
                Ok(bytes) => files.push((format!("{name}.wasm"), bytes)),
                Err(e) => return result(Some(body), Status::Rejected, e.to_string()),
            }
        }
        if let Some(sig) = signature {
            files.push((format!("{name}.sig"), sig.as_bytes().to_vec()));
        }
        let swap = match self.store.install(&name, &files) {
            Ok(swap) => swap,
            Err(e) => return result(Some(body), Status::Failed, e.to_string()),
        };
        let catalog = self.pipeline.reload();
        let loaded = catalog.skills.iter().any(|m| m.manifest.skill.name == name)
            && (component.is_none() || self.pipeline.has_code(&name));
        let mut r = if loaded {
            match swap.commit() {
                Ok(()) => result(
                    Some(body),
                    Status::Ok,
                    format!("{name} {} installed", parsed.skill.version),
                ),
                Err(e) => result(
                    Some(body),
                    Status::Ok,
                    format!("installed; the previous version is left aside: {e}"),
                ),
            }
        } else {
            let why = catalog
                .skill_errors
                .iter()
                .find(|e| e.contains(&name))
                .cloned()
                .unwrap_or_else(|| format!("{name} did not load"));
            match swap.rollback() {
                Ok(()) => {
                    self.pipeline.reload();
                    result(
                        Some(body),
                        Status::RolledBack,
                        format!("{why}; the previous state is back"),
                    )
                }
                Err(e) => result(
                    Some(body),
                    Status::Failed,
                    format!("{why}; rollback failed: {e}"),
                ),
            }
        };
        r.skill = Some(name.clone());
        r.version = self
            .pipeline
            .catalog()
            .skills
            .iter()
            .find(|m| m.manifest.skill.name == name)
            .map(|m| m.manifest.skill.version.clone());
        r
    }

    fn remove(&self, body: &Body, name: &str) -> FleetResult {
        let swap = match self.store.remove(name) {
            Ok(swap) => swap,
            Err(e) => return result(Some(body), Status::Rejected, e.to_string()),
        };
        self.pipeline.reload();
        let mut r = match swap.commit() {
            Ok(()) => result(Some(body), Status::Ok, format!("{name} removed")),
            Err(e) => result(Some(body), Status::Failed, e.to_string()),
        };
        r.skill = Some(name.to_owned());
        r
    }

    /// Checks the overlay with the device's own files, writes it (keeping the previous
    /// one and a pending mark), and asks for a restart; [`settle_pending_config`] keeps or
    /// rolls it back at the next start.
    fn apply_config(&self, body: &Body, overlay: &str) -> FleetResult {
        let path = self.conf_d.join(OVERLAY);
        let checked = edge_config::load(&LoadOptions {
            config_path: self.config_path.clone(),
            env: None,
            overlay: Some((path.clone(), overlay.to_owned())),
        });
        if let Err(e) = checked {
            return result(
                Some(body),
                Status::Rejected,
                format!("invalid configuration: {e}"),
            );
        }
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.conf_d)?;
            let previous = self.conf_d.join(PREVIOUS);
            if path.is_file() {
                std::fs::copy(&path, &previous)?;
            } else {
                let _ = std::fs::remove_file(&previous);
            }
            std::fs::write(self.conf_d.join(PENDING), &body.id)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, overlay)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            return result(
                Some(body),
                Status::Failed,
                format!("{}: {e}", path.display()),
            );
        }
        let _ = self.restart.send(true);
        result(
            Some(body),
            Status::Ok,
            format!("{} written; the agent restarts to apply it", path.display()),
        )
    }
}

/// At start: a configuration overlay that was being tried is kept (the daemon got this
/// far with it) or, when `failed`, rolled back to the previous one. Returns the result
/// to publish for the command, if one was pending.
pub fn settle_pending_config(
    config_path: Option<&Path>,
    failed: Option<&str>,
) -> Option<FleetResult> {
    let dir = conf_d(config_path);
    let id = std::fs::read_to_string(dir.join(PENDING)).ok()?;
    let _ = std::fs::remove_file(dir.join(PENDING));
    let mut r = result(None, Status::Ok, "configuration applied");
    r.id = Some(id.trim().to_owned());
    r.op = Some("apply-config".into());
    if let Some(why) = failed {
        let previous = dir.join(PREVIOUS);
        let restored = if previous.is_file() {
            std::fs::rename(&previous, dir.join(OVERLAY))
        } else {
            std::fs::remove_file(dir.join(OVERLAY))
        };
        r.status = match restored {
            Ok(()) => Status::RolledBack,
            Err(_) => Status::Failed,
        };
        r.message = format!(
            "the agent could not start with it ({why}); the previous configuration is back"
        );
    } else {
        let _ = std::fs::remove_file(dir.join(PREVIOUS));
    }
    Some(r)
}

/// Where a result waits for MQTT across a restart.
pub fn pending_result_path(config: &AgentConfig) -> PathBuf {
    config.skills.state_dir.join("fleet-result.json")
}
