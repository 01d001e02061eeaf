//! HMAC signing and verification with any of a set of keys, and random key material.

use hmac::Mac;

use crate::digest::hmac_sha256;
use crate::rotation::BackendError;

pub(super) fn random_bytes(n: usize) -> Result<Vec<u8>, BackendError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| {
        BackendError::new(
            crate::rotation::BackendErrorKind::Failed,
            format!("the OS random number generator failed: {e}"),
        )
    })?;
    Ok(bytes)
}

/// HMAC-SHA256 of `message` under `key` (what an HS256 JWT signature is).
pub fn sign(key: &str, message: &[u8]) -> Vec<u8> {
    let mut mac = hmac_sha256(key.as_bytes());
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// What an HS256 verifier that accepts several keys does (the key, `previous`, `next`): true
/// when any of them made `signature`.
pub fn verifies(keys: &[&str], message: &[u8], signature: &[u8]) -> bool {
    keys.iter().any(|key| {
        let mut mac = hmac_sha256(key.as_bytes());
        mac.update(message);
        mac.verify_slice(signature).is_ok()
    })
}
