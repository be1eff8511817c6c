//! One task per device: it owns the connection, polls the device's readable signals and
//! serves reads and writes in order (a Modbus TCP connection answers one request at a time).

use crate::binding::{ModbusBinding, Raw};
use crate::section::{ModbusDevice, ModbusSection};
use edge_core::SignalValue;
use edge_hal::{BoundSignal, BoxFuture, HalError, Transport, UpdateSink};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_modbus::client::{Context, Reader as _, Writer as _};
use tokio_modbus::prelude::{Slave, SlaveContext as _};

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

enum Job {
    Read(BoundSignal, oneshot::Sender<Result<SignalValue, String>>),
    Write(
        BoundSignal,
        SignalValue,
        oneshot::Sender<Result<(), String>>,
    ),
}

/// The Modbus transport.
#[derive(Debug)]
pub struct ModbusTransport {
    devices: HashMap<String, mpsc::Sender<Job>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ModbusTransport {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn binding(signal: &BoundSignal) -> Result<&ModbusBinding, HalError> {
    signal
        .binding
        .spec()
        .ok_or_else(|| HalError::transport(&signal.def.path, "not a Modbus signal"))
}

impl ModbusTransport {
    /// Starts a task per device of `section` that `signals` use; connections are made in
    /// the background and retried.
    pub fn start(section: &ModbusSection, signals: Vec<BoundSignal>, sink: UpdateSink) -> Self {
        let mut by_device: BTreeMap<String, Vec<BoundSignal>> = BTreeMap::new();
        for signal in signals {
            if let Some(b) = signal.binding.spec::<ModbusBinding>() {
                by_device.entry(b.device.clone()).or_default().push(signal);
            }
        }
        let mut devices = HashMap::new();
        let mut tasks = Vec::new();
        for (name, signals) in by_device {
            let Some(device) = section.devices.get(&name) else {
                continue;
            };
            let (jobs, rx) = mpsc::channel(64);
            let link = Link::new(&name, device, Duration::from_millis(section.timeout_ms));
            tasks.push(tokio::spawn(serve(
                link,
                signals,
                sink.clone(),
                Duration::from_millis(section.poll_ms),
                rx,
            )));
            devices.insert(name, jobs);
        }
        Self { devices, tasks }
    }

    async fn send<T>(
        &self,
        signal: &BoundSignal,
        job: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Job,
    ) -> Result<T, HalError> {
        let path = &signal.def.path;
        let b = binding(signal)?;
        let jobs = self
            .devices
            .get(&b.device)
            .ok_or_else(|| HalError::transport(path, format!("no Modbus device {:?}", b.device)))?;
        let (reply, answer) = oneshot::channel();
        jobs.send(job(reply))
            .await
            .map_err(|_| HalError::transport(path, "the Modbus device task ended"))?;
        answer
            .await
            .map_err(|_| HalError::transport(path, "the Modbus device task ended"))?
            .map_err(|e| HalError::transport(path, e))
    }
}

impl Transport for ModbusTransport {
    fn read<'a>(&'a self, signal: &'a BoundSignal) -> BoxFuture<'a, Result<SignalValue, HalError>> {
        Box::pin(self.send(signal, |reply| Job::Read(signal.clone(), reply)))
    }

    fn write<'a>(
        &'a self,
        signal: &'a BoundSignal,
        value: &'a SignalValue,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<(), HalError>> {
        Box::pin(self.send(signal, |reply| {
            Job::Write(signal.clone(), value.clone(), reply)
        }))
    }
}

/// The connection to one device, made again with backoff after a failure.
struct Link {
    name: String,
    address: String,
    timeout: Duration,
    context: Option<Context>,
    backoff: Duration,
    next_attempt: Instant,
    /// Why the last attempt or request failed (for requests made while disconnected).
    last_error: String,
}

impl Link {
    fn new(name: &str, device: &ModbusDevice, timeout: Duration) -> Self {
        Self {
            name: name.to_owned(),
            address: device.address(),
            timeout,
            context: None,
            backoff: FIRST_BACKOFF,
            next_attempt: Instant::now(),
            last_error: "not connected yet".into(),
        }
    }

    /// `modbus press-1 (10.0.3.21:502) unit 1 holding register 0`: where a request went.
    fn place(&self, b: &ModbusBinding) -> String {
        format!(
            "modbus {} ({}) unit {} {} {}",
            self.name, self.address, b.unit, b.table, b.address
        )
    }

    async fn connected(&mut self) -> Result<&mut Context, String> {
        if self.context.is_none() {
            if Instant::now() < self.next_attempt {
                return Err(format!("not connected: {}", self.last_error));
            }
            match connect(self.address.clone(), self.timeout).await {
                Ok(context) => {
                    tracing::info!(device = %self.name, address = %self.address, "Modbus connected");
                    self.backoff = FIRST_BACKOFF;
                    self.context = Some(context);
                }
                Err(e) => {
                    if self.last_error != e {
                        tracing::warn!(device = %self.name, address = %self.address, "Modbus: {e}; retrying");
                    }
                    self.failed(e.clone());
                    return Err(e);
                }
            }
        }
        self.context
            .as_mut()
            .ok_or_else(|| "not connected".to_owned())
    }

    /// Drops the connection and waits longer before the next attempt.
    fn failed(&mut self, error: String) {
        self.context = None;
        self.last_error = error;
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// One request. An exception answer keeps the connection; a broken or silent one is
    /// dropped (its stream may be out of step).
    async fn request(&mut self, b: &ModbusBinding, write: Option<&Raw>) -> Result<Raw, String> {
        let place = self.place(b);
        let timeout = self.timeout;
        let context = self
            .connected()
            .await
            .map_err(|e| format!("{place}: {e}"))?;
        context.set_slave(Slave(b.unit));
        let (address, count) = (b.address, b.count());
        let exchange = async {
            use crate::binding::Table;
            Ok(match (write, b.table) {
                (Some(Raw::Bit(bit)), _) => context
                    .write_single_coil(address, *bit)
                    .await?
                    .map(|()| Raw::Bit(*bit)),
                (Some(Raw::Words(words)), _) if words.len() == 1 => context
                    .write_single_register(address, words[0])
                    .await?
                    .map(|()| Raw::Words(words.clone())),
                (Some(Raw::Words(words)), _) => context
                    .write_multiple_registers(address, words)
                    .await?
                    .map(|()| Raw::Words(words.clone())),
                (None, Table::Coil) => context
                    .read_coils(address, 1)
                    .await?
                    .map(|bits| Raw::Bit(bits.first().copied().unwrap_or_default())),
                (None, Table::Discrete) => context
                    .read_discrete_inputs(address, 1)
                    .await?
                    .map(|bits| Raw::Bit(bits.first().copied().unwrap_or_default())),
                (None, Table::Holding) => context
                    .read_holding_registers(address, count)
                    .await?
                    .map(Raw::Words),
                (None, Table::Input) => context
                    .read_input_registers(address, count)
                    .await?
                    .map(Raw::Words),
            })
        };
        let outcome: Result<Result<_, tokio_modbus::Error>, _> =
            tokio::time::timeout(timeout, exchange).await;
        match outcome {
            Ok(Ok(Ok(raw))) => Ok(raw),
            Ok(Ok(Err(exception))) => Err(format!("{place}: the device answered: {exception}")),
            Ok(Err(e)) => {
                let e = format!("{place}: {e}");
                self.failed(e.clone());
                Err(e)
            }
            Err(_) => {
                let e = format!("{place}: no answer within {timeout:?}");
                self.failed(e.clone());
                Err(e)
            }
        }
    }

    async fn read(&mut self, signal: &BoundSignal) -> Result<SignalValue, String> {
        let b = signal
            .binding
            .spec::<ModbusBinding>()
            .ok_or("not a Modbus signal")?;
        let raw = self.request(b, None).await?;
        b.decode(&signal.def, &raw)
            .map_err(|e| format!("{}: {e}", self.place(b)))
    }

    /// Writes, then reads the address back: done only when the device holds the value.
    async fn write(&mut self, signal: &BoundSignal, value: &SignalValue) -> Result<(), String> {
        let b = signal
            .binding
            .spec::<ModbusBinding>()
            .ok_or("not a Modbus signal")?;
        let raw = b
            .encode(&signal.def, value)
            .map_err(|e| format!("{}: {e}", self.place(b)))?;
        self.request(b, Some(&raw)).await?;
        let back = self.request(b, None).await?;
        if back == raw {
            return Ok(());
        }
        let held = b
            .decode(&signal.def, &back)
            .map_or_else(|e| e, |v| v.to_string());
        Err(format!(
            "{}: wrote {value} but the device holds {held} (it did not take the value)",
            self.place(b)
        ))
    }
}

/// A connection to `address` (`host:port`), within `timeout`.
async fn connect(address: String, timeout: Duration) -> Result<Context, String> {
    let attempt = async {
        let address = tokio::net::lookup_host(&address)
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other("the host name has no address"))?;
        tokio_modbus::client::tcp::connect(address).await
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(context)) => Ok(context),
        Ok(Err(e)) => Err(format!("cannot connect: {e}")),
        Err(_) => Err(format!("cannot connect within {timeout:?}")),
    }
}

/// The device's task: jobs in order, and a poll of every readable signal each period.
async fn serve(
    mut link: Link,
    signals: Vec<BoundSignal>,
    sink: UpdateSink,
    period: Duration,
    mut jobs: mpsc::Receiver<Job>,
) {
    let readable: Vec<BoundSignal> = signals
        .into_iter()
        .filter(|s| s.def.access.readable())
        .collect();
    // Last value reported per signal: only changes become updates.
    let mut last: HashMap<String, SignalValue> = HashMap::new();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                None => break,
                Some(Job::Read(signal, reply)) => {
                    let value = link.read(&signal).await;
                    if let Ok(v) = &value {
                        last.insert(signal.def.path.clone(), v.clone());
                    }
                    let _ = reply.send(value);
                }
                Some(Job::Write(signal, value, reply)) => {
                    let written = link.write(&signal, &value).await;
                    if written.is_ok() && signal.def.access.readable() {
                        // The HAL reports a confirmed write itself.
                        last.insert(signal.def.path.clone(), value);
                    }
                    let _ = reply.send(written);
                }
            },
            _ = ticker.tick() => {
                for signal in &readable {
                    if link.context.is_none() && Instant::now() < link.next_attempt {
                        break;
                    }
                    match link.read(signal).await {
                        Ok(value) => {
                            let changed = last
                                .get(&signal.def.path)
                                .is_none_or(|old| !old.same_as(&value));
                            if changed {
                                last.insert(signal.def.path.clone(), value.clone());
                                sink.report(&signal.def.path, value);
                            }
                        }
                        Err(e) => tracing::debug!("{}: {e}", signal.def.path),
                    }
                }
            }
        }
    }
}
