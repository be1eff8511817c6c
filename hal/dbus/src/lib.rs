//! D-Bus transport of the HAL: reads and writes properties (Get/Set) or calls methods, and
//! turns PropertiesChanged and named change signals into HAL updates.
//!
//! Errors from the peer keep their D-Bus error name in the message
//! (`org.freedesktop.DBus.Error.ServiceUnknown: ...`).

use edge_core::{DataType, SignalDef, SignalValue};
use edge_hal::{
    Binding, BindingError, BoundSignal, BoxFuture, HalError, StartError, Transport,
    TransportPlugin, UpdateSink,
};
use futures_util::StreamExt as _;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use zbus::wire::{OwnedVariant, Structure, Variant};

const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// The transport's name: the key of its bindings in profiles.
pub const NAME: &str = "dbus";

/// A D-Bus binding (`dbus = { ... }` in a profile): a property, or methods, of one object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbusBinding {
    /// Bus name of the peer.
    pub destination: String,
    /// Object path.
    pub path: String,
    /// Interface.
    pub interface: String,
    /// Property read with Get, written with Set, changes from PropertiesChanged.
    #[serde(default)]
    pub property: Option<String>,
    /// Method returning the value (instead of a property).
    #[serde(default)]
    pub get_method: Option<String>,
    /// Method that writes; see `set_args`.
    #[serde(default)]
    pub set_method: Option<String>,
    /// Arguments of `set_method`: `"$value"` is the value, anything else a literal string.
    #[serde(default = "value_arg")]
    pub set_args: Vec<String>,
    /// Signal of the interface whose first argument is the new value.
    #[serde(default)]
    pub change_signal: Option<String>,
    /// D-Bus type of integer values: `i` (int32, default), `x` (int64), `u`, `y`.
    #[serde(default = "int32")]
    pub int_type: String,
}

fn value_arg() -> Vec<String> {
    vec!["$value".into()]
}

fn int32() -> String {
    "i".into()
}

impl DbusBinding {
    /// Checks the binding against the signal it binds.
    fn check(&self, signal: &SignalDef) -> Result<(), BindingError> {
        let by_property = self.property.is_some();
        let by_methods = self.get_method.is_some() || self.set_method.is_some();
        if by_property == by_methods {
            return Err(BindingError::invalid(
                "",
                "give either property or get_method/set_method",
            ));
        }
        if signal.access.readable() && !by_property && self.get_method.is_none() {
            return Err(BindingError::invalid(
                "",
                "a readable signal needs property or get_method",
            ));
        }
        if signal.access.writable() && !by_property && self.set_method.is_none() {
            return Err(BindingError::invalid(
                "",
                "a writable signal needs property or set_method",
            ));
        }
        if !matches!(self.int_type.as_str(), "i" | "x" | "u" | "y") {
            return Err(BindingError::invalid(
                "int_type",
                format!("{:?}: use i, x, u or y", self.int_type),
            ));
        }
        Ok(())
    }
}

/// Which bus the transport connects to.
#[derive(Debug, Clone)]
pub enum DbusBus {
    /// The system bus.
    System,
    /// The session bus.
    Session,
    /// A bus at this address (`unix:path=/run/x`).
    Address(String),
    /// A connection made by the caller.
    Connected(zbus::Connection),
}

/// The D-Bus transport as a registry plug-in.
#[derive(Debug, Clone)]
pub struct DbusPlugin {
    bus: DbusBus,
}

impl DbusPlugin {
    /// A plug-in that connects to `bus` when it starts.
    pub fn new(bus: DbusBus) -> Self {
        Self { bus }
    }
}

impl TransportPlugin for DbusPlugin {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse_binding(
        &self,
        signal: &SignalDef,
        entry: toml::Value,
    ) -> Result<Binding, BindingError> {
        let binding: DbusBinding = BindingError::parse(entry)?;
        binding.check(signal)?;
        Ok(Binding::new(NAME, binding))
    }

    fn start<'a>(
        &'a self,
        signals: Vec<BoundSignal>,
        sink: UpdateSink,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, StartError>> {
        Box::pin(async move {
            let failed = |e: zbus::Error| StartError {
                transport: NAME,
                source: Box::new(e),
            };
            let connection = match &self.bus {
                DbusBus::System => zbus::Connection::system().await.map_err(failed)?,
                DbusBus::Session => zbus::Connection::session().await.map_err(failed)?,
                DbusBus::Address(address) => zbus::connection::Builder::address(address.as_str())
                    .build()
                    .await
                    .map_err(failed)?,
                DbusBus::Connected(connection) => connection.clone(),
            };
            let transport = DbusTransport::new(connection, &signals, sink)
                .await
                .map_err(failed)?;
            Ok(Arc::new(transport) as Arc<dyn Transport>)
        })
    }
}

/// Calls `method` with arguments known only at run time (no arguments: an empty body).
async fn call_dynamic(
    proxy: &zbus::Proxy<'_>,
    method: &str,
    args: Vec<Variant<'static>>,
) -> zbus::Result<zbus::Message> {
    if args.is_empty() {
        return proxy.call_method(method, &()).await;
    }
    let body = args
        .into_iter()
        .fold(Structure::builder(), |b, v| b.append_field(v))
        .build()?;
    proxy.call_method(method, &body).await
}

/// A JSON scalar as a D-Bus value: string, boolean, int32 (whole numbers) or double.
fn json_to_variant(v: &serde_json::Value) -> Result<Variant<'static>, String> {
    Ok(match v {
        serde_json::Value::Bool(b) => Variant::Bool(*b),
        serde_json::Value::String(s) => Variant::from(s.clone()),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => {
                Variant::I32(i32::try_from(i).map_err(|_| format!("{i} does not fit int32"))?)
            }
            (None, Some(f)) => Variant::F64(f),
            _ => return Err(format!("bad number {n}")),
        },
        other => return Err(format!("{other} is not a string, number or boolean")),
    })
}

fn variant_to_json(v: &Variant<'_>) -> serde_json::Value {
    match v {
        Variant::Bool(b) => (*b).into(),
        Variant::U8(x) => (*x).into(),
        Variant::I16(x) => (*x).into(),
        Variant::U16(x) => (*x).into(),
        Variant::I32(x) => (*x).into(),
        Variant::U32(x) => (*x).into(),
        Variant::I64(x) => (*x).into(),
        Variant::U64(x) => (*x).into(),
        Variant::F64(x) => (*x).into(),
        Variant::Str(s) => s.to_string().into(),
        Variant::Variant(inner) => variant_to_json(inner),
        other => other.to_string().into(),
    }
}

/// Why a raw call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RawCallError {
    /// An argument is not a JSON string, number or boolean (or does not fit).
    #[error("invalid argument: {0}")]
    Argument(String),
    /// The bus or the peer failed; the message carries the D-Bus error name.
    #[error("{0}")]
    Bus(String),
}

/// A raw method call for vendor services: JSON scalar arguments in, the reply's values
/// out as JSON.
pub async fn call_json(
    connection: &zbus::Connection,
    destination: &str,
    path: &str,
    interface: &str,
    method: &str,
    args: &[serde_json::Value],
) -> Result<Vec<serde_json::Value>, RawCallError> {
    let args = args
        .iter()
        .map(json_to_variant)
        .collect::<Result<Vec<_>, _>>()
        .map_err(RawCallError::Argument)?;
    let bus = |e: zbus::Error| RawCallError::Bus(e.to_string());
    let proxy = zbus::Proxy::new(
        connection,
        destination.to_owned(),
        path.to_owned(),
        interface.to_owned(),
    )
    .await
    .map_err(bus)?;
    let reply = call_dynamic(&proxy, method, args).await.map_err(bus)?;
    let body = reply.body();
    if body.signature().to_string().is_empty() {
        return Ok(Vec::new());
    }
    let fields: Structure<'_> = body.deserialize().map_err(bus)?;
    Ok(fields.fields().iter().map(variant_to_json).collect())
}

/// The D-Bus transport.
#[derive(Debug)]
pub struct DbusTransport {
    connection: zbus::Connection,
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DbusTransport {
    fn drop(&mut self) {
        for w in &self.watchers {
            w.abort();
        }
    }
}

fn binding(signal: &BoundSignal) -> Result<&DbusBinding, HalError> {
    signal
        .binding
        .spec()
        .ok_or_else(|| HalError::transport(&signal.def.path, "not a D-Bus signal"))
}

/// A D-Bus value as a signal value of `datatype`, or `None` if it does not fit.
fn from_variant(v: &Variant<'_>, datatype: DataType) -> Option<SignalValue> {
    let value = match v {
        Variant::Bool(b) => SignalValue::Bool(*b),
        Variant::U8(x) => SignalValue::Int(i64::from(*x)),
        Variant::I16(x) => SignalValue::Int(i64::from(*x)),
        Variant::U16(x) => SignalValue::Int(i64::from(*x)),
        Variant::I32(x) => SignalValue::Int(i64::from(*x)),
        Variant::U32(x) => SignalValue::Int(i64::from(*x)),
        Variant::I64(x) => SignalValue::Int(*x),
        Variant::U64(x) => SignalValue::Int(i64::try_from(*x).ok()?),
        Variant::F64(x) => SignalValue::Float(*x),
        Variant::Str(s) => SignalValue::String(s.to_string()),
        Variant::Variant(inner) => return from_variant(inner, datatype),
        _ => return None,
    };
    Some(match (datatype, value) {
        (DataType::Float, SignalValue::Int(i)) => SignalValue::Float(i as f64),
        (_, v) => v,
    })
}

/// A signal value as the D-Bus type the binding declares.
fn to_variant(value: &SignalValue, int_type: &str) -> Result<Variant<'static>, String> {
    Ok(match value {
        SignalValue::Bool(b) => Variant::Bool(*b),
        SignalValue::Float(f) => Variant::F64(*f),
        SignalValue::String(s) => Variant::from(s.clone()),
        SignalValue::Int(i) => {
            let range = |e: std::num::TryFromIntError| {
                format!("{i} does not fit D-Bus type {int_type}: {e}")
            };
            match int_type {
                "x" => Variant::I64(*i),
                "u" => Variant::U32(u32::try_from(*i).map_err(range)?),
                "y" => Variant::U8(u8::try_from(*i).map_err(range)?),
                _ => Variant::I32(i32::try_from(*i).map_err(range)?),
            }
        }
    })
}

impl DbusTransport {
    /// Uses `connection` for `signals` and starts watching their change notifications
    /// (PropertiesChanged, named signals) into `sink`.
    pub async fn new(
        connection: zbus::Connection,
        signals: &[BoundSignal],
        sink: UpdateSink,
    ) -> Result<Self, zbus::Error> {
        // (destination, object path) -> property name and interface -> signal.
        let mut by_object: BTreeMap<(String, String), Vec<BoundSignal>> = BTreeMap::new();
        let mut watchers = Vec::new();
        for signal in signals {
            let Some(d) = signal.binding.spec::<DbusBinding>() else {
                continue;
            };
            if let Some(name) = &d.change_signal {
                let proxy = zbus::Proxy::new(
                    &connection,
                    d.destination.clone(),
                    d.path.clone(),
                    d.interface.clone(),
                )
                .await?;
                let mut stream = proxy.receive_signal(name.clone()).await?;
                let (sink, signal) = (sink.clone(), signal.clone());
                watchers.push(tokio::spawn(async move {
                    while let Some(message) = stream.next().await {
                        match read_body(&message, &signal) {
                            Ok(value) => sink.report(&signal.def.path, value),
                            Err(e) => tracing::warn!("{}: change signal: {e}", signal.def.path),
                        }
                    }
                }));
            }
            if d.property.is_some() {
                by_object
                    .entry((d.destination.clone(), d.path.clone()))
                    .or_default()
                    .push(signal.clone());
            }
        }
        for ((destination, path), signals) in by_object {
            let proxy = zbus::Proxy::new(&connection, destination, path, PROPERTIES).await?;
            let mut stream = proxy.receive_signal("PropertiesChanged").await?;
            let sink = sink.clone();
            watchers.push(tokio::spawn(async move {
                while let Some(message) = stream.next().await {
                    let Ok((interface, changed, _)) =
                        message
                            .body()
                            .deserialize::<(String, HashMap<String, OwnedVariant>, Vec<String>)>()
                    else {
                        continue;
                    };
                    for signal in &signals {
                        let Some(d) = signal.binding.spec::<DbusBinding>() else {
                            continue;
                        };
                        if d.interface != interface {
                            continue;
                        }
                        if let Some(v) = d.property.as_ref().and_then(|p| changed.get(p))
                            && let Some(value) = from_variant(v, signal.def.datatype)
                        {
                            sink.report(&signal.def.path, value);
                        }
                    }
                }
            }));
        }
        Ok(Self {
            connection,
            watchers,
        })
    }

    /// A raw method call on this transport's bus (see [`call_json`]).
    pub async fn call_json(
        &self,
        destination: &str,
        path: &str,
        interface: &str,
        method: &str,
        args: &[serde_json::Value],
    ) -> Result<Vec<serde_json::Value>, RawCallError> {
        call_json(&self.connection, destination, path, interface, method, args).await
    }

    async fn proxy(
        &self,
        d: &DbusBinding,
        interface: &str,
    ) -> Result<zbus::Proxy<'static>, zbus::Error> {
        zbus::proxy::Builder::new(&self.connection)
            .destination(d.destination.clone())
            .path(d.path.clone())
            .interface(interface.to_owned())
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
    }
}

/// The first (only) argument of a message body as the signal's type.
fn read_body(message: &zbus::Message, signal: &BoundSignal) -> Result<SignalValue, String> {
    let body = message.body();
    let value = match signal.def.datatype {
        DataType::Bool => SignalValue::Bool(body.deserialize::<bool>().map_err(|e| e.to_string())?),
        DataType::Float => {
            SignalValue::Float(body.deserialize::<f64>().map_err(|e| e.to_string())?)
        }
        DataType::String | DataType::Enum => {
            SignalValue::String(body.deserialize::<String>().map_err(|e| e.to_string())?)
        }
        DataType::Int => {
            let int_type = signal
                .binding
                .spec::<DbusBinding>()
                .map_or("i", |d| d.int_type.as_str());
            SignalValue::Int(
                match int_type {
                    "x" => body.deserialize::<i64>(),
                    "u" => body.deserialize::<u32>().map(i64::from),
                    "y" => body.deserialize::<u8>().map(i64::from),
                    _ => body.deserialize::<i32>().map(i64::from),
                }
                .map_err(|e| e.to_string())?,
            )
        }
    };
    Ok(value)
}

impl Transport for DbusTransport {
    fn read<'a>(&'a self, signal: &'a BoundSignal) -> BoxFuture<'a, Result<SignalValue, HalError>> {
        Box::pin(async move {
            let path = &signal.def.path;
            let d = binding(signal)?;
            if let Some(property) = &d.property {
                let proxy = self
                    .proxy(d, PROPERTIES)
                    .await
                    .map_err(|e| HalError::transport(path, e))?;
                let value: OwnedVariant = proxy
                    .call("Get", &(d.interface.as_str(), property.as_str()))
                    .await
                    .map_err(|e| HalError::transport(path, e))?;
                return from_variant(&value, signal.def.datatype).ok_or_else(|| {
                    HalError::transport(path, format!("unexpected D-Bus type of {property}"))
                });
            }
            let method = d
                .get_method
                .as_deref()
                .ok_or_else(|| HalError::NotReadable { path: path.clone() })?;
            let proxy = self
                .proxy(d, &d.interface)
                .await
                .map_err(|e| HalError::transport(path, e))?;
            let reply = proxy
                .call_method(method, &())
                .await
                .map_err(|e| HalError::transport(path, e))?;
            read_body(&reply, signal).map_err(|e| HalError::transport(path, e))
        })
    }

    fn write<'a>(
        &'a self,
        signal: &'a BoundSignal,
        value: &'a SignalValue,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<(), HalError>> {
        Box::pin(async move {
            let path = &signal.def.path;
            let d = binding(signal)?;
            let variant =
                to_variant(value, &d.int_type).map_err(|e| HalError::transport(path, e))?;
            if let Some(property) = &d.property {
                let proxy = self
                    .proxy(d, &d.interface)
                    .await
                    .map_err(|e| HalError::transport(path, e))?;
                let result = match variant {
                    Variant::Bool(b) => proxy.set_property(property, b).await,
                    Variant::F64(f) => proxy.set_property(property, f).await,
                    Variant::I32(i) => proxy.set_property(property, i).await,
                    Variant::I64(i) => proxy.set_property(property, i).await,
                    Variant::U32(i) => proxy.set_property(property, i).await,
                    Variant::U8(i) => proxy.set_property(property, i).await,
                    other => proxy.set_property(property, other.to_string()).await,
                };
                // Done when Set returned: the peer accepted the value.
                return result.map_err(|e| HalError::transport(path, e));
            }
            let method = d
                .set_method
                .as_deref()
                .ok_or_else(|| HalError::NotWritable { path: path.clone() })?;
            let proxy = self
                .proxy(d, &d.interface)
                .await
                .map_err(|e| HalError::transport(path, e))?;
            let args = d
                .set_args
                .iter()
                .map(|arg| {
                    if arg == "$value" {
                        variant
                            .try_clone()
                            .map_err(|e| HalError::transport(path, e))
                    } else {
                        Ok(Variant::from(arg.clone()))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            let reply = call_dynamic(&proxy, method, args).await;
            // Done when the method returned.
            reply.map(|_| ()).map_err(|e| HalError::transport(path, e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_hal::{Catalogue, TransportRegistry};

    const SPEED: &str = r#"
[[signal]]
path = "Vehicle.Speed"
datatype = "float"
unit = "km/h"
min = 0
max = 250
access = "read-write"
dbus = { destination = "org.x", path = "/x", interface = "org.x.V", property = "Speed" }
"#;

    fn load(text: &str) -> Result<Catalogue, edge_hal::CatalogueError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).expect("write");
        let registry = TransportRegistry::new().register(DbusPlugin::new(DbusBus::Session));
        Catalogue::load(&[path], &registry)
    }

    #[test]
    fn bindings_are_checked_against_their_signal() {
        let c = load(SPEED).expect("valid");
        let d = c.signals["Vehicle.Speed"]
            .binding
            .spec::<DbusBinding>()
            .expect("a D-Bus binding");
        assert_eq!(
            (d.property.as_deref(), d.int_type.as_str()),
            (Some("Speed"), "i")
        );
        let err = load(&SPEED.replace(
            "property = \"Speed\"",
            "property = \"Speed\", get_method = \"G\"",
        ))
        .expect_err("bad");
        assert!(
            err.to_string()
                .contains("p.toml:2: signal[0] (Vehicle.Speed).dbus: give either"),
            "{err}"
        );
        let err =
            load(&SPEED.replace("property = \"Speed\"", "set_method = \"S\"")).expect_err("bad");
        assert!(
            err.to_string()
                .contains("a readable signal needs property or get_method"),
            "{err}"
        );
        let err = load(&SPEED.replace(" }", ", int_type = \"q\" }")).expect_err("bad");
        assert!(
            err.to_string()
                .contains("(Vehicle.Speed).dbus.int_type: \"q\": use i, x, u or y"),
            "{err}"
        );
        let err = load(&SPEED.replace("path = \"/x\"", "objpath = \"/x\"")).expect_err("bad");
        assert!(
            err.to_string()
                .contains("(Vehicle.Speed).dbus: unknown field `objpath`"),
            "{err}"
        );
    }
}
