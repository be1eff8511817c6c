//! The safety policy: declarative rules, checked before every write to a signal.
//!
//! A rule applies to the signals its globs match (`*` matches any run of characters,
//! dots included), optionally only to some new values (`when_value`). It can bound the
//! value (`min`/`max`), require conditions on other signals (`require`: "windows may not
//! open above 30 km/h"), limit the rate of writes, and ask for a spoken confirmation.
//! The answer is [`Decision::Allow`], [`Decision::Deny`] with a reason a person can hear,
//! or [`Decision::Confirm`] with the question to ask. Pure: no I/O, no clock of its own.
//! [`PolicySection`] is its configuration section, `[policy]`.

mod section;

pub use section::PolicySection;

use edge_core::{SignalDef, SignalValue};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wildmatch::WildMatch;

/// Comparison operators of conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Equal.
    #[serde(rename = "==")]
    Eq,
    /// Not equal.
    #[serde(rename = "!=")]
    Ne,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// Less or equal.
    #[serde(rename = "<=")]
    Le,
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater or equal.
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    fn holds(self, left: &SignalValue, right: &SignalValue) -> bool {
        match (left.as_f64(), right.as_f64()) {
            (Some(a), Some(b)) => match self {
                Op::Eq => (a - b).abs() < 1e-9,
                Op::Ne => (a - b).abs() >= 1e-9,
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Gt => a > b,
                Op::Ge => a >= b,
            },
            _ => match self {
                Op::Eq => left == right,
                Op::Ne => left != right,
                // Ordering of non-numbers is never true: such a rule fails safe.
                _ => false,
            },
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A test of the value being written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueTest {
    /// Operator.
    pub op: Op,
    /// Right-hand side.
    pub value: SignalValue,
}

/// A condition on another signal's current value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Path of the other signal.
    pub signal: String,
    /// Operator.
    pub op: Op,
    /// Right-hand side.
    pub value: SignalValue,
}

/// At most `max` writes per `per_secs` seconds to each matching signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Writes allowed in the window.
    pub max: u32,
    /// Window length in seconds.
    pub per_secs: u64,
}

/// One rule, as written in a profile's `[[rule]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Name, for the audit log.
    pub name: String,
    /// Globs of signal paths the rule covers.
    pub signals: Vec<String>,
    /// Only for new values passing this test.
    #[serde(default)]
    pub when_value: Option<ValueTest>,
    /// Lowest value allowed.
    #[serde(default)]
    pub min: Option<f64>,
    /// Highest value allowed.
    #[serde(default)]
    pub max: Option<f64>,
    /// Conditions on other signals that must all hold.
    #[serde(default)]
    pub require: Vec<Condition>,
    /// Rate limit per signal.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Ask before writing.
    #[serde(default)]
    pub confirm: bool,
    /// The question; `{label}` and `{value}` are filled in.
    #[serde(default)]
    pub question: Option<String>,
    /// Spoken when the rule denies; `{label}` and `{value}` are filled in.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Write.
    Allow,
    /// Do not write; say why.
    Deny {
        /// Rule that denied.
        rule: String,
        /// Reason for people.
        reason: String,
    },
    /// Ask first.
    Confirm {
        /// Rule that asks.
        rule: String,
        /// The question.
        question: String,
    },
}

/// A rule that does not fit the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A glob matches no signal of the catalogue.
    #[error("rule {rule:?}: signals: {glob:?} matches no signal")]
    NoMatch {
        /// Rule name.
        rule: String,
        /// The glob.
        glob: String,
    },
    /// A condition names an unknown signal.
    #[error("rule {rule:?}: require: unknown signal {signal:?}")]
    UnknownSignal {
        /// Rule name.
        rule: String,
        /// The signal.
        signal: String,
    },
    /// Two rules share a name.
    #[error("rule {rule:?}: the name is used twice")]
    Duplicate {
        /// Rule name.
        rule: String,
    },
}

/// A write the policy is asked about.
#[derive(Debug, Clone, Copy)]
pub struct WriteRequest<'a> {
    /// The signal.
    pub signal: &'a SignalDef,
    /// The new value (already checked against the signal's type and range).
    pub value: &'a SignalValue,
    /// The person already said yes.
    pub confirmed: bool,
}

#[derive(Debug)]
struct Rule {
    spec: RuleSpec,
    globs: Vec<WildMatch>,
}

/// The compiled rules with their rate-limit windows.
#[derive(Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    writes: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Policy {
    /// Compiles rules, checking them against the known signal paths.
    pub fn new(specs: Vec<RuleSpec>, known_paths: &[&str]) -> Result<Self, PolicyError> {
        let mut rules: Vec<Rule> = Vec::new();
        for spec in specs {
            if rules.iter().any(|r| r.spec.name == spec.name) {
                return Err(PolicyError::Duplicate { rule: spec.name });
            }
            let globs: Vec<WildMatch> = spec.signals.iter().map(|g| WildMatch::new(g)).collect();
            for (glob, pattern) in globs.iter().zip(&spec.signals) {
                if !known_paths.iter().any(|p| glob.matches(p)) {
                    return Err(PolicyError::NoMatch {
                        rule: spec.name.clone(),
                        glob: pattern.clone(),
                    });
                }
            }
            for c in &spec.require {
                if !known_paths.contains(&c.signal.as_str()) {
                    return Err(PolicyError::UnknownSignal {
                        rule: spec.name.clone(),
                        signal: c.signal.clone(),
                    });
                }
            }
            rules.push(Rule { spec, globs });
        }
        Ok(Self {
            rules,
            writes: Mutex::new(HashMap::new()),
        })
    }

    /// Signals whose values the rules covering `path` depend on: read them fresh before
    /// [`Policy::evaluate`] so conditions see the world as it is.
    pub fn condition_signals(&self, path: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .rules
            .iter()
            .filter(|r| r.globs.iter().any(|g| g.matches(path)))
            .flat_map(|r| r.spec.require.iter().map(|c| c.signal.as_str()))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Decides on a write. `current` gives other signals' values (`None`: unknown, which
    /// fails safe). On `Allow` the write is counted for rate limits.
    pub fn evaluate(
        &self,
        request: WriteRequest<'_>,
        current: &dyn Fn(&str) -> Option<SignalValue>,
        now: Instant,
    ) -> Decision {
        let path = request.signal.path.as_str();
        let fill = |text: &str| {
            text.replace("{label}", &request.signal.label)
                .replace("{value}", &request.value.to_string())
        };
        let applicable: Vec<&RuleSpec> = self
            .rules
            .iter()
            .filter(|r| r.globs.iter().any(|g| g.matches(path)))
            .map(|r| &r.spec)
            .filter(|s| {
                s.when_value
                    .as_ref()
                    .is_none_or(|t| t.op.holds(request.value, &t.value))
            })
            .collect();
        let mut writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        for rule in &applicable {
            let deny = |default: String| Decision::Deny {
                rule: rule.name.clone(),
                reason: rule.reason.as_deref().map(fill).unwrap_or(default),
            };
            if let Some(x) = request.value.as_f64()
                && (rule.min.is_some_and(|m| x < m) || rule.max.is_some_and(|m| x > m))
            {
                return deny(format!(
                    "{} can only be set between {} and {}.",
                    request.signal.label,
                    rule.min
                        .map_or("-".into(), |v| SignalValue::Float(v).to_string()),
                    rule.max
                        .map_or("-".into(), |v| SignalValue::Float(v).to_string()),
                ));
            }
            for c in &rule.require {
                match current(&c.signal) {
                    Some(v) if c.op.holds(&v, &c.value) => {}
                    Some(v) => {
                        return deny(format!(
                            "I can't change {} while {} is {v} (it must be {} {}).",
                            request.signal.label,
                            c.signal,
                            c.op.symbol(),
                            c.value
                        ));
                    }
                    // Not the rule's reason: it describes a known, failing value ("while
                    // its guard is open"), which would be untrue here.
                    None => {
                        return Decision::Deny {
                            rule: rule.name.clone(),
                            reason: format!(
                                "I can't change {} because {} is unknown right now.",
                                request.signal.label, c.signal
                            ),
                        };
                    }
                }
            }
            if let Some(limit) = &rule.rate_limit {
                let window = Duration::from_secs(limit.per_secs);
                let recent = writes.entry(path.to_owned()).or_default();
                while recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > window)
                {
                    recent.pop_front();
                }
                if recent.len() >= limit.max as usize {
                    return deny(format!(
                        "{} was changed too often; try again in a moment.",
                        request.signal.label
                    ));
                }
            }
        }
        if !request.confirmed
            && let Some(rule) = applicable.iter().find(|r| r.confirm)
        {
            return Decision::Confirm {
                rule: rule.name.clone(),
                question: rule.question.as_deref().map(fill).unwrap_or_else(|| {
                    format!(
                        "Set {} to {}? Say yes to confirm.",
                        request.signal.label, request.value
                    )
                }),
            };
        }
        if applicable.iter().any(|r| r.rate_limit.is_some()) {
            writes.entry(path.to_owned()).or_default().push_back(now);
        }
        Decision::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_core::{Access, DataType};

    fn signal(path: &str, datatype: DataType, label: &str) -> SignalDef {
        SignalDef {
            path: path.into(),
            datatype,
            unit: None,
            min: None,
            max: None,
            values: vec![],
            access: Access::ReadWrite,
            label: label.into(),
        }
    }

    fn rules(toml_like: Vec<RuleSpec>) -> Policy {
        Policy::new(
            toml_like,
            &[
                "Vehicle.Speed",
                "Vehicle.Body.Windows.Row1.Driver.Position",
                "Plant.Pump4.State",
                "Plant.Pump4.GuardClosed",
            ],
        )
        .expect("valid rules")
    }

    fn spec(name: &str, signals: &[&str]) -> RuleSpec {
        RuleSpec {
            name: name.into(),
            signals: signals.iter().map(|s| s.to_string()).collect(),
            when_value: None,
            min: None,
            max: None,
            require: vec![],
            rate_limit: None,
            confirm: false,
            question: None,
            reason: None,
        }
    }

    #[test]
    fn windows_may_not_open_above_speed() {
        let mut r = spec("windows-at-speed", &["Vehicle.Body.Windows.*.Position"]);
        r.when_value = Some(ValueTest {
            op: Op::Gt,
            value: SignalValue::Int(0),
        });
        r.require = vec![Condition {
            signal: "Vehicle.Speed".into(),
            op: Op::Le,
            value: SignalValue::Float(30.0),
        }];
        r.reason = Some("I can't open {label} above 30 km/h.".into());
        let policy = rules(vec![r]);
        let window = signal(
            "Vehicle.Body.Windows.Row1.Driver.Position",
            DataType::Int,
            "the driver window",
        );
        let open = SignalValue::Int(100);
        let close = SignalValue::Int(0);
        let fast = |_: &str| Some(SignalValue::Float(80.0));
        let slow = |_: &str| Some(SignalValue::Float(10.0));
        let now = Instant::now();
        let req = |v| WriteRequest {
            signal: &window,
            value: v,
            confirmed: false,
        };
        assert_eq!(
            policy.evaluate(req(&open), &fast, now),
            Decision::Deny {
                rule: "windows-at-speed".into(),
                reason: "I can't open the driver window above 30 km/h.".into()
            }
        );
        assert_eq!(policy.evaluate(req(&close), &fast, now), Decision::Allow);
        assert_eq!(policy.evaluate(req(&open), &slow, now), Decision::Allow);
        // Unknown fails safe, and says so rather than giving the rule's reason.
        assert_eq!(
            policy.evaluate(req(&open), &|_| None, now),
            Decision::Deny {
                rule: "windows-at-speed".into(),
                reason: "I can't change the driver window because Vehicle.Speed is unknown \
                         right now."
                    .into()
            }
        );
    }

    #[test]
    fn equipment_needs_confirmation_and_a_closed_guard() {
        let mut guard = spec("guard", &["Plant.*.State"]);
        guard.when_value = Some(ValueTest {
            op: Op::Eq,
            value: SignalValue::String("running".into()),
        });
        guard.require = vec![Condition {
            signal: "Plant.Pump4.GuardClosed".into(),
            op: Op::Eq,
            value: SignalValue::Bool(true),
        }];
        let mut confirm = spec("confirm-equipment", &["Plant.*.State"]);
        confirm.confirm = true;
        confirm.question = Some("Change {label} to {value}? Say yes to confirm.".into());
        let policy = rules(vec![guard, confirm]);
        let state = signal("Plant.Pump4.State", DataType::Enum, "pump 4");
        let stop = SignalValue::String("stopped".into());
        let start = SignalValue::String("running".into());
        let open = |_: &str| Some(SignalValue::Bool(false));
        let now = Instant::now();
        assert_eq!(
            policy.evaluate(
                WriteRequest {
                    signal: &state,
                    value: &stop,
                    confirmed: false
                },
                &open,
                now
            ),
            Decision::Confirm {
                rule: "confirm-equipment".into(),
                question: "Change pump 4 to stopped? Say yes to confirm.".into()
            }
        );
        assert_eq!(
            policy.evaluate(
                WriteRequest {
                    signal: &state,
                    value: &stop,
                    confirmed: true
                },
                &open,
                now
            ),
            Decision::Allow
        );
        assert!(matches!(
            policy.evaluate(WriteRequest { signal: &state, value: &start, confirmed: true }, &open, now),
            Decision::Deny { ref rule, .. } if rule == "guard"
        ));
    }

    #[test]
    fn rate_limit_and_range() {
        let mut r = spec("fan", &["Vehicle.Speed"]);
        r.rate_limit = Some(RateLimit {
            max: 2,
            per_secs: 10,
        });
        r.max = Some(100.0);
        let policy = rules(vec![r]);
        let speed = signal("Vehicle.Speed", DataType::Float, "the speed");
        let v = SignalValue::Float(50.0);
        let now = Instant::now();
        let req = WriteRequest {
            signal: &speed,
            value: &v,
            confirmed: false,
        };
        assert_eq!(policy.evaluate(req, &|_| None, now), Decision::Allow);
        assert_eq!(policy.evaluate(req, &|_| None, now), Decision::Allow);
        assert!(matches!(
            policy.evaluate(req, &|_| None, now),
            Decision::Deny { .. }
        ));
        assert_eq!(
            policy.evaluate(req, &|_| None, now + Duration::from_secs(11)),
            Decision::Allow
        );
        let high = SignalValue::Float(120.0);
        assert!(matches!(
            policy.evaluate(WriteRequest { signal: &speed, value: &high, confirmed: false }, &|_| None, now + Duration::from_secs(60)),
            Decision::Deny { ref reason, .. } if reason.contains("between - and 100")
        ));
    }

    #[test]
    fn rules_are_checked_against_the_catalogue() {
        let err = Policy::new(vec![spec("x", &["Vehicle.Nope.*"])], &["Vehicle.Speed"])
            .expect_err("no match");
        assert!(err.to_string().contains("matches no signal"), "{err}");
    }
}
