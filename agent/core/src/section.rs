//! What every crate's configuration section shares: the error its own checks return, and
//! the serde and check helpers more than one section needs.
//!
//! A crate that owns a capability defines its section (`[slm]`, `[hal.modbus]`, ...) and
//! checks it with `validate() -> Result<(), SectionError>`, naming keys relative to the
//! section; `edge-config` adds the section's path and where the value came from.

use serde::{Deserialize, Deserializer};

/// A value of a configuration section that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SectionError {
    /// The dotted key, relative to the section (`threads`, `devices.press-1.port`).
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl SectionError {
    /// An error at `key` (relative to the section).
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The same error seen from the enclosing section: `tls` + `ca_file` → `tls.ca_file`.
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Self {
        self.key = format!("{prefix}.{}", self.key);
        self
    }
}

/// Checks a worker or server address: empty (spawn our own worker), `tcp://host:port` or
/// `unix:///path`.
pub fn check_uri(key: &str, uri: &str) -> Result<(), SectionError> {
    if uri.is_empty() || uri.starts_with("tcp://") || uri.starts_with("unix://") {
        Ok(())
    } else {
        Err(SectionError::new(
            key,
            format!("{uri:?} must be tcp://host:port or unix:///path"),
        ))
    }
}

/// Checks that every entry of `keys` is an ed25519 public key in hex.
pub fn check_public_keys(key: &str, keys: &[String]) -> Result<(), SectionError> {
    match keys
        .iter()
        .find(|k| k.len() != 64 || !k.chars().all(|c| c.is_ascii_hexdigit()))
    {
        Some(bad) => Err(SectionError::new(
            key,
            format!("{bad:?} is not an ed25519 public key (64 hex digits)"),
        )),
        None => Ok(()),
    }
}

/// Serde helper for a list that may also be written as one comma-separated string, as
/// environment variables give it (`EDGE_AGENT__SKILLS__DIRS=/a,/b`).
pub fn list_or_comma_separated<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String> + Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString<T> {
        List(Vec<T>),
        String(String),
    }
    Ok(match ListOrString::<T>::deserialize(de)? {
        ListOrString::List(v) => v,
        ListOrString::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| T::from(s.to_owned()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Lists {
        #[serde(deserialize_with = "list_or_comma_separated")]
        words: Vec<String>,
    }

    #[test]
    fn a_list_may_be_one_comma_separated_string() {
        let list: Lists = toml::from_str("words = [\"a\", \"b\"]").expect("list");
        assert_eq!(list.words, ["a", "b"]);
        let string: Lists = toml::from_str("words = \" a, ,b \"").expect("string");
        assert_eq!(string.words, ["a", "b"]);
    }

    #[test]
    fn errors_name_the_key_under_the_enclosing_section() {
        let e = SectionError::new("ca_file", "must not be empty").within("tls");
        assert_eq!(e.to_string(), "tls.ca_file: must not be empty");
        let e = check_uri("uri", "http://x").expect_err("refused");
        assert_eq!(
            e.message,
            "\"http://x\" must be tcp://host:port or unix:///path"
        );
        assert!(check_uri("uri", "").is_ok());
        assert!(check_public_keys("keys", &["ab".repeat(32)]).is_ok());
        assert!(check_public_keys("keys", &["xyz".into()]).is_err());
    }
}
