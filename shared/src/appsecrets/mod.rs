//! Application keys (JWT signing secrets, cookie encryption keys, internal API keys) rotated with
//! a verification overlap. There is no backend to install them in: the application reads the
//! secret. What makes the rotation safe is the value itself: every version carries the key it
//! replaced under `previous` and the key that will replace it under `next`, and each rotation
//! promotes `next` to the signing key. So a task started before a rotation (which never reads the
//! secret again) verifies what a task started after it signs (through `next`), and the reverse
//! (through `previous`); and the rotation interval is held to at least the longest token life,
//! so nothing a user holds was signed two keys ago.
//!
//! - `keys`: which keys a secret holds and how each is made (configuration);
//! - `signing`: HMAC sign and verify with a set of keys;
//! - `backend`: the `CredentialBackend` that rotates them.

mod backend;
mod keys;
mod signing;

pub use backend::*;
pub use keys::*;
pub use signing::{sign, verifies};
