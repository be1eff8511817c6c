//! Signatures of skill packages: an ed25519 signature over the manifest and the component
//! together, so neither the code nor its granted permissions can be changed after signing.
//!
//! Files: `NAME.sig` beside `skill.toml` and `NAME.wasm`, holding the signature in hex.
//! Keys are hex too: a publisher keeps the 32-byte secret, devices trust the public key.

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use std::path::{Path, PathBuf};

/// Domain separation: a signature over anything else never verifies as a skill's.
const CONTEXT: &[u8] = b"edge-agent skill package v1\n";

/// What went wrong with a signature or key.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key or signature is not valid hex of the right length.
    #[error("{what}: {message}")]
    Format {
        /// Which value.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// No trusted key verifies the signature.
    #[error("{path}: the signature does not match the package or no trusted key made it")]
    Mismatch {
        /// The signature file.
        path: PathBuf,
    },
    /// The system random source failed.
    #[error("cannot generate a key: {0}")]
    Random(String),
}

fn read(path: &Path) -> Result<Vec<u8>, SigningError> {
    std::fs::read(path).map_err(|source| SigningError::Io {
        path: path.to_owned(),
        source,
    })
}

fn decode<const N: usize>(what: &str, text: &str) -> Result<[u8; N], SigningError> {
    let bytes = hex::decode(text.trim()).map_err(|e| SigningError::Format {
        what: what.to_owned(),
        message: e.to_string(),
    })?;
    bytes.try_into().map_err(|b: Vec<u8>| SigningError::Format {
        what: what.to_owned(),
        message: format!("{} bytes, expected {N}", b.len()),
    })
}

/// The signed message: context, manifest length, manifest, component.
fn message(manifest: &[u8], component: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + 8 + manifest.len() + component.len());
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(&(manifest.len() as u64).to_le_bytes());
    m.extend_from_slice(manifest);
    m.extend_from_slice(component);
    m
}

/// A new secret key (hex) and its public key (hex).
pub fn generate_key() -> Result<(String, String), SigningError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| SigningError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&secret);
    Ok((
        hex::encode(secret),
        hex::encode(key.verifying_key().to_bytes()),
    ))
}

/// The public key (hex) of a secret key (hex).
pub fn public_key(secret_hex: &str) -> Result<String, SigningError> {
    let key = SigningKey::from_bytes(&decode::<32>("secret key", secret_hex)?);
    Ok(hex::encode(key.verifying_key().to_bytes()))
}

/// Signs a package; returns the signature in hex.
pub fn sign(secret_hex: &str, manifest: &Path, component: &Path) -> Result<String, SigningError> {
    let key = SigningKey::from_bytes(&decode::<32>("secret key", secret_hex)?);
    let signature = key.sign(&message(&read(manifest)?, &read(component)?));
    Ok(hex::encode(signature.to_bytes()))
}

/// Checks a package's signature file against the trusted public keys (hex).
pub fn verify(
    trusted: &[String],
    manifest: &Path,
    component: &Path,
    signature: &Path,
) -> Result<(), SigningError> {
    let sig_text = String::from_utf8_lossy(&read(signature)?).into_owned();
    let sig = Signature::from_bytes(&decode::<64>(&signature.display().to_string(), &sig_text)?);
    let msg = message(&read(manifest)?, &read(component)?);
    for key in trusted {
        let key = VerifyingKey::from_bytes(&decode::<32>("trusted key", key)?).map_err(|e| {
            SigningError::Format {
                what: "trusted key".into(),
                message: e.to_string(),
            }
        })?;
        if key.verify(&msg, &sig).is_ok() {
            return Ok(());
        }
    }
    Err(SigningError::Mismatch {
        path: signature.to_owned(),
    })
}

/// Signs `message` under a domain `context` (so it never verifies as anything else);
/// returns the signature in hex. For messages that are not skill packages (fleet commands).
pub fn sign_message(
    secret_hex: &str,
    context: &[u8],
    message: &[u8],
) -> Result<String, SigningError> {
    let key = SigningKey::from_bytes(&decode::<32>("secret key", secret_hex)?);
    let mut signed = context.to_vec();
    signed.extend_from_slice(message);
    Ok(hex::encode(key.sign(&signed).to_bytes()))
}

/// Checks a [`sign_message`] signature made by `key_hex`, which must be one of `trusted`.
pub fn verify_message(
    trusted: &[String],
    key_hex: &str,
    context: &[u8],
    message: &[u8],
    signature_hex: &str,
) -> Result<(), SigningError> {
    let key_hex = key_hex.trim();
    if !trusted
        .iter()
        .any(|t| t.trim().eq_ignore_ascii_case(key_hex))
    {
        return Err(SigningError::Format {
            what: "key".into(),
            message: format!("{key_hex} is not a trusted publisher key"),
        });
    }
    let key = VerifyingKey::from_bytes(&decode::<32>("key", key_hex)?).map_err(|e| {
        SigningError::Format {
            what: "key".into(),
            message: e.to_string(),
        }
    })?;
    let sig = Signature::from_bytes(&decode::<64>("signature", signature_hex)?);
    let mut signed = context.to_vec();
    signed.extend_from_slice(message);
    key.verify(&signed, &sig).map_err(|_| SigningError::Format {
        what: "signature".into(),
        message: "does not match the message".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_detects_tampering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (manifest, wasm, sig) = (
            dir.path().join("skill.toml"),
            dir.path().join("x.wasm"),
            dir.path().join("x.sig"),
        );
        std::fs::write(&manifest, "[skill]\nname = \"x\"\n").expect("write");
        std::fs::write(&wasm, b"\0asm code").expect("write");
        let (secret, public) = generate_key().expect("key");
        assert_eq!(public_key(&secret).expect("public"), public);
        std::fs::write(&sig, sign(&secret, &manifest, &wasm).expect("sign")).expect("write");
        verify(std::slice::from_ref(&public), &manifest, &wasm, &sig).expect("verifies");

        // Another key does not verify it.
        let (_, other) = generate_key().expect("key");
        assert!(matches!(
            verify(&[other], &manifest, &wasm, &sig),
            Err(SigningError::Mismatch { .. })
        ));
        // Changing the permissions (manifest) or the code breaks it.
        std::fs::write(
            &manifest,
            "[skill]\nname = \"x\"\n[permissions]\nnetwork = true\n",
        )
        .expect("write");
        assert!(verify(std::slice::from_ref(&public), &manifest, &wasm, &sig).is_err());
        std::fs::write(&manifest, "[skill]\nname = \"x\"\n").expect("write");
        std::fs::write(&wasm, b"\0asm evil").expect("write");
        assert!(verify(std::slice::from_ref(&public), &manifest, &wasm, &sig).is_err());
        // Garbage signature: a format error naming the file.
        std::fs::write(&sig, "zz").expect("write");
        let err = verify(&[public], &manifest, &wasm, &sig).expect_err("bad hex");
        assert!(err.to_string().contains("x.sig"), "{err}");
    }

    #[test]
    fn messages_verify_only_unchanged_from_a_trusted_key_in_their_context() {
        let (secret, public) = generate_key().expect("key");
        let (_, stranger) = generate_key().expect("key");
        let sig = sign_message(&secret, b"ctx\n", b"body").expect("sign");
        let trusted = [public.clone()];
        verify_message(&trusted, &public, b"ctx\n", b"body", &sig).expect("verifies");
        assert!(verify_message(&trusted, &public, b"ctx\n", b"bodY", &sig).is_err());
        assert!(verify_message(&trusted, &public, b"other\n", b"body", &sig).is_err());
        let untrusted = verify_message(&trusted, &stranger, b"ctx\n", b"body", &sig)
            .expect_err("untrusted key")
            .to_string();
        assert!(
            untrusted.contains("not a trusted publisher key"),
            "{untrusted}"
        );
    }
}
