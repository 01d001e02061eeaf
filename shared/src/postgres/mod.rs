//! PostgreSQL as a rotation backend.
//!
//! - [`secret`]: the secret's shape and the rules of a rotation (successor, alternate user, quoting);
//! - [`scram`]: the `scram-sha-256` verifier the new password is set as;
//! - `backend`: the logins, the SQL, the reach checks and the `CredentialBackend` implementation.

mod backend;
pub mod scram;
pub mod secret;

pub use backend::*;
