//! A skill's permissions compiled into matchers.

use edge_core::Permissions;
use wildmatch::WildMatch;

/// What a skill may touch.
#[derive(Debug, Clone)]
pub struct Grants {
    read: Vec<WildMatch>,
    write: Vec<WildMatch>,
    mqtt: Vec<WildMatch>,
    dbus: Vec<String>,
    llm: bool,
    reports: bool,
}

fn globs(patterns: &[String]) -> Vec<WildMatch> {
    patterns.iter().map(|p| WildMatch::new(p)).collect()
}

impl Grants {
    /// From the manifest's `[permissions]`.
    pub fn new(p: &Permissions) -> Self {
        Self {
            read: globs(&p.signals_read),
            write: globs(&p.signals_write),
            mqtt: globs(&p.mqtt_publish),
            dbus: p.dbus.clone(),
            llm: p.llm,
            reports: p.reports,
        }
    }

    /// May read `path`.
    pub fn can_read(&self, path: &str) -> bool {
        self.read.iter().any(|g| g.matches(path))
    }

    /// May write `path`.
    pub fn can_write(&self, path: &str) -> bool {
        self.write.iter().any(|g| g.matches(path))
    }

    /// May publish to `topic`.
    pub fn can_publish(&self, topic: &str) -> bool {
        self.mqtt.iter().any(|g| g.matches(topic))
    }

    /// May ask the local language model.
    pub fn can_use_llm(&self) -> bool {
        self.llm
    }

    /// May keep reports on disk.
    pub fn can_keep_reports(&self) -> bool {
        self.reports
    }

    /// May call `destination`.
    pub fn can_call(&self, destination: &str) -> bool {
        self.dbus.iter().any(|d| d == destination)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_paths() {
        let g = Grants::new(&Permissions {
            signals_read: vec!["Plant.*".into()],
            signals_write: vec!["Plant.*.State".into()],
            mqtt_publish: vec!["plant/reports/*".into()],
            dbus: vec!["org.edgeagent.SimCar".into()],
            env: vec![],
            network: false,
            llm: false,
            reports: false,
        });
        assert!(g.can_read("Plant.Pump3.Pressure"));
        assert!(!g.can_read("Vehicle.Speed"));
        assert!(g.can_write("Plant.Pump3.State"));
        assert!(!g.can_write("Plant.Pump3.Pressure"));
        assert!(g.can_publish("plant/reports/pump-3"));
        assert!(!g.can_publish("plant/pump-3/set/state"));
        assert!(g.can_call("org.edgeagent.SimCar"));
        assert!(!g.can_call("org.freedesktop.systemd1"));
    }
}
