//! The plant model: pure, synchronous and free of MQTT, so it can be unit-tested.

use rand::Rng;
use serde::Serialize;

/// Ambient temperature in °C; stopped machines decay toward it.
pub const AMBIENT: f64 = 22.0;
/// Vibration (mm/s RMS) of a machine at rest.
const IDLE_VIBRATION: f64 = 0.05;
/// Fraction of the gap to ambient a stopped machine loses per period.
const COOLING: f64 = 0.1;
/// Overheat trips the machine at this temperature (°C).
const OVERHEAT_TRIP: f64 = 90.0;

/// Machine type, derived from the id prefix (`pump-`, `press-`, `conveyor-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pump,
    Press,
    Conveyor,
}

/// Running sensor values as (nominal, ± noise): pressure, temperature, vibration, speed.
type Profile = [(f64, f64); 4];

impl Kind {
    fn of(id: &str) -> Kind {
        if id.starts_with("press-") {
            Kind::Press
        } else if id.starts_with("conveyor-") {
            Kind::Conveyor
        } else {
            Kind::Pump
        }
    }

    fn profile(self) -> Profile {
        match self {
            Kind::Pump => [(4.2, 0.1), (45.0, 0.5), (2.0, 0.2), (1450.0, 10.0)],
            Kind::Press => [(180.0, 3.0), (50.0, 0.5), (1.5, 0.15), (30.0, 1.0)],
            Kind::Conveyor => [(0.0, 0.0), (35.0, 0.5), (1.0, 0.1), (1.2, 0.05)],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Stopped,
    Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    BearingWear,
    Overheat,
    Trip,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::BearingWear => "bearing_wear",
            FaultKind::Overheat => "overheat",
            FaultKind::Trip => "trip",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Started,
    Stopped,
    Refused,
    Interlock,
    Fault,
    Cleared,
    Error,
}

/// A message for `<prefix>/<machine>/events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub machine: String,
    pub event: EventKind,
    pub message: String,
}

impl Event {
    fn new(machine: &str, event: EventKind, message: impl Into<String>) -> Event {
        Event {
            machine: machine.to_owned(),
            event,
            message: message.into(),
        }
    }
}

/// What a well-formed command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `set/state`: `true` = run, `false` = stop.
    Run(bool),
    /// `set/guard_closed`.
    Guard(bool),
    /// `fault`: inject a fault.
    Inject(FaultKind),
    /// `fault`: `clear`.
    Clear,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub machine: String,
    pub action: Action,
}

impl Command {
    /// Parses a topic below the prefix (`M/set/state`, `M/set/guard_closed`, `M/fault`)
    /// and its payload; a malformed command becomes an `error` event for M.
    pub fn parse(tail: &str, payload: &[u8]) -> Result<Command, Event> {
        let (machine, sub) = tail.split_once('/').unwrap_or((tail, ""));
        let err = |msg: String| Event::new(machine, EventKind::Error, msg);
        let shown = |p: &str| p.chars().take(40).collect::<String>();
        let text = std::str::from_utf8(payload)
            .map_err(|_| err(format!("payload on '{sub}' is not valid UTF-8")))?;
        let word = text.trim().to_ascii_lowercase();
        let action = match (sub, word.as_str()) {
            ("set/state", "running" | "start") => Action::Run(true),
            ("set/state", "stopped" | "stop") => Action::Run(false),
            ("set/guard_closed", "true") => Action::Guard(true),
            ("set/guard_closed", "false") => Action::Guard(false),
            ("fault", "bearing_wear") => Action::Inject(FaultKind::BearingWear),
            ("fault", "overheat") => Action::Inject(FaultKind::Overheat),
            ("fault", "trip") => Action::Inject(FaultKind::Trip),
            ("fault", "clear") => Action::Clear,
            ("set/state" | "set/guard_closed" | "fault", _) => {
                let expected = match sub {
                    "set/state" => "running, stopped, start or stop",
                    "set/guard_closed" => "true or false",
                    _ => "bearing_wear, overheat, trip or clear",
                };
                return Err(err(format!(
                    "unknown payload '{}' on '{sub}' (expected {expected})",
                    shown(&word)
                )));
            }
            _ => {
                return Err(err(format!(
                    "unknown sub-topic '{}' (expected set/state, set/guard_closed or fault)",
                    shown(sub)
                )));
            }
        };
        Ok(Command {
            machine: machine.to_owned(),
            action,
        })
    }
}

/// One simulated machine. Sensor values are kept unrounded; JSON rounds them.
#[derive(Debug, Clone)]
pub struct Machine {
    pub id: String,
    pub kind: Kind,
    pub state: RunState,
    pub guard_closed: bool,
    pub fault: Option<FaultKind>,
    pub pressure: f64,
    pub temperature: f64,
    pub vibration: f64,
    pub speed: f64,
    /// Extra vibration accumulated by bearing wear.
    wear: f64,
    /// Extra temperature accumulated by bearing wear or overheat.
    heat: f64,
}

impl Machine {
    fn new(id: &str) -> Machine {
        Machine {
            id: id.to_owned(),
            kind: Kind::of(id),
            state: RunState::Stopped,
            guard_closed: true,
            fault: None,
            pressure: 0.0,
            temperature: AMBIENT,
            vibration: IDLE_VIBRATION,
            speed: 0.0,
            wear: 0.0,
            heat: 0.0,
        }
    }

    /// Recomputes pressure, speed and vibration (and, while running, temperature)
    /// from the state; `noise(a)` returns a value in ±a.
    fn settle(&mut self, noise: &mut dyn FnMut(f64) -> f64) {
        let [pressure, temperature, vibration, speed] = self.kind.profile();
        let mut around = |(nominal, amplitude): (f64, f64)| nominal + noise(amplitude);
        if self.state == RunState::Running {
            self.pressure = around(pressure).max(0.0);
            self.speed = around(speed).max(0.0);
            self.vibration = (around(vibration) + self.wear).min(12.0);
            let t = around(temperature) + self.heat;
            self.temperature = match self.fault {
                Some(FaultKind::BearingWear) => t.min(95.0),
                _ => t,
            };
        } else {
            self.pressure = 0.0;
            self.speed = 0.0;
            self.vibration = around((IDLE_VIBRATION, 0.02)).max(0.0);
        }
    }
}

/// The whole plant: machines in the order given.
#[derive(Debug, Clone)]
pub struct Plant {
    machines: Vec<Machine>,
}

impl Plant {
    pub fn new<S: AsRef<str>>(ids: &[S]) -> Plant {
        Plant {
            machines: ids.iter().map(|id| Machine::new(id.as_ref())).collect(),
        }
    }

    pub fn machines(&self) -> impl Iterator<Item = &Machine> {
        self.machines.iter()
    }

    pub fn machine(&self, id: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| m.id == id)
    }

    /// Parses and applies a command received on `<prefix>/<tail>`.
    pub fn handle(&mut self, tail: &str, payload: &[u8]) -> Vec<Event> {
        let machine = tail.split('/').next().unwrap_or_default();
        if self.machine(machine).is_none() {
            return vec![unknown_machine(machine)];
        }
        match Command::parse(tail, payload) {
            Ok(cmd) => self.apply(&cmd),
            Err(event) => vec![event],
        }
    }

    /// Applies a command; returns the events to publish.
    pub fn apply(&mut self, cmd: &Command) -> Vec<Event> {
        let id = cmd.machine.as_str();
        let Some(m) = self.machines.iter_mut().find(|m| m.id == id) else {
            return vec![unknown_machine(id)];
        };
        let (kind, msg): (EventKind, String) = match cmd.action {
            Action::Run(true) if m.state == RunState::Fault => {
                let fault = m.fault.map_or("fault", FaultKind::name);
                let msg = format!("start refused: machine is in fault ({fault}); clear it first");
                (EventKind::Refused, msg)
            }
            Action::Run(true) if !m.guard_closed => {
                (EventKind::Refused, "start refused: guard is open".into())
            }
            Action::Run(true) if m.state == RunState::Running => {
                (EventKind::Started, "already running".into())
            }
            Action::Run(true) => {
                m.state = RunState::Running;
                (EventKind::Started, "started".into())
            }
            Action::Run(false) => match m.state {
                RunState::Running => {
                    m.state = RunState::Stopped;
                    (EventKind::Stopped, "stopped".into())
                }
                RunState::Stopped => (EventKind::Stopped, "already stopped".into()),
                RunState::Fault => (
                    EventKind::Stopped,
                    "stopped; machine stays in fault until cleared".into(),
                ),
            },
            Action::Guard(closed) => {
                m.guard_closed = closed;
                if closed || m.state != RunState::Running {
                    return Vec::new();
                }
                m.state = RunState::Stopped;
                let msg = "guard opened while running: machine stopped".into();
                (EventKind::Interlock, msg)
            }
            Action::Inject(fault) => {
                m.fault = Some(fault);
                let msg = match fault {
                    FaultKind::Trip => {
                        m.state = RunState::Fault;
                        "trip: machine is in fault"
                    }
                    FaultKind::BearingWear => "bearing wear: vibration and temperature rising",
                    FaultKind::Overheat => "overheat: temperature rising, trips at 90 °C",
                };
                (EventKind::Fault, msg.into())
            }
            Action::Clear => {
                *m = Machine {
                    guard_closed: m.guard_closed,
                    ..Machine::new(id)
                };
                (EventKind::Cleared, "fault cleared; machine stopped".into())
            }
        };
        m.settle(&mut |_| 0.0);
        vec![Event::new(id, kind, msg)]
    }

    /// Advances the simulation by one period; returns events (overheat trips).
    pub fn tick(&mut self, rng: &mut impl Rng) -> Vec<Event> {
        let mut events = Vec::new();
        for m in &mut self.machines {
            if m.state == RunState::Running {
                match m.fault {
                    Some(FaultKind::BearingWear) => {
                        m.wear += 0.4;
                        m.heat += 0.8;
                    }
                    Some(FaultKind::Overheat) => m.heat += 2.0,
                    _ => {}
                }
            } else {
                m.temperature = AMBIENT + (m.temperature - AMBIENT) * (1.0 - COOLING);
            }
            m.settle(&mut |a| {
                if a > 0.0 {
                    rng.random_range(-a..=a)
                } else {
                    0.0
                }
            });
            let overheated = m.fault == Some(FaultKind::Overheat) && m.temperature >= OVERHEAT_TRIP;
            if m.state == RunState::Running && overheated {
                m.state = RunState::Fault;
                m.settle(&mut |_| 0.0);
                let msg = format!("overheat: tripped at {:.1} °C", m.temperature);
                events.push(Event::new(&m.id, EventKind::Fault, msg));
            }
        }
        events
    }

    /// The retained state message of a machine, floats rounded to 2 decimals.
    pub fn state_json(&self, id: &str) -> Option<String> {
        let m = self.machine(id)?;
        let r = |v: f64| (v * 100.0).round() / 100.0;
        let value = serde_json::json!({
            "state": m.state,
            "pressure": r(m.pressure),
            "temperature": r(m.temperature),
            "vibration": r(m.vibration),
            "speed": r(m.speed),
            "guard_closed": m.guard_closed,
            "fault": m.fault,
        });
        Some(value.to_string())
    }
}

fn unknown_machine(id: &str) -> Event {
    Event::new(id, EventKind::Error, format!("unknown machine '{id}'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn plant() -> Plant {
        Plant::new(&["pump-3", "press-1", "conveyor-1", "mixer-9"])
    }

    fn m<'a>(p: &'a Plant, id: &str) -> &'a Machine {
        p.machine(id).expect("machine exists")
    }

    fn kinds(events: &[Event]) -> Vec<EventKind> {
        events.iter().map(|e| e.event).collect()
    }

    fn state(p: &Plant, id: &str) -> serde_json::Value {
        let json = p.state_json(id).expect("known machine");
        serde_json::from_str(&json).expect("valid JSON")
    }

    #[test]
    fn initial_state_is_stopped_closed_and_ambient() {
        let p = plant();
        let s = state(&p, "pump-3");
        assert_eq!(s["state"], "stopped");
        assert_eq!(s["guard_closed"], true);
        assert_eq!(s["fault"], serde_json::Value::Null);
        assert_eq!(s["temperature"], 22.0);
        assert_eq!(s["pressure"], 0.0);
        assert_eq!(s["speed"], 0.0);
        assert_eq!(m(&p, "mixer-9").kind, Kind::Pump);
        assert_eq!(m(&p, "press-1").kind, Kind::Press);
        assert_eq!(m(&p, "conveyor-1").kind, Kind::Conveyor);
        assert!(p.state_json("pump-99").is_none());
    }

    #[test]
    fn start_accepts_synonyms_case_and_whitespace() {
        for word in ["running", "start", " START\n", "Running"] {
            let mut p = plant();
            assert_eq!(
                kinds(&p.handle("pump-3/set/state", word.as_bytes())),
                [EventKind::Started]
            );
            assert_eq!(m(&p, "pump-3").state, RunState::Running, "{word:?}");
        }
        let mut p = plant();
        p.handle("pump-3/set/state", b"start");
        assert_eq!(
            kinds(&p.handle("pump-3/set/state", b" Stop ")),
            [EventKind::Stopped]
        );
        assert_eq!(m(&p, "pump-3").state, RunState::Stopped);
    }

    #[test]
    fn running_values_are_plausible_per_type() {
        let mut p = plant();
        let mut rng = StdRng::seed_from_u64(7);
        for id in ["pump-3", "press-1", "conveyor-1"] {
            p.handle(&format!("{id}/set/state"), b"running");
        }
        for _ in 0..50 {
            p.tick(&mut rng);
            let pump = m(&p, "pump-3");
            assert!((pump.pressure - 4.2).abs() <= 0.1 + 1e-9);
            assert!((pump.temperature - 45.0).abs() <= 0.5 + 1e-9);
            assert!((pump.vibration - 2.0).abs() <= 0.2 + 1e-9);
            assert!((pump.speed - 1450.0).abs() <= 10.0 + 1e-9);
            let press = m(&p, "press-1");
            assert!((press.pressure - 180.0).abs() <= 5.0 && (press.speed - 30.0).abs() <= 2.0);
            let conveyor = m(&p, "conveyor-1");
            assert_eq!(conveyor.pressure, 0.0);
            assert!((conveyor.speed - 1.2).abs() <= 0.1);
            assert!((conveyor.temperature - 35.0).abs() <= 0.5 + 1e-9);
        }
    }

    #[test]
    fn start_sets_running_values_at_once_and_stop_cools_down() {
        let mut p = plant();
        let mut rng = StdRng::seed_from_u64(1);
        p.handle("pump-3/set/state", b"running");
        assert!(m(&p, "pump-3").pressure > 3.0);
        p.tick(&mut rng);
        p.handle("pump-3/set/state", b"stopped");
        let pump = m(&p, "pump-3");
        assert_eq!((pump.pressure, pump.speed), (0.0, 0.0));
        let hot = pump.temperature;
        for _ in 0..100 {
            p.tick(&mut rng);
        }
        let pump = m(&p, "pump-3");
        assert!(pump.temperature < hot && (pump.temperature - AMBIENT).abs() < 0.1);
        assert!(pump.vibration <= 0.07);
    }

    #[test]
    fn start_refused_with_open_guard() {
        let mut p = plant();
        assert!(p.handle("pump-3/set/guard_closed", b"false").is_empty());
        let events = p.handle("pump-3/set/state", b"running");
        assert_eq!(kinds(&events), [EventKind::Refused]);
        assert!(events[0].message.contains("guard"));
        assert_eq!(m(&p, "pump-3").state, RunState::Stopped);
        p.handle("pump-3/set/guard_closed", b" TRUE ");
        assert_eq!(
            kinds(&p.handle("pump-3/set/state", b"running")),
            [EventKind::Started]
        );
    }

    #[test]
    fn opening_guard_of_running_machine_is_an_interlock() {
        let mut p = plant();
        p.handle("pump-3/set/state", b"running");
        let events = p.handle("pump-3/set/guard_closed", b"false");
        assert_eq!(kinds(&events), [EventKind::Interlock]);
        assert_eq!(events[0].machine, "pump-3");
        let s = state(&p, "pump-3");
        assert_eq!(
            (s["state"].as_str(), s["guard_closed"].as_bool()),
            (Some("stopped"), Some(false))
        );
        assert_eq!(s["pressure"], 0.0);
    }

    #[test]
    fn trip_faults_at_once_and_blocks_start_until_cleared() {
        let mut p = plant();
        p.handle("pump-3/set/state", b"running");
        assert_eq!(
            kinds(&p.handle("pump-3/fault", b"trip")),
            [EventKind::Fault]
        );
        let s = state(&p, "pump-3");
        assert_eq!(
            (s["state"].as_str(), s["fault"].as_str()),
            (Some("fault"), Some("trip"))
        );
        assert_eq!(
            (s["speed"].as_f64(), s["pressure"].as_f64()),
            (Some(0.0), Some(0.0))
        );
        let refused = p.handle("pump-3/set/state", b"running");
        assert_eq!(kinds(&refused), [EventKind::Refused]);
        assert!(refused[0].message.contains("trip"));
        // Stopping always works, but a faulted machine stays in fault.
        assert_eq!(
            kinds(&p.handle("pump-3/set/state", b"stop")),
            [EventKind::Stopped]
        );
        assert_eq!(m(&p, "pump-3").state, RunState::Fault);
        assert_eq!(
            kinds(&p.handle("pump-3/fault", b"clear")),
            [EventKind::Cleared]
        );
        let s = state(&p, "pump-3");
        assert_eq!(
            (s["state"].as_str(), s["fault"].is_null()),
            (Some("stopped"), true)
        );
        assert_eq!(
            kinds(&p.handle("pump-3/set/state", b"start")),
            [EventKind::Started]
        );
    }

    #[test]
    fn bearing_wear_raises_vibration_and_temperature_while_running() {
        let mut p = plant();
        let mut rng = StdRng::seed_from_u64(3);
        p.handle("pump-3/set/state", b"running");
        p.tick(&mut rng);
        assert_eq!(
            kinds(&p.handle("pump-3/fault", b"bearing_wear")),
            [EventKind::Fault]
        );
        let mut last = m(&p, "pump-3").vibration;
        for _ in 0..6 {
            p.tick(&mut rng);
            let v = m(&p, "pump-3").vibration;
            assert!(v > last, "vibration rises each period: {v} > {last}");
            last = v;
        }
        assert!(last > 4.0);
        for _ in 0..200 {
            assert!(p.tick(&mut rng).is_empty());
        }
        let pump = m(&p, "pump-3");
        assert_eq!(
            pump.state,
            RunState::Running,
            "bearing wear keeps it running"
        );
        assert_eq!((pump.vibration, pump.temperature), (12.0, 95.0));
        assert_eq!(state(&p, "pump-3")["fault"], "bearing_wear");
        p.handle("pump-3/fault", b"clear");
        let pump = m(&p, "pump-3");
        assert_eq!(pump.state, RunState::Stopped);
        assert_eq!((pump.temperature, pump.vibration), (AMBIENT, 0.05));
        p.handle("pump-3/set/state", b"running");
        p.tick(&mut rng);
        assert!(m(&p, "pump-3").vibration < 2.5, "wear is gone after clear");
    }

    #[test]
    fn overheat_trips_at_90() {
        let mut p = plant();
        let mut rng = StdRng::seed_from_u64(5);
        p.handle("pump-3/set/state", b"running");
        p.handle("pump-3/fault", b"overheat");
        let mut trip = None;
        for period in 1..=40 {
            let events = p.tick(&mut rng);
            let pump = m(&p, "pump-3");
            if !events.is_empty() {
                assert_eq!(kinds(&events), [EventKind::Fault]);
                assert!(pump.temperature >= 90.0);
                trip = Some(period);
                break;
            }
            assert!(pump.temperature < 90.0);
            assert_eq!(pump.state, RunState::Running);
        }
        // 45 °C + 2 °C per period reaches 90 °C after about 22 periods.
        assert!(matches!(trip, Some(21..=24)), "tripped at {trip:?}");
        let s = state(&p, "pump-3");
        assert_eq!(
            (s["state"].as_str(), s["fault"].as_str()),
            (Some("fault"), Some("overheat"))
        );
        assert_eq!(s["speed"], 0.0);
        assert_eq!(
            kinds(&p.handle("pump-3/set/state", b"running")),
            [EventKind::Refused]
        );
        p.handle("pump-3/fault", b"clear");
        assert_eq!(
            kinds(&p.handle("pump-3/set/state", b"running")),
            [EventKind::Started]
        );
    }

    #[test]
    fn malformed_commands_become_error_events() {
        let mut p = plant();
        let cases: [(&str, &[u8], &str, &str); 7] = [
            ("pump-3/set/state", b"banana", "pump-3", "banana"),
            ("pump-3/set/state", b"\xff\xfe", "pump-3", "UTF-8"),
            (
                "pump-3/set/guard_closed",
                b"open",
                "pump-3",
                "true or false",
            ),
            ("pump-3/fault", b"meltdown", "pump-3", "meltdown"),
            ("pump-3/set/speed", b"10", "pump-3", "sub-topic"),
            ("pump-3", b"running", "pump-3", "sub-topic"),
            (
                "pump-99/set/state",
                b"running",
                "pump-99",
                "unknown machine",
            ),
        ];
        for (topic, payload, machine, needle) in cases {
            let events = p.handle(topic, payload);
            assert_eq!(kinds(&events), [EventKind::Error], "{topic}");
            assert_eq!(events[0].machine, machine);
            assert!(events[0].message.contains(needle), "{}", events[0].message);
        }
        assert_eq!(m(&p, "pump-3").state, RunState::Stopped);
        let json = serde_json::to_value(&p.handle("pump-3/set/state", b"?")[0]).expect("json");
        assert_eq!(json["event"], "error");
        assert_eq!(json["machine"], "pump-3");
    }

    #[test]
    fn noise_is_reproducible_from_the_seed() {
        let run = |seed| {
            let mut p = plant();
            let mut rng = StdRng::seed_from_u64(seed);
            p.handle("pump-3/set/state", b"running");
            p.tick(&mut rng);
            p.state_json("pump-3")
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
