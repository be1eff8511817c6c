//! The plant as a Modbus TCP server (a gateway): machine N of `--machines` (from 1) is
//! unit N, each with the same map.
//!
//! | table | address | value |
//! |---|---|---|
//! | holding register | 0 | run state: 0 stopped, 1 running, 2 fault; write 1 to start, 0 to stop |
//! | coil | 0 | guard closed |
//! | input registers | 0-1 | pressure, bar, f32, high word first |
//! | input register | 2 | temperature, 0.1 °C, i16 |
//! | input register | 3 | vibration, 0.01 mm/s, u16 |
//! | input registers | 4-5 | speed, 0.1 per minute, u32, low word first |
//!
//! Other addresses answer IllegalDataAddress, other units GatewayTargetDevice.

use crate::plant::{Action, Command, Event, Machine, Plant, RunState};
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

/// What a Modbus write changed: the machine and the events to publish.
pub type Changed = (String, Vec<Event>);

/// Serves the shared plant; writes are sent to `changed` for the MQTT side.
#[derive(Debug)]
pub struct PlantService {
    pub plant: Arc<Mutex<Plant>>,
    pub changed: mpsc::UnboundedSender<Changed>,
}

fn input_registers(m: &Machine) -> [u16; 6] {
    let pressure = (m.pressure as f32).to_bits();
    let speed = (m.speed * 10.0).round().max(0.0) as u32;
    [
        (pressure >> 16) as u16,
        pressure as u16,
        (m.temperature * 10.0).round() as i16 as u16,
        (m.vibration * 100.0).round().max(0.0) as u16,
        speed as u16,
        (speed >> 16) as u16,
    ]
}

fn run_state(m: &Machine) -> u16 {
    match m.state {
        RunState::Stopped => 0,
        RunState::Running => 1,
        RunState::Fault => 2,
    }
}

/// `count` values from `address` of `table`, or IllegalDataAddress.
fn slice<T: Copy>(table: &[T], address: u16, count: u16) -> Result<Vec<T>, ExceptionCode> {
    let (start, end) = (
        usize::from(address),
        usize::from(address) + usize::from(count),
    );
    table
        .get(start..end)
        .filter(|_| count > 0)
        .map(<[T]>::to_vec)
        .ok_or(ExceptionCode::IllegalDataAddress)
}

impl PlantService {
    fn answer(&self, req: SlaveRequest<'_>) -> Result<Response, ExceptionCode> {
        let mut plant = self.plant.lock().unwrap_or_else(|p| p.into_inner());
        let id = plant
            .machines()
            .nth(usize::from(req.slave).wrapping_sub(1))
            .map(|m| m.id.clone())
            .ok_or(ExceptionCode::GatewayTargetDevice)?;
        let m = plant
            .machine(&id)
            .ok_or(ExceptionCode::GatewayTargetDevice)?;
        let action = match req.request {
            Request::ReadHoldingRegisters(a, n) => {
                return slice(&[run_state(m)], a, n).map(Response::ReadHoldingRegisters);
            }
            Request::ReadCoils(a, n) => {
                return slice(&[m.guard_closed], a, n).map(Response::ReadCoils);
            }
            Request::ReadInputRegisters(a, n) => {
                return slice(&input_registers(m), a, n).map(Response::ReadInputRegisters);
            }
            Request::WriteSingleRegister(0, 1) => Action::Run(true),
            Request::WriteSingleRegister(0, 0) => Action::Run(false),
            Request::WriteSingleRegister(0, _) => return Err(ExceptionCode::IllegalDataValue),
            Request::WriteSingleCoil(0, closed) => Action::Guard(closed),
            Request::WriteSingleRegister(..) | Request::WriteSingleCoil(..) => {
                return Err(ExceptionCode::IllegalDataAddress);
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        let events = plant.apply(&Command {
            machine: id.clone(),
            action,
        });
        let _ = self.changed.send((id, events));
        Ok(match action {
            Action::Guard(closed) => Response::WriteSingleCoil(0, closed),
            Action::Run(run) => Response::WriteSingleRegister(0, u16::from(run)),
            Action::Inject(_) | Action::Clear => unreachable!("not written over Modbus"),
        })
    }
}

impl tokio_modbus::server::Service for PlantService {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        ready(self.answer(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> (PlantService, mpsc::UnboundedReceiver<Changed>) {
        let (changed, rx) = mpsc::unbounded_channel();
        let plant = Plant::new(&["pump-1", "press-1"]);
        (
            PlantService {
                plant: Arc::new(Mutex::new(plant)),
                changed,
            },
            rx,
        )
    }

    fn ask(
        s: &PlantService,
        slave: u8,
        request: Request<'static>,
    ) -> Result<Response, ExceptionCode> {
        s.answer(SlaveRequest { slave, request })
    }

    #[test]
    fn units_are_machines_and_writes_drive_them() {
        let (s, mut changed) = service();
        assert_eq!(
            ask(&s, 2, Request::ReadHoldingRegisters(0, 1)),
            Ok(Response::ReadHoldingRegisters(vec![0]))
        );
        assert_eq!(
            ask(&s, 2, Request::WriteSingleRegister(0, 1)),
            Ok(Response::WriteSingleRegister(0, 1))
        );
        assert_eq!(changed.try_recv().map(|c| c.0), Ok("press-1".to_owned()));
        assert_eq!(
            ask(&s, 2, Request::ReadHoldingRegisters(0, 1)),
            Ok(Response::ReadHoldingRegisters(vec![1]))
        );
        // Pump 1 (unit 1) did not move; a running press has its pressure in f32.
        assert_eq!(
            ask(&s, 1, Request::ReadHoldingRegisters(0, 1)),
            Ok(Response::ReadHoldingRegisters(vec![0]))
        );
        let Ok(Response::ReadInputRegisters(words)) = ask(&s, 2, Request::ReadInputRegisters(0, 2))
        else {
            panic!("input registers")
        };
        let pressure = f32::from_bits((u32::from(words[0]) << 16) | u32::from(words[1]));
        assert!(pressure > 100.0, "{pressure}");
        assert_eq!(
            ask(&s, 2, Request::WriteSingleRegister(0, 7)),
            Err(ExceptionCode::IllegalDataValue)
        );
        assert_eq!(
            ask(&s, 2, Request::ReadInputRegisters(5, 2)),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            ask(&s, 3, Request::ReadCoils(0, 1)),
            Err(ExceptionCode::GatewayTargetDevice)
        );
    }
}
