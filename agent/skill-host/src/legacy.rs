//! World `edge:skill@0.1.0`, still served: its imports delegate to the latest world's
//! (same grant checks, same services), and its intent and response are converted at the
//! edge. A 0.1.0 skill's `follow-up` string becomes a free-text question.

use crate::store::{self, StoreState, latest};
use latest::edge::skill as now;

wasmtime::component::bindgen!({
    path: "../../skills/wit/0.1.0",
    world: "skill",
    imports: { default: async },
    exports: { default: async },
});

use edge::skill as old;

fn value_from(v: old::types::SignalValue) -> now::types::SignalValue {
    use now::types::SignalValue as N;
    use old::types::SignalValue as O;
    match v {
        O::Boolean(b) => N::Boolean(b),
        O::Integer(i) => N::Integer(i),
        O::Number(n) => N::Number(n),
        O::Text(t) => N::Text(t),
    }
}

fn value_to(v: now::types::SignalValue) -> old::types::SignalValue {
    use now::types::SignalValue as N;
    use old::types::SignalValue as O;
    match v {
        N::Boolean(b) => O::Boolean(b),
        N::Integer(i) => O::Integer(i),
        N::Number(n) => O::Number(n),
        N::Text(t) => O::Text(t),
    }
}

fn error_to(e: now::types::Error) -> old::types::Error {
    use now::types::Error as N;
    use old::types::Error as O;
    match e {
        N::NotGranted(m) => O::NotGranted(m),
        N::Denied(m) => O::Denied(m),
        N::Failed(m) => O::Failed(m),
        N::Invalid(m) => O::Invalid(m),
    }
}

/// The handler's error in the latest world's terms.
pub(crate) fn error_from(e: old::types::Error) -> now::types::Error {
    use now::types::Error as N;
    use old::types::Error as O;
    match e {
        O::NotGranted(m) => N::NotGranted(m),
        O::Denied(m) => N::Denied(m),
        O::Failed(m) => N::Failed(m),
        O::Invalid(m) => N::Invalid(m),
    }
}

/// The intent as a 0.1.0 handler takes it: no station, no reply.
pub(crate) fn intent_to(i: &store::Intent) -> old::types::Intent {
    use now::types::SlotValue as N;
    use old::types::SlotValue as O;
    old::types::Intent {
        name: i.name.clone(),
        slots: i
            .slots
            .iter()
            .map(|s| old::types::Slot {
                name: s.name.clone(),
                value: match &s.value {
                    N::Integer(v) => O::Integer(*v),
                    N::Number(v) => O::Number(*v),
                    N::Text(v) => O::Text(v.clone()),
                },
            })
            .collect(),
        text: i.text.clone(),
        utterance_id: i.utterance_id.clone(),
        session_id: i.session_id.clone(),
    }
}

/// A 0.1.0 response in the latest world's terms.
pub(crate) fn response_from(r: old::types::Response) -> store::Response {
    store::Response {
        say: r.say,
        follow_up: r.follow_up.map(|question| store::FollowUp {
            question,
            expect: store::Expect::FreeText,
            context: String::new(),
        }),
        result: r.result,
    }
}

impl old::types::Host for StoreState {}

impl old::signals::Host for StoreState {
    async fn get(&mut self, path: String) -> Result<old::types::SignalValue, old::types::Error> {
        now::signals::Host::get(self, path)
            .await
            .map(value_to)
            .map_err(error_to)
    }

    async fn set(
        &mut self,
        path: String,
        value: old::types::SignalValue,
    ) -> Result<old::types::WriteOutcome, old::types::Error> {
        match now::signals::Host::set(self, path, value_from(value)).await {
            Ok(now::types::WriteOutcome::Done) => Ok(old::types::WriteOutcome::Done),
            Ok(now::types::WriteOutcome::Confirm(q)) => Ok(old::types::WriteOutcome::Confirm(q)),
            Err(e) => Err(error_to(e)),
        }
    }

    async fn subscribe_once(
        &mut self,
        path: String,
        timeout_ms: u32,
    ) -> Result<old::types::SignalValue, old::types::Error> {
        now::signals::Host::subscribe_once(self, path, timeout_ms)
            .await
            .map(value_to)
            .map_err(error_to)
    }
}

impl old::mqtt::Host for StoreState {
    async fn publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<(), old::types::Error> {
        now::mqtt::Host::publish(self, topic, payload, retain)
            .await
            .map_err(error_to)
    }
}

impl old::dbus::Host for StoreState {
    async fn call(
        &mut self,
        destination: String,
        path: String,
        interface: String,
        method: String,
        args_json: String,
    ) -> Result<String, old::types::Error> {
        now::dbus::Host::call(self, destination, path, interface, method, args_json)
            .await
            .map_err(error_to)
    }
}

impl old::host::Host for StoreState {
    async fn say(&mut self, text: String) {
        now::host::Host::say(self, text).await;
    }

    async fn log(&mut self, level: old::host::LogLevel, message: String) {
        use now::host::LogLevel as N;
        use old::host::LogLevel as O;
        let level = match level {
            O::Debug => N::Debug,
            O::Info => N::Info,
            O::Warn => N::Warn,
            O::Error => N::Error,
        };
        now::host::Host::log(self, level, message).await;
    }

    async fn now_ms(&mut self) -> u64 {
        now::host::Host::now_ms(self).await
    }
}

impl old::kv::Host for StoreState {
    async fn get(&mut self, key: String) -> Option<Vec<u8>> {
        now::kv::Host::get(self, key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), old::types::Error> {
        now::kv::Host::set(self, key, value).await.map_err(error_to)
    }

    async fn delete(&mut self, key: String) {
        now::kv::Host::delete(self, key).await;
    }
}
