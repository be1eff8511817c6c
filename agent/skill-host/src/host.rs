//! The engine, the precompiled-artifact cache, loading and invoking skills.

use crate::grants::Grants;
use crate::services::{CallContext, HostServices};
use crate::services::{Expected, Question};
use crate::store::{Intent, InvocationClock, KvStore, Response, StoreState, WitError, latest};
use edge_core::SkillManifest;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimitsBuilder,
};

/// The latest WIT package version this host serves.
pub const SKILL_API_VERSION: &str = "0.2.0";
/// Every version this host serves, newest first; older ones are converted at the edge.
pub const SKILL_API_VERSIONS: &[&str] = &["0.2.0", "0.1.0"];
/// Longest context a skill may hand to its next turn.
const MAX_CONTEXT_BYTES: usize = 16 * 1024;

/// Epoch tick: the granularity of the CPU deadline.
const TICK: Duration = Duration::from_millis(10);

/// Epoch ticks until `time` has passed (one more, so a deadline is never early).
fn ticks(time: Duration) -> u64 {
    (time.as_millis() as u64).div_ceil(TICK.as_millis() as u64) + 1
}

/// Longest `say` a skill may return.
const MAX_SAY_BYTES: usize = 2000;
/// Longest structured result.
const MAX_RESULT_BYTES: usize = 64 * 1024;

/// Setting up the host or loading a skill failed. Messages name the skill and file.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The engine could not be configured.
    #[error("wasm engine: {0}")]
    Engine(String),
    /// The component could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// Not a valid component.
    #[error("{path}: not a valid WebAssembly component: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What wasmtime said.
        message: String,
    },
    /// Built for another version of the skill API.
    #[error("{path}: built for {found}; this agent serves edge:skill@{}", SKILL_API_VERSIONS.join(" and @"))]
    ApiVersion {
        /// The file.
        path: PathBuf,
        /// What the component imports/exports.
        found: String,
    },
    /// Imports something the host does not provide.
    #[error("{path}: cannot be linked: {message}")]
    Link {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
}

/// An invocation that did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// No skill of that name is loaded.
    #[error("no skill {0:?} is loaded")]
    NotLoaded(String),
    /// The skill ran past its CPU deadline and was stopped.
    #[error("skill {skill} was stopped after its {limit_ms} ms deadline")]
    Deadline {
        /// Skill.
        skill: String,
        /// Its limit.
        limit_ms: u32,
    },
    /// The skill trapped (panic, out of memory, ...).
    #[error("skill {skill} failed: {message}")]
    Trap {
        /// Skill.
        skill: String,
        /// The trap.
        message: String,
    },
    /// The skill returned an error.
    #[error("skill {skill} returned an error: {message}")]
    Skill {
        /// Skill.
        skill: String,
        /// Its error, as a person can hear it when it is a policy denial.
        message: String,
        /// Whether the message is a policy denial meant for the user.
        denied: bool,
    },
    /// The response broke a limit.
    #[error("skill {skill}: {message}")]
    Response {
        /// Skill.
        skill: String,
        /// What was wrong.
        message: String,
    },
}

/// What a skill answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillOutput {
    /// What to say.
    pub say: String,
    /// Said earlier through `host.say`.
    pub said_before: Vec<String>,
    /// A question for the station's next turn.
    pub follow_up: Option<Question>,
    /// Structured result (JSON).
    pub result: Option<String>,
}

/// How a skill was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Skill name.
    pub skill: String,
    /// Compiled now (false: loaded from the cache).
    pub compiled: bool,
    /// Time to have it ready to instantiate.
    pub load_time: Duration,
}

/// A linked component, by the world version it was built for.
enum Pre {
    Latest(latest::SkillPre<StoreState>),
    V0_1(crate::legacy::SkillPre<StoreState>),
}

struct LoadedSkill {
    manifest: SkillManifest,
    pre: Pre,
    grants: Arc<Grants>,
    kv: Arc<KvStore>,
}

/// Runs skills.
pub struct SkillHost {
    engine: Engine,
    linker: Linker<StoreState>,
    cache_dir: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    skills: RwLock<HashMap<String, Arc<LoadedSkill>>>,
    ticker: Option<std::thread::JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for SkillHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkillHost")
            .field("cache_dir", &self.cache_dir)
            .field("skills", &self.skill_names())
            .finish_non_exhaustive()
    }
}

impl Drop for SkillHost {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

impl SkillHost {
    /// An engine with epoch interruption and a pooling allocator; compiled components are
    /// cached in `cache_dir`, key-value stores kept in `state_dir`.
    pub fn new(cache_dir: Option<PathBuf>, state_dir: Option<PathBuf>) -> Result<Self, HostError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(64)
            .total_core_instances(512)
            .total_memories(128)
            .total_tables(128)
            .max_memory_size(512 << 20);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| HostError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        latest::Skill::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| HostError::Engine(e.to_string()))?;
        crate::legacy::Skill::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::Engine(e.to_string()))?;
        for dir in [&cache_dir, &state_dir].into_iter().flatten() {
            std::fs::create_dir_all(dir)
                .map_err(|e| HostError::Engine(format!("{}: {e}", dir.display())))?;
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ticker_engine, ticker_stop) = (engine.clone(), stop.clone());
        let ticker = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| HostError::Engine(e.to_string()))?;
        Ok(Self {
            engine,
            linker,
            cache_dir,
            state_dir,
            skills: RwLock::new(HashMap::new()),
            ticker: Some(ticker),
            stop,
        })
    }

    /// Names of the loaded skills.
    pub fn skill_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .skills
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Whether `skill` has code loaded.
    pub fn has(&self, skill: &str) -> bool {
        self.skills
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(skill)
    }

    fn cache_path(&self, bytes: &[u8]) -> Option<PathBuf> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let key = format!("{:016x}-{}", h.finish(), bytes.len());
        self.cache_dir
            .as_ref()
            .map(|d| d.join(format!("{key}.cwasm")))
    }

    /// Loads a component from the cache directory, if its bytes are the ones written there
    /// (their SHA-256 beside them): a corrupt artifact is compiled again, never run.
    #[allow(unsafe_code)]
    fn deserialize_cached(&self, path: &Path) -> Option<Component> {
        let bytes = std::fs::read(path).ok()?;
        let recorded = std::fs::read_to_string(digest_path(path)).ok();
        if recorded.as_deref().map(str::trim) != Some(sha256_hex(&bytes).as_str()) {
            tracing::warn!(
                "compiled skill {} does not match its digest (corrupt or from an older \
                 agent): compiling again",
                path.display()
            );
            return None;
        }
        // SAFETY: the cache directory is the agent's own (not writable by skills or
        // publishers), files in it are written only by `precompile_component` of an engine
        // whose compatibility hash is part of the file name, and these bytes are the ones
        // written (their digest matched); wasmtime checks the artifact's header against
        // this engine and fails cleanly on a mismatch.
        unsafe { Component::deserialize(&self.engine, &bytes) }.ok()
    }

    fn compile(&self, path: &Path, bytes: &[u8]) -> Result<(Component, bool), HostError> {
        let cached = self.cache_path(bytes);
        if let Some(cwasm) = &cached
            && cwasm.is_file()
            && let Some(component) = self.deserialize_cached(cwasm)
        {
            return Ok((component, false));
        }
        let invalid = |e: wasmtime::Error| HostError::Invalid {
            path: path.to_owned(),
            message: format!("{e:#}"),
        };
        match &cached {
            Some(cwasm) => {
                let artifact = self.engine.precompile_component(bytes).map_err(invalid)?;
                // The artifact first, then its digest: a crash between the two leaves an
                // artifact without a digest, which is compiled again.
                let write = |path: &Path, data: &[u8]| {
                    let tmp = path.with_extension("tmp");
                    std::fs::write(&tmp, data).and_then(|()| std::fs::rename(&tmp, path))
                };
                if let Err(e) = write(cwasm, &artifact)
                    .and_then(|()| write(&digest_path(cwasm), sha256_hex(&artifact).as_bytes()))
                {
                    tracing::warn!("cannot cache {}: {e}", cwasm.display());
                }
                let component = self
                    .deserialize_cached(cwasm)
                    .map_or_else(|| Component::new(&self.engine, bytes).map_err(invalid), Ok)?;
                Ok((component, true))
            }
            None => Ok((Component::new(&self.engine, bytes).map_err(invalid)?, true)),
        }
    }

    /// The world version the component was built for: all its `edge:skill` imports and
    /// its handler export must name one version this host serves.
    fn check_api_version(
        &self,
        path: &Path,
        component: &Component,
    ) -> Result<&'static str, HostError> {
        let ty = component.component_type();
        let names: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .chain(ty.exports(&self.engine).map(|(n, _)| n.to_owned()))
            .collect();
        let handler = names
            .iter()
            .find(|n| n.starts_with("edge:skill/handler@"))
            .ok_or_else(|| HostError::ApiVersion {
                path: path.to_owned(),
                found: "no edge:skill/handler export".into(),
            })?;
        let found = handler.trim_start_matches("edge:skill/handler@");
        let version = SKILL_API_VERSIONS
            .iter()
            .find(|v| **v == found)
            .ok_or_else(|| HostError::ApiVersion {
                path: path.to_owned(),
                found: handler.clone(),
            })?;
        let wanted = format!("@{version}");
        if let Some(other) = names
            .iter()
            .find(|n| n.starts_with("edge:skill/") && !n.ends_with(&wanted))
        {
            return Err(HostError::ApiVersion {
                path: path.to_owned(),
                found: other.clone(),
            });
        }
        Ok(version)
    }

    /// Compiles (or loads from the cache) `wasm` for the skill of `manifest`, checks its API
    /// version and links it. Replaces a loaded skill of the same name only on success.
    pub fn load(&self, manifest: &SkillManifest, wasm: &Path) -> Result<LoadReport, HostError> {
        let started = Instant::now();
        let bytes = std::fs::read(wasm).map_err(|source| HostError::Read {
            path: wasm.to_owned(),
            source,
        })?;
        let (component, compiled) = self.compile(wasm, &bytes)?;
        let version = self.check_api_version(wasm, &component)?;
        let link = |e: wasmtime::Error| HostError::Link {
            path: wasm.to_owned(),
            message: format!("{e:#}"),
        };
        let instance_pre = self.linker.instantiate_pre(&component).map_err(link)?;
        let pre = if version == SKILL_API_VERSION {
            Pre::Latest(latest::SkillPre::new(instance_pre).map_err(link)?)
        } else {
            Pre::V0_1(crate::legacy::SkillPre::new(instance_pre).map_err(link)?)
        };
        let name = manifest.skill.name.clone();
        let kv = Arc::new(KvStore::open(
            self.state_dir
                .as_ref()
                .map(|d| d.join(format!("{name}.kv.json"))),
        ));
        let loaded = LoadedSkill {
            manifest: manifest.clone(),
            pre,
            grants: Arc::new(Grants::new(&manifest.permissions)),
            kv,
        };
        self.skills
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), Arc::new(loaded));
        Ok(LoadReport {
            skill: name,
            compiled,
            load_time: started.elapsed(),
        })
    }

    /// Unloads a skill.
    pub fn unload(&self, skill: &str) -> bool {
        self.skills
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(skill)
            .is_some()
    }

    /// Runs the skill's handler on `intent` in a fresh store.
    pub async fn invoke(
        &self,
        skill: &str,
        intent: Intent,
        ctx: CallContext,
        services: Arc<dyn HostServices>,
    ) -> Result<SkillOutput, InvokeError> {
        let loaded = self
            .skills
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(skill)
            .cloned()
            .ok_or_else(|| InvokeError::NotLoaded(skill.to_owned()))?;
        let limits = &loaded.manifest.limits;
        let mut wasi = wasmtime_wasi::WasiCtxBuilder::new();
        for key in &loaded.manifest.permissions.env {
            if let Ok(value) = std::env::var(key) {
                wasi.env(key, value);
            }
        }
        if loaded.manifest.permissions.network {
            wasi.inherit_network().allow_ip_name_lookup(true);
        }
        let state = StoreState {
            wasi: wasi.build(),
            table: wasmtime::component::ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size((limits.memory_mb as usize) << 20)
                .trap_on_grow_failure(true)
                .build(),
            grants: loaded.grants.clone(),
            services,
            ctx,
            kv: loaded.kv.clone(),
            said: Vec::new(),
            reports_dir: self
                .state_dir
                .as_ref()
                .map(|d| d.join("reports").join(&loaded.manifest.skill.name)),
            clock: InvocationClock::start(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // The deadline covers instantiation (guest init code) and the call, but not the
        // time spent waiting in host calls: when the epoch deadline passes, the guest's
        // own time decides between stopping it and a new deadline for what is left.
        let limit = Duration::from_millis(u64::from(limits.timeout_ms));
        store.set_epoch_deadline(ticks(limit));
        store.epoch_deadline_callback(move |ctx| {
            let used = ctx.data().clock.guest_time();
            Ok(if used >= limit {
                wasmtime::UpdateDeadline::Interrupt
            } else {
                wasmtime::UpdateDeadline::Continue(ticks(limit - used))
            })
        });
        let trap = |e: wasmtime::Error| match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => InvokeError::Deadline {
                skill: skill.to_owned(),
                limit_ms: limits.timeout_ms,
            },
            _ => InvokeError::Trap {
                skill: skill.to_owned(),
                message: format!("{e:#}")
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            },
        };
        let result = match &loaded.pre {
            Pre::Latest(pre) => {
                let instance = pre.instantiate_async(&mut store).await.map_err(trap)?;
                instance
                    .edge_skill_handler()
                    .call_handle(&mut store, &intent)
                    .await
                    .map_err(trap)?
            }
            Pre::V0_1(pre) => {
                let instance = pre.instantiate_async(&mut store).await.map_err(trap)?;
                instance
                    .edge_skill_handler()
                    .call_handle(&mut store, &crate::legacy::intent_to(&intent))
                    .await
                    .map_err(trap)?
                    .map(crate::legacy::response_from)
                    .map_err(crate::legacy::error_from)
            }
        };
        let said = std::mem::take(&mut store.data_mut().said);
        match result {
            Ok(Response {
                say,
                follow_up,
                result,
            }) => {
                if say.len() > MAX_SAY_BYTES {
                    return Err(InvokeError::Response {
                        skill: skill.to_owned(),
                        message: format!("response of {} bytes exceeds {MAX_SAY_BYTES}", say.len()),
                    });
                }
                if result.as_ref().is_some_and(|r| r.len() > MAX_RESULT_BYTES) {
                    return Err(InvokeError::Response {
                        skill: skill.to_owned(),
                        message: format!("result exceeds {MAX_RESULT_BYTES} bytes"),
                    });
                }
                if follow_up
                    .as_ref()
                    .is_some_and(|f| f.context.len() > MAX_CONTEXT_BYTES)
                {
                    return Err(InvokeError::Response {
                        skill: skill.to_owned(),
                        message: format!("follow-up context exceeds {MAX_CONTEXT_BYTES} bytes"),
                    });
                }
                if follow_up
                    .as_ref()
                    .is_some_and(|f| f.question.len() > MAX_SAY_BYTES)
                {
                    return Err(InvokeError::Response {
                        skill: skill.to_owned(),
                        message: format!("follow-up question exceeds {MAX_SAY_BYTES} bytes"),
                    });
                }
                Ok(SkillOutput {
                    say,
                    said_before: said,
                    follow_up: follow_up.map(|f| Question {
                        text: f.question,
                        expect: match f.expect {
                            crate::store::Expect::YesNo => Expected::YesNo,
                            crate::store::Expect::Value(t) => Expected::Value(t),
                            crate::store::Expect::FreeText => Expected::FreeText,
                        },
                        context: f.context,
                    }),
                    result,
                })
            }
            Err(e) => {
                let (message, denied) = match e {
                    WitError::Denied(m) => (m, true),
                    WitError::NotGranted(m) | WitError::Failed(m) | WitError::Invalid(m) => {
                        (m, false)
                    }
                };
                Err(InvokeError::Skill {
                    skill: skill.to_owned(),
                    message: message.chars().take(MAX_SAY_BYTES).collect(),
                    denied,
                })
            }
        }
    }
}

/// Where a cached artifact's digest is kept.
fn digest_path(cwasm: &Path) -> PathBuf {
    cwasm.with_extension("cwasm.sha256")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
