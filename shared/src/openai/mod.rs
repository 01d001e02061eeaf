//! OpenAI as a rotation backend.
//!
//! - [`key`]: the key secret's shape and redaction;
//! - `backend`: the Admin API (service accounts, minted keys), the live check and the
//!   `CredentialBackend` implementation.

mod backend;
pub mod key;

pub use backend::*;
