//! The pure parts of the simulator: value checks, the built-in points of interest, the
//! playlist rule and the D-Bus error type. Nothing here touches the bus.

use std::fmt::Display;

/// Errors a client gets back, named `org.edgeagent.SimCar.Error.<Variant>`.
#[derive(Debug, PartialEq, zbus::DBusError)]
#[zbus(prefix = "org.edgeagent.SimCar.Error")]
pub enum SimError {
    /// A number outside the range the property or argument allows.
    OutOfRange(String),
    /// A malformed argument: empty or too long text, unknown category, nothing to act on.
    InvalidArgument(String),
}

/// Driver and passenger set-point, °C.
pub const TEMPERATURE_C: (f64, f64) = (16.0, 30.0);
/// Fan level.
pub const FAN_LEVEL: (i32, i32) = (0, 10);
/// Window position, percent open.
pub const WINDOW_PERCENT: (i32, i32) = (0, 100);
/// Media volume.
pub const VOLUME: (i32, i32) = (0, 10);
/// Vehicle speed, km/h.
pub const SPEED_KMH: (f64, f64) = (0.0, 250.0);
/// Longest destination or media query, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// `value` if it lies within `range` (inclusive); the error names `what` and the range.
/// NaN is never in range.
pub fn in_range<T: PartialOrd + Display + Copy>(
    what: &str,
    value: T,
    (min, max): (T, T),
) -> Result<T, SimError> {
    if min <= value && value <= max {
        Ok(value)
    } else {
        Err(SimError::OutOfRange(format!(
            "{what} must be within {min}..={max}, got {value}"
        )))
    }
}

/// `text` trimmed, if it is non-empty and at most [`MAX_TEXT_CHARS`] characters.
pub fn non_empty_text(what: &str, text: &str) -> Result<String, SimError> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_TEXT_CHARS {
        return Err(SimError::InvalidArgument(format!(
            "{what} must be 1..={MAX_TEXT_CHARS} characters, got {chars}"
        )));
    }
    Ok(text.to_owned())
}

/// Built-in points of interest: (category, name, distance in km).
const POIS: &[(&str, &str, f64)] = &[
    ("charging_station", "VoltPark Fast Charger, Ring Road", 2.4),
    ("charging_station", "City Hall Charging Hub", 1.1),
    ("charging_station", "Airport Supercharge P4", 8.7),
    ("gas_station", "Northside Fuel", 3.2),
    ("gas_station", "Main Street Petrol", 0.9),
    ("parking", "Old Town Car Park", 0.6),
    ("parking", "Central Station Park & Ride", 2.0),
    ("restaurant", "Trattoria Bella", 1.4),
    ("restaurant", "Green Bowl Kitchen", 0.8),
    ("restaurant", "Harbour Grill", 3.5),
];

/// The categories `FindNearby` knows, in table order.
pub fn poi_categories() -> Vec<&'static str> {
    let mut categories: Vec<&str> = POIS.iter().map(|(c, _, _)| *c).collect();
    categories.dedup();
    categories
}

/// The nearest point of interest of `category` (matched exactly).
pub fn find_nearby(category: &str) -> Result<(&'static str, f64), SimError> {
    POIS.iter()
        .filter(|(c, _, _)| *c == category)
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(_, name, km)| (*name, *km))
        .ok_or_else(|| {
            SimError::InvalidArgument(format!(
                "unknown category {category:?}; known: {}",
                poi_categories().join(", ")
            ))
        })
}

/// The track after `track`: "jazz" → "jazz (track 2)" → "jazz (track 3)" …
pub fn next_track(track: &str) -> String {
    if let Some(stem) = track.strip_suffix(')')
        && let Some((base, n)) = stem.rsplit_once(" (track ")
        && let Ok(n) = n.parse::<u32>()
    {
        return format!("{base} (track {})", n.saturating_add(1));
    }
    format!("{track} (track 2)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_refuse_nan() {
        assert_eq!(in_range("T", 16.0, TEMPERATURE_C), Ok(16.0));
        assert_eq!(in_range("T", 30.0, TEMPERATURE_C), Ok(30.0));
        assert!(in_range("T", 15.9, TEMPERATURE_C).is_err());
        assert!(in_range("T", f64::NAN, TEMPERATURE_C).is_err());
        assert!(in_range("S", f64::INFINITY, SPEED_KMH).is_err());
        assert_eq!(in_range("F", 10, FAN_LEVEL), Ok(10));
        assert!(in_range("F", -1, FAN_LEVEL).is_err());
    }

    #[test]
    fn range_error_names_property_and_range() {
        let err = in_range("FanLevel", 11, FAN_LEVEL).expect_err("11 is out of range");
        assert_eq!(
            err,
            SimError::OutOfRange("FanLevel must be within 0..=10, got 11".into())
        );
        assert_eq!(
            zbus::DBusError::name(&err).as_str(),
            "org.edgeagent.SimCar.Error.OutOfRange"
        );
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(non_empty_text("d", "  airport ").as_deref(), Ok("airport"));
        assert!(non_empty_text("d", "   ").is_err());
        assert!(non_empty_text("d", &"é".repeat(200)).is_ok());
        assert!(non_empty_text("d", &"x".repeat(201)).is_err());
    }

    #[test]
    fn nearest_poi_per_category() {
        assert_eq!(
            find_nearby("charging_station"),
            Ok(("City Hall Charging Hub", 1.1))
        );
        assert_eq!(find_nearby("parking"), Ok(("Old Town Car Park", 0.6)));
        assert_eq!(
            poi_categories(),
            ["charging_station", "gas_station", "parking", "restaurant"]
        );
        for category in poi_categories() {
            assert!(find_nearby(category).is_ok());
        }
        assert!(matches!(
            find_nearby("Parking"),
            Err(SimError::InvalidArgument(_))
        ));
    }

    #[test]
    fn next_track_counts_up() {
        assert_eq!(next_track("jazz"), "jazz (track 2)");
        assert_eq!(next_track("jazz (track 2)"), "jazz (track 3)");
        assert_eq!(next_track("Live (1999)"), "Live (1999) (track 2)");
    }
}
