//! The five D-Bus interfaces of the virtual car, all served at [`PATH`].
//!
//! Setters go through `org.freedesktop.DBus.Properties.Set`; zbus emits `PropertiesChanged`
//! for them once the setter returns `Ok`. Methods that change properties emit it themselves
//! through the generated `<property>_changed` helpers.

use crate::model::{self, SimError};
use tracing::{info, warn};
use zbus::object_server::SignalEmitter;

/// The one object path every interface is served at.
pub const PATH: &str = "/org/edgeagent/SimCar";

/// Logs a failed signal emission; a lost signal never fails the call that caused it.
fn log_emit(what: &str, result: zbus::Result<()>) {
    if let Err(e) = result {
        warn!("cannot emit {what}: {e}");
    }
}

/// Climate control: two temperature zones, fan level and A/C.
#[derive(Debug)]
pub struct Climate {
    driver_c: f64,
    passenger_c: f64,
    fan: i32,
    ac: bool,
}

impl Default for Climate {
    fn default() -> Self {
        Self {
            driver_c: 21.0,
            passenger_c: 21.0,
            fan: 3,
            ac: false,
        }
    }
}

#[zbus::interface(name = "org.edgeagent.SimCar.Climate")]
impl Climate {
    #[zbus(property)]
    fn driver_temperature(&self) -> f64 {
        self.driver_c
    }
    #[zbus(property)]
    fn set_driver_temperature(&mut self, value: f64) -> Result<(), SimError> {
        self.driver_c = model::in_range("DriverTemperature", value, model::TEMPERATURE_C)?;
        info!("Climate.DriverTemperature = {value}");
        Ok(())
    }
    #[zbus(property)]
    fn passenger_temperature(&self) -> f64 {
        self.passenger_c
    }
    #[zbus(property)]
    fn set_passenger_temperature(&mut self, value: f64) -> Result<(), SimError> {
        self.passenger_c = model::in_range("PassengerTemperature", value, model::TEMPERATURE_C)?;
        info!("Climate.PassengerTemperature = {value}");
        Ok(())
    }
    #[zbus(property)]
    fn fan_level(&self) -> i32 {
        self.fan
    }
    #[zbus(property)]
    fn set_fan_level(&mut self, value: i32) -> Result<(), SimError> {
        self.fan = model::in_range("FanLevel", value, model::FAN_LEVEL)?;
        info!("Climate.FanLevel = {value}");
        Ok(())
    }
    #[zbus(property)]
    fn ac_on(&self) -> bool {
        self.ac
    }
    #[zbus(property)]
    fn set_ac_on(&mut self, value: bool) {
        self.ac = value;
        info!("Climate.AcOn = {value}");
    }
}

/// Windows: how far each of the four is open, in percent.
#[derive(Debug, Default)]
pub struct Windows {
    /// Driver, passenger, rear left, rear right.
    open: [i32; 4],
}

impl Windows {
    fn set_window(&mut self, index: usize, name: &str, value: i32) -> Result<(), SimError> {
        self.open[index] = model::in_range(name, value, model::WINDOW_PERCENT)?;
        info!("Windows.{name} = {value}");
        Ok(())
    }
}

#[zbus::interface(name = "org.edgeagent.SimCar.Windows")]
impl Windows {
    #[zbus(property)]
    fn driver_position(&self) -> i32 {
        self.open[0]
    }
    #[zbus(property)]
    fn set_driver_position(&mut self, value: i32) -> Result<(), SimError> {
        self.set_window(0, "DriverPosition", value)
    }
    #[zbus(property)]
    fn passenger_position(&self) -> i32 {
        self.open[1]
    }
    #[zbus(property)]
    fn set_passenger_position(&mut self, value: i32) -> Result<(), SimError> {
        self.set_window(1, "PassengerPosition", value)
    }
    #[zbus(property)]
    fn rear_left_position(&self) -> i32 {
        self.open[2]
    }
    #[zbus(property)]
    fn set_rear_left_position(&mut self, value: i32) -> Result<(), SimError> {
        self.set_window(2, "RearLeftPosition", value)
    }
    #[zbus(property)]
    fn rear_right_position(&self) -> i32 {
        self.open[3]
    }
    #[zbus(property)]
    fn set_rear_right_position(&mut self, value: i32) -> Result<(), SimError> {
        self.set_window(3, "RearRightPosition", value)
    }
}

/// Navigation: one destination at a time, and a lookup of nearby points of interest.
#[derive(Debug, Default)]
pub struct Navigation {
    destination: String,
}

impl Navigation {
    async fn announce(&self, emitter: &SignalEmitter<'_>) {
        log_emit("Destination", self.destination_changed(emitter).await);
        log_emit("RouteActive", self.route_active_changed(emitter).await);
        let signal = Self::emit_destination_changed(emitter, &self.destination).await;
        log_emit("DestinationChanged", signal);
    }
}

#[zbus::interface(name = "org.edgeagent.SimCar.Navigation")]
impl Navigation {
    async fn set_destination(
        &mut self,
        destination: &str,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), SimError> {
        self.destination = model::non_empty_text("destination", destination)?;
        info!("Navigation: route to {:?}", self.destination);
        self.announce(&emitter).await;
        Ok(())
    }

    async fn cancel_route(&mut self, #[zbus(signal_emitter)] emitter: SignalEmitter<'_>) {
        self.destination.clear();
        info!("Navigation: route cancelled");
        self.announce(&emitter).await;
    }

    fn get_destination(&self) -> String {
        self.destination.clone()
    }

    #[zbus(out_args("name", "distance_km"))]
    fn find_nearby(&self, category: &str) -> Result<(String, f64), SimError> {
        let (name, km) = model::find_nearby(category)?;
        Ok((name.to_owned(), km))
    }

    #[zbus(property)]
    fn destination(&self) -> String {
        self.destination.clone()
    }

    #[zbus(property)]
    fn route_active(&self) -> bool {
        !self.destination.is_empty()
    }

    /// Sent after every `SetDestination` and `CancelRoute` (then with "").
    #[zbus(signal, name = "DestinationChanged")]
    async fn emit_destination_changed(
        emitter: &SignalEmitter<'_>,
        destination: &str,
    ) -> zbus::Result<()>;
}

/// Media player: a track named after the last query, play/pause, volume.
#[derive(Debug)]
pub struct Media {
    playing: bool,
    track: String,
    volume: i32,
}

impl Default for Media {
    fn default() -> Self {
        Self {
            playing: false,
            track: String::new(),
            volume: 5,
        }
    }
}

impl Media {
    async fn announce(&self, emitter: &SignalEmitter<'_>) {
        info!("Media: playing={} track={:?}", self.playing, self.track);
        log_emit("Track", self.track_changed(emitter).await);
        log_emit("Playing", self.playing_changed(emitter).await);
    }
}

#[zbus::interface(name = "org.edgeagent.SimCar.Media")]
impl Media {
    /// An empty query resumes the current track.
    async fn play(
        &mut self,
        query: &str,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), SimError> {
        if query.trim().is_empty() {
            if self.track.is_empty() {
                return Err(SimError::InvalidArgument(
                    "nothing to resume: Play needs a query first".into(),
                ));
            }
        } else {
            self.track = model::non_empty_text("query", query)?;
        }
        self.playing = true;
        self.announce(&emitter).await;
        Ok(())
    }

    async fn pause(&mut self, #[zbus(signal_emitter)] emitter: SignalEmitter<'_>) {
        self.playing = false;
        self.announce(&emitter).await;
    }

    async fn next(
        &mut self,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), SimError> {
        if self.track.is_empty() {
            return Err(SimError::InvalidArgument(
                "no track to skip: Play needs a query first".into(),
            ));
        }
        self.track = model::next_track(&self.track);
        self.playing = true;
        self.announce(&emitter).await;
        Ok(())
    }

    #[zbus(property)]
    fn playing(&self) -> bool {
        self.playing
    }
    #[zbus(property)]
    fn track(&self) -> String {
        self.track.clone()
    }
    #[zbus(property)]
    fn volume(&self) -> i32 {
        self.volume
    }
    #[zbus(property)]
    fn set_volume(&mut self, value: i32) -> Result<(), SimError> {
        self.volume = model::in_range("Volume", value, model::VOLUME)?;
        info!("Media.Volume = {value}");
        Ok(())
    }
}

/// Vehicle state; `Speed` is writable so tests can simulate driving.
#[derive(Debug, Default)]
pub struct Vehicle {
    speed_kmh: f64,
}

#[zbus::interface(name = "org.edgeagent.SimCar.Vehicle")]
impl Vehicle {
    #[zbus(property)]
    fn speed(&self) -> f64 {
        self.speed_kmh
    }
    #[zbus(property)]
    fn set_speed(&mut self, value: f64) -> Result<(), SimError> {
        self.speed_kmh = model::in_range("Speed", value, model::SPEED_KMH)?;
        info!("Vehicle.Speed = {value}");
        Ok(())
    }
}
