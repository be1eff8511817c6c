//! How a connection to the broker proves itself and protects what it sends: TLS (a CA to
//! trust the broker by, and optionally a client certificate and key for the broker to
//! trust us by) and a user name and password. Shared by the agent's own connection and the
//! HAL's.

use rumqttc::{MqttOptions, Transport};
use std::path::{Path, PathBuf};

/// TLS material, as files (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate(s) the broker's certificate must chain to.
    pub ca_file: PathBuf,
    /// Client certificate and key, when the broker asks for one.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Everything a connection needs to authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MqttSecurity {
    /// None: plain TCP.
    pub tls: Option<TlsFiles>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// TLS material that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot read the MQTT {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the MQTT {what} {} holds no PEM block", path.display())]
    NotPem { what: &'static str, path: PathBuf },
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, SecurityError> {
    let bytes = std::fs::read(path).map_err(|source| SecurityError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(SecurityError::NotPem {
            what,
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

impl MqttSecurity {
    /// Sets the transport and credentials on `options`; the files are read now, so a
    /// missing or wrong file is reported before any connection is tried.
    pub fn apply(&self, options: &mut MqttOptions) -> Result<(), SecurityError> {
        if let Some(tls) = &self.tls {
            let ca = read_pem("CA certificate", &tls.ca_file)?;
            let client = match &tls.client {
                Some((cert, key)) => Some((
                    read_pem("client certificate", cert)?,
                    read_pem("client key", key)?,
                )),
                None => None,
            };
            options.set_transport(Transport::tls(ca, client, None));
        }
        if let Some(user) = &self.username {
            options.set_credentials(user.clone(), self.password.clone().unwrap_or_default());
        }
        Ok(())
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_non_pem_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = MqttSecurity {
            tls: Some(TlsFiles {
                ca_file: dir.path().join("ca.pem"),
                client: None,
            }),
            ..MqttSecurity::default()
        };
        let mut options = MqttOptions::new("t", "localhost", 8883);
        let e = missing.apply(&mut options).expect_err("missing CA");
        assert!(e.to_string().contains("CA certificate") && e.to_string().contains("ca.pem"));
        std::fs::write(dir.path().join("ca.pem"), "not a certificate").expect("write");
        let e = missing.apply(&mut options).expect_err("not PEM");
        assert!(e.to_string().contains("no PEM block"), "{e}");
    }
}
