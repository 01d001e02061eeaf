//! SCRAM-SHA-256 password verifiers computed on our side, as `psql`'s `\password` does, so that a
//! new password never travels to the server in clear text (nor into its statement log).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::digest::hmac_sha256;
use crate::rotation::BackendError;

/// PostgreSQL's own default iteration count (`scram_iterations`).
const ITERATIONS: u32 = 4096;
const SALT_LEN: usize = 16;

/// The verifier PostgreSQL stores for `password`: `SCRAM-SHA-256$<i>:<salt>$<StoredKey>:<ServerKey>`.
///
/// Only printable ASCII is accepted: for it, the SASLprep step PostgreSQL applies is the
/// identity, so our verifier is exactly the one the server would compute. Generated passwords
/// are always printable ASCII.
pub fn verifier(password: &str) -> Result<String, BackendError> {
    if !password.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(BackendError::invalid_secret(
            "the new password has characters outside printable ASCII; \
             generate it with GetRandomPassword (the default) or use printable ASCII only",
        ));
    }
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| {
        BackendError::with_source(
            crate::rotation::BackendErrorKind::Failed,
            "no random salt available for the SCRAM verifier",
            e.to_string(),
        )
    })?;
    Ok(verifier_with(password.as_bytes(), &salt, ITERATIONS))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac_sha256(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// RFC 5802's Hi(): PBKDF2 with HMAC-SHA-256 and one output block.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = Vec::with_capacity(salt.len() + 4);
    first.extend_from_slice(salt);
    first.extend_from_slice(&1u32.to_be_bytes());
    // Keyed once and cloned per iteration: keying hashes the padded key twice, which would
    // double the work of the 4096 iterations.
    let keyed = hmac_sha256(password);
    let mut mac = keyed.clone();
    mac.update(&first);
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut mac = keyed.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        out.iter_mut().zip(u.iter()).for_each(|(o, x)| *o ^= x);
    }
    out
}

fn verifier_with(password: &[u8], salt: &[u8], iterations: u32) -> String {
    let salted = salted_password(password, salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_fixed_salt_then_the_verifier_matches_an_independent_computation() {
        // Computed with Python's hashlib.pbkdf2_hmac and hmac for password "pencil", salt 0..16.
        let salt: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            verifier_with(b"pencil", &salt, 4096),
            "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$zHCdol2044/ZyWzPLi7oxApCkamKw9Z+E4U/QApd/5Y=:dd5peBOitVnLNFu7VmwP+HiDaaw4OUCv396eVCWhYiE="
        );
    }

    #[test]
    fn given_a_password_then_each_verifier_has_a_fresh_salt_and_no_clear_text() {
        let a = verifier("pa$$-word-123").unwrap();
        let b = verifier("pa$$-word-123").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("SCRAM-SHA-256$4096:") && !a.contains("pa$$-word-123"));
    }

    #[test]
    fn given_non_ascii_then_it_is_refused() {
        assert!(verifier("pässwörd").is_err());
        assert!(verifier("tab\there").is_err());
    }
}
