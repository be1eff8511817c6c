//! Troubleshooting skill: walks a technician through a machine's fault tree. Each turn
//! runs the tree from the current step until it needs the technician (a question) or
//! reaches a conclusion; sensor checks read live signals, actions write through the safety
//! policy, free-form answers are mapped to a question's choices (words first, then the
//! local model). The conversation's state travels in the follow-up's context, so the
//! component keeps nothing between turns. The report goes to MQTT and to disk.

mod tree;

use edge_skill_sdk::{
    Answer, Error, Expect, Intent, Response, SignalValue, Skill, SlotValue, WriteOutcome, host,
    llm, mqtt, reports, signals, spoken,
};
use serde::{Deserialize, Serialize};
use tree::{Choice, Literal, Step, Tree};

/// Unclear answers to one question before the session gives up.
const MAX_RETRIES: u32 = 2;
/// Contexts of the question "which machine?" (first time, asked again).
const WHICH_MACHINE: &str = "which-machine";
const WHICH_MACHINE_AGAIN: &str = "which-machine-again";
/// Pseudo-step: asking which symptom.
const SYMPTOM_STEP: &str = "symptom";

/// One line of the session's log, and of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    step: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    question: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    choice: Option<String>,
    /// How the answer was mapped: `agent` (yes/no), `words`, `llm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mapped_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alarm: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    said: Option<String>,
}

impl Entry {
    fn new(step: &str, kind: &str) -> Self {
        Entry {
            step: step.to_owned(),
            kind: kind.to_owned(),
            question: None,
            answer: None,
            choice: None,
            mapped_by: None,
            signal: None,
            value: None,
            unit: None,
            alarm: None,
            said: None,
        }
    }
}

/// The conversation's state, handed to the agent with each question.
#[derive(Debug, Serialize, Deserialize)]
struct Session {
    machine: String,
    tree: String,
    symptom: Option<String>,
    /// The question being asked.
    step: String,
    retries: u32,
    started_ms: u64,
    log: Vec<Entry>,
}

/// `pump-3` -> `Plant.Pump3`.
fn machine_path(machine: &str) -> String {
    let segment: String = machine.split(['-', '_']).map(capitalised).collect();
    format!("Plant.{segment}")
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Lower-case words of `text`, letters and digits only.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn json_of(value: &SignalValue) -> serde_json::Value {
    match value {
        SignalValue::Boolean(b) => serde_json::Value::from(*b),
        SignalValue::Integer(i) => serde_json::Value::from(*i),
        SignalValue::Number(n) => serde_json::Value::from((n * 100.0).round() / 100.0),
        SignalValue::Text(t) => serde_json::Value::from(t.clone()),
    }
}

fn literal_value(l: &Literal) -> SignalValue {
    match l {
        Literal::Bool(b) => SignalValue::Boolean(*b),
        Literal::Number(n) => SignalValue::Number(*n),
        Literal::Text(t) => SignalValue::Text(t.clone()),
    }
}

fn spoken_limit(v: f64) -> String {
    SignalValue::Number(v).spoken()
}

/// What the session says and asks after running from a step.
struct Turn {
    said: Vec<String>,
    /// The question asked, or `None` when the session ended.
    asked: Option<(String, Expect)>,
    result: Option<String>,
}

struct Run<'a> {
    tree: &'a Tree,
    session: Session,
    name: String,
    base: String,
    said: Vec<String>,
    station: String,
    session_id: String,
}

impl<'a> Run<'a> {
    fn new(tree: &'a Tree, session: Session, intent: &Intent) -> Self {
        Run {
            tree,
            name: spoken(&session.machine),
            base: machine_path(&session.machine),
            session,
            said: Vec::new(),
            station: intent.station.clone(),
            session_id: intent.session_id.clone(),
        }
    }

    fn fill(&self, text: &str) -> String {
        let name = capitalised(&self.name);
        text.replace("{name}", &name)
    }

    /// Runs from `step` until a question or a conclusion.
    fn run_from(mut self, mut step_id: String) -> Result<(Turn, Session), Error> {
        // Bounded: a tree is a tree, but a data error must not loop forever.
        for _ in 0..64 {
            let step = self.tree.steps.get(&step_id).ok_or_else(|| {
                Error::Invalid(format!("{} tree has no step {step_id:?}", self.tree.name))
            })?;
            match step {
                Step::Check {
                    signal,
                    label,
                    unit,
                    above,
                    below,
                    equals,
                    alarm,
                    ok,
                } => {
                    let path = signal.replace("{machine}", &self.base);
                    let value = signals::get(&path)?;
                    let number = value.as_f64();
                    let (is_alarm, sentence) = match (above, below, equals, number) {
                        (Some(limit), _, _, Some(v)) | (_, Some(limit), _, Some(v)) => {
                            let alarm = if above.is_some() {
                                v > *limit
                            } else {
                                v < *limit
                            };
                            let relation = match (alarm, above.is_some()) {
                                (true, true) => "above",
                                (true, false) => "below",
                                (false, _) => "within",
                            };
                            let unit = unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
                            (
                                alarm,
                                format!(
                                    "{} on {} is {}{unit}, {relation} the {} alarm level.",
                                    capitalised(label),
                                    self.name,
                                    value.spoken(),
                                    spoken_limit(*limit)
                                ),
                            )
                        }
                        (_, _, Some(expected), _) => {
                            let alarm = json_of(&literal_value(expected)) != json_of(&value);
                            let said = match &value {
                                SignalValue::Boolean(b) if label == "guard" => {
                                    if *b { "closed" } else { "open" }.to_owned()
                                }
                                other => other.spoken(),
                            };
                            (alarm, format!("The {label} of {} is {said}.", self.name))
                        }
                        _ => {
                            return Err(Error::Invalid(format!(
                                "{path} is not a number; step {step_id} compares it with a level"
                            )));
                        }
                    };
                    let mut entry = Entry::new(&step_id, "check");
                    entry.signal = Some(path);
                    entry.value = Some(json_of(&value));
                    entry.unit = unit.clone();
                    entry.alarm = Some(is_alarm);
                    entry.said = Some(sentence.clone());
                    self.session.log.push(entry);
                    self.said.push(sentence);
                    step_id = if is_alarm { alarm.clone() } else { ok.clone() };
                }
                Step::Question { question, choices } => {
                    let expect = if Tree::is_yes_no(choices) {
                        Expect::YesNo
                    } else {
                        Expect::FreeText
                    };
                    self.session.step = step_id;
                    self.session.retries = 0;
                    let question = self.fill(question);
                    return Ok((
                        Turn {
                            said: self.said,
                            asked: Some((question, expect)),
                            result: None,
                        },
                        self.session,
                    ));
                }
                Step::Action {
                    signal,
                    value,
                    say,
                    next,
                } => {
                    let path = signal.replace("{machine}", &self.base);
                    let outcome = signals::set(&path, literal_value(value))?;
                    let mut entry = Entry::new(&step_id, "action");
                    entry.signal = Some(path);
                    entry.value = Some(match value {
                        Literal::Bool(b) => serde_json::Value::from(*b),
                        Literal::Number(n) => serde_json::Value::from(*n),
                        Literal::Text(t) => serde_json::Value::from(t.clone()),
                    });
                    self.said.push(self.fill(say));
                    entry.said = Some(match &outcome {
                        WriteOutcome::Done => "done".to_owned(),
                        // The agent asks its confirmation before the next question.
                        WriteOutcome::Confirm(q) => {
                            self.said.push(q.clone());
                            format!("confirmation asked: {q}")
                        }
                    });
                    self.session.log.push(entry);
                    step_id = next.clone();
                }
                Step::Conclusion { fault, text } => {
                    let text = self.fill(text);
                    let mut entry = Entry::new(&step_id, "conclusion");
                    entry.said = Some(text.clone());
                    self.session.log.push(entry);
                    let report = self.report(fault, &text, "concluded");
                    let kept = self.publish(&report);
                    self.said.push(text);
                    self.said.push(kept);
                    return Ok((
                        Turn {
                            said: self.said,
                            asked: None,
                            result: Some(report.to_string()),
                        },
                        self.session,
                    ));
                }
            }
        }
        Err(Error::Invalid(format!(
            "{} tree runs in a circle at {step_id}",
            self.tree.name
        )))
    }

    fn report(&self, fault: &str, text: &str, outcome: &str) -> serde_json::Value {
        let readings: Vec<&Entry> = self
            .session
            .log
            .iter()
            .filter(|e| e.kind == "check")
            .collect();
        serde_json::json!({
            "machine": self.session.machine,
            "tree": self.session.tree,
            "symptom": self.session.symptom,
            "station": self.station,
            "session_id": self.session_id,
            "started_ms": self.session.started_ms,
            "finished_ms": host::now_ms(),
            "outcome": outcome,
            "steps": self.session.log,
            "readings": readings,
            "conclusion": { "fault": fault, "text": text },
        })
    }

    /// Publishes the report on MQTT and keeps it on disk; says where it went.
    fn publish(&self, report: &serde_json::Value) -> String {
        let body = report.to_string();
        let topic = format!("plant/troubleshoot/{}/report", self.session.machine);
        let published = mqtt::publish(&topic, body.as_bytes(), true);
        let name = format!("{}-{}", self.session.machine, host::now_ms());
        let kept = reports::keep(&name, &body);
        match (published, kept) {
            (Ok(()), Ok(_)) => "I saved the report.".to_owned(),
            (p, k) => {
                for e in [p.err(), k.err()].into_iter().flatten() {
                    host::log(host::LogLevel::Warn, &format!("report: {e:?}"));
                }
                "I could not save the report everywhere; see the agent's log.".to_owned()
            }
        }
    }
}

/// Which choice an answer means: yes/no as the agent read it, else the local model (its
/// worker matches option words literally first, minding negations); only when no model is
/// at hand, the choices' words heard literally here. `None`: not understood.
fn pick(
    question: &str,
    choices: &[Choice],
    answer: &Answer,
    text: &str,
) -> Result<Option<(String, &'static str)>, Error> {
    match answer {
        Answer::Yes if choices.iter().any(|c| c.id == "yes") => {
            return Ok(Some(("yes".into(), "agent")));
        }
        Answer::No if choices.iter().any(|c| c.id == "no") => {
            return Ok(Some(("no".into(), "agent")));
        }
        _ => {}
    }
    let offered: Vec<llm::Choice> = choices
        .iter()
        .map(|c| llm::Choice {
            id: c.id.clone(),
            description: c.meaning(),
        })
        .collect();
    match llm::choose(question, text, &offered) {
        Ok(Some(id)) => Ok(Some((id, "llm"))),
        Ok(None) => Ok(None),
        Err(Error::Failed(e) | Error::NotGranted(e)) => {
            host::log(
                host::LogLevel::Warn,
                &format!("llm.choose: {e}; matching words only"),
            );
            let heard = words(text);
            let literal: Vec<&Choice> = choices
                .iter()
                .filter(|c| {
                    let id = c.id.replace('_', " ");
                    heard.contains(&id) || c.words.iter().any(|k| heard.contains(k))
                })
                .collect();
            Ok(match literal.as_slice() {
                [one] => Some((one.id.clone(), "words")),
                _ => None,
            })
        }
        Err(e) => Err(e),
    }
}

fn answer_text(answer: &Answer, text: &str) -> String {
    match answer {
        Answer::Yes => "yes".into(),
        Answer::No => "no".into(),
        Answer::Value(_) | Answer::Text(_) => text.to_owned(),
    }
}

fn respond(turn: Turn, session: &Session) -> Result<Response, Error> {
    let say = turn.said.join(" ");
    match turn.asked {
        Some((question, expect)) => {
            let context = serde_json::to_string(session)
                .map_err(|e| Error::Failed(format!("session state: {e}")))?;
            Ok(Response::ask(say, question, expect, context))
        }
        None => {
            let response = Response::say(say);
            Ok(match turn.result {
                Some(r) => response.with_result(r),
                None => response,
            })
        }
    }
}

fn symptom_question(tree: &Tree, name: &str) -> String {
    let list: Vec<&str> = tree.symptoms.iter().map(|s| s.name.as_str()).collect();
    let (last, rest) = list.split_last().map_or(("", &[][..]), |(l, r)| (*l, r));
    if rest.is_empty() {
        format!("What is wrong with {name}: {last}?")
    } else {
        format!("What is wrong with {name}: {}, or {last}?", rest.join(", "))
    }
}

/// The symptom the technician named, and how it was told, if the model or the words can
/// tell.
fn pick_symptom(
    tree: &Tree,
    question: &str,
    text: &str,
) -> Result<Option<(String, &'static str)>, Error> {
    let choices: Vec<Choice> = tree
        .symptoms
        .iter()
        .map(|s| Choice {
            id: s.id.clone(),
            description: Some(s.description.clone()),
            words: s.words.clone(),
            next: s.start.clone(),
        })
        .collect();
    pick(question, &choices, &Answer::Text(text.to_owned()), text)
}

struct Troubleshoot;

impl Troubleshoot {
    /// Asks which machine, when the command named none.
    fn which_machine(again: bool) -> Response {
        let (say, context) = if again {
            ("Sorry, I didn't get the machine.", WHICH_MACHINE_AGAIN)
        } else {
            ("", WHICH_MACHINE)
        };
        Response::ask(
            say,
            "Which machine? For example, pump three.",
            Expect::Value("machine".into()),
            context,
        )
    }

    fn start(intent: &Intent, machine: Option<&str>, trees: &[Tree]) -> Result<Response, Error> {
        let Some(machine) = machine.map(str::to_owned) else {
            return Ok(Self::which_machine(false));
        };
        let kind = machine.split('-').next().unwrap_or_default();
        let Some(tree) = trees.iter().find(|t| t.machine == kind) else {
            return Ok(Response::say(format!(
                "I have no troubleshooting guide for {}.",
                spoken(&machine)
            )));
        };
        let name = spoken(&machine);
        let mut session = Session {
            machine: machine.clone(),
            tree: tree.machine.clone(),
            symptom: None,
            step: SYMPTOM_STEP.into(),
            retries: 0,
            started_ms: host::now_ms(),
            log: Vec::new(),
        };
        let question = symptom_question(tree, &name);
        let symptom = match (intent.text("symptom"), tree.symptoms.as_slice()) {
            (Some(said), _) => pick_symptom(tree, &question, said)?.map(|(id, _)| id),
            (None, [only]) => Some(only.id.clone()),
            (None, _) => None,
        };
        match symptom.and_then(|id| tree.symptoms.iter().find(|s| s.id == id)) {
            Some(s) => {
                session.symptom = Some(s.id.clone());
                let mut run = Run::new(tree, session, intent);
                run.said
                    .push(format!("Let's troubleshoot {name}: {}.", s.name));
                let (turn, session) = run.run_from(s.start.clone())?;
                respond(turn, &session)
            }
            None => {
                let context = serde_json::to_string(&session)
                    .map_err(|e| Error::Failed(format!("session state: {e}")))?;
                Ok(Response::ask(
                    format!("Let's troubleshoot {name}."),
                    question,
                    Expect::FreeText,
                    context,
                ))
            }
        }
    }

    fn answer(intent: &Intent, trees: &[Tree]) -> Result<Response, Error> {
        let Some(reply) = intent.reply() else {
            return Self::start(intent, intent.text("machine"), trees);
        };
        if reply.context == WHICH_MACHINE || reply.context == WHICH_MACHINE_AGAIN {
            return match &reply.answer {
                Answer::Value(SlotValue::Text(machine)) => {
                    Self::start(intent, Some(machine.as_str()), trees)
                }
                _ if reply.context == WHICH_MACHINE => Ok(Self::which_machine(true)),
                _ => Ok(Response::say(
                    "I still didn't get the machine; let's stop here.",
                )),
            };
        }
        let mut session: Session = serde_json::from_str(&reply.context)
            .map_err(|e| Error::Invalid(format!("session state: {e}")))?;
        let tree = trees
            .iter()
            .find(|t| t.machine == session.tree)
            .ok_or_else(|| Error::Invalid(format!("no tree {:?}", session.tree)))?;
        let heard = answer_text(&reply.answer, &intent.text);
        let (chosen, question, next) = if session.step == SYMPTOM_STEP {
            let chosen = pick_symptom(tree, &reply.question, &heard)?;
            let next = chosen
                .as_ref()
                .and_then(|(id, _)| tree.symptoms.iter().find(|s| s.id == *id))
                .map(|s| s.start.clone());
            session.symptom = chosen.as_ref().map(|(id, _)| id.clone());
            (chosen, reply.question.clone(), next)
        } else {
            let Some(Step::Question { choices, .. }) = tree.steps.get(&session.step) else {
                return Err(Error::Invalid(format!(
                    "step {} is not a question",
                    session.step
                )));
            };
            let chosen = pick(&reply.question, choices, &reply.answer, &heard)?;
            let next = chosen
                .as_ref()
                .and_then(|(id, _)| choices.iter().find(|c| c.id == *id))
                .map(|c| c.next.clone());
            (chosen, reply.question.clone(), next)
        };
        let mut entry = Entry::new(&session.step, "question");
        entry.question = Some(question.clone());
        entry.answer = Some(heard);
        match (chosen, next) {
            (Some((id, how)), Some(next)) => {
                entry.choice = Some(id);
                entry.mapped_by = Some(how.to_owned());
                session.log.push(entry);
                let run = Run::new(tree, session, intent);
                let (turn, session) = run.run_from(next)?;
                respond(turn, &session)
            }
            _ if session.retries >= MAX_RETRIES => {
                session.log.push(entry);
                let run = Run::new(tree, session, intent);
                let text = "I could not understand the answers; let's stop here.";
                let report = run.report("unknown", text, "abandoned");
                let kept = run.publish(&report);
                Ok(Response::say(format!("{text} {kept}")).with_result(report.to_string()))
            }
            _ => {
                session.retries += 1;
                session.log.push(entry);
                let context = serde_json::to_string(&session)
                    .map_err(|e| Error::Failed(format!("session state: {e}")))?;
                let expect = match tree.steps.get(&session.step) {
                    Some(Step::Question { choices, .. }) if Tree::is_yes_no(choices) => {
                        Expect::YesNo
                    }
                    _ => Expect::FreeText,
                };
                Ok(Response::ask(
                    "Sorry, I didn't get that.",
                    question,
                    expect,
                    context,
                ))
            }
        }
    }
}

impl Skill for Troubleshoot {
    fn handle(intent: &Intent) -> Result<Response, Error> {
        let trees = tree::load().map_err(Error::Invalid)?;
        match intent.name.as_str() {
            "troubleshoot.start" => Self::answer(intent, &trees),
            other => Err(Error::Invalid(format!(
                "troubleshoot does not handle {other}"
            ))),
        }
    }
}

edge_skill_sdk::export!(Troubleshoot);
