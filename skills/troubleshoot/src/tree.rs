//! Fault trees: one data file per machine type (`trees/*.toml`), checked when loaded so a
//! broken tree names its file and step instead of failing mid-conversation.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The trees built into the component, by file name.
const FILES: [(&str, &str); 3] = [
    ("trees/pump.toml", include_str!("../trees/pump.toml")),
    ("trees/press.toml", include_str!("../trees/press.toml")),
    (
        "trees/conveyor.toml",
        include_str!("../trees/conveyor.toml"),
    ),
];

/// A machine type's fault tree.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tree {
    /// Machine ids of this type start with `MACHINE-`.
    pub machine: String,
    /// How the type is said.
    pub name: String,
    pub symptoms: Vec<Symptom>,
    pub steps: BTreeMap<String, Step>,
}

/// A symptom the technician can report, and the step it starts at.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symptom {
    pub id: String,
    /// How it is said ("abnormal noise or vibration").
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub words: Vec<String>,
    pub start: String,
}

/// A value in a tree: a check's expected value, an action's value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    Bool(bool),
    Number(f64),
    Text(String),
}

/// One step of a tree.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Reads a signal and branches on an alarm level.
    Check {
        signal: String,
        label: String,
        #[serde(default)]
        unit: Option<String>,
        #[serde(default)]
        above: Option<f64>,
        #[serde(default)]
        below: Option<f64>,
        #[serde(default)]
        equals: Option<Literal>,
        alarm: String,
        ok: String,
    },
    /// Asks the technician.
    Question {
        question: String,
        choices: Vec<Choice>,
    },
    /// Writes a signal through the safety policy.
    Action {
        signal: String,
        value: Literal,
        say: String,
        next: String,
    },
    /// Ends the session.
    Conclusion { fault: String, text: String },
}

/// One answer a question allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub words: Vec<String>,
    pub next: String,
}

impl Choice {
    /// What the local model compares an answer with.
    pub fn meaning(&self) -> String {
        match (&self.description, self.id.as_str()) {
            (Some(d), _) => d.clone(),
            (None, "yes") => "yes, it is, correct, I think so, affirmative".into(),
            (None, "no") => "no, it is not, not really, negative".into(),
            (None, id) => id.replace('_', " "),
        }
    }
}

impl Tree {
    /// Whether a question's choices are yes and no.
    pub fn is_yes_no(choices: &[Choice]) -> bool {
        choices.len() == 2
            && choices.iter().any(|c| c.id == "yes")
            && choices.iter().any(|c| c.id == "no")
    }

    fn check(&self, file: &str) -> Result<(), String> {
        let exists = |from: &str, to: &str| {
            if self.steps.contains_key(to) {
                Ok(())
            } else {
                Err(format!("{file}: {from}: next step {to:?} does not exist"))
            }
        };
        if self.symptoms.is_empty() {
            return Err(format!("{file}: no symptoms"));
        }
        for s in &self.symptoms {
            exists(&format!("symptom {}", s.id), &s.start)?;
        }
        for (id, step) in &self.steps {
            let at = format!("steps.{id}");
            match step {
                Step::Check {
                    above,
                    below,
                    equals,
                    alarm,
                    ok,
                    ..
                } => {
                    let tests = [above.is_some(), below.is_some(), equals.is_some()];
                    if tests.iter().filter(|t| **t).count() != 1 {
                        return Err(format!(
                            "{file}: {at}: give exactly one of above, below, equals"
                        ));
                    }
                    exists(&at, alarm)?;
                    exists(&at, ok)?;
                }
                Step::Question { choices, .. } => {
                    if choices.len() < 2 {
                        return Err(format!("{file}: {at}: a question needs two choices"));
                    }
                    for c in choices {
                        exists(&format!("{at}.{}", c.id), &c.next)?;
                    }
                }
                Step::Action { next, .. } => {
                    exists(&at, next)?;
                    if !matches!(self.steps.get(next), Some(Step::Question { .. })) {
                        return Err(format!("{file}: {at}: an action must lead to a question"));
                    }
                }
                Step::Conclusion { .. } => {}
            }
        }
        Ok(())
    }
}

/// Every tree, parsed and checked; an error names the file, and the step or TOML line.
pub fn load() -> Result<Vec<Tree>, String> {
    FILES
        .iter()
        .map(|(file, text)| {
            let tree: Tree = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
            tree.check(file)?;
            Ok(tree)
        })
        .collect()
}
