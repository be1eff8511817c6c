//! Acting on signals: every write passes the policy, every decision and write is audited
//! (fsynced before the write is acknowledged), and writes that need a spoken confirmation
//! wait for "yes".

use edge_audit::{AuditEntry, AuditError, AuditLog, Origin};
use edge_core::SignalValue;
use edge_hal::Hal;
use edge_policy::{Decision, Policy, WriteRequest};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::broadcast;

/// What came of a request to act.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ActOutcome {
    /// Written and confirmed by the peer.
    Done,
    /// The policy said no.
    Denied {
        /// The reason, for people.
        reason: String,
    },
    /// The policy asks first; the writes wait under `token` for the dialogue's answer.
    Confirm {
        /// The question.
        question: String,
        /// What [`Actuator::confirm`] and [`Actuator::drop_pending`] take.
        #[serde(skip)]
        token: u64,
    },
    /// The write failed (transport, timeout, bad value, audit).
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// Writes waiting for "yes".
#[derive(Debug, Clone)]
struct Pending {
    origin: Origin,
    writes: Vec<(String, SignalValue)>,
    done_text: String,
}

/// Policy, audit and HAL together.
#[derive(Debug)]
pub struct Actuator {
    hal: Arc<Hal>,
    policy: Policy,
    audit: AuditLog,
    audit_events: broadcast::Sender<AuditEntry>,
    /// Writes waiting for the dialogue manager to settle their confirmation.
    pending: Mutex<HashMap<u64, Pending>>,
    next_token: AtomicU64,
    /// Audit and signal write latency.
    metrics: Arc<edge_metrics::Metrics>,
}

impl Actuator {
    /// Puts the pieces together.
    pub fn new(hal: Arc<Hal>, policy: Policy, audit: AuditLog) -> Self {
        let (audit_events, _) = broadcast::channel(256);
        Self {
            hal,
            policy,
            audit,
            audit_events,
            pending: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            metrics: Arc::new(edge_metrics::Metrics::new()),
        }
    }

    /// Records into `metrics` (the pipeline's) instead of its own.
    pub fn with_metrics(mut self, metrics: Arc<edge_metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The HAL.
    pub fn hal(&self) -> &Arc<Hal> {
        &self.hal
    }

    /// Every audit entry, as it is stored.
    pub fn subscribe_audit(&self) -> broadcast::Receiver<AuditEntry> {
        self.audit_events.subscribe()
    }

    fn record(&self, entry: AuditEntry) -> Result<(), AuditError> {
        let started = Instant::now();
        self.audit.append(&entry)?;
        self.metrics.stage("audit_write", started.elapsed());
        let _ = self.audit_events.send(entry);
        Ok(())
    }

    fn entry(
        origin: &Origin,
        path: &str,
        decision: &str,
        rule: Option<String>,
        result: String,
    ) -> AuditEntry {
        let mut e = AuditEntry::now(origin.clone(), path, decision, result);
        e.rule = rule;
        e
    }

    /// Checks every write against the signal and the policy, then performs them in order.
    /// `done_text` is remembered for a confirmation so the answer to "yes" can say it.
    pub async fn act(
        &self,
        origin: Origin,
        writes: Vec<(String, SignalValue)>,
        done_text: &str,
        confirmed: bool,
    ) -> ActOutcome {
        let mut checked = Vec::with_capacity(writes.len());
        for (path, value) in &writes {
            let (def, value) = match self.hal.check(path, value) {
                Ok((def, v)) => (def.clone(), v),
                Err(e) => {
                    let mut entry = Self::entry(&origin, path, "deny", None, format!("error: {e}"));
                    entry.new = Some(value.clone());
                    return self.failed_or(
                        entry,
                        ActOutcome::Failed {
                            error: e.to_string(),
                        },
                    );
                }
            };
            // Conditions are judged on fresh values; an unreadable one stays unknown (and
            // the rule fails safe).
            for condition in self.policy.condition_signals(path) {
                if let Err(e) = self.hal.get(condition, true).await {
                    tracing::warn!("policy condition {condition}: {e}");
                }
            }
            let current = |p: &str| self.hal.cached(p).map(|r| r.value);
            let decision = self.policy.evaluate(
                WriteRequest {
                    signal: &def,
                    value: &value,
                    confirmed,
                },
                &current,
                Instant::now(),
            );
            match decision {
                Decision::Allow => checked.push((path.clone(), value)),
                Decision::Deny { rule, reason } => {
                    let mut entry = Self::entry(&origin, path, "deny", Some(rule), reason.clone());
                    entry.new = Some(value);
                    return self.failed_or(entry, ActOutcome::Denied { reason });
                }
                Decision::Confirm { rule, question } => {
                    let mut entry =
                        Self::entry(&origin, path, "confirm", Some(rule), question.clone());
                    entry.new = Some(value);
                    if let Err(e) = self.record(entry) {
                        return ActOutcome::Failed {
                            error: e.to_string(),
                        };
                    }
                    let token = self.next_token.fetch_add(1, Ordering::Relaxed);
                    self.pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(
                            token,
                            Pending {
                                origin,
                                writes,
                                done_text: done_text.to_owned(),
                            },
                        );
                    return ActOutcome::Confirm { question, token };
                }
            }
        }
        let decision = if confirmed { "confirmed" } else { "allow" };
        for (path, value) in checked {
            let mut entry = Self::entry(&origin, &path, decision, None, "pending".into());
            let readable = self.hal.def(&path).is_some_and(|d| d.access.readable());
            entry.old = if readable {
                self.hal.get(&path, true).await.ok().map(|r| r.value)
            } else {
                None
            };
            entry.new = Some(value.clone());
            // The decision is on disk before the world changes.
            if let Err(e) = self.record(entry.clone()) {
                return ActOutcome::Failed {
                    error: e.to_string(),
                };
            }
            let started = Instant::now();
            let result = self.hal.set(&path, &value).await;
            self.metrics.stage("signal_write", started.elapsed());
            entry.time = AuditEntry::now(origin.clone(), &path, decision, String::new()).time;
            entry.result = match &result {
                Ok(_) => "ok".into(),
                Err(e) => format!("error: {e}"),
            };
            // And the result is on disk before the caller hears "done".
            if let Err(e) = self.record(entry) {
                return ActOutcome::Failed {
                    error: e.to_string(),
                };
            }
            if let Err(e) = result {
                return ActOutcome::Failed {
                    error: e.to_string(),
                };
            }
        }
        ActOutcome::Done
    }

    fn failed_or(&self, entry: AuditEntry, outcome: ActOutcome) -> ActOutcome {
        match self.record(entry) {
            Ok(()) => outcome,
            Err(e) => ActOutcome::Failed {
                error: e.to_string(),
            },
        }
    }

    /// Drops the writes waiting under `token`, audited with `why` (`declined`, `expired`,
    /// `superseded`, `cancelled`). Whether anything was waiting.
    pub fn drop_pending(&self, token: u64, why: &str) -> bool {
        let Some(pending) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token)
        else {
            return false;
        };
        for (path, value) in &pending.writes {
            let mut entry = Self::entry(&pending.origin, path, "declined", None, why.to_owned());
            entry.new = Some(value.clone());
            if let Err(e) = self.record(entry) {
                tracing::error!("audit: {e}");
            }
        }
        true
    }

    /// Records an event that is not a write: a skill's call refused by its grants, a skill
    /// that trapped or ran past its deadline.
    pub fn record_event(&self, origin: Origin, target: &str, decision: &str, result: String) {
        if let Err(e) = self.record(Self::entry(&origin, target, decision, None, result)) {
            tracing::error!("audit: {e}");
        }
    }

    /// The person said yes: performs the writes waiting under `token` (the policy is
    /// asked again, with the confirmation). `None` if nothing waits under it.
    pub async fn confirm(&self, token: u64) -> Option<(ActOutcome, String)> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token)?;
        // The write keeps the origin of the request; the "yes" is in the log as its own
        // utterance through the intent event.
        let outcome = self
            .act(pending.origin, pending.writes, &pending.done_text, true)
            .await;
        Some((outcome, pending.done_text))
    }
}
