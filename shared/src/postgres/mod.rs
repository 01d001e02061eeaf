//! PostgreSQL as a rotation backend.
//!
//! - [`secret`]: the secret's shape and the rules of a rotation (successor, alternate user, quoting);
//! - [`scram`]: the `scram-sha-256` verifier the new password is set as;
//! - `options`: the function's own settings (timeouts, TLS floor, CA, pinned host);
//! - `backend`: the logins, proof of possession and the `CredentialBackend` implementation;
//! - `sql`: the password set as a verifier, the alternate user made to match;
//! - `reach`: how far a pair of roles reaches, against the proven login;
//! - `errors`: failed logins and statements as backend errors.

mod backend;
mod errors;
mod options;
mod reach;
pub mod scram;
pub mod secret;
mod sql;

pub use backend::*;
