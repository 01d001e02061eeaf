//! OpenAI as a rotation backend.
//!
//! - [`key`]: the key secret's shape and redaction;
//! - `accounts`: the names of minted service accounts (secret tag, version);
//! - `backend`: the Admin API (service accounts, minted keys), the live check and the
//!   `CredentialBackend` implementation.

mod accounts;
mod backend;
pub mod key;

pub use backend::*;
