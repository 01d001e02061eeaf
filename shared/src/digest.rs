//! The one keyed hash the backends share: SCRAM's proofs (PostgreSQL) and the app keys'
//! signatures both use HMAC-SHA-256.

use hmac::{Hmac, KeyInit};
use sha2::Sha256;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA-256 keyed with `key`. HMAC accepts keys of any length (longer ones are hashed):
/// `new_from_slice` cannot fail for it.
pub(crate) fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA-256 takes keys of any length"),
    }
}
